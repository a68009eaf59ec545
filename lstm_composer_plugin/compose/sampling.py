"""Drawing events from the network: temperature, top-k, top-p, repetition penalty, guards.

One draw, for each variation (row) independently::

    logits ──► separator removed ──► repetition penalty ──► guards block events
           ──► / temperature ──► top-k ──► softmax ──► top-p ──► draw with the row's RNG

All rows advance through the network together (one matrix product per step);
each row has its own random generator seeded from ``(seed, row)``, so a seed and
a model always give the same tokens.
"""

from __future__ import annotations

import copy
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lstm_composer_plugin.compose.engine import LstmState, NumpyNetwork, blas_threads
from lstm_composer_plugin.compose.guards import (
    Guards,
    GuardState,
    GuardStats,
    MelodyGuards,
    MelodyGuardState,
)
from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.music.controls import NO_CHORD, bar_clashes, bar_controls, chord_root
from lstm_composer_plugin.music.grammar import Grammar, GrammarState, harmony_context
from lstm_composer_plugin.music.notes import BAR, TokenTable, token_table
from lstm_composer_plugin.music.tokens import SEP

PENALTY_WINDOW = 16  # the repetition penalty looks at this many recent events
PULL_ROUNDS = 4  # rounds of fitting the style's harmony and voice rates together
MOVES_WINDOW = 24  # melody notes: the stretch over which the row's share of repeated notes is kept to the style's
# The melody's rates over notes held from earlier onsets, kept to the style's by the same kind of controller.
HELD_RATES = ("melody_fits", "melody_clear")


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
    bar_retries: int = 0,
    clashes: tuple[float, int] | None = None,
    density_bias: np.ndarray | None = None,
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
    ``bar_retries`` (models with bar controls): a bar whose notes miss its density class or its chord
    root is drawn again from the bar line, up to this many more times; the first that keeps both
    stands, else the last drawn (the network's own bars, filtered, rather than pulled toward the plan).
    ``clashes`` (the style's mean semitone clashes per bar, and the limit few of its bars reach): with
    ``bar_retries``, a bar with at least the limit is drawn again too while the row has clashed more per
    bar than the style (for models that clash more than their style, ``note_composer.CLASH_EXCESS``).
    ``density_bias`` (one log-ratio per density class, for models whose own bars are far busier or
    sparser than their style's, ``note_composer.density_bias``) is added to the density control's logits.
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
    rows = ([_NoteRow.start(grammar, melody_guards, harmony, clashes, density_bias) for _ in range(batch)]
            if grammar is not None else None)
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
    done = np.full(batch, n_events == 0)
    # Where the rows start from (after the primer): progress counts notes or grid steps from here.
    start = (rows[0].grammar.notes, rows[0].grammar.now) if rows is not None else (0, 0)
    steps_so_far = np.zeros(batch, dtype=np.int64)
    reported = 0
    retry = _BarRetry(bar_retries) if rows is not None and bar_retries > 0 and grammar.encoding.controls else None
    with blas_threads(1):
        state, logits = net.run(primer, logits=True)
        for i in itertools.count():
            if done.all():
                break
            if retry is not None:
                retry.settle(state, logits)  # snapshots taken and rows rewound after the last step
            tokens = np.zeros(batch, dtype=np.int64)
            for row in range(batch):
                gs = guard_states[row] if guard_states else None
                note_row = rows[row] if rows is not None else None
                tok = _draw(logits[row], settings, history[row], gs, rngs[row], note_row)
                tokens[row] = tok
                if done[row]:
                    continue  # drawn anyway, so every row's random stream stays the same
                if retry is not None and retry.rewind(row, tok, rows, out, history):
                    continue  # the bar is drawn again from its bar line
                out[row].append(tok)
                history[row].append(tok)
                if gs is not None:
                    gs.push(tok)
                if rows is not None:
                    rows[row].push(tok)
                    done[row] = rows[row].finished(until_notes, until_steps)
                    if retry is not None:
                        retry.mark(row, rows[row], out, history)
                elif until_steps is not None and step_lengths is not None:
                    steps_so_far[row] += int(step_lengths[tok])
                    done[row] = steps_so_far[row] >= until_steps
                done[row] |= len(out[row]) >= n_events
            if progress is not None and (i + 1) % 50 == 0:
                now, total = _progress(i + 1, n_events, rows, start, until_notes, until_steps)
                reported = max(reported, now)  # a bar drawn again takes its notes back: never report less
                progress(reported, total)
            if done.all():
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
    # per melody note of the last MOVES_WINDOW written over held notes: did it have each of HELD_RATES
    over_held: dict[str, deque[bool]] = field(default_factory=dict)
    last_melody: int | None = None
    # The current bar's notes, (step, pitch, duration), and the earlier ones still sounding into it:
    # what its controls are measured against (``_BarRetry``).
    bar_notes: list[tuple[int, int, int]] = field(default_factory=list)
    carried: list[tuple[int, int, int]] = field(default_factory=list)
    bar_density: int | None = None
    table: TokenTable | None = field(default=None, repr=False)
    # The style's semitone clashes per bar (mean, limit), and the row's over its finished bars.
    clash_style: tuple[float, int] | None = None
    clash_count: int = 0
    clash_bars: int = 0
    # Added to the density classes' logits at each bar's density control (None: the network's own).
    density_bias: np.ndarray | None = None

    @classmethod
    def start(cls, grammar: Grammar, guards: MelodyGuards | None,
              harmony: dict[str, float] | None = None, clashes: tuple[float, int] | None = None,
              density_bias: np.ndarray | None = None) -> _NoteRow:
        state = grammar.start()
        enc = grammar.encoding
        table = token_table(enc)
        n_pitches = enc.pitch_high - enc.pitch_low + 1
        melody = MelodyGuardState(guards, table.p0, enc.pitch_low, n_pitches) if guards else None
        return cls(state, melody, harmony if harmony and enc.controls else None, table.p0, n_pitches, table=table,
                   clash_style=clashes if enc.controls else None,
                   density_bias=density_bias if enc.controls else None)

    def push(self, tok: int) -> None:
        if tok == SEP and self.melody is not None:
            self.melody.reset()
        melody_next = self.grammar.melody_next
        g, t = self.grammar, self.table
        kind = t.kind_of(tok) if 0 <= tok < t.size else "?"
        if kind == "BAR":
            if self.clash_style is not None and self.bar_notes:
                self.clash_count += bar_clashes(*self._bar_onsets())
                self.clash_bars += 1
            start = g.bar_start + g.bar_len if g.bar_start is not None else 0
            self.carried = [n for n in self.carried + self.bar_notes if n[0] + n[2] > start]
            self.bar_notes, self.bar_density = [], None
        elif kind == "DEN":
            self.bar_density = tok - t.den0
        elif kind == "D" and g.phase == "p" and g.onset_pitches:
            self.bar_notes.append((g.now, g.onset_pitches[-1], t.encoding.durations[tok - t.d0]))
        if kind == "P" and melody_next and self.harmony and any(k in self.harmony for k in HELD_RATES):
            context = harmony_context(g, HELD_RATES)
            for name in HELD_RATES:
                if name in context and name in self.harmony:
                    seen = self.over_held.setdefault(name, deque(maxlen=MOVES_WINDOW))
                    seen.append(bool(context[name][tok - self.p0]))
        pitch = self.grammar.push(tok, kind)
        if pitch is not None and self.melody is not None:
            self.melody.push(pitch)
        if pitch is not None and melody_next:
            if self.last_melody is not None:
                self.moved.append(pitch != self.last_melody)
            self.last_melody = pitch

    def _bar_onsets(self) -> tuple[list[tuple[int, dict[int, int]]], list[tuple[int, int, int]]]:
        """The current bar's onsets (step, {pitch: duration}) and the earlier notes sounding into it."""
        onsets: dict[int, dict[int, int]] = {}
        for step, pitch, dur in self.bar_notes:
            onsets.setdefault(step, {})[pitch] = dur
        start = self.grammar.bar_start or 0
        return sorted(onsets.items()), [n for n in self.carried if n[0] + n[2] > start]

    def bar_kept(self) -> bool:
        """Whether the bar written so far keeps its density class and its chord's root (a bar without
        controls or without notes keeps them trivially), and, with the style's clashes, is not a bar at
        their limit in a row that has clashed more per bar than the style."""
        g = self.grammar
        if self.bar_density is None or g.bar_start is None or not self.bar_notes:
            return True
        onsets, held = self._bar_onsets()
        got = bar_controls(onsets, g.bar_start, g.bar_len, g.grammar.encoding.grid, held)
        chord = g.bar_chord if g.bar_chord is not None else NO_CHORD
        if got.density != self.bar_density or chord_root(got.chord) != chord_root(chord):
            return False
        if self.clash_style is not None:
            mean, limit = self.clash_style
            n = bar_clashes(onsets, held)
            if n >= limit and (self.clash_count + n) / (self.clash_bars + 1) > mean:
                return False
        return True

    def finished(self, until_notes: int | None, until_steps: int | None) -> bool:
        g = self.grammar
        if until_notes is not None and g.phase == "d" and g.notes >= until_notes:
            return True  # exactly that many notes (a last chord may lose its lowest notes)
        return until_steps is not None and g.phase == "bar" and g.now >= until_steps


class _BarRetry:
    """Draws a bar again while it misses its controls (``sample``'s ``bar_retries``).

    When a row has written a bar's controls, its state is kept (the row's Python state at once, the
    network's rows after the step that consumes the last control token); when it then draws the next
    bar line over a bar that missed its density class or chord root, the row goes back to that state
    and draws the bar again with its own random stream, which has moved on, so the result stays a
    function of the seed. The other rows are not held back: each row rewinds on its own.
    """

    def __init__(self, retries: int):
        self.retries = retries
        self.saved: dict[int, tuple[_NoteRow, int, int, int]] = {}  # row: (state, out, history, tries)
        self.net: dict[int, tuple[tuple, np.ndarray]] = {}  # row: (its network state, its logits)
        self.to_save: set[int] = set()
        self.to_restore: set[int] = set()

    def mark(self, row: int, note_row: _NoteRow, out: list[list[int]], history: list[list[int]]) -> None:
        """After a token is pushed: at a bar's first note position, keep where the bar starts."""
        g = note_row.grammar
        if g.phase == "bar" and note_row.bar_density is not None and row not in self.saved and g.pos < 0:
            self.saved[row] = (_copy_row(note_row), len(out[row]), len(history[row]), 0)
            self.to_save.add(row)

    def settle(self, state: LstmState, logits: np.ndarray) -> None:
        """After a network step: take the network's rows for new snapshots, put them back for rewinds."""
        for row in self.to_save:
            self.net[row] = (state.take_row(row), logits[row].copy())
        for row in self.to_restore:
            saved, lg = self.net[row]
            state.put_row(row, saved)
            logits[row] = lg
        self.to_save.clear()
        self.to_restore.clear()

    def rewind(self, row: int, tok: int, rows: list[_NoteRow], out: list[list[int]], history: list[list[int]]) -> bool:
        """Before ``tok`` is pushed: if it closes a bar that missed its controls and tries are left,
        put the row back at the bar's start and return True; otherwise let the bar stand."""
        if row not in self.saved:
            return False
        note_row = rows[row]
        if tok != BAR or note_row.grammar.phase not in ("d", "bar"):
            return False
        snap, n_out, n_hist, tries = self.saved.pop(row)
        if note_row.bar_kept() or tries >= self.retries:
            self.net.pop(row, None)
            return False
        rows[row] = _copy_row(snap)
        del out[row][n_out:]
        del history[row][n_hist:]
        self.saved[row] = (snap, n_out, n_hist, tries + 1)
        self.to_restore.add(row)
        return True


def _copy_row(row: _NoteRow) -> _NoteRow:
    """A row's state to go back to: everything copied but what no push changes (the grammar, the
    token table, the melody index and guard settings)."""
    keep: dict[int, object] = {id(row.grammar.grammar): row.grammar.grammar, id(row.table): row.table}
    if row.melody is not None:
        keep[id(row.melody.guards)] = row.melody.guards
    if row.harmony is not None:
        keep[id(row.harmony)] = row.harmony
    return copy.deepcopy(row, keep)


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
    if note_row is not None and note_row.density_bias is not None and note_row.grammar.phase == "den":
        den = note_row.table.den0
        z[den : den + len(note_row.density_bias)] += note_row.density_bias
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
    wanted = [(member, row.harmony[name]) for name, member in harmony_context(row.grammar, row.harmony).items()
              if name in row.harmony and (name != "melody_moves" or _repeating_too_often(row))
              and (name not in HELD_RATES or _below_style(row, name))]
    # One property's rescaling can undo another's: a few rounds of proportional fitting meet
    # them together where they can be met together (in practice the third round changes little).
    for _ in range(PULL_ROUNDS):
        changed = [_at_least(zp, ok, member, rate) for member, rate in wanted]
        if not any(changed):
            break  # every rate met: a further round would change nothing either


def _repeating_too_often(row: _NoteRow) -> bool:
    """Whether the row's melody has struck its notes again more often than the style's tunes do, over its
    last ``MOVES_WINDOW`` notes. The pull away from the note just played acts only then: applied at every
    step, it would also cap the repeats a tune really wants and leave too few of them on average."""
    return _short_of(row.moved, row.harmony["melody_moves"])


def _below_style(row: _NoteRow, name: str) -> bool:
    """Whether the row's melody notes over held notes have had the property ``name`` (``HELD_RATES``) less often
    than the style's, over the last ``MOVES_WINDOW`` of them. As with repeated notes, the pull acts only then:
    a pull at every note leaves too few of the style's passing dissonances (bach, melody clear of a semitone:
    0.89 of the chorales' sopranos, 0.77 unpulled, 0.91 pulled at every note)."""
    seen = row.over_held.get(name)
    return seen is not None and _short_of(seen, row.harmony[name])


def _short_of(seen: deque[bool], rate: float) -> bool:
    """The controllers' test: enough of the row's recent notes seen, and fewer of them with the property than
    the style's ``rate``."""
    return len(seen) >= MOVES_WINDOW // 3 and sum(seen) / len(seen) < rate  # exact, and no array per note


def _at_least(zp: np.ndarray, ok: np.ndarray, member: np.ndarray, rate: float) -> bool:
    """Make the probability share of ``member`` among the allowed pitch logits ``zp`` at least ``rate``;
    returns whether ``zp`` changed.

    In log space: a network sure of one pitch gives the others probabilities that underflow to 0, and a
    share of exactly 0 must still be raised to ``rate`` (not by an infinite factor)."""
    m = member & ok
    rest = ~member & ok
    if not m.any() or not rest.any():
        return False
    log_m, log_r = _log_sum_exp(zp[m]), _log_sum_exp(zp[rest])
    total = np.logaddexp(log_m, log_r)
    rate = min(rate, 0.999)
    if log_m - total >= np.log(rate):
        return False
    # The two groups scaled to rate : 1 - rate, each keeping its own order (the total is the same as before).
    zp[m] += np.log(rate) + total - log_m
    zp[rest] += np.log1p(-rate) + total - log_r
    return True


def _log_sum_exp(x: np.ndarray) -> float:
    """log(sum(exp(x))) of finite-or-minus-infinite logits, shifted by their maximum so that it neither
    overflows nor loses the largest term (a few times faster than ``np.logaddexp.reduce``)."""
    top = float(x.max())
    if top == -np.inf:
        return top
    return top + float(np.log(np.exp(x - top).sum()))


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
