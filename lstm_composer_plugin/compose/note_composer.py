"""Composing with a note-level model (``manifest["encoding"]["kind"] == "notes"``).

    the model's encoding record: the token table, the style's profile (metre, keys, chord size,
        same-pitch and melodic copy limits, velocity, tempo), the training melodies' index
    a key per variation, drawn by the seed from the style's key distribution (the model learnt
        in C major / A minor), or the primer's own key
    the primer: TS BAR POS (a first position drawn from the style's pieces), or a MIDI file's
        last bars in the normalised key
    sampling masked by the grammar (well-formed bars, chords at most max_chord notes, highest
        first), with the melodic guards; the length counted in notes or seconds
    decode in the chosen key → notes for the writer in ``composer``

The old event-level models never come here (``composer.compose`` dispatches).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hostapi.results import COMPOSE_BOUNDS, ComposeOptions
from lstm_composer_plugin.compose.engine import NumpyNetwork
from lstm_composer_plugin.compose.guards import MelodyGuards
from lstm_composer_plugin.compose.sampling import Sample, SamplingSettings, sample
from lstm_composer_plugin.errors import ModelFileError, UsageError
from lstm_composer_plugin.modelfile import ModelFile
from lstm_composer_plugin.music.controls import N_DENSITY, ControlPlan
from lstm_composer_plugin.music.grammar import Grammar
from lstm_composer_plugin.music.keys import (
    Key,
    key_name,
    normalising_shift,
    parse_key,
    piece_key,
    shift_to,
)
from lstm_composer_plugin.music.melody import MelodyIndex, longest_same_pitch, melody_of_tokens
from lstm_composer_plugin.music.midi import Note, Piece
from lstm_composer_plugin.music.notes import (
    BAR,
    SEP,
    NoteEncoding,
    bar_report,
    count_notes,
    decode_tokens,
    encode_piece,
    first_time_signature,
    fold_time_signature,
    opening_tokens,
    token_table,
    vocabulary,
)
from lstm_composer_plugin.music.planner import BarPlanner, bars_of
from lstm_composer_plugin.music.profile import (
    NoteRecord,
    StyleProfile,
    bar_clash_profile,
    bar_density_shares,
)
from lstm_composer_plugin.music.stats import style_distance
from lstm_composer_plugin.music.tokens import notes_to_events

DEFAULT_NOTES = 500  # --length for note models counts notes
MAX_NOTES = int(COMPOSE_BOUNDS["length"].high)  # upper bound, also for a length in seconds (in notes)
PRIMER_TOKENS = 768  # a MIDI primer contributes its last bars, up to about 300 notes
TOKENS_PER_NOTE_CAP = 8  # the token budget: a row never needs more than this per note


@dataclass
class NoteModel:
    """What composing needs from a note-level model file besides the network."""

    encoding: NoteEncoding
    profile: StyleProfile
    melody: MelodyIndex | None
    corpus: tuple[np.ndarray, np.ndarray] | None = None  # the training pieces' tokens and offsets (copy guard)

    @classmethod
    def from_model(cls, model: ModelFile, path: Path, n_vocab: int) -> NoteModel:
        try:
            record = NoteRecord.from_dict(model.manifest.encoding)
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: bad note encoding record ({exc})") from None
        names = vocabulary(record.encoding)
        stored = model.manifest.vocabulary.get("tokens")
        if len(names) != n_vocab or (stored is not None and list(stored) != names):
            raise ModelFileError(f"{path}: vocabulary ({len(names)} tokens) and network ({n_vocab}) disagree")
        train_names = list(model.manifest.corpus.get("train_pieces") or [])
        corpus = None
        if "corpus.tokens" in model.arrays and "corpus.offsets" in model.arrays:
            corpus = (model.arrays["corpus.tokens"], model.arrays["corpus.offsets"])
        return cls(record.encoding, record.profile, MelodyIndex.from_arrays(model.arrays, train_names), corpus)


@dataclass
class NotePrimer:
    tokens: np.ndarray  # (variations, T): consumed before sampling
    opening: list[list[int]]  # per variation: tokens that belong to the output (TS BAR POS)
    keys: list[int]  # per variation: semitones from the model's key to the composition's
    time_signatures: list[tuple[int, int]]  # per variation (the primer's TS token says it too)
    description: str
    context: list[int]  # decoded in front of the output, not written (a MIDI primer's bars)


@dataclass
class NoteTake:
    """One composed variation: its tokens, notes and report entries."""

    tokens: list[int]
    notes: list[Note]
    sample: Sample
    key: int
    report: dict[str, Any]


def compose_notes(
    net: NumpyNetwork,
    nm: NoteModel,
    *,
    options: Any,  # hostapi.results.ComposeOptions
    settings: SamplingSettings,
    seed: int,
    variations: int,
    bpm: float,
    primer_piece: Piece | None,
    guard_overrides: dict[str, Any],
    stats: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[NoteTake], NotePrimer]:
    """Sample ``variations`` note-level compositions; ``options.length`` counts notes.

    ``guard_overrides``: a host's ``options.extra`` ("max_run": same-pitch run, "copy_limit":
    melodic notes, "harmony": the style's harmony rates pulled toward; None switches one off); ``stats``: the manifest's style histograms."""
    enc, prof = nm.encoding, nm.profile
    primer = note_primer(nm, primer_piece, seed, variations, key=_given_key(nm, options),
                         metre=_given_metre(nm, options))
    plan = control_plan(nm, options, path=None) or planned(nm, guard_overrides.get("planner"), seed)
    # Each row's metre comes from its primer's TS token; the grammar's own is only the fallback.
    grammar = Grammar(enc, time_signature=primer.time_signatures[0], max_chord=max(1, prof.max_chord), plan=plan)
    guards = MelodyGuards(
        index=nm.melody,
        copy_limit=guard_overrides.get("copy_limit", prof.melodic_copy_limit),
        same_pitch_limit=guard_overrides.get("max_run", prof.same_pitch_limit),
    )
    # The budgets count from where the primer leaves off.
    state = grammar.start()
    for t in primer.tokens[0].tolist():
        state.push(t)
    until_notes = until_steps = None
    if options.seconds is not None:
        # The output starts at the bar line of the primer's last bar, or of the bar after it when the
        # continuation begins with a bar line: counting from the later one, the piece is at least as
        # long as asked, and at most a bar longer (the bar in which the time runs out is finished).
        origin = (state.bar_start or 0) + (state.bar_len if primer.context else 0)
        until_steps = origin + math.ceil(options.seconds * bpm / 60.0 * enc.grid)
        n_notes = min(MAX_NOTES, max(1, math.ceil(options.seconds * 20)))  # 20 notes a second at most
        until_notes = state.notes + n_notes  # whichever comes first: the bar past the time, or the cap
    else:
        n_notes = options.length if options.length is not None else DEFAULT_NOTES
        until_notes = state.notes + n_notes
    samples = sample(
        net,
        TOKENS_PER_NOTE_CAP * n_notes + 64,
        seed=seed,
        settings=settings,
        primer=primer.tokens,
        batch=variations,
        grammar=grammar,
        melody_guards=guards,
        until_notes=until_notes,
        until_steps=until_steps,
        progress=progress,
        harmony=_harmony(prof.harmony, guard_overrides, nm.melody),
        bar_retries=int(guard_overrides.get("bar_retries", BAR_RETRIES) or 0),
        clashes=_clashes(prof.clashes, guard_overrides) if prof.max_chord > 1 else None,  # a tune: one_line
        # a density the user or the planner gives is kept as given
        density_bias=None if plan and (plan.density is not None or plan.classes) else density_bias(
            prof.density, guard_overrides),
    )
    takes = []
    context = primer.context
    for k, smp in enumerate(samples):
        tokens = primer.opening[k] + smp.tokens
        notes = decode_tokens(
            context + tokens,
            enc,
            key=primer.keys[k],
            velocity=prof.velocity,
            time_signature=primer.time_signatures[k],
            bpm=bpm,
            skip=len(context),
        )
        if not context:
            notes = in_style_register(notes, prof, primer.keys[k])
        if prof.max_chord == 1:
            notes = one_line(notes)
        report = note_report(tokens, smp, nm, guards, primer.keys[k], stats)
        takes.append(NoteTake(tokens, notes, smp, primer.keys[k], report))
    return takes, primer


# The rates pulled toward by default: the vertical ones. Measured on bach fine-tuned with bar controls
# (bench/quality.py, 20 compositions): no pull AUC 0.96, these two 0.88 (triads as real pieces have
# them, semitone clashes +49 % instead of +138 %); adding the chord-tone rates 0.99 and the voice
# proximity ones 0.99, since both pull toward the note just played (repeated melody notes +99-165 %).
# And the melody's repeated notes, kept to the style's share over the last notes (sampling's controller):
# on the published chopin, irish and german_folk, repeated notes +141 % → +31 %, +40 % → -5 %, -18 % → -30 %
# of the real pieces' share, AUC 0.81 → 0.78, 0.68 → 0.69, 0.76 → 0.76 (docs/bar-controls.md).
DEFAULT_PULL = ("lower_fits", "lower_clear", "melody_moves")

# A bar whose notes miss its density class or chord root is drawn again from its bar line, up to this
# many more times (compose.sampling's _BarRetry). Measured on the published bach, chopin, irish and
# german_folk (bench/quality.py --bar-retries, 20 compositions): bars keeping their chord root 53-75 % →
# 84-94 %, AUC 0.96/0.78/0.69/0.76 → 0.98/0.72/0.63/0.78 (within the test's noise: the network's own
# bars, filtered, where pulling toward the chord's tones cost realism, docs/bar-controls.md).
BAR_RETRIES = 2


def _harmony(rates: dict[str, float], overrides: dict[str, Any], melody: MelodyIndex | None = None) -> dict[str, float]:
    """The style's harmony rates to pull toward (``DEFAULT_PULL``); ``extra={"harmony": None}``
    switches the pull off, a list of names pulls toward those (for measuring what each does).

    ``melody_moves`` (how often the style's tunes leave a note rather than strike it again) is read off
    the training melodies the model file carries, for models whose profile predates the rate."""
    keep = overrides.get("harmony", DEFAULT_PULL)
    if keep is None:
        return {}
    rates = dict(rates)
    if "melody_moves" not in rates and melody is not None:
        moves = melody.moves_rate()
        if moves is not None:
            rates["melody_moves"] = moves
    return {k: v for k, v in rates.items() if k in set(keep)}


# Bars are drawn again for their semitone clashes only for a model that clashes this much more per bar than its
# style (``own_clashes`` against the style's mean). Measured on the published models with ``own_clashes``: bach
# 1.58 and trecento 1.96 times their style's, the others 0.43-1.21 (with 20 compositions of 60 s, seed 1: bach
# 1.62, trecento 1.76, debussy 1.58, brahms 1.19, the rest 0.34-1.08; debussy's moves most between measurements,
# and measured the same either way). Drawing clashing bars again took bach's semitone pairs from +57 % of its
# validation chorales' to +7-9 % and its AUC from 0.79 / 0.83 to 0.79 / 0.75 (seeds 1 / 2); for the styles near
# their style's mean it only pushed them below it (brahms 0.76 / 0.74 → 0.81 / 0.79): docs/bar-controls.md.
CLASH_EXCESS = 1.4


def own_clashes(net: NumpyNetwork, nm: NoteModel, *, seconds: float = 60.0, variations: int = 8,
                seed: int = 0) -> float | None:
    """The model's own semitone clashes per bar (``own_figures``): what shipping a model stores in its profile
    (``clashes["model"]``). None for a model without bar controls or for one-line tunes."""
    return own_figures(net, nm, seconds=seconds, variations=variations, seed=seed).clashes


def _clashes(clashes: dict[str, float], overrides: dict[str, Any]) -> tuple[float, int] | None:
    """The style's clashes per bar (mean, limit) that bars are drawn again by, for a model that clashes at
    least ``CLASH_EXCESS`` times more than its style; else None, as with ``extra={"clashes": None}``."""
    if overrides.get("clashes", True) is None or not {"mean", "limit", "model"} <= set(clashes):
        return None
    if clashes["model"] < CLASH_EXCESS * clashes["mean"]:
        return None
    return float(clashes["mean"]), int(clashes["limit"])


# The density control is corrected toward the style's only for a model whose own bars' density classes differ
# from its style's by this much (total variation: half the summed differences of the shares). Measured with
# ``own_figures`` on the published models: lullabies 0.59 (fine-tuned 2 epochs from the dense corpus network:
# 3.6 onsets per beat against its lullabies' 1.4), then beethoven 0.28, joplin 0.27, mozart 0.25, the others
# 0.04-0.19. Corrected, lullabies write 1.25-1.34 onsets per beat and read AUC 0.57 / 0.58 (seeds 1 / 2; 0.47 /
# 0.61 before); corrected at 0.2, beethoven, joplin and mozart read worse (0.64 / 0.73, 0.83 / 0.91, 0.76 / 0.75
# against 0.56 / 0.50, 0.79 / 0.84, 0.71 / 0.79): their leaning is part of what the network learnt to go with
# its notes, so only a gross one is corrected (docs/bar-controls.md, ninth round).
DENSITY_GAP = 0.3
DENSITY_FLOOR = 0.01  # added to every share: a class the style never writes becomes unlikely, not impossible
# The correction is found by composing with it and correcting again: one log-ratio step overshoots, because a bar's
# class leans on the bars before it (lullabies: 4 % of bars in the two sparsest classes, 76 % after one step,
# against the style's 48 %). Each round moves half of the remaining log-ratio, measured on compositions fewer and
# shorter than the first measurement's (the four rounds together cost what it costs; the half-steps average
# their noise): shipping stays a few seconds.
DENSITY_ROUNDS = 4
DENSITY_STEP = 0.5
DENSITY_ROUND_SECONDS = 30.0
DENSITY_ROUND_PIECES = 4


@dataclass(frozen=True)
class OwnFigures:
    """What a model's own compositions measure, beside its style's figures in the profile."""

    clashes: float | None  # semitone clashes per bar (None: no bar controls, or one-line tunes)
    density: list[float] | None  # share of bars per density class (None: no bar controls)


def own_figures(net: NumpyNetwork, nm: NoteModel, *, bias: np.ndarray | None = None, seconds: float = 60.0,
                variations: int = 8, seed: int = 0) -> OwnFigures:
    """``variations`` compositions of ``seconds`` at the default settings, with no bar drawn again for its
    clashes and the density control as the network draws it (or with ``bias`` added), measured as the profile
    measures the style's pieces: the semitone clashes per bar (``music.profile.bar_clash_profile``) and the
    share of bars in each density class (``music.profile.bar_density_shares``)."""
    if not nm.encoding.controls:
        return OwnFigures(None, None)
    takes, _primer = compose_notes(net, nm, options=ComposeOptions(seconds=seconds), settings=SamplingSettings(),
                                   seed=seed, variations=variations, bpm=nm.profile.bpm, primer_piece=None,
                                   guard_overrides={"clashes": None,
                                                    "density_bias": None if bias is None else list(bias)})
    streams = [take.tokens for take in takes]  # each opens with its metre, as the style's pieces do
    clashes = bar_clash_profile(streams, nm.encoding).get("mean") if nm.profile.max_chord > 1 else None
    return OwnFigures(clashes, bar_density_shares(streams, nm.encoding) or None)


def shipping_figures(net: NumpyNetwork, nm: NoteModel, style: list[float] | None) -> tuple[float | None, dict | None]:
    """The model's own figures as shipping stores them in its profile: its semitone clashes per bar
    (``clashes["model"]``) and ``density``: the ``style``'s shares of bars per density class, the model's own
    ("model"), and, for a model whose own differ from its style's by at least ``DENSITY_GAP``, the correction
    composing adds to the density classes' logits ("bias", found by composing with it, ``DENSITY_ROUNDS``)
    and the shares it gives ("corrected"); the clashes are then measured with the correction, as the model
    will compose. (None, None) for a model without bar controls."""
    first = own_figures(net, nm)
    clashes = first.clashes
    if not style or not first.density:
        return clashes, None
    out: dict[str, list[float]] = {"style": list(style), "model": first.density}
    target = np.asarray(style)
    if len(first.density) != len(target) or _gap(target, np.asarray(first.density)) < DENSITY_GAP:
        return clashes, out
    bias, shares = np.zeros(len(target)), np.asarray(first.density)
    for _ in range(DENSITY_ROUNDS):
        bias = bias + DENSITY_STEP * np.log((target + DENSITY_FLOOR) / (shares + DENSITY_FLOOR))
        got = own_figures(net, nm, bias=bias, seconds=DENSITY_ROUND_SECONDS, variations=DENSITY_ROUND_PIECES)
        if not got.density:
            return clashes, out  # composing with it wrote no bars: no correction
        shares, clashes = np.asarray(got.density), got.clashes
    return clashes, {**out, "bias": [round(float(x), 4) for x in bias],
                     "corrected": [round(float(x), 4) for x in shares]}


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(a - b).sum())


def density_bias(density: dict[str, list[float]], overrides: dict[str, Any]) -> np.ndarray | None:
    """What is added to the density classes' logits (``sample``'s ``density_bias``): the profile's "bias",
    which shipping finds only for a model whose bars' density differs much from its style's
    (``shipping_figures``); else None, as with ``extra={"density_bias": None}``. A list there is used as the
    bias instead (for measuring). The network still chooses each bar's class from what came before; only
    its overall leaning is moved to the style's."""
    given = overrides.get("density_bias", True)
    if given is None:
        return None
    if given is not True:
        try:
            bias = np.asarray(given, dtype=np.float64)
        except (TypeError, ValueError):
            bias = np.zeros(0)
        if bias.shape != (N_DENSITY,) or not np.isfinite(bias).all():
            raise UsageError(f"density_bias: a list of {N_DENSITY} numbers (one per density class) or none, "
                             f"not {given!r}")
        return bias
    if not density.get("bias"):
        return None
    if len(density["bias"]) != N_DENSITY:
        raise ModelFileError(f"the model's density correction has {len(density['bias'])} classes, not {N_DENSITY}: "
                             "a damaged profile (fetch the model again)")
    return np.asarray(density["bias"], dtype=np.float64)


