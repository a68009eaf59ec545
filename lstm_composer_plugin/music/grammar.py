"""Which note-level tokens may come next, so that sampling only ever writes well-formed music.

    start ─► TS ─► BAR ─► POS ─► P ─► D ─┬─► P (lower than the chord's last pitch, chord not full)
                   ▲  │                  ├─► POS (later in the bar)
                   │  └─► BAR (one empty ├─► BAR
                   │       bar at most)  └─► TS (only if time signatures may change)

Positions stay inside the bar's length (the time signature's), rise within a bar, and a chord is
written highest note first, at most ``max_chord`` notes.

With bar-level controls (``NoteEncoding.controls``) every ``BAR`` is followed by ``DEN CH TEX``
before its first position; the density class then bounds the bar: only classes a bar of this
length can have are offered, no position past the class's most onsets, no bar line before its
fewest (and no position so late that the fewest no longer fit). A ``ControlPlan`` (the user's
density and chords) fixes the tokens of the bars composed after ``start_plan``. ``GrammarState`` also keeps the count of
notes and the time reached (for ``--length`` in notes and ``--seconds``), and tells which pitch
is the melody note (the first one at its position) for the melodic guards.
"""

from __future__ import annotations

import functools
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lstm_composer_plugin.music.controls import (
    NO_CHORD,
    ControlPlan,
    chord_tones,
    feasible_classes,
    fitting_pitch_classes,
    onset_bounds,
)
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
    plan: ControlPlan | None = None  # the user's density and chords, for bars after ``start_plan``

    def start(self) -> GrammarState:
        return GrammarState(self)


