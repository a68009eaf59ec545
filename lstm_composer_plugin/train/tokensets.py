"""What training needs from an encoding, for both of them: pieces → token streams, and back.

A :class:`TokenSet` is an encoding (its ``codec``, ``music.codec``) seen from the trainer: it turns
corpus pieces into one token stream (``SEP`` after each piece), says how many musical
units (events or notes) a stream holds, decodes tokens to events for the scorecard's
pitch-class and duration histograms, and writes what a model file and ``run.json``
record about it. ``make_token_set`` builds one for a fresh run, ``restore_token_set``
rebuilds it from ``run.json``.

* ``EventTokens``: one token per onset event (``music.tokens``): the seed's encoding.
* ``NoteTokens``: bar, position, pitch and duration tokens per note (``music.notes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from lstm_composer_plugin.music.codec import Codec, EventCodec
from lstm_composer_plugin.music.corpus import Corpus
from lstm_composer_plugin.music.stats import CorpusIndex, longest_run, style_stats
from lstm_composer_plugin.music.tokens import Event, EventEncoding, Vocabulary, tokenize_pieces
from lstm_composer_plugin.train.settings import TrainSettings


class TokenSet(Protocol):
    unit: str  # "event" or "note"
    n_vocab: int
    codec: Codec  # the encoding itself: what composing and measuring see too

    def tokenize(self, corpus: Corpus, idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]: ...
    def decode(self, tokens: Sequence[int]) -> list[Event]: ...
    def count_units(self, tokens: np.ndarray) -> int: ...
    def count_notes(self, corpus: Corpus, idx: Sequence[int]) -> int: ...
    def style_stats(self, corpus: Corpus, idx: Sequence[int]) -> dict[str, Any]: ...
    def coverage(self, corpus: Corpus, idx: Sequence[int]) -> float: ...
    def describe(self) -> str: ...
    def to_manifest(self) -> dict[str, Any]: ...
    def manifest_stats(self, stats: dict[str, Any], tokens: np.ndarray, offsets: np.ndarray) -> dict[str, Any]: ...
    def extra_arrays(self, names: Sequence[str]) -> dict[str, np.ndarray]: ...
    def transposer(self) -> Any: ...
    # The scorecard's view: what runs and copies are measured on, and how samples are drawn.
    def copy_index(self, tokens: np.ndarray, offsets: np.ndarray, names: list[str]) -> CorpusIndex: ...
    def copy_view(self, tokens: Sequence[int]) -> np.ndarray: ...
    def longest_run(self, tokens: Sequence[int]) -> int: ...
    def runs_view(self, tokens: Sequence[int]) -> np.ndarray: ...
    def head(self, tokens: np.ndarray, n_units: int) -> np.ndarray: ...
    def draw(self, net: Any, n_units: int, *, seed: int, batch: int, top_k: int | None = None) -> list[list[int]]: ...


class EventTokens:
    """The event encoding: a vocabulary of whole onset events, rare ones folded onto neighbours."""

    unit = "event"

    def __init__(self, vocab: Vocabulary, encoding: EventEncoding, min_count: int):
        self.vocab, self.encoding, self.min_count = vocab, encoding, min_count
        self.codec = EventCodec(vocab, encoding)
        self.n_vocab = self.codec.n_vocab

    def tokenize(self, corpus: Corpus, idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        return tokenize_pieces([corpus.events[i] for i in idx], self.vocab)

    def decode(self, tokens: Sequence[int]) -> list[Event]:
        return self.vocab.decode(tokens)

    def count_units(self, tokens: np.ndarray) -> int:
        return self.codec.count_units(tokens)

    def count_notes(self, corpus: Corpus, idx: Sequence[int]) -> int:
        return sum(len(e.pitches) for i in idx for e in corpus.events[i])

    def style_stats(self, corpus: Corpus, idx: Sequence[int]) -> dict[str, Any]:
        return style_stats([corpus.events[i] for i in idx])

    def coverage(self, corpus: Corpus, idx: Sequence[int]) -> float:
        return self.vocab.coverage([corpus.events[i] for i in idx])

    def describe(self) -> str:
        return f"event vocabulary {self.n_vocab} (min count {self.min_count})"

    def to_manifest(self) -> dict[str, Any]:
        return self.codec.records()

    def manifest_stats(self, stats: dict[str, Any], tokens: np.ndarray, offsets: np.ndarray) -> dict[str, Any]:
        from lstm_composer_plugin.train.export import opening_counts

        return {**stats, "opening_counts": opening_counts(tokens, offsets)}

    def extra_arrays(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        return {}

    def transposer(self) -> None:
        return None

    def copy_index(self, tokens: np.ndarray, offsets: np.ndarray, names: list[str]) -> CorpusIndex:
        return CorpusIndex(tokens, offsets, names)

    def copy_view(self, tokens: Sequence[int]) -> np.ndarray:
        return np.asarray(tokens, dtype=np.int32)

    runs_view = copy_view

    def longest_run(self, tokens: Sequence[int]) -> int:
        return longest_run([int(t) for t in tokens])

    def head(self, tokens: np.ndarray, n_units: int) -> np.ndarray:
        return tokens[:n_units]

    def draw(self, net: Any, n_units: int, *, seed: int, batch: int, top_k: int | None = None) -> list[list[int]]:
        from lstm_composer_plugin.compose.sampling import sample_tokens

        return sample_tokens(net, n_units, seed=seed, temperature=1.0, top_k=top_k, guards=None, batch=batch)


def piece_sizes(settings: TrainSettings, corpus: Corpus) -> list[int]:
    """Tokens per piece (with its separator) before any vocabulary exists: what the split weighs."""
    if settings.encoding == "notes":
        from lstm_composer_plugin.train.notetokens import note_piece_sizes

        return note_piece_sizes(settings, corpus)
    return [len(events) + 1 for events in corpus.events]


def make_token_set(settings: TrainSettings, corpus: Corpus, train_idx: Sequence[int],
                   val_idx: Sequence[int]) -> TokenSet:
    """The token set of a fresh run: its vocabulary (and a note model's profile) from the training pieces."""
    if settings.encoding == "notes":
        from lstm_composer_plugin.train.notetokens import NoteTokens

        return NoteTokens.build(settings, corpus, train_idx, val_idx)
    vocab = Vocabulary.build([corpus.events[i] for i in train_idx], min_count=settings.min_count)
    return EventTokens(vocab, EventEncoding(), settings.min_count)


def restore_token_set(info: dict[str, Any], corpus: Corpus, train_idx: Sequence[int]) -> TokenSet:
    """The token set recorded in a run's ``run.json``."""
    settings = TrainSettings.from_dict(info["settings"])
    if settings.encoding == "notes":
        from lstm_composer_plugin.train.notetokens import NoteTokens

        return NoteTokens.from_manifest(info, corpus, train_idx)
    vocab = Vocabulary.from_dict(info["vocabulary"])
    # Every fallback in one pass, as Vocabulary.build computes them.
    missing = sorted({e for seq in corpus.events for e in seq if e not in vocab.index})
    if missing:
        vocab.fallback = dict(zip(missing, vocab.nearest_many(missing), strict=True))
    return EventTokens(vocab, EventEncoding.from_dict(info["encoding"]), settings.min_count)


__all__ = ["EventTokens", "TokenSet", "make_token_set", "piece_sizes", "restore_token_set"]
