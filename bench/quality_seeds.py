"""The AUC of every style over several seeds: bench/quality.py's JSON figures, one file per seed, as one table.

    python bench/quality.py --seed 1 --json s1.json   # and so on for each seed
    python bench/quality_seeds.py s1.json s2.json s3.json

The AUC of 20 compositions moves by 0.05-0.08 from one seed to the next, so a style's goal is judged here on
its mean over the seeds (``quality_report.mean_row``, as ``bench/pick_checkpoint.py --seeds`` judges a
checkpoint); each seed's own verdict is counted beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_report import auc_missed, mean_row, missed_goals  # noqa: E402


def _auc(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.3f}"  # 0.754 is not 0.75: the goal is ≤ 0.75


def seeds_table(runs: list[list[dict]], seeds: list[str]) -> str:
    """Markdown: one row per style (the styles of the first run), each seed's AUC, the mean and the verdict."""
    by_style = [{r["style"]: r for r in run} for run in runs]
    lines = [f"| style | {' | '.join(f'AUC seed {s}' for s in seeds)} | mean | n-gram (mean) | AUC goal on the mean |",
             "|---|" + "---:|" * (len(seeds) + 2) + "---|"]
    met_each = [0] * len(runs)
    met_mean = judged = 0
    for style in by_style[0]:
        rows = []
        for i, run in enumerate(by_style):
            r = run.get(style)
            if r is None:
                raise SystemExit(f"{seeds[i]}: no figures for {style}")
            a = r["auc"]
            rows.append({"auc": a["model"], "auc_ngram": a["ngram"], "missed": missed_goals(r)})
        m = mean_row(rows)
        verdict = auc_missed(m["auc"], m["auc_ngram"])
        if verdict is None or verdict == "AUC":
            judged += 1
            met_mean += verdict is None
            for i, row in enumerate(rows):
                met_each[i] += auc_missed(row["auc"], row["auc_ngram"]) is None
        aucs = " | ".join(_auc(row["auc"]) for row in rows)
        lines.append(f"| {style} | {aucs} | {_auc(m['auc'])} | {_auc(m['auc_ngram'])} | "
                     f"{'met' if verdict is None else 'missed' if verdict == 'AUC' else 'n/a'} |")
    each = ", ".join(f"seed {s}: {n}" for s, n in zip(seeds, met_each, strict=True))
    lines.append("")
    lines.append(f"**AUC goal met** on the mean of {len(runs)} seeds: {met_mean} of {judged} styles "
                 f"({each}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("figures", nargs="+", type=Path, help="bench/quality.py --json files, one per seed")
    args = ap.parse_args(argv)
    runs, seeds = [], []
    for path in args.figures:
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"{path}: not bench/quality.py's --json figures ({e})") from None
        if not isinstance(rows, list) or not rows:
            raise SystemExit(f"{path}: not bench/quality.py's --json figures (no rows)")
        runs.append(rows)
        seeds.append(str(rows[0].get("settings", {}).get("seed", path.stem)))
    print(seeds_table(runs, seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
