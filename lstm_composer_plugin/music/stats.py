"""Measures of a token sequence: collapse, copying, and style.

Shared by the training scorecard (is this checkpoint past collapse, is it copying?),
the composer's guards and originality report, and the quality benchmark, so that
all three mean the same thing by "longest run" or "copied".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstm_composer_plugin.music.tokens import SEP, Event

NGRAM = 8  # the copy share counts 8-grams: about two bars of melody
DURATION_BINS = np.array([0, 3, 6, 9, 12, 18, 24, 36, 48, 72, 96, 1 << 30])  # grid steps at GRID=24


def longest_run(tokens: Sequence[int]) -> int:
    """Longest run of one repeated event (the single-repeated-note collapse)."""
    best = run = 0
    prev = None
    for t in tokens:
        run = run + 1 if t == prev else 1
        prev = t
        best = max(best, run)
    return best


def distinct_per_100(tokens: Sequence[int]) -> float:
    """Mean number of distinct events in consecutive windows of 100 (scaled for a shorter tail)."""
    toks = list(tokens)
    if not toks:
        return 0.0
    windows = [toks[i : i + 100] for i in range(0, max(len(toks) - 99, 1), 100)]
    return float(np.mean([len(set(w)) * 100 / len(w) for w in windows]))


def _ngram_hashes(tokens: np.ndarray, n: int) -> np.ndarray:
    """Polynomial hashes of every n-gram (uint64, wrapping) of a 1-D int array."""
    tokens = np.asarray(tokens, dtype=np.uint64)
    if len(tokens) < n:
        return np.zeros(0, dtype=np.uint64)
    h = np.zeros(len(tokens) - n + 1, dtype=np.uint64)
    base = np.uint64(1_000_003)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * base + tokens[k : len(tokens) - n + 1 + k] + np.uint64(1)
    return h


@dataclass
class CopyReport:
    longest_run: int  # events copied verbatim from one training piece
    source: str  # which piece ("" when nothing was copied)
    ngram_share: float  # share of the sequence's 8-grams found in the training pieces


class CorpusIndex:
    """The training pieces' tokens, for exact verbatim-run matching.

    ``tokens`` is the concatenation with ``SEP`` after each piece, so no match can
    cross from one piece into the next.
    """

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray, names: Sequence[str], n: int = NGRAM):
        self.tokens = np.asarray(tokens, dtype=np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.names = list(names)
        self.n = n
        grams = _ngram_hashes(self.tokens, n)
        # An n-gram that spans a separator is not a piece's n-gram.
        has_sep = np.convolve((self.tokens == SEP).astype(np.int32), np.ones(n, dtype=np.int32), "valid") > 0
        self._grams = np.unique(grams[~has_sep]) if len(grams) else grams

    def piece_at(self, position: int) -> str:
        i = int(np.searchsorted(self.offsets, position, side="right")) - 1
        return self.names[i] if 0 <= i < len(self.names) else ""

    def start(self) -> np.ndarray:
        """Run lengths before any token: all zero (one int32 per corpus position)."""
        return np.zeros(len(self.tokens), dtype=np.int32)

    def advance(self, runs: np.ndarray, token: int) -> np.ndarray:
        """Run lengths after appending ``token``: runs[p] = length of the match ending at p."""
        new = np.zeros_like(runs)
        hit = self.tokens == token
        new[1:] = np.where(hit[1:], runs[:-1] + 1, 0)
        new[0] = 1 if hit[0] else 0
        return new

    def blocked(self, runs: np.ndarray, limit: int) -> np.ndarray:
        """Tokens that would extend a verbatim run beyond ``limit`` events."""
        at = np.nonzero(runs[:-1] >= limit)[0]
        return np.unique(self.tokens[at + 1]) if len(at) else np.zeros(0, dtype=np.int32)

    def report(self, seq: Sequence[int]) -> CopyReport:
        runs = self.start()
        best, where = 0, -1
        for t in seq:
            runs = self.advance(runs, int(t))
            p = int(np.argmax(runs))
            if runs[p] > best:
                best, where = int(runs[p]), p
        return CopyReport(
            longest_run=best,
            source=self.piece_at(where) if best > 0 else "",
            ngram_share=self.ngram_share(seq),
        )

    def ngram_share(self, seq: Sequence[int]) -> float:
        grams = _ngram_hashes(np.asarray(seq, dtype=np.int64), self.n)
        if not len(grams):
            return 0.0
        return float(np.isin(grams, self._grams).mean())


# -- style statistics ----------------------------------------------------------


def pitch_class_hist(events: Sequence[Event]) -> np.ndarray:
    h = np.zeros(12)
    for e in events:
        for p in e.pitches:
            h[p % 12] += 1
    return h / h.sum() if h.sum() else h


def duration_hist(events: Sequence[Event]) -> np.ndarray:
    """Histogram of note lengths in musical bins (DURATION_BINS)."""
    durs = [e.duration_of(i) for e in events for i in range(len(e.pitches))]
    h = np.histogram(durs, bins=DURATION_BINS)[0].astype(float)
    return h / h.sum() if h.sum() else h


def hist_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance: 0 for equal histograms, 1 for disjoint ones."""
    return float(0.5 * np.abs(np.asarray(a) - np.asarray(b)).sum())


def style_stats(sequences: Sequence[Sequence[Event]]) -> dict[str, list[float]]:
    flat = [e for seq in sequences for e in seq]
    return {
        "pitch_class_hist": pitch_class_hist(flat).round(5).tolist(),
        "duration_hist": duration_hist(flat).round(5).tolist(),
    }


def style_distance(events: Sequence[Event], stats: dict[str, list[float]]) -> float:
    """Mean of the pitch-class and duration histogram distances to a style's statistics."""
    return 0.5 * (
        hist_distance(pitch_class_hist(events), np.asarray(stats["pitch_class_hist"]))
        + hist_distance(duration_hist(events), np.asarray(stats["duration_hist"]))
    )
