"""Measure what a published model's style profile lacks with the current code (a maintainer's tool).

A rate added to the profile (``music.grammar.HARMONY_RATES``) reaches new models when
they are trained; a model trained before it lacks it, and composing then does not keep to it. This reads the
model's own training pieces (as its manifest lists them, from ``--corpus``), measures the harmony rates as
training does (``music.profile.style_harmony``), checks that the rates the model already has come out the
same (so the pieces are the ones it was trained on), and writes the model file again with what was missing
added (atomically; the network's arrays are untouched).

    python bench/refresh_profile.py catalogue/models/*.lstmc [--out FOLDER] [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import load_split  # noqa: E402

from lstm_composer_plugin.modelfile import load_model, save_model  # noqa: E402
from lstm_composer_plugin.music.notes import NoteEncoding, encode_piece  # noqa: E402
from lstm_composer_plugin.music.profile import style_harmony  # noqa: E402

TOLERANCE = 1e-4  # rates are stored rounded to 4 places


def refresh(path: Path, out: Path, corpus: Path) -> dict[str, object]:
    """What was added to ``path``'s profile, written to ``out`` (may be ``path``)."""
    model = load_model(path)
    raw = dict(model.manifest.raw)
    record = dict(raw.get("encoding") or {})
    profile = dict(record.get("profile") or {})
    old = profile.get("harmony")
    if not old:
        raise SystemExit(f"{path}: no harmony rates in its profile (not a model with bar controls)")
    enc = NoteEncoding.from_dict(record)
    train, _val = load_split(model.manifest.style or path.stem, model.manifest, corpus)
    rates = style_harmony((encode_piece(p, enc) for _, p in train), enc)
    differ = {k: (v, rates.get(k)) for k, v in old.items() if abs(v - rates.get(k, -1.0)) > TOLERANCE}
    if differ:
        raise SystemExit(f"{path}: its rates measure differently on these pieces {differ}; not the pieces it was "
                         "trained on (another corpus?), so nothing was written")
    added: dict[str, object] = {k: v for k, v in rates.items() if k not in old}
    profile["harmony"] = {**old, **added}
    if added:
        record["profile"] = profile
        raw["encoding"] = record
        save_model(out, raw, model.arrays)
    elif out != path:
        shutil.copyfile(path, out)
    return added


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "corpus")
    ap.add_argument("--out", type=Path, help="write the refreshed files here (default: in place)")
    args = ap.parse_args(argv)
    for path in args.models:
        out = args.out / path.name if args.out else path
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
        added = refresh(path, out, args.corpus)
        print(f"{out}: added {', '.join(added) or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
