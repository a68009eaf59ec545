"""Token streams → ``tf.data`` pipelines for both recipes, and the validation split.

The corpus is one long stream of tokens (``tokens.tokenize_pieces``: each piece
followed by ``SEP``). Two ways to cut it into training examples:

``default`` (DESIGN decision 2): chunks of ``seq_len + 1`` tokens; the input is
the first ``seq_len`` and the target the same chunk shifted by one, so *every*
position predicts its next event. Each epoch starts the chunk grid at a random
offset (so no boundary is always a boundary) and shuffles the chunks. Every token
is a target about once per epoch and the data costs 4 bytes per token.

``reference`` (the seed's recipe, kept for comparison): every window of
``seq_len`` tokens, stride 1, fed as a float (the network scales it to
``index / n_vocab``) with a one-hot target for the token after the window. Each
token is pushed through the LSTMs ``seq_len`` times per epoch to yield one target.
The one-hot is made per batch inside the pipeline, so memory still grows with the
corpus and not corpus × vocabulary as in the seed's materialised arrays.

Validation holds out whole pieces (a chorale's second half should not sit in the
training set while its first half is validated), chosen by a hash of the piece
name: deterministic, and stable when pieces are added to the folder. A corpus of
style folders (the whole corpus, for pre-training) is split folder by folder on the
names within each folder, so it holds out exactly the pieces each style's own run
holds out, and a style fine-tuned from the corpus-wide network never trained on its
own validation pieces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Split:
    train: list[int]  # piece indices, in corpus order
    val: list[int]


def split_pieces(names: Sequence[str], val_fraction: float = 0.1, *, sizes: Sequence[int] | None = None,
                 min_val_tokens: int = 0, max_val_share: float = 0.25) -> Split:
    """Hold out about ``val_fraction`` of the pieces (at least one when there are two or more).

    With ``sizes`` (tokens per piece), more pieces are held out, in the same hash order, until
    the validation side has ``min_val_tokens`` (one training sequence): a tiny corpus's one
    held-out song may be too short to validate on. At most ``max_val_share`` of the pieces
    go that way, so training keeps the bulk. Names in subfolders (``style/piece.mid``) are
    split per top-level folder, each as if it were the corpus on its own.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        head, sep, _ = name.replace("\\", "/").partition("/")
        groups.setdefault(head if sep else "", []).append(i)
    val: list[int] = []
    for folder, members in groups.items():
        cut = len(folder) + 1 if folder else 0
        local = _split_flat([names[i][cut:] for i in members], val_fraction,
                            None if sizes is None else [sizes[i] for i in members], min_val_tokens, max_val_share)
        val.extend(members[j] for j in local)
    held = set(val)
    return Split(train=[i for i in range(len(names)) if i not in held], val=sorted(val))


def _split_flat(names: Sequence[str], val_fraction: float, sizes: Sequence[int] | None, min_val_tokens: int,
                max_val_share: float) -> list[int]:
    n = len(names)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    ranked = sorted(range(n), key=lambda i: (hashlib.sha256(names[i].encode()).hexdigest(), i))
    if sizes is not None and n_val:
        cap = max(n_val, int(n * max_val_share))
        while n_val < cap and sum(sizes[i] for i in ranked[:n_val]) < min_val_tokens:
            n_val += 1
    return ranked[:n_val]


# -- example positions -----------------------------------------------------------


def chunk_starts(n_tokens: int, seq_len: int, rng: np.random.Generator | None, *, step: int = 1) -> np.ndarray:
    """Starts of the default recipe's chunks: a grid of stride ``seq_len``.

    With ``rng`` the grid begins at a random offset and the chunks are shuffled
    (training); without, it begins at 0 and a last chunk is aligned to the end so
    every token is a target (validation: the same positions every epoch). ``step``
    is the tokens per network step: a chunk holds its inputs and the step after them.
    """
    span = seq_len + step  # inputs and the targets after the last input
    if n_tokens < span:
        return np.zeros(0, dtype=np.int64)
    last = n_tokens - span  # the highest valid start
    if rng is None:
        starts = np.arange(0, last + 1, seq_len, dtype=np.int64)
        if starts[-1] != last:
            starts = np.append(starts, last)
        return starts
    offset = int(rng.integers(0, min(seq_len, last + 1)))
    starts = np.arange(offset, last + 1, seq_len, dtype=np.int64)
    rng.shuffle(starts)
    return starts


