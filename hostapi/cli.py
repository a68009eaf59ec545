"""``voc-host``: a headless host that does what the host application's window does.

The style drop-down is ``voc-host styles``, the Compose button ``voc-host
compose STYLE``, the Train menu ``voc-host train``, the model manager ``voc-host
models ...``; ``voc-host plugins`` and ``voc-host doctor`` show what is loaded
and what the machine can do. Every command takes ``--json`` (machine-readable
stdout); progress bars go to stderr (only on a terminal; ``-q`` hides them).

Exit codes (``ExitCode``):

* 0 ok
* 1 failure: a plugin raised (a user mistake it reported, or a bug), a model
  action or runtime check failed, or ``doctor`` found broken plugins
* 2 usage: a bad command line (argparse), or a path argument that does not exist
* 3 no answer: no plugin knows the style, no plugin trains or manages models,
  or ``--plugin NAME`` names no loaded plugin
* 130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from .host import Host, HostError, NoAnswerError, PluginCallError
from .results import (
    ComposeOptions,
    HookFailure,
    Progress,
    TrainOptions,
    _jsonable,
)

PROG = "voc-host"


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    NO_ANSWER = 3
    INTERRUPTED = 130


class _UsageProblem(Exception):
    """A command line that parsed but makes no sense (e.g. a missing folder)."""


# -- argument types: reject bad values before any plugin sees them --------------


def _number(convert: Callable[[str], Any], ok: Callable[[Any], bool], what: str):
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


_positive_int = _number(int, lambda v: v > 0, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: v > 0, "a positive number")  # NaN fails v > 0 too
_probability = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


# -- progress -------------------------------------------------------------------


class ProgressBars:
    """A :class:`~hostapi.results.ProgressCallback` drawing one tqdm bar per stage."""

    def __init__(self, enabled: bool = True, file: TextIO | None = None) -> None:
        self.enabled = enabled
        self.file = file
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        if self._bar is None or progress.stage != self._stage:
            self.close()
            from tqdm import tqdm  # only paid for when something reports progress

            is_bytes = progress.unit == "B"
            self._bar = tqdm(
                total=progress.total,
                desc=progress.stage,
                unit=progress.unit or "it",
                unit_scale=is_bytes,
                unit_divisor=1024 if is_bytes else 1000,
                file=self.file or sys.stderr,
                disable=None,  # tqdm's rule: draw only on a terminal
                **_width(self.file or sys.stderr),
            )
            self._stage = progress.stage
        bar = self._bar
        if progress.total != bar.total:
            bar.total = progress.total
        if progress.message:
            bar.set_postfix_str(progress.message, refresh=False)
        bar.update(progress.done - bar.n)  # update() rate-limits redraws; refresh() would not

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None


def _width(stream: TextIO) -> dict[str, Any]:
    """Follow the terminal's width; a terminal that reports 0 columns (a bare pty, some IDE
    consoles) would get an empty bar from tqdm, so it gets 80 columns instead."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return {"dynamic_ncols": True}
    return {"dynamic_ncols": True} if columns > 0 else {"ncols": 80}


