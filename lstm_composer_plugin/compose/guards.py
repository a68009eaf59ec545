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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
