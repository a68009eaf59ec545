"""MusicXML → SVG pages for the page's score view, engraved by verovio (the ``score`` extra).

verovio is a music engraver with Python bindings on PyPI and no system libraries; it renders
MusicXML to SVG in the server, so the browser needs nothing but ``<svg>``. A score has
``notes`` note heads (a tied note shows one per tied part).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

# One toolkit per call would reload verovio's fonts each time; one shared toolkit serialised by a lock.
_lock = threading.Lock()
_toolkit: Any = None
OPTIONS = {
    "pageWidth": 2100,  # tenths of a millimetre at scale 100: A4 width
    "pageHeight": 2970,
    "scale": 40,
    "adjustPageHeight": True,
    "breaks": "auto",
    "footer": "none",
    "header": "auto",
}


class ScoreUnavailable(Exception):
    """The engraver is missing or the file cannot be engraved (one line)."""


def engrave(path: Path) -> dict[str, Any]:
    """``{"pages": [svg, ...], "notes": note heads, "staves": staves per system}`` of a MusicXML file."""
    global _toolkit
    try:
        import verovio
    except ImportError:
        raise ScoreUnavailable("the score view needs verovio: pip install 'lstm-composer-plugin[score]' "
                               "(the MusicXML is there to download)") from None
    with _lock:
        if _toolkit is None:
            verovio.enableLog(verovio.LOG_OFF)
            _toolkit = verovio.toolkit()
        _toolkit.setOptions(OPTIONS)
        if not _toolkit.loadData(Path(path).read_text(encoding="utf-8")):
            raise ScoreUnavailable(f"{Path(path).name}: verovio could not read the MusicXML")
        pages = [_toolkit.renderToSVG(n) for n in range(1, _toolkit.getPageCount() + 1)]
    return {"pages": pages, "notes": sum(p.count('class="notehead"') for p in pages)}


__all__ = ["ScoreUnavailable", "engrave"]
