"""Bar-level controls (music/controls.py): density classes, chord recognition, the roman-numeral
plan, the encoding with controls on the real corpus, the grammar that keeps a bar to them, and
composing with a plan (random-weight note models written with NumPy: no TensorFlow)."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from hostapi.results import ComposeOptions
from lstm_composer_plugin.compose.composer import compose
from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.music.controls import (
    DENSITY_EDGES,
    N_CHORDS,
    N_DENSITY,
    NO_CHORD,
    ControlPlan,
    bar_clashes,
    chord_index,
    chord_name,
    chord_root,
    density_class,
    feasible_classes,
    onset_bounds,
    parse_chords,
    recognise_chord,
)
from lstm_composer_plugin.music.corpus import find_midi_files
from lstm_composer_plugin.music.grammar import Grammar
from lstm_composer_plugin.music.midi import Piece, read_midi
from lstm_composer_plugin.music.notes import (
    BAR,
    NoteEncoding,
    bar_report,
    count_notes,
    decode_tokens,
    encode_piece,
    read_bars,
    round_trip,
    token_table,
    transpose_tokens,
    vocabulary,
)
from tests.conftest import CORPUS, REPO

pytest_plugins = ["tests.model_fixtures"]  # the note_model and control_model fixtures

CTL = NoteEncoding(controls=True)
PLAIN = NoteEncoding()


@cache
def _pieces(style: str, n: int = 1000) -> tuple[Piece, ...]:
    folder = CORPUS / style
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder}")
    return tuple(read_midi(f) for f in find_midi_files(folder)[:n])


def _pcs(*names: str) -> np.ndarray:
    w = np.zeros(12)
    for n in names:
        w[["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"].index(n)] += 1
    return w


# -- the descriptors -----------------------------------------------------------------------------


def test_density_classes_and_their_onset_bounds_agree_for_every_bar_length():
    assert density_class(0, 4) == 0 and density_class(4, 4) == DENSITY_EDGES.index(1.0) + 1
    assert density_class(100, 1) == N_DENSITY - 1
    grid = 12
    for bar in range(1, 6 * grid + 1):
        offered = feasible_classes(bar, grid)
        assert offered, bar
        for k in range(N_DENSITY):
            fewest, most = onset_bounds(k, bar, grid)
            for onsets in range(0, bar + 1):
                inside = fewest <= onsets <= most
                # A whole number of onsets is in the class's bounds exactly when it measures as the class.
                assert inside == (density_class(onsets, bar / grid) == k), (bar, k, onsets)
            assert (k in offered) == (fewest <= most)


def test_chord_templates_root_quality_bass_and_no_chord():
    assert chord_name(recognise_chord(_pcs("C", "E", "G"))) == "C:maj"
    assert chord_name(recognise_chord(_pcs("A", "C", "E"))) == "A:min"
    assert chord_name(recognise_chord(_pcs("G", "B", "D", "F"))) == "G:7"
    assert chord_name(recognise_chord(_pcs("B", "D", "F"))) == "B:dim"
    assert chord_name(recognise_chord(_pcs("C", "E", "G", "D"))) == "C:maj"  # a passing D is no chord tone
    # C-E-G-A is C major (6th as non-chord tone) until A is the bass: then A minor seventh reads as A minor.
    bass = np.zeros(12)
    bass[9] = 3
    assert chord_name(recognise_chord(_pcs("A", "C", "E", "G"), bass)) == "A:min"
    assert recognise_chord(np.zeros(12)) == NO_CHORD and chord_root(NO_CHORD) is None


def test_roman_numerals_parse_into_the_normalised_key():
    assert parse_chords("I vi IV V") == ([(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")], False)
    assert parse_chords("i iv V7 i") == ([(0, "min"), (5, "min"), (7, "7"), (0, "min")], True)
    assert parse_chords("bVII, vii°, viio") == ([(10, "maj"), (11, "dim"), (11, "dim")], False)
    plan = ControlPlan.from_options(None, "i iv V7 i")
    # A minor progression stands on A (the normalised minor key), a major one on C.
    assert [chord_name(c) for c in plan.chords] == ["A:min", "D:min", "E:7", "A:min"]
    assert [chord_name(c) for c in ControlPlan.from_options(None, "I V").chords] == ["C:maj", "G:maj"]
    assert ControlPlan.from_options(None, None) is None
    for bad in ("I X V", "", "H"):
        with pytest.raises(ValueError):
            parse_chords(bad)


# -- the encoding on the real corpus --------------------------------------------------------------


STYLES = ["bach", "irish", "chopin", "german_folk", "lullabies"]


@pytest.mark.parametrize("style", STYLES)
def test_controls_are_well_formed_keep_every_note_and_describe_their_bars(style):
    pieces = _pieces(style, 25)
    t = token_table(CTL)
    loose = Grammar(CTL, max_chord=128, allow_ts=True, max_empty_bars=10**6)
    kept = total = 0
    for piece in pieces:
        toks = encode_piece(piece, CTL)
        plain = encode_piece(piece, PLAIN)
        # The controls are added tokens: without them the stream is exactly the plain encoding.
        is_ctl = toks >= t.den0
        assert np.array_equal(toks[~is_ctl], plain)
        assert is_ctl.sum() == 3 * int((toks == BAR).sum())
        assert count_notes(toks, CTL) == count_notes(plain, PLAIN)
        assert decode_tokens(toks, CTL) == decode_tokens(plain, PLAIN)
        # Each BAR is followed by DEN CH TEX, and the grammar (which bounds the bar by its
        # density class) allows every real bar.
        for i in np.flatnonzero(toks == BAR):
            assert [t.kind_of(int(x)) for x in toks[i + 1 : i + 4]] == ["DEN", "CH", "TEX"]
        state = loose.start()
        for tok in toks.tolist():
            assert state.allowed()[tok], (piece.path, vocabulary(CTL)[tok], state.onsets, state.fewest, state.most)
            state.push(tok)
        # Measured again from the tokens, every bar has exactly the controls written for it.
        report = bar_report(toks, CTL, _first_ts(piece))
        assert report["density_kept"] == report["chord_root_kept"] == report["texture_kept"] == 1.0
        k, n = round_trip(piece, CTL)
        kept, total = kept + k, total + n
    assert kept / total >= 0.99


def _first_ts(piece: Piece) -> tuple[int, int]:
    return piece.time_signatures[0][1:] if piece.time_signatures else piece.time_signature


def test_transposing_moves_chord_roots_with_the_notes():
    piece = _pieces("bach", 1)[0]
    toks = encode_piece(piece, CTL)
    up = transpose_tokens(toks, 2, CTL)
    t = token_table(CTL)
    names = vocabulary(CTL)
    for a, b in zip(toks.tolist(), up.tolist(), strict=True):
        if t.kind_of(a) == "CH" and a - t.ch0 != NO_CHORD:
            ra, rb = chord_root(a - t.ch0), chord_root(b - t.ch0)
            assert rb == (ra + 2) % 12 and names[a].split(":")[2] == names[b].split(":")[2]
    assert np.array_equal(transpose_tokens(up, -2, CTL), toks)


def test_chorale_bars_name_the_tonic_and_dominant_most():
    """In C major / A minor (normalised), the chorales' bar chords are mostly I, V(7), vi, IV, ii, iii."""
    counts: dict[int | None, int] = {}
    t = token_table(CTL)
    for piece in _pieces("bach", 60):
        toks = encode_piece(piece, CTL)
        for tok in toks[(toks >= t.ch0) & (toks < t.tex0)].tolist():
            root = chord_root(tok - t.ch0)
            counts[root] = counts.get(root, 0) + 1
    total = sum(counts.values())
    diatonic = sum(counts.get(r, 0) for r in (0, 2, 4, 5, 7, 9, 11))
    assert diatonic / total >= 0.85
    top = sorted(counts, key=counts.get, reverse=True)[:3]
    assert set(top) <= {0, 7, 9, 4, 2}  # C, G, A (and E, D, the dominants of the minor and relative keys)


