"""The composition as a score: MusicXML, made with music21 (the ``score`` extra).

Notes come in as the writer has them (onsets and lengths in quarter notes), with the composition's
metre, key signature, tempo and instrument. A piece that uses both sides of middle C in earnest is
written on a grand staff (treble and bass, split at middle C), a melody on one staff with the clef
that fits it. Within a staff, notes struck together for the same length are one chord; a note that
overlaps another of a different length goes to a voice of its own (``_voices``), so the score
shows each line as it moves. music21 then cuts the voices into bars and ties notes across bar
lines; reading the file back with ties joined gives exactly the MIDI's notes (a test checks).
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.music.midi import Note

MIDDLE_C = 60
GRAND_STAFF_SHARE = 0.10  # two staves when at least this share of the notes lies on each side of middle C
GRID = 12  # positions per quarter note: the note encoding's grid (sixteenths and triplets)
SUFFIX = ".musicxml"


def check_score() -> None:
    """Fail at once, before composing, when music21 is missing."""
    try:
        import music21  # noqa: F401
    except ImportError:
        raise UsageError("--musicxml needs music21: pip install 'lstm-composer-plugin[score]'") from None


def _q(x: float) -> Fraction:
    return Fraction(round(x * GRID), GRID)


def _written_length(start: Fraction, length: float) -> Fraction:
    """A length an engraver writes plainly: in sixteenths for a note on the sixteenth grid, in triplet
    eighths for one on the triplet grid (the MIDI keeps the exact release; the score shows the note
    value a player reads)."""
    for unit in (Fraction(1, 4), Fraction(1, 3)):
        if (start / unit).denominator == 1:
            return max(unit, unit * round(Fraction(length) / unit))
    return max(Fraction(1, GRID), _q(length))


def _voices(notes: list[Note]) -> list[list[tuple[Fraction, Fraction, list[int]]]]:
    """Chords (onset, length, pitches) in voices: within a voice nothing overlaps.

    Each chord goes to the voice that became free last before it starts (the line it continues),
    the upper voices first, so the top line stays voice 1.
    """
    chords: dict[tuple[Fraction, Fraction], list[int]] = defaultdict(list)
    for n in notes:
        start = _q(n.start)
        chords[(start, _written_length(start, n.duration))].append(n.pitch)
    order = sorted(chords.items(), key=lambda kv: (kv[0][0], -max(kv[1]), kv[0][1]))
    voices: list[list[tuple[Fraction, Fraction, list[int]]]] = []
    ends: list[Fraction] = []
    for (start, length), pitches in order:
        free = [i for i, end in enumerate(ends) if end <= start]
        if free:
            i = max(free, key=lambda k: (ends[k], -k))
        else:
            voices.append([])
            ends.append(Fraction(0))
            i = len(voices) - 1
        voices[i].append((start, length, sorted(set(pitches))))
        ends[i] = start + length
    return voices


def _staves(notes: list[Note]) -> list[tuple[str, list[Note]]]:
    """(clef, notes) per staff: a grand staff split at middle C, or one staff."""
    if not notes:
        return [("treble", [])]
    low = sum(n.pitch < MIDDLE_C for n in notes) / len(notes)
    if GRAND_STAFF_SHARE <= low <= 1 - GRAND_STAFF_SHARE:
        return [("treble", [n for n in notes if n.pitch >= MIDDLE_C]),
                ("bass", [n for n in notes if n.pitch < MIDDLE_C])]
    return [("bass" if low > 0.5 else "treble", notes)]


# Black keys named as the key signature leans: sharps in sharp keys, flats in flat keys, and in C the
# usual C#, Eb, F#, G#, Bb.
_SHARPS = {1: "C#", 3: "D#", 6: "F#", 8: "G#", 10: "A#"}
_FLATS = {1: "D-", 3: "E-", 6: "G-", 8: "A-", 10: "B-"}
_PLAIN = {0: "C", 2: "D", 4: "E", 5: "F", 7: "G", 9: "A", 11: "B"}
_NEUTRAL = {1: "C#", 3: "E-", 6: "F#", 8: "G#", 10: "B-"}


def _spell(midi: int, fifths: int) -> Any:
    """A music21 pitch for a MIDI number, spelt for the key signature, with no accidental object on the
    white keys: music21 then shows an accidental only where the key and the bar call for one."""
    from music21 import pitch

    pc, octave = midi % 12, midi // 12 - 1
    if pc in _PLAIN:
        return pitch.Pitch(f"{_PLAIN[pc]}{octave}")
    name = (_SHARPS if fifths > 0 else _FLATS if fifths < 0 else _NEUTRAL)[pc]
    spelt = pitch.Pitch(f"{name}{octave}")
    assert spelt.midi == midi
    return spelt


def _rests_between(voice: Any, line: list[tuple[Fraction, Fraction, list[int]]]) -> None:
    from music21 import note

    end = Fraction(0)
    for start, length, _pitches in line:
        if start > end:
            rest = note.Rest()
            rest.quarterLength = start - end
            voice.insert(end, rest)
        end = max(end, start + length)


def build_score(notes: list[Note], *, bpm: float, time_signature: tuple[int, int], fifths: int,
                title: str = "", program: int = 0) -> Any:
    """A music21 ``Score`` of the notes (see the module's docstring)."""
    from music21 import chord, clef, instrument, key, layout, metadata, meter, note, stream, tempo

    score = stream.Score()
    score.metadata = metadata.Metadata(title=title or "Composition", composer="lstm-composer")
    staves = _staves(notes)
    parts = []
    for k, (clef_name, staff_notes) in enumerate(staves):
        part = stream.PartStaff() if len(staves) > 1 else stream.Part()
        if k == 0:
            part.insert(0, instrument.instrumentFromMidiProgram(program))
            part.insert(0, tempo.MetronomeMark(number=round(bpm, 1)))
        part.insert(0, clef.TrebleClef() if clef_name == "treble" else clef.BassClef())
        part.insert(0, key.KeySignature(fifths))
        part.insert(0, meter.TimeSignature(f"{time_signature[0]}/{time_signature[1]}"))
        for number, line in enumerate(_voices(staff_notes) or [[]], start=1):
            voice = stream.Voice(id=number)
            if number == 1:  # the top line shows its silences as rests; the lower ones stay blank
                _rests_between(voice, line)
            for start, length, pitches in line:
                spelled = [_spell(p, fifths) for p in pitches]
                element = note.Note(spelled[0]) if len(spelled) == 1 else chord.Chord(spelled)
                element.quarterLength = length
                voice.insert(start, element)
            part.insert(0, voice)
        parts.append(part)
    for part in parts:
        score.insert(0, part)
    if len(parts) > 1:
        score.insert(0, layout.StaffGroup(parts, symbol="brace", barTogether=True))
    return score


def _voices_numbered(score: Any) -> Any:
    """music21 numbers a bar's voices from 0 and leaves a bar with one line voiceless (both come out as
    MusicXML's voice "0", which engravers reject): voices are numbered from 1 in every bar."""
    from music21 import stream

    for measure in score.recurse().getElementsByClass(stream.Measure):
        if measure.voices:
            for number, voice in enumerate(measure.voices, start=1):
                voice.id = number
            continue
        events = list(measure.notesAndRests)
        if not events:
            continue
        voice = stream.Voice(id=1)
        for event in events:
            offset = measure.elementOffset(event)
            measure.remove(event)
            voice.insert(offset, event)
        measure.insert(0, voice)
    return score


def write_musicxml(path: Path, notes: list[Note], *, bpm: float, time_signature: tuple[int, int], fifths: int,
                   title: str = "", program: int = 0) -> Path:
    """Write ``path`` (MusicXML) for the notes; the file appears whole or not at all."""
    score = build_score(notes, bpm=bpm, time_signature=time_signature, fifths=fifths, title=title,
                        program=program)
    score = score.makeNotation()
    score.splitAtDurations(recurse=True)  # a 5/4 note as a tied 1 + 1/4: what MusicXML can write
    score = _voices_numbered(score)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        score.write("musicxml", fp=str(tmp), makeNotation=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["SUFFIX", "build_score", "check_score", "write_musicxml"]
