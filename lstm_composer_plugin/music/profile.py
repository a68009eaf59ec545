"""What composing with a note-level model needs to know about its style, measured at training time.

Stored in the model file as ``manifest["encoding"]`` = ``NoteRecord(encoding, profile).to_dict()``:
the encoding's parameters plus a ``profile`` (time signature, key distribution, chord size,
same-pitch and melodic copy limits, velocity, tempo, first positions).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lstm_composer_plugin.music.controls import N_DENSITY, bar_clashes
from lstm_composer_plugin.music.grammar import Grammar, harmony_rates
from lstm_composer_plugin.music.keys import key_name, piece_key
from lstm_composer_plugin.music.melody import (
    DEFAULT_COPY_LIMIT,
    melodic_copy_limit,
    same_pitch_limit,
)
from lstm_composer_plugin.music.midi import Piece
from lstm_composer_plugin.music.notes import (
    NoteEncoding,
    bar_plan,
    encode_piece,
    fold_time_signature,
    onsets_of,
    read_bars,
)

CHORD_PERCENTILE = 99  # one stray cluster must not license thick chords everywhere
CLASH_TAIL = 0.15  # a bar with as many semitone clashes as this share of the style's bars reach is "clashing"


@dataclass(frozen=True)
class StyleProfile:
    time_signature: tuple[int, int] = (4, 4)  # the most common opening metre of the pieces
    keys: dict[int, int] = field(default_factory=lambda: {0: 1})  # relative-major tonic pc -> pieces
    max_chord: int = 4  # notes per onset
    same_pitch_limit: int = 4  # longest run of one repeated melody pitch
    melodic_copy_limit: int = DEFAULT_COPY_LIMIT  # notes of melody shared with one training piece
    velocity: int = 80
    bpm: float = 120.0
    first_positions: dict[int, int] = field(default_factory=lambda: {0: 1})  # first onset's POS -> pieces
    # Mean pitch of the pieces in each key (relative-major tonic pc -> MIDI pitch), as written. Normalising
    # to C mixes registers (a G major tune moves up 5, an F major one down 5), so compose puts each
    # composition in the octave where the style's pieces in that key sit. Empty in older models.
    registers: dict[int, float] = field(default_factory=dict)
    # Opening metres of the pieces (time signature -> pieces): each composition draws its own, since a
    # style of jigs and reels written all in 6/8 is told from real tunes at once. Empty in older
    # models, which compose in ``time_signature``.
    metres: dict[tuple[int, int], int] = field(default_factory=dict)
    # How the notes sit in their harmony (``grammar.harmony_rates``), for models with bar
    # controls: composing pulls the network toward them where it falls short. Empty otherwise.
    harmony: dict[str, float] = field(default_factory=dict)
    # Semitone clashes per bar, for models with bar controls: the pieces' "mean" and the "limit" few of
    # their bars reach (``bar_clash_profile``), and the "model"'s own mean, measured on compositions when
    # the model is shipped (``compose.note_composer.own_clashes``). Where the model clashes well above its
    # style, composing draws a bar at the limit again while the composition clashes more than the style.
    # Empty in older models.
    clashes: dict[str, float] = field(default_factory=dict)
    # The share of bars in each density class (``controls.DENSITY_EDGES``): the pieces' ("style",
    # ``bar_density_shares``) and the model's own ("model", measured on compositions when the model is
    # shipped, ``compose.note_composer.shipping_figures``). Where the two differ by much, composing corrects the
    # network's choice of density class toward the style's. Empty in older models.
    density: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_signature": list(self.time_signature),
            "keys": {str(k): v for k, v in sorted(self.keys.items())},
            "key_names": {str(k): key_name(k) for k in sorted(self.keys)},
            "max_chord": self.max_chord,
            "same_pitch_limit": self.same_pitch_limit,
            "melodic_copy_limit": self.melodic_copy_limit,
            "velocity": self.velocity,
            "bpm": self.bpm,
            "first_positions": {str(k): v for k, v in sorted(self.first_positions.items())},
            "registers": {str(k): v for k, v in sorted(self.registers.items())},
            "metres": {f"{n}/{d}": c for (n, d), c in sorted(self.metres.items())},
            **({"harmony": dict(self.harmony)} if self.harmony else {}),
            **({"clashes": dict(self.clashes)} if self.clashes else {}),
            **({"density": {k: list(v) for k, v in self.density.items()}} if self.density else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StyleProfile:
        ts = d.get("time_signature") or (4, 4)
        return cls(
            time_signature=(int(ts[0]), int(ts[1])),
            keys={int(k): int(v) for k, v in (d.get("keys") or {"0": 1}).items()},
            max_chord=int(d.get("max_chord", 4)),
            same_pitch_limit=int(d.get("same_pitch_limit", 4)),
            melodic_copy_limit=int(d.get("melodic_copy_limit", DEFAULT_COPY_LIMIT)),
            velocity=int(d.get("velocity", 80)),
            bpm=float(d.get("bpm", 120.0)),
            first_positions={int(k): int(v) for k, v in (d.get("first_positions") or {"0": 1}).items()},
            registers={int(k): float(v) for k, v in (d.get("registers") or {}).items()},
            metres={_metre(k): int(v) for k, v in (d.get("metres") or {}).items()},
            harmony={str(k): float(v) for k, v in (d.get("harmony") or {}).items()},
            clashes={str(k): float(v) for k, v in (d.get("clashes") or {}).items()},
            density={str(k): [float(x) for x in v] for k, v in (d.get("density") or {}).items()},
        )


@dataclass(frozen=True)
class NoteRecord:
    """``manifest["encoding"]`` of a note-level model: pass it as ``export_model(encoding=...)``."""

    encoding: NoteEncoding
    profile: StyleProfile

    def to_dict(self) -> dict[str, Any]:
        return {**self.encoding.to_dict(), "profile": self.profile.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoteRecord:
        return cls(NoteEncoding.from_dict(d), StyleProfile.from_dict(d.get("profile") or {}))


def style_profile(
    train_pieces: Sequence[Piece],
    val_pieces: Sequence[Piece] = (),
    enc: NoteEncoding = NoteEncoding(),
) -> StyleProfile:
    """Measure a style's profile from its pieces (the melodic copy limit needs validation pieces)."""
    pieces = list(train_pieces)
    if not pieces:
        return StyleProfile()
    metres: Counter[tuple[int, int]] = Counter()
    keys: Counter[int] = Counter()
    pitches: dict[int, list[float]] = {}
    firsts: Counter[int] = Counter()
    chord_sizes: list[int] = []
    velocities: list[int] = []
    bpms: list[float] = []
    for piece in pieces:
        ts = piece.time_signatures[0][1:] if piece.time_signatures else piece.time_signature
        metres[fold_time_signature(ts, enc)] += 1
        tonic = piece_key(piece).major_tonic
        keys[tonic] += 1
        if piece.notes:
            pitches.setdefault(tonic, []).append(float(np.mean([n.pitch for n in piece.notes])))
        groups = onsets_of(piece.notes, enc)
        if groups:
            chord_sizes.extend(len(c) for c in groups.values())
            first = min(groups)
            starts = [b for b, _ts in bar_plan(piece, enc, first) if b <= first]
            firsts[first - starts[-1]] += 1
        velocities.extend(n.velocity for n in piece.notes)
        bpms.append(piece.bpm)
    # Most common metre; ties to the one met first in sorted order, so the result is stable.
    metre = max(sorted(metres), key=lambda m: metres[m])
    streams = [encode_piece(p, enc) for p in pieces] if enc.controls else []  # for harmony and clashes alike
    shares = bar_density_shares(streams, enc)
    return StyleProfile(
        time_signature=metre,
        keys=dict(sorted(keys.items())),
        max_chord=max(1, int(np.ceil(np.percentile(chord_sizes, CHORD_PERCENTILE)))) if chord_sizes else 4,
        same_pitch_limit=same_pitch_limit(pieces, enc),
        melodic_copy_limit=melodic_copy_limit(pieces, list(val_pieces), enc),
        velocity=int(np.median(velocities)) if velocities else 80,
        bpm=round(float(np.median(bpms)), 2) if bpms else 120.0,
        first_positions=dict(sorted(firsts.items())),
        registers={t: round(float(np.mean(v)), 2) for t, v in sorted(pitches.items())},
        metres=dict(sorted(metres.items())),
        harmony=style_harmony(streams, enc) if streams else {},
        clashes=bar_clash_profile(streams, enc) if streams else {},
        density={"style": shares} if shares else {},
    )