@dataclass
class GrammarState:
    grammar: Grammar
    phase: str = "start"  # start | ts | den | ch | tex (controls awaited) | bar | pos | p | d
    bar_start: int | None = None
    bar_len: int = 0
    next_len: int = 0
    pos: int = -1
    chord: int = 0  # notes at the current position
    last_pitch: int = -1  # token of the chord's last pitch
    empty_bars: int = 0
    notes: int = 0
    seen_ts: bool = False
    onsets: int = 0  # positions written in the current bar
    fewest: int = 0  # the bar's density bounds (controls only)
    most: int = 1 << 30
    planned: int | None = None  # bars described since ``start_plan`` (None: no plan in force)
    bar_chord: int | None = None  # the current bar's chord control (an index of ``music.controls``)
    onset_pitches: list[int] = field(default_factory=list)  # pitches already written at this position
    held: list[tuple[int, int]] = field(default_factory=list)  # (end step, pitch) of notes begun earlier
    previous_onset: list[int] = field(default_factory=list)  # the last onset's pitches, melody first
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

    def start_plan(self) -> None:
        """From here on, bars follow the grammar's ``plan`` (called once the primer is in)."""
        if self.grammar.plan is not None:
            self.planned = 0

    def _plan_bounds(self) -> tuple[int, int] | None:
        plan = self.grammar.plan
        if plan is None or self.planned is None:
            return None
        return plan.bounds(self.bar_len, self.grammar.encoding.grid)

    def push(self, tok: int, kind: str | None = None) -> int | None:
        """Record a token (sampled or primer); returns the melody pitch if it was one. ``kind`` is the
        token's kind when the caller has already looked it up (the sampling loop, once per token)."""
        t = self._table
        tok = int(tok)
        if kind is None:
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
            self.pos, self.onsets = -1, 0
            self.fewest, self.most = 0, 1 << 30
            self._settle()
            self.bar_chord = None
            self.phase = "den" if self.grammar.encoding.controls else "bar"
        elif kind == "DEN":
            bounds = self._plan_bounds() or onset_bounds(tok - t.den0, self.bar_len, self.grammar.encoding.grid)
            self.fewest, self.most = bounds
            if self.planned is not None:
                self.planned += 1
            self.phase = "ch"
        elif kind == "CH":
            self.bar_chord = tok - t.ch0
            self.phase = "tex"
        elif kind == "TEX":
            self.phase = "bar"
        elif kind == "POS":
            self.pos, self.chord, self.last_pitch, self.phase = tok - t.pos0, 0, -1, "pos"
            self.onsets += 1
            self._settle()
        elif kind == "P":
            if self.phase == "pos":
                melody = tok - t.p0 + self.grammar.encoding.pitch_low
            self.chord += 1
            self.notes += 1
            self.onset_pitches.append(tok - t.p0 + self.grammar.encoding.pitch_low)
            self.last_pitch, self.phase = tok, "p"
        elif kind == "D":
            if self.phase == "p" and self.onset_pitches:
                self.held.append((self.now + self.grammar.encoding.durations[tok - t.d0], self.onset_pitches[-1]))
            self.phase = "d"
        return melody

    def _settle(self) -> None:
        """At a new position or bar line (``now`` already moved): notes that ended drop out."""
        if self.onset_pitches:
            self.previous_onset = self.onset_pitches
        self.onset_pitches = []
        now = self.now
        self.held = [h for h in self.held if h[0] > now]

    def sounding(self) -> list[int]:
        """Pitches sounding at the current position: notes begun earlier and still held, and the
        ones already written at this position (each note joins at its duration token)."""
        now = self.now
        return [p for end, p in self.held if end > now]

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
        elif self.phase == "den":
            forced = g.plan.density_class(self.planned) if g.plan is not None and self.planned is not None else None
            feasible = feasible_classes(self.bar_len, g.encoding.grid)
            if self.empty_bars >= g.max_empty_bars:  # this bar may not be empty: no class of zero onsets
                feasible = [k for k in feasible if onset_bounds(k, self.bar_len, g.encoding.grid)[1] > 0]
            if forced is not None and (g.plan.density is not None or forced in feasible):
                mask[t.den_token(forced)] = True
            else:  # a planned class this bar's length cannot hold: the network chooses among those it can
                for k in feasible:
                    mask[t.den_token(k)] = True
        elif self.phase == "ch":
            # ``planned`` already counts this bar (its DEN came first).
            forced = g.plan.chord(self.planned - 1) if g.plan is not None and self.planned else None
            if forced is not None:
                mask[t.chord_token(forced)] = True
            else:
                mask[t.ch0 : t.tex0] = True
        elif self.phase == "tex":
            mask[t.tex0 : t.size] = True
        elif self.phase == "bar":
            self._positions(mask, 0)
            mask[BAR] = self.empty_bars < g.max_empty_bars and self.fewest == 0
            mask[t.ts0 : t.pos0] = g.allow_ts
        elif self.phase == "pos":
            mask[t.p0 : t.d0] = True
        elif self.phase == "p":
            mask[t.d0 : t.den0] = True
        else:  # after a duration: another chord note, a later position, or the next bar
            if self.chord < g.max_chord:
                mask[t.p0 : max(t.p0, self.last_pitch)] = True
            later = self._positions(mask, self.pos + 1)
            # A bar line only once the bar has its fewest onsets (or no position can add one).
            mask[BAR] = self.onsets >= self.fewest or not later
            mask[t.ts0 : t.pos0] = g.allow_ts
        mask[SEP] = False
        return mask

    def _positions(self, mask: np.ndarray, first: int) -> bool:
        """Allow the positions from ``first`` that keep the bar within its density bounds."""
        if self.onsets >= self.most:
            return False
        t = self._table
        need = max(1, self.fewest - self.onsets)  # onsets still to come, this one included
        last = self.bar_len - need  # later than this, the fewest no longer fit
        if last < first:
            last = self.bar_len - 1  # cannot be met any more: any position, as without controls
        if last < first:
            return False
        mask[t.pos0 + first : t.pos0 + last + 1] = True
        return True


HARMONY_RATES = ("melody_chord_tone", "lower_chord_tone", "lower_fits", "lower_clear", "melody_near", "lower_near",
                 "melody_moves", "melody_clear", "melody_fits")
NEAR = 4  # semitones: a step or a third, how far a voice moves from one onset to the next


_BELOW = (np.arange(12) - 1) % 12  # sounding[_BELOW][k]: the class a semitone under k sounds
_ABOVE = (np.arange(12) + 1) % 12


