"""N-gram language models over integer token streams: the baselines a network must beat.

Interpolated modified Kneser-Ney (Chen & Goodman 1998: three absolute discounts, for counts
of 1, 2 and 3+, per order and kind of count, estimated from the count-of-counts), bottoming out in the uniform distribution
over the whole vocabulary, so every token of the vocabulary has a probability and the
probabilities of one context sum to one: bits are comparable with a network's.

Pieces are scored and sampled one at a time: each piece is preceded by ``order - 1``
separators (the start of a piece) and followed by one (its end, which is predicted too,
as the networks predict it), so no context crosses from one piece into the next.

The models work on plain integer arrays and know nothing about music: any encoding
plugs in, and :func:`bits_per_note` divides by whatever the encoding counts as notes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_ORDER = 6


@dataclass
class _Level:
    """One order's counts of one kind (raw counts, or Kneser-Ney continuation counts)."""

    counts: dict[tuple[int, ...], int]  # gram -> count
    totals: dict[tuple[int, ...], int]  # context (gram[:-1]) -> sum of counts
    backoff: dict[tuple[int, ...], float]  # context -> the discounted mass, sum of D(count)
    discounts: tuple[float, float, float]  # D1, D2, D3+ (modified Kneser-Ney)
    nexts: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] | None = None  # for sampling

    @classmethod
    def from_counts(cls, counts: dict[tuple[int, ...], int]) -> _Level:
        hist = np.bincount(np.fromiter((min(c, 5) for c in counts.values()), dtype=np.int64), minlength=6)
        n1, n2, n3, n4 = (int(x) for x in hist[1:5])
        if min(n1, n2, n3, n4) > 0:  # Chen & Goodman's estimates
            y = n1 / (n1 + 2 * n2)
            ds = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        else:  # too few counts to estimate: the usual constant
            ds = (0.5, 0.75, 0.75)
        # Each discount stays within (0, its count), and a higher count never gets a smaller
        # discount: written-out repeats (AABB tunes) double counts and break the estimates.
        d1 = min(max(ds[0], 0.05), 0.95)
        d2 = min(max(ds[1], d1), 1.9)
        d = (d1, d2, min(max(ds[2], d2), 2.9))
        totals: dict[tuple[int, ...], int] = defaultdict(int)
        backoff: dict[tuple[int, ...], float] = defaultdict(float)
        for gram, c in counts.items():
            totals[gram[:-1]] += c
            backoff[gram[:-1]] += d[min(c, 3) - 1]
        return cls(dict(counts), dict(totals), dict(backoff), d)

    def discount(self, c: int) -> float:
        return self.discounts[min(c, 3) - 1] if c > 0 else 0.0

    def next_tokens(self, context: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        if self.nexts is None:
            grouped: dict[tuple[int, ...], tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
            for gram, c in self.counts.items():
                ws, cs = grouped[gram[:-1]]
                ws.append(gram[-1])
                cs.append(c)
            self.nexts = {h: (np.array(w, dtype=np.int64), np.array(c, dtype=np.float64)) for h, (w, c) in grouped.items()}
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0))
        return self.nexts.get(context, empty)

    def prob(self, context: tuple[int, ...], token: int, lower: float) -> float:
        total = self.totals.get(context, 0)
        if not total:
            return lower
        c = self.counts.get((*context, token), 0)
        return (max(c - self.discount(c), 0.0) + self.backoff[context] * lower) / total

    def dist(self, context: tuple[int, ...], lower: np.ndarray) -> np.ndarray:
        total = self.totals.get(context, 0)
        if not total:
            return lower
        ws, cs = self.next_tokens(context)
        d = np.asarray(self.discounts)[np.minimum(cs, 3).astype(np.int64) - 1]
        p = lower * (self.backoff[context] / total)
        p[ws] += np.maximum(cs - d, 0.0) / total
        return p


