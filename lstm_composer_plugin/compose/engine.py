"""The exported network run with NumPy alone: stateful, batched, float32.

Composing with Keras re-runs a 100-event window through the whole network for
every new event. Here the LSTMs keep their state between calls instead: the
primer is consumed once (:meth:`NumpyNetwork.run`) and each new event then costs
one LSTM step (:meth:`NumpyNetwork.step`), a handful of matrix-vector products.
``N`` variations advance together as the rows of one matrix product.

At load time the graph is simplified, without changing what it computes:

* every array is upcast to float32 (weights may be stored as float16);
* BatchNorm at inference is the affine map ``x * a + b`` with
  ``a = gamma / sqrt(var + eps)`` and ``b = beta - mean * a``; it is folded into
  the kernel and bias of the Dense or LSTM that follows it, so it costs nothing;
* the input (an Embedding, or the reference recipe's scalar ``token * scale``)
  followed by the first LSTM's input kernel is a function of the token alone,
  so it is precomputed as one (V, 4U) table: the first layer's input product
  becomes a row lookup;
* for the later LSTMs, ``x @ kernel + h @ recurrent_kernel`` is one product of
  ``[x, h]`` with the stacked kernels;
* the columns of the sigmoid gates (i, f, o) are pre-scaled by 1/2, so one
  ``tanh`` over all four gates gives sigmoid(z) = (1 + tanh(z / 2)) / 2 too.

Gate order and activations are Keras's defaults: i, f, c, o; sigmoid and tanh.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from lstm_composer_plugin.errors import ModelFileError
from lstm_composer_plugin.modelfile import ModelFile, load_model

F32 = np.float32


@dataclass
class _Lstm:
    units: int
    kernel: np.ndarray | None  # (in, 4U); None when the input is a precomputed table
    recurrent: np.ndarray  # (U, 4U)
    bias: np.ndarray  # (4U,)
    stacked: np.ndarray | None = None  # [kernel; recurrent]: one product per step


@dataclass
class _Dense:
    kernel: np.ndarray
    bias: np.ndarray
    activation: str  # relu | softmax | linear


@dataclass
class _Affine:  # a BatchNorm that could not be folded (nothing foldable follows it)
    scale: np.ndarray
    shift: np.ndarray


@dataclass
class LstmState:
    """Hidden and cell state of every LSTM layer, one row per variation."""

    h: list[np.ndarray]
    c: list[np.ndarray]

    @property
    def batch(self) -> int:
        return self.h[0].shape[0]

    def copy(self) -> LstmState:
        return LstmState([x.copy() for x in self.h], [x.copy() for x in self.c])


class NumpyNetwork:
    """An exported network (manifest ``layers`` + arrays), ready to step."""

    def __init__(self, layers: list[dict[str, Any]], arrays: dict[str, np.ndarray]):
        self.table, self.ops = _compile(layers, arrays)
        self.n_vocab = int(self.table.shape[0])
        self.lstms = [op for op in self.ops if isinstance(op, _Lstm)]
        if not self.lstms or not isinstance(self.ops[0], _Lstm):
            raise ModelFileError("network must start with an LSTM after its input layer")
        last = self.ops[-1]
        if not isinstance(last, _Dense) or last.activation != "softmax":
            raise ModelFileError("network must end with a softmax Dense layer")

    @classmethod
    def from_model(cls, model: ModelFile) -> NumpyNetwork:
        if "layers" not in model.manifest:
            raise ModelFileError("model file has no 'layers' (exported by an older version?)")
        try:
            return cls(model.manifest.layers, model.arrays)
        except KeyError as exc:
            raise ModelFileError(f"model file lacks array {exc}") from None
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"model file layers do not fit together ({exc})") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> NumpyNetwork:
        return cls.from_model(load_model(path))

    # -- state ----------------------------------------------------------------

    def initial_state(self, batch: int = 1) -> LstmState:
        """The zero state Keras starts every window from."""
        return LstmState(
            [np.zeros((batch, op.units), F32) for op in self.lstms],
            [np.zeros((batch, op.units), F32) for op in self.lstms],
        )

    # -- one event --------------------------------------------------------------

    def step_logits(self, state: LstmState, tokens: np.ndarray) -> tuple[LstmState, np.ndarray]:
        """Consume one token per row; returns the new state and next-event logits (B, V)."""
        tokens = np.asarray(tokens, dtype=np.intp).reshape(-1)
        hs, cs = [], []
        x = None
        k = 0
        for op in self.ops:
            if isinstance(op, _Lstm):
                h, c = state.h[k], state.c[k]
                if op.kernel is None:  # first layer: input product precomputed per token
                    z = self.table[tokens] + h @ op.recurrent
                else:
                    z = np.concatenate([x, h], axis=1) @ op.stacked + op.bias
                h, c = _lstm_cell(z, c, op.units)
                hs.append(h)
                cs.append(c)
                x = h
                k += 1
            else:
                x = _apply(op, x, final=op is self.ops[-1])
        return LstmState(hs, cs), x

    def step(self, state: LstmState, tokens: np.ndarray) -> tuple[LstmState, np.ndarray]:
        """Consume one token per row; returns the new state and next-event probabilities (B, V)."""
        state, logits = self.step_logits(state, tokens)
        return state, softmax(logits)

    # -- a whole sequence ---------------------------------------------------------

    def run(
        self,
        tokens: np.ndarray,
        state: LstmState | None = None,
        *,
        all_positions: bool = False,
        logits: bool = False,
    ) -> tuple[LstmState, np.ndarray]:
        """Consume ``tokens`` (B, T) from ``state`` (zero by default), layer by layer.

        Returns the state after the last token and the next-event probabilities
        at the last position (B, V), or at every position (B, T, V) with
        ``all_positions``. Running a layer over all T steps before the next one
        lets the later layers' input products be one (B*T, in) matrix product.
        """
        tokens = np.asarray(tokens, dtype=np.intp)
        if tokens.ndim == 1:
            tokens = tokens[None, :]
        batch, length = tokens.shape
        if length == 0:
            raise ValueError("run() needs at least one token")
        state = state if state is not None else self.initial_state(batch)
        hs, cs = [], []
        x = None  # (B, T, features)
        k = 0
        for op in self.ops:
            if isinstance(op, _Lstm):
                pre = self.table[tokens] if op.kernel is None else x @ op.kernel + op.bias
                h, c = state.h[k], state.c[k]
                out = np.empty((batch, length, op.units), F32)
                for t in range(length):
                    h, c = _lstm_cell(pre[:, t] + h @ op.recurrent, c, op.units)
                    out[:, t] = h
                hs.append(h)
                cs.append(c)
                x = out
                k += 1
                if k == len(self.lstms) and not all_positions:
                    x = x[:, -1]  # the Dense layers only need the last position
            else:
                x = _apply(op, x, final=op is self.ops[-1])
        return LstmState(hs, cs), (x if logits else softmax(x))


@contextlib.contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS threads, then restore the previous limits.

    One step multiplies a vector by a few megabytes of weights: tens of microseconds of
    work, less than it costs to wake and join a second BLAS thread. On a busy machine the
    threaded version is 2-3x slower per step than a single thread, so sampling uses one.
    threadpoolctl finds whichever BLAS NumPy loaded (OpenBLAS, MKL, BLIS) and keeps no state
    of ours between calls, so two threads composing at once cannot leave a stale limit behind.
    """
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _lstm_cell(z: np.ndarray, c: np.ndarray, units: int) -> tuple[np.ndarray, np.ndarray]:
    # The i, f, o columns were pre-scaled by 1/2 (see _compile): sigmoid(z) = (1 + tanh(z/2)) / 2.
    t = np.tanh(z)
    i = 0.5 * t[:, :units] + 0.5
    f = 0.5 * t[:, units : 2 * units] + 0.5
    g = t[:, 2 * units : 3 * units]
    o = 0.5 * t[:, 3 * units :] + 0.5
    c = f * c + i * g
    return o * np.tanh(c), c