# -- composing with a plan -------------------------------------------------------------------------


def _bars(tokens: list[int], enc: NoteEncoding, ts: tuple[int, int]) -> list[dict]:
    """(onsets, DEN, CH) of every composed bar."""
    t = token_table(enc)
    out: list[dict] = []
    for tok in tokens:
        kind = t.kind_of(tok)
        if kind == "BAR":
            out.append({"onsets": 0})
        elif out and kind == "DEN":
            out[-1]["DEN"] = tok - t.den0
        elif out and kind == "CH":
            out[-1]["CH"] = tok - t.ch0
        elif out and kind == "POS":
            out[-1]["onsets"] += 1
    return out


def test_the_network_chooses_its_controls_and_the_grammar_keeps_each_bar_to_its_density(control_model, tmp_path):
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import NoteModel, compose_notes
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model

    model = load_model(control_model)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, control_model, net.n_vocab)
    takes, primer = compose_notes(
        net, nm, options=ComposeOptions(length=300), settings=SamplingSettings(), seed=3, variations=2,
        bpm=100.0, primer_piece=None, guard_overrides={},
    )
    grid = CTL.grid
    for take, ts in zip(takes, primer.time_signatures, strict=True):
        bars = _bars(take.tokens, CTL, ts)
        assert len(bars) >= 10
        bar = token_table(CTL).bar_steps(ts)
        for b in bars[:-1]:  # the last bar may be cut off by the length
            fewest, most = onset_bounds(b["DEN"], bar, grid)
            assert fewest <= b["onsets"] <= most
        report = take.report["bar_controls"]
        assert report["bars"] >= len(bars) - 2 and report["density_kept"] >= 0.9


