"""The model pack: one uncompressed tar of every catalogue model (model files are zips already).

The pack is built, not stored: ``models publish`` rebuilds it from the model files, and the same
models give the same bytes on any machine at any time, so the sha256 that ``index.json`` records
verifies a rebuilt pack. Every member header is fixed (:func:`create_pack`): members sorted by
name, plain ustar headers (no pax or GNU extension records), mtime ``PACK_MTIME``, mode 0644,
uid/gid 0, empty user and group names, names encoded as UTF-8 whatever the machine's locale.

Creation streams each file into the archive while hashing the archive bytes, so publishing a
1 GB pack needs no second read and no memory. Extraction is defensive, after keras
``get_file``'s ``filter_safe_paths`` but stricter:

* a first pass over the headers refuses the whole pack if any member is absolute, climbs with
  ``..``, is a link, a device, a FIFO, or appears twice; nothing is written in that case;
* member names are only *matched* against the catalogue's member list, never joined to a
  filesystem path: the caller decides where each model goes (inside the store);
* each member is streamed to a temp file beside its target, checked against the catalogue's
  size and sha256, then renamed into place: a model is installed whole or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from .atomic import atomic_file
from .catalogue import PackMember
from .errors import PackError
from .records import Progress, ProgressCallback

CHUNK = 1 << 20
#: Every member's mtime (2020-01-01T00:00:00Z). A constant, not the file's time: a checkout sets
#: file times to the checkout's, and the pack must not depend on when the models were copied.
#: Changing it changes every pack's sha256 (and so invalidates every published index).
PACK_MTIME = 1577836800
#: ustar only: a pax header would add records (mtime fractions, long names) that vary with the
#: input in ways a reader of the index cannot see; a name or size ustar cannot hold is refused.
PACK_FORMAT = tarfile.USTAR_FORMAT


@dataclass
class ExtractReport:
    installed: list[PackMember] = field(default_factory=list)
    skipped: list[PackMember] = field(default_factory=list)  # the caller already had them
    failed: list[tuple[PackMember, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # members not in the catalogue: ignored


# ------------------------------------------------------------------------------------ create


class _HashingWriter:
    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)


def create_pack(out_path: Path, members: list[tuple[str, Path]]) -> tuple[int, str]:
    """Write an uncompressed tar of ``members`` (archive name, source file) atomically.

    Deterministic: the archive depends only on the member names and the files' bytes (not on
    the order given, the files' times, owners or modes, nor the Python version or locale).
    Returns the archive's size and sha256, computed while writing.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(members, key=lambda m: m[0])
    seen: set[str] = set()
    for name, _src in ordered:
        problem = unsafe_name(name)
        if problem is None and _normal(name) in seen:
            problem = "appears twice"
        if problem:
            raise PackError(f"pack member {name!r}: {problem}")
        seen.add(_normal(name))
    # atomic_file: readers never see half an archive, and the published file is world-readable
    # (a static server often runs as another user; mkstemp alone would leave it 0600).
    with atomic_file(out_path) as fh:
        writer = _HashingWriter(fh)
        # "w|": a pure stream (no seeks), so hashing what is written hashes the archive.
        # encoding: tarfile's default is the filesystem encoding, which varies by machine.
        with tarfile.open(fileobj=writer, mode="w|", format=PACK_FORMAT, encoding="utf-8",
                          errors="strict", bufsize=CHUNK) as tf:
            tf.copybufsize = CHUNK  # default 16 kB copies make a 1 GB pack needlessly slow
            for name, src in ordered:
                info = member_header(name, Path(src).stat().st_size)
                with open(src, "rb") as fin:
                    try:
                        tf.addfile(info, fin)
                    except ValueError as exc:  # a name or size the ustar header cannot hold
                        raise PackError(f"pack member {name!r}: {exc}") from None
    return writer.size, writer.hash.hexdigest()


