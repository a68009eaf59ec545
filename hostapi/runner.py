"""The one main loop of both command lines: parse, run, one line and an exit code per outcome.

``voc-host`` (:mod:`hostapi.cli`) and ``lstm-composer`` call :func:`run` with their parser
and their host commands; what is printed is :mod:`hostapi.console`'s.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from .console import Console
from .errors import ExitCode, HostError, PluginCallError, UserError
from .host import Host

HostCommand = Callable[[Host, argparse.Namespace, Console], int]


class CommandLineError(Exception):
    """A command line that cannot be run (argparse's complaint, or a missing file)."""

    def __init__(self, message: str, prog: str = "") -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``--json`` can still answer in JSON.

    Abbreviations are off: ``models list --all`` must not become ``--allow-insecure``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(message, self.prog)


def run(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    *,
    host_commands: Mapping[str, HostCommand],
    make_host: Callable[[argparse.Namespace], Host],
    name_plugins: bool = True,
) -> int:
    """Parse ``argv`` and run the command; every outcome is an exit code, never a traceback.

    Commands in ``host_commands`` run through the host ``make_host`` builds; any other
    command runs as ``args.func(args)`` (a plugin's own command, such as ``train``).
    """
    if not argv:  # no command at all: show the commands, as --help does (and exit as a usage error)
        parser.print_help(sys.stderr)
        print(f"{parser.prog}: error: a COMMAND is required (see the list above)", file=sys.stderr)
        return ExitCode.USAGE
    try:
        args = parser.parse_args(list(argv))
    except CommandLineError as exc:
        con = Console(prog, as_json="--json" in argv)
        # One line, as every other error (the usage is one --help away).
        print(f"{exc.prog}: error: {exc}", file=sys.stderr)
        if con.json:
            con.emit({"error": str(exc), "exit_code": int(ExitCode.USAGE)})
        return ExitCode.USAGE
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    con = Console(
        prog,
        as_json=getattr(args, "json", False),
        quiet=getattr(args, "quiet", False),
        tracebacks=getattr(args, "traceback", False),
        name_plugins=name_plugins,
    )
    command = host_commands.get(args.command)
    if command is None:
        return _run_own(args, con)
    host = make_host(args)
    if args.command != "plugins":
        for broken in host.broken:
            con.warn(f"plugin {broken.name!r} is broken ({broken.stage}): {broken.reason}")
    seen, noted = len(host.failures), len(host.warnings)
    error: HostError | None = None
    try:
        code = command(host, args, con)
    except CommandLineError as exc:
        con.error(str(exc), ExitCode.USAGE)
        return ExitCode.USAGE
    except HostError as exc:
        error, code = exc, exc.exit_code
    except UserError as exc:  # the host's own commands (serve: a port in use) fail as plugins do
        con.error(str(exc), exc.exit_code)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        con.error("interrupted", ExitCode.INTERRUPTED)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug in the host itself: still one line unless asked
        con.error(f"internal error: {type(exc).__name__}: {exc}", ExitCode.FAILURE)
        if con.show_tracebacks:
            raise
        return ExitCode.FAILURE
    for note in host.warnings[noted:]:
        con.warn(note.line() if name_plugins else note.message)
    new_failures = host.failures[seen:]
    reported = error.failures if isinstance(error, PluginCallError) else []
    for failure in new_failures:
        # the error line already names these; doctor lists its failures itself
        if not any(failure is r for r in reported) and args.command != "doctor":
            con.warn(con.failure_line(failure))
    con.tracebacks(new_failures)
    if error is not None:
        _report(error, con)
    return int(code)


def _report(error: HostError, con: Console) -> None:
    if not isinstance(error, PluginCallError):
        con.error(str(error), error.exit_code)
        return
    text = str(error) if con.name_plugins else error.message
    extra: dict[str, Any] = {"plugin": error.failures[0].plugin}
    if not error.user_error:
        extra["failures"] = con.records(error.failures)
    print(f"{con.prog}: error: {text}", file=sys.stderr)
    if con.json:
        con.emit({"error": error.message, "exit_code": int(error.exit_code), **extra})


def _run_own(args: argparse.Namespace, con: Console) -> int:
    try:
        return int(args.func(args) or 0)
    except CommandLineError as exc:
        con.error(str(exc), ExitCode.USAGE)
        return ExitCode.USAGE
    except UserError as exc:
        con.error(str(exc), exc.exit_code)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        con.error("interrupted", ExitCode.INTERRUPTED)
        return ExitCode.INTERRUPTED
