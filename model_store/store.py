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
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
from filelock import FileLock, Timeout

from hostapi.results import ProgressCallback, StyleInfo

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
    read_model_manifest,
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
    OfflineError,
    StoreError,
    UnknownStyleError,
)
from .pack import extract_pack

RECORD = "record.json"


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

    def to_style_info(self, plugin: str = "") -> StyleInfo:
        version = self.version or (f"e{self.epoch}" if self.epoch is not None else None)
        return StyleInfo(
            name=self.name,
            title=self.title,
            description=self.description,
            plugin=plugin,
            installed=self.installed,
            needs_download=self.needs_download,
            size_bytes=self.size,
            version=version,
            source=self.source,
        )


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


@dataclass
class PackReport:
    pack: Path
    bytes_fetched: int = 0
    installed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
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
            "failed": [{"style": s, "error": e} for s, e in self.failed],
            "unknown_members": self.unknown,
            "pack_kept": self.kept,
            "ok": self.ok,
        }


class Store:
    """Installed, bundled and downloadable models, and the operations on them."""

    def __init__(
        self,
        home: Path | None = None,
        catalogue_url: str | None = None,
        bundled: dict[str, Path] | None = None,
        offline: bool | None = None,
        allow_insecure: bool | None = None,
        *,
        download_options: DownloadOptions | None = None,
        catalogue_max_age: float = 600.0,
        session: requests.Session | None = None,
    ):
        self.home = Path(home).expanduser().absolute() if home else config.store_home()
        self.catalogue_url = config.catalogue_url(catalogue_url)
        self.bundled = {str(k): Path(v) for k, v in (bundled or {}).items()}
        self.offline = config.is_offline(offline)
        self.allow_insecure = config.allow_insecure(allow_insecure)
        self.options = download_options or DownloadOptions()
        self.options.offline = self.offline
        self.options.allow_insecure = self.allow_insecure
        self.catalogue_max_age = catalogue_max_age
        self.session = session
        self.cache = CatalogueCache(self.home / "catalogue")
        self.warnings: list[str] = []  # catalogue fell back to cache, etc.: shown by the CLI
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
            "config_file": str(config.config_path()),
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
                raise CatalogueError(
                    f"no catalogue configured: set {config.ENV_CATALOGUE} or \"catalogue\" in "
                    f"{config.config_path()}"
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
            )
            if self._loaded.warning and self._loaded.warning not in self.warnings:
                self.warnings.append(self._loaded.warning)
        return self._loaded

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
        vdir.mkdir(parents=True, exist_ok=True)
        record = {
            "style": entry.id, "version": entry.version, "file": entry.file, "size": entry.size,
            "sha256": entry.sha256, "title": entry.title, "description": entry.description,
            "epoch": entry.epoch, "quality": entry.quality, "url": entry.url,
            "catalogue": self.catalogue_url, "installed_at": time.time(),
        }
        write_json(vdir / RECORD, record)

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

    def styles(self, refresh: bool = False) -> list[StyleEntry]:
        """Installed, bundled and catalogue styles merged, sorted by name.

        Never raises for catalogue trouble: local styles are still listed and the problem is
        added to ``warnings``.
        """
        loaded = None
        try:
            loaded = self.catalogue(refresh=refresh, required=False)
        except StoreError as exc:
            self.warnings.append(str(exc))
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
                e = _bundled_entry(name, bundled)
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
        return out

    def known_styles(self) -> list[str]:
        return [e.name for e in self.styles()]

    # ----------------------------------------------------------------------------- resolve

    def resolve(self, style: str, progress: ProgressCallback | None = None) -> Path:
        """The local path of a usable model for ``style``, fetching it if it must.

        Order: a verified store install (no network), then the bundled model, then a download
        from the catalogue. A damaged install is fetched again when possible.
        """
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
                f"`lstm-composer models repair`"
            )
        return self.fetch(style, progress=progress)

    # ------------------------------------------------------------------------------- fetch

    def fetch(self, style: str, progress: ProgressCallback | None = None, force: bool = False) -> Path:
        """Install the catalogue's model for ``style`` (no-op when already installed)."""
        return self.fetch_detailed(style, progress=progress, force=force).path

    def fetch_detailed(
        self, style: str, progress: ProgressCallback | None = None, force: bool = False
    ) -> FetchOutcome:
        entry = self._entry_or_explain(style)
        target = self._target(entry)
        if not force and file_matches(target, entry.sha256, entry.size):
            if self._read_record(target.parent) is None:
                self._write_record(entry)
            return FetchOutcome(style, target, None)
        if self.offline:
            raise OfflineError(
                f"style '{style}' is not downloaded ({_mb(entry.size)}) and offline mode is on "
                f"(--offline or {config.ENV_OFFLINE}=1); run `lstm-composer models fetch {style}` "
                "when online"
            )
        self._write_record(entry)
        result = self._download(entry, target, progress, force)
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
                f"(--offline or {config.ENV_OFFLINE}=1), with no cached catalogue; "
                f"installed: {', '.join(local) or 'none'}"
            ) from None
        except CatalogueError as exc:
            if style in local:
                raise
            if self.catalogue_url is None:  # nowhere to look: the style is simply unknown
                raise UnknownStyleError(
                    f"unknown style '{style}' (installed: {', '.join(local) or 'none'}); {exc}"
                ) from None
            raise CatalogueError(
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
                lock = FileLock(str(lock_path_for(target)))
                try:
                    lock.acquire(timeout=timeout)
                except Timeout:
                    yield False
                    return
                locks.append(lock)
            yield True
        finally:
            for lock in locks:
                lock.release()

    # ------------------------------------------------------------------------------ verify

    def verify(self) -> list[VerifyResult]:
        """Re-hash every store install; check each bundled model's zip CRCs."""
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
                with contextlib.suppress(StoreError):
                    version = read_model_manifest(path).get("model_id")
            results.append(VerifyResult(style, version, path, problem is None, "bundled",
                                        problem or ""))
        return results

    def repair(self, progress: ProgressCallback | None = None) -> RepairReport:
        """Fetch again every store model that fails verification."""
        report = RepairReport()
        for result in self.verify():
            report.checked += 1
            if result.ok:
                continue
            if result.source == "bundled":
                report.failed.append((result.style, f"bundled model damaged ({result.problem}); "
                                                    "reinstall lstm-composer-plugin"))
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

    def install_pack(self, progress: ProgressCallback | None = None, keep: bool = False) -> PackReport:
        """Download the catalogue's model pack (resumable, verified) and install every model."""
        loaded = self.catalogue()
        assert loaded is not None
        pack = loaded.catalogue.pack
        if pack is None:
            raise CatalogueError(f"catalogue {loaded.catalogue.url} has no model pack")
        styles = loaded.catalogue.styles
        target = self.packs_dir / pack.file
        have = [m for m in pack.members
                if m.style in styles and file_matches(self._target(styles[m.style]), m.sha256, m.size)]
        if pack.members and len(have) == len(pack.members) and not keep:
            # Everything is installed and verified: fetching a 1 GB pack to install nothing is waste.
            return PackReport(pack=target, bytes_fetched=0, skipped=[m.style for m in have])
        if self.offline and not file_matches(target, pack.sha256, pack.size):
            raise OfflineError(
                f"the model pack ({_mb(pack.size)}) is not downloaded and offline mode is on "
                f"(--offline or {config.ENV_OFFLINE}=1); run `lstm-composer models pack` when online"
            )
        result = download(
            pack.url, target, sha256=pack.sha256, size=pack.size, progress=progress,
            label="model pack", options=self.options, session=self.session,
        )
        report = PackReport(pack=target, bytes_fetched=result.bytes_fetched)

        def target_for(member: PackMember) -> Path | None:
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

        extracted = extract_pack(target, pack.members, target_for, on_installed=on_installed,
                                 lock_for=lock_for, progress=progress)
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


def _bundled_entry(name: str, path: Path) -> StyleEntry:
    try:
        manifest = read_model_manifest(path)
    except StoreError:
        manifest = {}
    epoch = manifest.get("epoch")
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    return StyleEntry(
        name=name,
        title=str(manifest.get("title") or name),
        description=str(manifest.get("description") or ""),
        installed=True,
        size=size,
        version=manifest.get("model_id") or None,
        epoch=epoch if isinstance(epoch, int) else None,
        source="bundled",
        path=path,
        quality=_quality_text(manifest.get("quality")),
    )


def _quality_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return ""


def _check_zip(path: Path) -> str | None:
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
