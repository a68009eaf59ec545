"""Which note-level tokens may come next, so that sampling only ever writes well-formed music.

    start ─► TS ─► BAR ─► POS ─► P ─► D ─┬─► P (lower than the chord's last pitch, chord not full)
                   ▲  │                  ├─► POS (later in the bar)
                   │  └─► BAR (one empty ├─► BAR
                   │       bar at most)  └─► TS (only if time signatures may change)

Positions stay inside the bar's length (the time signature's), rise within a bar, and a chord is
written highest note first, at most ``max_chord`` notes. ``GrammarState`` also keeps the count of
notes and the time reached (for ``--length`` in notes and ``--seconds``), and tells which pitch
is the melody note (the first one at its position) for the melodic guards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstm_composer_plugin.music.notetable import (
    BAR,
    SEP,
    NoteEncoding,
    TokenTable,
    fold_time_signature,
    token_table,
)


@dataclass(frozen=True)
class Grammar:
    encoding: NoteEncoding
    time_signature: tuple[int, int] = (4, 4)  # until a TS token says otherwise
    max_chord: int = 4
    allow_ts: bool = False  # time signature changes after the first bar (composing: no)
    max_empty_bars: int = 1

    def start(self) -> GrammarState:
        return GrammarState(self)


@dataclass
class GrammarState:
    grammar: Grammar
    phase: str = "start"  # start | ts | bar | pos | p | d
    bar_start: int | None = None
    bar_len: int = 0
    next_len: int = 0
    pos: int = -1
    chord: int = 0  # notes at the current position
    last_pitch: int = -1  # token of the chord's last pitch
    empty_bars: int = 0
    notes: int = 0
    seen_ts: bool = False
    _table: TokenTable | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._table = t = token_table(self.grammar.encoding)
        self.bar_len = self.next_len = t.bar_steps(fold_time_signature(self.grammar.time_signature, t.encoding))

    @property
    def now(self) -> int:
        """Grid steps from the start to the current position (or bar line)."""
        return (self.bar_start or 0) + max(self.pos, 0)

    @property
    def melody_next(self) -> bool:
        """Whether the next pitch is a melody note (the first, highest one at its position)."""
        return self.phase == "pos"

    def push(self, tok: int) -> int | None:
        """Record a token (sampled or primer); returns the melody pitch if it was one."""
        t = self._table
        tok = int(tok)
        kind = t.kind_of(tok) if 0 <= tok < t.size else "?"
        melody = None
        if kind == "SEP":  # a new piece: back to the start
            fresh = GrammarState(self.grammar)
            self.__dict__.update(fresh.__dict__)
            return None
        if kind == "TS":
            self.next_len = t.bar_steps(t.time_signatures[tok - t.ts0])
            self.seen_ts = True
            self.phase = "ts"
        elif kind == "BAR":
            self.empty_bars = self.empty_bars + 1 if self.phase == "bar" else 0
            self.bar_start = 0 if self.bar_start is None else self.bar_start + self.bar_len
            self.bar_len = self.next_len
            self.pos, self.phase = -1, "bar"
        elif kind == "POS":
            self.pos, self.chord, self.last_pitch, self.phase = tok - t.pos0, 0, -1, "pos"
        elif kind == "P":
            if self.phase == "pos":
                melody = tok - t.p0 + self.grammar.encoding.pitch_low
            self.chord += 1
            self.notes += 1
            self.last_pitch, self.phase = tok, "p"
        elif kind == "D":
            self.phase = "d"
        return melody

    def allowed(self) -> np.ndarray:
        """Boolean mask over the vocabulary: the tokens that keep the sequence well formed."""
        t, g = self._table, self.grammar
        mask = np.zeros(t.size, dtype=bool)
        ts_ok = g.allow_ts or not self.seen_ts
        if self.phase == "start":
            mask[BAR] = True
            mask[t.ts0 : t.pos0] = ts_ok
        elif self.phase == "ts":
            mask[BAR] = True
        elif self.phase == "bar":
            mask[t.pos0 : t.pos0 + self.bar_len] = True
            mask[BAR] = self.empty_bars < g.max_empty_bars
            mask[t.ts0 : t.pos0] = g.allow_ts
        elif self.phase == "pos":
            mask[t.p0 : t.d0] = True
        elif self.phase == "p":
            mask[t.d0 : t.size] = True
        else:  # after a duration: another chord note, a later position, or the next bar
            if self.chord < g.max_chord:
                mask[t.p0 : max(t.p0, self.last_pitch)] = True
            mask[t.pos0 + self.pos + 1 : t.pos0 + self.bar_len] = True
            mask[BAR] = True
            mask[t.ts0 : t.pos0] = g.allow_ts
        mask[SEP] = False
        return mask
