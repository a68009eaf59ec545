"""The note-level encoding seen from the trainer (``music.notes``): tokens, key handling, the scorecard's view.

Every piece is written ``TS BAR POS P D P D ... BAR ...`` over the encoding's fixed vocabulary
(233 tokens by default), so a validation piece never has a token out of vocabulary. Keys, by
``--key-mode``:

* ``normalise``: every piece moved to C major / A minor when it is encoded; the composer
  draws a key from the style's key distribution (stored in the model's profile);
* ``augment``: pieces keep their keys, and each training chunk is transposed by a fresh random
  interval every epoch, one the chunk's notes allow without leaving the pitch range
  (``KeyAugmenter``: a lookup table, so it costs one gather per chunk and no stored copies);
* ``none``: pieces as they are.

The scorecard listens to the melody (the first, highest pitch at each position): collapse is a
melody pitch repeated, copying a run of melodic intervals (transposition-invariant, rhythm
ignored) found in one training piece. Samples are drawn through the grammar, as the composer
does, without its guards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lstm_composer_plugin.music.codec import NoteCodec
from lstm_composer_plugin.music.corpus import Corpus
from lstm_composer_plugin.music.melody import longest_same_pitch, melody_index, melody_of_tokens
from lstm_composer_plugin.music.notes import (
    SEP,
    NoteEncoding,
    decode_tokens,
    encode_piece,
    opening_tokens,
    token_table,
    transpose_chords,
)
from lstm_composer_plugin.music.profile import NoteRecord, StyleProfile, style_profile
from lstm_composer_plugin.music.stats import CorpusIndex, style_stats
from lstm_composer_plugin.music.tokens import Event, notes_to_events
from lstm_composer_plugin.train.settings import TrainSettings

MAX_SHIFT = 6  # -6..+6 semitones: every key once (the tritone twice)
INTERVAL_BASE = 128  # melodic intervals are stored as interval + 128 so none equals SEP (0)


def note_encoding(settings: TrainSettings) -> NoteEncoding:
    return NoteEncoding(key_mode=settings.key_mode, controls=settings.controls == "bar")


def note_piece_sizes(settings: TrainSettings, corpus: Corpus) -> list[int]:
    enc = note_encoding(settings)
    return [len(encode_piece(p, enc)) + 1 for p in corpus.pieces]


class NoteTokens:
    """The note encoding with the style's profile (``music.profile``) and its training melodies."""

    unit = "note"

    def __init__(self, enc: NoteEncoding, profile: StyleProfile, corpus: Corpus, train_idx: Sequence[int]):
        self.enc, self.profile = enc, profile
        self.codec = NoteCodec(enc, profile)
        self.table = self.codec.table
        self.n_vocab = self.codec.n_vocab
        self._pieces = {}  # piece index -> tokens (no SEP), encoded once
        self._train_idx = list(train_idx)
        self._corpus = corpus

    @classmethod
    def build(cls, settings: TrainSettings, corpus: Corpus, train_idx: Sequence[int],
              val_idx: Sequence[int]) -> NoteTokens:
        enc = note_encoding(settings)
        profile = style_profile([corpus.pieces[i] for i in train_idx], [corpus.pieces[i] for i in val_idx], enc)
        return cls(enc, profile, corpus, train_idx)

    @classmethod
    def from_manifest(cls, info: dict[str, Any], corpus: Corpus, train_idx: Sequence[int]) -> NoteTokens:
        record = NoteRecord.from_dict(info["encoding"])
        return cls(record.encoding, record.profile, corpus, train_idx)

    # -- streams ---------------------------------------------------------------------------

    def piece_tokens(self, corpus: Corpus, i: int) -> np.ndarray:
        if i not in self._pieces:
            self._pieces[i] = encode_piece(corpus.pieces[i], self.enc)
        return self._pieces[i]

    def tokenize(self, corpus: Corpus, idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        parts = [np.append(self.piece_tokens(corpus, i), SEP) for i in idx]
        offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
        tokens = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, dtype=np.int32)
        return tokens, offsets

    def decode(self, tokens: Sequence[int]) -> list[Event]:
        """Tokens → notes → onset events, for the pitch-class and duration histograms."""
        return notes_to_events(decode_tokens([int(t) for t in tokens], self.enc))

    def count_units(self, tokens: np.ndarray) -> int:
        return self.codec.count_units(tokens)

    def count_notes(self, corpus: Corpus, idx: Sequence[int]) -> int:
        return sum(self.codec.count_notes(self.piece_tokens(corpus, i)) for i in idx)

    def style_stats(self, corpus: Corpus, idx: Sequence[int]) -> dict[str, Any]:
        # From the tokens, so the histograms are in the key the network learns (C / Am when normalised).
        return style_stats([self.decode(self.piece_tokens(corpus, i)) for i in idx])

    def coverage(self, corpus: Corpus, idx: Sequence[int]) -> float:
        """Share of the notes that survive the round trip (pitch, onset, duration on the grid)."""
        kept = total = 0
        for i in idx:
            k, n = self.codec.fidelity(corpus.pieces[i])
            kept, total = kept + k, total + n
        return kept / max(total, 1)

    def describe(self) -> str:
        return f"note vocabulary {self.n_vocab} (keys: {self.enc.key_mode})"

    # -- the model file --------------------------------------------------------------------

    def to_manifest(self) -> dict[str, Any]:
        """``vocabulary`` and ``encoding`` (with the style's profile: what compose needs)."""
        return self.codec.records()

    def manifest_stats(self, stats: dict[str, Any], tokens: np.ndarray, offsets: np.ndarray) -> dict[str, Any]:
        return dict(stats)

    def extra_arrays(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The training melodies' index for the melodic copy guard."""
        pieces = [self._corpus.pieces[i] for i in self._train_idx]
        return melody_index(pieces, self.enc, names=list(names)).to_arrays()

    # -- augmentation ----------------------------------------------------------------------

    def transposer(self) -> KeyAugmenter | None:
        return KeyAugmenter(self.enc) if self.enc.key_mode == "augment" else None

    # -- the scorecard's view --------------------------------------------------------------

    def copy_index(self, tokens: np.ndarray, offsets: np.ndarray, names: list[str]) -> CorpusIndex:
        parts = [np.append(self.copy_view(tokens[a:b]), SEP) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        stream = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, dtype=np.int32)
        return CorpusIndex(stream, np.cumsum([0] + [len(p) for p in parts]), names)

    def runs_view(self, tokens: Sequence[int]) -> np.ndarray:
        """The melody's pitches: what collapse (one pitch struck again and again) is measured on."""
        return melody_of_tokens(tokens, self.enc)

    def copy_view(self, tokens: Sequence[int]) -> np.ndarray:
        """Melodic intervals (+128): copying is measured in any key and any rhythm."""
        return np.diff(melody_of_tokens(tokens, self.enc)).astype(np.int32) + INTERVAL_BASE

    def longest_run(self, tokens: Sequence[int]) -> int:
        return longest_same_pitch(self.runs_view(tokens))

    def head(self, tokens: np.ndarray, n_units: int) -> np.ndarray:
        """The first ``n_units`` notes (and what they stand in)."""
        is_p = (tokens >= self.table.p0) & (tokens < self.table.d0)
        at = np.flatnonzero(is_p)
        return tokens if len(at) <= n_units else tokens[: at[n_units]]

    def draw(self, net: Any, n_units: int, *, seed: int, batch: int, top_k: int | None = None) -> list[list[int]]:
        """``batch`` pieces of ``n_units`` notes, through the grammar, no guards (the raw model)."""
        from lstm_composer_plugin.compose.sampling import SamplingSettings, sample
        from lstm_composer_plugin.music.grammar import Grammar

        ts = self.profile.time_signature
        grammar = Grammar(self.enc, time_signature=ts, max_chord=max(1, self.profile.max_chord))
        first = max(self.profile.first_positions, key=self.profile.first_positions.get, default=0)
        opening = opening_tokens(self.enc, ts, first)
        samples = sample(net, 8 * n_units + 64, seed=seed, settings=SamplingSettings(top_k=top_k),
                         primer=[SEP, *opening], batch=batch, grammar=grammar, until_notes=n_units)
        return [opening + s.tokens for s in samples]


class KeyAugmenter:
    """A fresh transposition per chunk and epoch: ``dataset.make_dataset``'s ``transposer``."""

    def __init__(self, enc: NoteEncoding, max_shift: int = MAX_SHIFT):
        t = token_table(enc)
        self.enc, self.max_shift, self.table_info = enc, max_shift, t
        ids = np.arange(t.size, dtype=np.int32)
        is_p = (ids >= t.p0) & (ids < t.d0)
        rows = []
        for shift in range(-max_shift, max_shift + 1):
            moved = ids.copy()
            # Only shifts that keep the chunk in range are drawn; clipping is never used on real notes.
            moved[is_p] = np.clip(ids[is_p] + shift, t.p0, t.d0 - 1)
            rows.append(transpose_chords(moved, shift, enc))  # chord controls move with the notes
        self.table = np.stack(rows)

    def draw(self, tokens: np.ndarray, starts: np.ndarray, span: int, rng: np.random.Generator) -> np.ndarray:
        t, enc = self.table_info, self.enc
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int32)
        window = tokens[starts[:, None] + np.arange(span)[None, :]]
        is_p = (window >= t.p0) & (window < t.d0)
        pitch = window - t.p0 + enc.pitch_low
        lo = np.where(is_p, pitch, enc.pitch_high).min(axis=1)
        hi = np.where(is_p, pitch, enc.pitch_low).max(axis=1)
        low = np.maximum(-self.max_shift, enc.pitch_low - lo)
        high = np.minimum(self.max_shift, enc.pitch_high - hi)
        shift = low + np.floor(rng.random(len(starts)) * (high - low + 1)).astype(np.int64)
        return (shift + self.max_shift).astype(np.int32)


__all__ = ["KeyAugmenter", "NoteTokens", "note_encoding", "note_piece_sizes"]