@pytest.mark.parametrize("density", [0.8, 2.5])
def test_density_asked_is_density_composed(control_model, tmp_path, density):
    result = compose("bach", ComposeOptions(seed=11, length=400, density=density, out_path=tmp_path / "d.mid"),
                     model_path=control_model)
    got = result.report["bar_controls"]["onsets_per_quarter"]
    assert abs(got - density) <= 0.25 * density, got
    # The written MIDI agrees: onsets per quarter note over the whole bars.
    piece = read_midi(result.path)
    onsets = {round(n.start * 12) for n in piece.notes}
    bar = piece.time_signature[0] * 4 / piece.time_signature[1]
    whole = math.floor(max(onsets) / 12 / bar)
    inside = [o for o in onsets if o < whole * bar * 12]
    assert abs(len(inside) / (whole * bar) - density) <= 0.25 * density


def test_chords_asked_are_written_for_every_bar_in_order(control_model, tmp_path):
    result = compose("bach", ComposeOptions(seed=4, length=200, chords="I vi IV V7", out_path=tmp_path / "c.mid"),
                     model_path=control_model)
    assert result.report["bar_controls"]["bars"] >= 8
    # Read the plan back from the tokens the composer wrote (a second composition with the same seed).
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import NoteModel, compose_notes
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model

    model = load_model(control_model)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, control_model, net.n_vocab)
    takes, primer = compose_notes(
        net, nm, options=ComposeOptions(length=200, chords="I vi IV V7"), settings=SamplingSettings(), seed=4,
        variations=1, bpm=100.0, primer_piece=None, guard_overrides={},
    )
    chords = [b["CH"] for b in _bars(takes[0].tokens, CTL, primer.time_signatures[0]) if "CH" in b]
    want = [chord_index(0, "maj"), chord_index(9, "min"), chord_index(5, "maj"), chord_index(7, "7")]
    assert chords == [want[i % 4] for i in range(len(chords))]


def test_bars_that_miss_their_controls_are_drawn_again(control_model):
    """``bar_retries``: a bar whose notes miss its density class or chord root is drawn again from its
    bar line; the bars kept follow their controls more often, and the same seed still gives the same
    tokens. The report's figures are measured on the tokens written (``bar_report``), not trusted."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import NoteModel, compose_notes
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model

    model = load_model(control_model)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, control_model, net.n_vocab)

    def takes(retries: int) -> list:
        out, primer = compose_notes(
            net, nm, options=ComposeOptions(length=300), settings=SamplingSettings(), seed=5, variations=3,
            bpm=100.0, primer_piece=None, guard_overrides={"bar_retries": retries, "clashes": None},
        )
        for take, ts in zip(out, primer.time_signatures, strict=True):
            assert take.report["bar_controls"] == bar_report(take.tokens, CTL, ts)
            assert count_notes(take.tokens, CTL) == 300
        return out

    def kept(ts: list) -> float:
        bars = [t.report["bar_controls"] for t in ts]
        return sum(b["chord_root_kept"] * b["bars"] for b in bars) / sum(b["bars"] for b in bars)

    plain, retried = takes(0), takes(4)
    assert kept(retried) >= kept(plain) + 0.15, (kept(plain), kept(retried))
    assert all(t.report["bar_controls"]["density_kept"] >= 0.9 for t in retried)
    assert [t.tokens for t in takes(4)] == [t.tokens for t in retried]


def test_semitone_clashes_are_counted_among_the_notes_sounding_at_each_onset():
    """A bar's clashes: pairs a semitone apart in pitch class (a minor ninth, a major seventh too), at each
    onset of the bar, among the notes sounding there, earlier bars' held notes included."""
    assert bar_clashes([(0, {60: 12, 61: 12})]) == 1
    assert bar_clashes([(0, {60: 12, 71: 12, 73: 12})]) == 2  # C-B a major seventh, C-C# a minor ninth
    assert bar_clashes([(0, {60: 12, 72: 12, 64: 12})]) == 0
    # B held from the bar before clashes with the C struck under it, and is gone by step 6.
    assert bar_clashes([(0, {60: 6}), (6, {61: 6})], held=[(-6, 59, 12)]) == 1
    # A note of the bar still sounding when a clashing one is struck counts at that onset only.
    assert bar_clashes([(0, {60: 12}), (6, {61: 6}), (9, {64: 3})]) == 2


