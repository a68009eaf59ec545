"""Composing with the event-level models (one token per onset: the models before the note encoding).

Unchanged from before the note encoding came, so the same seed gives the same bytes as ever:

    the primer: a MIDI file's last events, or one opening event drawn from ``stats.opening_counts``
    sampling with the loop guard and the verbatim copy guard over the training pieces' tokens
    decode: tokens → events → notes, and the originality report of the tokens
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hostapi.results import ComposeOptions, Progress
from lstm_composer_plugin.compose.engine import NumpyNetwork
from lstm_composer_plugin.compose.guards import DEFAULT_COPY_LIMIT, Guards, style_max_run
from lstm_composer_plugin.compose.sampling import Sample, SamplingSettings, sample
from lstm_composer_plugin.errors import ModelFileError, UsageError
from lstm_composer_plugin.modelfile import ModelFile
from lstm_composer_plugin.music.midi import Note, Piece
from lstm_composer_plugin.music.stats import (
    CorpusIndex,
    distinct_per_100,
    longest_run,
    style_distance,
)
from lstm_composer_plugin.music.tokens import (
    SEP,
    EventEncoding,
    Vocabulary,
    events_to_notes,
    notes_to_events,
)

DEFAULT_BPM = 120.0
PRIMER_EVENTS = 256  # a long primer file contributes its last events only


@dataclass
class EventRun:
    takes: list[tuple[list[Note], dict[str, Any], int]]  # notes, report, events per variation
    primer: Primer
    total: int  # events asked for


@dataclass
class Primer:
    tokens: np.ndarray  # (variations, T): consumed before sampling
    opening: list[list[int]]  # per variation: music tokens that belong to the output
    bpm: float
    time_signature: tuple[int, int]
    description: str


def compose_events(
    style: str,
    options: ComposeOptions,
    model: ModelFile,
    path: Path,
    net: NumpyNetwork,
    settings: SamplingSettings,
    n_events: int,
    variations: int,
    seed: int,
    primer_piece: Piece | None,
    notify: Callable[[Progress], None],
) -> EventRun:
    """The event-level models (one token per onset): as they always composed."""
    manifest = model.manifest
    vocab = Vocabulary.from_dict(manifest.vocabulary)
    encoding = EventEncoding.from_dict(manifest.encoding)
    if len(vocab) != net.n_vocab:
        raise ModelFileError(f"{path}: vocabulary ({len(vocab)}) and network ({net.n_vocab}) disagree")
    primer = make_primer(options, primer_piece, manifest, vocab, encoding, seed, variations)
    corpus = corpus_index(model)
    # Hosts may tune the guards through options.extra ("max_run", "copy_limit"; None = off).
    guards = Guards(
        corpus=corpus,
        max_run=options.extra["max_run"] if "max_run" in options.extra else style_max_run(corpus),
        copy_limit=options.extra.get("copy_limit", DEFAULT_COPY_LIMIT),
    )
    # A length in seconds becomes a budget of grid steps per variation.
    step_lengths = token_steps(vocab)
    until_steps = None
    if options.seconds is not None:
        # (The one-event opening is not counted: at most one event longer than asked.)
        until_steps = math.ceil(options.seconds * primer.bpm / 60.0 * encoding.grid)
    n_new = n_events - len(primer.opening[0])
    notify(Progress("compose", 0, n_new, "event", f"composing in {style}"))
    samples = sample(
        net,
        n_new,
        seed=seed,
        settings=settings,
        primer=primer.tokens,
        guards=guards,
        batch=variations,
        step_lengths=step_lengths,
        until_steps=until_steps,
        progress=lambda done, total: notify(Progress("compose", done, total, "event")),
    )
    takes = []
    for k, smp in enumerate(samples):
        tokens = primer.opening[k] + smp.tokens
        notes = events_to_notes(vocab.decode(tokens), encoding)
        takes.append((notes, originality_report(tokens, smp, guards, manifest, vocab=vocab), len(tokens)))
    return EventRun(takes, primer, n_new)


# -- primer ------------------------------------------------------------------------------


def make_primer(
    options: ComposeOptions,
    piece: Piece | None,
    manifest: dict[str, Any],
    vocab: Vocabulary,
    encoding: EventEncoding,
    seed: int,
    variations: int,
) -> Primer:
    """What the network reads before it composes.

    A MIDI primer: its (last ``PRIMER_EVENTS``) events, the composition continues it.
    Otherwise a random opening: each variation's first event is drawn from the style's
    ``stats.opening_counts`` (the first events of the training pieces) after a separator,
    as every training piece began; one event, so no training window is replayed.
    """
    stats = manifest.get("stats") or {}
    bpm_default = float(options.tempo or stats.get("bpm") or DEFAULT_BPM)
    if piece is not None:
        events = notes_to_events(piece.notes, encoding)
        if not events:
            raise UsageError(f"{piece.path}: primer has no notes")
        tail = events[-PRIMER_EVENTS:]
        tokens = ([SEP] if len(tail) == len(events) else []) + vocab.encode(tail)
        return Primer(
            tokens=np.tile(np.asarray(tokens, dtype=np.int64), (variations, 1)),
            opening=[[] for _ in range(variations)],
            bpm=float(options.tempo or piece.bpm),
            time_signature=piece.time_signature,
            description=f"{Path(piece.path).name} ({len(tail)} events)",
        )
    counts = {int(t): int(c) for t, c in (stats.get("opening_counts") or {}).items() if 0 < int(t) < len(vocab)}
    if not counts:  # an older model without opening statistics: start from the separator alone
        return Primer(np.full((variations, 1), SEP, dtype=np.int64), [[] for _ in range(variations)], bpm_default, (4, 4), "none")
    toks = np.array(sorted(counts), dtype=np.int64)
    p = np.array([counts[t] for t in toks], dtype=np.float64)
    # A stream of its own (not the sampling rows'), so the opening never shifts the rest.
    rng = np.random.default_rng([seed, 0x0BE])
    firsts = [int(t) for t in rng.choice(toks, size=variations, p=p / p.sum())]
    return Primer(
        tokens=np.array([[SEP, t] for t in firsts], dtype=np.int64),
        opening=[[t] for t in firsts],
        bpm=bpm_default,
        time_signature=(4, 4),
        description="random opening",
    )


def corpus_index(model: ModelFile) -> CorpusIndex | None:
    """The copy guard's index, if the model file carries one."""
    tokens = model.arrays.get("corpus.tokens")
    offsets = model.arrays.get("corpus.offsets")
    if tokens is None or offsets is None or len(tokens) == 0:
        return None
    names = list(model.manifest.corpus.get("train_pieces") or [])
    names += [f"piece {i + 1}" for i in range(len(names), len(offsets) - 1)]
    return CorpusIndex(tokens, offsets, names)


