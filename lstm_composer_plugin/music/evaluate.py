"""Measuring a style model: bits per note, the two-sample test, copying and collapse.

What ``bench/quality.py`` measures, as reusable parts that know no particular encoding:

* the encoding is seen through ``music.codec`` (:func:`codec_for` a model file's manifest),
  so the n-gram baselines (``ngram_lm``) and the network are scored on the same tokens and
  their bits per note are comparable across encodings.
* :func:`network_nats`: a network's negative log-likelihood of pieces, run statefully by the
  NumPy engine, one piece at a time from the zero state (as a composition starts).
* :func:`two_sample_auc`: a classifier two-sample test (Lopez-Paz & Oquab 2017) on segment
  features (``features.py``), cross-validated by piece; scikit-learn is imported inside it,
  so this module imports without the ``bench`` extra.
* :class:`CopyIndex`: the collapse and verbatim-copy measures on onset events (pitches,
  lengths and time to the next onset), the same for every encoding, and the longest melodic
  run (top-line intervals: transposition-invariant, rhythm ignored) shared with a training
  piece, measured as the note-level copy guard measures it (``music.melody``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstm_composer_plugin.music.codec import SEP
from lstm_composer_plugin.music.midi import Note, Piece
from lstm_composer_plugin.music.stats import CorpusIndex, distinct_per_100, longest_run
from lstm_composer_plugin.music.tokens import Event, EventEncoding, notes_to_events

# -- likelihood -------------------------------------------------------------------------


def network_nats(net: Any, pieces: Sequence[Sequence[int]], sep: int = SEP) -> tuple[float, int]:
    """Total nats of every token of every piece and its closing separator, and the target count.

    ``net`` is a :class:`~lstm_composer_plugin.compose.engine.NumpyNetwork`; each piece is
    read after a separator from the zero state, as the n-gram models read it.
    """
    total, targets = 0.0, 0
    # Pieces of similar length run together as the rows of one batch (a step costs about the
    # same for 16 rows as for one), padded at the end, where padding cannot reach the targets.
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    budget = 40_000_000  # floats of logits per batch
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and j - i < 32 and (j + 1 - i) * (len(pieces[order[j]]) + 1) * net.n_vocab <= budget:
            j += 1
        group = [pieces[k] for k in order[i:j]]
        width = max(len(p) for p in group) + 1
        toks = np.full((len(group), width), sep, dtype=np.int64)
        for r, p in enumerate(group):
            toks[r, 1 : len(p) + 1] = p
        _, logits = net.run(toks, all_positions=True, logits=True)
        for r, p in enumerate(group):
            z = logits[r, : len(p) + 1].astype(np.float64)
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            goal = np.append(np.asarray(p, dtype=np.int64), sep)
            total -= float(logp[np.arange(len(goal)), goal].sum())
            targets += len(goal)
        i = j
    return total, targets


# -- the two-sample test ------------------------------------------------------------------


def two_sample_auc(
    a: np.ndarray,
    groups_a: Sequence[Any],
    b: np.ndarray,
    groups_b: Sequence[Any],
    *,
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
) -> float:
    """ROC AUC of a classifier telling set ``b`` from set ``a``, cross-validated by piece.

    Standardised features, L2 logistic regression with balanced class weights; folds never
    split a piece (``groups``), and each fold holds pieces of both sets. The AUC is the mean
    over folds and ``repeats`` shuffles: about 0.5 when the sets cannot be told apart, 1.0
    when they always can. NaN when either set has fewer than two pieces.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ga = [("a", g) for g in groups_a]
    gb = [("b", g) for g in groups_b]
    n_groups = min(len(set(ga)), len(set(gb)))
    if n_groups < 2 or not len(a) or not len(b):
        return math.nan
    x = np.vstack([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    ids = {g: i for i, g in enumerate(sorted(set(ga + gb), key=str))}
    groups = np.array([ids[g] for g in ga + gb])
    aucs = []
    for r in range(repeats):
        cv = StratifiedGroupKFold(n_splits=min(folds, n_groups), shuffle=True, random_state=seed + r)
        for train, test in cv.split(x, y, groups):
            if len(set(y[test])) < 2 or len(set(y[train])) < 2:
                continue
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000))
            clf.fit(x[train], y[train])
            aucs.append(roc_auc_score(y[test], clf.decision_function(x[test])))
    return float(np.mean(aucs)) if aucs else math.nan


@dataclass
class FeatureGap:
    """One feature's power to tell set ``b`` from set ``a`` on its own."""

    name: str
    auc: float  # of the feature's raw value (0.5: no difference; 0 or 1: no overlap)
    mean_a: float
    mean_b: float


def feature_gaps(a: np.ndarray, b: np.ndarray, names: Sequence[str], top: int = 5) -> list[FeatureGap]:
    """The ``top`` features that tell the sets apart best on their own: what gives ``b`` away."""
    from sklearn.metrics import roc_auc_score

    if not len(a) or not len(b):
        return []
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    gaps = []
    for k, name in enumerate(names):
        x = np.r_[a[:, k], b[:, k]]
        auc = 0.5 if np.ptp(x) == 0 else float(roc_auc_score(y, x))
        gaps.append(FeatureGap(name, auc, float(a[:, k].mean()), float(b[:, k].mean())))
    return sorted(gaps, key=lambda g: -abs(g.auc - 0.5))[:top]


def halves(groups: Sequence[Any], seed: int) -> tuple[list[Any], list[Any]]:
    """The distinct groups (pieces) split at random into two halves."""
    names = sorted(set(groups), key=str)
    order = np.random.default_rng(seed).permutation(len(names))
    cut = len(names) // 2
    return [names[i] for i in order[:cut]], [names[i] for i in order[cut:]]


# -- copying and collapse -----------------------------------------------------------------


def _index(sequences: Sequence[Sequence[int]], names: Sequence[str]) -> CorpusIndex:
    out, offsets = [], [0]
    for seq in sequences:
        out.extend(int(t) for t in seq)
        out.append(SEP)
        offsets.append(len(out))
    return CorpusIndex(np.asarray(out, dtype=np.int32), np.asarray(offsets), list(names))


class CopyIndex:
    """The training pieces as onset events and as melodies, for the copying and collapse figures.

    Events (pitches, lengths, time to the next onset, on a grid of 24 steps per quarter note)
    are the same for every encoding. Melodies are the highest note at each onset, compared as
    intervals (``music.melody``: the note-level copy guard's own measure, in notes).
    """

    def __init__(self, pieces: Sequence[Piece], names: Sequence[str]):
        from lstm_composer_plugin.music.melody import melody_index

        self.ids: dict[Event, int] = {}
        self.events = _index([self.encode(p.notes) for p in pieces], names)
        self.melody = melody_index(list(pieces), names=list(names))

    def encode(self, notes: Sequence[Note]) -> list[int]:
        return [self.ids.setdefault(e, len(self.ids) + 1) for e in notes_to_events(notes, EventEncoding())]

    def measure(self, piece: Piece) -> dict[str, float]:
        """Collapse and copying figures of one piece."""
        from lstm_composer_plugin.music.melody import longest_same_pitch, melody_of_piece

        ids = self.encode(piece.notes)
        rep = self.events.report(ids)
        melody = melody_of_piece(piece)
        return {
            "events": len(ids),
            "same_event_run": longest_run(ids),
            "same_pitch_run": longest_same_pitch(melody),
            "distinct_per_100": distinct_per_100(ids),
            "verbatim_run": rep.longest_run,
            "ngram8_share": rep.ngram_share,
            "melodic_run": self.melody.longest_match(melody).length,
        }