def _apply(op: _Dense | _Affine, x: np.ndarray, final: bool) -> np.ndarray:
    if isinstance(op, _Affine):
        return x * op.scale + op.shift
    y = x @ op.kernel + op.bias
    if op.activation == "relu":
        return np.maximum(y, 0.0)
    # softmax is applied by the caller on the final logits (sampling wants the logits).
    if op.activation == "softmax" and not final:
        return softmax(y)
    return y


# -- load time: fold, precompute, pre-scale -----------------------------------------


def _compile(layers: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, list]:
    """Manifest layers → (first-LSTM input table (V, 4U), ops) in float32."""

    def arr(desc: dict[str, Any], param: str) -> np.ndarray:
        return np.asarray(arrays[f"{desc['name']}.{param}"], dtype=F32)

    if not layers or layers[0]["type"] not in ("embedding", "scalar"):
        raise ValueError("the first layer must be an embedding or a scalar input")
    first, rest = layers[0], layers[1:]

    # 1. Plain float32 ops, BatchNorm as an affine map.
    ops: list[Any] = []
    for desc in rest:
        kind = desc["type"]
        if kind == "lstm":
            ops.append(_Lstm(int(desc["units"]), arr(desc, "kernel"), arr(desc, "recurrent_kernel"), arr(desc, "bias")))
        elif kind == "dense":
            ops.append(_Dense(arr(desc, "kernel"), arr(desc, "bias"), desc.get("activation", "linear")))
        elif kind == "batchnorm":
            eps = float(desc.get("epsilon", 1e-3))
            scale = arr(desc, "gamma") / np.sqrt(arr(desc, "moving_variance") + eps)
            ops.append(_Affine(scale, arr(desc, "beta") - arr(desc, "moving_mean") * scale))
        else:
            raise ValueError(f"layer {desc.get('name')!r}: unknown type {kind!r} here")

    # 2. Fold each affine map into the kernel and bias of the layer after it:
    #    (x*a + b) @ K + c  ==  x @ (a[:, None] * K) + (b @ K + c).
    folded: list[Any] = []
    pending: _Affine | None = None
    for op in ops:
        if isinstance(op, _Affine):
            pending = op if pending is None else _Affine(pending.scale * op.scale, pending.shift * op.scale + op.shift)
            continue
        if pending is not None:
            if isinstance(op, _Lstm):
                op = _Lstm(op.units, pending.scale[:, None] * op.kernel, op.recurrent, op.bias + pending.shift @ op.kernel)
            else:
                op = _Dense(pending.scale[:, None] * op.kernel, op.bias + pending.shift @ op.kernel, op.activation)
            pending = None
        folded.append(op)
    if pending is not None:
        folded.append(pending)  # nothing after it to fold into
    if not folded or not isinstance(folded[0], _Lstm):
        raise ValueError("the input must feed an LSTM")

    # 3. Input layer × first LSTM input kernel → one (V, 4U) table, bias included.
    lstm0 = folded[0]
    if first["type"] == "embedding":
        inputs = arr(first, "embeddings")  # (V, D)
    else:
        # Every token 0..V-1 is a possible input; V is the width of the softmax layer.
        dense = [op for op in folded if isinstance(op, _Dense)]
        if not dense:
            raise ValueError("no Dense output layer")
        n_vocab = int(dense[-1].kernel.shape[1])
        inputs = (np.arange(n_vocab, dtype=F32) * F32(first["scale"]))[:, None]  # (V, 1)
    table = inputs @ lstm0.kernel + lstm0.bias
    folded[0] = _Lstm(lstm0.units, None, lstm0.recurrent, np.zeros_like(lstm0.bias))

    # 4. Pre-scale the sigmoid gates (i, f, o) by 1/2 so one tanh serves all four gates.
    for k, op in enumerate(folded):
        if isinstance(op, _Lstm):
            half = _gate_scale(op.units)
            kernel = None if op.kernel is None else op.kernel * half
            op = _Lstm(op.units, kernel, op.recurrent * half, op.bias * half)
            if kernel is not None:
                op.stacked = np.ascontiguousarray(np.concatenate([kernel, op.recurrent], axis=0))
            folded[k] = op
            if k == 0:
                table = table * half
    return np.ascontiguousarray(table, dtype=F32), folded


def _gate_scale(units: int) -> np.ndarray:
    s = np.full(4 * units, 0.5, dtype=F32)
    s[2 * units : 3 * units] = 1.0  # the candidate (c) gate is a real tanh
    return s