def control_plan(nm: NoteModel, options: Any, path: Path | None = None) -> ControlPlan | None:
    """The user's ``density`` and ``chords`` as a plan the grammar holds the bars to (or None)."""
    density, chords = getattr(options, "density", None), getattr(options, "chords", None)
    if density is None and not chords:
        return None
    if not nm.encoding.controls:
        raise UsageError("--density and --chords need a model trained with bar controls; this one has none "
                         "(fetch the style's current model, or retrain it)")
    try:
        return ControlPlan.from_options(density, chords)
    except ValueError as exc:
        raise UsageError(f"chords: {exc}") from None


PLAN_BARS = 1024  # a planned composition's bars (the plan repeats past them)


def planned(nm: NoteModel, planner: str | None, seed: int) -> ControlPlan | None:
    """The learnt bar planner's plan (``extra={"planner": "ngram"}``): each bar's density and chord drawn by
    an n-gram over the training pieces' bars (``music.planner``), the notes left to the network."""
    if planner is None or not nm.encoding.controls or nm.corpus is None:
        return None
    if planner != "ngram":
        raise UsageError(f"planner: 'ngram' or none, not {planner!r}")
    pieces = bars_of(nm.corpus[0], nm.corpus[1], nm.encoding)
    if not pieces:
        return None
    bars = BarPlanner.fit(pieces).plan(PLAN_BARS, np.random.default_rng([seed, 0x504C]))
    return ControlPlan(chords=tuple(c for _, c in bars), classes=tuple(d for d, _ in bars))


