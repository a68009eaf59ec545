"""``lstm-composer train-all``: every style of a corpus, one ``lstm-composer train`` job each.

    lstm-composer train-all CORPUS_ROOT --out OUT [--jobs N] [--styles a,b] [--budget 16m]
                            [--pretrain-budget 20m] [--no-pretrain] [--print [--stage pretrain|styles]]
                            [-- TRAIN_OPTIONS...]

The jobs are planned by :mod:`lstm_composer_plugin.train.jobs` (pre-training on the whole
corpus, then each style fine-tuned from it) and run here by :mod:`~lstm_composer_plugin.train.jobrunner`;
``--print`` prints them as command lines instead, for a batch scheduler (docs/training.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hostapi import ExitCode
from hostapi.commands import duration
from hostapi.runner import CommandLineError, Parser
from lstm_composer_plugin.cli.train import add_train_parser, positive_int
from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.train.checkpoints import MODEL_FILE
from lstm_composer_plugin.train.jobs import (
    DEFAULT_BUDGET,
    DEFAULT_PRETRAIN_BUDGET,
    PRETRAIN,
    STAGES,
    plan,
)
from lstm_composer_plugin.train.settings import duration_option

PROG = "lstm-composer"
# train-all sets these for each job itself.
RESERVED = ("--style", "--out", "--resume")


def add_train_all_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train-all", help="train every style folder of a corpus: one train job each, in parallel, resumable",
        usage="%(prog)s CORPUS_ROOT --out OUT [options] [-- TRAIN_OPTIONS ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pre-train one network on the whole corpus, then fine-tune one model per style folder\n"
                    "from it, as many at once as the cores and memory allow. Done runs are skipped,\n"
                    "interrupted ones resumed: after a Ctrl-C, the same command goes on.",
        epilog="Options after a lone -- are lstm-composer train options, added to every job:\n"
               "  lstm-composer train-all ../shared/corpus --out runs -- --epochs 200")
    _options_after_double_dash(p)
    p.add_argument("corpus", metavar="CORPUS_ROOT", help="folder of style folders of MIDI files (e.g. ../shared/corpus)")
    p.add_argument("--out", required=True, help="folder of the runs: OUT/_corpus, OUT/<style>, their logs, train-all.json")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="style jobs at once (default: half the cores, at most one per 3 GiB of available memory)")
    p.add_argument("--styles", type=_names, default=None, metavar="A,B",
                   help="only these style folders (default: every subfolder with MIDI files)")
    p.add_argument("--budget", type=duration, default=DEFAULT_BUDGET, metavar="TIME",
                   help=f"training time per style, e.g. 16m, 1h (default: {duration_option(DEFAULT_BUDGET)})")
    p.add_argument("--pretrain-budget", type=duration, default=DEFAULT_PRETRAIN_BUDGET, metavar="TIME",
                   help=f"training time of the pre-training (default: {duration_option(DEFAULT_PRETRAIN_BUDGET)})")
    p.add_argument("--no-pretrain", dest="pretrain", action="store_false",
                   help="no pre-training: every style trains from random weights")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print one command line per pending job and run nothing (for batch schedulers)")
    p.add_argument("--stage", choices=STAGES, default=None,
                   help="only this stage's jobs (with --print: the lines of one scheduler job or array)")
    p.set_defaults(func=run_train_all)
    return p


def run_train_all(args: argparse.Namespace) -> int:
    extra = list(args.train_options)
    _check_train_options(extra)
    for flag, value in (("--budget", args.budget), ("--pretrain-budget", args.pretrain_budget)):
        if value <= 0:
            raise UsageError(f"{flag} must be positive, not {value:g} s")
    if args.stage == PRETRAIN and not args.pretrain:
        raise UsageError("--stage pretrain with --no-pretrain: there is no pre-training stage")
    jobs = plan(args.corpus, args.out, styles=args.styles, budget=args.budget, pretrain_budget=args.pretrain_budget,
                pretrain=args.pretrain, extra=extra)
    if args.stage:
        jobs = [j for j in jobs if j.stage == args.stage]

    if args.print_only:
        for job in jobs:
            if job.pending:
                print(job.command_line())
            else:  # stderr, and a comment anyway: stdout stays one runnable line per job
                print(f"# skipped (done): {job.name} ({job.out / MODEL_FILE})", file=sys.stderr)
        return ExitCode.OK

    from lstm_composer_plugin.train.jobrunner import SKIPPED, run_jobs
    from lstm_composer_plugin.train.trainer import require_training_libraries

    if any(j.pending for j in jobs):
        require_training_libraries()  # once here, not once per job in 19 logs
    outcome = run_jobs(jobs, args.out, parallel=args.jobs, say=lambda line: print(line, flush=True))
    ran = [r for r in outcome.records if r.attempts and r.status != SKIPPED]
    if outcome.interrupted:
        print(f"{PROG}: interrupted; run the same command again to resume the interrupted jobs "
              "(finished ones are skipped)", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED
    if outcome.failed or outcome.not_run:
        failed = ", ".join(f"{r.name} (exit {r.exit_code}, see {r.log})" for r in outcome.failed)
        print(f"{PROG}: error: {len(outcome.failed)} job(s) failed: {failed}"
              + (f"; not started: {', '.join(r.name for r in outcome.not_run)}" if outcome.not_run else ""),
              file=sys.stderr, flush=True)
        return ExitCode.FAILURE
    print(f"train-all: {len(ran)} job(s) trained, {len(outcome.records) - len(ran)} skipped as done; "
          f"times in {args.out}/train-all.json", flush=True)
    return ExitCode.OK


def _check_train_options(extra: list[str]) -> None:
    """The options after ``--`` as ``train`` would take them: a typo fails now, not in every job's log."""
    for token in extra:
        if token.split("=", 1)[0] in RESERVED:
            raise UsageError(f"{token.split('=', 1)[0]} after --: train-all sets it for each job itself")
    scratch = Parser(prog=f"{PROG} train-all ... --")
    add_train_parser(scratch.add_subparsers(dest="command", parser_class=Parser))
    try:
        scratch.parse_args(["train", "CORPUS", "--style", "x", "--out", "x", *extra])
    except CommandLineError as exc:
        raise UsageError(f"the train options after --: {exc}") from None


def _options_after_double_dash(parser: argparse.ArgumentParser) -> None:
    """Everything after ``--`` becomes ``args.train_options``, untouched.

    Declared as a ``nargs="*"`` positional, argparse (before 3.12) fills it with nothing at the first
    positional (CORPUS_ROOT) and then rejects what follows ``--`` as unrecognised; so the words after
    ``--`` are set aside before this subcommand's own parsing instead.
    """
    base = type(parser)

    class _WithTrainOptions(base):  # type: ignore[misc, valid-type]
        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            words = list(sys.argv[1:] if args is None else args)
            tail: list[str] = []
            if "--" in words:
                cut = words.index("--")
                words, tail = words[:cut], words[cut + 1:]
            namespace, rest = super().parse_known_args(words, namespace)
            namespace.train_options = tail
            return namespace, rest

    parser.__class__ = _WithTrainOptions


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated style names, not {text!r}")
    return names
