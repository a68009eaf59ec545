"""Where things live and which catalogue to use: platformdirs locations, overridable by environment.

The names are the caller's (:class:`AppConfig`: its application name and environment prefix).
Precedence for every setting: an explicit argument (CLI flag) > environment variable > config file >
default. The config file is JSON (no TOML reader on Python 3.10 without a dependency)::

    {"catalogue": "https://example.org/lstm-composer/", "offline": false, "allow_insecure": false}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from .errors import ConfigError


@dataclass(frozen=True)
class AppConfig:
    """Whose store this is: the caller's application name (platformdirs folders) and the prefix of its
    environment variables, as ``pooch.create(path, base_url, env=...)`` takes them from its caller.

    ``AppConfig("lstm-composer", "LSTM_COMPOSER")`` reads ``$LSTM_COMPOSER_HOME``,
    ``$LSTM_COMPOSER_CATALOGUE``, ``$LSTM_COMPOSER_OFFLINE``, ``$LSTM_COMPOSER_ALLOW_INSECURE`` and
    ``$LSTM_COMPOSER_CONFIG_DIR`` (the folder of ``config.json``: tests, portable installs).
    """

    name: str = "model-store"
    env_prefix: str = "MODEL_STORE"

    def env(self, what: str) -> str:
        """The name of one of its environment variables: ``env("HOME")`` is ``<PREFIX>_HOME``."""
        return f"{self.env_prefix}_{what}"

    @property
    def env_offline(self) -> str:
        return self.env("OFFLINE")

    @property
    def env_catalogue(self) -> str:
        return self.env("CATALOGUE")

    def store_home(self) -> Path:
        """The local store: ``$<PREFIX>_HOME`` or platformdirs' user data dir."""
        env = os.environ.get(self.env("HOME"), "").strip()
        if env:
            return Path(env).expanduser().absolute()
        return Path(platformdirs.user_data_dir(self.name, appauthor=False))

    def config_path(self) -> Path:
        """The config file: ``config.json`` in ``$<PREFIX>_CONFIG_DIR`` or the user config dir."""
        env = os.environ.get(self.env("CONFIG_DIR"), "").strip()
        if env:
            return Path(env).expanduser().absolute() / "config.json"
        return Path(platformdirs.user_config_dir(self.name, appauthor=False)) / "config.json"

    def flag(self, key: str, explicit: bool | None = None) -> bool:
        """A boolean setting: explicit value (a CLI flag) > its environment variable > config file.

        ``key`` is a config-file key: "offline" ($<PREFIX>_OFFLINE) or "allow_insecure"
        ($<PREFIX>_ALLOW_INSECURE, plain http to non-loopback hosts; off unless opted in).
        """
        if explicit is not None:
            return explicit
        env = env_flag(self.env(key.upper()))
        if env is not None:
            return env
        return bool(read_config(self.config_path()).get(key) or False)

    def is_offline(self, explicit: bool | None = None) -> bool:
        """Offline mode: never touch the network (``flag("offline", explicit)``)."""
        return self.flag("offline", explicit)

    def allow_insecure(self, explicit: bool | None = None) -> bool:
        """Whether plain http to non-loopback hosts is allowed (``flag("allow_insecure", explicit)``)."""
        return self.flag("allow_insecure", explicit)

    def catalogue_url(self, explicit: str | None = None) -> str | None:
        """The catalogue's index URL (normalised, see ``normalize_catalogue_url``), or None."""
        for value in (explicit, os.environ.get(self.env_catalogue), read_config(self.config_path()).get("catalogue")):
            if value is not None and str(value).strip():
                return normalize_catalogue_url(str(value).strip())
        return DEFAULT_CATALOGUE_URL


#: The store's own names, for callers that give none (the plugin gives its own: lstm_composer_plugin.models.APP).
DEFAULT_APP = AppConfig()

# No public catalogue is hosted yet: without configuration the store offers installed and
# bundled models only, and says how to configure one.
DEFAULT_CATALOGUE_URL: str | None = None

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_CONFIG_KEYS = {"catalogue": str, "offline": bool, "allow_insecure": bool}


def read_config(path: Path) -> dict[str, Any]:
    """The config file's settings ({} when there is none); bad JSON or types are a ConfigError."""
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
