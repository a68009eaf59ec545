"""Events and tokens: quantisation, chords, rests, the vocabulary and its fallback, the round trip."""

from __future__ import annotations

import json

import pytest

from lstm_composer_plugin.music.midi import Note, read_midi, write_midi
from lstm_composer_plugin.music.tokens import (
    GRID,
    SEP,
    Event,
    Vocabulary,
    events_to_notes,
    notes_to_events,
    piece_to_events,
    tokenize_pieces,
)


def test_chord_keeps_octaves_and_rest_is_real():
    notes = [Note(48, 0, 1), Note(60, 0, 1), Note(64, 0, 1), Note(72, 2, 0.5)]
    events = notes_to_events(notes)
    assert events == [Event((48, 60, 64), (GRID,), 2 * GRID), Event((72,), (GRID // 2,), 0)]


def test_per_note_durations_where_voices_differ():
    events = notes_to_events([Note(48, 0, 0.5), Note(60, 0, 1)])
    assert events[0].durations == (GRID // 2, GRID)
    assert events[0].chord_form.durations == (GRID,)  # most common, longest on a tie


def test_grid_holds_sixteenths_triplets_and_32nds():
    for beats in (0.25, 1 / 3, 1 / 6, 0.125, 0.75):
        steps = beats * GRID
        assert abs(steps - round(steps)) < 1e-9


def test_quantisation_snaps_to_grid():
    events = notes_to_events([Note(60, 0.01, 0.49), Note(62, 0.51, 0.5)])
    assert [(e.durations, e.shift) for e in events] == [((GRID // 2,), GRID // 2), ((GRID // 2,), 0)]


def test_long_notes_and_rests_are_capped():
    events = notes_to_events([Note(60, 0, 100), Note(62, 200, 1)])
    assert events[0].durations[0] <= 16 * GRID and events[0].shift <= 16 * GRID


def test_event_string_round_trip():
    e = Event((48, 60), (6, 12), 12)
    assert Event.from_str(e.to_str()) == e


def test_vocabulary_min_count_fallback_is_deterministic_and_near():
    common = Event((60,), (12,), 12)
    chord = Event((60, 64, 67), (12,), 12)
    rare = Event((60, 64, 68), (12,), 12)  # one pitch off the frequent chord
    rare_durations = Event((60, 64, 67), (6, 12, 12), 12)  # per-note form of the chord
    seqs = [[common, chord] * 5 + [rare, rare_durations]]
    vocab = Vocabulary.build(seqs, min_count=2)
    assert len(vocab) == 3  # separator + the two frequent events
    assert vocab.decode([vocab.token(rare)]) == [chord]
    assert vocab.decode([vocab.token(rare_durations)]) == [chord]
    unseen = Event((61,), (12,), 12)
    assert vocab.decode([vocab.token(unseen)]) == [common]
    again = Vocabulary.build(seqs, min_count=2)
    assert again.to_dict() == vocab.to_dict()
    assert vocab.coverage(seqs) == pytest.approx(10 / 12)


def test_nearest_event_weighs_shift_first_then_pitches_then_durations():
    a, b = Event((60,), (12,), 12), Event((60,), (12,), 6)
    c, d = Event((62,), (12,), 12), Event((60,), (24,), 12)
    triad = Event((60, 64, 67), (12,), 12)
    vocab = Vocabulary([a, b, c, d, triad], [5, 4, 3, 3, 2])
    # One semitone from a and from c (a pitch and a pitch class apart each): the more frequent, a.
    assert vocab.nearest(Event((61,), (12,), 12)) == a
    # The same shift outweighs two pitches: b (another pitch) before c (same pitch, other shift).
    assert vocab.nearest(Event((62,), (24,), 6)) == b
    # Between equal pitches and shifts, the closer duration on a log scale.
    assert vocab.nearest(Event((60,), (20,), 12)) == d
    # A chord whose chord form has a token maps to it, whatever the costs; many at once as one by one.
    per_note = Event((60, 64, 67), (12, 6, 12), 12)
    queries = [Event((61,), (12,), 12), Event((62,), (24,), 6), Event((60,), (20,), 12), per_note]
    assert vocab.nearest_many(queries, chunk=2) == [a, b, d, triad]
    assert [vocab.nearest(q) for q in queries] == [a, b, d, triad]


def test_vocabulary_json_round_trip():
    seqs = [[Event((60,), (12,), 12), Event((62,), (12,), 0)] * 3]
    vocab = Vocabulary.build(seqs, min_count=1)
    back = Vocabulary.from_json(json.dumps(json.loads(vocab.to_json())))
    assert back.events == vocab.events and back.encode(seqs[0]) == vocab.encode(seqs[0])
    assert SEP not in back.encode(seqs[0])


def test_tokenize_pieces_separates_pieces():
    a = [Event((60,), (12,), 12)] * 3
    b = [Event((62,), (12,), 12)] * 2
    vocab = Vocabulary.build([a, b], min_count=1)
    tokens, offsets = tokenize_pieces([a, b], vocab)
    assert tokens.tolist()[3] == SEP and tokens.tolist()[-1] == SEP
    assert offsets.tolist() == [0, 4, 7]


def _grid_notes(notes):
    cap = 16 * GRID
    return {(n.pitch, round(n.start * GRID), min(cap, max(1, round(n.duration * GRID)))) for n in notes}


def round_trip_share(files, tmp_path) -> float:
    """MIDI → events → tokens → events → MIDI → notes: share of notes kept (pitch, onset, duration on the grid)."""
    pieces = [read_midi(f) for f in files]
    seqs = [piece_to_events(p) for p in pieces]
    vocab = Vocabulary.build(seqs, min_count=1)
    kept = total = 0
    out = tmp_path / "rt.mid"
    for piece, seq in zip(pieces, seqs, strict=True):
        events = vocab.decode(vocab.encode(seq))
        first = min(n.start for n in piece.notes)
        write_midi(out, events_to_notes(events, start=round(first * GRID) / GRID), bpm=piece.bpm)
        original, back = _grid_notes(piece.notes), _grid_notes(read_midi(out).notes)
        kept += len(original & back)
        total += len(original)
    return kept / total


def test_round_trip_keeps_99_percent_of_notes_in_every_style(corpus_dir, tmp_path):
    shares = {}
    for style in sorted(p for p in corpus_dir.iterdir() if p.is_dir()):
        shares[style.name] = round_trip_share(sorted(style.glob("*.mid")), tmp_path)
    print("\nround trip, notes kept per style:")
    for name, share in shares.items():
        print(f"  {name:14s} {share:.4%}")
    assert len(shares) >= 14  # one per style folder of the corpus (19 since the piano styles came)
    assert min(shares.values()) >= 0.99, shares
