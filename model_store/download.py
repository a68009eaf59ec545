"""Resumable, verified, locked downloads.

What this takes from the usual tools and what it avoids:

* pooch: the hash is known before the download and checked before the file appears under its
  final name (temp file + atomic rename), so a half or tampered file is never "installed".
* huggingface_hub: ``<file>.part`` beside the target, resumed with an HTTP Range request, and a
  per-target file lock so concurrent processes download once. Its known failure is waiting
  forever on a lock left behind; here the lock is an OS lock (``flock``), which the kernel drops
  when its holder dies, and a waiter that sees no progress from a live holder for
  ``lock_stall_timeout`` seconds gives up with a message instead of hanging. The lock file is
  removed on release (``lock.RemovableLock`` says how, without the usual race), so a store
  holds no ``.lock`` files once its downloads are done.
* A server that ignores Range (answers 200) gets a clean restart; a 206 that starts elsewhere
  than asked is not trusted either.

Body bytes are read with ``read1`` straight from the socket so that every byte received before a
connection cut is written and kept (a buffered ``read(n)`` can lose its partial buffer), and the
sha256 is computed on the fly so that verifying a 1 GB file costs no second pass.

Over 400 lines because one download is one state machine (lock, sidecar, attempt, stream,
verify, rename) that reads best in one place; URL checks and hashing helpers sit beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import queue
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .config import DEFAULT_APP, AppConfig
from .errors import (
    DownloadError,
    InsecureURLError,
    IntegrityError,
    LockBusyError,
    OfflineError,
    StoreNotWritable,
)
from .lock import LockTimeout, RemovableLock
from .records import Progress, ProgressCallback, as_progress_callback

if TYPE_CHECKING:
    import requests

# requests (and urllib3 under it) load on the first download, in the functions that use them: composing
# from an installed or bundled model imports this module but never downloads (about 50 ms at start).

USER_AGENT = "lstm-composer-model-store/0.1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class DownloadOptions:
    """Tuning knobs; the defaults suit a home connection, tests shrink them."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # seconds without a single byte before an attempt is abandoned
    retries: int = 5  # consecutive attempts that bring no new byte before giving up
    max_attempts: int = 200  # attempts in all, even if each one brings a few bytes
    backoff: float = 0.5  # first wait between attempts; doubles, with jitter
    backoff_max: float = 20.0
    chunk_size: int = 1 << 20
    lock_stall_timeout: float = 120.0  # give up waiting on another process after this long idle
    progress_interval: float = 0.1  # seconds between progress callbacks
    allow_insecure: bool = False
    offline: bool = False
    app: AppConfig = DEFAULT_APP  # whose environment variables the messages name (frozen: safe to share)


@dataclass
class DownloadResult:
    path: Path
    size: int
    sha256: str
    bytes_fetched: int = 0  # body bytes received from the network by this call
    resumed_from: int = 0  # bytes already in the .part when this call started fetching
    attempts: int = 0  # HTTP requests made
    restarts: int = 0  # times the .part was thrown away (Range ignored, hash mismatch)
    reused: bool = False  # the verified target was already there: no network at all


