"""A real HTTP server on 127.0.0.1 for testing code that downloads through the store.

It ships with the library (as ``numpy.testing`` does) so that the store's tests, the host's tests,
the benchmarks and a plugin author's own tests all exercise downloads against the same server
rather than a mock; nothing in the store imports it.

Serves the files under ``root`` (HTTP/1.1, keep-alive, single-range ``Range`` requests with 206,
416 past the end) and injects faults per path::

    with StoreServer(root) as srv:
        srv.set_fault("/models/bach-e0001.lstmc", cut_at=[1000, 5000])
        ... download srv.url + "models/bach-e0001.lstmc" ...
        assert srv.count("/models/bach-e0001.lstmc") == 3

Faults (see ``Fault``): connection cut at byte offsets (one cut per request), Range ignored,
forced status codes (optionally only the first N times), delay before the headers, delay between
body chunks, a flipped byte, a body shorter or longer than the file. Every request is logged
(method, path, Range, status, bytes sent) for assertions such as "one download for four
processes" or "the resume did not re-fetch kept bytes".

Runs as a script too (``python -m model_store.testing DIR --port 8000``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit


@dataclass
class Fault:
    cut_at: list[int] = field(default_factory=list)  # absolute offsets; each request that reaches
    # the first remaining cut sends up to it and drops the connection (the cut is consumed)
    ignore_range: bool = False  # always answer 200 with the whole file
    status: int | None = None  # answer this status instead of the file ...
    status_times: int | None = None  # ... for this many requests (None: always)
    delay: float = 0.0  # seconds before the response headers (slow server / timeouts)
    chunk_delay: float = 0.0  # seconds between body chunks
    chunk_size: int = 64 * 1024
    tamper_at: int | None = None  # flip the byte at this offset of the served content
    size_delta: int = 0  # serve the file shortened (<0) or with this many extra bytes (>0)


@dataclass
class RequestLog:
    method: str
    path: str
    range: str | None
    status: int
    start: int = 0  # first byte offset of the body sent
    bytes_sent: int = 0
    complete: bool = True  # False when the connection was cut


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-response (a cancelled or failed download) is normal here: say
    nothing, rather than a traceback on the test process's stderr that a CLI test then reads."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # resets, broken pipes, closed sockets
            super().handle_error(request, client_address)


class StoreServer:
    """Threaded loopback HTTP server with Range support, fault injection and a request log."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.faults: dict[str, Fault] = {}
        self.log: list[RequestLog] = []
        self._lock = threading.Lock()
        self._active = 0
        self._stop = threading.Event()
        handler = type("Handler", (_Handler,), {"srv": self})
        self.httpd = _QuietServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> StoreServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StoreServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration and inspection

    def set_fault(self, path: str, **kwargs: object) -> Fault:
        fault = Fault(**kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.faults[_norm(path)] = fault
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def requests(self, path: str | None = None, method: str | None = "GET") -> list[RequestLog]:
        with self._lock:
            return [r for r in self.log
                    if (path is None or r.path == _norm(path)) and (method is None or r.method == method)]

    def count(self, path: str | None = None, method: str | None = "GET") -> int:
        return len(self.requests(path, method))

    def bytes_sent(self, path: str | None = None) -> int:
        self.wait_idle()
        return sum(r.bytes_sent for r in self.requests(path))

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            return self.faults.get(path)

    def _begin(self, entry: RequestLog) -> None:
        with self._lock:
            self.log.append(entry)
            self._active += 1

    def _end(self) -> None:
        with self._lock:
            self._active -= 1

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (so byte counts are final)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._active == 0:
                    return True
            time.sleep(0.01)
        return False


def _norm(path: str) -> str:
    path = "/" + unquote(urlsplit(path).path).lstrip("/")
    return re.sub(r"/+", "/", path)


class _Handler(BaseHTTPRequestHandler):
    srv: StoreServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        pass  # quiet tests

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv = self.srv
        path = _norm(self.path)
        rng = self.headers.get("Range")
        fault = srv._fault_for(path)
        entry = RequestLog(self.command, path, rng, 200)
        srv._begin(entry)  # logged at once: a client may count requests as soon as it has an answer
        try:
            self._respond(path, rng, fault, head, entry)
        except (BrokenPipeError, ConnectionResetError):
            entry.complete = False
            self.close_connection = True
        finally:
            srv._end()

    def _simple(self, status: int, entry: RequestLog, extra: dict[str, str] | None = None) -> None:
        body = f"{status}\n".encode()
        entry.status = status
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _respond(self, path: str, rng: str | None, fault: Fault | None, head: bool,
                 entry: RequestLog) -> None:
        srv = self.srv
        if fault and fault.delay:
            srv._stop.wait(fault.delay)
        if fault and fault.status is not None and (fault.status_times is None or fault.status_times > 0):
            if fault.status_times is not None:
                fault.status_times -= 1
            self._simple(fault.status, entry)
            return
        file = (srv.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(srv.root.resolve()) or not file.is_file():
            self._simple(404, entry)
            return
        real_size = file.stat().st_size
        size = max(0, real_size + (fault.size_delta if fault else 0))
        start, end = 0, size - 1
        status = 200
        if rng and not (fault and fault.ignore_range):
            m = re.match(r"^bytes=(\d*)-(\d*)$", rng.strip())
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:  # suffix range: the last N bytes
                    start = max(0, size - int(m.group(2)))
                if start >= size or start > end:
                    self._simple(416, entry, {"Content-Range": f"bytes */{size}"})
                    return
                status = 206
        length = end - start + 1 if size else 0
        entry.status, entry.start = status, start
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "none" if fault and fault.ignore_range else "bytes")
        self.send_header("Last-Modified", self.date_time_string(int(file.stat().st_mtime)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head or not length:
            return
        cut = None
        if fault and fault.cut_at:
            with srv._lock:
                upcoming = [c for c in fault.cut_at if c > start]
                if upcoming and min(upcoming) < start + length:
                    cut = min(upcoming)
                    fault.cut_at.remove(cut)
        self._send_body(file, real_size, start, length, fault, cut, entry)

    def _sendfile(self, fh: BinaryIO, offset: int, count: int, entry: RequestLog) -> None:
        """Fast path (benchmarks): the kernel copies file to socket, counted as it goes so
        that a client killed mid-transfer leaves an exact count."""
        if not hasattr(os, "sendfile"):
            entry.bytes_sent += self.connection.sendfile(fh, offset=offset, count=count)
            return
        out = self.connection.fileno()
        while count > 0:
            n = os.sendfile(out, fh.fileno(), offset, min(count, 8 << 20))
            if n == 0:
                break
            offset += n
            count -= n
            entry.bytes_sent += n

    def _send_body(self, file: Path, real_size: int, start: int, length: int, fault: Fault | None,
                   cut: int | None, entry: RequestLog) -> None:
        stop_at = start + length if cut is None else cut
        simple = fault is None or (fault.tamper_at is None and not fault.chunk_delay
                                   and fault.size_delta <= 0)
        with open(file, "rb") as fh:
            if simple:
                self._sendfile(fh, start, stop_at - start, entry)
            else:
                assert fault is not None
                pos = start
                fh.seek(start)
                while pos < stop_at:
                    n = min(fault.chunk_size, stop_at - pos)
                    data = fh.read(n) if pos < real_size else b""
                    if len(data) < n:  # past the real end: size_delta > 0 pads with junk
                        data += b"\xa5" * (n - len(data))
                    if fault.tamper_at is not None and pos <= fault.tamper_at < pos + n:
                        i = fault.tamper_at - pos
                        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
                    self.wfile.write(data)
                    entry.bytes_sent += len(data)
                    pos += n
                    if fault.chunk_delay and pos < stop_at and self.srv._stop.wait(fault.chunk_delay):
                        break
        if cut is not None:
            entry.complete = False
            self.close_connection = True
            # An abrupt end: the client must see fewer bytes than Content-Length promised.
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="serve a folder on loopback with Range support")
    p.add_argument("root", type=Path)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", type=Path, help="write the chosen port here once listening")
    args = p.parse_args(argv)
    srv = StoreServer(args.root, port=args.port)
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(srv.port))
        os.replace(tmp, args.port_file)
    print(srv.url, flush=True)
    try:
        srv.httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
