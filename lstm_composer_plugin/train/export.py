"""Keras model → one ``.lstmc`` model file (docs/model-format.md), and back again.

Export walks the model's layers in order and writes each one as a ``layers``
descriptor plus its arrays (``<layername>.<param>``). Dropout is the identity at
inference and the input layer carries no weights, so neither is written. The
result can be run by :mod:`lstm_composer_plugin.compose.engine` with NumPy alone.

Keras is imported only inside the functions here (export needs a model that
exists, so TensorFlow is already loaded by then); importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from lstm_composer_plugin.modelfile import ModelFile, load_model, save_model
from lstm_composer_plugin.music.tokens import SEP, EventEncoding, Vocabulary
from lstm_composer_plugin.train.network import NetworkConfig

WEIGHT_DTYPES = ("float16", "float32")

# Keras weight order per layer type (``layer.get_weights()``) → our array param names.
_PARAMS = {
    "embedding": ("embeddings",),
    "lstm": ("kernel", "recurrent_kernel", "bias"),
    "batchnorm": ("gamma", "beta", "moving_mean", "moving_variance"),
    "dense": ("kernel", "bias"),
}


def export_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    config: NetworkConfig,
    manifest_extra: dict[str, Any],
    vocab: Vocabulary | None = None,
    encoding: EventEncoding | None = None,
    token_set: Any = None,
    corpus_tokens: np.ndarray,
    corpus_offsets: np.ndarray,
    corpus_names: list[str],
    dtype: str = "float16",
) -> Path:
    """Write ``model`` (a Keras model built by ``network.build_model``) as a model file.

    ``manifest_extra`` carries what only the trainer knows (style, title, epoch,
    model_id, chosen, choice, metrics, corpus fingerprint, stats, quality...). It
    cannot override the structural keys (network, layers, vocabulary, encoding),
    which come from the model itself so they can never disagree with the weights.
    ``corpus_*`` is the training pieces' token stream for the copy guard. The tokens are
    described either by ``token_set`` (``tokensets.TokenSet``: the trainer's) or by an event
    ``vocab`` and ``encoding``.
    """
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"dtype must be one of {WEIGHT_DTYPES}, not {dtype!r}")
    if token_set is not None:
        structural, n_vocab = token_set.to_manifest(), token_set.n_vocab
    elif vocab is not None:
        structural, n_vocab = {"vocabulary": vocab.to_dict(), "encoding": (encoding or EventEncoding()).to_dict()}, len(vocab)
    else:
        raise ValueError("export_model needs a token_set or a vocab")
    if n_vocab != config.n_vocab:
        raise ValueError(f"vocabulary has {n_vocab} tokens but the network {config.n_vocab}")
    layers, weights = describe_layers(model)
    arrays = {name: np.asarray(a, dtype=dtype) for name, a in weights.items()}

    tokens = np.asarray(corpus_tokens, dtype=np.int32)
    offsets = np.asarray(corpus_offsets, dtype=np.int64)
    if len(offsets) != len(corpus_names) + 1:
        raise ValueError(f"{len(corpus_names)} corpus names need {len(corpus_names) + 1} offsets, not {len(offsets)}")
    arrays["corpus.tokens"] = tokens
    arrays["corpus.offsets"] = offsets
    if token_set is not None:
        arrays.update(token_set.extra_arrays(corpus_names))  # a note model's melody index

    fixed = ("network", "layers", *structural)
    manifest: dict[str, Any] = {k: v for k, v in manifest_extra.items() if k not in fixed}
    manifest["network"] = config.to_dict()
    manifest["layers"] = layers
    manifest.update(structural)
    manifest["weights_dtype"] = dtype

    corpus = dict(manifest.get("corpus") or {})
    corpus.setdefault("train_pieces", list(corpus_names))
    manifest["corpus"] = corpus
    stats = dict(manifest.get("stats") or {})
    stats.setdefault("opening_counts", opening_counts(tokens, offsets))
    manifest["stats"] = stats
    manifest["versions"] = {**library_versions(), **(manifest.get("versions") or {})}
    if "model_id" not in manifest and manifest.get("style") and manifest.get("epoch") is not None:
        manifest["model_id"] = f"{manifest['style']}-e{int(manifest['epoch']):04d}"
    return save_model(path, manifest, arrays)


# The two-token network's extra layers (network.build_model): the pair of embeddings side by side,
# and the head of a pair's second token. The head's layers are written with ``"head": "b"``.
_PAIR_INPUT, _HEAD_B_INPUT, _HEAD_B = "pair", "head_b_input", ("head_b_hidden", "output_b")


def describe_layers(model: Any) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The inference graph of a Keras model: layer descriptors and float32 arrays, in order.

    A chain (input → ... → softmax) in order; the two-token network's embedding says
    ``"tokens_per_step": 2`` and its second head's layers come last, marked ``"head": "b"``.
    """
    layers: list[dict[str, Any]] = []
    head: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    pairs = any(layer.name == _PAIR_INPUT for layer in model.layers)
    for layer in model.layers:
        kind = type(layer).__name__
        name = layer.name
        if kind in ("InputLayer", "Dropout") or name in (_PAIR_INPUT, _HEAD_B_INPUT):
            continue  # no weights, identity at inference (or the engine's own wiring of the pair)
        if kind == "Embedding":
            desc: dict[str, Any] = {"type": "embedding", "name": name}
            if pairs:
                desc["tokens_per_step"] = 2
        elif kind == "Rescaling":
            if np.any(np.asarray(layer.offset) != 0) or np.ndim(layer.scale) != 0:
                raise ValueError(f"{name}: only a scalar scale without offset is supported")
            desc = {"type": "scalar", "name": name, "scale": float(layer.scale)}
        elif kind == "LSTM":
            acts = (_act_name(layer.activation), _act_name(layer.recurrent_activation))
            if acts != ("tanh", "sigmoid") or not layer.use_bias:
                raise ValueError(f"{name}: the engine runs Keras's default LSTM only (tanh/sigmoid, bias), not {acts}")
            desc = {"type": "lstm", "name": name, "units": int(layer.units)}
        elif kind == "BatchNormalization":
            if not (layer.center and layer.scale) or not _last_axis(layer):
                raise ValueError(f"{name}: only last-axis BatchNormalization with centre and scale is supported")
            desc = {"type": "batchnorm", "name": name, "epsilon": float(layer.epsilon)}
        elif kind == "Dense":
            act = _act_name(layer.activation)
            if act not in ("relu", "softmax", "linear") or not layer.use_bias:
                raise ValueError(f"{name}: unsupported Dense activation {act!r} (or no bias)")
            desc = {"type": "dense", "name": name, "units": int(layer.units), "activation": act}
        else:
            raise ValueError(f"{name}: layer type {kind} has no engine counterpart")
        params = _PARAMS.get(desc["type"], ())
        values = layer.get_weights()
        if len(values) != len(params):
            raise ValueError(f"{name}: expected weights {params}, got {len(values)} arrays")
        for param, value in zip(params, values, strict=True):
            arrays[f"{name}.{param}"] = np.asarray(value, dtype=np.float32)
        if name in _HEAD_B:
            head.append({**desc, "head": "b"})
        else:
            layers.append(desc)
    return layers + head, arrays


def opening_counts(tokens: np.ndarray, offsets: np.ndarray) -> dict[str, int]:
    """{token: count} of the pieces' first events: what the default random opening draws from."""
    firsts = [int(tokens[o]) for o in offsets[:-1] if o < len(tokens) and tokens[o] != SEP]
    return {str(t): c for t, c in sorted(Counter(firsts).items())}


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for dist in ("tensorflow", "keras", "lstm-composer-plugin"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    return out


def _last_axis(layer: Any) -> bool:
    axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
    return axis == -1 or axis == len(layer.input.shape) - 1


def _act_name(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


# -- the way back: model file → Keras (tests and the speed benchmark) -------------


def keras_model_from_file(model: ModelFile | str | os.PathLike[str]):  # -> keras.Model
    """Rebuild the Keras network of a model file with its stored weights (needs TensorFlow).

    Used to check the NumPy engine against Keras and to time the reference
    ``model.predict`` loop on exactly the weights that are shipped.
    """
    from lstm_composer_plugin.train.network import build_model

    mf = model if isinstance(model, ModelFile) else load_model(model)
    cfg = NetworkConfig.from_dict(mf.manifest.network)
    keras_model = build_model(cfg, compile=False)
    by_name = {layer.name: layer for layer in keras_model.layers}
    for desc in mf.manifest.layers:
        params = _PARAMS.get(desc["type"], ())
        if params:
            by_name[desc["name"]].set_weights([np.asarray(mf.arrays[f"{desc['name']}.{p}"], dtype=np.float32) for p in params])
    return keras_model