# --------------------------------------------------------------------------------------- URLs


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_insecure: bool = False, app: AppConfig = DEFAULT_APP) -> None:
    """https anywhere, http to loopback, file:// always; plain http elsewhere only if opted in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("https", "file"):
        return
    if scheme == "http":
        if allow_insecure or is_loopback_host(parts.hostname):
            return
        raise InsecureURLError(
            f"refusing plain-http URL {url}: use https, or opt in with --allow-insecure "
            f"or {app.env('ALLOW_INSECURE')}=1"
        )
    raise InsecureURLError(f"unsupported URL scheme in {url!r} (use https, http or file)")


def file_url_path(url: str) -> Path:
    return Path(url2pathname(urlsplit(url).path))


# ------------------------------------------------------------------------------------ hashing


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            h.update(block)
    return h.hexdigest()


def file_matches(path: Path, sha256: str, size: int | None = None) -> bool:
    """True when ``path`` exists with this size (if given) and sha256."""
    try:
        if size is not None and path.stat().st_size != size:
            return False
        return sha256_file(path) == sha256
    except OSError:
        return False


# -------------------------------------------------------------------------------------- locks


def lock_path_for(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def target_lock(
    target: Path,
    *,
    watch: Path | None = None,
    stall_timeout: float = 120.0,
    progress: ProgressCallback | None = None,
    label: str = "",
    total: int | None = None,
) -> Iterator[None]:
    """Hold the cross-process lock of ``target``; wait while its holder makes progress.

    ``watch`` (the holder's ``.part``) is polled: while it grows we keep waiting however long the
    download takes; when nothing changes for ``stall_timeout`` seconds we raise LockBusyError.
    A holder that died released its ``flock`` with it, so a dead holder never blocks anyone.
    """
    lock_file = lock_path_for(target)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = RemovableLock(lock_file)
    last_seen: tuple[int, int] | None = None
    last_change = time.monotonic()
    while True:
        try:
            lock.acquire(timeout=0.2, poll_interval=0.05)
            break
        except LockTimeout:
            pass
        seen = _stat_key(watch)
        now = time.monotonic()
        if seen != last_seen:
            last_seen, last_change = seen, now
        elif now - last_change > stall_timeout:
            raise LockBusyError(
                f"{label or target.name}: another process holds the download lock {lock_file} "
                f"and has made no progress for {stall_timeout:.0f} s; try again later"
            )
        if progress is not None:
            done = seen[0] if seen else 0
            progress(
                Progress(
                    "download",
                    done,
                    total,
                    "B",
                    f"{label or target.name}: waiting for another process's download",
                )
            )
    try:
        yield
    finally:
        lock.release()


def _stat_key(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


# ---------------------------------------------------------------------------------- download


class _Hasher:
    """sha256 fed through a background thread.

    hashlib releases the GIL on large updates, so hashing chunk n overlaps receiving and
    writing chunk n+1: on loopback the hash (~1 GB/s) would otherwise halve the throughput.
    The queue is bounded (8 chunks), so memory stays flat.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, data: bytes) -> None:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=8)
            self._thread = threading.Thread(target=self._run, args=(self._queue,), daemon=True,
                                            name="sha256")
            self._thread.start()
        assert self._queue is not None
        self._queue.put(data)

    def _run(self, q: queue.Queue[bytes | None]) -> None:
        while (data := q.get()) is not None:
            self._hash.update(data)

    def close(self) -> None:
        """Wait until everything queued is hashed (and stop the thread)."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = self._queue = None

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()


class _Retry(Exception):
    """An attempt failed in a way worth retrying (network, 5xx, timeout)."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class _Restart(Exception):
    """The .part cannot be trusted as a prefix: start again from byte 0."""


def download(
    url: str,
    target: Path,
    *,
    sha256: str,
    size: int | None = None,
    progress: ProgressCallback | Any = None,
    label: str = "",
    options: DownloadOptions | None = None,
    session: requests.Session | None = None,
    force: bool = False,
) -> DownloadResult:
    """Make ``target`` a verified copy of ``url`` (sha256, and size when given).

    Never touches the network when ``target`` already matches (unless ``force``). Whatever
    fails, an existing ``target`` is left as it was: new bytes only replace it after
    verification. ``progress``: a ``ProgressCallback`` or a tqdm-like object.
    """
    progress = as_progress_callback(progress)
    opts = options or DownloadOptions()
    target = Path(target)
    sha256 = sha256.lower()
    label = label or target.name
    if not _HEX64.match(sha256):
        raise IntegrityError(f"{label}: expected sha256 {sha256!r} is not 64 hex digits")
    if not force and file_matches(target, sha256, size):
        return DownloadResult(target, target.stat().st_size, sha256, reused=True)
    if opts.offline:
        raise OfflineError(
            f"{label}: not downloaded ({target} is missing) and offline mode is on "
            f"(--offline or {opts.app.env_offline}=1)"
        )
    check_url(url, opts.allow_insecure, opts.app)
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target_lock(
            target,
            watch=part,
            stall_timeout=opts.lock_stall_timeout,
            progress=progress,
            label=label,
            total=size,
        ):
            # Another process may have finished while we waited for the lock.
            if not force and file_matches(target, sha256, size):
                return DownloadResult(target, target.stat().st_size, sha256, reused=True)
            job = _Job(url, target, part, sha256, size, progress, label, opts, session)
            return job.run()
    except OSError as exc:  # the folder, lock or sidecar cannot be written (network errors are
        # handled inside the job)
        raise StoreNotWritable(
            f"{label}: cannot write {exc.filename or target.parent} ({exc.strerror or exc})"
        ) from None