def token_steps(vocab: Vocabulary) -> np.ndarray:
    """Grid steps each token moves time on by (a last event with no shift: its length)."""
    out = np.zeros(len(vocab), dtype=np.int64)
    for i, ev in enumerate(vocab.events):
        if ev is not None:
            out[i] = ev.shift or max(ev.durations)
    return out


# -- report ------------------------------------------------------------------------------


def originality_report(
    tokens: list[int],
    smp: Sample,
    guards: Guards,
    manifest: dict[str, Any],
    *,
    vocab: Vocabulary,
) -> dict[str, Any]:
    """How original and how lively the composition is (the same measures as training's scorecard)."""
    corpus = guards.corpus
    report: dict[str, Any] = {
        "longest_repeat": longest_run(tokens),
        "distinct_per_100": round(distinct_per_100(tokens), 1),
        "guards": {
            "max_run": guards.max_run,
            "copy_limit": guards.copy_limit if corpus is not None else None,
            **smp.guard_stats.to_dict(),
        },
    }
    if corpus is not None:
        copy = corpus.report(tokens)
        report["longest_borrowed_run"] = copy.longest_run
        report["borrowed_from"] = copy.source
        report["ngram8_share"] = round(copy.ngram_share, 4)
    stats = manifest.get("stats") or {}
    if "pitch_class_hist" in stats and "duration_hist" in stats and tokens:
        report["style_distance"] = round(style_distance(vocab.decode(tokens), stats), 4)
    return report


