"""Parse the whole corpus: files/s and notes/s for our reader, with mido's own reader side by side.

    python bench/parse_corpus.py [CORPUS_DIR] [--repeat N]

mido is the baseline because it is what a plain script would use; it reads messages
but does not pair notes, so it does strictly less work than ``read_midi``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mido

from lstm_composer_plugin.music.midi import read_midi
from lstm_composer_plugin.music.tokens import piece_to_events

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = ap.parse_args()
    files = sorted(p for p in args.corpus.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not files:
        raise SystemExit(f"no MIDI files under {args.corpus}")

    def ours() -> tuple[int, int]:
        notes = events = 0
        for f in files:
            piece = read_midi(f)
            notes += len(piece.notes)
            events += len(piece_to_events(piece))
        return notes, events

    def baseline() -> tuple[int, int]:
        msgs = 0
        for f in files:
            msgs += sum(len(t) for t in mido.MidiFile(f).tracks)
        return msgs, 0

    results = {}
    for name, fn in (("read_midi + events", ours), ("mido.MidiFile (baseline)", baseline)):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            count, events = fn()
            best = min(best, time.perf_counter() - t0)
        results[name] = (best, count, events)
    ours_t, notes, events = results["read_midi + events"]
    base_t, msgs, _ = results["mido.MidiFile (baseline)"]
    print(f"corpus: {args.corpus} ({len(files)} files)")
    print(f"read_midi + events: {ours_t:.2f} s, {len(files) / ours_t:.0f} files/s, {notes / ours_t:,.0f} notes/s, {notes} notes, {events} events")
    print(f"mido.MidiFile     : {base_t:.2f} s, {len(files) / base_t:.0f} files/s, {msgs} messages (no note pairing)")
    print(f"ratio (mido time / ours): {base_t / ours_t:.2f}x")


if __name__ == "__main__":
    main()
