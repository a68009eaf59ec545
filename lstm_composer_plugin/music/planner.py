"""A bar-level plan learnt from a style's pieces: which density and chord each composed bar gets.

The network writes each bar's controls itself (``DEN``, ``CH``, ``TEX`` after the bar line); left to
itself at temperature 1 it drifts from one bar's texture and harmony to another's with nothing
holding a phrase together. The planner is the other way the music issue asked for: an n-gram over
bar descriptors (density class, chord) with the bar's place in a four-bar phrase in every context,
fitted on the training pieces' own control tokens (the model file carries them for the copy guard),
so phrases move and close as the style's do. Its plan goes to the grammar as a :class:`ControlPlan`,
which forces each bar's ``DEN`` and ``CH`` and leaves the notes to the network.

Backing off: the longest context seen in the pieces (the two bars before and the phrase position),
then the bar before and the position, then the position alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstm_composer_plugin.music.controls import N_CHORDS, N_DENSITY
from lstm_composer_plugin.music.notetable import NoteEncoding, token_table

PHRASE = 4  # bars: the place in the phrase is part of every context

Bar = tuple[int, int]  # (density class, chord index)


def bars_of(tokens: Sequence[int] | np.ndarray, offsets: Sequence[int], enc: NoteEncoding) -> list[list[Bar]]:
    """Each piece's bars as (density class, chord), read off its control tokens."""
    t = token_table(enc)
    tokens = np.asarray(tokens, dtype=np.int64)
    pieces = []
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        toks = tokens[int(a):int(b)]
        dens = np.flatnonzero((toks >= t.den0) & (toks < t.den0 + N_DENSITY))
        bars = []
        for i in dens:
            j = i + 1
            if j < len(toks) and t.ch0 <= toks[j] < t.ch0 + N_CHORDS:
                bars.append((int(toks[i] - t.den0), int(toks[j] - t.ch0)))
        if bars:
            pieces.append(bars)
    return pieces


@dataclass
class BarPlanner:
    """Counts of the next bar after each context: (bar before last, bar before, position), (bar before,
    position) and (position,)."""

    counts: dict[tuple, Counter]

    @classmethod
    def fit(cls, pieces: Sequence[Sequence[Bar]]) -> BarPlanner:
        counts: dict[tuple, Counter] = defaultdict(Counter)
        for bars in pieces:
            for k, bar in enumerate(bars):
                pos = k % PHRASE
                prev1 = bars[k - 1] if k >= 1 else None
                prev2 = bars[k - 2] if k >= 2 else None
                counts[(prev2, prev1, pos)][bar] += 1
                counts[(prev1, pos)][bar] += 1
                counts[(pos,)][bar] += 1
        return cls(dict(counts))

    def plan(self, n_bars: int, rng: np.random.Generator) -> list[Bar]:
        """``n_bars`` bars drawn one after another from the longest context seen."""
        out: list[Bar] = []
        for k in range(n_bars):
            pos = k % PHRASE
            prev1 = out[k - 1] if k >= 1 else None
            prev2 = out[k - 2] if k >= 2 else None
            for context in ((prev2, prev1, pos), (prev1, pos), (pos,)):
                seen = self.counts.get(context)
                if seen:
                    break
            else:
                raise ValueError("the planner was fitted on no bars")
            options = sorted(seen)
            w = np.array([seen[o] for o in options], dtype=np.float64)
            out.append(options[int(rng.choice(len(options), p=w / w.sum()))])
        return out


__all__ = ["PHRASE", "BarPlanner", "bars_of"]
