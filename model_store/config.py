"""Where things live and which catalogue to use: platformdirs locations, overridable by environment.

Precedence for every setting: an explicit argument (CLI flag) > environment variable > config file >
default. The config file is JSON (no TOML reader on Python 3.10 without a dependency)::

    {"catalogue": "https://example.org/lstm-composer/", "offline": false, "allow_insecure": false}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from .errors import ConfigError

APP_NAME = "lstm-composer"

ENV_HOME = "LSTM_COMPOSER_HOME"
ENV_CATALOGUE = "LSTM_COMPOSER_CATALOGUE"
ENV_OFFLINE = "LSTM_COMPOSER_OFFLINE"
ENV_ALLOW_INSECURE = "LSTM_COMPOSER_ALLOW_INSECURE"
ENV_CONFIG_DIR = "LSTM_COMPOSER_CONFIG_DIR"  # folder of config.json (tests, portable installs)

# No public catalogue is hosted yet: without configuration the store offers installed and
# bundled models only, and says how to configure one.
DEFAULT_CATALOGUE_URL: str | None = None

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_CONFIG_KEYS = {"catalogue": str, "offline": bool, "allow_insecure": bool}
_FLAG_ENV = {"offline": ENV_OFFLINE, "allow_insecure": ENV_ALLOW_INSECURE}


def store_home() -> Path:
    """The local store: ``$LSTM_COMPOSER_HOME`` or platformdirs' user data dir."""
    env = os.environ.get(ENV_HOME, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    """The config file: ``config.json`` in ``$LSTM_COMPOSER_CONFIG_DIR`` or the user config dir."""
    env = os.environ.get(ENV_CONFIG_DIR, "").strip()
    if env:
        return Path(env).expanduser().absolute() / "config.json"
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.json"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file's settings ({} when there is none); bad JSON or types are a ConfigError."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ConfigError(f"config file {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: must hold a JSON object")
    for key, typ in _CONFIG_KEYS.items():
        if key in data and data[key] is not None and not isinstance(data[key], typ):
            raise ConfigError(f"config file {path}: '{key}' must be a {typ.__name__}")
    return data


def env_flag(name: str) -> bool | None:
    """A boolean environment variable: None when unset, ConfigError when unreadable."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"environment variable {name}={raw!r}: use 1/0, true/false, yes/no or on/off")


def flag(key: str, explicit: bool | None = None) -> bool:
    """A boolean setting: explicit value (a CLI flag) > its environment variable > config file.

    ``key`` is a config-file key: "offline" ($LSTM_COMPOSER_OFFLINE) or "allow_insecure"
    ($LSTM_COMPOSER_ALLOW_INSECURE, plain http to non-loopback hosts; off unless opted in).
    """
    if explicit is not None:
        return explicit
    env = env_flag(_FLAG_ENV[key])
    if env is not None:
        return env
    return bool(read_config().get(key) or False)


def is_offline(explicit: bool | None = None) -> bool:
    """Offline mode: never touch the network (``flag("offline", explicit)``)."""
    return flag("offline", explicit)


def allow_insecure(explicit: bool | None = None) -> bool:
    """Whether plain http to non-loopback hosts is allowed (``flag("allow_insecure", explicit)``)."""
    return flag("allow_insecure", explicit)


def catalogue_url(explicit: str | None = None) -> str | None:
    """The catalogue's index URL (normalised, see ``normalize_catalogue_url``), or None."""
    for value in (explicit, os.environ.get(ENV_CATALOGUE), read_config().get("catalogue")):
        if value is not None and str(value).strip():
            return normalize_catalogue_url(str(value).strip())
    return DEFAULT_CATALOGUE_URL


def normalize_catalogue_url(value: str) -> str:
    """Turn what a user may write into the URL of an ``index.json``.

    Accepted: an http(s) URL of the index or of its folder, a file:// URL, or a local path to
    the published folder or its index. Folders get ``index.json`` appended.
    """
    parts = urlsplit(value)
    if parts.scheme in ("http", "https", "file"):
        if parts.scheme == "file":
            local = Path(_file_url_path(value))
            if local.is_dir():
                return (local.resolve() / "index.json").as_uri()
            return value
        if parts.path.endswith(".json"):
            return value
        base = value if value.endswith("/") else value + "/"
        return base + "index.json"
    if len(parts.scheme) > 1:  # "ftp:", "s3:"... (one letter is a Windows drive)
        raise ConfigError(f"catalogue {value!r}: unsupported URL scheme '{parts.scheme}'")
    local = Path(value).expanduser()
    if local.is_dir() or not value.endswith(".json"):
        local = local / "index.json"
    return local.resolve().as_uri()


def _file_url_path(url: str) -> str:
    from urllib.request import url2pathname

    return url2pathname(urlsplit(url).path)
