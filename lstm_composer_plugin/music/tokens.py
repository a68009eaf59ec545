"""Notes ⇄ events ⇄ integer tokens.

An *event* is everything that starts at one onset: the sorted pitches (a chord
keeps its octaves), how long they sound, and the time until the next onset
(so rests are real). Times are counted on a grid of ``GRID`` steps per beat,
which holds 32nds, sixteenths and their triplets (docs/tokens.md).

Durations are one value for the whole chord when its notes agree, and one per
note where voices differ. Measured on the corpus (docs/tokens.md): a single
chord duration keeps only ~82 % of Bach's and trecento's note lengths, while
per-note durations keep all of them for ~30 % more distinct events; the
vocabulary's fallback folds rare per-note events back onto their chord form.

A :class:`Vocabulary` maps events to integers. Events seen fewer than
``min_count`` times are not given a token of their own but fall back,
deterministically, to the nearest frequent event (same time shift first, then
the closest pitches and durations), so an unseen chord never crashes anything.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstm_composer_plugin.music.midi import Note, Piece
from lstm_composer_plugin.music.notetable import (
    SEP,  # token between pieces (both encodings); never music
)

GRID = 24  # steps per beat (quarter note): 32nds (3), sixteenths (6), triplet eighths (8) and sixteenths (4)
MAX_STEPS = 384  # 16 beats (four 4/4 bars): longer notes and rests are capped


@dataclass(frozen=True, order=True)
class Event:
    pitches: tuple[int, ...]  # ascending MIDI pitches
    durations: tuple[int, ...]  # grid steps: one value for the chord, or one per pitch
    shift: int  # grid steps to the next onset (0 after the last one)

    def duration_of(self, i: int) -> int:
        return self.durations[0] if len(self.durations) == 1 else self.durations[i]

    @property
    def chord_form(self) -> Event:
        """The same event with one duration for the chord (the most common, longest on ties)."""
        if len(self.durations) == 1:
            return self
        counts = Counter(self.durations)
        best = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
        return Event(self.pitches, (best,), self.shift)

    def to_str(self) -> str:
        return ".".join(map(str, self.pitches)) + "|" + ".".join(map(str, self.durations)) + f"|{self.shift}"

    @classmethod
    def from_str(cls, text: str) -> Event:
        p, d, s = text.split("|")
        return cls(tuple(int(x) for x in p.split(".")), tuple(int(x) for x in d.split(".")), int(s))


@dataclass(frozen=True)
class EventEncoding:
    grid: int = GRID
    max_steps: int = MAX_STEPS

    def to_dict(self) -> dict[str, Any]:
        return {"grid": self.grid, "max_steps": self.max_steps}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EventEncoding:
        return cls(grid=int(d.get("grid", GRID)), max_steps=int(d.get("max_steps", MAX_STEPS)))

    def quantise(self, beats: float) -> int:
        return int(round(beats * self.grid))


def piece_to_events(piece: Piece, encoding: EventEncoding = EventEncoding()) -> list[Event]:
    return notes_to_events(piece.notes, encoding)


def notes_to_events(notes: Sequence[Note], encoding: EventEncoding = EventEncoding()) -> list[Event]:
    groups: dict[int, dict[int, int]] = {}
    for n in notes:
        onset = encoding.quantise(n.start)
        dur = min(encoding.max_steps, max(1, encoding.quantise(n.duration)))
        chord = groups.setdefault(onset, {})
        chord[n.pitch] = max(dur, chord.get(n.pitch, 0))  # a doubled pitch sounds once
    onsets = sorted(groups)
    events = []
    for i, onset in enumerate(onsets):
        chord = groups[onset]
        pitches = tuple(sorted(chord))
        durs = tuple(chord[p] for p in pitches)
        if len(set(durs)) == 1:
            durs = durs[:1]
        shift = min(encoding.max_steps, onsets[i + 1] - onset) if i + 1 < len(onsets) else 0
        events.append(Event(pitches, durs, shift))
    return events


def events_to_notes(
    events: Iterable[Event],
    encoding: EventEncoding = EventEncoding(),
    velocity: int = 80,
    start: float = 0.0,
) -> list[Note]:
    notes = []
    t = int(round(start * encoding.grid))
    for ev in events:
        for i, p in enumerate(ev.pitches):
            notes.append(Note(pitch=p, start=t / encoding.grid, duration=ev.duration_of(i) / encoding.grid, velocity=velocity))
        # A last event has no shift; a following one (in a composition) starts after it ends.
        t += ev.shift if ev.shift else max(ev.durations)
    return notes


class Vocabulary:
    """Events ⇄ integers. Token 0 is the piece separator; tokens 1.. are events by falling count."""

    def __init__(self, events: Sequence[Event], counts: Sequence[int], fallback: dict[Event, Event] | None = None):
        self.events: list[Event | None] = [None, *events]
        self.counts: list[int] = [0, *counts]
        self.index: dict[Event, int] = {e: i for i, e in enumerate(self.events) if e is not None}
        self.fallback: dict[Event, Event] = dict(fallback or {})
        self._features: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.events)

    @classmethod
    def build(cls, sequences: Iterable[Sequence[Event]], min_count: int = 2, max_size: int | None = None) -> Vocabulary:
        counter: Counter[Event] = Counter()
        for seq in sequences:
            counter.update(seq)
        # Folding a rare per-note event to its chord form first keeps its time and pitches exactly.
        folded: Counter[Event] = Counter()
        for ev, c in counter.items():
            if c < min_count:
                folded[ev.chord_form] += c
            else:
                folded[ev] += c
        ranked = sorted(folded.items(), key=lambda kv: (-kv[1], kv[0]))
        keep = [(e, c) for e, c in ranked if c >= min_count]
        if not keep:  # a tiny corpus: keep everything rather than nothing
            keep = ranked
        if max_size is not None:
            keep = keep[: max(1, max_size - 1)]
        vocab = cls([e for e, _ in keep], [c for _, c in keep])
        missing = sorted(ev for ev in counter if ev not in vocab.index)
        vocab.fallback = dict(zip(missing, vocab.nearest_many(missing), strict=True))
        return vocab

    # -- mapping ---------------------------------------------------------
    def encode(self, events: Iterable[Event]) -> list[int]:
        return [self.token(e) for e in events]

    def token(self, event: Event) -> int:
        tok = self.index.get(event)
        if tok is not None:
            return tok
        target = self.fallback.get(event)
        if target is None:
            target = self.nearest(event)
            self.fallback[event] = target
        return self.index[target]

    def decode(self, tokens: Iterable[int]) -> list[Event]:
        return [e for t in tokens if (e := self.events[int(t)]) is not None]

    def coverage(self, sequences: Iterable[Sequence[Event]]) -> float:
        """Share of events that have a token of their own (no fallback needed)."""
        total = hit = 0
        for seq in sequences:
            total += len(seq)
            hit += sum(1 for e in seq if e in self.index)
        return hit / total if total else 1.0

    # -- nearest frequent event -----------------------------------------
    def nearest(self, event: Event) -> Event:
        return self.nearest_many([event])[0]

    def nearest_many(self, events: Sequence[Event], chunk: int = 256) -> list[Event]:
        """The closest events with a token: an event's chord form if it has one; else by a cost where the same
        shift matters most, then pitches, then durations (the most frequent event on ties)."""
        out = [e.chord_form for e in events]
        todo = [i for i, c in enumerate(out) if c not in self.index]
        if not todo:
            return out
        cand_t, shift_c, dur_c = self._feature_matrix()
        for lo in range(0, len(todo), chunk):
            rows = todo[lo : lo + chunk]
            q = np.zeros((len(rows), 142), dtype=np.float32)
            qm = np.zeros((len(rows), 2), dtype=np.float32)
            for r, i in enumerate(rows):
                _set_features(q[r, :140], qm[r], events[i])
            # |A| + |B| - 2 |A ∩ B| over pitches, and at half weight over pitch classes, as one product:
            # the query's sizes and the candidates' sit in the two extra columns (see _feature_matrix).
            q[:, 140] = q[:, :140] @ _SET_WEIGHT
            q[:, 141] = 1.0
            q[:, :140] *= -2.0 * _SET_WEIGHT
            cost = q @ cand_t
            d = np.subtract(qm[:, 1:2], shift_c[None, :])
            np.abs(d, out=d)
            d *= 4.0
            cost += d
            np.subtract(qm[:, 0:1], dur_c[None, :], out=d)
            np.abs(d, out=d)
            cost += d
            cost[:, 0] = np.inf  # never the separator
            best = cost.argmin(1)  # the lowest token, i.e. the most frequent event, on ties
            for r, i in enumerate(rows):
                out[i] = self.events[int(best[r])]
        return out

    def _feature_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidates for ``nearest_many``: set features (transposed, with a column of ones and their
        weighted sizes) and log2 shift and duration. The set terms are small multiples of 0.5, so exact in float32."""
        if self._features is None:
            n = len(self.events)
            pitch_mat = np.zeros((n, 142), dtype=np.float32)
            meta = np.zeros((n, 2), dtype=np.float32)
            for i, e in enumerate(self.events):
                if e is not None:
                    _set_features(pitch_mat[i, :140], meta[i], e)
            pitch_mat[:, 140] = 1.0
            pitch_mat[:, 141] = pitch_mat[:, :140] @ _SET_WEIGHT
            self._features = (np.ascontiguousarray(pitch_mat.T), meta[:, 1].copy(), meta[:, 0].copy())
        return self._features

    # -- serialisation ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "events": [e.to_str() for e in self.events[1:] if e is not None],
            "counts": self.counts[1:],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        return cls([Event.from_str(s) for s in d["events"]], [int(c) for c in d["counts"]])

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        return cls.from_dict(json.loads(text))


# Pitches count 1 each in the set cost, pitch classes 0.5.
_SET_WEIGHT = np.concatenate([np.ones(128, np.float32), np.full(12, 0.5, np.float32)])


def _set_features(pitch_row: np.ndarray, meta_row: np.ndarray, event: Event) -> None:
    """Pitches (128 one-hot), pitch classes (12) and log2 of chord duration and shift."""
    for p in event.pitches:
        pitch_row[p] = 1.0
        pitch_row[128 + p % 12] = 1.0
    meta_row[0] = np.log2(max(event.chord_form.durations[0], 1))
    meta_row[1] = np.log2(event.shift + 1)


def tokenize_pieces(event_seqs: Sequence[Sequence[Event]], vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate pieces as tokens with ``SEP`` after each; returns (tokens, piece start offsets)."""
    out: list[int] = []
    offsets = [0]
    for seq in event_seqs:
        out.extend(vocab.encode(seq))
        out.append(SEP)
        offsets.append(len(out))
    return np.asarray(out, dtype=np.int32), np.asarray(offsets, dtype=np.int64)
