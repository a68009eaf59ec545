"""Two tokens per LSTM step (``--tokens-per-step 2``): the data, the evaluation, the NumPy engine
against Keras, and a real training run that composes (bar redraws included) with the same bytes
for the same seed."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from hostapi.results import ComposeOptions
from lstm_composer_plugin.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
BACH = REPO.parent / "shared" / "corpus" / "bach"
TINY = dict(lstm_units=[24, 12], dense_units=12, embedding_dim=8, seq_len=48, batch_size=8, samples=1,
            sample_events=30)


# -- no TensorFlow needed ----------------------------------------------------------------------


def test_pair_examples_feed_each_pair_with_the_next_pairs_first_token():
    from lstm_composer_plugin.train.dataset import pair_examples

    chunk = np.arange(10)[None]  # pairs (0 1) (2 3) (4 5) (6 7) (8 9)
    x, y = pair_examples(chunk)
    assert x.tolist() == [[[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]]]
    assert y.tolist() == [[[2, 3], [4, 5], [6, 7], [8, 9]]]


def test_evaluating_pairs_counts_every_target_of_the_stream():
    from lstm_composer_plugin.train.fit import evaluate_stream

    vocab = 5

    def uniform(x, training=False):  # the two-token network's output: (B, S, 2, V)
        assert np.shape(x)[-1] == 3
        return np.full((*np.shape(x)[:-1], 2, vocab), 1 / vocab)

    for n_tokens, seq_len in [(101, 16), (100, 16), (12, 16), (64, 16)]:
        nats, targets, _ = evaluate_stream(uniform, np.arange(n_tokens) % vocab, seq_len, 4, tokens_per_step=2)
        assert targets == n_tokens - 1 and nats == pytest.approx(targets * math.log(vocab))


def test_settings_refuse_pairs_the_recipe_cannot_take():
    from lstm_composer_plugin.train import TrainSettings

    for bad, words in [(dict(tokens_per_step=3), "1 or 2"), (dict(tokens_per_step=2, seq_len=49), "multiple"),
                       (dict(tokens_per_step=2, recipe="reference"), "default recipe")]:
        with pytest.raises(UsageError, match=words):
            TrainSettings(**bad).validate()
    TrainSettings(tokens_per_step=2).validate()


# -- a real run ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    pytest.importorskip("tensorflow")
    if not BACH.is_dir():
        pytest.skip(f"{BACH} not present")
    from lstm_composer_plugin.train import train

    root = tmp_path_factory.mktemp("chorales")
    for f in sorted(BACH.glob("*.mid"))[:6]:
        shutil.copy(f, root / f.name)
    out = tmp_path_factory.mktemp("runs") / "bach"
    result = train(root, "bach", out, epochs=2, checkpoint_every=1, tokens_per_step=2, **TINY)
    return root, out, result


@pytest.mark.tf
def test_a_two_token_run_trains_exports_and_matches_keras(pair_run):
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.modelfile import load_model
    from lstm_composer_plugin.train.dataset import pair_examples
    from lstm_composer_plugin.train.export import keras_model_from_file

    _, _, result = pair_run
    mf = load_model(result.model_path)
    assert mf.manifest.network["tokens_per_step"] == 2
    layers = mf.manifest.layers
    assert layers[0]["tokens_per_step"] == 2 and [d["name"] for d in layers if d.get("head") == "b"] == [
        "head_b_hidden", "output_b"]
    assert math.isfinite(mf.manifest["quality"]["val_bits_per_note"])  # the pair evaluation ran

    net = NumpyNetwork.from_model(mf)
    keras_model = keras_model_from_file(mf)
    tokens = np.asarray(mf.arrays["corpus.tokens"][:62], dtype=np.int64)
    x, _ = pair_examples(tokens[None])
    keras_probs = np.asarray(keras_model(x, training=False))  # (1, 30, 2, V): token 2s+2+j from pair s
    _, probs = net.run(tokens[None], all_positions=True)  # position t predicts token t + 1
    for j in range(2, len(tokens)):
        assert np.abs(keras_probs[0, j // 2 - 1, j % 2] - probs[0, j - 1]).max() < 1e-3, j


@pytest.mark.tf
def test_rows_half_way_through_a_pair_step_as_they_would_alone(pair_run):
    """Bar redraws put single rows back, so rows of one batch may be at different places in their pairs."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork

    _, _, result = pair_run
    net = NumpyNetwork.from_file(result.model_path)
    tokens = np.asarray([5, 9, 12, 7, 30, 31, 4], dtype=np.int64) % net.n_vocab
    # Row 0 has taken one token more than row 1: one is mid-pair whenever the other is not.
    state = net.initial_state(2)
    state, _ = net.step_logits(state, np.array([tokens[0], tokens[0]]))
    alone0, _ = net.step_logits(net.initial_state(1), tokens[:1])
    saved = state.take_row(1)
    state.put_row(1, net.initial_state(2).take_row(1))  # row 1 back to the start
    for t in range(1, 6):
        state, lg = net.step_logits(state, np.array([tokens[t], tokens[t - 1]]))
        alone0, lg0 = net.step_logits(alone0, tokens[t : t + 1])
        assert np.abs(lg[0] - lg0[0]).max() < 1e-5
    assert saved[3] == tokens[0]  # the row kept its waiting token


@pytest.mark.tf
def test_a_two_token_model_composes_with_bar_redraws_the_same_bytes_per_seed(pair_run, tmp_path):
    from lstm_composer_plugin.compose.composer import compose

    _, _, result = pair_run
    paths = []
    for name in ("a", "b"):
        r = compose("bach", ComposeOptions(seed=5, length=160, out_path=tmp_path / f"{name}.mid", variations=2),
                    model_path=result.model_path)
        assert r.report["bar_controls"]["bars"] >= 2
        paths.append(r.path)
    assert paths[0].read_bytes() == paths[1].read_bytes()


@pytest.mark.tf
def test_a_two_token_run_cannot_start_from_a_one_token_network(pair_run, tmp_path):
    from lstm_composer_plugin.train import train

    root, _, _ = pair_run
    one = train(root, "bach", tmp_path / "one", epochs=1, checkpoint_every=1, **TINY)
    with pytest.raises(UsageError, match="tokens per step"):
        train(root, "bach", tmp_path / "two", epochs=1, tokens_per_step=2, init_from=str(one.model_path), **TINY)
