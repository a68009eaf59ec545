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

A two-token network (``tokens_per_step`` 2, ``train/network.py``) steps its LSTMs once per pair
of tokens. Its state keeps, per row, the features of its last step and the pair's first token
while it waits for the second; :meth:`NumpyNetwork.step_logits` still takes one token per row
and returns the next token's logits, from the first head after a pair and from the second head
(fed the token just taken) in the middle of one, so the sampling loop does not see the difference.
Its first LSTM's table is two tables, one per place in the pair.
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
    """Hidden and cell state of every LSTM layer, one row per variation.

    A two-token network also keeps, per row, the features its last step ended with (the input
    of its output layers) and the token waiting for its pair (``-1``: none).
    """

    h: list[np.ndarray]
    c: list[np.ndarray]
    features: np.ndarray | None = None
    pending: np.ndarray | None = None

    @property
    def batch(self) -> int:
        return self.h[0].shape[0]

    def copy(self) -> LstmState:
        return LstmState([x.copy() for x in self.h], [x.copy() for x in self.c],
                         None if self.features is None else self.features.copy(),
                         None if self.pending is None else self.pending.copy())

    def take_row(self, row: int) -> tuple:
        """One row's state, copied (to put back with :meth:`put_row`)."""
        return ([h[row].copy() for h in self.h], [c[row].copy() for c in self.c],
                None if self.features is None else self.features[row].copy(),
                None if self.pending is None else int(self.pending[row]))

    def put_row(self, row: int, saved: tuple) -> None:
        hs, cs, features, pending = saved
        for k in range(len(hs)):
            self.h[k][row] = hs[k]
            self.c[k][row] = cs[k]
        if self.features is not None:
            self.features[row] = features
            self.pending[row] = pending


class NumpyNetwork:
    """An exported network (manifest ``layers`` + arrays), ready to step."""

    def __init__(self, layers: list[dict[str, Any]], arrays: dict[str, np.ndarray]):
        chain = [d for d in layers if d.get("head") is None]
        head_b = [d for d in layers if d.get("head") == "b"]
        self.tokens_per_step = int(chain[0].get("tokens_per_step", 1)) if chain else 1
        if self.tokens_per_step not in (1, 2) or (self.tokens_per_step == 2) != bool(head_b):
            raise ModelFileError("model file's network: tokens_per_step must be 1, or 2 with a second head")
        self.table, self.ops = _compile(chain, arrays)
        self.table_b: np.ndarray | None = None  # two-token networks: the pair's second token's table
        self.head_b: _HeadB | None = None
        if self.tokens_per_step == 2:
            self.table, self.table_b, self.head_b = _compile_pair(chain, head_b, arrays, self.table)
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
        state = LstmState(
            [np.zeros((batch, op.units), F32) for op in self.lstms],
            [np.zeros((batch, op.units), F32) for op in self.lstms],
        )
        if self.tokens_per_step == 2:
            x = state.h[-1]
            for op in self.ops[len(self.lstms) : -1]:
                x = _apply(op, x, final=False)
            state.features = np.ascontiguousarray(x, dtype=F32)
            state.pending = np.full(batch, -1, dtype=np.intp)
        return state

    # -- one event --------------------------------------------------------------

    def step_logits(self, state: LstmState, tokens: np.ndarray) -> tuple[LstmState, np.ndarray]:
        """Consume one token per row; returns the new state and next-event logits (B, V)."""
        tokens = np.asarray(tokens, dtype=np.intp).reshape(-1)
        if self.tokens_per_step == 2:
            return self._step_pair(state, tokens)
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

    def _step_pair(self, state: LstmState, tokens: np.ndarray) -> tuple[LstmState, np.ndarray]:
        """The two-token network's step: a pair's first token waits (the second head gives the logits of
        the token after it); its second one runs the LSTMs on the pair (the first head gives the next)."""
        first = state.pending < 0  # rows where this token begins a pair
        new = state.copy()
        logits = np.empty((len(tokens), self.n_vocab), F32)
        if first.any():
            rows = np.flatnonzero(first) if not first.all() else slice(None)
            logits[rows] = self.head_b.logits(state.features[rows], tokens[rows])
            new.pending[rows] = tokens[rows]
        if not first.all():
            rows = np.flatnonzero(~first) if first.any() else slice(None)
            z0 = self.table[state.pending[rows]] + self.table_b[tokens[rows]]
            x = z0
            k = 0
            for op in self.ops[:-1]:
                if isinstance(op, _Lstm):
                    h, c = state.h[k][rows], state.c[k][rows]
                    z = x + h @ op.recurrent if op.kernel is None else np.concatenate([x, h], axis=1) @ op.stacked + op.bias
                    h, c = _lstm_cell(z, c, op.units)
                    new.h[k][rows], new.c[k][rows] = h, c
                    x = h
                    k += 1
                else:
                    x = _apply(op, x, final=False)
            new.features[rows] = x
            logits[rows] = _apply(self.ops[-1], x, final=True)
            new.pending[rows] = -1
        return new, logits

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
        if self.tokens_per_step == 2:  # token by token: a pair's two tokens take different heads
            steps = []
            for t in range(length):
                state, lg = self.step_logits(state, tokens[:, t])
                steps.append(lg)
            x = np.stack(steps, axis=1) if all_positions else steps[-1]
            return state, (x if logits else softmax(x))
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


