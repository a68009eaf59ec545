"""Guards applied while sampling: against loops and against copying the training pieces.

Loop guard
    An LSTM that has fallen into a loop keeps choosing the same event (the
    "one repeated note" collapse) or a short cycle (A B A B ...). Before each
    draw the guard looks at the tail of the sequence: if the last ``max_run``
    events are one event, that event is blocked, so no run is ever longer than
    ``max_run`` (by default the style's own limit, ``style_max_run``); if the
    tail is a cycle of period 2..``max_cycle`` played at least ``cycle_repeats``
    times and over ``cycle_events`` events (a trill may run for 16 events, a bar
    be played twice, but not a bar three times over), the event that would
    continue it is blocked. In both cases the temperature of that one draw is
    multiplied by ``heat`` so the model leaves the rut for a plausible
    alternative rather than the runner-up of the loop.

Copy guard
    With the model's corpus index (the training pieces' tokens, ``stats.CorpusIndex``)
    the guard tracks, for every corpus position, the length of the verbatim match
    ending there. Tokens that would extend a match beyond ``copy_limit`` events
    (about a phrase) are blocked, so no stretch longer than that is ever borrowed
    from a single training piece. A separator resets the tracking: matches never
    run across pieces.

If the guards would block every event, the copy guard yields first (counted in
``copy_overrides``), then the loop guard: the sampler always has something to draw.

Melodic guards (note-level models, ``MelodyGuards``)
    The same two ideas on the melody a listener hears (the highest note at each onset),
    checked only when the sampler draws a melody note: a pitch struck more often in a row
    than the style's own limit, or continuing a cycle, is blocked; and with the training
    melodies' ``MelodyIndex`` (pitch intervals: any key, any rhythm) a pitch that would make
    the melody share more than ``copy_limit`` notes with one training piece is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstm_composer_plugin.music.melody import MelodyIndex
from lstm_composer_plugin.music.stats import CorpusIndex, longest_run
from lstm_composer_plugin.music.tokens import SEP

DEFAULT_MAX_RUN = 8
MIN_MAX_RUN = 3  # a note repeated three times is ordinary in any style
DEFAULT_COPY_LIMIT = 12


def style_max_run(corpus: CorpusIndex | None, cap: int = DEFAULT_MAX_RUN) -> int:
    """The loop guard's run limit for a style: as long as the training pieces' own runs go.

    The longest same-event run of each training piece, at the 99th percentile (rounded up),
    between ``MIN_MAX_RUN`` and ``cap``. Small folk models like repeated notes more than the
    music they learnt from: with a flat limit of 8, children's-song compositions ran one event
    8 times in nearly every piece, against at most 7 in any training song (3 for half of them).
    """
    if corpus is None or len(corpus.offsets) < 2:
        return cap
    # Each piece is followed by its separator, hence b - 1.
    bounds = zip(corpus.offsets[:-1], corpus.offsets[1:], strict=True)
    runs = [longest_run(corpus.tokens[a : b - 1]) for a, b in bounds]
    return int(min(cap, max(MIN_MAX_RUN, np.ceil(np.percentile(runs, 99)))))


@dataclass
class Guards:
    """What the guards allow. ``None`` switches a guard off."""

    max_run: int | None = DEFAULT_MAX_RUN  # longest run of one repeated event
    max_cycle: int = 16  # periods 2..max_cycle are checked for cycles
    cycle_events: int = 16  # a cycle is a loop once its repeats span this many events...
    cycle_repeats: int = 3  # ...and it has been played at least this many times in a row
    heat: float = 1.5  # temperature factor for a draw that breaks a loop
    corpus: CorpusIndex | None = None  # the copy guard's index (None: no copy guard)
    copy_limit: int | None = DEFAULT_COPY_LIMIT  # longest verbatim run from one training piece


@dataclass
class GuardStats:
    """How often the guards stepped in for one sequence (part of the originality report)."""

    loop_breaks: int = 0  # draws where a run or cycle was blocked
    copy_blocks: int = 0  # draws where at least one copying continuation was blocked
    copy_overrides: int = 0  # draws where the copy guard had to yield (everything was blocked)

    def to_dict(self) -> dict[str, int]:
        return {"loop_breaks": self.loop_breaks, "copy_blocks": self.copy_blocks, "copy_overrides": self.copy_overrides}


@dataclass
class GuardState:
    """One sequence's view for the guards: its recent events and its verbatim-match lengths."""

    guards: Guards
    history: list[int] = field(default_factory=list)  # music tokens since the last separator
    runs: np.ndarray | None = None  # per corpus position: length of the match ending there
    stats: GuardStats = field(default_factory=GuardStats)

    def __post_init__(self) -> None:
        if self._copying:
            self.runs = self.guards.corpus.start()

    @property
    def _copying(self) -> bool:
        return self.guards.corpus is not None and self.guards.copy_limit is not None

    def push(self, token: int) -> None:
        """Record an event (primer or sampled)."""
        token = int(token)
        if token == SEP:  # a new piece: nothing before it counts for loops or copies
            self.history.clear()
            if self._copying:
                self.runs = self.guards.corpus.start()
            return
        self.history.append(token)
        if len(self.history) > 256:
            del self.history[:-128]  # only the tail is ever looked at
        if self._copying:
            self.runs = self.guards.corpus.advance(self.runs, token)

    def loop_block(self) -> int | None:
        """The event that would extend a run or a cycle past its limit, if any."""
        g, hist = self.guards, self.history
        if g.max_run is not None and len(hist) >= g.max_run and len(set(hist[-g.max_run :])) == 1:
            return hist[-1]
        n = len(hist)
        for period in range(2, g.max_cycle + 1):
            need = period * max(g.cycle_repeats, -(-g.cycle_events // period))
            # Cheap test first: a cycle of this period must repeat the event `period` ago.
            if n >= need and hist[-1] == hist[-1 - period]:
                tail = hist[-need:]
                if tail[period:] == tail[:-period]:
                    return tail[-period]
        return None

    def copy_blocks(self) -> np.ndarray:
        """Events that would extend a verbatim run from one training piece beyond the limit."""
        if not self._copying:
            return np.zeros(0, dtype=np.int32)
        return self.guards.corpus.blocked(self.runs, self.guards.copy_limit)

    def longest_match(self) -> int:
        """Length of the longest verbatim match ending at the current event."""
        return int(self.runs.max()) if self.runs is not None and len(self.runs) else 0


# -- note-level models: guards on the melody a listener hears ----------------------------------


@dataclass
class MelodyGuards:
    """Guards for note-level models, on the melody (the highest note at each onset).

    * same pitch: no melody pitch is struck more than ``same_pitch_limit`` times in a row
      (the style's own 99th percentile, measured at training time);
    * cycles: as the loop guard above, on melody pitches;
    * melodic copy: with the training pieces' ``MelodyIndex``, a pitch that would make the
      melody share more than ``copy_limit`` notes of intervals with one training piece is
      blocked, whatever the rhythm or key (the style's validation pieces' own maximum).
    """

    index: MelodyIndex | None = None
    copy_limit: int | None = DEFAULT_COPY_LIMIT  # notes
    same_pitch_limit: int | None = DEFAULT_MAX_RUN
    max_cycle: int = 16
    cycle_events: int = 16
    cycle_repeats: int = 3
    heat: float = 1.5


class MelodyGuardState:
    """One composition's melody so far and its interval matches against the training melodies."""

    def __init__(self, guards: MelodyGuards, pitch_token0: int, pitch_low: int, n_pitches: int):
        self.guards = guards
        self.stats = GuardStats()
        self._p0, self._low, self._n = pitch_token0, pitch_low, n_pitches
        # The run and cycle rules are the loop guard's, applied to melody pitches (never SEP: 0).
        self._loops = GuardState(
            Guards(
                max_run=guards.same_pitch_limit,
                max_cycle=guards.max_cycle,
                cycle_events=guards.cycle_events,
                cycle_repeats=guards.cycle_repeats,
                heat=guards.heat,
            )
        )
        self.last: int | None = None
        self.runs = guards.index.start() if self._copying else None

    @property
    def _copying(self) -> bool:
        return self.guards.index is not None and self.guards.copy_limit is not None

    @property
    def heat(self) -> float:
        return self.guards.heat

    def reset(self) -> None:
        self.__init__(self.guards, self._p0, self._low, self._n)

    def push(self, pitch: int) -> None:
        if self._copying and self.last is not None:
            self.runs = self.guards.index.advance(self.runs, pitch - self.last)
        self.last = pitch
        self._loops.push(pitch)

    def token_of(self, pitch: int) -> int | None:
        k = pitch - self._low
        return self._p0 + k if 0 <= k < self._n else None

    def loop_block(self) -> int | None:
        """The pitch token that would repeat a melody pitch or cycle past the limit."""
        pitch = self._loops.loop_block()
        return None if pitch is None else self.token_of(pitch)

    def copy_blocks(self) -> np.ndarray:
        """Pitch tokens that would extend a melody borrowed from one training piece too far."""
        if not self._copying or self.last is None:
            return np.zeros(0, dtype=np.int64)
        intervals = self.guards.index.blocked_intervals(self.runs, self.guards.copy_limit)
        toks = [self.token_of(self.last + int(iv)) for iv in intervals]
        return np.asarray(sorted(t for t in toks if t is not None), dtype=np.int64)

    def longest_match(self) -> int:
        """Notes of the longest borrowed melodic run ending at the current melody note."""
        return int(self.runs.max()) + 1 if self.runs is not None and len(self.runs) and self.runs.max() else 0
