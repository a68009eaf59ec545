"""Records that cross the store's boundary: what callers hand in (``ModelInfo``, progress) and
what the store hands back (styles, installs, reports).

The store knows nothing of a model file's format: whoever owns the format describes a file
with a ``Describe`` function (path -> ``ModelInfo``), and the store copies, hashes and lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import StoreError


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` units (``total`` None when unknown)."""

    stage: str  # "download" or "extract"
    done: float
    total: float | None = None
    unit: str = ""  # "B"
    message: str = ""  # the label: a style name, "model pack"


#: What every long operation accepts as ``progress=``; ``as_progress_callback`` also takes a
#: tqdm-like object.
ProgressCallback = Callable[[Progress], None]


class TqdmLike(Protocol):
    total: Any
    n: Any

    def update(self, n: Any = 1) -> Any: ...


def as_progress_callback(progress: ProgressCallback | TqdmLike | None) -> ProgressCallback | None:
    """A callback from a callback, a tqdm-like object (``update``/``total``/``n``), or None.

    As pooch does, a tqdm-like bar is driven directly: its total is set from the first report
    and it is advanced by the bytes done since the last one.
    """
    if progress is None or (callable(progress) and not hasattr(progress, "update")):
        return progress  # type: ignore[return-value]
    bar = progress

    def report(p: Progress) -> None:
        if p.total is not None and bar.total != p.total:
            bar.total = p.total
        bar.update(p.done - (bar.n or 0))

    return report


@dataclass(frozen=True)
class ModelInfo:
    """What the store must know about a model file, handed to it by the caller's ``describe``.

    ``version`` is a plain name (letters, digits, ``.``, ``_``, ``-``) that names the file in a
    catalogue; the store falls back to ``<style>-e<epoch>`` when it is not usable.
    """

    style: str
    version: str = ""
    title: str = ""
    description: str = ""
    epoch: int | None = None
    quality: str = ""  # one short line
    chosen: bool = False  # the export its trainer recommends: publish prefers it


#: path -> ModelInfo; raises ``InvalidModelError`` (or any ``StoreError``) for a file that is
#: not a model.
Describe = Callable[[Path], ModelInfo]


def describe_by_name(path: Path) -> ModelInfo:
    """The default ``Describe``: the file's stem is the style and the title (no file is read)."""
    return ModelInfo(style=path.stem, title=path.stem)


@dataclass
class StyleEntry:
    """One style as the user sees it: installed (store or bundled) and/or downloadable."""

    name: str
    title: str
    description: str = ""
    installed: bool = False
    needs_download: bool = False
    size: int | None = None
    version: str | None = None
    epoch: int | None = None
    source: str = ""  # "store", "bundled" or "catalogue"
    path: Path | None = None
    quality: str = ""
    sha256: str | None = None
    bundled: bool = False  # a bundled fallback exists (whatever the source)
    catalogue_version: str | None = None
    update_available: bool = False  # the catalogue has a different version than the one used

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path) if self.path else None
        return d


@dataclass
class StyleListing:
    """``Store.list_styles()``: the styles that can be used, and what went wrong on the way.

    ``catalogue_error`` is set when a catalogue is configured but cannot be used (unreachable
    with no cached copy, invalid, offline with no cached copy): ``styles`` then holds the
    installed and bundled ones only. ``warnings`` holds every note for the user, each once:
    ``str(catalogue_error)`` first when there is one, then the milder ones (an old cached
    catalogue used instead, a cache that could not be saved). A CLI prints ``warnings``; it
    looks at ``catalogue_error`` only to decide what a missing style means.
    """

    styles: list[StyleEntry]
    catalogue_error: StoreError | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.styles]

    def get(self, name: str) -> StyleEntry | None:
        return next((s for s in self.styles if s.name == name), None)


@dataclass
class InstalledModel:
    style: str
    version: str
    file: str
    size: int
    sha256: str
    path: Path
    title: str = ""
    description: str = ""
    epoch: int | None = None
    quality: str = ""
    url: str = ""
    installed_at: float = 0.0


@dataclass
class VerifyResult:
    style: str
    version: str | None
    path: Path
    ok: bool
    source: str  # "store" or "bundled"
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass
class RepairReport:
    checked: int = 0
    repaired: list[str] = field(default_factory=list)  # styles fetched again
    failed: list[tuple[str, str]] = field(default_factory=list)  # (style, why)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "repaired": self.repaired,
            "failed": [{"style": s, "error": e} for s, e in self.failed],
            "ok": self.ok,
        }


@dataclass
class PackReport:
    pack: Path
    bytes_fetched: int = 0
    installed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already installed or bundled
    bundled: list[str] = field(default_factory=list)  # of skipped: the bundled file is the same
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    kept: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": str(self.pack),
            "bytes_fetched": self.bytes_fetched,
            "installed": self.installed,
            "skipped": self.skipped,
            "provided_by_bundled": self.bundled,
            "failed": [{"style": s, "error": e} for s, e in self.failed],
            "unknown_members": self.unknown,
            "pack_kept": self.kept,
            "ok": self.ok,
        }
