"""The host's window as a local web page (``voc-host serve``; the ``web`` extra).

    from hostapi import Host
    from hostapi.web import serve
    serve(Host())          # prints http://127.0.0.1:PORT/?token=..., opens the browser

The page (static/index.html, app.js, style.css: no CDN) talks to a small JSON API
(:mod:`hostapi.web.app`) that calls plugins only through :class:`hostapi.Host`.
Importing this package needs no web framework; :func:`missing_web` says whether
the extra is installed. See docs/web.md.
"""

from .server import (
    LOOPBACK,
    WEB_EXTRA,
    add_serve_command,
    bind_loopback,
    missing_web,
    run_serve,
    serve,
    wants_browser,
)

__all__ = [
    "LOOPBACK",
    "WEB_EXTRA",
    "add_serve_command",
    "bind_loopback",
    "missing_web",
    "run_serve",
    "serve",
    "wants_browser",
]
