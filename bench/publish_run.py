"""Publish a training run's shipped model into the catalogue folder, with its scorecard (maintainers' step).

    python bench/publish_run.py RUN [RUN ...] [--catalogue catalogue] [--docs docs/training] [--label-root runs]
                                [--start-as corpus-e0009.lstmc]

For each run (``lstm-composer train --out RUN``, its pick shipped by ``bench/pick_checkpoint.py --ship`` or
``train --epoch N``): copies ``RUN/model.lstmc`` to ``catalogue/models/<style>-e<epoch>.lstmc``, removes the
style's earlier model files there (``git rm`` where they are tracked), and writes the run's graph, GIF,
scorecard and slim metrics to ``docs/training/<style>/`` with the run named ``runs/<folder>`` (so the
scorecard does not carry this machine's paths). Then, once for all runs::

    lstm-composer models publish catalogue/models catalogue

rewrites ``index.json`` (and, with ``--pack``, the pack). Nothing here trains or measures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstm_composer_plugin.train import checkpoints as ck  # noqa: E402
from lstm_composer_plugin.train.record import portable_settings  # noqa: E402
from lstm_composer_plugin.train.report import write_report  # noqa: E402


def publish(run: Path, catalogue: Path, docs: Path, label_root: str, start_as: str | None = None) -> Path:
    doc = json.loads((run / ck.METRICS_FILE).read_text())
    style, epoch = doc["style"], (doc.get("choice") or {}).get("epoch")
    model = run / ck.MODEL_FILE
    if epoch is None or not model.is_file():
        raise SystemExit(f"{run}: no shipped model (run bench/pick_checkpoint.py --ship or train --epoch N first)")
    models = catalogue / "models"
    target = models / f"{style}-e{epoch:04d}.lstmc"
    for old in sorted(models.glob(f"{style}-e*.lstmc")):
        if old != target:
            tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(old.resolve())],
                                     capture_output=True, cwd=models).returncode == 0
            if tracked:
                subprocess.run(["git", "rm", "-q", str(old.resolve())], check=True, cwd=models)
            else:
                old.unlink()
    shutil.copyfile(model, target)
    label = f"{label_root}/{run.name}"
    out = docs / style
    write_report(run, out, run_label=label)
    # The report names the run's own paths (checkpoints, the start's model file) in places other than the
    # label: those are named under the label's folder too, so a scorecard reads the same on every machine.
    parent = str(run.resolve().parent) + "/"
    start = (doc.get("settings") or {}).get("init_from")
    for path in [*out.glob("*.md"), *out.glob("*.json")]:
        text = path.read_text()
        if start_as and start:
            # The start as it is published (a run folder's model is named by the catalogue file it became).
            text = text.replace(json.dumps(start), json.dumps(start_as))
            text = text.replace(f"the weights of `{portable_settings({'init_from': start})['init_from']}`",
                                f"the weights of `{start_as}`")
        path.write_text(text.replace(parent, label_root + "/"))
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--catalogue", type=Path, default=Path("catalogue"))
    ap.add_argument("--docs", type=Path, default=Path("docs/training"))
    ap.add_argument("--label-root", default="runs", help="how scorecards name the runs' parent folder")
    ap.add_argument("--start-as", default=None,
                    help="how scorecards name the network the runs started from (e.g. corpus-e0009.lstmc)")
    args = ap.parse_args(argv)
    for run in args.runs:
        print(publish(run, args.catalogue, args.docs, args.label_root, args.start_as))
    print("now: lstm-composer models publish", args.catalogue / "models", args.catalogue)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