class _Job:
    def __init__(
        self,
        url: str,
        target: Path,
        part: Path,
        sha256: str,
        size: int | None,
        progress: ProgressCallback | None,
        label: str,
        opts: DownloadOptions,
        session: requests.Session | None,
    ):
        self.url, self.target, self.part = url, target, part
        self.meta = part.with_name(part.name + ".json")
        self.sha256, self.size = sha256, size
        self.progress, self.label, self.opts = progress, label, opts
        self.session = session
        self.hasher = _Hasher()
        self.hashed = 0  # bytes of .part covered by self.hasher
        self.result = DownloadResult(target, 0, sha256)
        self._last_report = 0.0

    # -- orchestration

    def run(self) -> DownloadResult:
        self._check_part_meta()
        self.result.resumed_from = self._part_size()
        import requests

        own_session = self.session is None
        session = self.session or requests.Session()
        failures = 0
        hash_restarted = False
        try:
            while True:
                before = self._part_size()
                try:
                    if self.size is None or before < self.size:
                        self._attempt(session, before)
                except _Restart:
                    self._discard_part()
                    self.result.restarts += 1
                    failures += 1
                    if failures > self.opts.retries:
                        raise DownloadError(
                            f"{self.label}: the server keeps sending an inconsistent file at "
                            f"{self.url}; gave up after {self.result.attempts} attempts"
                        ) from None
                    continue
                except _Retry as exc:
                    progressed = self._part_size() > before
                    failures = 0 if progressed else failures + 1
                    if failures > self.opts.retries or self.result.attempts >= self.opts.max_attempts:
                        raise DownloadError(
                            f"{self.label}: {exc.reason} ({self.url}); gave up after "
                            f"{self.result.attempts} attempts"
                        ) from None
                    if not progressed or exc.wait is not None:
                        time.sleep(self._backoff(failures, exc.wait))
                    continue
                # "Resumed": the file holds bytes from an earlier attempt or process.
                if self._finish(resumed=self.result.resumed_from > 0 or self.result.attempts > 1,
                                hash_restarted=hash_restarted):
                    return self.result
                hash_restarted = True  # one clean retry after a mismatch on a resumed file
        finally:
            self.hasher.close()
            if own_session:
                session.close()

    def _finish(self, resumed: bool, hash_restarted: bool) -> bool:
        """Verify the complete .part and rename it into place; False to retry from scratch."""
        have = self._part_size()
        if self.size is not None and have != self.size:
            self._discard_part()
            raise IntegrityError(
                f"{self.label}: wrong size: got {have} bytes, the catalogue says {self.size} "
                f"({self.url}); the download was discarded"
            )
        self._catch_up_hash()
        digest = self.hasher.hexdigest()
        if digest != self.sha256:
            self._discard_part()
            if resumed and not hash_restarted:
                # The kept prefix may be what is wrong (a file changed on the server between
                # attempts): one full download settles it.
                self.result.restarts += 1
                return False
            raise IntegrityError(
                f"{self.label}: sha256 mismatch (expected {self.sha256[:12]}…, got "
                f"{digest[:12]}…) from {self.url}; the download was discarded"
            )
        # No fsync: every reader re-hashes before use (Store.resolve, verify), so a file torn
        # by a power cut is detected and fetched again rather than used; skipping it keeps a
        # 1 GB pack from stalling on writeback.
        os.replace(self.part, self.target)
        with contextlib.suppress(FileNotFoundError):
            self.meta.unlink()
        self.result.size = have
        self._report(have, force=True)
        return True

    def _backoff(self, failures: int, wait: float | None) -> float:
        base = min(self.opts.backoff * (2 ** max(failures - 1, 0)), self.opts.backoff_max)
        if wait is not None:
            base = max(base, min(wait, self.opts.backoff_max))
        return base * (0.75 + random.random() * 0.5)

    # -- the .part and its sidecar

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _check_part_meta(self) -> None:
        """A .part left for another file (the catalogue changed) is not a prefix of ours."""
        wanted = {"sha256": self.sha256, "size": self.size}
        try:
            old = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if self.part.exists() and (
            not isinstance(old, dict)
            or old.get("sha256") != self.sha256
            or old.get("size") != self.size
        ):
            self._discard_part()
        if self.size is not None and self._part_size() > self.size:
            self._discard_part()
        self.meta.write_text(json.dumps({**wanted, "url": self.url}), encoding="utf-8")

    def _discard_part(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()
        self.hasher.close()
        self.hasher = _Hasher()
        self.hashed = 0

    def _catch_up_hash(self) -> None:
        """Hash the part of .part we have not seen (bytes kept from an earlier process)."""
        have = self._part_size()
        if self.hashed == have:
            return
        if self.hashed > have:
            self.hasher.close()
            self.hasher, self.hashed = _Hasher(), 0
        with open(self.part, "rb") as fh:
            fh.seek(self.hashed)
            while block := fh.read(self.opts.chunk_size):
                self.hasher.update(block)
                self.hashed += len(block)

    # -- one HTTP (or file) attempt

    def _attempt(self, session: requests.Session, offset: int) -> None:
        import requests

        if urlsplit(self.url).scheme.lower() == "file":
            self._copy_local()
            return
        self._catch_up_hash()
        headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        self.result.attempts += 1
        try:
            resp = session.get(
                self.url,
                headers=headers,
                stream=True,
                timeout=(self.opts.connect_timeout, self.opts.read_timeout),
            )
        except requests.RequestException as exc:
            raise _Retry(describe_network_error(exc)) from None
        with resp:
            check_url(resp.url, self.opts.allow_insecure, self.opts.app)  # a redirect must not downgrade
            status = resp.status_code
            if status == 206 and offset:
                start, total = _parse_content_range(resp.headers.get("Content-Range", ""))
                if start != offset:
                    raise _Restart()
                if total is not None and self.size is not None and total != self.size:
                    raise self._wrong_size(total)
                self._stream(resp, append=True)
            elif status in (200, 206):
                if status == 206:  # a 206 we did not ask for: only trust it from byte 0
                    start, total = _parse_content_range(resp.headers.get("Content-Range", ""))
                    if start != 0:
                        raise _Restart()
                length = _int_or_none(resp.headers.get("Content-Length"))
                if status == 200 and length is not None and self.size is not None and length != self.size:
                    raise self._wrong_size(length)
                if offset:
                    self.result.restarts += 1  # the server ignored Range: clean restart
                self._discard_part()
                self._stream(resp, append=False)
            elif status == 416:
                raise _Restart()
            elif status in (408, 425, 429) or status >= 500:
                wait = _int_or_none(resp.headers.get("Retry-After"))
                raise _Retry(f"server error (HTTP {status})", float(wait) if wait else None)
            elif status in (404, 410):
                raise DownloadError(f"{self.label}: not found on the server (HTTP {status}): {self.url}")
            elif status in (401, 403):
                raise DownloadError(f"{self.label}: access denied (HTTP {status}): {self.url}")
            else:
                raise DownloadError(f"{self.label}: unexpected HTTP {status} from {self.url}")

    def _wrong_size(self, server_size: int) -> IntegrityError:
        return IntegrityError(
            f"{self.label}: wrong size: the server has {server_size} bytes, the catalogue says "
            f"{self.size} ({self.url})"
        )

    def _stream(self, resp: requests.Response, append: bool) -> None:
        import requests
        import urllib3.exceptions

        raw = resp.raw
        chunk = self.opts.chunk_size
        read1 = getattr(raw, "read1", None)

        def read() -> bytes:
            if read1 is not None:
                return read1(chunk, decode_content=False)
            return raw.read(chunk, decode_content=False)

        done = self._part_size() if append else 0
        try:
            fh = open(self.part, "ab" if append else "wb", buffering=0)  # noqa: SIM115
        except OSError as exc:
            raise DownloadError(f"{self.label}: cannot write {self.part} ({exc.strerror or exc})") from None
        with fh:
            while True:
                try:
                    data = read()
                except (
                    requests.RequestException,
                    urllib3.exceptions.HTTPError,
                    http.client.HTTPException,
                    OSError,
                ) as exc:
                    raise _Retry(describe_network_error(exc)) from None
                if not data:
                    break
                if self.size is not None and done + len(data) > self.size:
                    fh.close()
                    self._discard_part()
                    raise IntegrityError(
                        f"{self.label}: wrong size: the server sent more than the catalogue's "
                        f"{self.size} bytes ({self.url}); the download was discarded"
                    )
                try:
                    fh.write(data)
                except OSError as exc:
                    raise DownloadError(
                        f"{self.label}: cannot write {self.part} ({exc.strerror or exc})"
                    ) from None
                self.hasher.update(data)
                self.hashed += len(data)
                done += len(data)
                self.result.bytes_fetched += len(data)
                self._report(done)

    def _copy_local(self) -> None:
        """file:// sources: a plain verified copy (local reads need no resume)."""
        src = file_url_path(self.url)
        self.result.attempts += 1
        self._discard_part()
        try:
            fin = open(src, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise DownloadError(f"{self.label}: not found: {src}") from None
        except OSError as exc:
            raise DownloadError(f"{self.label}: cannot read {src} ({exc.strerror or exc})") from None
        done = 0
        with fin, open(self.part, "wb") as fout:
            while block := fin.read(self.opts.chunk_size):
                if self.size is not None and done + len(block) > self.size:
                    break  # _finish reports the wrong size
                fout.write(block)
                self.hasher.update(block)
                self.hashed += len(block)
                done += len(block)
                self._report(done)
        if self.size is not None and src.stat().st_size != self.size:
            self._discard_part()
            raise IntegrityError(
                f"{self.label}: wrong size: {src} has {src.stat().st_size} bytes, the catalogue "
                f"says {self.size}"
            )

    def _report(self, done: int, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < self.opts.progress_interval:
            return
        self._last_report = now
        self.progress(Progress("download", done, self.size, "B", self.label))


# ----------------------------------------------------------------------------------- helpers


def _parse_content_range(value: str) -> tuple[int | None, int | None]:
    m = re.match(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", value)
    if not m:
        return None, None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), total


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def describe_network_error(exc: BaseException) -> str:
    """One short phrase for a requests/urllib3/socket error (their str() runs to 300 chars)."""
    import requests
    import urllib3.exceptions

    chain: list[BaseException] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        chain.append(e)
        todo.extend([e.__cause__, e.__context__])
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    # Refusal and DNS first: urllib3's NewConnectionError subclasses ConnectTimeoutError.
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or "Connection refused" in str(e):
            return "connection refused"
        if isinstance(e, urllib3.exceptions.NameResolutionError) or "Name or service not known" in str(e):
            return "host name not found"
    for e in chain:
        if isinstance(e, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return "timed out"
    for e in chain:
        if isinstance(e, (urllib3.exceptions.ProtocolError, http.client.IncompleteRead,
                          urllib3.exceptions.IncompleteRead, ConnectionResetError,
                          requests.exceptions.ChunkedEncodingError)):
            return "connection lost"
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
    return type(exc).__name__
