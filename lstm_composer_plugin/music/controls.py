"""Bar-level controls: what each bar is like, said before its notes (the FIGARO / MusicLang idea).

At every bar line of a note-level stream with ``controls`` on, three tokens describe the bar
that follows::

    BAR DEN:k CH:root:quality TEX:n POS:... P:... D:...

* ``DEN:k``, the bar's **onset density**: distinct onsets per quarter note, in one of the
  classes ``DENSITY_EDGES`` cut (``[0.5, 0.75)``, ``[0.75, 1)``, ...). The sampling grammar
  keeps a bar to its class: no more onsets than the class allows, no bar line before it has
  enough (``onset_bounds``).
* ``CH:root:quality``, the bar's **harmony**: the chord whose template best fits the bar's
  pitch-class weights (each sounding note weighted by how long it sounds in the bar, the
  lowest note of each onset counted once more, as a bass). Roots are pitch classes of the
  stream's own key (C major / A minor once pieces are normalised), so ``CH:G:7`` is V7 of C.
  ``CH:N`` is a bar without notes.
* ``TEX:n``, the bar's **texture**: notes per onset, rounded, 1..``TEXTURES`` (a melody, two
  hands, four voices); the network learns to keep it, nothing forces it.

Training computes them from the real bar, so the network learns to follow them; composing
lets the network choose them (the default) or takes the user's plan (``ControlPlan``:
``--density`` and ``--chords``). ``bar_report`` measures how well composed bars kept theirs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Onsets per quarter note: class k holds [DENSITY_EDGES[k-1], DENSITY_EDGES[k]) (class 0 below the
# first edge, the last class open above). Chorales move at about 1.5-2 per quarter, reels at 2,
# lullabies at 1-1.5, piano figuration at 3-4: the classes are finest where styles differ.
DENSITY_EDGES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
N_DENSITY = len(DENSITY_EDGES) + 1
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Chord templates as intervals above the root. Dominant seventh is the one four-note chord: V7 is
# the harmony of half the cadences in these styles; other sevenths read as their triad.
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "7": (0, 4, 7, 10),
}
N_CHORDS = 12 * len(QUALITIES) + 1  # every root and quality, then N (no notes)
NO_CHORD = N_CHORDS - 1
TEXTURES = 6  # notes per onset 1..6 (6 = six or more)
BASS_WEIGHT = 0.5  # the lowest note of a chord counts this much more toward its pitch class as a root


@dataclass(frozen=True)
class BarControls:
    """One bar's descriptors, as indices into the control tokens."""

    density: int  # 0..N_DENSITY-1
    chord: int  # 0..N_CHORDS-1: root * len(QUALITIES) + quality, or NO_CHORD
    texture: int  # 1..TEXTURES


# -- density --------------------------------------------------------------------------------------


def density_class(onsets: int, quarters: float) -> int:
    """The class of ``onsets`` distinct onsets in a bar ``quarters`` quarter notes long."""
    rate = onsets / max(quarters, 1e-9)
    return int(np.searchsorted(DENSITY_EDGES, rate + 1e-9, side="right"))


def class_range(k: int) -> tuple[float, float]:
    """Onsets per quarter of class ``k``: [low, high)."""
    lo = 0.0 if k == 0 else DENSITY_EDGES[k - 1]
    hi = math.inf if k >= len(DENSITY_EDGES) else DENSITY_EDGES[k]
    return lo, hi


def onset_bounds(k: int, bar_steps: int, grid: int) -> tuple[int, int]:
    """(fewest, most) onsets a bar of ``bar_steps`` grid steps may have in density class ``k``.

    Empty (fewest > most) when no whole number of onsets falls in the class for this bar length:
    the grammar then never offers that class.
    """
    quarters = bar_steps / grid
    lo, hi = class_range(k)
    fewest = math.ceil(lo * quarters - 1e-9)
    most = bar_steps if math.isinf(hi) else math.ceil(hi * quarters - 1e-9) - 1
    return fewest, min(most, bar_steps)


def feasible_classes(bar_steps: int, grid: int) -> list[int]:
    return [k for k in range(N_DENSITY) if _feasible(onset_bounds(k, bar_steps, grid), bar_steps)]


