"""The plugin's side of the model store: style name -> model file, and the adapters.

``model_store`` is a library that knows nothing of this plugin, its file format or the host.
This module is where they meet:

* ``describe_model(path)`` reads a ``.lstmc`` manifest into the store's ``ModelInfo``
  (the store never opens a model file);
* ``open_store(offline)`` is a ``Store`` with this package's bundled models and that describer;
* ``plugin_error(exc)`` / ``store_errors()`` turn a ``StoreError`` into this plugin's
  ``UsageError`` (unknown style, bad argument) or ``ComposerError``, with the same one line;
* ``host_progress(callback)`` turns the host's ``Progress`` callback into the store's;
* ``style_info(entry)`` maps the store's ``StyleEntry`` to the host's ``StyleInfo``.

Resolution order (the store's own, see ``model_store.Store.resolve``): a verified store
install, then the model bundled inside this package, then a download from the catalogue
(unless offline).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import model_store
from hostapi.results import Progress as HostProgress
from hostapi.results import StyleInfo
from lstm_composer_plugin import PLUGIN
from lstm_composer_plugin.errors import (
    ComposerError,
    ModelFileError,
    UnavailableError,
    UnknownStyleError,
    UsageError,
)
from lstm_composer_plugin.modelfile import SUFFIX, read_manifest

#: Whose store it is: platformdirs folders of this name, $LSTM_COMPOSER_* environment variables.
APP = model_store.AppConfig(name="lstm-composer", env_prefix="LSTM_COMPOSER")
BUNDLED_PACKAGE = "lstm_composer_plugin"
BUNDLED_DIR = "bundled"


def bundled_models() -> dict[str, Path]:
    """{style: path} of the models shipped inside the package (``bundled/<style>.lstmc``).

    The style is the file's stem, so listing costs no zip reads. A zipped install
    (no real folder) has no usable bundled models: the engine needs real files.
    """
    try:
        root = importlib.resources.files(BUNDLED_PACKAGE) / BUNDLED_DIR
    except ModuleNotFoundError:
        return {}
    if not isinstance(root, Path) or not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.iterdir()) if p.suffix == SUFFIX and p.is_file()}


# ------------------------------------------------------------------------------------ adapters


def describe_model(path: Path) -> model_store.ModelInfo:
    """What the store must know about a model file, from its manifest."""
    try:
        m = read_manifest(path)
    except ModelFileError as exc:
        raise model_store.InvalidModelError(str(exc)) from None
    return model_store.ModelInfo(
        style=m.style, version=m.model_id, title=m.title, description=m.description,
        epoch=m.epoch, quality=m.quality_text(), chosen=m.chosen,
    )


def plugin_error(exc: model_store.StoreError) -> ComposerError:
    """The plugin's error for a store error: the same one-line message, and the kind that gives
    the documented exit code (2 usage, 3 unknown style, 4 catalogue or network unavailable)."""
    if isinstance(exc, model_store.UnknownStyleError):
        return UnknownStyleError(str(exc))
    if isinstance(exc, model_store.UsageError):
        return UsageError(str(exc))
    unavailable = (model_store.CatalogueUnavailable, model_store.OfflineError)
    if isinstance(exc, unavailable) or type(exc) is model_store.DownloadError:
        return UnavailableError(str(exc))
    return ComposerError(str(exc))


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Re-raise a ``StoreError`` raised inside as ``plugin_error(exc)``."""
    try:
        yield
    except model_store.StoreError as exc:
        raise plugin_error(exc) from None


def host_progress(
    callback: Callable[[HostProgress], None] | None,
) -> model_store.ProgressCallback | None:
    """A store progress callback that reports to the host's ``Progress`` callback."""
    if callback is None:
        return None

    def report(p: model_store.Progress) -> None:
        callback(HostProgress(p.stage, p.done, p.total, p.unit, p.message))

    return report


def style_info(entry: model_store.StyleEntry, plugin: str = PLUGIN) -> StyleInfo:
    """The host's record of a style from the store's."""
    version = entry.version or (f"e{entry.epoch}" if entry.epoch is not None else None)
    return StyleInfo(
        name=entry.name, title=entry.title, description=entry.description, plugin=plugin,
        installed=entry.installed, needs_download=entry.needs_download, size_bytes=entry.size,
        version=version, source=entry.source,
    )


def open_store(offline: bool = False, **kwargs: Any) -> model_store.Store:
    """The store with this package's bundled models (``offline``: True forces it on; False
    leaves it to $LSTM_COMPOSER_OFFLINE and the config file)."""
    # Both voc-host and lstm-composer have a `models` command: messages must not name either.
    kwargs.setdefault("commands", "models")
    with store_errors():  # a bad environment variable or config file is a ConfigError
        return model_store.Store(bundled=bundled_models(), describe=describe_model, app=APP,
                                 offline=True if offline else None, **kwargs)


def catalogue_hint() -> str | None:
    """How to get more styles when no catalogue is configured (None when one is)."""
    try:
        store = open_store()
    except Exception:  # noqa: BLE001 (a bad configuration is reported where it is used)
        return None
    if store.catalogue_url is not None:
        return None
    return (f"no catalogue configured, so only installed styles compose: set {APP.env_catalogue} "
            "(or \"catalogue\" in the config file) to a catalogue's URL for the others (docs/store.md)")


# ------------------------------------------------------------------------------------ queries


def locate_model(
    style: str | None,
    model_path: str | os.PathLike[str] | None = None,
    *,
    offline: bool = False,
    progress: Callable[[Any], None] | None = None,
) -> Path:
    """The model file to compose ``style`` with, fetching it from the catalogue if needed.

    ``progress`` receives the host's ``Progress`` records (downloads).
    """
    if model_path is not None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file")
        return path
    if not style:
        raise UsageError("no style given (use --style NAME, or --model FILE)")
    store = open_store(offline)
    with store_errors():
        return store.resolve(style, progress=host_progress(progress))


def list_styles(offline: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Every style available here or in the catalogue, as dicts, and warnings (catalogue trouble:
    unreachable or invalid, an old cached copy, a cache that could not be saved)."""
    listing = open_store(offline).list_styles()
    return [e.to_dict() for e in listing.styles], list(listing.warnings)
