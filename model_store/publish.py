"""Publish exported models as a static catalogue any HTTP server can serve.

``publish(MODELS_DIR, OUT_DIR, describe=..., suffix=...)`` finds model files (``*<suffix>``: the caller's
format) under MODELS_DIR (a training output folder works), picks one export per style, and
writes::

    OUT_DIR/index.json                               the catalogue (written last, atomically)
    OUT_DIR/models/<version>.lstmc                   one model per style
    OUT_DIR/pack/lstm-composer-models-<sha12>.tar    every model in one uncompressed tar

The output is reproducible: the same models give the same ``index.json`` and pack bytes. The pack
is deterministic (``pack.create_pack``), so a catalogue can keep only its models and index under
version control and rebuild the pack whenever it is needed; ``index.json``'s pack sha256 then
verifies the rebuilt file. ``generated`` is the one field not derived from the models; it is

* ``$SOURCE_DATE_EPOCH`` when that is set (the reproducible-builds convention), else
* the ``generated`` of the ``index.json`` already in OUT_DIR when nothing else in the index
  changed (republishing the same models leaves the file as it was), else
* the time of publishing.

MODELS_DIR may be OUT_DIR/models itself (``publish catalogue/models catalogue``): the models are
then hashed in place, the pack and index rebuilt, and a style's older file in that folder is
replaced by the one chosen. A MODELS_DIR that holds OUT_DIR (a training folder with its
catalogue inside) does not see OUT_DIR's own files.

URLs in the index are relative (so ``python -m http.server`` in OUT_DIR is a working catalogue)
unless ``base_url`` is given. The style id, title, description, epoch and quality come from the
caller's ``describe(path) -> ModelInfo`` (the plugin reads its own manifest): the store never
opens a model file, it copies and hashes it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .atomic import atomic_file, write_json
from .catalogue import (
    FILE_NAME_RE,
    FORMAT,
    FORMAT_VERSION,
    STYLE_ID_RE,
    parse_catalogue,
)
from .errors import StoreError, UsageError
from .pack import create_pack
from .records import Describe, ModelInfo

PACK_PREFIX = "lstm-composer-models-"


@dataclass
class Candidate:
    path: Path
    style: str
    epoch: int | None
    chosen: bool
    mtime: float
    info: ModelInfo


@dataclass
class PublishedStyle:
    id: str
    version: str
    epoch: int | None
    file: str
    size: int
    sha256: str
    source: Path
    chosen: bool
    candidates: int  # exports of this style that were found

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "version": self.version, "epoch": self.epoch, "file": self.file,
            "size": self.size, "sha256": self.sha256, "source": str(self.source),
            "chosen": self.chosen, "candidates": self.candidates,
        }


@dataclass
class PublishResult:
    out_dir: Path
    index: Path
    styles: list[PublishedStyle] = field(default_factory=list)
    pack: Path | None = None
    pack_size: int | None = None
    pack_sha256: str | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "index": str(self.index),
            "styles": [s.to_dict() for s in self.styles],
            "pack": str(self.pack) if self.pack else None,
            "pack_size": self.pack_size,
            "pack_sha256": self.pack_sha256,
            "skipped": [{"path": str(p), "reason": r} for p, r in self.skipped],
        }


def find_candidates(
    models_dir: Path,
    describe: Describe,
    exclude: Path | None = None,
    *,
    suffix: str,
) -> tuple[list[Candidate], list[tuple[Path, str]]]:
    """Every model export under ``models_dir`` that ``describe`` accepts, and the files skipped
    with why."""
    found: list[Candidate] = []
    skipped: list[tuple[Path, str]] = []
    exclude = exclude.resolve() if exclude else None
    for path in sorted(models_dir.rglob("*" + suffix)):
        if not path.is_file():
            continue
        if exclude is not None and path.resolve().is_relative_to(exclude):
            continue  # our own earlier output inside the training folder
        try:
            info = describe(path)
        except StoreError as exc:
            skipped.append((path, str(exc)))
            continue
        style = info.style
        if not isinstance(style, str) or not STYLE_ID_RE.match(style):
            skipped.append((path, f"style {style!r} is not a valid catalogue id"))
            continue
        epoch = info.epoch
        found.append(Candidate(
            path=path,
            style=style,
            epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
            chosen=info.chosen is True,
            mtime=path.stat().st_mtime,
            info=info,
        ))
    return found, skipped


def choose(candidates: list[Candidate]) -> dict[str, tuple[Candidate, int]]:
    """One export per style: ``chosen: true`` first, then the newest file, then the highest epoch.

    Newest before highest epoch because a style trained again should replace the older run,
    even if the new run's recommended epoch is lower.
    """
    best: dict[str, tuple[Candidate, int]] = {}
    for c in candidates:
        key = (c.chosen, c.mtime, c.epoch if c.epoch is not None else -1, str(c.path))
        old = best.get(c.style)
        if old is None:
            best[c.style] = (c, 1)
            continue
        o = old[0]
        okey = (o.chosen, o.mtime, o.epoch if o.epoch is not None else -1, str(o.path))
        best[c.style] = (c if key > okey else o, old[1] + 1)
    return best


def publish(
    models_dir: Path,
    out_dir: Path,
    base_url: str | None = None,
    make_pack: bool = True,
    *,
    describe: Describe,
    suffix: str,
) -> PublishResult:
    """Write a static catalogue for the models under ``models_dir`` into ``out_dir``.

    ``describe(path) -> ModelInfo`` tells the store what each ``*<suffix>`` file is (it raises
    ``InvalidModelError`` for a file that is not a model: that file is skipped, with the reason).
    """
    models_dir, out_dir = Path(models_dir), Path(out_dir)
    if not models_dir.is_dir():
        what = "is not a folder" if models_dir.exists() else "does not exist"
        raise UsageError(f"models folder {models_dir} {what}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"catalogue folder {out_dir} is not a folder")
    if base_url is not None:
        if urlsplit(base_url).scheme.lower() not in ("http", "https", "file"):
            raise UsageError(f"--base-url {base_url!r}: must be an http(s) or file URL")
        base_url = base_url.rstrip("/") + "/"
    # Skip OUT_DIR's files only when OUT_DIR sits inside MODELS_DIR (our earlier output in a
    # training folder); publishing in place reads OUT_DIR/models as the models themselves.
    inside = out_dir.resolve() != models_dir.resolve() and out_dir.resolve().is_relative_to(
        models_dir.resolve())
    candidates, skipped = find_candidates(
        models_dir, describe, exclude=out_dir if inside else None, suffix=suffix)
    chosen = choose(candidates)
    if not chosen:
        raise UsageError(f"no {suffix} model files found under {models_dir}")
    try:
        return _write(out_dir, chosen, skipped, base_url, make_pack, suffix)
    except OSError as exc:  # unwritable, full disk, a file where a folder should be
        where = exc.filename or out_dir
        raise StoreError(f"cannot write the catalogue in {out_dir}: {where}: "
                         f"{exc.strerror or exc}") from None


def _write(
    out_dir: Path,
    chosen: dict[str, tuple[Candidate, int]],
    skipped: list[tuple[Path, str]],
    base_url: str | None,
    make_pack: bool,
    suffix: str,
) -> PublishResult:
    """Copy the chosen models, build the pack, write the index (last), remove stale files."""
    (out_dir / "models").mkdir(parents=True, exist_ok=True)
    result = PublishResult(out_dir=out_dir, index=out_dir / "index.json", skipped=skipped)
    styles_json = []
    for style in sorted(chosen):
        cand, count = chosen[style]
        info = cand.info
        version = _version(cand)
        file = version + suffix
        size, sha = _copy_hashed(cand.path, out_dir / "models" / file)
        result.styles.append(PublishedStyle(style, version, cand.epoch, file, size, sha,
                                            cand.path, cand.chosen, count))
        styles_json.append({
            "id": style,
            "title": _text(info.title) or style,
            "description": _text(info.description),
            "file": file,
            "size": size,
            "sha256": sha,
            "url": (base_url or "") + "models/" + file,
            "version": version,
            "epoch": cand.epoch,
            "quality": _line(info.quality),
        })
    index: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated": None,  # set below, once the rest of the index is known
        "styles": styles_json,
        "pack": None,
    }
    if make_pack:
        members = [(f"{s.id}/{s.file}", out_dir / "models" / s.file) for s in result.styles]
        tmp_pack = out_dir / "pack" / (PACK_PREFIX + "new.tar")
        size, sha = create_pack(tmp_pack, members)
        pack_path = tmp_pack.with_name(f"{PACK_PREFIX}{sha[:12]}.tar")
        os.replace(tmp_pack, pack_path)
        result.pack, result.pack_size, result.pack_sha256 = pack_path, size, sha
        index["pack"] = {
            "url": (base_url or "") + "pack/" + pack_path.name,
            "size": size,
            "sha256": sha,
            "members": [
                {"name": f"{s.id}/{s.file}", "style": s.id, "size": s.size, "sha256": s.sha256}
                for s in result.styles
            ],
        }
    index["generated"] = _generated(index, result.index)
    # Validate what we are about to publish with the reader's own rules.
    parse_catalogue(index, (base_url or out_dir.resolve().as_uri() + "/") + "index.json")
    write_json(result.index, index)
    _remove_stale(out_dir, {s.file for s in result.styles}, result.pack, suffix)
    return result


def _generated(index: dict[str, Any], previous_path: Path) -> str:
    """The index's ``generated`` time (the rule is in the module docstring)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            when = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise UsageError(f"SOURCE_DATE_EPOCH={epoch!r}: not a time in whole seconds since 1970") from None
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        previous = json.loads(previous_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None  # none yet, or unreadable: it is about to be replaced anyway
    if isinstance(previous, dict) and isinstance(previous.get("generated"), str):
        rest = {k: v for k, v in index.items() if k != "generated"}
        if {k: v for k, v in previous.items() if k != "generated"} == rest:
            return previous["generated"]
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(text: str) -> str:
    """One short line for the catalogue (whitespace folded, at most 200 characters)."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= 200 else text[:199] + "…"


def _version(cand: Candidate) -> str:
    model_id = cand.info.version
    if isinstance(model_id, str) and FILE_NAME_RE.match(model_id) and model_id.startswith(cand.style):
        return model_id
    if cand.epoch is not None:
        return f"{cand.style}-e{cand.epoch:04d}"
    return cand.style


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy atomically, hashing what is copied (what is published is what is hashed).

    Publishing in place, ``src`` is ``dst``: it is only hashed, so an unchanged model keeps its
    file (and its time) as it was.
    """
    h = hashlib.sha256()
    size = 0
    if dst.exists() and os.path.samefile(src, dst):
        with open(src, "rb") as fin:
            while block := fin.read(1 << 20):
                h.update(block)
                size += len(block)
        return size, h.hexdigest()
    with atomic_file(dst) as fout, open(src, "rb") as fin:
        while block := fin.read(1 << 20):
            fout.write(block)
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def _remove_stale(out_dir: Path, files: set[str], pack: Path | None, suffix: str) -> None:
    """Models and packs of earlier publishes that the new index no longer names."""
    for path in (out_dir / "models").glob("*" + suffix):
        if path.name not in files:
            path.unlink(missing_ok=True)
    for path in (out_dir / "pack").glob(PACK_PREFIX + "*.tar"):
        if pack is None or path != pack:
            path.unlink(missing_ok=True)
