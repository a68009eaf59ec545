"""``voc-host``: a headless host that does what the host application's window does.

The style drop-down is ``voc-host styles``, the Compose button ``voc-host
compose STYLE``, the Train menu ``voc-host train``, the model manager ``voc-host
models ACTION``; ``voc-host plugins`` and ``voc-host doctor`` show what is loaded
and what the machine can do. Every command takes ``--json`` (machine-readable
stdout), ``-q`` and ``--traceback``, before or after the command word.

compose, styles and models are :mod:`hostapi.commands`, shared with ``lstm-composer``;
the exit codes (:class:`hostapi.ExitCode`) are documented in ``docs/errors.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import commands
from .commands import CommandLineError, Parser, duration, global_parent, positive_int
from .console import Console
from .errors import ExitCode
from .host import Host
from .results import ModelsRequest, TrainOptions
from .web import add_serve_command, run_serve

PROG = "voc-host"


def _plugin_modules(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    parser.add_argument(
        "-p",
        "--plugin-module",
        action="append",
        metavar="[NAME=]MODULE[:ATTR]",
        help="also load this plugin (a plugin in development, before it has an entry point)",
        **({"default": argparse.SUPPRESS} if after_command else {"default": []}),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Headless host for composer plugins (stands in for the host app's window).",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 unavailable, "
        "130 interrupted (see docs/errors.md).",
    )
    commands.add_global_options(parser, after_command=False)
    _plugin_modules(parser, after_command=False)
    common = global_parent()
    _plugin_modules(common, after_command=True)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )

    sub.add_parser("plugins", parents=[common], help="loaded and broken plugins")
    commands.add_shared_commands(sub, [common])

    p = sub.add_parser("train", parents=[common], help="train a new style")
    p.add_argument("corpus", type=Path, help="folder of MIDI files")
    p.add_argument("--style", required=True, type=commands.style_name, help="the new style's name")
    p.add_argument("--out", type=Path, required=True, help="output folder of the training run")
    p.add_argument("--epochs", type=positive_int, help="epochs to train in all")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                   help="write a checkpoint every N epochs")
    p.add_argument("--recipe", choices=["default", "reference"], help="the training recipe")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint")
    p.add_argument("--epoch", type=positive_int, help="use this epoch instead of the recommended")
    p.add_argument("--time-budget", type=duration, metavar="TIME",
                   help="train for this long at most, e.g. 600, 90m, 1.5h (the run ends with the epoch that fills it)")
    p.add_argument("--init-from", metavar="STYLE|RUN|FILE",
                   help="start from these weights: an installed style (the catalogue's corpus network), a run "
                        "folder or a model file (fine-tuning)")
    p.add_argument("--install", action="store_true",
                   help="install the trained model into the store, so the style composes at once")
    p.add_argument("--plugin", metavar="NAME", help="ask only this plugin")

    p = sub.add_parser("doctor", parents=[common], help="check what this machine can do")
    p.add_argument(
        "--tensorflow",
        "--deep",
        dest="deep",
        action="store_true",
        help="also run slow probes (imports TensorFlow in a subprocess)",
    )
    p.add_argument("--plugin", metavar="NAME", help="ask only this plugin")

    add_serve_command(sub, [common])  # the window as a local web page (hostapi/web, docs/web.md)
    return parser


def _cmd_plugins(host: Host, args: argparse.Namespace, con: Console) -> int:
    order = {hook: host.call_order(hook) for hook in ("compose", "train", "manage_models")}
    if con.json:
        broken = con.records(host.broken)
        con.emit(
            {"plugins": host.plugins, "broken": broken, "skipped": host.skipped, "order": order}
        )
        return ExitCode.OK
    if not host.plugins:
        con.out("no plugins loaded")
    for info in host.plugins:
        con.out(f"{info.name} {info.version or '-'}  [{info.source}]")
        con.out(f"    hooks: {', '.join(info.hooks) or 'none'}")
    for broken in host.broken:
        con.out(f"BROKEN {broken.name} ({broken.stage}): {broken.reason}  [{broken.source}]")
        if con.show_tracebacks and broken.traceback:
            con.out(broken.traceback.rstrip())
    for skipped in host.skipped:
        con.out(f"skipped {skipped.name}: {skipped.reason}")
    for hook, names in order.items():
        if len(names) > 1:
            con.out(f"{hook} asks: {' > '.join(names)}")
    return ExitCode.OK


def _cmd_train(host: Host, args: argparse.Namespace, con: Console) -> int:
    if not args.corpus.is_dir():
        raise CommandLineError(f"corpus folder {str(args.corpus)!r} does not exist")
    options = TrainOptions(
        epochs=args.epochs,
        checkpoint_every=args.checkpoint_every,
        recipe=args.recipe,
        resume=args.resume,
        epoch=args.epoch,
        time_budget=args.time_budget,
        init_from=args.init_from,
    )
    bars = con.progress()
    try:
        result = host.train(
            args.corpus, args.style, args.out, options, progress=bars, plugin=args.plugin
        )
    finally:
        bars.close()
    installed = None
    if args.install:  # the window installs what it trained; so does its headless twin, when asked
        if not result.model_path:
            raise CommandLineError("--install: the run wrote no model to install")
        installed = host.manage_models(ModelsRequest(action="install", files=[Path(result.model_path)],
                                                     force=True), plugin=args.plugin)
    if con.json:
        con.emit(result)
        return ExitCode.OK
    con.out(
        f"trained {result.style} by {result.plugin}: {result.epochs_run} epochs in {result.out_dir}"
    )
    if result.recommended_epoch is not None:
        why = f" ({result.reason})" if result.reason else ""
        con.out(f"recommended epoch {result.recommended_epoch}{why}")
    if result.model_path:
        con.out(f"model {result.model_path}")
    if installed is not None:
        con.out(installed.text.rstrip("\n"))
    return ExitCode.OK


def _cmd_doctor(host: Host, args: argparse.Namespace, con: Console) -> int:
    reports = host.check_runtime(deep=args.deep, plugin=args.plugin)
    failures = [f for f in host.failures if f.hook == "check_runtime"]
    implementers = host.call_order("check_runtime")
    if con.json:
        con.emit(
            {
                "reports": reports,
                "broken": con.records(host.broken),
                "failures": con.records(failures),
            }
        )
    else:
        for report in reports:
            con.out(f"{report.plugin}:")
            for f in report.findings:
                version = f" {f.version}" if f.version else ""
                detail = f"  {f.detail}" if f.detail else ""
                con.out(f"  {'ok' if f.ok else '--'}  {f.name}{version}{detail}")
            for what, state in report.capabilities.items():
                con.out(f"  {what}: {state}")
            for advice in report.advice:
                con.out(f"  advice: {advice}")
        for failure in failures:
            con.out(f"FAILED {failure.line()}")
        for broken in host.broken:
            con.out(f"BROKEN {broken.name} ({broken.stage}): {broken.reason}")
    if failures or (host.broken and args.plugin is None):
        return ExitCode.FAILURE
    if not implementers:
        con.error("no loaded plugin implements check_runtime", ExitCode.NO_ANSWER)
        return ExitCode.NO_ANSWER
    return ExitCode.OK


COMMANDS: dict[str, commands.HostCommand] = {
    "plugins": _cmd_plugins,
    **commands.SHARED_COMMANDS,
    "train": _cmd_train,
    "doctor": _cmd_doctor,
    "serve": run_serve,
}


def main(argv: Sequence[str] | None = None, *, host: Host | None = None) -> int:
    """Run ``voc-host``; returns the exit code. ``host`` replaces the plugin loading (tests)."""
    return commands.run(
        PROG,
        build_parser(),
        list(sys.argv[1:] if argv is None else argv),
        host_commands=COMMANDS,
        make_host=lambda args: host if host is not None else Host(plugins=args.plugin_module),
    )


if __name__ == "__main__":
    sys.exit(main())