@dataclass
class _HeadB:
    """The two-token network's second head: the features and the pair's first token → its second."""

    kernel: np.ndarray  # (F, H): features → hidden (the BatchNorm before the output folded in)
    table: np.ndarray  # (V, H): the first token's embedding × its rows of the hidden kernel, bias included
    out_kernel: np.ndarray  # (H, V)
    out_bias: np.ndarray  # (V,)

    def logits(self, features: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        hidden = np.maximum(features @ self.kernel + self.table[tokens], 0.0)
        return hidden @ self.out_kernel + self.out_bias


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
    kernel0 = lstm0.kernel
    if first.get("tokens_per_step", 1) == 2:
        kernel0 = kernel0[: inputs.shape[1]]  # a pair's first place (its second: _compile_pair)
    table = inputs @ kernel0 + lstm0.bias
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


def _compile_pair(chain: list[dict[str, Any]], head: list[dict[str, Any]], arrays: dict[str, np.ndarray],
                  table: np.ndarray) -> tuple[np.ndarray, np.ndarray, _HeadB]:
    """The two-token network's second table and head, beside what ``_compile`` made of its chain.

    ``_compile`` made the table of a pair's first place (the first E rows of the first input
    kernel, (2E, 4U), with the bias); the second place's is the other E rows. The features the heads read are the
    output layer's input; the BatchNorm between them was folded into the output layer, so it is
    folded into the second head's hidden layer here too.
    """

    def arr(desc: dict[str, Any], param: str) -> np.ndarray:
        return np.asarray(arrays[f"{desc['name']}.{param}"], dtype=F32)

    emb = arr(chain[0], "embeddings")  # (V, E)
    width = emb.shape[1]
    lstm0 = next(d for d in chain if d["type"] == "lstm")
    kernel0 = arr(lstm0, "kernel")
    if kernel0.shape[0] != 2 * width:
        raise ValueError(f"{lstm0['name']}: a pair's input is {2 * width} wide, not {kernel0.shape[0]}")
    half = _gate_scale(int(lstm0["units"]))
    table_b = np.ascontiguousarray((emb @ kernel0[width:]) * half, dtype=F32)

    by_name = {d["name"]: d for d in head}
    hidden, out = by_name.get("head_b_hidden"), by_name.get("output_b")
    if hidden is None or out is None:
        raise ValueError("the second head needs head_b_hidden and output_b")
    k_hidden, b_hidden = arr(hidden, "kernel"), arr(hidden, "bias")
    n_features = k_hidden.shape[0] - width
    scale, shift = np.ones(n_features, F32), np.zeros(n_features, F32)
    before = chain[-2] if len(chain) >= 2 else None
    if before is not None and before["type"] == "batchnorm":
        eps = float(before.get("epsilon", 1e-3))
        scale = arr(before, "gamma") / np.sqrt(arr(before, "moving_variance") + eps)
        shift = arr(before, "beta") - arr(before, "moving_mean") * scale
    k_features = k_hidden[:n_features]
    head = _HeadB(
        kernel=np.ascontiguousarray(scale[:, None] * k_features, dtype=F32),
        table=np.ascontiguousarray(emb @ k_hidden[n_features:] + shift @ k_features + b_hidden, dtype=F32),
        out_kernel=arr(out, "kernel"),
        out_bias=arr(out, "bias"),
    )
    return table, table_b, head


def _gate_scale(units: int) -> np.ndarray:
    s = np.full(4 * units, 0.5, dtype=F32)
    s[2 * units : 3 * units] = 1.0  # the candidate (c) gate is a real tanh
    return s