def _feasible(bounds: tuple[int, int], bar_steps: int) -> bool:
    fewest, most = bounds
    return fewest <= most and fewest <= bar_steps


# -- harmony --------------------------------------------------------------------------------------


def chord_index(root: int, quality: str) -> int:
    return (root % 12) * len(QUALITIES) + list(QUALITIES).index(quality)


def chord_root(index: int) -> int | None:
    return None if index == NO_CHORD else index // len(QUALITIES)


def chord_name(index: int) -> str:
    if index == NO_CHORD:
        return "N"
    root, q = divmod(index, len(QUALITIES))
    return f"{NOTE_NAMES[root]}:{list(QUALITIES)[q]}"


_TEMPLATES = np.zeros((N_CHORDS - 1, 12))
for _r in range(12):
    for _q, _ivs in enumerate(QUALITIES.values()):
        for _iv in _ivs:
            _TEMPLATES[_r * len(QUALITIES) + _q, (_r + _iv) % 12] = 1.0


def chord_tones(index: int) -> np.ndarray:
    """Boolean mask over the 12 pitch classes: the tones of chord ``index`` (none for N)."""
    return _TEMPLATES[index] > 0 if index != NO_CHORD else np.zeros(12, dtype=bool)


def fitting_pitch_classes(sounding: np.ndarray) -> np.ndarray:
    """Pitch classes that, added to the ``sounding`` ones (a 12-bool mask), still fit one chord
    template (a triad or a dominant seventh); none when the sounding ones fit none already."""
    sounding = np.asarray(sounding, dtype=bool)
    fits = (_TEMPLATES[:, sounding] > 0).all(axis=1)
    return (_TEMPLATES[fits] > 0).any(axis=0) if fits.any() else np.zeros(12, dtype=bool)


def recognise_chord(weights: np.ndarray, bass: np.ndarray | None = None) -> int:
    """The chord that best explains pitch-class ``weights`` (12 floats), by template matching.

    Score = weight of the template's tones - weight of the others (Pardo & Birmingham's rule),
    plus ``bass`` weight on the root: of C-E-G-A, C major; of A-C-E with A in the bass, A minor.
    A template tone that does not sound costs a little, so B-D-F is B diminished, not G7 without
    its root, and a bar without a B flat is never called C7.
    """
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0:
        return NO_CHORD
    score = _TEMPLATES @ w - (1.0 - _TEMPLATES) @ w
    # A template tone that does not sound at all costs a little: B-D-F is B diminished, not G7.
    score -= 1e-3 * total * (_TEMPLATES @ (w <= 0))
    if bass is not None:
        score += BASS_WEIGHT * np.repeat(np.asarray(bass, dtype=np.float64), len(QUALITIES))
    best = float(score.max())
    return int(np.flatnonzero(score >= best - 1e-9 * total)[0])


def bar_controls(
    onsets: Sequence[tuple[int, dict[int, int]]], bar_start: int, bar_steps: int, grid: int,
    held: Sequence[tuple[int, int, int]] = (),
) -> BarControls:
    """The descriptors of one bar.

    ``onsets``: (step, {pitch: duration steps}) of the onsets inside the bar; ``held``: (onset
    step, pitch, duration) of earlier notes still sounding into it, which count toward the harmony.
    """
    weights = np.zeros(12)
    bass = np.zeros(12)
    stop = bar_start + bar_steps
    for step, pitch, dur in held:
        weights[pitch % 12] += max(0, min(step + dur, stop) - bar_start)
    notes = 0
    for step, chord in onsets:
        for pitch, dur in chord.items():
            weights[pitch % 12] += max(1, min(step + dur, stop) - step)
        if len(chord) > 1:  # a bass only where there is harmony under the melody
            low = min(chord)
            bass[low % 12] += max(1, min(step + chord[low], stop) - step)
        notes += len(chord)
    texture = min(TEXTURES, max(1, round(notes / len(onsets)))) if onsets else 1
    return BarControls(
        density=density_class(len(onsets), bar_steps / grid),
        chord=recognise_chord(weights, bass),
        texture=texture,
    )


