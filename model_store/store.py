"""The local store: installed models by style and version, plus the bundled read-only fallback.

Layout under ``Store.home`` (``$LSTM_COMPOSER_HOME`` or platformdirs' user data dir)::

    models/<style>/<version>-<sha8>/record.json   what was installed (from the catalogue)
    models/<style>/<version>-<sha8>/<file>.lstmc  the verified model (appears only when verified)
    models/<style>/<version>-<sha8>/<file>.part   an interrupted download, resumed next time
    packs/<pack>.tar                              the model pack while it is being installed
    catalogue/<hash>.json                         last good copy of each catalogue URL

A version directory is named by content (version and sha256 prefix), so a new download never
writes where an installed model lives: a failed or tampered download leaves it untouched. The
record is written before the download starts; the model file only appears, by atomic rename,
once its sha256 matches. "Installed" therefore means: record and file both present.

Offline first: ``resolve`` uses an installed (re-hashed) or bundled model without touching the
network, and only fetches a style that is in the catalogue but not installed.

Nothing here reads a model file: bundled models are described by the caller's ``describe``
function (``records.ModelInfo``), store installs by the catalogue entry they came from. A store
folder that cannot be written still lists and resolves what is installed and bundled; only an
install fails (``StoreNotWritable``), and an unsaved catalogue cache is a warning.

Over 400 lines because it is one class, the store's whole public surface, read top to bottom:
places, catalogue, listing, resolve, fetch, verify/repair, remove, pack.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import config
from .atomic import write_json
from .catalogue import (
    FILE_NAME_RE,
    STYLE_ID_RE,
    CatalogueCache,
    CatalogueStyle,
    LoadedCatalogue,
    PackMember,
    human_age,
    load_catalogue,
)
from .download import (
    DownloadOptions,
    DownloadResult,
    download,
    file_matches,
    lock_path_for,
    sha256_file,
    target_lock,
)
from .errors import (
    CatalogueError,
    CatalogueUnavailable,
    OfflineError,
    StoreError,
    StoreNotWritable,
    UnknownStyleError,
)
from .lock import LockTimeout, RemovableLock
from .pack import extract_pack
from .records import (
    Describe,
    InstalledModel,
    ModelInfo,
    PackReport,
    ProgressCallback,
    RepairReport,
    StyleEntry,
    StyleListing,
    VerifyResult,
    as_progress_callback,
    describe_by_name,
)

if TYPE_CHECKING:  # requests loads when something is downloaded (download.py), not with the store
    import requests

RECORD = "record.json"
_T = TypeVar("_T")


@dataclass
class FetchOutcome:
    style: str
    path: Path
    download: DownloadResult | None  # None: it was already installed, nothing was asked

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"style": self.style, "path": str(self.path)}
        if self.download is not None:
            dl = self.download
            d.update(bytes_fetched=dl.bytes_fetched, resumed_from=dl.resumed_from,
                     attempts=dl.attempts, restarts=dl.restarts, reused=dl.reused, size=dl.size)
        else:
            d.update(bytes_fetched=0, reused=True)
        return d


class Store:
    """Installed, bundled and downloadable models, and the operations on them.

    ``home``, ``catalogue_url``, ``offline``, ``allow_insecure``: None means "from the
    environment or the config file" of ``app`` (``config.AppConfig``: the caller's application name and
    environment prefix; the store knows none of its own). ``bundled``: {style: read-only model file}
    shipped with the caller. ``describe``: what a bundled file is (``records.Describe``; default:
    its stem). ``commands``: how messages name the caller's command line ("`<commands> repair`"; default
    ``<app name> models``).
    """

    def __init__(
        self,
        home: Path | None = None,
        catalogue_url: str | None = None,
        bundled: dict[str, Path] | None = None,
        offline: bool | None = None,
        allow_insecure: bool | None = None,
        *,
        describe: Describe | None = None,
        app: config.AppConfig = config.DEFAULT_APP,
        commands: str | None = None,
        download_options: DownloadOptions | None = None,
        catalogue_max_age: float = 600.0,
        session: requests.Session | None = None,
    ):
        self.app = app
        self.home = Path(home).expanduser().absolute() if home else self.app.store_home()
        self.catalogue_url = self.app.catalogue_url(catalogue_url)
        self.bundled = {str(k): Path(v) for k, v in (bundled or {}).items()}
        self.describe = describe or describe_by_name
        self.commands = commands or f"{self.app.name} models"  # how messages name the caller's CLI: "`<commands> repair`"
        self.offline = self.app.is_offline(offline)
        self.allow_insecure = self.app.allow_insecure(allow_insecure)
        self.options = download_options or DownloadOptions()
        self.options.app = self.app
        self.options.offline = self.offline
        self.options.allow_insecure = self.allow_insecure
        self.catalogue_max_age = catalogue_max_age
        self.session = session
        self.cache = CatalogueCache(self.home / "catalogue")
        self.warnings: list[str] = []  # catalogue fell back to cache, etc.: each shown once
        self._loaded: LoadedCatalogue | None = None

    # ------------------------------------------------------------------------------ places

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def packs_dir(self) -> Path:
        return self.home / "packs"

    def where(self) -> Path:
        """The store's folder, as shown to the user."""
        return self.home

    def info(self) -> dict[str, Any]:
        """Where everything is and which settings are in force (``models where``)."""
        cached = self.cache.read(self.catalogue_url) if self.catalogue_url else None
        return {
            "home": str(self.home),
            "models": str(self.models_dir),
            "config_file": str(self.app.config_path()),
            "catalogue_url": self.catalogue_url,
            "catalogue_cached_age_seconds": (time.time() - cached[1]) if cached else None,
            "offline": self.offline,
            "allow_insecure": self.allow_insecure,
            "bundled": {k: str(v) for k, v in sorted(self.bundled.items())},
        }

    # --------------------------------------------------------------------------- catalogue

    def catalogue(self, refresh: bool = False, required: bool = True) -> LoadedCatalogue | None:
        """The catalogue (loaded once per Store; cached copy when offline or unreachable)."""
        if self.catalogue_url is None:
            if required:
                raise CatalogueUnavailable(
                    f"no catalogue configured: set {self.app.env_catalogue} or \"catalogue\" in "
                    f"{self.app.config_path()}"
                )
            return None
        if self._loaded is None or refresh:
            self._loaded = load_catalogue(
                self.catalogue_url,
                cache=self.cache,
                offline=self.offline,
                allow_insecure=self.allow_insecure,
                max_age=self.catalogue_max_age,
                refresh=refresh,
                timeout=self.options.connect_timeout,
                session=self.session,
                app=self.app,
            )
            self._warn(self._loaded.warning)
        return self._loaded

    def _warn(self, message: str | None) -> None:
        if message and message not in self.warnings:
            self.warnings.append(message)

    def _catalogue_entry(self, style: str) -> tuple[LoadedCatalogue, CatalogueStyle | None]:
        """The entry to download from: asks the network (when online) rather than a cache
        younger than ``catalogue_max_age``, which only serves listings, so a fetch gets the
        latest version and its current sha256. Falls back to the cache if the network fails."""
        loaded = self.catalogue()
        assert loaded is not None
        if loaded.source == "cache" and not self.offline and loaded.warning is None:
            loaded = self.catalogue(refresh=True)
            assert loaded is not None
        return loaded, loaded.catalogue.styles.get(style)

    # --------------------------------------------------------------------------- installed

    def _version_dir(self, entry: CatalogueStyle) -> Path:
        return self.models_dir / entry.id / f"{entry.version}-{entry.sha256[:8]}"

    def _target(self, entry: CatalogueStyle) -> Path:
        return self._version_dir(entry) / entry.file

    def installed(self) -> dict[str, list[InstalledModel]]:
        """Store installs by style, newest first (record and file present; not re-hashed)."""
        out: dict[str, list[InstalledModel]] = {}
        if not self.models_dir.is_dir():
            return out
        for style_dir in sorted(self.models_dir.iterdir()):
            if not style_dir.is_dir() or not STYLE_ID_RE.match(style_dir.name):
                continue
            models = [m for m in map(self._read_record, _subdirs(style_dir)) if m and m.path.is_file()]
            if models:
                models.sort(key=lambda m: m.installed_at, reverse=True)
                out[style_dir.name] = models
        return out

    def _read_record(self, vdir: Path) -> InstalledModel | None:
        try:
            r = json.loads((vdir / RECORD).read_text(encoding="utf-8"))
            file = str(r["file"])
            if not FILE_NAME_RE.match(file) or r["style"] != vdir.parent.name:
                return None
            return InstalledModel(
                style=r["style"], version=str(r["version"]), file=file, size=int(r["size"]),
                sha256=str(r["sha256"]), path=vdir / file, title=r.get("title") or r["style"],
                description=r.get("description") or "", epoch=r.get("epoch"),
                quality=r.get("quality") or "", url=r.get("url") or "",
                installed_at=float(r.get("installed_at") or 0.0),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_record(self, entry: CatalogueStyle) -> None:
        vdir = self._version_dir(entry)
        self._writable(f"style '{entry.id}'", lambda: vdir.mkdir(parents=True, exist_ok=True))
        record = {
            "style": entry.id, "version": entry.version, "file": entry.file, "size": entry.size,
            "sha256": entry.sha256, "title": entry.title, "description": entry.description,
            "epoch": entry.epoch, "quality": entry.quality, "url": entry.url,
            "catalogue": self.catalogue_url, "installed_at": time.time(),
        }
        self._writable(f"style '{entry.id}'", lambda: write_json(vdir / RECORD, record))

    def _writable(self, what: str, action: Callable[[], _T]) -> _T:
        """Run a store write; a read-only (or full) store becomes one clear line about ``what``."""
        try:
            return action()
        except (OSError, StoreNotWritable) as exc:
            if isinstance(exc, OSError):
                detail = f"{exc.filename or self.home}: {exc.strerror or exc}"
            else:
                detail = str(exc).split(": cannot write ", 1)[-1]
            raise StoreNotWritable(
                f"{what}: cannot write to the model store ({detail}); set {self.app.env('HOME')} to "
                "a writable folder"
            ) from None

    def _check(self, model: InstalledModel) -> str | None:
        """Why an installed model cannot be used, or None (re-hashes the file)."""
        try:
            size = model.path.stat().st_size
        except OSError:
            return f"{model.path} is missing"
        if size != model.size:
            return f"{model.path} has {size} bytes, expected {model.size}"
        if sha256_file(model.path) != model.sha256:
            return f"{model.path} fails its sha256 check"
        return None

    # ----------------------------------------------------------------------------- listing

    def list_styles(self, refresh: bool = False) -> StyleListing:
        """Installed, bundled and catalogue styles merged, sorted by name; never raises for
        catalogue trouble (see ``StyleListing.catalogue_error``)."""
        loaded, error = None, None
        try:
            loaded = self.catalogue(refresh=refresh, required=False)
        except StoreError as exc:
            error = exc
            self._warn(str(exc))
        cat = loaded.catalogue.styles if loaded else {}
        installed = self.installed()
        out = []
        for name in sorted(set(installed) | set(self.bundled) | set(cat)):
            entry = cat.get(name)
            bundled = self.bundled.get(name)
            has_bundled = bundled is not None and bundled.is_file()
            if name in installed:
                m = installed[name][0]
                e = StyleEntry(
                    name=name, title=m.title, description=m.description, installed=True,
                    size=m.size, version=m.version, epoch=m.epoch, source="store", path=m.path,
                    quality=m.quality, sha256=m.sha256,
                )
                e.update_available = entry is not None and entry.sha256 != m.sha256
            elif has_bundled:
                assert bundled is not None
                e = self._bundled_entry(name, bundled)
                e.update_available = entry is not None and entry.version != e.version
            elif entry is not None:
                e = StyleEntry(
                    name=name, title=entry.title, description=entry.description,
                    needs_download=True, size=entry.size, version=entry.version,
                    epoch=entry.epoch, source="catalogue", quality=entry.quality,
                    sha256=entry.sha256,
                )
            else:
                continue  # a bundled path that does not exist
            e.bundled = has_bundled
            e.catalogue_version = entry.version if entry else None
            out.append(e)
        return StyleListing(out, error, list(self.warnings))

    def styles(self, refresh: bool = False) -> list[StyleEntry]:
        """``list_styles().styles``; a catalogue problem is only added to ``warnings``."""
        return self.list_styles(refresh).styles

    def _describe(self, path: Path) -> ModelInfo | None:
        try:
            return self.describe(path)
        except StoreError:
            return None

    def _bundled_entry(self, name: str, path: Path) -> StyleEntry:
        info = self._describe(path) or ModelInfo(style=name)
        try:
            size: int | None = path.stat().st_size
        except OSError:
            size = None
        return StyleEntry(
            name=name, title=info.title or name, description=info.description, installed=True,
            size=size, version=info.version or None, epoch=info.epoch, source="bundled",
            path=path, quality=info.quality,
        )

    # ----------------------------------------------------------------------------- resolve

    def resolve(self, style: str, progress: ProgressCallback | Any = None) -> Path:
        """The local path of a usable model for ``style``, fetching it if it must.

        Order: a verified store install (no network), then the bundled model, then a download
        from the catalogue. A damaged install is fetched again when possible. ``progress``: a
        ``ProgressCallback`` or a tqdm-like object.
        """
        progress = as_progress_callback(progress)
        problems = []
        for model in self.installed().get(style, []):
            problem = self._check(model)
            if problem is None:
                return model.path
            problems.append(problem)
        if problems and not self.offline and self.catalogue_url:
            try:
                return self.fetch(style, progress=progress, force=True)
            except StoreError as exc:
                problems.append(str(exc))
        bundled = self.bundled.get(style)
        if bundled is not None and bundled.is_file():
            return bundled
        if problems:
            raise StoreError(
                f"style '{style}': the installed model is damaged ({problems[0]}); run "
                f"`{self.commands} repair`"
            )
        return self.fetch(style, progress=progress)

    # ------------------------------------------------------------------------------- fetch

    def fetch(self, style: str, progress: ProgressCallback | Any = None, force: bool = False) -> Path:
        """Install the catalogue's model for ``style`` (no-op when already installed)."""
        return self.fetch_detailed(style, progress=progress, force=force).path

    def fetch_detailed(
        self, style: str, progress: ProgressCallback | Any = None, force: bool = False
    ) -> FetchOutcome:
        progress = as_progress_callback(progress)
        entry = self._entry_or_explain(style)
        target = self._target(entry)
        if not force and file_matches(target, entry.sha256, entry.size):
            if self._read_record(target.parent) is None:
                self._write_record(entry)
            return FetchOutcome(style, target, None)
        if self.offline:
            raise OfflineError(
                f"style '{style}' is not downloaded ({_mb(entry.size)}) and offline mode is on "
                f"(--offline or {self.app.env_offline}=1); run `{self.commands} fetch {style}` "
                "when online"
            )
        self._write_record(entry)
        result = self._writable(f"style '{style}'",
                                lambda: self._download(entry, target, progress, force))
        self._prune(style, keep=target.parent)
        return FetchOutcome(style, target, result)

    def _download(
        self, entry: CatalogueStyle, target: Path, progress: ProgressCallback | None, force: bool
    ) -> DownloadResult:
        return download(
            entry.url, target, sha256=entry.sha256, size=entry.size, progress=progress,
            label=entry.id, options=self.options, session=self.session, force=force,
        )

    def _entry_or_explain(self, style: str) -> CatalogueStyle:
        """The catalogue entry for ``style`` or an error that says what is known instead."""
        local = sorted(set(self.installed()) | {s for s, p in self.bundled.items() if p.is_file()})
        try:
            loaded, entry = self._catalogue_entry(style)
        except OfflineError:
            if style in local:
                raise OfflineError(
                    f"style '{style}' is installed but not from a catalogue, and offline mode is "
                    "on: nothing to fetch"
                ) from None
            raise OfflineError(
                f"style '{style}' is not installed and offline mode is on "
                f"(--offline or {self.app.env_offline}=1), with no cached catalogue; "
                f"installed: {', '.join(local) or 'none'}"
            ) from None
        except CatalogueError as exc:
            if style in local:
                raise
            if self.catalogue_url is None:  # nowhere to look: the style is simply unknown
                raise UnknownStyleError(
                    f"unknown style '{style}' (installed: {', '.join(local) or 'none'}); {exc}"
                ) from None
            raise type(exc)(
                f"style '{style}' is not installed (installed: {', '.join(local) or 'none'}) and "
                f"the catalogue is unavailable: {exc}"
            ) from None
        if entry is None:
            known = sorted(set(local) | set(loaded.catalogue.styles))
            where = "" if style not in local else " (it is installed locally)"
            raise UnknownStyleError(
                f"style '{style}' is not in the catalogue{where}; known styles: "
                f"{', '.join(known) or 'none'}"
            )
        return entry

    def _prune(self, style: str, keep: Path) -> None:
        """Remove the style's other versions (a new one is installed and verified)."""
        style_dir = self.models_dir / style
        for vdir in _subdirs(style_dir):
            if vdir == keep:
                continue
            with self._dir_locks(vdir, timeout=0) as free:
                if free:
                    shutil.rmtree(vdir, ignore_errors=True)

    @contextlib.contextmanager
    def _dir_locks(self, vdir: Path, timeout: float) -> Iterator[bool]:
        """Hold the download locks of every file in ``vdir``; yields False if one is busy."""
        record = self._read_record(vdir)
        targets = {p.with_suffix("") for p in vdir.glob("*.lock")}
        if record is not None:
            targets.add(record.path)
        locks = []
        try:
            for target in sorted(targets):
                lock = RemovableLock(lock_path_for(target))
                try:
                    lock.acquire(timeout=timeout)
                except LockTimeout:
                    yield False
                    return
                locks.append(lock)
            yield True
        finally:
            for lock in locks:
                lock.release()

    # ------------------------------------------------------------------------------ verify

    def verify(self) -> list[VerifyResult]:
        """Re-hash every store install; check each bundled model's zip CRCs.

        A bundled file has no catalogue sha256 to compare with; model files are zip containers
        (as ``.keras`` files are), so the container's own CRCs are checked: the store still never
        reads what is inside.
        """
        results = []
        for style, models in self.installed().items():
            for m in models:
                problem = self._check(m)
                results.append(VerifyResult(style, m.version, m.path, problem is None, "store",
                                            problem or ""))
        for style, path in sorted(self.bundled.items()):
            problem = _check_zip(path)
            version = None
            if problem is None:
                info = self._describe(path)
                version = info.version or None if info else None
            results.append(VerifyResult(style, version, path, problem is None, "bundled",
                                        problem or ""))
        return results

    def repair(self, progress: ProgressCallback | Any = None) -> RepairReport:
        """Fetch again every store model that fails verification."""
        progress = as_progress_callback(progress)
        report = RepairReport()
        for result in self.verify():
            report.checked += 1
            if result.ok:
                continue
            if result.source == "bundled":
                report.failed.append((result.style, f"bundled model damaged ({result.problem}); "
                                                    "reinstall the package that ships it"))
                continue
            try:
                self.fetch(result.style, progress=progress, force=True)
                report.repaired.append(result.style)
            except StoreError as exc:
                report.failed.append((result.style, str(exc)))
        return report

    # ------------------------------------------------------------------------------ remove

    def remove(self, style: str) -> list[Path]:
        """Delete every store version of ``style`` (the bundled model is read-only)."""
        style_dir = self.models_dir / style
        vdirs = _subdirs(style_dir) if STYLE_ID_RE.match(style) else []
        if not vdirs:
            if style in self.bundled:
                raise StoreError(
                    f"style '{style}' is only the bundled model, which is read-only: nothing to remove"
                )
            known = sorted(self.installed())
            raise UnknownStyleError(
                f"style '{style}' is not installed in the store; installed: {', '.join(known) or 'none'}"
            )
        removed = []
        for vdir in vdirs:
            with self._dir_locks(vdir, timeout=0.5) as free:
                if not free:
                    raise StoreError(f"style '{style}': {vdir} is being downloaded by another process")
                shutil.rmtree(vdir)
                removed.append(vdir)
        with contextlib.suppress(OSError):
            style_dir.rmdir()
        return removed

    # -------------------------------------------------------------------------------- pack

    def install_pack(self, progress: ProgressCallback | Any = None, keep: bool = False) -> PackReport:
        """Download the catalogue's model pack (resumable, verified) and install every model.

        A member whose bundled model is the very same file (sha256 and size) is not installed a
        second time: it is reported in ``PackReport.bundled`` (and ``skipped``), and the
        bundled file keeps serving that style.
        """
        progress = as_progress_callback(progress)
        loaded = self.catalogue()
        assert loaded is not None
        pack = loaded.catalogue.pack
        if pack is None:
            raise CatalogueError(f"catalogue {loaded.catalogue.url} has no model pack")
        styles = loaded.catalogue.styles
        target = self.packs_dir / pack.file
        same_as_bundled = {m.style for m in pack.members if self._bundled_matches(m)}
        have = [m for m in pack.members if m.style in same_as_bundled or (
            m.style in styles and file_matches(self._target(styles[m.style]), m.sha256, m.size))]
        if pack.members and len(have) == len(pack.members) and not keep:
            # Everything is installed and verified: fetching a 1 GB pack to install nothing is waste.
            return PackReport(pack=target, bytes_fetched=0, skipped=[m.style for m in have],
                              bundled=sorted(same_as_bundled))
        if self.offline and not file_matches(target, pack.sha256, pack.size):
            raise OfflineError(
                f"the model pack ({_mb(pack.size)}) is not downloaded and offline mode is on "
                f"(--offline or {self.app.env_offline}=1); run `{self.commands} pack` when online"
            )
        result = self._writable("the model pack", lambda: download(
            pack.url, target, sha256=pack.sha256, size=pack.size, progress=progress,
            label="model pack", options=self.options, session=self.session,
        ))
        report = PackReport(pack=target, bytes_fetched=result.bytes_fetched,
                            bundled=sorted(same_as_bundled))

        def target_for(member: PackMember) -> Path | None:
            if member.style in same_as_bundled:
                return None  # the bundled file is this very model: no second copy
            entry = styles[member.style]
            path = self._target(entry)
            # Checked again, not taken from `have`: the store may change while the pack downloads.
            if file_matches(path, entry.sha256, entry.size):
                if self._read_record(path.parent) is None:
                    self._write_record(entry)
                return None
            self._write_record(entry)
            return path

        def on_installed(member: PackMember, path: Path) -> None:
            self._prune(member.style, keep=path.parent)

        def lock_for(path: Path) -> contextlib.AbstractContextManager[object]:
            return target_lock(path, stall_timeout=self.options.lock_stall_timeout,
                               label=path.name)

        extracted = self._writable("the model pack", lambda: extract_pack(
            target, pack.members, target_for, on_installed=on_installed, lock_for=lock_for,
            progress=progress))
        report.installed = [m.style for m in extracted.installed]
        report.skipped = [m.style for m in extracted.skipped]
        report.failed = [(m.style, why) for m, why in extracted.failed]
        report.unknown = extracted.unknown
        if keep or report.failed:
            report.kept = True
        else:
            with contextlib.suppress(OSError):
                target.unlink()  # 1 GB we no longer need; the models are installed
        return report

    def _bundled_matches(self, member: PackMember) -> bool:
        path = self.bundled.get(member.style)
        return path is not None and file_matches(path, member.sha256, member.size)

    def catalogue_summary(self) -> dict[str, Any] | None:
        """URL, source and age of the catalogue in use (for ``models list``)."""
        loaded = self._loaded
        if loaded is None:
            return None
        return {
            "url": loaded.catalogue.url,
            "source": loaded.source,
            "fetched_at": loaded.fetched_at,
            "age_seconds": round(loaded.age_seconds, 1),
            "age": human_age(loaded.age_seconds),
            "warning": loaded.warning,
        }


# ------------------------------------------------------------------------------------ helpers


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir())
    except OSError:
        return []


def _check_zip(path: Path) -> str | None:
    """Why a zip container is damaged (a member fails its CRC, not a zip), or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except FileNotFoundError:
        return f"{path} is missing"
    except (zipfile.BadZipFile, OSError) as exc:
        return f"{path} is not a readable model file ({exc})"
    return f"{path}: member {bad} fails its CRC check" if bad else None


def _mb(size: int | None) -> str:
    if size is None:
        return "size unknown"
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} bytes"
