"""The self-describing model file (``.lstmc``): one zip, readable with NumPy alone.

Layout (see docs/model-format.md)::

    manifest.json          everything that is not an array (style, vocabulary, encoding,
                           network layers, metrics, chosen epoch and why, corpus fingerprint,
                           library versions, sha256 of the arrays)
    arrays/<name>.npy      weights (float16 by default) and the copy-guard corpus tokens

Vocabulary and weights live in one file and the manifest carries a hash over the arrays,
so they can never be mismatched. ``format_version`` lets a newer writer refuse an older reader
with a clear message instead of a shape error deep in the engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstm_composer_plugin.errors import ModelFileError
from model_store.atomic import atomic_file

FORMAT = "lstm-composer-model"
FORMAT_VERSION = 1
SUFFIX = ".lstmc"


@dataclass
class ModelFile:
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def style(self) -> str:
        return str(self.manifest.get("style", ""))

    @property
    def epoch(self) -> int | None:
        e = self.manifest.get("epoch")
        return int(e) if e is not None else None


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_model(path: str | os.PathLike[str], manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a model."""
    path = Path(path)
    manifest = dict(manifest)
    manifest["format"] = FORMAT
    manifest["format_version"] = FORMAT_VERSION
    manifest["arrays_sha256"] = arrays_digest(arrays)
    with atomic_file(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        # Fixed timestamps: the same model always gives the same bytes (and sha256).
        info = zipfile.ZipInfo("manifest.json", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, json.dumps(manifest, indent=1, sort_keys=True))
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"arrays/{name}.npy", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    return path


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the manifest (cheap: no arrays are decompressed)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelFileError(f"{path}: not an lstm-composer model file ({exc})") from None
    _check_version(path, manifest)
    return manifest


def load_model(path: str | os.PathLike[str], verify: bool = True) -> ModelFile:
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            _check_version(path, manifest)
            arrays = {}
            for name in zf.namelist():
                if name.startswith("arrays/") and name.endswith(".npy"):
                    arrays[name[len("arrays/") : -len(".npy")]] = np.load(
                        io.BytesIO(zf.read(name)), allow_pickle=False
                    )
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: not an lstm-composer model file ({exc})") from None
    if verify and manifest.get("arrays_sha256") != arrays_digest(arrays):
        raise ModelFileError(f"{path}: arrays do not match the manifest's sha256 (file damaged?)")
    return ModelFile(manifest=manifest, arrays=arrays)


def _check_version(path: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an lstm-composer model file (format={manifest.get('format')!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version} is newer than this reader ({FORMAT_VERSION}); "
            "upgrade lstm-composer-plugin"
        )
