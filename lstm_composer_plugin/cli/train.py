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
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from hostapi.commands import duration, style_name


def _settings_options() -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(flag, field, parser, metadata) of every TrainSettings field: the options come from the record."""
    from lstm_composer_plugin.train.settings import TrainSettings

    out = []
    for f in fields(TrainSettings):
        meta = f.metadata
        kind = meta.get("kind") or str
        conv = {"units": _units, "duration": duration}.get(kind, kind)
        out.append((meta.get("flag") or "--" + f.name.replace("_", "-"), f.name, conv, meta))
    return out


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train the LSTM of one style on a folder of MIDI files")
    p.add_argument("corpus", metavar="CORPUS_DIR", help="folder of MIDI files (searched recursively)")
    p.add_argument("--style", required=True, type=style_name,
                   help="style id of the model (e.g. bach): letters, digits, '.', '_' and '-', as compose takes it")
    p.add_argument("--out", required=True, help="run folder: checkpoints, graphs, metrics.json, model.lstmc")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest saved state (checkpoint or snapshot)")
    p.add_argument("--epoch", type=_epoch, default=None, metavar="N|auto",
                   help="ship this checkpoint instead of the recommended one; 'auto': the recommendation by "
                        "the current rule (alone on a run: re-pick only, no training)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    from lstm_composer_plugin.train.settings import TrainSettings, default_text

    defaults = {f.name: default_text(f) for f in fields(TrainSettings)}
    for flag, dest, conv, meta in _settings_options():
        kind = meta.get("kind")
        metavar = {int: "N", float: "X", "units": "W,W", "duration": "TIME"}.get(kind, "TEXT")
        shown = defaults[dest]
        text = meta["help"] + (f" (default: {shown})" if shown else "")
        if meta.get("choices"):
            p.add_argument(flag, dest=dest, choices=meta["choices"], default=None, help=text)
        else:
            p.add_argument(flag, dest=dest, type=conv, default=None, metavar=metavar, help=text)
    p.set_defaults(func=run_train)
    return p


def _epoch(text: str) -> int | str:
    return text if text == "auto" else positive_int(text, what="an epoch number or 'auto'")


def positive_int(text: str, *, what: str = "a whole number") -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
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

    settings = {dest: getattr(args, dest) for _, dest, _, _ in _settings_options()
                if getattr(args, dest, None) is not None}

    def say(line: str) -> None:
        if line.startswith("warning: "):  # docs/errors.md: "lstm-composer: warning: ...", on stderr
            print(f"lstm-composer: {line}", file=sys.stderr, flush=True)
            return
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        result = train(args.corpus, args.style, args.out, resume=args.resume, epoch=args.epoch, say=say, **settings)
    except KeyboardInterrupt:
        # The trainer has said what was saved. Leave at once: TensorFlow's objects, collected at
        # interpreter exit after an interrupt, print "Object was never used" dumps to stderr.
        print("lstm-composer: interrupted", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
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