def member_header(name: str, size: int) -> tarfile.TarInfo:
    """The fixed header of a pack member: only its name and size come from the model."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    info.size = size
    info.mtime = PACK_MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# ----------------------------------------------------------------------------------- extract


def unsafe_name(name: str) -> str | None:
    """Why an archive member name is unsafe, or None."""
    if not name or "\x00" in name:
        return "empty name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = PurePosixPath(name).parts
    if ".." in parts:
        return "'..' in path"
    return None


def _normal(name: str) -> str:
    return str(PurePosixPath(name))  # "./a//b" -> "a/b"


def scan_pack(path: Path) -> list[tarfile.TarInfo]:
    """Headers of every member; PackError (naming the member) if any is unsafe."""
    seen: set[str] = set()
    infos: list[tarfile.TarInfo] = []
    try:
        # "r:" = uncompressed only; headers are read and data skipped with seeks.
        with tarfile.open(path, mode="r:") as tf:
            for info in tf:
                problem = unsafe_name(info.name)
                if problem is None and not (info.isfile() or info.isdir()):
                    kind = ("symlink" if info.issym() else "hard link" if info.islnk()
                            else "device" if info.isdev() else "special file")
                    problem = f"{kind} members are not allowed"
                if problem is None and info.isfile():
                    key = _normal(info.name)
                    if key in seen:
                        problem = "appears twice"
                    seen.add(key)
                if problem:
                    raise PackError(f"pack {path.name}: refused: member {info.name!r}: {problem}")
                infos.append(info)
    except (tarfile.TarError, EOFError) as exc:
        raise PackError(f"pack {path.name}: not an uncompressed tar archive ({exc})") from None
    return infos


def extract_pack(
    path: Path,
    members: list[PackMember],
    target_for: Callable[[PackMember], Path | None],
    *,
    on_installed: Callable[[PackMember, Path], None] | None = None,
    lock_for: Callable[[Path], contextlib.AbstractContextManager[object]] | None = None,
    progress: ProgressCallback | None = None,
) -> ExtractReport:
    """Install the catalogue's ``members`` from the pack at ``path``.

    ``target_for(member)`` gives the final path (or None to skip a model already installed);
    ``lock_for(target)`` guards each install against a concurrent download of the same file.
    Memory stays flat: members are streamed in ``CHUNK``-sized pieces.
    """
    path = Path(path)
    scan_pack(path)
    wanted = {_normal(m.name): m for m in members}
    report = ExtractReport()
    found: set[str] = set()
    total = sum(m.size for m in members)
    done = 0
    with tarfile.open(path, mode="r:") as tf:
        for info in tf:
            if not info.isfile():
                continue
            key = _normal(info.name)
            member = wanted.get(key)
            if member is None:
                report.unknown.append(info.name)
                continue
            found.add(key)
            target = target_for(member)
            if target is None:
                report.skipped.append(member)
            elif info.size != member.size:
                report.failed.append(
                    (member, f"size {info.size} in the pack, {member.size} in the catalogue")
                )
            else:
                src = tf.extractfile(info)
                assert src is not None  # a regular file always has data
                lock = lock_for(target) if lock_for else contextlib.nullcontext()
                with lock:
                    problem = _install_member(src, target, member)
                if problem:
                    report.failed.append((member, problem))
                else:
                    report.installed.append(member)
                    if on_installed is not None:
                        on_installed(member, target)
            done += member.size
            if progress is not None:
                progress(Progress("extract", done, total, "B", member.style))
    for key, member in wanted.items():
        if key not in found:
            report.failed.append((member, "missing from the pack"))
    return report


def _install_member(src: IO[bytes], target: Path, member: PackMember) -> str | None:
    """Stream one member to a temp file beside ``target``, verify, rename; or say what failed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".unpack", dir=target.parent)
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while block := src.read(CHUNK):
                out.write(block)
                h.update(block)
                size += len(block)
        if size != member.size:
            return f"size {size}, the catalogue says {member.size}"
        if h.hexdigest() != member.sha256:
            return f"sha256 mismatch (expected {member.sha256[:12]}…, got {h.hexdigest()[:12]}…)"
        os.replace(tmp, target)
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
