"""Notes ⇄ note-level tokens with metre (the BachBot / REMI family): one stream, one softmax.

A piece is written bar by bar::

    TS:4/4 BAR POS:0 P:72 D:12 P:67 D:12 P:64 D:12 P:48 D:12 POS:12 P:74 D:6 ... BAR POS:0 ...

* ``TS:n/d`` before the first bar and before every bar where the time signature changes;
* ``BAR`` at each bar start (bars follow the file's time signature events from beat 0);
* ``POS:k`` the onset's position in the bar on a grid of ``grid`` steps per quarter note
  (12 by default: sixteenths (3), eighth triplets (4) and sixteenth triplets (2) are exact;
  a 32nd note lands on the nearest step);
* per note ``P:pitch`` then ``D:duration``: a chord is its notes at one position, highest
  first (the melody note is always the first pitch after ``POS``), a duration is the nearest
  of ``durations`` (grid steps, the longest caps);
* ``SEP`` between pieces (token 0, never composed);
* with ``controls`` (``NoteEncoding.controls``), ``DEN:k CH:chord TEX:n`` right after each
  ``BAR``: the bar's onset density, harmony and texture, measured on the bar itself
  (``music.controls``), so that the network commits to a bar before writing its notes.

The vocabulary is the encoding's full, fixed token table (``vocabulary(enc)``), not learnt from
counts: every time signature folds onto one of the table's (a bar longer than ``max_bar`` is cut
into halves), every pitch folds by octaves into ``pitch_low..pitch_high`` and every duration
rounds to a listed one, so a piece never met in training cannot have a token out of vocabulary.
Token ids depend only on the encoding's parameters, so they are stable.

Velocity is not encoded (a composition plays at the style's median velocity); drums are already
left out by the reader, which also extends sounding lengths under the sustain pedal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lstm_composer_plugin.music.controls import NO_CHORD, QUALITIES, bar_controls, chord_root
from lstm_composer_plugin.music.keys import Key, normalising_shift, piece_key
from lstm_composer_plugin.music.midi import Note, Piece
from lstm_composer_plugin.music.notetable import (
    BAR,
    DURATIONS,
    GRID,
    KEY_MODES,
    KIND,
    MAX_BAR_QUARTERS,
    SEP,
    NoteEncoding,
    NoteVocabulary,
    TokenTable,
    fold_pitch,
    fold_time_signature,
    is_note_encoding,
    nearest_duration,
    partial_bar,
    token_table,
    vocabulary,
)

# -- encoding ----------------------------------------------------------------------------


def piece_shift(piece: Piece, enc: NoteEncoding) -> int:
    """Semitones ``encode_piece`` moves the piece by: to C major / A minor when normalising."""
    return normalising_shift(piece_key(piece)) if enc.key_mode == "normalise" else 0


def bar_plan(piece: Piece, enc: NoteEncoding, end_step: int) -> list[tuple[int, tuple[int, int]]]:
    """(start step, time signature of the table) of every bar up to ``end_step``."""
    changes = sorted(
        ((round(beat * enc.grid), (n, d)) for beat, n, d in piece.time_signatures),
        key=lambda c: c[0],
    )
    if not changes or changes[0][0] > 0:
        first = changes[0][1] if changes else piece.time_signature
        changes.insert(0, (0, first))
    table = token_table(enc)
    bars: list[tuple[int, tuple[int, int]]] = []
    for i, (start, ts) in enumerate(changes):
        stop = changes[i + 1][0] if i + 1 < len(changes) else end_step + 1
        ts = fold_time_signature(ts, enc)
        length = table.bar_steps(ts)
        t = start
        while t < stop:
            # A bar cut short by the next change (an upbeat written as its own metre, a
            # cadence bar) is written with a time signature of its real length, so that the
            # decoder's bar lines stay where the file's are.
            bars.append((t, ts if t + length <= stop or i + 1 == len(changes) else partial_bar(stop - t, ts, enc)))
            t += length
    return bars


def onsets_of(notes: Iterable[Note], enc: NoteEncoding, shift: int = 0) -> dict[int, dict[int, int]]:
    """{onset step: {pitch: duration steps}} on the grid (a doubled pitch sounds once, longest)."""
    groups: dict[int, dict[int, int]] = {}
    for n in notes:
        onset = max(0, round(n.start * enc.grid))
        dur = max(1, round(n.duration * enc.grid))
        pitch = fold_pitch(n.pitch + shift, enc)
        chord = groups.setdefault(onset, {})
        chord[pitch] = max(dur, chord.get(pitch, 0))
    return groups


def encode_piece(piece: Piece, enc: NoteEncoding = NoteEncoding(), *, shift: int | None = None) -> np.ndarray:
    """A piece's tokens, ``TS`` first, without ``SEP`` (``tokenize_note_pieces`` adds it).

    With ``key_mode == "normalise"`` the piece is moved to C major / A minor (``piece_shift``);
    ``shift`` overrides that (in semitones).
    """
    shift = piece_shift(piece, enc) if shift is None else shift
    table = token_table(enc)
    groups = onsets_of(piece.notes, enc, shift)
    if not groups:
        return np.zeros(0, dtype=np.int32)
    onsets = sorted(groups)
    out: list[int] = []
    current_ts = None
    i = 0
    plan = bar_plan(piece, enc, onsets[-1])
    sounding: list[tuple[int, int, int]] = []  # (onset, pitch, duration) of notes begun in earlier bars
    for b, (start, ts) in enumerate(plan):
        stop = plan[b + 1][0] if b + 1 < len(plan) else onsets[-1] + 1
        if ts != current_ts:
            out.append(table.ts_token(ts))
            current_ts = ts
        out.append(BAR)
        if enc.controls:
            j = i
            while j < len(onsets) and onsets[j] < stop:
                j += 1
            inside = [(onsets[k], groups[onsets[k]]) for k in range(i, j)]
            held = [n for n in sounding if n[0] + n[2] > start]
            c = bar_controls(inside, start, table.bar_steps(ts), enc.grid, held)
            out += [table.den_token(c.density), table.chord_token(c.chord), table.tex_token(c.texture)]
            sounding = held + [(step, p, d) for step, chord in inside for p, d in chord.items()]
        while i < len(onsets) and onsets[i] < stop:
            out.append(table.pos_token(onsets[i] - start))
            chord = groups[onsets[i]]
            for pitch in sorted(chord, reverse=True):
                out.append(table.pitch_token(pitch))
                out.append(table.duration_token(chord[pitch]))
            i += 1
    return np.asarray(out, dtype=np.int32)


def tokenize_note_pieces(
    pieces: Sequence[Piece], enc: NoteEncoding = NoteEncoding()
) -> tuple[np.ndarray, np.ndarray]:
    """Pieces as one token stream with ``SEP`` after each; returns (tokens, piece start offsets)."""
    parts: list[np.ndarray] = []
    offsets = [0]
    for piece in pieces:
        toks = encode_piece(piece, enc)
        parts.append(np.append(toks, SEP).astype(np.int32))
        offsets.append(offsets[-1] + len(toks) + 1)
    tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return tokens, np.asarray(offsets, dtype=np.int64)


# -- decoding ------------------------------------------------------------------------------


def decode_tokens(
    tokens: Iterable[int],
    enc: NoteEncoding = NoteEncoding(),
    *,
    key: int = 0,
    velocity: int = 80,
    time_signature: tuple[int, int] = (4, 4),
    bpm: float = 120.0,
    skip: int = 0,
) -> list[Note]:
    """Tokens → notes, moved up by ``key`` semitones (the composition's key when the model
    learnt in C major / A minor); times in beats and, at ``bpm``, seconds.

    ``skip``: the first ``skip`` tokens are context (a primer): their notes are left out and
    time starts at the bar line of the bar in which token ``skip`` stands.

    Tolerant of ill-formed sequences: a duration without a pitch is ignored, a pitch without a
    duration lasts a quarter note, a position before any bar counts from beat 0, a position past
    the bar's end is kept as it is, and ``SEP`` ends the piece.
    """
    table = token_table(enc)
    bar_len = table.bar_steps(fold_time_signature(time_signature, enc))
    next_len = bar_len
    bar_start: int | None = None
    pos = 0
    pending: int | None = None
    raw: list[tuple[int, int, int]] = []  # onset step, pitch, duration steps
    origin = 0  # the bar line where the kept music starts
    keep = skip == 0

    def flush(duration: int) -> None:
        nonlocal pending
        if pending is not None:
            if keep:
                raw.append(((bar_start or 0) + pos - origin, pending, duration))
            pending = None

    for i, tok in enumerate(int(t) for t in tokens):
        kind = table.kind_of(tok) if 0 <= tok < table.size else "?"
        if i == skip and skip:
            flush(enc.grid)  # a primer's last pitch without its duration
            keep = True
            # Time starts at the bar line this token stands in (a BAR token starts a new one).
            origin = (bar_start or 0) + (bar_len if kind == "BAR" and bar_start is not None else 0)
        if kind == "D":
            flush(enc.durations[tok - table.d0])
            continue
        flush(enc.grid)
        if kind == "SEP":
            break
        if kind == "TS":
            next_len = table.bar_steps(table.time_signatures[tok - table.ts0])
        elif kind == "BAR":
            bar_start = 0 if bar_start is None else bar_start + bar_len
            bar_len = next_len
            pos = 0
        elif kind == "POS":
            pos = tok - table.pos0
        elif kind == "P":
            pending = tok - table.p0 + enc.pitch_low
    flush(enc.grid)
    spb = 60.0 / bpm
    notes = []
    for onset, pitch, dur in sorted(raw, key=lambda r: (r[0], r[1])):
        p = pitch + key
        while p < 0:
            p += 12
        while p > 127:
            p -= 12
        start, length = onset / enc.grid, dur / enc.grid
        notes.append(Note(p, start, length, velocity, start * spb, length * spb))
    return notes


def read_bars(tokens: Iterable[int], enc: NoteEncoding,
              time_signature: tuple[int, int] = (4, 4)) -> list[dict[str, Any]]:
    """The bars of a token stream as written: per bar its ``start`` and ``len`` (grid steps), its
    ``inside`` onsets (step, {pitch: duration}), the ``held`` notes (onset step, pitch, duration)
    of earlier bars still sounding into it, and the ``DEN``/``CH``/``TEX`` indices written in front."""
    t = token_table(enc)
    bar_len = next_len = t.bar_steps(fold_time_signature(time_signature, enc))
    bars: list[dict[str, Any]] = []
    bar: dict[str, Any] | None = None
    start = -1
    pos, pitch = 0, None
    for tok in (int(x) for x in tokens):
        kind = t.kind_of(tok) if 0 <= tok < t.size else "?"
        if kind == "TS":
            next_len = t.bar_steps(t.time_signatures[tok - t.ts0])
        elif kind == "BAR":
            start = 0 if bar is None else start + bar_len
            bar_len = next_len
            bar = {"start": start, "len": bar_len, "onsets": {}}
            bars.append(bar)
        elif bar is None:
            continue
        elif kind in ("DEN", "CH", "TEX"):
            bar[kind] = tok - {"DEN": t.den0, "CH": t.ch0, "TEX": t.tex0}[kind]
        elif kind == "POS":
            pos = tok - t.pos0
            bar["onsets"].setdefault(start + pos, {})
        elif kind == "P" and (start + pos) in bar["onsets"]:
            pitch = tok - t.p0 + enc.pitch_low
        elif kind == "D" and pitch is not None:
            bar["onsets"][start + pos][pitch] = enc.durations[tok - t.d0]
            pitch = None
    sounding: list[tuple[int, int, int]] = []
    for b in bars:
        b["inside"] = sorted((k, v) for k, v in b.pop("onsets").items() if v)
        b["held"] = [n for n in sounding if n[0] + n[2] > b["start"]]
        sounding = b["held"] + [(k, p, d) for k, v in b["inside"] for p, d in v.items()]
    return bars


def bar_report(tokens: Iterable[int], enc: NoteEncoding, time_signature: tuple[int, int] = (4, 4)) -> dict[str, Any]:
    """How well each bar kept the controls written in front of it: the share of bars whose measured
    density class, chord root and texture equal their ``DEN``/``CH``/``TEX`` tokens (bars with
    notes only), and the onsets per quarter note over those bars."""
    counts = {"DEN": 0, "CH": 0, "TEX": 0}
    measured = onsets = quarters = 0
    for b in read_bars(tokens, enc, time_signature):
        inside = b["inside"]
        if not inside or "DEN" not in b:
            continue
        got = bar_controls(inside, b["start"], b["len"], enc.grid, b["held"])
        measured += 1
        onsets += len(inside)
        quarters += b["len"] / enc.grid
        counts["DEN"] += got.density == b["DEN"]
        counts["CH"] += chord_root(got.chord) == chord_root(b.get("CH", NO_CHORD))
        counts["TEX"] += got.texture == b.get("TEX", 0) + 1
    share = {k: round(v / measured, 3) if measured else None for k, v in counts.items()}
    return {
        "bars": measured,
        "density_kept": share["DEN"],
        "chord_root_kept": share["CH"],
        "texture_kept": share["TEX"],
        "onsets_per_quarter": round(onsets / quarters, 3) if quarters else None,
    }


def count_notes(tokens: Iterable[int], enc: NoteEncoding = NoteEncoding()) -> int:
    """Number of notes in a token sequence (its pitch tokens): the denominator of bits per note."""
    t = token_table(enc)
    arr = np.asarray(list(tokens) if not isinstance(tokens, np.ndarray) else tokens)
    return int(((arr >= t.p0) & (arr < t.d0)).sum())


def notes_per_token(tokens: np.ndarray, enc: NoteEncoding = NoteEncoding()) -> float:
    """Notes per token of a stream: bits per note = bits per token / this."""
    return count_notes(tokens, enc) / max(1, len(tokens))


# -- transposition -----------------------------------------------------------------------------


def transpose_tokens(tokens: np.ndarray, semitones: int, enc: NoteEncoding = NoteEncoding()) -> np.ndarray:
    """Pitch tokens moved by ``semitones``; a pitch that leaves the range is folded by octaves,
    and a chord is re-sorted (highest first, a doubled pitch once) if folding disturbed it."""
    t = token_table(enc)
    toks = np.asarray(tokens, dtype=np.int32)
    is_p = (toks >= t.p0) & (toks < t.d0)
    if semitones == 0:
        return toks.copy()
    toks = transpose_chords(toks, semitones, enc)
    if not is_p.any():
        return toks
    pitches = toks[is_p] - t.p0 + enc.pitch_low + semitones
    low, high = enc.pitch_low, enc.pitch_high
    folded = (pitches < low) | (pitches > high)
    pitches = np.where(pitches < low, pitches + 12 * ((low - pitches + 11) // 12), pitches)
    pitches = np.where(pitches > high, pitches - 12 * ((pitches - high + 11) // 12), pitches)
    out = toks.copy()
    out[is_p] = pitches - enc.pitch_low + t.p0
    return _resort_chords(out, t) if folded.any() else out


def transpose_chords(tokens: np.ndarray, semitones: int, enc: NoteEncoding = NoteEncoding()) -> np.ndarray:
    """Chord control tokens (``CH:root:quality``) with their roots moved by ``semitones``."""
    toks = np.array(tokens, dtype=np.int32)
    if not enc.controls:
        return toks
    t = token_table(enc)
    index = toks - t.ch0
    is_ch = (index >= 0) & (index < NO_CHORD)
    q = len(QUALITIES)
    root, quality = np.divmod(index[is_ch], q)
    toks[is_ch] = t.ch0 + ((root + semitones) % 12) * q + quality
    return toks


def _resort_chords(toks: np.ndarray, t: TokenTable) -> np.ndarray:
    out: list[int] = []
    chord: dict[int, int] = {}  # pitch token -> duration token

    def emit() -> None:
        for p in sorted(chord, reverse=True):
            out.extend((p, chord[p]))
        chord.clear()

    i = 0
    while i < len(toks):
        tok = int(toks[i])
        if t.kind_of(tok) == "P" and i + 1 < len(toks) and t.kind_of(int(toks[i + 1])) == "D":
            chord[tok] = max(chord.get(tok, 0), int(toks[i + 1]))
            i += 2
            continue
        emit()
        out.append(tok)
        i += 1
    emit()
    return np.asarray(out, dtype=np.int32)


def allowed_shifts(tokens: np.ndarray, enc: NoteEncoding = NoteEncoding(), max_shift: int = 6) -> list[int]:
    """Shifts in ``-max_shift..max_shift`` that keep every pitch of ``tokens`` in range
    (the keys a piece allows, for augmentation without folding)."""
    t = token_table(enc)
    toks = np.asarray(tokens)
    p = toks[(toks >= t.p0) & (toks < t.d0)] - t.p0 + enc.pitch_low
    if not len(p):
        return list(range(-max_shift, max_shift + 1))
    lo, hi = int(p.min()), int(p.max())
    return [s for s in range(-max_shift, max_shift + 1) if lo + s >= enc.pitch_low and hi + s <= enc.pitch_high]


def opening_tokens(enc: NoteEncoding, ts: tuple[int, int], first_position: int) -> list[int]:
    """How a composition starts: its metre and first bar line; without bar controls also its first
    position (with them the network writes the bar's controls, then the position, itself)."""
    t = token_table(enc)
    head = [t.ts_token(ts), BAR]
    return head if enc.controls else [*head, t.pos_token(first_position)]


def first_time_signature(tokens: Iterable[int], enc: NoteEncoding = NoteEncoding()) -> tuple[int, int] | None:
    t = token_table(enc)
    for tok in tokens:
        if t.kind_of(int(tok)) == "TS":
            return t.time_signatures[int(tok) - t.ts0]
    return None


def round_trip(piece: Piece, enc: NoteEncoding = NoteEncoding()) -> tuple[int, int]:
    """(notes kept, notes) through encode → decode: a note is kept when its pitch, onset and
    duration on the grid all come back (in the normalised key; the shift is exact)."""
    shift = piece_shift(piece, enc)
    want = [
        (max(0, round(n.start * enc.grid)), n.pitch + shift, max(1, round(n.duration * enc.grid)))
        for n in piece.notes
    ]
    ts = piece.time_signatures[0][1:] if piece.time_signatures else piece.time_signature
    got = {
        (round(n.start * enc.grid), n.pitch, round(n.duration * enc.grid))
        for n in decode_tokens(encode_piece(piece, enc, shift=shift), enc, time_signature=ts)
    }
    kept = 0
    for note in want:
        if note in got:
            kept += 1
            got.discard(note)  # a doubled note comes back once
    return kept, len(want)


__all__ = [
    "BAR",
    "DURATIONS",
    "GRID",
    "KEY_MODES",
    "KIND",
    "MAX_BAR_QUARTERS",
    "SEP",
    "Key",
    "NoteEncoding",
    "NoteVocabulary",
    "TokenTable",
    "allowed_shifts",
    "bar_plan",
    "bar_report",
    "count_notes",
    "decode_tokens",
    "encode_piece",
    "first_time_signature",
    "fold_pitch",
    "fold_time_signature",
    "is_note_encoding",
    "nearest_duration",
    "notes_per_token",
    "onsets_of",
    "opening_tokens",
    "partial_bar",
    "piece_shift",
    "read_bars",
    "round_trip",
    "token_table",
    "tokenize_note_pieces",
    "transpose_chords",
    "transpose_tokens",
    "vocabulary",
]
