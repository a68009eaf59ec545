"""The self-describing model file (``.lstmc``): one zip, readable with NumPy alone.

Layout (see docs/model-format.md)::

    manifest.json          everything that is not an array (style, vocabulary, encoding,
                           network layers, metrics, chosen epoch and why, corpus fingerprint,
                           library versions, sha256 of the arrays)
    arrays/<name>.npy      weights (float16 by default) and the copy-guard corpus tokens

Vocabulary and weights live in one file and the manifest carries a hash over the arrays,
so they can never be mismatched. ``format_version`` lets a newer writer refuse an older reader
with a clear message instead of a shape error deep in the engine.

This is the one module that knows the format: ``Manifest`` types the manifest's fields
(``encoding`` and ``vocabulary`` stay dicts owned by ``music.tokens``), ``read_manifest`` reads
one, ``model_info`` turns it into what the model store needs to know (``model_store.ModelInfo``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstm_composer_plugin.errors import ModelFileError
from model_store.atomic import atomic_file

FORMAT = "lstm-composer-model"
FORMAT_VERSION = 1
SUFFIX = ".lstmc"


@dataclass(frozen=True)
class Manifest(Mapping[str, Any]):
    """The typed view of ``manifest.json`` (see docs/model-format.md).

    ``raw`` keeps every key as read (including ones a newer writer added); the Mapping methods
    (``m["epoch"]``, ``m.get("stats")``, ``"layers" in m``) read it, so code written against the
    plain dict keeps working.
    """

    style: str = ""
    title: str = ""
    description: str = ""
    model_id: str = ""
    epoch: int | None = None
    chosen: bool = False
    format_version: int = FORMAT_VERSION
    created: str = ""
    choice: dict[str, Any] = field(default_factory=dict)  # {"epoch", "reason", "auto"}
    network: dict[str, Any] = field(default_factory=dict)  # NetworkConfig.to_dict()
    layers: list[dict[str, Any]] = field(default_factory=list)  # the inference graph
    encoding: dict[str, Any] = field(default_factory=dict)  # owned by music.tokens
    vocabulary: dict[str, Any] = field(default_factory=dict)  # owned by music.tokens
    metrics: dict[str, Any] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] | str = field(default_factory=dict)  # a short summary
    versions: dict[str, Any] = field(default_factory=dict)
    weights_dtype: str = ""
    arrays_sha256: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Typed fields from a manifest dict; a field of the wrong type reads as its default."""
        d = dict(data)

        def text(key: str) -> str:
            v = d.get(key)
            return v if isinstance(v, str) else ""

        def mapping(key: str) -> dict[str, Any]:
            v = d.get(key)
            return v if isinstance(v, dict) else {}

        epoch = d.get("epoch")
        version = d.get("format_version")
        quality = d.get("quality")
        layers = d.get("layers")
        return cls(
            style=text("style"), title=text("title"), description=text("description"),
            model_id=text("model_id"),
            epoch=int(epoch) if isinstance(epoch, (int, float)) and not isinstance(epoch, bool) else None,
            chosen=d.get("chosen") is True,
            format_version=version if isinstance(version, int) else FORMAT_VERSION,
            created=text("created"), choice=mapping("choice"), network=mapping("network"),
            layers=layers if isinstance(layers, list) else [], encoding=mapping("encoding"),
            vocabulary=mapping("vocabulary"), metrics=mapping("metrics"), corpus=mapping("corpus"),
            stats=mapping("stats"),
            quality=quality if isinstance(quality, (dict, str)) else {},
            versions=mapping("versions"), weights_dtype=text("weights_dtype"),
            arrays_sha256=text("arrays_sha256"), raw=d,
        )

    def to_dict(self) -> dict[str, Any]:
        """``raw`` with the typed fields written over it (what ``save_model`` stores)."""
        out = dict(self.raw)
        for name in self.__dataclass_fields__:
            if name == "raw":
                continue
            value = getattr(self, name)
            if value in (None, "", {}, []) and name not in self.raw:
                continue  # do not invent keys the writer did not set
            out[name] = value
        return out

    def quality_text(self) -> str:
        """One short line for catalogues and listings (``"val_loss 1.92, accuracy 0.42"``)."""
        q = self.quality
        if isinstance(q, str):
            text = q
        else:
            parts = []
            for k, v in q.items():
                if isinstance(v, float):
                    v = f"{v:.3g}"
                if isinstance(v, (str, int, float)) and not isinstance(v, bool):
                    parts.append(f"{k} {v}")
            text = ", ".join(parts)
        text = " ".join(text.split())
        return text if len(text) <= 200 else text[:199] + "…"

    # Mapping over ``raw``: the manifest as the dict it was read from.
    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass
class ModelFile:
    manifest: Manifest  # typed; ``manifest.raw`` is the dict as read
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def style(self) -> str:
        return self.manifest.style

    @property
    def epoch(self) -> int | None:
        return self.manifest.epoch


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


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Only the manifest, typed (cheap: no arrays are decompressed); ``.raw`` is the dict."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelFileError(f"{path}: not an lstm-composer model file ({exc})") from None
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{path}: not an lstm-composer model file (no model manifest)")
    _check_version(path, manifest)
    return Manifest.from_dict(manifest)


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
    return ModelFile(manifest=Manifest.from_dict(manifest), arrays=arrays)


def _check_version(path: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an lstm-composer model file (format={manifest.get('format')!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version} is newer than this reader ({FORMAT_VERSION}); "
            "upgrade lstm-composer-plugin"
        )
