"""Compose: a model file → tokens → notes → a MIDI file and an originality report.

    the caller (the ``compose`` hook) has resolved the style to a model file, drawn the seed
    and named the output; this module takes them as given
    load the model and build the NumPy network (no TensorFlow on this path)
    by the model's encoding (``music.codec``): note-level models (``note_composer``: a key and
        metre from the style, grammar-masked sampling, melodic guards) or the event models
        before them (``event_composer``: as they always composed)
    for each variation: notes → MIDI with provenance text events (+ piano roll, audio)

Same seed + same model + same options = the same MIDI file, byte for byte.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostapi.errors import BadValueError
from hostapi.results import ComposeOptions, CompositionResult, Progress
from lstm_composer_plugin import PLUGIN
from lstm_composer_plugin.compose.audio import check_audio, render_beside
from lstm_composer_plugin.compose.engine import NumpyNetwork
from lstm_composer_plugin.compose.event_composer import (  # noqa: F401 (re-exported: tests, bench)
    DEFAULT_BPM,
    PRIMER_EVENTS,
    Primer,
    compose_events,
    corpus_index,
    make_primer,
    originality_report,
    token_steps,
)
from lstm_composer_plugin.compose.note_composer import (
    DEFAULT_NOTES,
    MAX_NOTES,
    NoteModel,
    compose_notes,
    parse_metre,
)
from lstm_composer_plugin.compose.sampling import SamplingSettings
from lstm_composer_plugin.errors import ComposerError, Interrupted, UsageError
from lstm_composer_plugin.modelfile import ModelFile, load_model
from lstm_composer_plugin.music.codec import encoding_of
from lstm_composer_plugin.music.controls import parse_chords
from lstm_composer_plugin.music.instruments import parse_instrument, program_name, style_program
from lstm_composer_plugin.music.keys import estimate_key, is_minor, key_fifths, parse_key
from lstm_composer_plugin.music.midi import Note, Piece, read_midi, write_midi

DEFAULT_LENGTH = 500  # events, about the reference's 500 notes
MAX_EVENTS = MAX_NOTES  # one cap for both encodings: events (event models) or notes (note models)


def compose(
    style: str,
    options: ComposeOptions,
    *,
    model_path: Path,
    progress: Callable[[Progress], None] | None = None,
) -> CompositionResult:
    """Compose ``options.variations`` pieces in ``style`` with the model file at ``model_path``.

    The style, the seed (``options.seed``) and the output (``options.out_path``) are taken as given:
    the ``compose`` hook resolves them once. The first piece is ``result.path``.
    """
    settings, n_events, variations = check_options(options)
    if not style or options.seed is None or options.out_path is None:
        raise UsageError("compose needs a style, a seed and an output path (the compose hook resolves them)")
    seed = options.seed
    notify = progress or (lambda _p: None)
    # Read a primer file before anything slow, so a bad file fails at once.
    primer_piece = read_midi(options.primer) if options.primer is not None else None  # one-line MidiReadError
    # Audio and the score are checked before anything slow too: a missing renderer, SoundFont or
    # music21 fails at once.
    audio_setup = check_audio() if options.audio else None
    if options.musicxml:
        from lstm_composer_plugin.compose.score import check_score

        check_score()

    # 1. The model: everything the network, the vocabulary and the guards need is in one file.
    path = Path(model_path)
    model = load_model(path)
    net = NumpyNetwork.from_model(model)

    begun: list[Path] = []  # files this call writes: removed again if it is interrupted
    try:
        return _compose_and_write(style, options, model, path, net, settings, n_events, variations, seed,
                                  primer_piece, notify, audio_setup, begun)
    except KeyboardInterrupt:
        for f in begun:
            with contextlib.suppress(OSError):
                f.unlink()
        raise Interrupted(f"interrupted: nothing was written ({len(begun)} file(s) begun were removed)"
                          if begun else "interrupted: nothing was written") from None


def _compose_and_write(style: str, options: ComposeOptions, model: ModelFile, path: Path, net: NumpyNetwork,
                       settings: SamplingSettings, n_events: int, variations: int, seed: int,
                       primer_piece: Piece | None, notify: Callable[[Progress], None], audio_setup: Any,
                       begun: list[Path]) -> CompositionResult:
    manifest = model.manifest
    # 2-3. Primer, guards, sampling: the one step where the encodings really differ (a strategy each).
    strategy = _STRATEGIES[encoding_of(manifest)]
    run = strategy(style, options, model, path, net, settings, n_events, variations, seed, primer_piece, notify)

    # 4. Write each variation with its provenance and originality report.
    out = Path(options.out_path)
    program = parse_instrument(options.instrument) if options.instrument else style_program(style)
    paths, reports, scores, png_path = [], [], [], None
    for k, take in enumerate(run.takes):
        notes = take.notes
        seconds = _seconds(notes, run.bpm)
        signature = _key_signature(take)
        report = take.report
        report.update(
            style=style,
            model_id=manifest.model_id,
            epoch=manifest.epoch,
            seed=seed,
            variation=k + 1,
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            repetition_penalty=settings.repetition_penalty,
            events=take.events,
            seconds=round(seconds, 3),
            tempo=run.bpm,
            primer=run.description,
            model_path=str(path),
            instrument=program_name(program),
        )
        target = variation_path(out, k)
        title = f"{style} (seed {seed}{f', variation {k + 1}' if k else ''})"
        begun.append(target)
        try:
            write_midi(
                target,
                notes,
                bpm=run.bpm,
                time_signature=take.time_signature,
                texts=midi_texts(report),
                title=title,
                program=program,
                key_signature=signature,
            )
        except OSError as exc:
            raise ComposerError(f"{target}: cannot write ({exc.strerror or exc})") from None
        paths.append(target)
        if options.musicxml:
            from lstm_composer_plugin.compose.score import SUFFIX, write_musicxml

            score_path = target.with_suffix(SUFFIX)
            begun.append(score_path)
            try:
                scores.append(write_musicxml(score_path, notes, bpm=run.bpm, time_signature=take.time_signature,
                                             fifths=signature[0], program=program, title=title))
            except OSError as exc:
                raise ComposerError(f"{score_path}: cannot write ({exc.strerror or exc})") from None
        reports.append(report)
        if options.png and k == 0:
            from lstm_composer_plugin.compose.pianoroll import render_pianoroll

            begun.append(target.with_suffix(".png"))
            png_path = render_pianoroll(notes, target.with_suffix(".png"), bpm=run.bpm, title=f"{style}, seed {seed}")
    notify(Progress("compose", run.total, run.total, run.unit, f"wrote {paths[0]}"))

    first = dict(reports[0])
    if variations > 1:
        first["variations"] = reports
    if audio_setup:
        begun.extend(p.with_suffix(".wav") for p in paths)
    audio_paths = render_beside(paths, audio_setup, notify) if audio_setup else []
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
        audio_path=audio_paths[0] if audio_paths else None,
        audio_variations=audio_paths,
        musicxml_variations=scores,
    )


def _key_signature(take: _Take) -> tuple[int, bool]:
    """(fifths, minor) of a take: its key signature (note models say it; the event models' is estimated),
    and whether the music under it sounds in the relative minor."""
    tonic = take.major_tonic if take.major_tonic is not None else estimate_key(take.notes).major_tonic
    return key_fifths(tonic), is_minor(take.notes, tonic)


# -- the two paths ------------------------------------------------------------------------


@dataclass
class _Take:
    notes: list[Note]
    report: dict[str, Any]  # originality and liveliness; provenance is added by compose()
    events: int  # events (event models) or notes (note models)
    time_signature: tuple[int, int]  # each note-model variation draws its own metre
    major_tonic: int | None = None  # the key signature's major tonic (pitch class) where the model chose it


@dataclass
class _Run:
    takes: list[_Take]
    bpm: float
    description: str  # of the primer
    total: float  # for progress: events, notes or seconds asked for
    unit: str


def _compose_events(style: str, options: ComposeOptions, model: ModelFile, path: Path, net: NumpyNetwork,
                    settings: SamplingSettings, n_events: int, variations: int, seed: int,
                    primer_piece: Piece | None, notify: Callable[[Progress], None]) -> _Run:
    """Event models (the seed's encoding): as they always composed (``event_composer``)."""
    if options.key or options.metre:
        raise UsageError("--key and --metre need a note-level model; this is an older event-level one "
                         "(fetch the style's current model, or retrain it)")
    ev = compose_events(style, options, model, path, net, settings, n_events, variations, seed, primer_piece, notify)
    ts = ev.primer.time_signature
    takes = [_Take(notes, report, events, ts) for notes, report, events in ev.takes]
    return _Run(takes, ev.primer.bpm, ev.primer.description, ev.total, "event")


def _compose_notes(
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
) -> _Run:
    """Note-level models: grammar-masked sampling, melodic guards, a key per variation."""
    nm = NoteModel.from_model(model, path, net.n_vocab)
    stats = model.manifest.stats
    piece_bpm = primer_piece.bpm if primer_piece is not None else None
    bpm = float(options.tempo or piece_bpm or nm.profile.bpm or stats.get("bpm") or DEFAULT_BPM)
    # Progress in the unit the length was asked in: notes, or seconds of music (sampling reports
    # grid steps, scaled here), ending exactly at the total.
    if options.seconds is not None:
        total, unit = float(options.seconds), "s"
    else:
        total, unit = options.length if options.length is not None else DEFAULT_NOTES, "note"
    notify(Progress("compose", 0, total, unit, f"composing in {style}"))

    def report(done: int, n: int) -> None:
        notify(Progress("compose", round(done / n * total, 2) if unit == "s" else done, total, unit))

    takes, primer = compose_notes(
        net,
        nm,
        options=options,
        settings=settings,
        seed=seed,
        variations=variations,
        bpm=bpm,
        primer_piece=primer_piece,
        guard_overrides=dict(options.extra),
        stats=stats,
        progress=report,
    )
    # Normalised models chose the key (t.key semitones up from C major / A minor); others keep the model's.
    normalised = nm.encoding.key_mode == "normalise"
    out = [
        _Take(t.notes, t.report, int(t.report["notes"]), ts, t.key % 12 if normalised else None)
        for t, ts in zip(takes, primer.time_signatures, strict=True)
    ]
    return _Run(out, bpm, primer.description, total, unit)


# By the model's encoding (music.codec.encoding_of): each turns a model into takes the writer below shares.
_STRATEGIES = {"notes": _compose_notes, "events": _compose_events}


# -- options ---------------------------------------------------------------------------


def check_options(options: ComposeOptions) -> tuple[SamplingSettings, int, int]:
    """Validate what the user asked for (one-line UsageErrors) and fill in the defaults.

    The bounds are the host contract's settings record (``ComposeOptions.check``, the same the command
    lines and the page check); what only the plugin can judge (the chord names) is checked here.
    """
    try:
        options.check()
    except BadValueError as exc:
        raise UsageError(str(exc)) from None
    if options.chords:
        try:
            parse_chords(options.chords)
        except ValueError as exc:
            raise UsageError(f"chords: {exc}") from None
    if options.instrument:
        try:
            parse_instrument(options.instrument)
        except ValueError as exc:
            raise UsageError(f"instrument: {exc}") from None
    if options.key:
        try:
            parse_key(options.key)
        except ValueError as exc:
            raise UsageError(f"key: {exc}") from None
    if options.metre:
        try:
            parse_metre(options.metre)
        except ValueError as exc:
            raise UsageError(f"metre: {exc}") from None
    if options.primer is not None and (options.key or options.metre):
        raise UsageError("--key and --metre with --primer: a continuation keeps the primer's key and metre")
    given = {"temperature": options.temperature, "top_k": options.top_k, "top_p": options.top_p,
             "repetition_penalty": options.repetition_penalty}
    settings = SamplingSettings(**{k: v for k, v in given.items() if v is not None})  # its defaults, written once
    if options.length is not None:
        n_events = options.length
    else:
        n_events = MAX_EVENTS if options.seconds is not None else DEFAULT_LENGTH
    return settings, n_events, options.variations


# -- report and output ---------------------------------------------------------------------


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
    if "notes" in report:  # a note-level model: the measures are the melody's
        lines.append(f"key signature {report['key_signature']}; time signature {report['time_signature']}")
        if "longest_borrowed_melody" in report:
            src = report["melody_borrowed_from"] or "-"
            lines.append(f"originality: longest borrowed melody {report['longest_borrowed_melody']} notes from {src}")
        lines.append(
            f"liveliness: longest repeated melody pitch {report['longest_repeat']};"
            f" distinct melody pitches per 100 {report['distinct_per_100']}"
        )
    else:
        lines.append(f"liveliness: longest repeated event {report['longest_repeat']}; distinct per 100 {report['distinct_per_100']}")
    return [line.encode("ascii", "replace").decode("ascii") for line in lines]


def variation_path(out: Path, k: int) -> Path:
    """``out`` for the first variation, then ``<stem>-2.mid``, ``<stem>-3.mid``..."""
    return out if k == 0 else out.with_name(f"{out.stem}-{k + 1}{out.suffix or '.mid'}")


def _seconds(notes: list[Note], bpm: float) -> float:
    end = max((n.start + n.duration for n in notes), default=0.0)
    return end * 60.0 / bpm
