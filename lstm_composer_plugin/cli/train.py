"""``lstm-composer train``: the command line of :func:`lstm_composer_plugin.train.train`.

    lstm-composer train CORPUS_DIR --style NAME --out DIR [--epochs 500] [--checkpoint-every 25]
                        [--recipe default|reference] [--resume] [--epoch N] [--json] ...

Options left out keep their defaults (or, with ``--resume``, the run's own
settings), which is why every option here defaults to None.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

# (option, TrainSettings field, type, help)
_SETTINGS = [
    ("--epochs", "epochs", int, "epochs to train in all (default 500)"),
    ("--checkpoint-every", "checkpoint_every", int, "write a checkpoint every N epochs (default 25)"),
    ("--recipe", "recipe", str, "default (every position predicts) or reference (the seed's windows of 100)"),
    ("--input", "input", str, "embedding or scalar (default: embedding; the reference recipe: scalar)"),
    ("--lstm-units", "lstm_units", "units", "LSTM widths, comma-separated (default 512,256)"),
    ("--dense-units", "dense_units", int, "width of the Dense layer (default 128)"),
    ("--embedding-dim", "embedding_dim", int, "embedding width (default 64)"),
    ("--dropout", "dropout", float, "dropout after each layer (default 0.2)"),
    ("--seq-len", "seq_len", int, "events per training sequence (default 100)"),
    ("--lr", "learning_rate", float, "Adam learning rate (default 0.002; reference 0.001; may change on --resume)"),
    ("--batch-size", "batch_size", int, "sequences per batch: chunks or windows (default 64)"),
    ("--min-count", "min_count", int, "rarer events fall back to their nearest neighbour (default 2)"),
    ("--val-fraction", "val_fraction", float, "share of pieces held out for validation (default 0.1)"),
    ("--seed", "seed", int, "random seed (default 0)"),
    ("--time-budget", "time_budget", "duration", "stop after this much wall time, e.g. 90m, 1h, 600 (seconds)"),
    ("--samples", "samples", int, "scorecard compositions per checkpoint (default 8)"),
    ("--sample-events", "sample_events", int, "events per scorecard composition (default 200)"),
    ("--title", "title", str, "display title of the model"),
    ("--description", "description", str, "one sentence describing the model"),
]


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train the LSTM of one style on a folder of MIDI files")
    p.add_argument("corpus", metavar="CORPUS_DIR", help="folder of MIDI files (searched recursively)")
    p.add_argument("--style", required=True, help="style id of the model (e.g. bach)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, graphs, metrics.json, model.lstmc")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--epoch", type=_epoch, default=None, metavar="N|auto",
                   help="ship this checkpoint instead of the recommended one; 'auto': the recommendation by "
                        "the current rule (alone on a run: re-pick only, no training)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    for flag, dest, kind, text in _SETTINGS:
        conv = {"units": _units, "duration": _duration}.get(kind, kind)
        metavar = {int: "N", float: "X", "units": "W,W", "duration": "TIME"}.get(kind, "TEXT")
        p.add_argument(flag, dest=dest, type=conv, default=None, metavar=metavar, help=text)
    p.set_defaults(func=run_train)
    return p


def _epoch(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an epoch number or 'auto'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"epoch must be at least 1, not {value}")
    return value


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train-report", help="write a run's graph, GIF, scorecard and slim metrics into a folder (for docs)"
    )
    p.add_argument("run", metavar="RUN_DIR", help="a training run folder (lstm-composer train --out)")
    p.add_argument("out", metavar="OUT_DIR", help="where to write graphs.png, training.gif, metrics.json, scorecard.md")
    p.add_argument("--label", default=None, help="how the scorecard names the run (default: RUN_DIR)")
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    from lstm_composer_plugin.train.report import write_report

    for path in write_report(Path(args.run), Path(args.out), run_label=args.label):
        print(path)
    return 0


def run_train(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    from lstm_composer_plugin.train.trainer import train

    settings = {dest: getattr(args, dest) for _, dest, _, _ in _SETTINGS if getattr(args, dest, None) is not None}

    def say(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    result = train(args.corpus, args.style, args.out, resume=args.resume, epoch=args.epoch, say=say, **settings)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(f"model: {result.model_path}  (epoch {result.recommended_epoch} recommended; "
              f"{result.epochs_run} epochs trained; metrics in {result.metrics_path})")
    return 0 if result.model_path is not None else 1


def _units(text: str) -> list[int]:
    try:
        units = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None
    if not units:
        raise argparse.ArgumentTypeError("expected at least one width")
    return units


def _duration(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)\s*(s|m|min|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration such as 600, 90m or 1.5h, not {text!r}")
    return float(m.group(1)) * {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]

