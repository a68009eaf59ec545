"""The checkpoint scorecard: sample a few short pieces and measure collapse, copying and style.

For a note model the measures run on the melody (the first pitch at each position; see
``train.notetokens``): a run is one melody pitch struck again and again, copying is a run of
melodic intervals found in one training piece; ``n_events`` counts notes. For an event model
they run on whole events, as below.

Loss and accuracy do not say when a model starts to copy its training pieces or
when it stops repeating one note; listening does, and this is listening by
numbers. At each checkpoint K compositions (fixed seeds, plain sampling at
temperature 1, *no* compose-time guards, so the raw model's behaviour shows) are
measured with the same functions the composer's guards and reports use
(``stats``):

* collapse: longest run of one event, distinct events per 100 (and the longest
  run of one argmax continuation: the seed's "one repeated note");
* copying: longest run found verbatim in one training piece (and which), share
  of the generated 8-grams present in the training pieces;
* style: distance of the pitch-class and duration histograms to the training set's.

``baseline`` scores windows of the *validation* pieces the same way: what a real,
unseen piece of the style looks like by these numbers. The epoch choice
(``choose.Thresholds.from_baseline``) sets its limits relative to it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lstm_composer_plugin.music.stats import (
    CorpusIndex,
    distinct_per_100,
    duration_hist,
    hist_distance,
    pitch_class_hist,
)
from lstm_composer_plugin.music.tokens import SEP

SAMPLES = 8  # K compositions per checkpoint
SAMPLE_EVENTS = 200  # events each: long enough for runs and copies to show, quick to sample
SEEDS = tuple(range(1000, 1000 + SAMPLES))


@dataclass
class SampleScore:
    events: int
    longest_run: int
    distinct_per_100: float
    copy_run: int
    copy_source: str
    ngram_share: float
    pitch_class_distance: float
    duration_distance: float


def score_sequence(tokens: Sequence[int], index: CorpusIndex, stats: dict[str, Any], token_set: Any) -> SampleScore:
    """All the scorecard's measures of one token sequence (separators removed).

    ``token_set`` (``tokensets.TokenSet``) says what the measures run on: whole events, or a
    note model's melody (runs of one pitch, copies of melodic intervals).
    """
    toks = [int(t) for t in tokens if int(t) != SEP]
    runs = token_set.runs_view(toks)
    copy = index.report(token_set.copy_view(toks).tolist())
    events = token_set.decode(toks)
    return SampleScore(
        events=len(toks),
        longest_run=token_set.longest_run(toks),
        distinct_per_100=round(distinct_per_100(runs.tolist()), 2),
        copy_run=copy.longest_run,
        copy_source=copy.source,
        ngram_share=round(copy.ngram_share, 4),
        pitch_class_distance=round(hist_distance(pitch_class_hist(events), np.asarray(stats["pitch_class_hist"])), 4),
        duration_distance=round(hist_distance(duration_hist(events), np.asarray(stats["duration_hist"])), 4),
    )


def summarise(scores: Sequence[SampleScore]) -> dict[str, Any]:
    """Medians for run lengths (robust to one odd sample), means for shares and distances."""
    if not scores:
        return {}
    worst = max(scores, key=lambda s: s.copy_run)
    return {
        "longest_run": float(statistics.median(s.longest_run for s in scores)),
        "longest_run_max": max(s.longest_run for s in scores),
        "distinct_per_100": round(statistics.median(s.distinct_per_100 for s in scores), 2),
        "copy_run": float(statistics.median(s.copy_run for s in scores)),
        "copy_run_max": worst.copy_run,
        "copy_source": worst.copy_source,
        "ngram_share": round(statistics.fmean(s.ngram_share for s in scores), 4),
        "pitch_class_distance": round(statistics.fmean(s.pitch_class_distance for s in scores), 4),
        "duration_distance": round(statistics.fmean(s.duration_distance for s in scores), 4),
    }


def scorecard(
    net: Any,  # engine.NumpyNetwork
    index: CorpusIndex,
    stats: dict[str, Any],
    token_set: Any,  # tokensets.TokenSet
    *,
    samples: int = SAMPLES,
    n_events: int = SAMPLE_EVENTS,
    seed: int = SEEDS[0],
    drawn: list[list[int]] | None = None,
) -> dict[str, Any]:
    """Sample ``samples`` pieces from ``net`` (one batch: a step costs a matrix product) and score them.

    ``n_events`` counts the token set's units: events, or notes for a note model. The samples' tokens
    are appended to ``drawn`` when given (the checkpoint draws the first one as a piano roll).
    """
    seqs = token_set.draw(net, n_events, seed=seed, batch=samples)
    if drawn is not None:
        drawn.extend([int(t) for t in s] for s in seqs)
    scores = [score_sequence(s, index, stats, token_set) for s in seqs]
    # The seed composed by argmax, where an undertrained model repeats one note: measure that too.
    greedy = [int(t) for t in token_set.draw(net, n_events, seed=seed, batch=1, top_k=1)[0]]
    summary = summarise(scores)
    summary["greedy_longest_run"] = token_set.longest_run(greedy)
    summary["greedy_distinct_per_100"] = round(distinct_per_100(token_set.runs_view(greedy).tolist()), 2)
    return {
        "summary": summary,
        "samples": [asdict(s) for s in scores],
        "settings": {"samples": samples, "events": n_events, "unit": token_set.unit, "seed": seed,
                     "temperature": 1.0, "guards": False},
    }


def baseline(
    val_tokens: np.ndarray,
    val_offsets: np.ndarray,
    index: CorpusIndex,
    stats: dict[str, Any],
    token_set: Any,
    *,
    n_events: int = SAMPLE_EVENTS,
    limit: int = 32,
) -> dict[str, Any]:
    """The same measures on windows of real, held-out pieces: what "not copying" looks like.

    Each validation piece gives its first ``n_events`` events (or all of a shorter
    piece); at most ``limit`` pieces, spread over the set, keep it quick.
    """
    pieces = [val_tokens[a:b] for a, b in zip(val_offsets[:-1], val_offsets[1:], strict=True)]
    pieces = [token_set.head(p[p != SEP], n_events) for p in pieces]
    pieces = [p for p in pieces if len(p) >= 16]
    if len(pieces) > limit:
        pieces = [pieces[i] for i in np.linspace(0, len(pieces) - 1, limit).astype(int)]
    if not pieces:
        return {}
    summary = summarise([score_sequence(p, index, stats, token_set) for p in pieces])
    summary["pieces"] = len(pieces)
    return summary
