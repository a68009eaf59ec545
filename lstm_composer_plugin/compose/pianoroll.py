"""A piano-roll PNG of a composition (optional: needs matplotlib, the ``png`` extra).

matplotlib is imported only here, inside the function, so composing without
``--png`` never pays for it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from lstm_composer_plugin.errors import ComposerError
from lstm_composer_plugin.music.midi import Note

PNG_EXTRA = "pip install 'lstm-composer-plugin[png]'"


def render_pianoroll(
    notes: Sequence[Note],
    path: str | os.PathLike[str],
    *,
    bpm: float = 120.0,
    title: str = "",
) -> Path:
    """Draw each note as a bar (time in seconds across, pitch up) and save a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed; must come before pyplot
        import matplotlib.pyplot as plt
    except ImportError:
        raise ComposerError(f"--png needs matplotlib: {PNG_EXTRA}") from None

    path = Path(path)
    sec_per_beat = 60.0 / bpm
    bars: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for n in notes:
        bars[n.pitch].append((n.start * sec_per_beat, max(n.duration * sec_per_beat, 0.01)))
    end = max((n.start + n.duration for n in notes), default=1.0) * sec_per_beat

    fig, ax = plt.subplots(figsize=(max(6.0, min(24.0, end / 4)), 4.0), dpi=100)
    try:
        for pitch, spans in sorted(bars.items()):
            ax.broken_barh(spans, (pitch - 0.4, 0.8), facecolors="tab:blue", linewidth=0)
        lo = min(bars, default=60) - 2
        hi = max(bars, default=72) + 2
        ax.set_ylim(lo, hi)
        ax.set_xlim(0, end)
        ax.set_xlabel("seconds")
        ax.set_ylabel("MIDI pitch")
        # Gridlines at the Cs make octaves readable.
        ax.set_yticks([p for p in range(lo, hi + 1) if p % 12 == 0])
        ax.grid(axis="y", alpha=0.3)
        if title:
            ax.set_title(title)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
