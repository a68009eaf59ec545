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


# -- note-level models without TensorFlow ------------------------------------------------------


def note_slice(style: str, n_train: int, n_val: int = 0) -> tuple[list, list]:
    """The first ``n_train`` (and next ``n_val``) pieces of a style, read with the project's reader."""
    folder = REPO.parent / "shared" / "corpus" / style
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder}")
    files = find_midi_files(folder)[: n_train + n_val]
    pieces = [read_midi(f) for f in files]
    return pieces[:n_train], pieces[n_train:]


def random_note_model(
    path: Path,
    *,
    style: str = "bach",
    n_train: int = 40,
    n_val: int = 10,
    units: Sequence[int] = (32, 16),
    dense_units: int = 16,
    embedding_dim: int = 8,
    seed: int = 0,
    key_mode: str = "normalise",
    controls: bool = False,
) -> Path:
    """A note-level model file with random weights (NumPy only, no TensorFlow), in the layer
    layout ``train.export`` writes, with everything compose needs: the encoding record with the
    style's profile, the training melodies' index and the token stream.

    The output bias is the log of the tokens' frequencies in the slice, so sampling has the
    corpus's rough proportions of positions, pitches and durations; the grammar does the rest.
    """
    from lstm_composer_plugin.modelfile import save_model
    from lstm_composer_plugin.music.melody import melody_index
    from lstm_composer_plugin.music.notes import NoteEncoding, NoteVocabulary, tokenize_note_pieces
    from lstm_composer_plugin.music.profile import NoteRecord, style_profile

    enc = NoteEncoding(key_mode=key_mode, controls=controls)
    train, val = note_slice(style, n_train, n_val)
    tokens, offsets = tokenize_note_pieces(train, enc)
    n_vocab = len(NoteVocabulary(enc))
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    layers: list[dict] = [{"type": "embedding", "name": "embedding"}]
    arrays["embedding.embeddings"] = rng.normal(0, 0.5, (n_vocab, embedding_dim))

    def batchnorm(name: str, width: int) -> None:
        layers.append({"type": "batchnorm", "name": name, "epsilon": 1e-3})
        arrays[f"{name}.gamma"] = rng.uniform(0.5, 1.5, width)
        arrays[f"{name}.beta"] = rng.normal(0, 0.1, width)
        arrays[f"{name}.moving_mean"] = rng.normal(0, 0.1, width)
        arrays[f"{name}.moving_variance"] = rng.uniform(0.5, 1.5, width)

    # The default recipe's layout, names as network.build_model gives them (export writes these).
    width = embedding_dim
    for i, u in enumerate(units):
        layers.append({"type": "lstm", "name": f"lstm_{i}", "units": int(u)})
        arrays[f"lstm_{i}.kernel"] = rng.normal(0, 0.4, (width, 4 * u))
        arrays[f"lstm_{i}.recurrent_kernel"] = rng.normal(0, 0.4, (u, 4 * u))
        arrays[f"lstm_{i}.bias"] = np.zeros(4 * u)
        batchnorm(f"batchnorm_{i}", u)
        width = u
    layers.append({"type": "dense", "name": "dense_0", "units": dense_units, "activation": "relu"})
    arrays["dense_0.kernel"] = rng.normal(0, 0.3, (width, dense_units))
    arrays["dense_0.bias"] = np.zeros(dense_units)
    batchnorm(f"batchnorm_{len(units)}", dense_units)
    layers.append({"type": "dense", "name": "output", "units": n_vocab, "activation": "softmax"})
    arrays["output.kernel"] = rng.normal(0, 0.3, (dense_units, n_vocab))
    counts = np.bincount(tokens, minlength=n_vocab).astype(np.float64)
    arrays["output.bias"] = np.log(counts + 0.1)
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    names = [f.path.rsplit("/", 1)[-1] for f in train]
    arrays["corpus.tokens"] = tokens
    arrays["corpus.offsets"] = offsets
    arrays.update(melody_index(train, enc, names).to_arrays())
    manifest = {
        "style": style,
        "title": f"{style} (random note model)",
        "description": "random weights, for tests",
        "model_id": f"{style}-notes{'-controls' if controls else ''}-test",
        "epoch": 1,
        "chosen": True,
        "layers": layers,
        "vocabulary": NoteVocabulary(enc).to_dict(),
        "encoding": NoteRecord(enc, style_profile(train, val, enc)).to_dict(),
        "corpus": {"train_pieces": names, "val_pieces": [p.path.rsplit("/", 1)[-1] for p in val]},
        "weights_dtype": "float32",
    }
    return save_model(path, manifest, arrays)


@pytest.fixture(scope="session")
def note_model(tmp_path_factory) -> Path:
    """A random-weight note-level bach model (no TensorFlow needed)."""
    return random_note_model(tmp_path_factory.mktemp("notes") / "bach-notes.lstmc")


@pytest.fixture(scope="session")
def control_model(tmp_path_factory) -> Path:
    """A random-weight note-level bach model with bar controls (no TensorFlow needed)."""
    return random_note_model(tmp_path_factory.mktemp("controls") / "bach-controls.lstmc", controls=True)