OCTAVE_MOVE_GAP = 8  # semitones


def one_line(notes: list[Note]) -> list[Note]:
    """A tune of a style whose pieces are one line (``max_chord`` 1): each note stops where the next begins.

    The network chooses a note's length before it chooses when the next note starts, and a length that
    rings on into the next note sounds two notes at once: on irish, german_folk and scottish that made
    semitone pairs 5-10 times as common as in the tunes (scottish: 'dissonance' 0.02 → 0.22), where a
    fiddle or a voice would simply have moved on (docs/bar-controls.md).
    """
    out = list(notes)
    for i in range(len(out) - 1):
        n, nxt = out[i], out[i + 1]
        if nxt.start > n.start and n.start + n.duration > nxt.start:
            length = nxt.start - n.start
            out[i] = replace(n, duration=length, duration_s=n.duration_s * length / n.duration)
    return out


def in_style_register(notes: list[Note], prof: StyleProfile, key: int) -> list[Note]:
    """The composition moved by whole octaves to where the style's pieces in its key sit.

    The model learnt every piece in C, so its register is a mix of the keys; moved to G by the
    smallest step (down a fourth) a German folk tune sat 8 semitones under real ones in G.
    """
    target = prof.registers.get(key % 12)
    if target is None or not notes:
        return notes
    gap = target - float(np.mean([n.pitch for n in notes]))
    # Only a clear miss moves (more than 8 semitones off): pieces of one key spread over a sixth or
    # so themselves, and a move for a semitone's gain would jump an octave at random.
    octave = 12 * round(gap / 12) if abs(gap) > OCTAVE_MOVE_GAP else 0
    lo, hi = min(n.pitch for n in notes) + octave, max(n.pitch for n in notes) + octave
    if octave == 0 or lo < 0 or hi > 127:
        return notes
    return [replace(n, pitch=n.pitch + octave) for n in notes]


