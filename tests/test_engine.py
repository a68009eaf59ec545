"""The NumPy engine against Keras, and its own consistency (stateful steps, batching, export)."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_composer_plugin.compose.engine import NumpyNetwork
from lstm_composer_plugin.errors import ModelFileError
from lstm_composer_plugin.modelfile import load_model, save_model
from lstm_composer_plugin.music.tokens import SEP, EventEncoding, Vocabulary, tokenize_pieces
from lstm_composer_plugin.train.network import NetworkConfig
from tests.model_fixtures import bach_slice, fit_keras, have_tensorflow

pytest_plugins = ["tests.model_fixtures"]  # the tiny_model and note_model fixtures

needs_tf = pytest.mark.skipif(not have_tensorflow(), reason="needs TensorFlow (the train extra)")


def _randomize_batchnorm(model, rng: np.random.Generator) -> None:
    """Moving statistics far from (0, 1), so a wrong BatchNorm fold cannot go unnoticed."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    gamma * rng.uniform(0.5, 2.0, gamma.shape),
                    beta + rng.normal(0, 0.3, beta.shape),
                    mean + rng.normal(0, 0.3, mean.shape),
                    var * rng.uniform(0.3, 3.0, var.shape),
                ]
            )


@pytest.mark.tf
@needs_tf
@pytest.mark.parametrize("recipe", ["default", "reference"])
def test_numpy_matches_keras_next_event_probabilities(recipe, tmp_path):
    from lstm_composer_plugin.train.export import export_model

    names, events = bach_slice(8)
    vocab = Vocabulary.build(events, min_count=1)
    tokens, offsets = tokenize_pieces(events, vocab)
    make = NetworkConfig.reference if recipe == "reference" else NetworkConfig
    cfg = make(n_vocab=len(vocab), lstm_units=[48, 24], dense_units=24, embedding_dim=12, seq_len=24)
    model = fit_keras(cfg, tokens, epochs=2, stride=12)  # real steps: BN statistics have moved
    rng = np.random.default_rng(0)
    _randomize_batchnorm(model, rng)

    starts = rng.integers(0, len(tokens) - cfg.seq_len, size=4)
    windows = np.stack([tokens[s : s + cfg.seq_len] for s in starts]).astype(np.int64)
    if recipe == "default":
        keras_probs = np.asarray(model(windows, training=False))  # (4, T, V): every position
    else:
        keras_probs = np.asarray(model(windows[..., None].astype(np.float32), training=False))  # (4, V)

    for dtype, tolerance in [("float32", 1e-4), ("float16", 1e-3)]:
        path = export_model(
            model,
            tmp_path / f"{recipe}-{dtype}.lstmc",
            config=cfg,
            vocab=vocab,
            encoding=EventEncoding(),
            manifest_extra={"style": "test", "epoch": 2},
            corpus_tokens=tokens,
            corpus_offsets=offsets,
            corpus_names=names,
            dtype=dtype,
        )
        net = NumpyNetwork.from_file(path)
        _, run_probs = net.run(windows, all_positions=recipe == "default")
        # The same window consumed one stateful step at a time, from a zero state.
        state = net.initial_state(len(windows))
        stepped = []
        for t in range(cfg.seq_len):
            state, p = net.step(state, windows[:, t])
            stepped.append(p)
        step_probs = np.stack(stepped, axis=1) if recipe == "default" else stepped[-1]
        assert np.abs(run_probs - keras_probs).max() <= tolerance, dtype
        assert np.abs(step_probs - keras_probs).max() <= tolerance, dtype


@pytest.mark.tf
@needs_tf
def test_export_writes_the_documented_layers(tiny_model):
    model = load_model(tiny_model)
    m = model.manifest
    assert [d["type"] for d in m["layers"]] == [
        "embedding", "lstm", "batchnorm", "lstm", "batchnorm", "dense", "batchnorm", "dense",
    ]
    assert m["layers"][-1]["activation"] == "softmax"
    assert model.arrays["lstm_0.kernel"].dtype == np.float16
    assert model.arrays["corpus.tokens"].dtype == np.int32
    assert len(m["corpus"]["train_pieces"]) == len(model.arrays["corpus.offsets"]) - 1
    assert m["stats"]["opening_counts"] and SEP not in map(int, m["stats"]["opening_counts"])
    assert m["model_id"] == f"bach-e{m['epoch']:04d}"
    assert {"numpy", "python", "tensorflow", "keras"} <= set(m["versions"])


@pytest.mark.tf
@needs_tf
def test_stateful_steps_continue_a_run_and_rows_are_independent(tiny_model):
    net = NumpyNetwork.from_file(tiny_model)
    rng = np.random.default_rng(1)
    seqs = rng.integers(1, net.n_vocab, size=(3, 20))
    _, whole = net.run(seqs)
    state, _ = net.run(seqs[:, :12])
    for t in range(12, 20):
        state, p = net.step(state, seqs[:, t])
    np.testing.assert_allclose(p, whole, atol=1e-6)
    for row in range(3):
        _, alone = net.run(seqs[row : row + 1])
        np.testing.assert_allclose(alone[0], whole[row], atol=1e-6)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.tf
@needs_tf
def test_model_file_without_layers_is_a_one_line_error(tiny_model, tmp_path):
    model = load_model(tiny_model)
    manifest = {k: v for k, v in model.manifest.items() if k != "layers"}
    bad = save_model(tmp_path / "bad.lstmc", manifest, model.arrays)
    with pytest.raises(ModelFileError, match="no 'layers'"):
        NumpyNetwork.from_file(bad)
    arrays = {k: v for k, v in model.arrays.items() if k != "lstm_1.recurrent_kernel"}
    bad = save_model(tmp_path / "bad2.lstmc", model.manifest, arrays)
    with pytest.raises(ModelFileError, match="lacks array"):
        NumpyNetwork.from_file(bad)


def test_a_note_model_steps_as_it_runs_without_tensorflow(note_model):
    # The note encoding changes the tokens, not the network: the same engine, stateful and batched.
    net = NumpyNetwork.from_file(note_model)
    assert net.n_vocab == 233
    rng = np.random.default_rng(2)
    seqs = rng.integers(0, net.n_vocab, size=(3, 24))
    _, whole = net.run(seqs)
    state, _ = net.run(seqs[:, :10])
    for t in range(10, 24):
        state, p = net.step(state, seqs[:, t])
    np.testing.assert_allclose(p, whole, atol=1e-6)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, atol=1e-5)
