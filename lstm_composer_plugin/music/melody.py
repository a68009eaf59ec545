"""Melody as a listener hears it: the highest note at each onset, as pitch intervals.

The copy guard of note-level models compares melodies, not tokens: a tune borrowed with a new
rhythm or in another key is still the same string of intervals. ``MelodyIndex`` holds the
training pieces' melodies (stored in the model file as two small arrays) and tracks, for every
position, how long the interval match ending there is, like ``stats.CorpusIndex`` does for tokens.

Lengths are counted in notes: a run of ``k`` shared intervals is a melodic run of ``k + 1`` notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstm_composer_plugin.music.midi import Piece
from lstm_composer_plugin.music.notes import NoteEncoding, onsets_of, token_table

BREAK = 10_000  # separates pieces in the index: no interval equals it
MIN_COPY_LIMIT = 6  # a melodic run this short is a figure every tune shares, not a borrowing
DEFAULT_COPY_LIMIT = 12
MIN_SAME_PITCH = 2


def melody_of_piece(piece: Piece, enc: NoteEncoding = NoteEncoding()) -> np.ndarray:
    """Pitches of the highest note at each onset on the grid, in time order."""
    groups = onsets_of(piece.notes, enc)
    return np.asarray([max(groups[t]) for t in sorted(groups)], dtype=np.int32)


def melody_of_tokens(tokens: Sequence[int] | np.ndarray, enc: NoteEncoding = NoteEncoding()) -> np.ndarray:
    """The first pitch after each position token (chords are written highest first)."""
    t = token_table(enc)
    out: list[int] = []
    after_pos = False
    for tok in np.asarray(tokens).tolist():
        kind = t.kind_of(tok) if 0 <= tok < t.size else "?"
        if kind == "POS":
            after_pos = True
        elif kind == "P" and after_pos:
            out.append(tok - t.p0 + enc.pitch_low)
            after_pos = False
        elif kind != "D":
            after_pos = False
    return np.asarray(out, dtype=np.int32)


def _melodies(items: Sequence[Piece | np.ndarray], enc: NoteEncoding) -> list[np.ndarray]:
    return [melody_of_piece(x, enc) if isinstance(x, Piece) else np.asarray(x, dtype=np.int32) for x in items]


def longest_same_pitch(melody: np.ndarray) -> int:
    """Longest run of one repeated melody pitch (a note struck again and again)."""
    best = run = 0
    prev = None
    for p in np.asarray(melody).tolist():
        run = run + 1 if p == prev else 1
        prev = p
        best = max(best, run)
    return best


def same_pitch_limit(pieces: Sequence[Piece | np.ndarray], enc: NoteEncoding = NoteEncoding()) -> int:
    """The style's own limit: the 99th percentile (rounded up) of its pieces' longest runs."""
    runs = [longest_same_pitch(m) for m in _melodies(pieces, enc) if len(m)]
    if not runs:
        return 4
    return max(MIN_SAME_PITCH, int(np.ceil(np.percentile(runs, 99))))


@dataclass
class MelodicMatch:
    length: int  # notes
    source: str  # the training piece it comes from ("" when none)


class MelodyIndex:
    """The training pieces' melodies as intervals, for transposition-invariant copy matching."""

    def __init__(self, intervals: np.ndarray, offsets: np.ndarray, names: Sequence[str] = ()):
        self.intervals = np.asarray(intervals, dtype=np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.names = list(names) + [f"piece {i + 1}" for i in range(len(names), len(self.offsets) - 1)]

    @classmethod
    def build(
        cls,
        pieces: Sequence[Piece | np.ndarray],
        enc: NoteEncoding = NoteEncoding(),
        names: Sequence[str] | None = None,
    ) -> MelodyIndex:
        parts, offsets = [], [0]
        for m in _melodies(pieces, enc):
            part = np.append(np.diff(m), BREAK).astype(np.int32)
            parts.append(part)
            offsets.append(offsets[-1] + len(part))
        if names is None:
            names = [x.path.rsplit("/", 1)[-1] if isinstance(x, Piece) else "" for x in pieces]
        return cls(np.concatenate(parts) if parts else np.zeros(0, np.int32), np.asarray(offsets), names)

    def moves_rate(self) -> float | None:
        """The share of melody steps that move to another pitch (a repeated note is an interval of 0)."""
        steps = self.intervals[self.intervals != BREAK]
        return round(float(np.mean(steps != 0)), 4) if len(steps) else None

    # -- the model file's arrays ------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"melody.intervals": self.intervals.astype(np.int16), "melody.offsets": self.offsets}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], names: Sequence[str] = ()) -> MelodyIndex | None:
        if "melody.intervals" not in arrays or "melody.offsets" not in arrays:
            return None
        return cls(arrays["melody.intervals"], arrays["melody.offsets"], names)

    # -- incremental matching ----------------------------------------------------------
    def start(self) -> np.ndarray:
        return np.zeros(len(self.intervals), dtype=np.int32)

    def advance(self, runs: np.ndarray, interval: int) -> np.ndarray:
        """runs[p] = number of intervals of the match ending at index position p."""
        new = np.zeros_like(runs)
        if not len(runs):
            return new
        hit = self.intervals == interval
        new[1:] = np.where(hit[1:], runs[:-1] + 1, 0)
        new[0] = 1 if hit[0] else 0
        return new

    def blocked_intervals(self, runs: np.ndarray, limit_notes: int) -> np.ndarray:
        """Intervals that would make a shared melodic run longer than ``limit_notes`` notes."""
        at = np.nonzero(runs[:-1] >= limit_notes - 1)[0]
        nxt = self.intervals[at + 1] if len(at) else np.zeros(0, np.int32)
        return np.unique(nxt[nxt != BREAK])

    def piece_at(self, position: int) -> str:
        i = int(np.searchsorted(self.offsets, position, side="right")) - 1
        return self.names[i] if 0 <= i < len(self.names) else ""

    def longest_match(self, melody: np.ndarray) -> MelodicMatch:
        """The longest run of ``melody`` (pitches) found in one training piece, in notes."""
        runs = self.start()
        best, where = 0, -1
        for iv in np.diff(np.asarray(melody, dtype=np.int64)).tolist():
            runs = self.advance(runs, int(iv))
            if len(runs):
                p = int(np.argmax(runs))
                if runs[p] > best:
                    best, where = int(runs[p]), p
        if best == 0:
            return MelodicMatch(min(1, len(melody)), "")
        return MelodicMatch(best + 1, self.piece_at(where))


def melody_index(
    pieces: Sequence[Piece | np.ndarray], enc: NoteEncoding = NoteEncoding(), names: Sequence[str] | None = None
) -> MelodyIndex:
    """The index of the training pieces' melodies (store ``.to_arrays()`` in the model file)."""
    return MelodyIndex.build(pieces, enc, names)


def melodic_copy_limit(
    train_pieces: Sequence[Piece | np.ndarray],
    val_pieces: Sequence[Piece | np.ndarray],
    enc: NoteEncoding = NoteEncoding(),
) -> int:
    """The longest melodic run (notes) that the style's validation pieces share with its training
    pieces: what real music of the style borrows, so the guard allows as much and no more
    (at least ``MIN_COPY_LIMIT``; ``DEFAULT_COPY_LIMIT`` without validation pieces)."""
    val = [m for m in _melodies(val_pieces, enc) if len(m) > 1]
    if not val or not train_pieces:
        return DEFAULT_COPY_LIMIT
    index = melody_index(train_pieces, enc)
    return max(MIN_COPY_LIMIT, max(index.longest_match(m).length for m in val))