def parse_metre(text: str) -> tuple[int, int]:
    """``3/4`` → (3, 4); ``ValueError`` with a one-line reason otherwise."""
    parts = str(text).strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a time signature (e.g. 3/4, 6/8)")
    n, d = (int(p) for p in parts)
    if not 1 <= n <= 32 or d not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"{text!r} is not a time signature (1-32 beats of 1, 2, 4, 8, 16 or 32)")
    return n, d


def _given_key(nm: NoteModel, options: Any) -> Key | None:
    text = getattr(options, "key", None)
    if not text:
        return None
    if nm.encoding.key_mode != "normalise":
        raise UsageError("--key needs a model that learnt in one key (key mode 'normalise'); this one keeps "
                         "each piece's own key")
    try:
        return parse_key(text)
    except ValueError as exc:
        raise UsageError(f"key: {exc}") from None


def _given_metre(nm: NoteModel, options: Any) -> tuple[int, int] | None:
    text = getattr(options, "metre", None)
    if not text:
        return None
    try:
        metre = parse_metre(text)
    except ValueError as exc:
        raise UsageError(f"metre: {exc}") from None
    table = sorted(token_table(nm.encoding).time_signatures, key=lambda m: (m[1], m[0]))
    if metre not in table:
        raise UsageError(f"metre: the model writes {', '.join(f'{n}/{d}' for n, d in table)}, not {text}")
    return metre