def test_the_style_profile_says_how_its_bars_clash():
    """``bar_clash_profile``: the chorales' mean semitone clashes per bar, and the limit, the fewest clashes
    that at most ``CLASH_TAIL`` of their bars reach (one fewer is reached by more)."""
    from lstm_composer_plugin.music.profile import CLASH_TAIL, bar_clash_profile

    streams = [encode_piece(p, CTL) for p in _pieces("bach", 30)]
    got = bar_clash_profile(streams, CTL)
    counts = np.array([bar_clashes(b["inside"], b["held"]) for t in streams for b in read_bars(t, CTL) if b["inside"]])
    assert got["mean"] == pytest.approx(counts.mean(), abs=1e-4) and 0.1 < got["mean"] < 2.0
    k = int(got["limit"])
    assert (counts >= k).mean() <= CLASH_TAIL < (counts >= k - 1).mean() and k >= 2  # chorales do clash
    assert bar_clash_profile([], CTL) == {}


def test_a_model_that_clashes_more_than_its_style_has_its_clashing_bars_drawn_again():
    """The bundled chorale model writes about 1.5 times the chorales' semitone clashes per bar
    (``own_clashes``, what shipping a model stores in its profile). With the style's figures in the profile,
    a bar at the style's limit is drawn again (within the bar retries) while its row has clashed more per
    bar than the style: the compositions come down toward the chorales' mean, and the same seed still gives
    the same tokens. A model near its style's mean (below ``CLASH_EXCESS`` times it) is left alone."""
    from dataclasses import replace

    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import (
        CLASH_EXCESS,
        NoteModel,
        compose_notes,
        own_clashes,
    )
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model
    from lstm_composer_plugin.models import bundled_models
    from lstm_composer_plugin.music.profile import bar_clash_profile

    path = bundled_models()["bach"]
    model = load_model(path)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, path, net.n_vocab)
    # The chorales it learnt from, as training measures them (the figures its profile holds).
    streams = np.split(model.arrays["corpus.tokens"], model.arrays["corpus.offsets"][1:-1])
    style = bar_clash_profile(streams, nm.encoding)
    own = own_clashes(net, nm)
    assert own > CLASH_EXCESS * style["mean"], (own, style)
    assert {k: v for k, v in nm.profile.clashes.items() if k != "model"} in ({}, style)

    def per_bar(clashes: dict) -> tuple[float, list]:
        m = NoteModel(nm.encoding, replace(nm.profile, clashes=clashes), nm.melody)
        takes, primer = compose_notes(
            net, m, options=ComposeOptions(length=300), settings=SamplingSettings(), seed=1, variations=10,
            bpm=100.0, primer_piece=None, guard_overrides={},
        )
        counts = [bar_clashes(b["inside"], b["held"])
                  for t, ts in zip(takes, primer.time_signatures, strict=True)
                  for b in read_bars(t.tokens, nm.encoding, ts) if b["inside"]]
        return float(np.mean(counts)), [t.tokens for t in takes]

    on, tokens = per_bar({**style, "model": own})
    off, off_tokens = per_bar({})
    assert on < style["mean"] * 1.15 and on < off * 0.85, (on, off, style)
    assert per_bar({**style, "model": own})[1] == tokens
    # Near its style's mean, nothing is drawn again: the same notes as with no clash figures at all.
    assert per_bar({**style, "model": style["mean"] * 1.1})[1] == off_tokens


