"""Tiny models trained with real Keras steps, for the compose tests (never hand-made weights).

A test module asks for the fixtures explicitly (not via conftest.py)::

    pytest_plugins = ["tests.model_fixtures"]

(PYTEST_DONT_REWRITE: the helpers here are also imported directly; they have no asserts.)

Both are session-scoped: each is trained once per test run (a few seconds on two
cores) and exported with ``export.export_model`` into a temporary folder. They
skip when TensorFlow (the ``train`` extra) or the corpus is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from lstm_composer_plugin.music.corpus import find_midi_files
from lstm_composer_plugin.music.midi import read_midi
from lstm_composer_plugin.music.stats import style_stats
from lstm_composer_plugin.music.tokens import (
    EventEncoding,
    Vocabulary,
    piece_to_events,
    tokenize_pieces,
)
from lstm_composer_plugin.train.network import NetworkConfig

REPO = Path(__file__).resolve().parents[1]
BACH = REPO.parent / "shared" / "corpus" / "bach"


def have_tensorflow() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def bach_slice(n_pieces: int, corpus: Path = BACH) -> tuple[list[str], list[list]]:
    """The first ``n_pieces`` Bach chorales (sorted by file name) as names and event lists."""
    if not corpus.is_dir():
        pytest.skip(f"corpus not found at {corpus}")
    files = find_midi_files(corpus)[:n_pieces]
    return [f.name for f in files], [piece_to_events(read_midi(f)) for f in files]


def training_arrays(tokens: np.ndarray, cfg: NetworkConfig, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) for either recipe, cut from one token stream."""
    n = cfg.seq_len
    if cfg.recipe == "default":
        starts = np.arange(0, len(tokens) - n - 1, stride)
        chunks = np.stack([tokens[s : s + n + 1] for s in starts])
        return chunks[:, :-1], chunks[:, 1:]
    starts = np.arange(0, len(tokens) - n, stride)
    x = np.stack([tokens[s : s + n] for s in starts]).astype(np.float32)[..., None]
    y = np.eye(cfg.n_vocab, dtype=np.float32)[tokens[starts + n]]
    return x, y


def fit_keras(cfg: NetworkConfig, tokens: np.ndarray, *, epochs: int, stride: int, seed: int = 0, batch_size: int = 32):
    """build_model + a few real epochs of fit (so the BatchNorm moving statistics move)."""
    import keras

    from lstm_composer_plugin.train.network import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(cfg)
    x, y = training_arrays(tokens, cfg, stride)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    return model


def train_tiny_model(
    path: Path,
    *,
    n_pieces: int,
    epochs: int,
    lstm_units: Sequence[int] = (64, 32),
    dense_units: int = 32,
    embedding_dim: int = 16,
    seq_len: int = 32,
    stride: int = 16,
    min_count: int = 2,
    learning_rate: float = 3e-3,
    recipe: str = "default",
    dtype: str = "float16",
    style: str = "bach",
) -> Path:
    """Train a small network on a slice of the Bach corpus and export it as a model file."""
    from lstm_composer_plugin.train.export import export_model

    names, events = bach_slice(n_pieces)
    vocab = Vocabulary.build(events, min_count=min_count)
    tokens, offsets = tokenize_pieces(events, vocab)
    make = NetworkConfig.reference if recipe == "reference" else NetworkConfig
    cfg = make(
        n_vocab=len(vocab),
        lstm_units=list(lstm_units),
        dense_units=dense_units,
        embedding_dim=embedding_dim,
        seq_len=seq_len,
        learning_rate=learning_rate,
    )
    model = fit_keras(cfg, tokens, epochs=epochs, stride=stride)
    return export_model(
        model,
        path,
        config=cfg,
        vocab=vocab,
        encoding=EventEncoding(),
        manifest_extra={
            "style": style,
            "title": f"{style} (test model)",
            "description": f"a tiny test model: {n_pieces} pieces, {epochs} epochs",
            "epoch": epochs,
            "chosen": True,
            "stats": style_stats(events),
            "corpus": {"val_pieces": []},
        },
        corpus_tokens=tokens,
        corpus_offsets=offsets,
        corpus_names=names,
        dtype=dtype,
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small default-recipe network, a few epochs on 30 chorales: composes, does not copy much."""
    if not have_tensorflow():
        pytest.skip("TensorFlow (the train extra) is needed to train the test model")
    return train_tiny_model(tmp_path_factory.mktemp("tiny") / "bach-tiny.lstmc", n_pieces=30, epochs=10, stride=4)


@pytest.fixture(scope="session")
def overfit_model(tmp_path_factory) -> Path:
    """A network over-fitted on 3 chorales: left alone it replays them verbatim."""
    if not have_tensorflow():
        pytest.skip("TensorFlow (the train extra) is needed to train the test model")
    return train_tiny_model(
        tmp_path_factory.mktemp("overfit") / "bach-overfit.lstmc",
        n_pieces=3,
        epochs=80,
        lstm_units=(64, 64),
        dense_units=64,
        stride=2,
        min_count=1,
        learning_rate=1e-2,
    )