def window_starts(n_tokens: int, seq_len: int, rng: np.random.Generator | None) -> np.ndarray:
    """Starts of the reference recipe's windows: every position (stride 1)."""
    starts = np.arange(0, max(n_tokens - seq_len, 0), dtype=np.int64)
    if rng is not None:
        rng.shuffle(starts)
    return starts


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The data order of one epoch depends only on (seed, epoch): a resumed run sees the same."""
    return np.random.default_rng([seed, epoch])


# -- tf.data ----------------------------------------------------------------------


class Transposer(Protocol):
    """Key augmentation for the note encoding (``notetokens.KeyAugmenter``)."""

    table: np.ndarray  # (shifts, n_vocab) int32: row r maps every token to its transposition by shift r

    def draw(self, tokens: np.ndarray, starts: np.ndarray, span: int, rng: np.random.Generator) -> np.ndarray:
        """One table row per example, chosen at random among the shifts its notes allow."""
        ...


def make_dataset(
    tokens: np.ndarray,
    *,
    recipe: str,
    input_kind: str,
    seq_len: int,
    batch_size: int,
    n_vocab: int,
    rng: np.random.Generator | None,
    max_examples: int | None = None,
    transposer: Transposer | None = None,
    tokens_per_step: int = 1,
):  # -> tf.data.Dataset
    """Batches of (inputs, targets) for one epoch (``rng`` None: fixed order, for validation).

    With ``tokens_per_step`` 2 a chunk of ``seq_len + 2`` tokens is ``seq_len / 2 + 1`` pairs: the
    inputs are each pair with the next pair's first token, ``(seq_len / 2, 3)``, the targets the
    next pairs, ``(seq_len / 2, 2)`` (``network.build_model``).

    ``max_examples`` trains on that many of the epoch's shuffled examples (a big corpus's
    epoch subsampled); ``transposer`` (training only) transposes each example by a fresh
    random interval: a lookup in a table of the vocabulary's transpositions, so augmentation
    costs one gather per example and no stored copies.
    """
    import tensorflow as tf

    stream = tf.constant(np.asarray(tokens, dtype=np.int32))
    every_position = recipe == "default"
    k = tokens_per_step
    if every_position:
        starts = chunk_starts(len(tokens), seq_len, rng, step=k)
    else:
        starts = window_starts(len(tokens), seq_len, rng)
    if rng is not None and max_examples is not None:
        starts = starts[:max_examples]
    span = seq_len + k
    if transposer is not None and rng is not None:
        rows = np.asarray(transposer.draw(np.asarray(tokens), starts, span, rng), dtype=np.int32)
        table = tf.constant(np.asarray(transposer.table, dtype=np.int32))
        slices = (starts, rows)
    else:
        table = None
        slices = (starts, np.zeros(len(starts), dtype=np.int32))

    def example(start, row):
        chunk = stream[start : start + span]
        if table is not None:
            chunk = tf.gather(table[row], chunk)
        if k == 2:
            pairs = tf.reshape(chunk, (-1, 2))
            return tf.concat([pairs[:-1], pairs[1:, :1]], axis=1), pairs[1:]
        if every_position:
            return _as_input(chunk[:-1], input_kind), chunk[1:]
        return _as_input(chunk[:-1], input_kind), tf.one_hot(chunk[-1], n_vocab)

    ds = tf.data.Dataset.from_tensor_slices(slices)
    ds = ds.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def pair_examples(chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chunks of ``2 + 2n`` tokens, ``(B, 2 + 2n)`` → the two-token network's inputs ``(B, n, 3)``
    and targets ``(B, n, 2)``: the NumPy twin of ``make_dataset``'s pairs (validation, BatchNorm)."""
    pairs = np.asarray(chunks).reshape(len(chunks), -1, 2)
    return np.concatenate([pairs[:, :-1], pairs[:, 1:, :1]], axis=2), pairs[:, 1:]


def _as_input(tokens, input_kind: str):
    import tensorflow as tf

    if input_kind == "embedding":
        return tokens
    # The scalar input: one float feature per step (the model's Rescaling makes it index / n_vocab).
    return tf.cast(tokens, tf.float32)[:, None]