# -- the parser -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON on stdout")
    common.add_argument(
        "-p",
        "--plugin-module",
        action="append",
        default=[],
        metavar="[NAME=]MODULE[:ATTR]",
        help="also load this plugin (a plugin in development, before it has an entry point)",
    )
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or warnings")
    common.add_argument("--traceback", action="store_true", help="show plugin tracebacks")
    pick = argparse.ArgumentParser(add_help=False)
    pick.add_argument("--plugin", metavar="NAME", help="ask only this plugin")

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Headless host for composer plugins (stands in for the host app's window).",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage, 3 no plugin answered, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("plugins", parents=[common], help="loaded and broken plugins")

    p = sub.add_parser("styles", parents=[common, pick], help="styles to compose in")
    p.add_argument("--offline", action="store_true", help="do not touch the network")

    p = sub.add_parser("compose", parents=[common, pick], help="compose a new piece")
    p.add_argument("style")
    p.add_argument("-o", "--output", type=Path, help="MIDI file to write")
    p.add_argument("--length", type=_positive_int, help="events to compose")
    p.add_argument("--seconds", type=_positive_float, help="compose about this long instead")
    p.add_argument("--seed", type=_non_negative_int)
    p.add_argument("--temperature", type=_positive_float)
    p.add_argument("--top-k", type=_positive_int)
    p.add_argument("--top-p", type=_probability)
    p.add_argument("--repetition-penalty", type=_positive_float)
    p.add_argument("--variations", type=_positive_int, default=1)
    p.add_argument("--primer", type=Path, help="MIDI file to continue")
    p.add_argument("--tempo", type=_positive_float, help="beats per minute")
    p.add_argument("--png", action="store_true", help="also draw a piano roll")
    p.add_argument("--offline", action="store_true", help="never download")

    p = sub.add_parser("train", parents=[common, pick], help="train a new style")
    p.add_argument("corpus", type=Path, help="folder of MIDI files")
    p.add_argument("--style", required=True)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--checkpoint-every", type=_positive_int)
    p.add_argument("--recipe", choices=["default", "reference"])
    p.add_argument("--resume", action="store_true")
    p.add_argument("--epoch", type=_positive_int, help="use this epoch instead of the recommended")

    p = sub.add_parser("doctor", parents=[common, pick], help="check what this machine can do")
    p.add_argument(
        "--tensorflow",
        "--deep",
        dest="deep",
        action="store_true",
        help="also run slow probes (imports TensorFlow in a subprocess)",
    )

    p = sub.add_parser(
        "models",
        parents=[common, pick],
        help="the plugin's model manager (ACTION and ARGS are passed to it)",
    )
    p.add_argument("action", nargs="?", default="list")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


# -- output ---------------------------------------------------------------------


class _Console:
    def __init__(self, args: argparse.Namespace) -> None:
        self.json = args.json
        self.quiet = args.quiet
        self.show_tracebacks = args.traceback

    def out(self, text: str = "") -> None:
        print(text)

    def emit(self, value: Any) -> None:
        print(json.dumps(_jsonable(value), indent=2))

    def error(self, message: str) -> None:
        print(f"{PROG}: error: {message}", file=sys.stderr)

    def warn(self, message: str) -> None:
        if not self.quiet:
            print(f"{PROG}: warning: {message}", file=sys.stderr)

    def tracebacks(self, failures: Sequence[HookFailure]) -> None:
        if self.show_tracebacks:
            for failure in failures:
                if failure.traceback:
                    print(failure.traceback, file=sys.stderr, end="")

    def records(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """JSON form of failures/broken plugins; tracebacks only with ``--traceback``."""
        dicts = [r.to_dict() for r in records]
        if not self.show_tracebacks:
            for d in dicts:
                d.pop("traceback", None)
        return dicts


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


# -- commands -------------------------------------------------------------------


def _cmd_plugins(host: Host, args: argparse.Namespace, con: _Console) -> int:
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


def _cmd_styles(host: Host, args: argparse.Namespace, con: _Console) -> int:
    styles = host.list_styles(offline=args.offline, plugin=args.plugin)
    if con.json:
        con.emit(styles)
        return ExitCode.OK
    if not styles:
        con.out("no styles")
        return ExitCode.OK
    rows = [["NAME", "STATUS", "PLUGIN", "TITLE"]]
    for s in styles:
        if s.installed:
            status = "installed"
        elif s.needs_download:
            status = f"download {_size(s.size_bytes)}"
        else:
            status = "available"
        rows.append([s.name, status, s.plugin, s.title])
    for line in _table(rows):
        con.out(line)
    return ExitCode.OK


def _cmd_compose(host: Host, args: argparse.Namespace, con: _Console) -> int:
    if args.primer is not None and not args.primer.is_file():
        raise _UsageProblem(f"primer file {str(args.primer)!r} does not exist")
    options = ComposeOptions.from_namespace(args)
    bars = ProgressBars(enabled=not con.quiet)
    try:
        result = host.compose(args.style, options, progress=bars, plugin=args.plugin)
    except NoAnswerError as exc:
        known = sorted({s.name for s in host.list_styles(offline=True)})
        hint = f"; known styles: {', '.join(known)}" if known else ""
        raise NoAnswerError(exc.hook, f"{exc}{hint}") from exc
    finally:
        bars.close()
    if con.json:
        con.emit(result)
        return ExitCode.OK
    epoch = f", epoch {result.epoch}" if result.epoch is not None else ""
    con.out(
        f"wrote {result.path}  ({result.style} by {result.plugin}, seed {result.seed}, "
        f"{result.events} events, {result.duration_seconds:.1f} s{epoch})"
    )
    for extra in result.variations:
        if Path(extra) != Path(result.path):
            con.out(f"variation {extra}")
    if result.png_path:
        con.out(f"piano roll {result.png_path}")
    return ExitCode.OK


def _cmd_train(host: Host, args: argparse.Namespace, con: _Console) -> int:
    if not args.corpus.is_dir():
        raise _UsageProblem(f"corpus folder {str(args.corpus)!r} does not exist")
    options = TrainOptions(
        epochs=args.epochs,
        checkpoint_every=args.checkpoint_every,
        recipe=args.recipe,
        resume=args.resume,
        epoch=args.epoch,
    )
    bars = ProgressBars(enabled=not con.quiet)
    try:
        result = host.train(
            args.corpus, args.style, args.out, options, progress=bars, plugin=args.plugin
        )
    finally:
        bars.close()
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
    return ExitCode.OK


def _cmd_doctor(host: Host, args: argparse.Namespace, con: _Console) -> int:
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
        con.error("no loaded plugin implements check_runtime")
        return ExitCode.NO_ANSWER
    return ExitCode.OK


def _cmd_models(host: Host, args: argparse.Namespace, con: _Console) -> int:
    bars = ProgressBars(enabled=not con.quiet)
    try:
        result = host.manage_models(args.action, args.args, progress=bars, plugin=args.plugin)
    finally:
        bars.close()
    if con.json:
        con.emit(result)
    elif result.text:
        con.out(result.text.rstrip("\n"))
    return ExitCode.OK if result.ok else ExitCode.FAILURE


COMMANDS: dict[str, Callable[[Host, argparse.Namespace, _Console], int]] = {
    "plugins": _cmd_plugins,
    "styles": _cmd_styles,
    "compose": _cmd_compose,
    "train": _cmd_train,
    "doctor": _cmd_doctor,
    "models": _cmd_models,
}


def _split_models_flags(argv: list[str]) -> list[str]:
    """Move host flags typed after ``models ACTION`` in front of it.

    Everything after the action goes to the plugin unparsed, but ``--json`` and
    ``-q`` are the host's wherever they are typed.
    """
    if argv[:1] != ["models"]:
        return argv
    head, tail = argv[:1], argv[1:]
    mine = [a for a in tail if a in ("--json", "-q", "--quiet")]
    return head + mine + [a for a in tail if a not in mine]


def main(argv: Sequence[str] | None = None, *, host: Host | None = None) -> int:
    """Run ``voc-host``; returns the exit code. ``host`` replaces the plugin loading (tests)."""
    parser = build_parser()
    argv = _split_models_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the error
        return int(exc.code or 0)
    con = _Console(args)
    if host is None:
        host = Host(plugins=args.plugin_module)
    if args.command != "plugins":
        for broken in host.broken:
            con.warn(f"plugin {broken.name!r} is broken ({broken.stage}): {broken.reason}")
    seen = len(host.failures)
    code: int
    error: HostError | None = None
    try:
        code = COMMANDS[args.command](host, args, con)
    except _UsageProblem as exc:
        con.error(str(exc))
        return ExitCode.USAGE
    except NoAnswerError as exc:
        error, code = exc, ExitCode.NO_ANSWER
    except PluginCallError as exc:
        error, code = exc, ExitCode.FAILURE
    except KeyboardInterrupt:
        con.error("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug in the host itself: still one line unless asked
        con.error(f"internal error: {type(exc).__name__}: {exc}")
        if con.show_tracebacks:
            raise
        return ExitCode.FAILURE
    new_failures = host.failures[seen:]
    reported = error.failures if isinstance(error, PluginCallError) else []
    for failure in new_failures:
        # the error line already names these; doctor lists its failures itself
        if not any(failure is r for r in reported) and args.command != "doctor":
            con.warn(failure.line())
    con.tracebacks(new_failures)
    if error is not None:
        con.error(str(error))
        if con.json:
            con.emit(
                {
                    "error": str(error),
                    "exit_code": int(code),
                    "failures": con.records(reported),
                }
            )
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