def note_primer(nm: NoteModel, piece: Piece | None, seed: int, variations: int, *, key: Key | None = None,
                metre: tuple[int, int] | None = None) -> NotePrimer:
    """A random opening in a key drawn from the style, or a MIDI file's last bars; ``key`` and ``metre``
    (the user's) replace the drawn ones, and only them: the other draws use streams of their own."""
    enc, prof = nm.encoding, nm.profile
    table = token_table(enc)
    if piece is not None:
        return _midi_primer(nm, piece, variations)
    # Streams of their own (not the sampling rows'), so the opening never shifts the rest.
    metres = prof.metres or {prof.time_signature: 1}
    choices = sorted(metres)
    w = np.array([metres[m] for m in choices], dtype=np.float64)
    mrng = np.random.default_rng([seed, 0x54])
    drawn = [choices[i] for i in mrng.choice(len(choices), size=variations, p=w / w.sum())]
    time_signatures = [metre or fold_time_signature(m, enc) for m in drawn]
    rng = np.random.default_rng([seed, 0x0BE])
    positions = []
    for ts in time_signatures:
        bar = table.bar_steps(ts)
        firsts = {k: c for k, c in prof.first_positions.items() if 0 <= k < bar} or {0: 1}
        pos = np.array(sorted(firsts))
        p = np.array([firsts[k] for k in pos], dtype=np.float64)
        positions.append(int(rng.choice(pos, p=p / p.sum())))
    keys = [0] * variations
    if enc.key_mode == "normalise":
        tonics = np.array(sorted(prof.keys))
        w = np.array([prof.keys[t] for t in tonics], dtype=np.float64)
        krng = np.random.default_rng([seed, 0x4B45])
        keys = [shift_to(int(t)) for t in krng.choice(tonics, size=variations, p=w / w.sum())]
        if key is not None:
            keys = [shift_to(key.major_tonic)] * variations
    opening = [opening_tokens(enc, ts, k) for ts, k in zip(time_signatures, positions, strict=True)]
    return NotePrimer(
        tokens=np.array([[SEP, *o] for o in opening], dtype=np.int64),
        opening=opening,
        keys=keys,
        time_signatures=time_signatures,
        description="random opening",
        context=[],
    )


