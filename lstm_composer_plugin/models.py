"""Where a style's model file comes from: an explicit path, the local store, the bundled models.

Order (the store's own, see ``model_store.Store.resolve``): a verified store
install, then the model bundled inside this package, then a download from the
catalogue (unless offline). Without ``model_store`` (or if it fails to import),
only bundled models are found.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lstm_composer_plugin.errors import ComposerError, ModelFileError, UsageError
from lstm_composer_plugin.modelfile import SUFFIX

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


def locate_model(
    style: str | None,
    model_path: str | os.PathLike[str] | None = None,
    *,
    offline: bool = False,
    progress: Callable[[Any], None] | None = None,
) -> Path:
    """The model file to compose ``style`` with, fetching it from the catalogue if needed."""
    if model_path is not None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file")
        return path
    if not style:
        raise UsageError("no style given (use --style NAME, or --model FILE)")
    bundled = bundled_models()
    store_cls = _store_class()
    if store_cls is None:
        if style in bundled:
            return bundled[style]
        known = ", ".join(sorted(bundled)) or "none"
        raise UsageError(f"unknown style '{style}' (available: {known})")
    from model_store import StoreError, UnknownStyleError

    try:
        return store_cls(bundled=bundled, offline=True if offline else None).resolve(style, progress=progress)
    except UnknownStyleError as exc:
        raise UsageError(str(exc)) from None
    except StoreError as exc:
        raise ComposerError(str(exc)) from None


def list_styles(offline: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Every style available here or in the catalogue, as dicts, and warnings (catalogue trouble)."""
    bundled = bundled_models()
    store_cls = _store_class()
    if store_cls is None:
        rows = [_bundled_row(name, path) for name, path in bundled.items()]
        return rows, ["model_store is not available: only bundled styles are listed"]
    from model_store import StoreError

    try:
        store = store_cls(bundled=bundled, offline=True if offline else None)
        entries = store.styles()
    except StoreError as exc:
        raise ComposerError(str(exc)) from None
    return [e.to_dict() for e in entries], list(store.warnings)


def _store_class():  # -> type[model_store.Store] | None
    """model_store's Store, or None where it is not installed or does not import."""
    try:
        from model_store import Store
    except ImportError:
        return None
    return Store


def _bundled_row(name: str, path: Path) -> dict[str, Any]:
    from lstm_composer_plugin.modelfile import read_manifest

    try:
        manifest = read_manifest(path)
    except ModelFileError:
        manifest = {}
    return {
        "name": name,
        "title": manifest.get("title") or name,
        "description": manifest.get("description") or "",
        "installed": True,
        "needs_download": False,
        "source": "bundled",
        "version": manifest.get("model_id"),
        "epoch": manifest.get("epoch"),
        "size": path.stat().st_size,
        "path": str(path),
    }
