"""The note-level encoding on the corpus: round trip, tokens per note, tokens used, style profiles.

    python bench/note_encoding.py                     # ../shared/corpus, every style
    python bench/note_encoding.py --corpus DIR --styles bach irish

Prints the table of docs/tokens.md ("Measured on the corpus"). The profile columns are measured
with the first 85 % of each style's files (sorted by name) as training pieces and the rest as
validation pieces; the trainer measures them on its own split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstm_composer_plugin.music import (  # noqa: E402
    NoteEncoding,
    encode_piece,
    read_midi,
    round_trip,
    style_profile,
    vocabulary,
)
from lstm_composer_plugin.music.corpus import find_midi_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--styles", nargs="*", help="default: every style folder")
    args = ap.parse_args()
    enc = NoteEncoding()
    styles = args.styles or sorted(p.name for p in args.corpus.iterdir() if p.is_dir() and any(p.glob("*.mid")))
    print(f"vocabulary: {len(vocabulary(enc))} tokens (every style)\n")
    print("| style | pieces | notes | kept | tokens per note | tokens used | metre | keys | max chord "
          "| same-pitch limit | melodic copy limit |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    t0 = time.perf_counter()
    for style in styles:
        pieces = [read_midi(f) for f in find_midi_files(args.corpus / style)]
        kept = total = n_tokens = 0
        used: set[int] = set()
        for piece in pieces:
            k, n = round_trip(piece, enc)
            kept, total = kept + k, total + n
            toks = encode_piece(piece, enc)
            n_tokens += len(toks)
            used.update(toks.tolist())
        cut = max(1, int(len(pieces) * 0.85))
        prof = style_profile(pieces[:cut], pieces[cut:], enc)
        n, d = prof.time_signature
        print(f"| {style} | {len(pieces)} | {total:,} | {kept / max(total, 1):.2%} | {n_tokens / max(total, 1):.2f} "
              f"| {len(used)} | {n}/{d} | {len(prof.keys)} | {prof.max_chord} | {prof.same_pitch_limit} "
              f"| {prof.melodic_copy_limit} |")
    print(f"\n{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
