"""``voc-host serve``: run the window on 127.0.0.1 with uvicorn and open it in the browser.

The first line the server prints on stdout is its URL with the token, as Jupyter
does; the browser opens that URL unless ``--no-browser`` is given or ``BROWSER`` is
one of ``none``, ``false``, ``0``, ``off`` (any other ``BROWSER`` value is the browser
Python's :mod:`webbrowser` runs). Files the page composes go to a session folder
made for this server (private to the user) and removed when it stops, unless the
caller gave its own folder.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from hostapi import Host
from hostapi.errors import BadValueError, UnavailableError

WEB_EXTRA = "pip install 'lstm-composer-plugin[web]'"
LOOPBACK = "127.0.0.1"  # never another interface: the page can compose and delete models
NO_BROWSER_VALUES = {"none", "false", "0", "off", "no"}


def missing_web() -> str | None:
    """Why the window cannot run here (one line with the install command), or None."""
    missing = [m for m in ("starlette", "uvicorn") if not _importable(m)]
    if missing:
        return f"voc-host serve needs {' and '.join(missing)}: {WEB_EXTRA}"
    return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses the module: not importable
        return False


def wants_browser(no_browser: bool, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if no_browser:
        return False
    return env.get("BROWSER", "").strip().lower() not in NO_BROWSER_VALUES


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BadValueError(f"port {port} on {LOOPBACK} is in use: choose another with --port N, "
                             "or leave --port out for any free one") from None
        raise UnavailableError(f"cannot listen on {LOOPBACK}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    return sock


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, not {text!r}")
    return value


def add_serve_command(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """``serve`` in a command line's subcommands (``voc-host serve``)."""
    p = sub.add_parser(
        "serve",
        parents=list(parents),
        help="open the composer window: a local web page (the web extra)",
        description="Serve the host's window on 127.0.0.1 and open it in the browser. The first "
        "line printed is its URL, with the token every request needs.",
    )
    p.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: any free one)")
    p.add_argument("--no-browser", action="store_true",
                   help="do not open a browser (also when BROWSER=none)")
    return p


def run_serve(host: Host, args: argparse.Namespace, con: Any = None) -> int:
    """The ``serve`` command: one line naming the install command if the extra is missing."""
    problem = missing_web()
    if problem:
        from hostapi.commands import CommandLineError

        raise CommandLineError(problem)
    return serve(host, port=args.port, open_browser=wants_browser(args.no_browser))


def serve(
    host: Host,
    *,
    port: int = 0,
    open_browser: bool = True,
    session_dir: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve the window until interrupted; returns 0. Prints the URL first."""
    import uvicorn

    from .app import create_app

    out = out or sys.stdout
    sock = bind_loopback(port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    own_session = session_dir is None
    session = Path(tempfile.mkdtemp(prefix="voc-host-")) if own_session else Path(session_dir)
    app = create_app(host, token=token, port=port, session_dir=session)
    url = f"http://{LOOPBACK}:{port}/?token={token}"
    print(url, file=out, flush=True)
    print(f"serving the composer window; files go to {session}; Ctrl-C stops", file=sys.stderr)
    if open_browser:
        threading.Thread(target=_open, args=(url,), daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops gracefully on SIGTERM, then raises the signal again; without a handler
        # of ours that would end the process before the session folder is removed.
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if own_session:
            shutil.rmtree(session, ignore_errors=True)
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _open(url: str) -> None:
    with contextlib.suppress(Exception):
        if webbrowser.open(url):
            return
    print("no browser found: open the URL above yourself", file=sys.stderr)