def test_the_style_profile_says_how_its_bars_are_spread_over_the_density_classes():
    """``bar_density_shares``: the share of the bars written with each density class, read off the density
    controls training writes in front of each bar (here 30 chorales: mostly one to two onsets a quarter)."""
    from lstm_composer_plugin.music.profile import bar_density_shares

    streams = [encode_piece(p, CTL) for p in _pieces("bach", 30)]
    shares = np.asarray(bar_density_shares(streams, CTL))
    dens = [b["DEN"] for t in streams for b in read_bars(t, CTL) if "DEN" in b]
    assert len(shares) == N_DENSITY and shares.sum() == pytest.approx(1.0, abs=1e-3)
    assert shares == pytest.approx(np.bincount(dens, minlength=N_DENSITY) / len(dens), abs=1e-4)
    one_to_two = density_class(4, 4), density_class(7, 4)  # 1 to 1.75 onsets a quarter
    assert shares[one_to_two[0] : one_to_two[1] + 1].sum() > 0.5
    assert bar_density_shares([], CTL) == []


def test_a_model_far_busier_than_its_style_has_its_density_control_corrected():
    """The published lullabies model, fine-tuned briefly from the dense corpus-wide network, chose its bars'
    density classes nearly like the corpus, not like its lullabies (``own_figures``: 4 % of bars in the two
    sparsest classes against the lullabies' 48 %). Shipping found a correction of the density control's logits
    (``shipping_figures``, in its profile); with it the compositions' bars are spread over the classes much
    closer to the lullabies' (how close moves from seed to seed: a bar's class leans on the bars before it), the same seed gives the same tokens, and ``extra={"density_bias": None}`` gives the
    network's own choice back."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import DENSITY_GAP, NoteModel, compose_notes
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model
    from lstm_composer_plugin.music.profile import bar_density_shares

    path = sorted((Path(__file__).resolve().parents[1] / "catalogue" / "models").glob("lullabies-*.lstmc"))[-1]
    model = load_model(path)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, path, net.n_vocab)
    figures = nm.profile.density
    style, own = np.asarray(figures["style"]), np.asarray(figures["model"])
    assert 0.5 * np.abs(style - own).sum() >= DENSITY_GAP and len(figures["bias"]) == N_DENSITY

    def shares(overrides: dict) -> tuple[np.ndarray, list]:
        takes, _ = compose_notes(net, nm, options=ComposeOptions(seconds=60), settings=SamplingSettings(), seed=3,
                                 variations=20, bpm=nm.profile.bpm, primer_piece=None, guard_overrides=overrides)
        return np.asarray(bar_density_shares([t.tokens for t in takes], nm.encoding)), [t.tokens for t in takes]

    on, tokens = shares({})
    off, _ = shares({"density_bias": None})
    gap_on, gap_off = 0.5 * np.abs(style - on).sum(), 0.5 * np.abs(style - off).sum()
    assert gap_on < 0.25 and gap_on < 0.6 * gap_off, (gap_on, gap_off)  # seed 3: 0.19 against 0.41
    # The sparse bars a lullaby is made of (under 0.75 onsets a quarter): at least half the way to the style's.
    sparse = on[:2].sum(), off[:2].sum(), style[:2].sum()
    assert sparse[0] - sparse[1] > 0.5 * (sparse[2] - sparse[1]), sparse
    assert shares({})[1] == tokens
    with pytest.raises(UsageError, match="density_bias: a list of 11 numbers"):
        shares({"density_bias": [1.0, 2.0]})
    from lstm_composer_plugin.compose.note_composer import density_bias
    from lstm_composer_plugin.errors import ModelFileError

    with pytest.raises(ModelFileError, match="density correction has 3 classes, not 11"):
        density_bias({**figures, "bias": [0.0, 1.0, 2.0]}, {})


def test_same_seed_same_bytes_with_controls_and_a_plan(control_model, tmp_path):
    opts = {"seed": 9, "length": 150, "density": 1.5, "chords": "i iv V i"}
    a = compose("bach", ComposeOptions(out_path=tmp_path / "a.mid", **opts), model_path=control_model)
    b = compose("bach", ComposeOptions(out_path=tmp_path / "b.mid", **opts), model_path=control_model)
    assert a.path.read_bytes() == b.path.read_bytes()


def test_a_plan_for_a_model_without_controls_or_bad_chords_is_a_one_line_error(note_model, control_model, tmp_path):
    with pytest.raises(UsageError, match="bar controls"):
        compose("bach", ComposeOptions(seed=1, density=1.0, out_path=tmp_path / "x.mid"), model_path=note_model)
    with pytest.raises(UsageError, match="cannot read chord 'X'"):
        compose("bach", ComposeOptions(seed=1, chords="I X", out_path=tmp_path / "y.mid"), model_path=control_model)
    with pytest.raises(UsageError, match="density"):
        compose("bach", ComposeOptions(seed=1, density=40, out_path=tmp_path / "z.mid"), model_path=control_model)
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_profile_measures_harmony_and_composing_keeps_to_it(control_model):
    """Chord tones and lower notes that fit the sounding chord at least at the style's rates; without
    the pull the same (random-weight) network writes fewer of both."""
    from dataclasses import replace

    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import NoteModel, compose_notes
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model
    from lstm_composer_plugin.music.grammar import harmony_rates

    model = load_model(control_model)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, control_model, net.n_vocab)
    style = nm.profile.harmony
    assert set(style) == {"melody_chord_tone", "lower_chord_tone", "lower_fits", "lower_clear", "melody_near",
                          "lower_near", "melody_moves", "melody_clear", "melody_fits"}
    assert 0.4 < style["melody_chord_tone"] < 0.8 and style["lower_fits"] > 0.6  # chorales

    def rates(profile_harmony: dict) -> dict:
        m = NoteModel(nm.encoding, replace(nm.profile, harmony=profile_harmony), nm.melody)
        takes, _ = compose_notes(net, m, options=ComposeOptions(length=600), settings=SamplingSettings(), seed=2,
                                 variations=8, bpm=100.0, primer_piece=None,
                                 guard_overrides={"harmony": list(profile_harmony)})  # all, not the default two
        return harmony_rates([t.tokens for t in takes], Grammar(nm.encoding, max_chord=8))

    pulled, free = rates(style), rates({})
    # Each draw meets the rate in expectation; over ~1,000 melody notes a share may fall ~0.03 short.
    assert pulled["melody_chord_tone"] >= style["melody_chord_tone"] - 0.05
    assert pulled["lower_chord_tone"] >= style["lower_chord_tone"] - 0.05
    for name in ("lower_fits", "melody_near", "lower_near", "melody_moves"):
        assert pulled[name] >= style[name] - 0.05, name
    # Where everything sounding already spans most pitch classes (random weights hold long
    # clusters), no pitch is clear of a semitone: then the pull has nothing to choose from.
    assert pulled["lower_clear"] >= style["lower_clear"] - 0.08
    assert free["lower_clear"] < pulled["lower_clear"]
    assert free["melody_chord_tone"] < pulled["melody_chord_tone"]
    assert free["lower_fits"] < pulled["lower_fits"]
    # The melody over held notes is kept to the style's rates by a controller: it acts only while the row's
    # recent melody notes fall short, so a row already at the rate is left alone...
    for name in ("melody_fits", "melody_clear"):
        assert pulled[name] >= min(style[name], free[name]) - 0.08, name
    # ...and one below it is raised toward it (a rate above what this network writes by itself).
    target = min(0.99, free["melody_fits"] + 0.15)
    raised = rates({"melody_fits": target})
    assert raised["melody_fits"] > free["melody_fits"] + 0.05


def test_repeated_melody_notes_are_kept_to_the_styles_share():
    """The published chopin (bar controls) strikes its melody notes again far more often than Chopin does;
    the default pull keeps the share of melody steps that move to the style's, and without it they repeat."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import NoteModel, compose_notes
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model
    from lstm_composer_plugin.music.melody import melody_of_tokens

    path = next((REPO / "catalogue" / "models").glob("chopin-*.lstmc"))
    model = load_model(path)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, path, net.n_vocab)
    style = nm.melody.moves_rate()
    assert 0.85 < style < 0.98

    def moves(overrides: dict) -> float:
        takes, _ = compose_notes(net, nm, options=ComposeOptions(length=400), settings=SamplingSettings(), seed=3,
                                 variations=6, bpm=100.0, primer_piece=None, guard_overrides=overrides)
        steps = np.concatenate([np.diff(melody_of_tokens(t.tokens, nm.encoding)) for t in takes])
        return float(np.mean(steps != 0))

    pulled, free = moves({}), moves({"harmony": ["lower_fits", "lower_clear"]})
    assert free < style - 0.04  # the network alone repeats too often
    assert abs(pulled - style) < 0.03 and pulled > free


