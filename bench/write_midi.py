"""Writing MIDI files: ``write_midi`` against the previous writer (a validated ``mido.Message`` per event, then
``MidiFile.save``), side by side on every piece of the corpus; both must write the same bytes.

    python bench/write_midi.py [CORPUS_DIR]

Composing writes a few hundred notes (milliseconds either way); writing matters where many pieces are written,
as the tests' round trip of the whole corpus does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mido

from lstm_composer_plugin.music.midi import Note, read_midi, write_midi

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def baseline_write_midi(path: Path, notes: list[Note], bpm: float, time_signature: tuple[int, int],
                        ticks_per_beat: int = 480) -> None:
    """The writer before 2026-12-07 (no title, texts or key signature: the bench writes none)."""
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    num, den = time_signature
    track.append(mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0))
    track.append(mido.Message("program_change", channel=0, program=0, time=0))
    timeline = []
    for note in notes:
        on = round(note.start * ticks_per_beat)
        off = max(on + 1, round((note.start + note.duration) * ticks_per_beat))
        timeline.append((on, 1, note.pitch, max(1, min(127, note.velocity))))
        timeline.append((off, 0, note.pitch, 0))
    timeline.sort()
    sounding: dict[int, int] = {}
    now = 0
    for tick, order, pitch, vel in timeline:
        if order == 0:
            count = sounding.get(pitch, 0)
            if count == 0:
                continue
            sounding[pitch] = count - 1
            track.append(mido.Message("note_off", channel=0, note=pitch, velocity=0, time=tick - now))
        else:
            if sounding.get(pitch, 0):
                track.append(mido.Message("note_off", channel=0, note=pitch, velocity=0, time=tick - now))
                now = tick
                sounding[pitch] -= 1
            sounding[pitch] = sounding.get(pitch, 0) + 1
            track.append(mido.Message("note_on", channel=0, note=pitch, velocity=vel, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(track)
    mid.save(str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", type=Path, default=DEFAULT)
    args = ap.parse_args()
    files = sorted(p for p in args.corpus.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not files:
        raise SystemExit(f"no MIDI files under {args.corpus}")
    pieces = [read_midi(f) for f in files]
    notes = sum(len(p.notes) for p in pieces)
    ours = base = 0.0
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "ours.mid", Path(tmp) / "base.mid"
        for piece in pieces:
            t0 = time.perf_counter()
            write_midi(a, piece.notes, bpm=piece.bpm, time_signature=piece.time_signature)
            t1 = time.perf_counter()
            baseline_write_midi(b, piece.notes, bpm=piece.bpm, time_signature=piece.time_signature)
            t2 = time.perf_counter()
            ours, base = ours + t1 - t0, base + t2 - t1
            differ += a.read_bytes() != b.read_bytes()
    print(f"corpus: {args.corpus} ({len(files)} files, {notes:,} notes)")
    print(f"write_midi (ours)      : {ours:6.2f} s, {notes / ours:,.0f} notes/s")
    print(f"mido.Message per event : {base:6.2f} s, {notes / base:,.0f} notes/s (baseline)")
    print(f"ratio (baseline / ours): {base / ours:.2f}x; files written differently: {differ} of {len(files)}")
    if differ:
        raise SystemExit("the two writers disagree")


if __name__ == "__main__":
    main()
