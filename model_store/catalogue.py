"""The catalogue (``index.json``): what can be downloaded, with sizes and sha256s.

Format (``format_version`` 1; unknown keys are ignored so that newer writers stay readable)::

    {
      "format": "lstm-composer-catalogue", "format_version": 1, "generated": "2025-01-01T00:00:00Z",
      "styles": [
        {"id": "bach", "title": "Bach chorales", "description": "...", "file": "bach-e0150.lstmc",
         "size": 4012345, "sha256": "<64 hex>", "url": "models/bach-e0150.lstmc",
         "version": "bach-e0150", "epoch": 150, "quality": "val loss 1.92, ..."}
      ],
      "pack": {"url": "pack/lstm-composer-models-<sha12>.tar", "size": ..., "sha256": "...",
               "members": [{"name": "bach/bach-e0150.lstmc", "style": "bach",
                            "size": ..., "sha256": "..."}]}
    }

URLs are absolute or relative to the catalogue's own URL. Every load is validated; a malformed
or inconsistent catalogue (or one that is not JSON) is a ``CatalogueInvalid`` naming the URL and
the field (``styles[2].sha256: ...``); one that cannot be fetched (HTTP 404, connection refused,
unreadable file) with no cached copy is a ``CatalogueUnavailable`` naming the URL and the cause.
The last good copy of each catalogue URL is cached and used when offline or when the network
fails. A cache that cannot be saved (a read-only store) is a warning, not an error: the fetched
catalogue is still used.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from .atomic import atomic_file
from .config import DEFAULT_APP, AppConfig
from .download import USER_AGENT, check_url, describe_network_error, file_url_path
from .errors import CatalogueError, CatalogueInvalid, CatalogueUnavailable, OfflineError

if TYPE_CHECKING:
    import requests

FORMAT = "lstm-composer-catalogue"
FORMAT_VERSION = 1
MAX_CATALOGUE_BYTES = 16 << 20  # an index of a few hundred styles is ~100 kB

STYLE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class CatalogueStyle:
    id: str
    title: str
    description: str
    file: str  # file name in the store (a plain name, no directories)
    size: int
    sha256: str
    url: str  # absolute (resolved against the catalogue URL)
    version: str
    epoch: int | None = None
    quality: str = ""


@dataclass
class PackMember:
    name: str  # path inside the archive
    style: str
    size: int
    sha256: str


@dataclass
class PackInfo:
    url: str
    size: int
    sha256: str
    members: list[PackMember] = field(default_factory=list)

    @property
    def file(self) -> str:
        name = urlsplit(self.url).path.rsplit("/", 1)[-1]
        return name if FILE_NAME_RE.match(name) else "models-pack.tar"


@dataclass
class Catalogue:
    url: str
    format_version: int
    styles: dict[str, CatalogueStyle]
    pack: PackInfo | None = None
    generated: str | None = None


@dataclass
class LoadedCatalogue:
    catalogue: Catalogue
    source: str  # "network", "file" (local folder) or "cache"
    fetched_at: float  # when this copy was fetched (seconds since the epoch)
    warning: str | None = None

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.fetched_at)


# --------------------------------------------------------------------------------- validation


class _Checker:
    def __init__(self, url: str):
        self.url = url

    def fail(self, where: str, problem: str) -> CatalogueInvalid:
        return CatalogueInvalid(f"catalogue {self.url}: {where}: {problem}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object")
        return value

    def string(self, d: dict[str, Any], key: str, where: str, *, default: str | None = None,
               pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        if key not in d or d[key] is None:
            if default is not None:
                return default
            raise self.fail(f"{where}.{key}", "missing")
        value = d[key]
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(f"{where}.{key}", "must be a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(f"{where}.{key}", hint or f"invalid value {value!r}")
        return value

    def integer(self, d: dict[str, Any], key: str, where: str, *, optional: bool = False,
                minimum: int = 0) -> int | None:
        if key not in d or d[key] is None:
            if optional:
                return None
            raise self.fail(f"{where}.{key}", "missing")
        value = d[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{where}.{key}", f"must be an integer >= {minimum}")
        return value

    def sha(self, d: dict[str, Any], key: str, where: str) -> str:
        return self.string(d, key, where, pattern=_HEX64, hint="must be 64 hex digits").lower()

    def url_field(self, d: dict[str, Any], key: str, where: str, base: str) -> str:
        raw = self.string(d, key, where)
        absolute = urljoin(base, raw)
        if urlsplit(absolute).scheme.lower() not in ("http", "https", "file"):
            raise self.fail(f"{where}.{key}", f"unsupported URL {raw!r}")
        return absolute


def parse_catalogue(data: Any, url: str) -> Catalogue:
    """Validate a decoded ``index.json`` and resolve its URLs against ``url``."""
    c = _Checker(url)
    top = c.obj(data, "top level")
    fmt = top.get("format")
    if fmt != FORMAT:
        raise c.fail("format", f"expected {FORMAT!r}, got {fmt!r}")
    version = c.integer(top, "format_version", "top level", minimum=1)
    assert version is not None
    if version > FORMAT_VERSION:
        raise c.fail(
            "format_version",
            f"{version} is newer than this reader ({FORMAT_VERSION}); upgrade lstm-composer-plugin",
        )
    raw_styles = top.get("styles")
    if not isinstance(raw_styles, list):
        raise c.fail("styles", "must be a list")
    styles: dict[str, CatalogueStyle] = {}
    for i, raw in enumerate(raw_styles):
        where = f"styles[{i}]"
        s = c.obj(raw, where)
        sid = c.string(s, "id", where, pattern=STYLE_ID_RE,
                       hint="must be 1-64 letters, digits, '.', '_' or '-'")
        where = f"styles[{i}] ('{sid}')"
        if sid in styles:
            raise c.fail(where + ".id", "duplicate style id")
        styles[sid] = CatalogueStyle(
            id=sid,
            title=c.string(s, "title", where, default=sid) or sid,
            description=c.string(s, "description", where, default=""),
            file=c.string(s, "file", where, pattern=FILE_NAME_RE,
                          hint="must be a plain file name (no directories)"),
            size=c.integer(s, "size", where) or 0,
            sha256=c.sha(s, "sha256", where),
            url=c.url_field(s, "url", where, url),
            version=c.string(s, "version", where, pattern=FILE_NAME_RE,
                             hint="must be a plain name (letters, digits, '.', '_', '-')"),
            epoch=c.integer(s, "epoch", where, optional=True),
            quality=c.string(s, "quality", where, default=""),
        )
    pack = None
    if top.get("pack") is not None:
        p = c.obj(top["pack"], "pack")
        raw_members = p.get("members")
        if not isinstance(raw_members, list):
            raise c.fail("pack.members", "must be a list")
        members = []
        for i, raw in enumerate(raw_members):
            where = f"pack.members[{i}]"
            m = c.obj(raw, where)
            member = PackMember(
                name=c.string(m, "name", where),
                style=c.string(m, "style", where),
                size=c.integer(m, "size", where) or 0,
                sha256=c.sha(m, "sha256", where),
            )
            entry = styles.get(member.style)
            if entry is None:
                raise c.fail(where + ".style", f"'{member.style}' is not in styles")
            if (entry.sha256, entry.size) != (member.sha256, member.size):
                raise c.fail(where, f"size/sha256 differ from styles entry '{member.style}'")
            members.append(member)
        pack = PackInfo(
            url=c.url_field(p, "url", "pack", url),
            size=c.integer(p, "size", "pack") or 0,
            sha256=c.sha(p, "sha256", "pack"),
            members=members,
        )
    generated = top.get("generated")
    return Catalogue(
        url=url,
        format_version=version,
        styles=styles,
        pack=pack,
        generated=generated if isinstance(generated, str) else None,
    )


def parse_catalogue_bytes(raw: bytes, url: str) -> tuple[Catalogue, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CatalogueInvalid(f"catalogue {url}: not valid JSON ({exc})") from None
    return parse_catalogue(data, url), data


# ------------------------------------------------------------------------------------ caching


class CatalogueCache:
    """The last good copy of each catalogue URL, with the time it was fetched."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _path(self, url: str) -> Path:
        return self.directory / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".json")

    def read(self, url: str) -> tuple[Catalogue, float] | None:
        path = self._path(url)
        try:
            wrapper = json.loads(path.read_text(encoding="utf-8"))
            if wrapper.get("url") != url:
                return None
            return parse_catalogue(wrapper["index"], url), float(wrapper["fetched_at"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, CatalogueError):
            return None  # a damaged cache is no cache

    def write(self, url: str, data: Any, fetched_at: float) -> str | None:
        """Save a copy; returns why it could not be saved (a read-only store), or None."""
        path = self._path(url)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with atomic_file(path, "w") as fh:
                json.dump({"url": url, "fetched_at": fetched_at, "index": data}, fh)
        except OSError as exc:
            return (f"could not save the catalogue cache in {self.directory} "
                    f"({exc.strerror or exc}); offline use will not have this copy")
        return None


# ------------------------------------------------------------------------------------ loading


def load_catalogue(
    url: str,
    *,
    cache: CatalogueCache,
    offline: bool = False,
    allow_insecure: bool = False,
    max_age: float = 600.0,
    refresh: bool = False,
    timeout: float = 10.0,
    session: requests.Session | None = None,
    app: AppConfig = DEFAULT_APP,
) -> LoadedCatalogue:
    """The catalogue at ``url``: fresh cache, else network, else (with a warning) the cache.

    ``max_age``: a cached copy younger than this is used without asking the network, so that
    listing styles does not cost a round trip every time; ``refresh`` forces the network.
    """
    cached = cache.read(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        path = file_url_path(url)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            if cached is not None:
                return _from_cache(cached, f"catalogue {path} unreadable ({exc.strerror or exc}); using the copy")
            raise CatalogueUnavailable(
                f"catalogue {path}: cannot read ({exc.strerror or exc})") from None
        return _parse_and_cache(raw, url, cache, "file")
    if offline:
        if cached is None:
            raise OfflineError(
                f"offline mode is on (--offline or {app.env_offline}=1) and the catalogue {url} "
                "has never been fetched"
            )
        return _from_cache(cached, "offline: using the catalogue")
    if cached is not None and not refresh and time.time() - cached[1] < max_age:
        return LoadedCatalogue(cached[0], "cache", cached[1])
    check_url(url, allow_insecure, app)
    try:
        raw = _fetch_small(url, timeout, session, allow_insecure, app)
    except _FetchFailed as exc:
        if cached is not None:
            return _from_cache(cached, f"catalogue {url} unreachable ({exc}); using the copy")
        raise CatalogueUnavailable(f"catalogue {url}: {exc} (and no cached copy)") from None
    return _parse_and_cache(raw, url, cache, "network")


def _from_cache(cached: tuple[Catalogue, float], why: str) -> LoadedCatalogue:
    """The cached copy, with a warning: ``why`` followed by its age."""
    return LoadedCatalogue(cached[0], "cache", cached[1], f"{why} cached {human_age(time.time() - cached[1])} ago")


def _parse_and_cache(raw: bytes, url: str, cache: CatalogueCache, source: str) -> LoadedCatalogue:
    catalogue, data = parse_catalogue_bytes(raw, url)
    now = time.time()
    return LoadedCatalogue(catalogue, source, now, cache.write(url, data, now))


class _FetchFailed(Exception):
    pass


def _fetch_small(
    url: str, timeout: float, session: requests.Session | None, allow_insecure: bool,
    app: AppConfig = DEFAULT_APP,
) -> bytes:
    """GET a small document; one quick retry on a 5xx."""
    import requests  # here, not at the top: listing or composing from installed models needs no HTTP

    getter = session or requests
    last = "no attempt"
    for attempt in range(2):
        if attempt:
            time.sleep(0.3 * attempt)
        try:
            with getter.get(url, timeout=timeout, stream=True,
                            headers={"User-Agent": USER_AGENT}) as resp:
                check_url(resp.url, allow_insecure, app)  # a redirect must not downgrade
                if resp.status_code >= 500:
                    last = f"server error (HTTP {resp.status_code})"
                    continue
                if resp.status_code != 200:
                    reason = f" {resp.reason.lower()}" if resp.reason else ""
                    raise _FetchFailed(f"HTTP {resp.status_code}{reason}")
                body = bytearray()
                for chunk in resp.iter_content(1 << 16):
                    body += chunk
                    if len(body) > MAX_CATALOGUE_BYTES:
                        raise _FetchFailed(f"larger than {MAX_CATALOGUE_BYTES >> 20} MB")
                return bytes(body)
        except requests.RequestException as exc:
            # No retry on network errors: a dead network would make every listing wait
            # several timeouts before falling back to the cache.
            raise _FetchFailed(describe_network_error(exc)) from None
    raise _FetchFailed(last)


def human_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