def _midi_primer(nm: NoteModel, piece: Piece, variations: int) -> NotePrimer:
    enc = nm.encoding
    table = token_table(enc)
    key: Key = piece_key(piece)
    shift = normalising_shift(key) if enc.key_mode == "normalise" else 0
    toks = encode_piece(piece, enc, shift=shift).tolist()
    if not toks:
        raise UsageError(f"{piece.path}: primer has no notes")
    whole = len(toks) <= PRIMER_TOKENS
    if not whole:
        # Cut at a bar line, and say the metre again in front of it.
        bars = [i for i, t in enumerate(toks) if t == BAR and len(toks) - i <= PRIMER_TOKENS]
        cut = bars[0] if bars else len(toks) - PRIMER_TOKENS
        metre = first_time_signature(reversed(toks[:cut]), enc) or (4, 4)
        toks = [table.ts_token(metre), *toks[cut:]]
    ts = first_time_signature(reversed(toks), enc) or (4, 4)
    n_bars = sum(1 for t in toks if t == BAR)
    row = [SEP, *toks] if whole else toks  # a separator only where the piece really starts
    return NotePrimer(
        tokens=np.tile(np.asarray(row, dtype=np.int64), (variations, 1)),
        opening=[[] for _ in range(variations)],
        keys=[-shift] * variations,
        time_signatures=[ts] * variations,
        description=f"{Path(piece.path).name} (last {n_bars} bars, {key.name})",
        context=toks,
    )


