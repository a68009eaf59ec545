"""How well the bar-chord recognition (``music.controls``) agrees with published harmonic analyses.

    python bench/chord_recognition.py            # needs music21 (the bench extra)

music21 ships 20 Bach chorales with Roman-numeral analyses (``corpus/bach/choraleAnalyses``,
by Andrew Jones, proofread by Dmitri Tymoczko and Hamish Robb) beside the scores. For every
measure of every chorale, the bar's chord as ``encode_piece`` writes it (template matching on the
bar's duration-weighted pitch classes, half again for the bass) is compared with the analysis:

* **root of the main chord**: the recognised root is the root that sounds longest in the
  measure over its analysed chords (a tie names each);
* **root of any chord**: it equals the root of one of the measure's analysed chords (chorales
  change harmony on most beats, so one chord per bar can only name one of them);
* **quality**: root and quality (major, minor, diminished, dominant seventh) of the main chord,
  the analysis's sevenths other than the dominant read as their triads.

Scores come from music21's own encodings (pickups as bars of their own, as the MIDI reader
does), keys as written (no normalising), so roots compare as absolute pitch classes.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstm_composer_plugin.music.controls import QUALITIES, chord_root  # noqa: E402
from lstm_composer_plugin.music.midi import Note, Piece  # noqa: E402
from lstm_composer_plugin.music.notes import NoteEncoding, bar_plan, token_table  # noqa: E402
from lstm_composer_plugin.music.notes import encode_piece as encode  # noqa: E402


def score_piece(score) -> Piece:
    """A music21 score as the project's Piece: notes in quarter notes, the pickup a short bar."""
    flat = score.flatten()
    notes = []
    for n in flat.notes:
        for p in getattr(n, "pitches", [getattr(n, "pitch", None)]):
            if p is not None and n.quarterLength > 0:
                notes.append(Note(int(p.midi), float(n.offset), float(n.quarterLength)))
    notes.sort(key=lambda x: (x.start, x.pitch))
    part = score.parts[0]
    measures = list(part.getElementsByClass("Measure"))
    ts = measures[0].timeSignature or part.recurse().getElementsByClass("TimeSignature").first()
    n, d = ts.numerator, ts.denominator
    sigs = []
    first = measures[0]
    if first.paddingLeft and first.paddingLeft > 0:  # a pickup: a bar of its own length
        short = float(first.duration.quarterLength)
        sigs.append((0.0, int(round(short * d / 4)) or 1, d))
        sigs.append((short, n, d))
    else:
        sigs.append((0.0, n, d))
    return Piece("score", notes, time_signature=(n, d), time_signatures=sigs)


def analysis_chords(rn_score) -> list[tuple[float, float, int, str]]:
    """(start, end, root pc, quality) of every analysed chord, in quarter notes."""
    out = []
    for rn in rn_score.flatten().getElementsByClass("RomanNumeral"):
        start = float(rn.offset)
        end = start + float(rn.quarterLength)
        kind = rn.commonName
        if rn.isDominantSeventh():
            quality = "7"
        elif rn.isDiminishedTriad() or rn.isDiminishedSeventh() or rn.isHalfDiminishedSeventh():
            quality = "dim"
        elif rn.isMinorTriad() or "minor" in kind:
            quality = "min"
        else:
            quality = "maj"
        out.append((start, end, rn.root().pitchClass, quality))
    return out


def main() -> int:
    try:
        from music21 import converter, corpus
    except ImportError:
        print("needs music21: pip install music21", file=sys.stderr)
        return 2
    enc = NoteEncoding(key_mode="none", controls=True)
    table = token_table(enc)
    folder = Path(corpus.getComposer("bach")[0]).parent / "choraleAnalyses"
    tally: Counter[str] = Counter()
    rows = []
    for rn_path in sorted(folder.glob("*.rntxt")):
        header = dict(line.split(": ", 1) for line in rn_path.read_text().splitlines()[:6] if ": " in line)
        bwv = header.get("BWV", "").strip()
        try:
            score = corpus.parse(f"bach/bwv{bwv}")
        except Exception:  # noqa: BLE001 (an analysis whose score music21 names otherwise)
            rows.append(f"| {rn_path.stem} | BWV {bwv} | score not found | | |")
            continue
        piece = score_piece(score)
        analysis = analysis_chords(converter.parse(rn_path, format="romantext"))
        toks = encode(piece, enc).tolist()
        plan = bar_plan(piece, enc, max(round((n.start) * enc.grid) for n in piece.notes))
        chords = [tok - table.ch0 for tok in toks if table.kind_of(tok) == "CH"]
        main = anyroot = quality = bars = 0
        for (start, _ts), chord in zip(plan, chords, strict=False):
            stop = start + table.bar_steps(_ts)
            a, b = start / enc.grid, stop / enc.grid
            inside = [(min(e, b) - max(s, a), r, q) for s, e, r, q in analysis if s < b and e > a]
            if not inside:
                continue
            bars += 1
            # The main harmony: the root sounding longest in the bar over all its chords (a tie
            # between two quarter-note harmonies names both).
            per_root: Counter[int] = Counter()
            for dur, r, _q in inside:
                per_root[r] += dur
            top = max(per_root.values())
            mains = {r for r, d in per_root.items() if d >= top - 1e-9}
            root = chord_root(chord)
            q = list(QUALITIES)[chord % len(QUALITIES)] if root is not None else None
            main += root in mains
            anyroot += root in per_root
            quality += any(root == r and q == qq for _d, r, qq in inside if r in mains)
        tally.update(bars=bars, main=main, any=anyroot, quality=quality)
        rows.append(f"| {rn_path.stem} | BWV {bwv} | {bars} | {main / max(bars, 1):.0%} | {anyroot / max(bars, 1):.0%} |")
    print("| analysis | chorale | bars | main chord's root | any chord's root |")
    print("|---|---|---:|---:|---:|")
    print("\n".join(rows))
    n = max(tally["bars"], 1)
    print(f"\n{tally['bars']} bars: the main chord's root {tally['main'] / n:.1%}, its root and quality "
          f"{tally['quality'] / n:.1%}, the root of one of the bar's chords {tally['any'] / n:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