@functools.lru_cache(maxsize=8)
def _pitch_axis(low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """The pitches ``low..high`` and their pitch classes (read at every composed pitch: made once)."""
    pitches = np.arange(low, high + 1)
    pitches.flags.writeable = False
    pcs = pitches % 12
    pcs.flags.writeable = False
    return pitches, pcs


def harmony_context(state: GrammarState, names: Container[str] | None = None) -> dict[str, np.ndarray]:
    """For the pitch about to be written, each property a style's notes have at some rate
    (``HARMONY_RATES``; only those in ``names`` if given: composing asks at every pitch) as a mask over
    the pitches ``pitch_low..pitch_high``; a property that does not apply here (no bar chord, nothing
    sounding, no earlier onset) is left out.

    * ``*_chord_tone``: tones of the bar's chord control (``melody_``: the first pitch at a
      position; ``lower_``: the ones under it);
    * ``lower_fits``: pitches that keep everything sounding now within one triad or dominant seventh
      (``melody_fits``: the melody note against the notes held from earlier onsets);
      ``lower_clear``: pitches no semitone (nor major seventh, minor ninth) from anything sounding;
      ``melody_clear``: the same for the melody note against the notes held from earlier onsets (a
      passing tone over a held chord clashes at a style's own rate: bach's sopranos about one in nine);
    * ``*_near``: within ``NEAR`` semitones of the previous melody note (melody) or of a note of the
      previous onset (lower notes): voices that move by steps keep their registers;
    * ``melody_moves``: any pitch but the previous melody note's (how often a style's tunes leave a
      note rather than strike it again).
    """
    pitches, pcs = _pitch_axis(state.grammar.encoding.pitch_low, state.grammar.encoding.pitch_high)
    part = "lower" if state.onset_pitches else "melody"
    names = HARMONY_RATES if names is None else names
    out: dict[str, np.ndarray] = {}
    if state.bar_chord is not None and state.bar_chord != NO_CHORD and f"{part}_chord_tone" in names:
        out[f"{part}_chord_tone"] = chord_tones(state.bar_chord)[pcs]
    fits_wanted, clear_wanted = f"{part}_fits" in names, f"{part}_clear" in names
    held = state.sounding() if fits_wanted or clear_wanted else []
    # The melody is measured against what is held only where something is; a lower note always (the melody
    # above it has joined what sounds).
    if held or (part == "lower" and (fits_wanted or clear_wanted)):
        sounding = np.zeros(12, dtype=bool)
        sounding[np.asarray(held, dtype=np.int64) % 12] = True
        if fits_wanted:
            fits = fitting_pitch_classes(sounding)
            if fits.any():  # what sounds already fits no chord: nothing to keep
                out[f"{part}_fits"] = fits[pcs]
        if clear_wanted:
            clash = sounding[_BELOW] | sounding[_ABOVE]  # a semitone above or below a sounding class
            out[f"{part}_clear"] = ~clash[pcs]
    before = state.previous_onset[:1] if part == "melody" else state.previous_onset
    if before:
        if f"{part}_near" in names:
            out[f"{part}_near"] = (np.abs(pitches[:, None] - np.asarray(before)[None, :]) <= NEAR).any(axis=1)
        if part == "melody" and "melody_moves" in names:
            out["melody_moves"] = pitches != before[0]
    return out


def harmony_rates(streams: Iterable[Sequence[int]], grammar: Grammar) -> dict[str, float]:
    """How a style's notes sit in their harmony and their voices (``harmony_context``'s
    properties), from token streams with bar controls: the share of the notes each applies to
    that have it. Composing pulls the network toward these rates where it falls short of them
    (``compose.sampling``), reading each pitch's context exactly as here."""
    counts = dict.fromkeys(HARMONY_RATES, 0)
    totals = dict.fromkeys(HARMONY_RATES, 0)
    t = token_table(grammar.encoding)
    for toks in streams:
        state = grammar.start()
        for tok in (int(x) for x in toks):
            if 0 <= tok < t.size and t.kind_of(tok) == "P":
                for name, mask in harmony_context(state).items():
                    counts[name] += bool(mask[tok - t.p0])
                    totals[name] += 1
            state.push(tok)
    return {k: round(counts[k] / totals[k], 4) for k in HARMONY_RATES if totals[k]}