def note_report(
    tokens: list[int],
    smp: Sample,
    nm: NoteModel,
    guards: MelodyGuards,
    key: int,
    stats: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Originality and liveliness of a note-level composition, measured on its melody
    (``stats``: the manifest's style histograms, for ``style_distance``)."""
    stats = stats or {}
    enc = nm.encoding
    melody = melody_of_tokens(tokens, enc)
    report: dict[str, Any] = {
        "notes": count_notes(tokens, enc),
        "key_signature": f"{key_name(key % 12)} / {key_name(key % 12, minor=True)}"
        if enc.key_mode == "normalise"
        else "the model's own",
        "time_signature": "/".join(map(str, first_time_signature(tokens, enc) or nm.profile.time_signature)),
        "longest_repeat": longest_same_pitch(melody),  # same melody pitch struck in a row
        "distinct_per_100": round(_distinct_per_100(melody), 1),
        "guards": {
            "max_run": guards.same_pitch_limit,
            "copy_limit": guards.copy_limit if nm.melody is not None else None,
            **smp.guard_stats.to_dict(),
        },
    }
    if enc.controls:
        ts = first_time_signature(tokens, enc) or nm.profile.time_signature
        report["bar_controls"] = bar_report(tokens, enc, ts)
    if nm.melody is not None and len(melody) > 1:
        match = nm.melody.longest_match(melody)
        report["longest_borrowed_melody"] = match.length
        report["melody_borrowed_from"] = match.source
    if "pitch_class_hist" in stats and "duration_hist" in stats and tokens:
        # The trainer's histograms are of the tokens (the normalised key), so these are too.
        report["style_distance"] = round(style_distance(notes_to_events(decode_tokens(tokens, enc)), stats), 4)
    return report


def _distinct_per_100(melody: np.ndarray) -> float:
    """Distinct melody pitches per 100 melody notes (windows of 100, a shorter tail scaled)."""
    m = np.asarray(melody).tolist()
    if not m:
        return 0.0
    windows = [m[i : i + 100] for i in range(0, max(len(m) - 99, 1), 100)]
    return float(np.mean([len(set(w)) * 100 / len(w) for w in windows]))
