"""Keys: a piece's key (from its key signature, else a Krumhansl-Schmuckler estimate), and the
semitone shift that brings it to C major / A minor.

Note-level models learn in one key (BachBot's normalisation): every piece is moved so that its
key signature becomes that of C major / A minor, and a composition is moved back to a key drawn
from the style's own key distribution. The shift depends only on the signature (the relative
major's tonic), so a minor piece lands in A minor and a major one in C major without having
to tell the two modes apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstm_composer_plugin.music.midi import Note, Piece

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11
    minor: bool
    source: str = "signature"  # "signature" | "estimate"

    @property
    def major_tonic(self) -> int:
        """Pitch class of the relative major's tonic: what the key signature says."""
        return (self.tonic + 3) % 12 if self.minor else self.tonic

    @property
    def name(self) -> str:
        return PITCH_CLASSES[self.tonic] + (" minor" if self.minor else " major")


def key_from_signature(sharps: int, minor: bool) -> Key:
    major = (7 * sharps) % 12  # each sharp is a fifth up, each flat a fifth down
    return Key((major + 9) % 12 if minor else major, minor, "signature")


def estimate_key(notes: Sequence[Note]) -> Key:
    """Krumhansl-Schmuckler: the key whose profile correlates best with the duration-weighted
    pitch-class histogram (C major for a piece without notes)."""
    return best_key(_pitch_classes(notes))[0]


def _pitch_classes(notes: Sequence[Note]) -> np.ndarray:
    """The duration-weighted pitch-class histogram the key profiles are matched against."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += max(n.duration, 1e-3)
    return hist


def best_key(hist: np.ndarray) -> tuple[Key, float]:
    """The Krumhansl-Kessler key that correlates best with a 12-bin pitch-class histogram, and the
    correlation (how clearly the music is in a key; C major and 0.0 for an empty histogram)."""
    best, best_r = Key(0, False, "estimate"), -np.inf
    if not hist.any():
        return best, 0.0
    for minor, profile in ((False, _MAJOR), (True, _MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if r > best_r + 1e-12:
                best, best_r = Key(tonic, minor, "estimate"), r
    return best, best_r


def piece_key(piece: Piece) -> Key:
    """The key at the start of the piece: its first key signature, else an estimate."""
    if piece.key_signatures:
        _beat, sharps, minor = piece.key_signatures[0]
        return key_from_signature(sharps, minor)
    return estimate_key(piece.notes)


def shift_to(pitch_class: int) -> int:
    """The smallest move (-5..6 semitones) that takes pitch class 0 to ``pitch_class``."""
    s = pitch_class % 12
    return s - 12 if s > 6 else s


def normalising_shift(key: Key) -> int:
    """Semitones that move ``key`` to C major / A minor (-6..5: down on the tritone tie)."""
    return -shift_to(key.major_tonic)


def key_name(major_tonic: int, minor: bool = False) -> str:
    return Key((major_tonic + 9) % 12 if minor else major_tonic % 12, minor).name


_KEY_TEXT = re.compile(r"^\s*([A-Ga-g])\s*(#|♯|b|♭|-)?\s*(m|min|minor|maj|major)?\s*$", re.IGNORECASE)
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def parse_key(text: str) -> Key:
    """A key as people write it: ``D``, ``Bb``, ``F# minor``, ``c#m``, ``Eb major``.

    Raises ``ValueError`` with a one-line reason.
    """
    match = _KEY_TEXT.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a key (e.g. D, Bb, 'F# minor')")
    letter, accidental, mode = match.groups()
    tonic = _STEPS[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1, "-": -1}.get(accidental or "", 0)
    minor = (mode or "").lower() in ("m", "min", "minor")
    return Key(tonic % 12, minor, "given")


def is_minor(notes: Sequence[Note], major_tonic: int) -> bool:
    """Whether music under the key signature of ``major_tonic`` sounds in its relative minor rather than
    its major (the Krumhansl-Kessler profile of each, against the duration-weighted pitch classes)."""
    hist = _pitch_classes(notes)
    if not hist.any():
        return False
    major = float(np.corrcoef(hist, np.roll(_MAJOR, major_tonic))[0, 1])
    minor = float(np.corrcoef(hist, np.roll(_MINOR, (major_tonic + 9) % 12))[0, 1])
    return minor > major


def key_fifths(major_tonic: int) -> int:
    """The key signature (sharps > 0, flats < 0) whose major key has ``major_tonic`` (a pitch class)
    for its tonic: flats for F, Bb, Eb, Ab and Db, sharps up to F# (six)."""
    sharps = (major_tonic * 7) % 12  # each fifth up adds a sharp
    return sharps - 12 if sharps > 6 else sharps
