"""Drawing events from the network: temperature, top-k, top-p, repetition penalty, guards.

One draw, for each variation (row) independently::

    logits ──► separator removed ──► repetition penalty ──► guards block events
           ──► / temperature ──► top-k ──► softmax ──► top-p ──► draw with the row's RNG

All rows advance through the network together (one matrix product per step);
each row has its own random generator seeded from ``(seed, row)``, so a seed and
a model always give the same tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lstm_composer_plugin.compose.engine import NumpyNetwork, blas_threads
from lstm_composer_plugin.compose.guards import (
    Guards,
    GuardState,
    GuardStats,
    MelodyGuards,
    MelodyGuardState,
)
from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.music.grammar import Grammar, GrammarState, harmony_context
from lstm_composer_plugin.music.notes import token_table
from lstm_composer_plugin.music.tokens import SEP

PENALTY_WINDOW = 16  # the repetition penalty looks at this many recent events
PULL_ROUNDS = 4  # rounds of fitting the style's harmony and voice rates together
MOVES_WINDOW = 24  # melody notes: the stretch over which the row's share of repeated notes is kept to the style's


@dataclass
class Sample:
    """One sampled sequence and what the guards did to it."""

    tokens: list[int]
    guard_stats: GuardStats = field(default_factory=GuardStats)


@dataclass
class SamplingSettings:
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0

    def validate(self) -> None:
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise UsageError(f"temperature must be above 0, not {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise UsageError(f"top-k must be at least 1, not {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UsageError(f"top-p must be in (0, 1], not {self.top_p}")
        if not np.isfinite(self.repetition_penalty) or self.repetition_penalty < 1:
            raise UsageError(f"repetition penalty must be at least 1, not {self.repetition_penalty}")


def sample_tokens(
    net: NumpyNetwork,
    n_events: int,
    *,
    seed: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    primer: Sequence[int] | None = None,
    guards: Guards | None = None,
    batch: int = 1,
) -> list[list[int]]:
    """``batch`` sequences of ``n_events`` new tokens (never ``SEP``); the primer is not included."""
    samples = sample(
        net,
        n_events,
        seed=seed,
        settings=SamplingSettings(temperature, top_k, top_p, repetition_penalty),
        primer=primer,
        guards=guards,
        batch=batch,
    )
    return [s.tokens for s in samples]


def sample(
    net: NumpyNetwork,
    n_events: int,
    *,
    seed: int,
    settings: SamplingSettings | None = None,
    primer: Sequence[int] | np.ndarray | None = None,
    guards: Guards | None = None,
    batch: int = 1,
    step_lengths: np.ndarray | None = None,
    until_steps: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    grammar: Grammar | None = None,
    melody_guards: MelodyGuards | None = None,
    until_notes: int | None = None,
    harmony: dict[str, float] | None = None,
) -> list[Sample]:
    """Sample ``batch`` sequences of at most ``n_events`` tokens each.

    ``primer`` is consumed first (default: ``[SEP]``, the start of a piece): one
    sequence for every row, or a (batch, T) array with one per row.
    With ``step_lengths`` (grid steps each token advances time by) and
    ``until_steps``, a row stops once its music reaches that length, so a
    length in seconds can be asked for; ``n_events`` stays the upper bound.
    ``progress(done, total)`` is called every 50 tokens and once at the end with done == total: in
    notes when note rows stop at ``until_notes``, in grid steps when they stop at ``until_steps``,
    else in tokens.

    Note-level models pass a ``grammar`` (``music.grammar.Grammar``): every draw is masked to the
    tokens that keep the sequence well formed, and the lengths are the grammar's own: a row stops
    after its ``until_notes``-th note (counting the primer's), or at the first bar line at or past
    ``until_steps`` grid steps.
    ``melody_guards`` then guard the melody note (the first pitch at each position) instead of
    ``guards`` guarding whole tokens. ``harmony`` (a style profile's ``notes.harmony_rates``, for
    models with bar controls) pulls each pitch toward the style's rates of chord tones and away
    from semitone clashes, where the network's own distribution falls short of them.
    """
    settings = settings or SamplingSettings()
    settings.validate()
    if n_events < 0:
        raise UsageError(f"length must not be negative, not {n_events}")
    if batch < 1:
        raise UsageError(f"variations must be at least 1, not {batch}")
    primer = np.asarray([SEP] if primer is None or len(primer) == 0 else primer, dtype=np.int64)
    if primer.ndim == 1:
        primer = np.tile(primer, (batch, 1))
    if primer.ndim != 2 or primer.shape[0] != batch:
        raise UsageError(f"primer must be one sequence or one per variation ({batch}), not {primer.shape}")
    if primer.max() >= net.n_vocab or primer.min() < 0:
        raise UsageError(f"primer token out of range for a vocabulary of {net.n_vocab}")

    rngs = [np.random.default_rng([int(seed), row]) for row in range(batch)]
    guard_states = [GuardState(guards) for _ in range(batch)] if guards is not None else None
    rows = [_NoteRow.start(grammar, melody_guards, harmony) for _ in range(batch)] if grammar is not None else None
    history: list[list[int]] = [[] for _ in range(batch)]  # music since the last separator
    for row in range(batch):
        for t in primer[row].tolist():
            if t == SEP:
                history[row].clear()
            else:
                history[row].append(t)
            if guard_states:
                guard_states[row].push(t)
            if rows:
                rows[row].push(t)
        if rows:
            rows[row].grammar.start_plan()  # the user's plan holds for the bars composed from here

    out: list[list[int]] = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    # Where the rows start from (after the primer): progress counts notes or grid steps from here.
    start = (rows[0].grammar.notes, rows[0].grammar.now) if rows is not None else (0, 0)
    steps_so_far = np.zeros(batch, dtype=np.int64)
    with blas_threads(1):
        state, logits = net.run(primer, logits=True)
        for i in range(n_events):
            tokens = np.zeros(batch, dtype=np.int64)
            for row in range(batch):
                gs = guard_states[row] if guard_states else None
                note_row = rows[row] if rows is not None else None
                tok = _draw(logits[row], settings, history[row], gs, rngs[row], note_row)
                tokens[row] = tok
                if done[row]:
                    continue  # drawn anyway, so every row's random stream stays the same
                out[row].append(tok)
                history[row].append(tok)
                if gs is not None:
                    gs.push(tok)
                if rows is not None:
                    rows[row].push(tok)
                    done[row] = rows[row].finished(until_notes, until_steps)
                elif until_steps is not None and step_lengths is not None:
                    steps_so_far[row] += int(step_lengths[tok])
                    done[row] = steps_so_far[row] >= until_steps
            if progress is not None and (i + 1) % 50 == 0:
                progress(*_progress(i + 1, n_events, rows, start, until_notes, until_steps))
            if done.all() or i == n_events - 1:
                break
            state, logits = net.step_logits(state, tokens)  # all rows: one matrix product
    if progress is not None:
        total = _progress(0, n_events, rows, start, until_notes, until_steps)[1]
        progress(total, total)  # the bar ends where it said it would
    return [Sample(out[row], _row_stats(row, guard_states, rows)) for row in range(batch)]


def _progress(tokens: int, n_events: int, rows: list[_NoteRow] | None, start: tuple[int, int],
              until_notes: int | None, until_steps: int | None) -> tuple[int, int]:
    """(done, total) in the unit the length was asked in: notes (``until_notes`` alone), grid steps
    (``until_steps``: a length in time), else tokens. The slowest row is the one that counts."""
    if rows is None or (until_notes is None and until_steps is None):
        return tokens, n_events
    if until_steps is not None:
        total = max(1, until_steps - start[1])
        return min(total, min(r.grammar.now for r in rows) - start[1]), total
    total = max(1, until_notes - start[0])
    return min(total, min(r.grammar.notes for r in rows) - start[0]), total


def _row_stats(row: int, guard_states: list[GuardState] | None, rows: list[_NoteRow] | None) -> GuardStats:
    if rows is not None and rows[row].melody is not None:
        return rows[row].melody.stats
    return guard_states[row].stats if guard_states else GuardStats()


@dataclass
class _NoteRow:
    """A note-level row: where it stands in the grammar, and its melody guards."""

    grammar: GrammarState
    melody: MelodyGuardState | None
    harmony: dict[str, float] | None = None
    p0: int = 0  # first pitch token
    n_pitches: int = 0
    # per melody note of the last MOVES_WINDOW: did it leave the note before it
    moved: deque[bool] = field(default_factory=lambda: deque(maxlen=MOVES_WINDOW))
    last_melody: int | None = None

    @classmethod
    def start(cls, grammar: Grammar, guards: MelodyGuards | None,
              harmony: dict[str, float] | None = None) -> _NoteRow:
        state = grammar.start()
        enc = grammar.encoding
        table = token_table(enc)
        n_pitches = enc.pitch_high - enc.pitch_low + 1
        melody = MelodyGuardState(guards, table.p0, enc.pitch_low, n_pitches) if guards else None
        return cls(state, melody, harmony if harmony and enc.controls else None, table.p0, n_pitches)

    def push(self, tok: int) -> None:
        if tok == SEP and self.melody is not None:
            self.melody.reset()
        melody_next = self.grammar.melody_next
        pitch = self.grammar.push(tok)
        if pitch is not None and self.melody is not None:
            self.melody.push(pitch)
        if pitch is not None and melody_next:
            if self.last_melody is not None:
                self.moved.append(pitch != self.last_melody)
            self.last_melody = pitch

    def finished(self, until_notes: int | None, until_steps: int | None) -> bool:
        g = self.grammar
        if until_notes is not None and g.phase == "d" and g.notes >= until_notes:
            return True  # exactly that many notes (a last chord may lose its lowest notes)
        return until_steps is not None and g.phase == "bar" and g.now >= until_steps


def _draw(
    logits: np.ndarray,
    settings: SamplingSettings,
    history: list[int],
    guard: GuardState | None,
    rng: np.random.Generator,
    note_row: _NoteRow | None = None,
) -> int:
    """One event for one row."""
    z = logits.astype(np.float64)  # copies; float64 so tiny probabilities survive temperature
    z[SEP] = -np.inf  # the separator ends a piece; a composition never contains one

    if settings.repetition_penalty != 1.0 and history:
        # A recently used event becomes `r` times less likely. (CTRL's divide-positive /
        # multiply-negative logits depends on where the logits happen to sit; this does not.)
        recent = np.unique(history[-PENALTY_WINDOW:])
        z[recent] -= np.log(settings.repetition_penalty)

    if note_row is not None:
        # Only tokens that keep the music well formed (there is always at least one).
        z[~note_row.grammar.allowed()] = -np.inf

    temperature = settings.temperature
    if guard is not None:
        temperature *= _guard(z, guard.loop_block(), guard.copy_blocks(), guard.stats, guard.guards.heat)
    if note_row is not None and note_row.melody is not None and note_row.grammar.melody_next:
        m = note_row.melody
        temperature *= _guard(z, m.loop_block(), m.copy_blocks(), m.stats, m.heat)

    z = z / temperature
    if note_row is not None and note_row.harmony and note_row.grammar.phase in ("pos", "d"):
        _pull_toward_style(z, note_row)
    if settings.top_k is not None and settings.top_k < len(z):
        kth = np.partition(z, -settings.top_k)[-settings.top_k]
        z[z < kth] = -np.inf
    p = np.exp(z - z.max())
    p /= p.sum()
    if settings.top_p is not None and settings.top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, settings.top_p)) + 1]  # smallest set reaching top_p
        mask = np.zeros_like(p, dtype=bool)
        mask[keep] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    # Inverse-CDF draw: one uniform number per event, the same on every platform.
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(p) - 1))


def _pull_toward_style(z: np.ndarray, row: _NoteRow) -> None:
    """Reweight the pitch tokens of ``z`` (logits after temperature, in place) toward the style's
    rates (``grammar.harmony_rates``): for each property of the pitch about to be written (a tone
    of the bar's chord, fitting what sounds, near the voice's last note), the share of the
    probability on pitches that have it is raised to the style's rate where it falls short.

    The network's own choice stands where it already meets the style: only a shortfall is made
    up, by scaling the two groups' probabilities (their order within a group is the network's).
    """
    zp = z[row.p0 : row.p0 + row.n_pitches]  # a view: changed in place
    ok = np.isfinite(zp)
    if not ok.any():
        return
    wanted = [(member, row.harmony[name]) for name, member in harmony_context(row.grammar).items()
              if name in row.harmony and (name != "melody_moves" or _repeating_too_often(row))]
    # One property's rescaling can undo another's: a few rounds of proportional fitting meet
    # them together where they can be met together (in practice the third round changes little).
    for _ in range(PULL_ROUNDS):
        for member, rate in wanted:
            _at_least(zp, ok, member, rate)


def _repeating_too_often(row: _NoteRow) -> bool:
    """Whether the row's melody has struck its notes again more often than the style's tunes do, over its
    last ``MOVES_WINDOW`` notes. The pull away from the note just played acts only then: applied at every
    step, it would also cap the repeats a tune really wants and leave too few of them on average."""
    return len(row.moved) >= MOVES_WINDOW // 3 and float(np.mean(row.moved)) < row.harmony["melody_moves"]


def _at_least(zp: np.ndarray, ok: np.ndarray, member: np.ndarray, rate: float) -> None:
    """Make the probability share of ``member`` among the allowed pitch logits ``zp`` at least ``rate``.

    In log space: a network sure of one pitch gives the others probabilities that underflow to 0, and a
    share of exactly 0 must still be raised to ``rate`` (not by an infinite factor)."""
    m = member & ok
    rest = ~member & ok
    if not m.any() or not rest.any():
        return
    log_m, log_r = np.logaddexp.reduce(zp[m]), np.logaddexp.reduce(zp[rest])
    total = np.logaddexp(log_m, log_r)
    rate = min(rate, 0.999)
    if log_m - total >= np.log(rate):
        return
    # The two groups scaled to rate : 1 - rate, each keeping its own order (the total is the same as before).
    zp[m] += np.log(rate) + total - log_m
    zp[rest] += np.log1p(-rate) + total - log_r


def _guard(z: np.ndarray, loop: int | None, copies: np.ndarray, stats: GuardStats, heat: float) -> float:
    """Block the loop's and the copies' tokens in ``z`` (in place); returns the temperature factor.

    If that would block everything, the copy guard yields first, then the loop guard.
    """
    allowed = np.isfinite(z)
    allowed[copies] = False
    if loop is not None:
        allowed[loop] = False
    if not allowed.any():
        # Everything left would copy: let the copy guard yield, keep the loop guard.
        stats.copy_overrides += 1
        allowed = np.isfinite(z)
        if loop is not None and allowed.sum() > 1:
            allowed[loop] = False
    elif len(copies) and np.isfinite(z[copies]).any():
        stats.copy_blocks += 1
    factor = 1.0
    if loop is not None and not allowed[loop]:
        stats.loop_breaks += 1
        factor = heat
    z[~allowed] = -np.inf
    return factor
