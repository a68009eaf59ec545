"""Key-invariant features of short stretches of music, for the two-sample test of quality.

A *segment* is ``onsets`` consecutive onsets (distinct start times) of a piece's notes on a
grid (``GRID`` steps per quarter note). Its features describe melody, harmony, rhythm and
metre without reference to the key or the tempo, so a classifier that separates two sets of
segments by them has found a difference in the music, not in transposition or speed.
Every feature is listed, with its meaning, in :data:`FEATURES` (docs/quality.md prints it).

The *top line* is the highest pitch at each onset (the melody of a song or a chorale's
soprano); the *bass* the lowest. *Sounding* notes at an onset include those held from
earlier onsets. The metre comes from the piece's time signature: a bar of ``num * 4 / den``
quarters, a beat of ``4 / den`` quarters, or a dotted one in compound metres (6/8, 9/8, 12/8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstm_composer_plugin.music.keys import best_key
from lstm_composer_plugin.music.midi import Note
from lstm_composer_plugin.music.stats import longest_run
from lstm_composer_plugin.music.tokens import (
    GRID,  # steps per quarter note: the event encoding's grid
)

INTERVAL_BINS = 17  # signed top-line intervals: <= -8, -7..-1, 0, 1..7, >= 8
TIME_EDGES = np.array([0, 3, 4, 6, 8, 12, 18, 24, 36, 48, 1 << 30])  # grid steps, right-inclusive bins
TIME_LABELS = ["<=1/8", "1/6", "1/4", "1/3", "1/2", "3/4", "1", "3/2", "2", ">2"]  # in quarter notes
DISSONANT_CLASSES = (1, 2, 6)  # interval classes of seconds/sevenths and the tritone


def _feature_list() -> list[tuple[str, str]]:
    out = [(f"interval[{lab}]", f"share of top-line steps moving {lab} semitones")
           for lab in ["<=-8", *map(str, range(-7, 0)), "0", *(f"+{i}" for i in range(1, 8)), ">=+8"]]
    out += [
        ("leap_size", "mean absolute top-line interval (semitones)"),
        ("gap_fill", "share of top-line leaps (>= 5 semitones) followed by a step back the other way"),
        ("contour_turns", "share of moving top-line intervals that change direction"),
        ("same_pitch_run", "longest run of one repeated top-line pitch (onsets)"),
        ("top_range", "range of the top line (semitones)"),
        ("bass_range", "range of the bass line (semitones)"),
        ("spread", "mean distance from bass to top line at an onset (semitones)"),
    ]
    out += [(f"pc[{i}]", f"share of sounding time on the pitch class {i} semitones above the estimated tonic")
            for i in range(12)]
    out += [
        ("key_clarity", "correlation of the pitch-class profile with the best Krumhansl-Kessler key"),
        ("minor", "1 when the best key is minor"),
    ]
    out += [(f"notes_per_onset[{lab}]", f"share of onsets that start {lab} notes") for lab in ["1", "2", "3", "4", "5", "6+"]]
    out += [
        ("sounding", "mean number of notes sounding at an onset (held notes included)"),
        ("dissonance", "share of pairs of sounding notes a second, seventh or tritone apart (mod octave)"),
        ("triadic", "share of onsets with >= 3 pitch classes sounding that form a major or minor triad"),
    ]
    out += [(f"interval_class[{i}]", f"share of sounding pairs in interval class {i}") for i in range(1, 7)]
    out += [
        ("on_downbeat", "share of onsets on the first beat of a bar"),
        ("on_beat", "share of onsets on another beat"),
        ("on_half_beat", "share of onsets half-way through a beat"),
        ("on_quarter_beat", "share of onsets on the remaining sixteenth positions of a simple beat"),
        ("on_third_beat", "share of onsets on a third or sixth of a beat (triplets, compound subdivisions)"),
        ("off_grid", "share of onsets on none of the above"),
        ("strong_long", "log ratio of the mean length of notes starting on beats to that of notes off the beat"),
    ]
    out += [(f"ioi[{lab}]", f"share of inter-onset intervals of {lab} quarter notes") for lab in TIME_LABELS]
    out += [(f"duration[{lab}]", f"share of note lengths of {lab} quarter notes") for lab in TIME_LABELS]
    out += [
        ("ioi_kinds", "distinct inter-onset intervals in the segment"),
        ("legato", "mean of top-line length / time to the next onset (capped at 2)"),
        ("density", "onsets per beat"),
    ]
    return out


FEATURES: list[tuple[str, str]] = _feature_list()


@dataclass(frozen=True)
class GridNote:
    pitch: int
    start: int  # grid steps
    duration: int  # grid steps, >= 1


def to_grid(notes: Sequence[Note], grid: int = GRID) -> list[GridNote]:
    """Notes on the grid, sorted by onset then pitch (one note per pitch and onset, the longer)."""
    best: dict[tuple[int, int], int] = {}
    for n in notes:
        key = (int(round(n.start * grid)), n.pitch)
        best[key] = max(best.get(key, 0), max(1, int(round(n.duration * grid))))
    return [GridNote(p, s, d) for (s, p), d in sorted(best.items())]


def metre(time_signature: tuple[int, int], grid: int = GRID) -> tuple[int, int]:
    """(bar, beat) lengths in grid steps for a time signature."""
    num, den = time_signature
    unit = max(1, round(4 * grid / max(den, 1)))
    beat = 3 * unit if den >= 8 and num % 3 == 0 and num > 3 else unit
    return max(1, num * unit), beat


def segment_starts(n_onsets: int, onsets: int, hop: int) -> list[int]:
    """First onset index of each segment of ``onsets`` onsets, every ``hop`` onsets."""
    if n_onsets < onsets:
        return []
    return list(range(0, n_onsets - onsets + 1, hop))


def piece_segments(
    notes: Sequence[GridNote],
    time_signature: tuple[int, int],
    *,
    onsets: int = 32,
    hop: int = 16,
    max_segments: int | None = None,
) -> np.ndarray:
    """Feature vectors (segments, features) of a piece; at most ``max_segments``, evenly spread."""
    times = sorted({n.start for n in notes})
    starts = segment_starts(len(times), onsets, hop)
    if max_segments is not None and len(starts) > max_segments:
        pick = np.linspace(0, len(starts) - 1, max_segments).round().astype(int)
        starts = [starts[i] for i in pick]
    bar, beat = metre(time_signature)
    rows = []
    for s in starts:
        lo, hi = times[s], times[s + onsets - 1]
        seg = [n for n in notes if lo <= n.start <= hi]
        held = [n for n in notes if n.start < lo < n.start + n.duration]
        rows.append(segment_features(seg, held, bar, beat))
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))


def segment_features(notes: Sequence[GridNote], held: Sequence[GridNote], bar: int, beat: int) -> np.ndarray:
    """The :data:`FEATURES` of one segment (``held``: notes still sounding at its first onset)."""
    by_onset: dict[int, list[GridNote]] = {}
    for n in notes:
        by_onset.setdefault(n.start, []).append(n)
    times = sorted(by_onset)
    top = np.array([max(x.pitch for x in by_onset[t]) for t in times])
    bass = np.array([min(x.pitch for x in by_onset[t]) for t in times])
    f: list[float] = []

    # Melody.
    iv = np.diff(top)
    bins = np.clip(iv, -8, 8) + 8
    f += list(_share(np.bincount(bins, minlength=INTERVAL_BINS)))
    f.append(float(np.abs(iv).mean()) if len(iv) else 0.0)
    leaps = [i for i in range(len(iv) - 1) if abs(iv[i]) >= 5]
    f.append(np.mean([np.sign(iv[i + 1]) == -np.sign(iv[i]) and 0 < abs(iv[i + 1]) <= 2 for i in leaps]) if leaps else 0.0)
    moving = iv[iv != 0]
    f.append(float(np.mean(np.sign(moving[1:]) != np.sign(moving[:-1]))) if len(moving) > 1 else 0.0)
    f.append(float(longest_run(top.tolist())))
    f += [float(np.ptp(top)), float(np.ptp(bass)), float(np.mean(top - bass))]

    # Harmony: pitch classes relative to the estimated tonic, chord sizes, simultaneities.
    pcw = np.zeros(12)
    for n in [*notes, *held]:
        pcw[n.pitch % 12] += n.duration
    profile = pcw / pcw.sum() if pcw.sum() else pcw
    key, clarity = best_key(profile)
    tonic, minor = key.tonic, key.minor
    f += list(np.roll(profile, -tonic))
    f += [clarity, float(minor)]
    sizes = np.array([len(by_onset[t]) for t in times])
    f += list(_share(np.bincount(np.minimum(sizes, 6) - 1, minlength=6)))
    everything = sorted([*held, *notes], key=lambda n: n.start)
    sounding_counts, dissonant, pairs, triadic, rich = [], 0, 0, 0, 0
    ic_hist = np.zeros(6)
    for t in times:
        sounding = sorted({n.pitch for n in everything if n.start <= t < n.start + n.duration})
        sounding_counts.append(len(sounding))
        for i in range(len(sounding)):
            for j in range(i + 1, len(sounding)):
                ic = (sounding[j] - sounding[i]) % 12
                ic = min(ic, 12 - ic)
                if ic:
                    ic_hist[ic - 1] += 1
                dissonant += ic in DISSONANT_CLASSES
                pairs += 1
        pcs = {p % 12 for p in sounding}
        if len(pcs) >= 3:
            rich += 1
            triadic += _is_triad(pcs)
    f += [float(np.mean(sounding_counts)), dissonant / pairs if pairs else 0.0, triadic / rich if rich else 0.0]
    f += list(_share(ic_hist))

    # Metre: where onsets fall in the bar and the beat; are long notes on the beats?
    pos = np.array(times) % bar
    in_beat = pos % beat
    cats = np.full(len(times), 5)  # off the grid of the beat's usual subdivisions
    # Later assignments win: downbeat > beat > half > third/sixth > quarter.
    for cat, fractions in ((3, ((1, 4), (3, 4))), (4, ((1, 3), (2, 3), (1, 6), (5, 6))), (2, ((1, 2),))):
        offsets = [beat * k // m for k, m in fractions if (beat * k) % m == 0]
        cats[np.isin(in_beat, offsets)] = cat
    cats[in_beat == 0] = 1
    cats[pos == 0] = 0
    f += list(_share(np.bincount(cats, minlength=6)))
    on = [n.duration for n in notes if (n.start % bar) % beat == 0]
    off = [n.duration for n in notes if (n.start % bar) % beat != 0]
    f.append(float(np.log(np.mean(on) / np.mean(off))) if on and off else 0.0)

    # Rhythm: inter-onset intervals and note lengths.
    ioi = np.diff(times)
    f += list(_share(_time_hist(ioi)))
    f += list(_share(_time_hist(np.array([n.duration for n in notes]))))
    f.append(float(len(set(ioi.tolist()))))
    tops = [max(by_onset[t], key=lambda n: n.pitch).duration for t in times[:-1]]
    f.append(float(np.mean(np.minimum(np.array(tops) / np.maximum(ioi, 1), 2.0))) if len(ioi) else 0.0)
    span = (times[-1] - times[0]) / beat if len(times) > 1 else 1.0
    f.append(len(times) / max(span, 1e-9))
    return np.asarray(f, dtype=np.float64)


def _is_triad(pcs: set[int]) -> bool:
    for root in pcs:
        for third in (3, 4):
            if pcs <= {root, (root + third) % 12, (root + 7) % 12}:
                return True
    return False


def _time_hist(steps: np.ndarray) -> np.ndarray:
    if not len(steps):
        return np.zeros(len(TIME_LABELS))
    return np.bincount(np.searchsorted(TIME_EDGES, steps, side="left") - 1, minlength=len(TIME_LABELS))[: len(TIME_LABELS)]


def _share(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return counts / counts.sum() if counts.sum() else counts
