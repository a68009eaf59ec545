"""Measure what a published model's style profile lacks with the current code (a maintainer's tool).

A rate added to the profile (``music.grammar.HARMONY_RATES``, the clashes per bar of
``music.profile.bar_clash_profile`` or the bars' density classes of ``music.profile.bar_density_shares``, with
the model's own, ``train.finish.with_own_figures``) reaches new
models when they are trained; a model trained before it lacks it, and composing then does not keep to it. This
reads the model's own training pieces (as its manifest lists them, from ``--corpus``), measures the harmony
rates as training does (``music.profile.style_harmony``), checks that the rates the model already has come out
the same (so the pieces are the ones it was trained on), and writes the model file again with what was missing
added (atomically; the network's arrays are untouched).

    python bench/refresh_profile.py catalogue/models/*.lstmc [--out FOLDER] [--corpus ../shared/corpus]
                                    [--only clashes,density]
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
from lstm_composer_plugin.music.profile import bar_clash_profile, bar_density_shares, style_harmony  # noqa: E402
from lstm_composer_plugin.train.finish import with_own_figures  # noqa: E402

TOLERANCE = 1e-4  # rates are stored rounded to 4 places


def refresh(path: Path, out: Path, corpus: Path, only: set[str] | None = None) -> dict[str, object]:
    """What was added to ``path``'s profile, written to ``out`` (may be ``path``): every missing harmony
    rate, the clashes per bar (``music.profile.bar_clash_profile``) and the bars' density classes
    (``music.profile.bar_density_shares``), or only those named in ``only``."""
    model = load_model(path)
    raw = dict(model.manifest.raw)
    record = dict(raw.get("encoding") or {})
    profile = dict(record.get("profile") or {})
    old = profile.get("harmony")
    if not old:
        raise SystemExit(f"{path}: no harmony rates in its profile (not a model with bar controls)")
    enc = NoteEncoding.from_dict(record)
    train, _val = load_split(model.manifest.style or path.stem, model.manifest, corpus)
    streams = [encode_piece(p, enc) for _, p in train]
    rates = style_harmony(streams, enc)
    differ = {k: (v, rates.get(k)) for k, v in old.items() if abs(v - rates.get(k, -1.0)) > TOLERANCE}
    if differ:
        raise SystemExit(f"{path}: its rates measure differently on these pieces {differ}; not the pieces it was "
                         "trained on (another corpus?), so nothing was written")
    wanted = (lambda name: only is None or name in only)  # noqa: E731
    added: dict[str, object] = {k: v for k, v in rates.items() if k not in old and wanted(k)}
    profile["harmony"] = {**old, **added}
    if not profile.get("clashes") and wanted("clashes"):
        profile["clashes"] = bar_clash_profile(streams, enc)
        added["clashes"] = profile["clashes"]
    if not profile.get("density") and wanted("density"):
        profile["density"] = {"style": bar_density_shares(streams, enc)}
        added["density"] = profile["density"]
    if added:
        record["profile"] = profile
        raw["encoding"] = record
        if {"clashes", "density"} & set(added):
            with_own_figures(raw, model, path)  # the model's own beside its style's, as shipping adds them
            for name in {"clashes", "density"} & set(added):
                added[name] = raw["encoding"]["profile"][name]
        save_model(out, raw, model.arrays)
    elif out != path:
        shutil.copyfile(path, out)
    return added


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "corpus")
    ap.add_argument("--out", type=Path, help="write the refreshed files here (default: in place)")
    ap.add_argument("--only", help="add only these, comma-separated (harmony rate names, 'clashes', 'density'); default: all")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    for path in args.models:
        out = args.out / path.name if args.out else path
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
        added = refresh(path, out, args.corpus, only)
        print(f"{out}: added {', '.join(added) or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