class NgramModel:
    """Interpolated Kneser-Ney models of every order 1..``max_order``, from one pass of counting.

    The model of order n uses raw counts at order n and continuation counts below it, so
    the lower levels are shared by all orders.
    """

    def __init__(self, pieces: Sequence[Sequence[int]], n_vocab: int, sep: int = 0, max_order: int = MAX_ORDER):
        if not 1 <= max_order <= 12:
            raise ValueError(f"max_order must be in 1..12, not {max_order}")
        self.n_vocab, self.sep, self.max_order = int(n_vocab), int(sep), max_order
        raw: list[dict[tuple[int, ...], int]] = [defaultdict(int) for _ in range(max_order + 1)]
        for piece in pieces:
            stream = self._padded(piece)
            for i in range(max_order - 1, len(stream)):
                for k in range(1, max_order + 1):
                    raw[k][tuple(stream[i - k + 1 : i + 1])] += 1
        # Continuation count of a k-gram: how many distinct tokens precede it (k+1-gram types).
        cont: list[dict[tuple[int, ...], int]] = [defaultdict(int) for _ in range(max_order + 1)]
        for k in range(1, max_order):
            for gram in raw[k + 1]:
                cont[k][gram[1:]] += 1
        self._raw = [None] + [_Level.from_counts(raw[k]) for k in range(1, max_order + 1)]
        self._cont = [None] + [_Level.from_counts(cont[k]) for k in range(1, max_order)]
        self.train_tokens = sum(len(p) + 1 for p in pieces)

    def _padded(self, piece: Sequence[int]) -> list[int]:
        return [self.sep] * (self.max_order - 1) + [int(t) for t in piece] + [self.sep]

    def discounts(self) -> dict[str, list[float]]:
        return {
            "raw": [[round(d, 3) for d in lv.discounts] for lv in self._raw[1:]],
            "continuation": [[round(d, 3) for d in lv.discounts] for lv in self._cont[1:]],
        }

    # -- scoring ------------------------------------------------------------------

    def nats(self, pieces: Sequence[Sequence[int]]) -> tuple[np.ndarray, int]:
        """Total negative log-likelihood (nats) of every order 1..max_order, and the number of targets.

        Every token of every piece and each piece's closing separator are targets.
        """
        n = self.max_order
        total = np.zeros(n)
        targets = 0
        uniform = 1.0 / self.n_vocab
        for piece in pieces:
            stream = self._padded(piece)
            for i in range(n - 1, len(stream)):
                w = stream[i]
                lower = uniform  # the continuation chain P_cont,k-1
                for k in range(1, n + 1):
                    ctx = tuple(stream[i - k + 1 : i])
                    total[k - 1] -= math.log(self._raw[k].prob(ctx, w, lower))
                    if k < n:
                        lower = self._cont[k].prob(ctx, w, lower)
                targets += 1
        return total, targets

    def distribution(self, context: Sequence[int], order: int) -> np.ndarray:
        """P(next token | context) over the whole vocabulary, for the model of ``order``."""
        if not 1 <= order <= self.max_order:
            raise ValueError(f"order must be in 1..{self.max_order}, not {order}")
        ctx = [self.sep] * (self.max_order - 1) + [int(t) for t in context]
        p = np.full(self.n_vocab, 1.0 / self.n_vocab)
        for k in range(1, order + 1):
            h = tuple(ctx[len(ctx) - k + 1 :]) if k > 1 else ()
            p = (self._raw[k] if k == order else self._cont[k]).dist(h, p)
        return p

    def sample(
        self,
        order: int,
        rng: np.random.Generator,
        *,
        enough: Callable[[list[int]], bool],
        prefix: Sequence[int] = (),
        grammar: Any = None,
        max_tokens: int = 20_000,
    ) -> list[int]:
        """Draw tokens (temperature 1, never the separator) after ``prefix`` until ``enough(tokens)``.

        ``grammar``, when given, is a state with ``allowed()`` (a boolean mask over the
        vocabulary) and ``push(token)``: only allowed tokens are drawn. The prefix is returned too.
        """
        out = [int(t) for t in prefix]
        while len(out) < max_tokens:
            p = self.distribution(out[max(0, len(out) - order + 1) :] if order > 1 else [], order)
            p[self.sep] = 0.0
            if grammar is not None:
                allowed = grammar.allowed()
                p = p * allowed
                if not p.sum() > 0:  # the n-gram gives nothing the grammar allows any mass: draw among those
                    p = allowed.astype(np.float64)
            tok = int(rng.choice(self.n_vocab, p=p / p.sum()))
            out.append(tok)
            if grammar is not None:
                grammar.push(tok)
            if len(out) % 16 == 0 and enough(out):
                break
        return out


def bits_per_note(nats: float, notes: int) -> float:
    """Total nats over a token stream → bits per note (comparable across encodings)."""
    return float(nats / max(notes, 1) / math.log(2))
