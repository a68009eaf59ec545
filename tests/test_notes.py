"""The note-level encoding on the real corpus: round trip, vocabulary, keys, grammar, melody guards,
and composing with a note model (a random-weight model written with NumPy: no TensorFlow)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from hostapi.results import ComposeOptions
from lstm_composer_plugin.compose.composer import compose
from lstm_composer_plugin.compose.guards import MelodyGuards, MelodyGuardState
from lstm_composer_plugin.modelfile import load_model
from lstm_composer_plugin.music import (
    Grammar,
    NoteEncoding,
    NoteVocabulary,
    count_notes,
    decode_tokens,
    encode_piece,
    estimate_key,
    melodic_copy_limit,
    melody_index,
    melody_of_piece,
    melody_of_tokens,
    piece_key,
    read_midi,
    round_trip,
    token_table,
    tokenize_note_pieces,
    transpose_tokens,
    vocabulary,
)
from lstm_composer_plugin.music.corpus import find_midi_files
from lstm_composer_plugin.music.keys import normalising_shift
from lstm_composer_plugin.music.midi import Note, Piece, write_midi
from lstm_composer_plugin.music.notes import BAR, SEP, allowed_shifts, fold_time_signature
from tests.conftest import CORPUS
from tests.model_fixtures import random_note_model

pytest_plugins = ["tests.model_fixtures"]  # the note_model fixture

ENC = NoteEncoding()
MAJOR_SCALE = {0, 2, 4, 5, 7, 9, 11}


@cache
def _style_pieces(style: str) -> tuple[Piece, ...]:
    return tuple(read_midi(f) for f in find_midi_files(CORPUS / style))


def _styles() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and any(p.glob("*.mid")))


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")


# -- the corpus, every style ------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("style", _styles())
def test_round_trip_vocabulary_and_grammar_in_every_style(style):
    pieces = _style_pieces(style)
    kept = total = 0
    size = len(vocabulary(ENC))
    loose = Grammar(ENC, max_chord=128, allow_ts=True, max_empty_bars=10**6)
    used: set[int] = set()
    for piece in pieces:
        k, n = round_trip(piece, ENC)
        kept, total = kept + k, total + n
        toks = encode_piece(piece, ENC)
        used.update(toks.tolist())
        # No token out of vocabulary, by construction: the table is fixed, everything folds onto it.
        assert toks.min() >= 0 and toks.max() < size
        assert toks[0] == token_table(ENC).ts_token(fold_time_signature(_first_ts(piece), ENC))
        assert toks[1] == BAR
        # Every real piece is well formed under the grammar (bars, rising positions, chords
        # highest first), so the sampling mask never forbids what the corpus does.
        state = loose.start()
        for t in toks.tolist():
            assert state.allowed()[t], (piece.path, vocabulary(ENC)[t])
            state.push(t)
        assert count_notes(toks, ENC) == state.notes
    print(f"\n{style}: {kept / total:.3%} of {total} notes kept; {len(used)} of {size} tokens used")
    assert kept / total >= 0.99
    assert size <= 512


def _first_ts(piece: Piece) -> tuple[int, int]:
    return piece.time_signatures[0][1:] if piece.time_signatures else piece.time_signature


def test_vocabulary_is_fixed_and_small():
    names = vocabulary(ENC)
    assert len(names) == len(NoteVocabulary(ENC)) == token_table(ENC).size
    assert 150 <= len(names) <= 250
    assert names[SEP] == "SEP" and names[BAR] == "BAR"
    assert len(set(names)) == len(names)
    assert vocabulary(NoteEncoding.from_dict(ENC.to_dict())) == names  # ids are stable
    assert NoteVocabulary(ENC).to_dict() == {"kind": "notes", "tokens": names}
    with pytest.raises(ValueError):
        NoteEncoding.from_dict({"grid": 24})  # an event encoding is not a note encoding


def test_through_a_midi_file_and_back(tmp_path):
    piece = Piece("x.mid", [Note(72, 0, 1), Note(64, 0, 2), Note(48, 0, 4), Note(74, 1, 1 / 3),
                            Note(76, 4 / 3, 1 / 3), Note(77, 5 / 3, 1 / 3), Note(79, 2.25, 0.25)],
                  time_signatures=[(0.0, 3, 4)], key_signatures=[(0.0, 0, False)])  # fmt: skip
    toks = encode_piece(piece, ENC)
    names = [vocabulary(ENC)[t] for t in toks[:9]]
    assert names == ["TS:3/4", "BAR", "POS:0", "P:72", "D:12", "P:64", "D:24", "P:48", "D:48"]
    out = write_midi(tmp_path / "rt.mid", decode_tokens(toks, ENC, time_signature=(3, 4)), time_signature=(3, 4))
    back = {(n.pitch, round(n.start * 12), round(n.duration * 12)) for n in read_midi(out).notes}
    assert back == {(n.pitch, round(n.start * 12), round(n.duration * 12)) for n in piece.notes}


def test_drums_are_not_pitches_and_the_pedal_lengthens_notes(tmp_path):
    import mido

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("key_signature", key="G", time=0))
    track.append(mido.Message("note_on", channel=9, note=38, velocity=90, time=0))  # a snare
    track.append(mido.Message("note_on", channel=0, note=67, velocity=80, time=0))
    track.append(mido.Message("control_change", channel=0, control=64, value=127, time=0))
    track.append(mido.Message("note_off", channel=0, note=67, velocity=0, time=480))  # held by the pedal
    track.append(mido.Message("note_off", channel=9, note=38, velocity=0, time=0))
    track.append(mido.Message("control_change", channel=0, control=64, value=0, time=480))
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(track)
    mid.save(tmp_path / "d.mid")
    toks = encode_piece(read_midi(tmp_path / "d.mid"), ENC)  # G major → C major, 5 up: 67 → 72
    assert [vocabulary(ENC)[t] for t in toks] == ["TS:4/4", "BAR", "POS:0", "P:72", "D:24"]


def test_time_signature_changes_and_cut_bars_keep_the_bar_lines():
    # A 6/8 tune whose bars are interrupted by a 3/8 bar, then 6/8 again (as in the folk styles).
    notes = [Note(67, 0, 0.5), Note(69, 3, 0.5), Note(71, 4.5, 0.5), Note(72, 7.5, 1.5)]
    piece = Piece("x.mid", notes, time_signatures=[(0.0, 6, 8), (4.5, 3, 8), (6.0, 6, 8)])
    toks = encode_piece(piece, ENC, shift=0)
    names = [vocabulary(ENC)[t] for t in toks]
    assert names.count("BAR") == 4 and "TS:3/8" in names
    back = decode_tokens(toks, ENC, time_signature=(6, 8))
    assert [(n.pitch, n.start, n.duration) for n in back] == [(n.pitch, n.start, n.duration) for n in notes]
    # A 4/2 bar is longer than the longest bar: it is written as two 2/2 bars.
    assert fold_time_signature((4, 2), ENC) == (2, 2)
    assert fold_time_signature((3, 1), ENC) == (3, 2)
    assert fold_time_signature((9, 4), ENC) == (9, 8)
    assert fold_time_signature((5, 32), ENC) == (3, 16)


# -- keys -----------------------------------------------------------------------------------------


def test_a_piece_in_d_major_comes_out_with_c_major_pitch_classes():
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    notes = [Note(p, i, 1) for i, p in enumerate(d_major)]
    piece = Piece("d.mid", notes, key_signatures=[(0.0, 2, False)])
    toks = encode_piece(piece, ENC)
    assert melody_of_tokens(toks, ENC).tolist() == [60, 62, 64, 65, 67, 69, 71, 72]
    # Without a key signature the Krumhansl-Schmuckler estimate finds the same key.
    assert estimate_key(notes).tonic == 2 and not estimate_key(notes).minor
    no_sig = Piece("d.mid", notes)
    assert encode_piece(no_sig, ENC).tolist() == toks.tolist()
    # A minor key moves to A minor (same signature as C major).
    b_minor = Piece("b.mid", notes, key_signatures=[(0.0, 2, True)])
    assert piece_key(b_minor).name == "B minor" and normalising_shift(piece_key(b_minor)) == -2


@needs_corpus
def test_real_chorales_in_d_major_come_out_on_the_white_keys():
    pieces = [p for p in _style_pieces("bach") if p.key_signatures and p.key_signatures[0][1:] == (2, False)]
    assert len(pieces) >= 5
    for piece in pieces[:5]:
        pcs = np.array([n.pitch % 12 for n in piece.notes])
        assert np.isin(pcs, [(p + 2) % 12 for p in MAJOR_SCALE]).mean() > 0.9  # D major in the file
        t = token_table(ENC)
        toks = encode_piece(piece, ENC)
        pitches = toks[(toks >= t.p0) & (toks < t.d0)] - t.p0 + ENC.pitch_low
        assert np.isin(pitches % 12, list(MAJOR_SCALE)).mean() > 0.9  # C major in the tokens
    # The estimate (used where a file has no key signature) mostly agrees with the signatures:
    # 110 of 150 chorales; the others are modal tunes or end in the dominant's key.
    signed = [p for p in _style_pieces("bach") if p.key_signatures]
    agree = [estimate_key(p.notes).major_tonic == piece_key(p).major_tonic for p in signed]
    assert np.mean(agree) >= 0.7


def test_transpose_tokens_shifts_pitches_and_folds_octaves():
    piece = Piece("x.mid", [Note(100, 0, 1), Note(60, 0, 1), Note(40, 1, 1)], key_signatures=[(0.0, 0, False)])
    toks = encode_piece(piece, ENC)
    assert transpose_tokens(transpose_tokens(toks, 5, ENC), -5, ENC).tolist() == toks.tolist()
    up = transpose_tokens(toks, 12, ENC)  # 100 + 12 = 112 leaves the piano: folded back to 100
    assert [(n.pitch, n.start) for n in decode_tokens(up, ENC)] == [(72, 0.0), (100, 0.0), (52, 1.0)]
    # Folding reorders the chord: it is written highest first again.
    assert melody_of_tokens(up, ENC).tolist() == [100, 52]
    assert allowed_shifts(toks, ENC) == list(range(-6, 7))
    high = encode_piece(Piece("h.mid", [Note(106, 0, 1)], key_signatures=[(0.0, 0, False)]), ENC)
    assert allowed_shifts(high, ENC) == list(range(-6, 3))  # 108 is the top of the range


# -- grammar ------------------------------------------------------------------------------------------


def test_a_thousand_random_masked_draws_are_well_formed_and_start_on_a_bar():
    rng = np.random.default_rng(0)
    t = token_table(ENC)
    for ts in [(4, 4), (6, 8), (3, 4)]:
        grammar = Grammar(ENC, time_signature=ts, max_chord=4)
        state = grammar.start()
        seq = [SEP, t.ts_token(ts), BAR]
        for tok in seq:
            state.push(tok)
        for _ in range(1000):
            allowed = np.flatnonzero(state.allowed())
            assert len(allowed)
            tok = int(rng.choice(allowed))
            seq.append(tok)
            state.push(tok)
        body = seq[1:]
        assert vocabulary(ENC)[body[0]] == f"TS:{ts[0]}/{ts[1]}" and body[1] == BAR
        assert all(t.kind_of(x) != "TS" for x in body[1:])  # the metre never changes
        _assert_well_formed(body, ts, max_chord=4)


def _assert_well_formed(body: list[int], ts: tuple[int, int], max_chord: int) -> None:
    t = token_table(ENC)
    bar_len = t.bar_steps(ts)
    kinds = [t.kind_of(x) for x in body]
    notes = decode_tokens(body, ENC, time_signature=ts)
    assert len(notes) == count_notes(body, ENC) == kinds.count("P") == kinds.count("D") - (kinds[-1] == "P")
    pos, chord, last = -1, 0, 999
    for i, (tok, kind) in enumerate(zip(body, kinds, strict=True)):
        if kind == "BAR":
            pos = -1
        elif kind == "POS":
            k = tok - t.pos0
            assert pos < k < bar_len  # rising within the bar, inside it
            pos, chord, last = k, 0, 999
        elif kind == "P":
            assert kinds[i - 1] in ("POS", "D")
            assert tok < last  # highest first
            chord, last = chord + 1, tok
            assert chord <= max_chord
        elif kind == "D":
            assert kinds[i - 1] == "P"


def test_decoding_is_tolerant_of_any_token_sequence():
    rng = np.random.default_rng(1)
    size = token_table(ENC).size
    for _ in range(50):
        toks = rng.integers(0, size + 5, 200)
        notes = decode_tokens(toks, ENC, key=3)
        assert all(0 <= n.pitch <= 127 and n.duration > 0 and n.start >= 0 for n in notes)


# -- melody guards, on real pieces ------------------------------------------------------------------


@needs_corpus
def test_a_borrowed_tune_with_a_new_rhythm_and_key_is_caught():
    pieces = list(_style_pieces("irish"))
    train, val = pieces[:170], pieces[170:]
    limit = melodic_copy_limit(train, val, ENC)
    assert 6 <= limit <= 40
    index = melody_index(train, ENC)
    # A training tune's melody, three semitones up, every note a plain quarter: new rhythm.
    tune = melody_of_piece(train[5], ENC)[:60] + 3
    new_rhythm = Piece("borrowed.mid", [Note(int(p), i, 1) for i, p in enumerate(tune)], key_signatures=[(0.0, 0, False)])
    match = index.longest_match(melody_of_piece(new_rhythm, ENC))
    assert match.length >= 60 and match.source == Path(train[5].path).name
    # The guard blocks the note that would take the borrowed run past the limit.
    state = _melody_state(index, limit)
    blocked_at = None
    for i, p in enumerate(tune.tolist()):
        if state.token_of(p) in state.copy_blocks().tolist():
            blocked_at = i
            break
        state.push(p)
    assert blocked_at is not None and blocked_at <= limit


@needs_corpus
@pytest.mark.parametrize("style", ["irish", "german_folk", "bach"])
def test_real_validation_pieces_pass_the_melodic_guard(style):
    pieces = list(_style_pieces(style))
    cut = int(len(pieces) * 0.85)
    train, val = pieces[:cut], pieces[cut:]
    limit = melodic_copy_limit(train, val, ENC)
    index = melody_index(train, ENC)
    state = _melody_state(index, limit, same_pitch=None)
    for piece in val[:6]:
        state.reset()
        for p in melody_of_piece(piece, ENC).tolist():
            assert state.token_of(p) not in state.copy_blocks().tolist()
            state.push(p)


def test_same_pitch_guard_blocks_only_past_the_limit():
    state = _melody_state(None, None, same_pitch=3)
    for p in (60, 62, 62, 62):
        state.push(p)
    assert state.loop_block() == state.token_of(62)
    state.push(64)
    assert state.loop_block() is None


def _melody_state(index, limit, same_pitch=None) -> MelodyGuardState:
    t = token_table(ENC)
    guards = MelodyGuards(index=index, copy_limit=limit, same_pitch_limit=same_pitch)
    return MelodyGuardState(guards, t.p0, ENC.pitch_low, ENC.pitch_high - ENC.pitch_low + 1)


def test_training_stream_separates_pieces():
    a = Piece("a.mid", [Note(60, 0, 1)], key_signatures=[(0.0, 0, False)])
    b = Piece("b.mid", [Note(62, 0, 1), Note(64, 1, 1)], key_signatures=[(0.0, 0, False)])
    tokens, offsets = tokenize_note_pieces([a, b], ENC)
    assert offsets.tolist() == [0, 6, 15]  # TS BAR POS P D (POS P D) SEP
    assert tokens[5] == SEP and tokens[-1] == SEP and (tokens == SEP).sum() == 2


# -- composing with a note model (NumPy only) -----------------------------------------------------------


def test_same_seed_same_bytes_and_the_style_metre(note_model, tmp_path):
    a = compose("bach", ComposeOptions(seed=5, length=120, out_path=tmp_path / "a.mid"), model_path=note_model)
    b = compose("bach", ComposeOptions(seed=5, length=120, out_path=tmp_path / "b.mid"), model_path=note_model)
    c = compose("bach", ComposeOptions(seed=6, length=120, out_path=tmp_path / "c.mid"), model_path=note_model)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    assert a.report["notes"] == a.events == 120
    piece = read_midi(a.path)
    assert len(piece.notes) == a.report["notes"]
    assert piece.time_signatures == [(0.0, 4, 4)]
    # It starts on the bar line: every chorale's first note is on beat 1, so the opening's is.
    assert min(n.start for n in piece.notes) == 0.0
    assert a.report["longest_repeat"] <= a.report["guards"]["max_run"]


@needs_corpus
def test_a_folk_style_composes_in_its_own_metre_and_keys(tmp_path):
    model = random_note_model(tmp_path / "irish.lstmc", style="irish", n_train=40, n_val=8)
    result = compose("irish", ComposeOptions(seed=1, seconds=20, variations=3, out_path=tmp_path / "i.mid"), model_path=model)
    profile = load_model(model).manifest["encoding"]["profile"]
    manifest_keys = profile["key_names"]
    # The profile keeps the pieces' opening metres; each composition draws its own from them.
    metres = Counter(_first_ts(p) for p in _style_pieces("irish")[:40])
    assert tuple(profile["time_signature"]) == metres.most_common(1)[0][0] != (4, 4)
    assert {tuple(map(int, m.split("/"))) for m in profile["metres"]} == {fold_time_signature(m, ENC) for m in metres}
    for k, path in enumerate(result.variations):
        piece = read_midi(path)
        [(start, *ts)] = piece.time_signatures
        assert start == 0.0 and f"{ts[0]}/{ts[1]}" in profile["metres"]
        rep = result.report["variations"][k] if k else result.report
        assert rep["time_signature"] == f"{ts[0]}/{ts[1]}"
        assert rep["key_signature"].split(" / ")[0] in manifest_keys.values()
        bar_seconds = token_table(ENC).bar_steps(tuple(ts)) / ENC.grid * 60 / rep["tempo"]
        # Up to the first bar line past 20 s (at most one empty bar before it); the last notes may ring on.
        assert 20 - 2 * bar_seconds <= rep["seconds"] <= 20 + 10


def test_a_midi_primer_is_continued_in_its_key(note_model, tmp_path):
    primer = tmp_path / "primer.mid"
    e_major = [64, 66, 68, 69, 71, 73, 75, 76]
    write_midi(primer, [Note(p, i, 1) for i, p in enumerate(e_major)], time_signature=(3, 4))
    result = compose("bach", ComposeOptions(seed=2, length=60, primer=primer, out_path=tmp_path / "p.mid"), model_path=note_model)
    assert "primer.mid" in result.report["primer"]
    assert result.report["key_signature"].startswith("E major")
    assert read_midi(result.path).time_signatures == [(0.0, 3, 4)]


def test_composing_a_note_model_imports_no_tensorflow(note_model, tmp_path):
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from hostapi.results import ComposeOptions\n"
        "from lstm_composer_plugin.compose.composer import compose\n"
        f"r = compose('bach', ComposeOptions(seed=4, length=50, out_path=Path('x.mid')), model_path=Path({str(note_model)!r}))\n"
        "print(json.dumps([r.report['notes'], sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    notes, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert notes == 50 and heavy == []


def test_a_note_model_whose_table_and_network_disagree_is_a_one_line_error(note_model, tmp_path):
    from lstm_composer_plugin.errors import ModelFileError
    from lstm_composer_plugin.modelfile import save_model

    model = load_model(note_model)
    manifest = dict(model.manifest)
    manifest["encoding"] = {**manifest["encoding"], "max_bar_quarters": 4}  # 24 fewer POS tokens
    bad = save_model(tmp_path / "bad.lstmc", manifest, model.arrays)
    with pytest.raises(ModelFileError, match="disagree"):
        compose("bach", ComposeOptions(seed=1, length=10, out_path=tmp_path / "x.mid"), model_path=bad)


def test_register_follows_the_styles_pieces_in_the_chosen_key(corpus_dir):
    """A style's G major pieces sit where they were written, not where C-normalised training left them."""
    from lstm_composer_plugin.compose.note_composer import in_style_register
    from lstm_composer_plugin.music import style_profile

    pieces = [read_midi(p) for p in find_midi_files(corpus_dir / "german_folk")[:60]]
    prof = style_profile(pieces)
    in_g = [float(np.mean([n.pitch for n in p.notes])) for p in pieces if piece_key(p).major_tonic == 7]
    assert prof.registers[7] == pytest.approx(np.mean(in_g), abs=0.01)
    low = [Note(int(round(prof.registers[7])) - 10 + i % 3, i * 0.5, 0.5) for i in range(40)]
    moved = in_style_register(low, prof, key=-5)  # G major, reached by the smallest step down
    assert [n.pitch - m.pitch for n, m in zip(moved, low, strict=True)] == [12] * 40
    near = [Note(int(round(prof.registers[7])) - 5, i * 0.5, 0.5) for i in range(40)]
    assert in_style_register(near, prof, key=-5) == near  # within a sixth: stays put
    assert in_style_register(low, prof, key=1) == low  # a key the style has no pieces in: unchanged
