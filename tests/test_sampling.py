"""Sampling controls and the guards: on a test-trained model, and the guard rules on their own."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_composer_plugin.compose.composer import corpus_index
from lstm_composer_plugin.compose.engine import NumpyNetwork
from lstm_composer_plugin.compose.guards import (
    DEFAULT_MAX_RUN,
    Guards,
    GuardState,
    MelodyGuards,
    style_max_run,
)
from lstm_composer_plugin.compose.sampling import SamplingSettings, sample, sample_tokens
from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.modelfile import load_model
from lstm_composer_plugin.music.grammar import Grammar
from lstm_composer_plugin.music.melody import longest_same_pitch, melody_of_tokens
from lstm_composer_plugin.music.notes import BAR, count_notes, token_table
from lstm_composer_plugin.music.stats import CorpusIndex, longest_run
from lstm_composer_plugin.music.tokens import SEP

pytest_plugins = ["tests.model_fixtures"]  # the tiny_model, overfit_model and note_model fixtures


@pytest.fixture(scope="module")
def net(tiny_model) -> NumpyNetwork:
    return NumpyNetwork.from_file(tiny_model)


def test_same_seed_same_tokens_and_never_the_separator(net):
    a = sample_tokens(net, 120, seed=7, batch=3)
    b = sample_tokens(net, 120, seed=7, batch=3)
    c = sample_tokens(net, 120, seed=8, batch=3)
    assert a == b
    assert a != c
    assert all(len(row) == 120 for row in a)
    assert all(SEP not in row for row in a)
    assert len({tuple(row) for row in a}) == 3  # variations differ


def test_top_k_one_is_greedy_and_primer_is_not_in_the_output(net):
    primer = [SEP, 5, 9]
    greedy = sample_tokens(net, 30, seed=1, top_k=1, primer=primer)[0]
    again = sample_tokens(net, 30, seed=2, top_k=1, primer=primer)[0]
    assert greedy == again  # no randomness left
    tiny_p = sample_tokens(net, 30, seed=3, top_p=1e-9, primer=primer)[0]
    assert tiny_p == greedy  # top-p keeps at least the likeliest event
    # The first token is the argmax after the primer, and the primer itself is not repeated.
    _, probs = net.run(np.array([primer]))
    probs[0, SEP] = 0
    assert greedy[0] == int(np.argmax(probs[0]))


def test_repetition_penalty_avoids_recent_events(net):
    # Greedy decoding with a huge penalty: an event from the last 16 is never the likeliest.
    rows = sample_tokens(net, 200, seed=4, top_k=1, repetition_penalty=1e6, batch=2)
    assert all(t not in row[max(0, i - 16) : i] for row in rows for i, t in enumerate(row))
    plain = sample_tokens(net, 200, seed=4, top_k=1, batch=2)
    assert any(t in row[max(0, i - 16) : i] for row in plain for i, t in enumerate(row))


def test_time_budget_stops_each_row(net):
    steps = np.full(net.n_vocab, 6)  # every event one sixteenth
    rows = sample(net, 500, seed=1, batch=2, step_lengths=steps, until_steps=60)
    assert [len(r.tokens) for r in rows] == [10, 10]


@pytest.mark.parametrize(
    "kwargs",
    [{"temperature": 0}, {"temperature": -1}, {"top_k": 0}, {"top_p": 0}, {"top_p": 1.5}, {"repetition_penalty": 0.5}],
)
def test_bad_settings_are_usage_errors(net, kwargs):
    with pytest.raises(UsageError):
        sample_tokens(net, 10, seed=0, **kwargs)
    with pytest.raises(UsageError):
        sample_tokens(net, -1, seed=0)


def test_loop_guard_keeps_runs_short_even_at_low_temperature(net):
    # Greedy decoding of a weak model is the classic road to one repeated note.
    rows = sample(net, 400, seed=0, settings=SamplingSettings(temperature=0.05), guards=Guards(), batch=4)
    assert all(longest_run(r.tokens) <= 8 for r in rows)


def test_copy_guard_holds_the_limit_on_an_overfitted_model(overfit_model):
    model = load_model(overfit_model)
    net = NumpyNetwork.from_model(model)
    index = corpus_index(model)
    firsts = [int(model.arrays["corpus.tokens"][o]) for o in model.arrays["corpus.offsets"][:-1]]
    primer = np.array([[SEP, f] for f in firsts])
    settings = SamplingSettings(temperature=0.7)
    free = sample(net, 150, seed=0, settings=settings, primer=primer, batch=len(firsts))
    # Left alone, the over-fitted network replays its training pieces...
    assert max(index.report([f, *r.tokens]).longest_run for f, r in zip(firsts, free, strict=True)) > 12
    guarded = sample(net, 150, seed=0, settings=settings, primer=primer, guards=Guards(corpus=index), batch=len(firsts))
    # ...guarded, no stretch longer than the limit comes from one piece, and the guard says so.
    for f, r in zip(firsts, guarded, strict=True):
        assert index.report([f, *r.tokens]).longest_run <= 12
        assert longest_run(r.tokens) <= 8
    assert sum(r.guard_stats.copy_blocks for r in guarded) > 0


# -- the guard rules on hand-written sequences (no model involved) ------------------------


def _state(history, **kw) -> GuardState:
    gs = GuardState(Guards(**kw))
    for t in history:
        gs.push(t)
    return gs


def test_loop_guard_rules():
    assert _state([3] * 8).loop_block() == 3
    assert _state([3] * 7).loop_block() is None
    assert _state([1, 2] * 8).loop_block() == 1  # a trill of 16 events is enough
    assert _state([1, 2] * 7).loop_block() is None
    bar = [1, 2, 3, 4, 5, 6, 7, 8]
    assert _state(bar * 2).loop_block() is None  # a bar played twice is music
    assert _state(bar * 3).loop_block() == 1  # three times over is a loop
    assert _state([3] * 8 + [SEP]).loop_block() is None  # a separator starts afresh


def test_copy_guard_blocks_only_past_the_limit():
    corpus = CorpusIndex(np.array([1, 2, 3, 4, 5, SEP, 7, 8, SEP]), np.array([0, 6, 9]), ["a", "b"])
    gs = _state([1, 2, 3], corpus=corpus, copy_limit=3)
    assert gs.copy_blocks().tolist() == [4]
    assert _state([1, 2], corpus=corpus, copy_limit=3).copy_blocks().tolist() == []
    assert _state([5], corpus=corpus, copy_limit=1).copy_blocks().tolist() == [SEP]  # harmless: never drawn


def _corpus(pieces: list[list[int]]) -> CorpusIndex:
    tokens = [t for p in pieces for t in [*p, SEP]]
    offsets = np.cumsum([0] + [len(p) + 1 for p in pieces])
    return CorpusIndex(np.array(tokens), offsets, [f"p{i}" for i in range(len(pieces))])


def test_style_run_limit_follows_the_training_pieces():
    # 99 pieces whose longest run is 2 and one with a run of 5: the 99th percentile rounds up to 3.
    assert style_max_run(_corpus([[1, 1, 2]] * 99 + [[4] * 5])) == 3
    # Repeated-note styles get longer runs, never beyond the flat cap, never below 3.
    assert style_max_run(_corpus([[1] * 6 + [2]] * 50)) == 6
    assert style_max_run(_corpus([[1] * 20] * 50)) == DEFAULT_MAX_RUN
    assert style_max_run(_corpus([[1, 2, 3]] * 50)) == 3
    assert style_max_run(None) == DEFAULT_MAX_RUN  # a model without its corpus index


# -- note-level models: the grammar mask and the melodic guards (a random-weight NumPy model) -----


def _note_setup(note_model):
    from lstm_composer_plugin.compose.note_composer import NoteModel

    model = load_model(note_model)
    net = NumpyNetwork.from_model(model)
    nm = NoteModel.from_model(model, note_model, net.n_vocab)
    table = token_table(nm.encoding)
    grammar = Grammar(nm.encoding, time_signature=(4, 4), max_chord=nm.profile.max_chord)
    primer = [SEP, table.ts_token((4, 4)), BAR]
    return net, nm, grammar, primer


def test_note_sampling_is_deterministic_well_formed_and_counts_notes(note_model):
    net, nm, grammar, primer = _note_setup(note_model)
    kw = dict(seed=3, primer=primer, batch=3, grammar=grammar, until_notes=100)
    a = sample(net, 2000, **kw)
    b = sample(net, 2000, **kw)
    assert [r.tokens for r in a] == [r.tokens for r in b]
    assert len({tuple(r.tokens) for r in a}) == 3
    table = token_table(nm.encoding)
    for r in a:
        n = count_notes(r.tokens, nm.encoding)
        assert n == 100 and table.kind_of(r.tokens[-1]) == "D"
        state = grammar.start()
        for t in primer + r.tokens:
            assert t == SEP or state.allowed()[t] or state.phase == "start"
            state.push(t)


def test_note_sampling_stops_at_the_first_bar_line_past_the_time_budget(note_model):
    net, nm, grammar, primer = _note_setup(note_model)
    rows = sample(net, 5000, seed=1, primer=primer, batch=2, grammar=grammar, until_steps=8 * 48)
    for r in rows:
        assert r.tokens[-1] == BAR
        assert r.tokens.count(BAR) == 8  # the primer's bar + 8 more: the ninth starts at step 384


def test_same_pitch_guard_holds_at_low_temperature(note_model):
    net, nm, grammar, primer = _note_setup(note_model)
    guards = MelodyGuards(index=nm.melody, copy_limit=nm.profile.melodic_copy_limit, same_pitch_limit=2)
    settings = SamplingSettings(temperature=0.05)
    free = sample(net, 3000, seed=0, settings=settings, primer=primer, batch=2, grammar=grammar, until_notes=300)
    guarded = sample(
        net, 3000, seed=0, settings=settings, primer=primer, batch=2, grammar=grammar,
        melody_guards=guards, until_notes=300,
    )  # fmt: skip
    # A near-greedy random network repeats itself; guarded, no melody pitch is struck 3 times running.
    assert max(longest_same_pitch(melody_of_tokens(r.tokens, nm.encoding)) for r in free) > 2
    for r in guarded:
        melody = melody_of_tokens(r.tokens, nm.encoding)
        assert longest_same_pitch(melody) <= 2
        assert nm.melody.longest_match(melody).length <= nm.profile.melodic_copy_limit
    assert sum(r.guard_stats.loop_breaks for r in guarded) > 0