def style_harmony(streams: Iterable[Sequence[int]], enc: NoteEncoding) -> dict[str, float]:
    """A style's harmony rates (``grammar.harmony_rates``) from its pieces' token streams, read by a grammar
    that takes the pieces as written (any chord size, metre changes, empty bars)."""
    return harmony_rates(streams, Grammar(enc, max_chord=128, allow_ts=True, max_empty_bars=1 << 30))


def bar_clash_profile(streams: Iterable[Sequence[int]], enc: NoteEncoding) -> dict[str, float]:
    """A style's semitone clashes per bar (``controls.bar_clashes``, bars with notes): their "mean", and
    the "limit", the fewest clashes that at most ``CLASH_TAIL`` of its bars reach (chorales: 2, a piano
    style 3 or 4). Empty without bars."""
    counts = [bar_clashes(b["inside"], b["held"]) for toks in streams for b in read_bars(toks, enc) if b["inside"]]
    if not counts:
        return {}
    c = np.asarray(counts)
    limit = next(k for k in range(1, int(c.max()) + 2) if (c >= k).mean() <= CLASH_TAIL)
    return {"mean": round(float(c.mean()), 4), "limit": float(limit)}


def bar_density_shares(streams: Iterable[Sequence[int]], enc: NoteEncoding) -> list[float]:
    """The share of the bars of ``streams`` written with each density class (``controls.DENSITY_EDGES``):
    the controls training writes for a style's pieces, or a model's own for its compositions. Empty
    without bars."""
    counts = np.zeros(N_DENSITY)
    for toks in streams:
        for b in read_bars(toks, enc):
            if "DEN" in b:
                counts[b["DEN"]] += 1
    total = counts.sum()
    return [round(float(x), 4) for x in counts / total] if total else []


def _metre(text: str) -> tuple[int, int]:
    n, d = text.split("/")
    return int(n), int(d)
