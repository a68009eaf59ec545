"""Pick each training run's checkpoint by measurement, not by loss alone (the catalogue issue).

    python bench/pick_checkpoint.py RUN [RUN ...] [--candidates 4] [--compositions 20] [--seeds 1,2] [--ship]

For each run, the candidates are the run's recommended epoch (the lowest validation loss the copy and collapse
limits allow) and the last ``--candidates`` checkpoints: with ``--patience`` those are the best epoch and the
ones after it, which sampled music may prefer although their loss is a little higher. Each candidate's
``model.lstmc``, as shipping would write it (``train.finish.with_own_figures``), is measured as
``bench/quality.py`` measures a model (its compositions against the style's validation pieces: the two-sample
AUC, bits per note against the n-grams, melodic copying, same-pitch runs), and the pick is the fewest missed
goals, then the lower AUC, then the fewer bits. With ``--seeds 1,2`` each candidate is composed with each seed
and judged on its mean AUC (a goal other than the AUC missed with any seed counts): the AUC of 20 compositions
moves by 0.05-0.08 between seeds, so a pick by one seed leans toward its lucky draw. With ``--ship`` the run ships the pick (``train --epoch N``,
the reason saying how it was chosen) and its ``metrics.json`` keeps the measured rows, which ``lstm-composer
train-report`` prints in the scorecard.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import ROOT, Settings, measure  # noqa: E402
from quality_report import mean_row, missed_goals  # noqa: E402

from lstm_composer_plugin.compose.engine import blas_threads  # noqa: E402
from lstm_composer_plugin.modelfile import load_model, save_model  # noqa: E402
from lstm_composer_plugin.train import checkpoints as ck  # noqa: E402
from lstm_composer_plugin.train.finish import repick, with_own_figures  # noqa: E402

WHY = ("picked by measurement (bench/pick_checkpoint.py: of epochs {epochs}, the fewest missed goals against "
       "held-out pieces, then the lower AUC, then fewer bits per note)")


def candidates(run: Path, last: int) -> list[int]:
    found = sorted(ck.list_checkpoints(run), key=lambda ec: ec[0])
    epochs = [e for e, folder in found if (folder / ck.MODEL_FILE).is_file()]
    doc = json.loads((run / ck.METRICS_FILE).read_text())
    recommended = (doc.get("recommended") or {}).get("epoch")
    chosen = set(epochs[-last:]) | ({recommended} if recommended in epochs else set())
    return sorted(chosen)


def as_shipped(checkpoint: Path, folder: Path) -> Path:
    """A copy of a checkpoint's model file as shipping would write it: with the model's own clashes per bar and
    density classes in its profile, so that it composes as the shipped model would (bars drawn again for their
    clashes, the density control corrected where the model's own is far from its style's)."""
    mf = load_model(checkpoint)
    doc = dict(mf.manifest.raw)
    with_own_figures(doc, mf, checkpoint)
    return save_model(folder / f"{checkpoint.parent.name}.lstmc", doc, mf.arrays)


def row(epoch: int, r: dict) -> dict:
    b, a = r["bits"], r["auc"]
    return {"epoch": epoch, "auc": a["model"], "auc_ngram": a["ngram"],
            "bits_ratio": round(b["model"] / min(b["ngram"]), 3), "missed": missed_goals(r)}


def rank(m: dict) -> tuple:
    auc = m["auc"] if m["auc"] is not None and math.isfinite(m["auc"]) else 1.0
    return (len(m["missed"]), auc, m["bits_ratio"], -m["epoch"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="training run folders (train --out)")
    ap.add_argument("--candidates", type=int, default=4, help="the last N checkpoints, besides the recommended")
    ap.add_argument("--compositions", type=int, default=20)
    ap.add_argument("--seeds", default="1", help="compose each candidate with these seeds, comma-separated, and "
                    "judge its mean AUC (default: 1)")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--ship", action="store_true", help="ship the pick and keep the measured rows in metrics.json")
    ap.add_argument("--json", type=Path, default=None, help="write every run's rows and pick as JSON")
    args = ap.parse_args(argv)
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    if not seeds:
        raise SystemExit(f"--seeds: one or more whole numbers, comma-separated, not {args.seeds!r}")
    picks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs:
            if not (run / ck.METRICS_FILE).is_file():
                raise SystemExit(f"{run}: no {ck.METRICS_FILE}: not a training run with checkpoints")
            rows = []
            for epoch in candidates(run, args.candidates):
                checkpoint = dict(ck.list_checkpoints(run))[epoch] / ck.MODEL_FILE
                with blas_threads(1):
                    model = as_shipped(checkpoint, Path(tmp))
                    per_seed = [row(epoch, measure(model, args.corpus, Settings(compositions=args.compositions,
                                                                                  seed=seed), Path(tmp)))
                                for seed in seeds]
                rows.append(mean_row(per_seed))
                m = rows[-1]
                auc = "n/a" if m["auc"] is None else f"{m['auc']:.2f}"
                each = f" (seeds {', '.join(f'{a:.2f}' for a in m['auc_seeds'])})" if "auc_seeds" in m else ""
                print(f"{run.name:14s} epoch {epoch:3d}  AUC {auc}{each} (n-gram {m['auc_ngram'] or math.nan:.2f})  "
                      f"bits ratio {m['bits_ratio']:.2f}  missed: {', '.join(m['missed']) or 'none'}", flush=True)
            best = min(rows, key=rank)
            picks[str(run)] = {"epoch": best["epoch"], "rows": rows}
            print(f"{run.name:14s} pick: epoch {best['epoch']}", flush=True)
            if args.ship:
                repick(run, best["epoch"], why=WHY.format(epochs=", ".join(str(m["epoch"]) for m in rows)),
                       measured=rows, say=print)
    if args.json:
        args.json.write_text(json.dumps(picks, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
