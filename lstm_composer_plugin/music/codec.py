"""The encoding interface: music ⇄ integer tokens, one implementation per encoding.

Training (``train.tokensets``), composing (``compose.composer``) and measuring (``music.evaluate``,
``bench/quality.py``) all see an encoding through a :class:`Codec`, as magenta's note-seq sees one
through its ``EncoderDecoder``:

* :class:`NoteCodec`: bars, positions, pitches and durations with metre, keys and (newer models)
  bar controls (``music.notes``); what every published model uses.
* :class:`EventCodec`: one token per onset event through a learnt vocabulary (``music.tokens``);
  the seed's encoding, kept for the reference recipe and the models trained before the notes.

:func:`codec_for` rebuilds a model's codec from its manifest (the ``vocabulary`` and ``encoding``
records); :meth:`Codec.records` writes them back. Token 0 (``SEP``) ends a piece in both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lstm_composer_plugin.music import grammar as gr
from lstm_composer_plugin.music import notes as nt
from lstm_composer_plugin.music import tokens as tk
from lstm_composer_plugin.music.midi import Note, Piece
from lstm_composer_plugin.music.notetable import KIND, SEP
from lstm_composer_plugin.music.profile import NoteRecord, StyleProfile

ENCODINGS = (KIND, "events")  # the manifest's names; the first is what new models are trained on


class Codec(ABC):
    """One encoding's view of music as integer tokens (``sep`` ends a piece)."""

    kind: str  # "notes" or "events"
    unit: str  # what a length counts: "note" or "event"
    n_vocab: int
    sep: int = SEP

    @abstractmethod
    def encode(self, piece: Piece) -> list[int]:
        """A piece's tokens (without the closing separator)."""

    @abstractmethod
    def decode(self, tokens: Sequence[int]) -> list[Note]:
        """Tokens back to notes (in beats), in the stream's own metre."""

    @abstractmethod
    def count_notes(self, tokens: Sequence[int]) -> int:
        """Notes a token stream holds: the unit bits per note are counted in, comparable across encodings."""

    @abstractmethod
    def count_units(self, tokens: Sequence[int]) -> int:
        """What a length counts (``unit``): notes, or onset events."""

    @abstractmethod
    def time_signature(self, tokens: Sequence[int]) -> tuple[int, int]:
        """The metre of a decoded token stream."""

    def start(self, time_signature: tuple[int, int]) -> tuple[list[int], Any]:
        """The tokens a composition in ``time_signature`` starts with, and a grammar state (``allowed()``
        mask over the vocabulary, ``push(token)``) that keeps sampled sequences well formed, or None."""
        return [], None

    @abstractmethod
    def fidelity(self, piece: Piece) -> tuple[int, int]:
        """(notes that come back from encode → decode with pitch, onset and length on the grid, notes)."""

    @abstractmethod
    def records(self) -> dict[str, Any]:
        """The manifest's ``vocabulary`` and ``encoding`` records, from which :func:`codec_for` rebuilds it."""


class NoteCodec(Codec):
    """The note-level encoding with metre (``music.notes``), with the model's key handling and profile."""

    kind, unit = "notes", "note"

    def __init__(self, encoding: nt.NoteEncoding, profile: StyleProfile | None = None):
        self.encoding, self.profile = encoding, profile
        self.table = nt.token_table(encoding)
        self.n_vocab = self.table.size

    def encode(self, piece: Piece) -> list[int]:
        return [int(t) for t in nt.encode_piece(piece, self.encoding)]

    def decode(self, tokens: Sequence[int]) -> list[Note]:
        return list(nt.decode_tokens(tokens, self.encoding, time_signature=self.time_signature(tokens)))

    def count_notes(self, tokens: Sequence[int]) -> int:
        return int(nt.count_notes(tokens, self.encoding))

    count_units = count_notes

    def time_signature(self, tokens: Sequence[int]) -> tuple[int, int]:
        return nt.first_time_signature(tokens, self.encoding) or (4, 4)

    def start(self, time_signature: tuple[int, int]) -> tuple[list[int], Any]:
        state = gr.Grammar(self.encoding, time_signature=time_signature).start()
        prefix = [self.table.ts_token(time_signature), nt.BAR]
        for tok in prefix:
            state.push(tok)
        return prefix, state

    def fidelity(self, piece: Piece) -> tuple[int, int]:
        return nt.round_trip(piece, self.encoding)

    def records(self) -> dict[str, Any]:
        if self.profile is None:
            raise ValueError("a note codec without a style profile cannot be written to a manifest")
        return {"vocabulary": nt.NoteVocabulary(self.encoding).to_dict(),
                "encoding": NoteRecord(self.encoding, self.profile).to_dict()}


class EventCodec(Codec):
    """The onset-event encoding (``music.tokens``): one token per onset, through the model's vocabulary."""

    kind, unit = "events", "event"

    def __init__(self, vocab: tk.Vocabulary, encoding: tk.EventEncoding | None = None):
        self.vocab, self.encoding = vocab, encoding or tk.EventEncoding()
        self.n_vocab = len(vocab)
        self._sizes = np.array([0 if e is None else len(e.pitches) for e in vocab.events])

    def encode(self, piece: Piece) -> list[int]:
        return self.vocab.encode(tk.piece_to_events(piece, self.encoding))

    def decode(self, tokens: Sequence[int]) -> list[Note]:
        return tk.events_to_notes(self.vocab.decode(tokens), self.encoding)

    def count_notes(self, tokens: Sequence[int]) -> int:
        return int(self._sizes[np.asarray(tokens, dtype=np.int64)].sum())

    def count_units(self, tokens: Sequence[int]) -> int:
        return int(np.count_nonzero(np.asarray(tokens) != SEP))

    def time_signature(self, tokens: Sequence[int]) -> tuple[int, int]:
        return (4, 4)  # the encoding has no metre; compositions are written in 4/4

    def fidelity(self, piece: Piece) -> tuple[int, int]:
        # Through the vocabulary: an event without a token of its own comes back as its nearest.
        grid = self.encoding.grid

        def on_grid(notes: Sequence[Note]) -> set[tuple[int, int, int]]:
            return {(round(n.start * grid), n.pitch, round(n.duration * grid)) for n in notes}

        want = on_grid(piece.notes)
        return len(want & on_grid(self.decode(self.encode(piece)))), len(want)

    def records(self) -> dict[str, Any]:
        return {"vocabulary": self.vocab.to_dict(), "encoding": self.encoding.to_dict()}


def encoding_of(manifest: Mapping[str, Any]) -> str:
    """The encoding a model's manifest records: ``notes`` or ``events`` (older files have no name)."""
    return KIND if nt.is_note_encoding(manifest.get("encoding")) else "events"


def codec_for(manifest: Mapping[str, Any]) -> Codec:
    """The codec of a model file's manifest, whichever encoding it was trained on."""
    if encoding_of(manifest) == KIND:
        record = manifest["encoding"]
        if "profile" in record:
            full = NoteRecord.from_dict(record)
            return NoteCodec(full.encoding, full.profile)
        return NoteCodec(nt.NoteEncoding.from_dict(record))
    return EventCodec(tk.Vocabulary.from_dict(manifest["vocabulary"]),
                      tk.EventEncoding.from_dict(manifest.get("encoding") or {}))


__all__ = ["ENCODINGS", "SEP", "Codec", "EventCodec", "NoteCodec", "codec_for", "encoding_of"]