def bar_clashes(onsets: Sequence[tuple[int, dict[int, int]]], held: Sequence[tuple[int, int, int]] = ()) -> int:
    """Semitone clashes in one bar: at each of its onsets, the pairs of sounding notes a semitone (or
    a major seventh, a ninth...) apart, summed; the same ``onsets`` and ``held`` as :func:`bar_controls`."""
    notes = [*held, *((step, p, d) for step, chord in onsets for p, d in chord.items())]
    clashes = 0
    for step, _chord in onsets:
        pcs = [p % 12 for s, p, d in notes if s <= step < s + max(1, d)]
        clashes += sum((a - b) % 12 in (1, 11) for i, a in enumerate(pcs) for b in pcs[i + 1:])
    return clashes


# -- the user's plan -------------------------------------------------------------------------------

_NUMERALS = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
_ROMAN = re.compile(r"^(?P<acc>[b#♭♯]?)(?P<num>VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)"
                    r"(?P<qual>[o°+]?)(?P<seven>7?)$")


def parse_chords(text: str) -> tuple[list[tuple[int, str]], bool]:
    """Roman numerals (``"I vi IV V"``, ``"i iv V7 i"``, ``"bVII"``, ``"vii°"``) as (semitones above
    the tonic, quality); and whether the key is minor (the first numeral is a lowercase ``i``).

    Upper case is major, lower case minor, ``°``/``o`` diminished, ``7`` a dominant seventh on a
    major numeral (a seventh on a minor or diminished one keeps its triad). Raises ``ValueError``
    naming the numeral it cannot read."""
    chords = []
    for word in text.replace(",", " ").replace("-", " ").split():
        m = _ROMAN.match(word)
        if not m:
            raise ValueError(f"cannot read chord {word!r} (roman numerals such as I ii IV V7 vi vii° bVII)")
        num = m["num"]
        root = _NUMERALS[num.lower()] + {"b": -1, "♭": -1, "#": 1, "♯": 1}.get(m["acc"], 0)
        if m["qual"] in ("o", "°"):
            quality = "dim"
        elif num.isupper():
            quality = "7" if m["seven"] else "maj"
        else:
            quality = "min"
        chords.append((root % 12, quality))
    if not chords:
        raise ValueError("no chords given")
    first = text.replace(",", " ").split()[0]
    minor = first.lstrip("b#♭♯") in ("i", "i7")
    return chords, minor


@dataclass(frozen=True)
class ControlPlan:
    """What the user asked of each composed bar: a density (onsets per quarter) and/or chords.

    Chords are chord indices in the stream's key (the normalised C major / A minor); the list
    repeats to the length of the composition."""

    density: float | None = None
    chords: tuple[int, ...] = field(default_factory=tuple)
    classes: tuple[int, ...] = field(default_factory=tuple)  # a density class per bar (a planner's), repeated

    @classmethod
    def from_options(cls, density: float | None, chords: str | None) -> ControlPlan | None:
        if density is None and not chords:
            return None
        plan_chords: tuple[int, ...] = ()
        if chords:
            parsed, minor = parse_chords(chords)
            tonic = 9 if minor else 0  # A minor / C major: where normalised pieces stand
            plan_chords = tuple(chord_index(tonic + r, q) for r, q in parsed)
        return cls(density=density, chords=plan_chords)

    def density_class(self, bar: int = 0) -> int | None:
        if self.density is not None:
            return density_class(round(self.density * 1000), 1000)
        return self.classes[bar % len(self.classes)] if self.classes else None

    def bounds(self, bar_steps: int, grid: int) -> tuple[int, int] | None:
        """Onsets for a bar of ``bar_steps``: the asked density, rounded down and up."""
        if self.density is None:
            return None
        want = self.density * bar_steps / grid
        return max(0, math.floor(want)), min(bar_steps, max(1, math.ceil(want)))

    def chord(self, bar: int) -> int | None:
        return self.chords[bar % len(self.chords)] if self.chords else None


__all__ = [
    "DENSITY_EDGES",
    "NO_CHORD",
    "N_CHORDS",
    "N_DENSITY",
    "QUALITIES",
    "TEXTURES",
    "BarControls",
    "ControlPlan",
    "bar_clashes",
    "bar_controls",
    "chord_index",
    "chord_name",
    "chord_root",
    "chord_tones",
    "class_range",
    "density_class",
    "feasible_classes",
    "fitting_pitch_classes",
    "onset_bounds",
    "parse_chords",
    "recognise_chord",
]
