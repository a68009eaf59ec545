"""Compose: a style's model → tokens → events → notes → a MIDI file and an originality report.

    locate the model (explicit file, store install, bundled, or catalogue download)
    load it and build the NumPy network (no TensorFlow on this path)
    choose the primer: a MIDI file's events, or a random opening from the style's statistics
    sample N variations together, with the loop and copy guards
    for each variation: decode → notes → MIDI with provenance text events (+ piano roll)

Same seed + same model + same options = the same MIDI file, byte for byte.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hostapi.results import ComposeOptions, CompositionResult, Progress
from lstm_composer_plugin.compose.engine import NumpyNetwork
from lstm_composer_plugin.compose.guards import DEFAULT_COPY_LIMIT, Guards, style_max_run
from lstm_composer_plugin.compose.sampling import Sample, SamplingSettings, sample
from lstm_composer_plugin.errors import ComposerError, ModelFileError, UsageError
from lstm_composer_plugin.modelfile import ModelFile, load_model
from lstm_composer_plugin.models import locate_model
from lstm_composer_plugin.music.midi import Note, Piece, read_midi, write_midi
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

PLUGIN = "lstm"
DEFAULT_LENGTH = 500  # events, about the reference's 500 notes
MAX_EVENTS = 20_000  # upper bound, also for a length in seconds
DEFAULT_TEMPERATURE = 1.0
DEFAULT_BPM = 120.0
PRIMER_EVENTS = 256  # a long primer file contributes its last events only
MAX_VARIATIONS = 64


@dataclass
class Primer:
    tokens: np.ndarray  # (variations, T): consumed before sampling
    opening: list[list[int]]  # per variation: music tokens that belong to the output
    bpm: float
    time_signature: tuple[int, int]
    description: str


def compose(
    style: str,
    options: ComposeOptions,
    *,
    model_path: Path | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> CompositionResult:
    """Compose ``options.variations`` pieces in ``style``; the first is ``result.path``."""
    settings, n_events, variations = check_options(options)
    notify = progress or (lambda _p: None)
    # Read a primer file before anything slow, so a bad file fails at once.
    primer_piece = read_midi(options.primer) if options.primer is not None else None  # one-line MidiReadError

    # 1. The model: everything the network, the vocabulary and the guards need is in one file.
    path = locate_model(style, model_path, offline=options.offline, progress=progress)
    model = load_model(path)
    manifest = model.manifest
    style = style or str(manifest.get("style") or path.stem)
    net = NumpyNetwork.from_model(model)
    vocab = Vocabulary.from_dict(manifest["vocabulary"])
    encoding = EventEncoding.from_dict(manifest.get("encoding", {}))
    if len(vocab) != net.n_vocab:
        raise ModelFileError(f"{path}: vocabulary ({len(vocab)}) and network ({net.n_vocab}) disagree")

    # 2. Seed, primer and guards.
    seed = options.seed if options.seed is not None else int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    primer = make_primer(options, primer_piece, manifest, vocab, encoding, seed, variations)
    corpus = corpus_index(model)
    # Hosts may tune the guards through options.extra ("max_run", "copy_limit"; None = off).
    guards = Guards(
        corpus=corpus,
        max_run=options.extra["max_run"] if "max_run" in options.extra else style_max_run(corpus),
        copy_limit=options.extra.get("copy_limit", DEFAULT_COPY_LIMIT),
    )

    # 3. Sample: a length in seconds becomes a budget of grid steps per variation.
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

    # 4. Write each variation with its provenance and originality report.
    out = Path(options.out_path) if options.out_path else Path(f"{style}-{seed}.mid")
    paths, reports, png_path = [], [], None
    for k, smp in enumerate(samples):
        tokens = primer.opening[k] + smp.tokens
        notes = events_to_notes(vocab.decode(tokens), encoding)
        seconds = _seconds(notes, primer.bpm)
        report = originality_report(tokens, smp, guards, manifest, vocab=vocab)
        report.update(
            style=style,
            model_id=str(manifest.get("model_id") or ""),
            epoch=manifest.get("epoch"),
            seed=seed,
            variation=k + 1,
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            repetition_penalty=settings.repetition_penalty,
            events=len(tokens),
            seconds=round(seconds, 3),
            tempo=primer.bpm,
            primer=primer.description,
            model_path=str(path),
        )
        target = variation_path(out, k)
        try:
            write_midi(
                target,
                notes,
                bpm=primer.bpm,
                time_signature=primer.time_signature,
                texts=midi_texts(report),
                title=f"{style} (seed {seed}{f', variation {k + 1}' if k else ''})",
            )
        except OSError as exc:
            raise ComposerError(f"{target}: cannot write ({exc.strerror or exc})") from None
        paths.append(target)
        reports.append(report)
        if options.png and k == 0:
            from lstm_composer_plugin.compose.pianoroll import render_pianoroll

            png_path = render_pianoroll(notes, target.with_suffix(".png"), bpm=primer.bpm, title=f"{style}, seed {seed}")
    notify(Progress("compose", n_new, n_new, "event", f"wrote {paths[0]}"))

    first = dict(reports[0])
    if variations > 1:
        first["variations"] = reports
    return CompositionResult(
        path=paths[0],
        style=style,
        seed=seed,
        duration_seconds=float(first["seconds"]),
        events=int(first["events"]),
        plugin=PLUGIN,
        model_id=first["model_id"],
        epoch=first["epoch"],
        report=first,
        variations=paths,
        png_path=png_path,
    )


# -- options ---------------------------------------------------------------------------


def check_options(options: ComposeOptions) -> tuple[SamplingSettings, int, int]:
    """Validate what the user asked for (one-line UsageErrors) and fill in the defaults."""
    if options.length is not None and options.length < 1:
        raise UsageError(f"length must be at least 1 event, not {options.length}")
    if options.length is not None and options.length > MAX_EVENTS:
        raise UsageError(f"length must be at most {MAX_EVENTS} events, not {options.length}")
    if options.seconds is not None and not (0 < options.seconds < math.inf):
        raise UsageError(f"seconds must be above 0, not {options.seconds}")
    if options.tempo is not None and not (10 <= options.tempo <= 400):
        raise UsageError(f"tempo must be between 10 and 400 bpm, not {options.tempo}")
    if not 1 <= options.variations <= MAX_VARIATIONS:
        raise UsageError(f"variations must be between 1 and {MAX_VARIATIONS}, not {options.variations}")
    if options.seed is not None and not 0 <= options.seed < 2**63:
        raise UsageError(f"seed must be a non-negative integer, not {options.seed}")
    settings = SamplingSettings(
        temperature=DEFAULT_TEMPERATURE if options.temperature is None else float(options.temperature),
        top_k=options.top_k,
        top_p=options.top_p,
        repetition_penalty=1.0 if options.repetition_penalty is None else float(options.repetition_penalty),
    )
    settings.validate()
    if options.length is not None:
        n_events = options.length
    else:
        n_events = MAX_EVENTS if options.seconds is not None else DEFAULT_LENGTH
    return settings, n_events, options.variations


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
    names = list((model.manifest.get("corpus") or {}).get("train_pieces") or [])
    names += [f"piece {i + 1}" for i in range(len(names), len(offsets) - 1)]
    return CorpusIndex(tokens, offsets, names)


def token_steps(vocab: Vocabulary) -> np.ndarray:
    """Grid steps each token moves time on by (a last event with no shift: its length)."""
    out = np.zeros(len(vocab), dtype=np.int64)
    for i, ev in enumerate(vocab.events):
        if ev is not None:
            out[i] = ev.shift or max(ev.durations)
    return out


# -- report and output ---------------------------------------------------------------------


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


def midi_texts(report: dict[str, Any]) -> list[str]:
    """Provenance as MIDI text events: one fact per line, ASCII only."""
    lines = [
        f"lstm-composer: style={report['style']} model={report['model_id'] or '-'} epoch={report['epoch']}",
        f"seed={report['seed']} variation={report['variation']} temperature={report['temperature']}"
        f" top_k={report['top_k']} top_p={report['top_p']} repetition_penalty={report['repetition_penalty']}",
        f"primer={report['primer']} events={report['events']} seconds={report['seconds']} tempo={report['tempo']}",
    ]
    if "longest_borrowed_run" in report:
        src = report["borrowed_from"] or "-"
        lines.append(
            f"originality: longest borrowed run {report['longest_borrowed_run']} events from {src};"
            f" 8-gram share {report['ngram8_share']}"
        )
    lines.append(f"liveliness: longest repeated event {report['longest_repeat']}; distinct per 100 {report['distinct_per_100']}")
    return [line.encode("ascii", "replace").decode("ascii") for line in lines]


def variation_path(out: Path, k: int) -> Path:
    """``out`` for the first variation, then ``<stem>-2.mid``, ``<stem>-3.mid``..."""
    return out if k == 0 else out.with_name(f"{out.stem}-{k + 1}{out.suffix or '.mid'}")


def _seconds(notes: list[Note], bpm: float) -> float:
    end = max((n.start + n.duration for n in notes), default=0.0)
    return end * 60.0 / bpm