def test_the_learnt_bar_planner_plans_bars_the_composition_follows():
    """``extra={"planner": "ngram"}``: each bar's density class and chord drawn from an n-gram over the training
    pieces' bars (measured worse than the network's own controls, so not the default: docs/bar-controls.md)."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import NoteModel, compose_notes, planned
    from lstm_composer_plugin.compose.sampling import SamplingSettings
    from lstm_composer_plugin.modelfile import load_model
    from lstm_composer_plugin.music.planner import PHRASE, BarPlanner, bars_of

    path = next((REPO / "catalogue" / "models").glob("irish-*.lstmc"))
    model = load_model(path)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, path, net.n_vocab)
    pieces = bars_of(*nm.corpus, nm.encoding)
    assert len(pieces) > 50 and all(0 <= d < N_DENSITY and 0 <= c < N_CHORDS for p in pieces for d, c in p)
    planner = BarPlanner.fit(pieces)
    a = planner.plan(32, np.random.default_rng(1))
    assert a == planner.plan(32, np.random.default_rng(1))  # the seed's plan
    # Every planned bar continues a context the pieces have (the n-gram never invents a bar).
    seen = {bar for p in pieces for bar in p}
    assert set(a) <= seen and len(set(a)) > 3
    assert {k % PHRASE for k in range(32)} == {0, 1, 2, 3}

    plan = planned(nm, "ngram", seed=4)
    takes, _ = compose_notes(net, nm, options=ComposeOptions(length=200), settings=SamplingSettings(), seed=4,
                             variations=2, bpm=100.0, primer_piece=None, guard_overrides={"planner": "ngram"})
    for take in takes:
        report = take.report["bar_controls"]
        bars = bars_of(take.tokens, [0, len(take.tokens)], nm.encoding)[0]
        assert [c for _, c in bars] == list(plan.chords[: len(bars)])  # from the first bar on
        # A planned density class a bar of this metre cannot hold is left to the network.
        kept = np.mean([d == k for (d, _), k in zip(bars, plan.classes, strict=False)])
        assert kept > 0.6
        assert 0 < report["bars"] <= len(bars) and report["density_kept"] > 0.9
    with pytest.raises(UsageError, match="planner: 'ngram' or none"):
        planned(nm, "markov", seed=1)


def test_after_an_empty_bar_the_grammar_offers_no_empty_density_class():
    """Found composing chinese_folk: an empty bar, then a zero-onset class for the next one, left the grammar
    nothing to allow (no position: the class holds none; no bar line: two empty bars in a row)."""
    enc = NoteEncoding(controls=True)
    t = token_table(enc)
    ts, steps = (3, 8), t.bar_steps((3, 8))  # a short bar: its lowest class holds no onset
    grammar = Grammar(enc, time_signature=ts)
    state = grammar.start()
    empty = [k for k in feasible_classes(steps, enc.grid) if onset_bounds(k, steps, enc.grid)[1] == 0]
    assert empty  # the class of an empty bar exists
    for tok in (t.ts_token(ts), BAR, t.den_token(empty[0]), t.chord_token(NO_CHORD), t.tex0, BAR):
        assert state.allowed()[tok], tok
        state.push(tok)
    offered = [k for k in range(N_DENSITY) if state.allowed()[t.den_token(k)]]
    assert offered and not set(offered) & set(empty)
    for k in offered:  # whichever is drawn, the bar can be written
        s2 = grammar.start()
        for tok in (t.ts_token(ts), BAR, t.den_token(empty[0]), t.chord_token(NO_CHORD), t.tex0, BAR,
                    t.den_token(k), t.chord_token(NO_CHORD), t.tex0):
            s2.push(tok)
        assert s2.allowed().any()
