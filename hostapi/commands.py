"""The commands ``voc-host`` and ``lstm-composer`` share: compose, styles, models.

Both programs build these sub-commands here and run them through a :class:`~hostapi.Host`
(``lstm-composer``'s host holds only the LSTM plugin), so they accept the same words,
print the same text and JSON and exit with the same codes (``docs/errors.md``).
A new compose option is one entry in :data:`~hostapi.results.COMPOSE_SETTINGS` (plus its
:class:`~hostapi.results.ComposeOptions` field): both programs and the page get it.

:func:`hostapi.runner.run` is the one main loop both programs use.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .console import Console, format_size, table
from .errors import ExitCode, NoAnswerError
from .host import Host
from .results import COMPOSE_SETTINGS, MODELS_ACTIONS, ComposeOptions, ModelsRequest
from .runner import CommandLineError, HostCommand, Parser, run

__all__ = [
    "MAX_SEED",
    "SHARED_COMMANDS",
    "STYLE_NAME",
    "CommandLineError",
    "HostCommand",
    "Parser",
    "add_compose_command",
    "add_global_options",
    "add_models_command",
    "add_shared_commands",
    "add_styles_command",
    "duration",
    "global_parent",
    "models_request",
    "positive_float",
    "positive_int",
    "probability",
    "run",
    "seed",
    "style_name",
]

#: Style names become file names and store folders: no path characters.
STYLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_SEED = 2**63 - 1


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


positive_int = _number(int, lambda v: v > 0, "a positive integer")
positive_float = _number(float, lambda v: v > 0, "a positive number")  # NaN fails v > 0 too
probability = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
seed = _number(int, lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED}")


def duration(text: str) -> float:
    """A length of time for argparse: 600 (seconds), 90s, 90m, 1.5h."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h)?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration such as 600, 90m or 1.5h, not {text!r}")
    return float(m.group(1)) * {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


# Compose options only parse here: their bounds are ComposeOptions.check's (results.COMPOSE_BOUNDS),
# the ones the page checks too, so all three refuse the same values with the same words.
whole = _number(int, lambda v: True, "a whole number")
number = _number(float, lambda v: v == v and abs(v) != float("inf"), "a number")
_PARSE: dict[str, Callable[[str], Any]] = {"int": whole, "float": number, "text": str, "path": Path}


def style_name(text: str) -> str:
    if not STYLE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a style name (letters, digits, '.', '_' and '-'; at most 64)"
        )
    return text


# -- options every command takes, before or after the command word -------------


def add_global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """``--json``, ``-q`` and ``--traceback``.

    Added to the program (``after_command=False``) and to each sub-command with
    ``SUPPRESS`` defaults (``True``), so ``-q compose`` and ``compose -q`` both count.
    """
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout", **default
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print errors only (and --json output)",
        **default,
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show plugin tracebacks (for bug reports)",
        **default,
    )


def global_parent() -> argparse.ArgumentParser:
    """A parent parser for sub-commands: the global options, accepted after the command."""
    parent = argparse.ArgumentParser(add_help=False)
    add_global_options(parent, after_command=True)
    return parent


def _plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", metavar="NAME", help="ask only this plugin")


# -- compose ----------------------------------------------------------------------


def add_compose_command(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> Parser:
    p = sub.add_parser(
        "compose",
        parents=list(parents),
        help="compose a new piece in a style",
        description="Compose a new piece and write it as a MIDI file. Existing files are "
        "never overwritten without --force.",
    )
    p.add_argument("style", nargs="?", type=style_name, help="the style (see the styles command)")
    p.add_argument("--style", dest="style_option", type=style_name, metavar="STYLE",
                   help="the style, as an option (the same as the STYLE argument)")
    p.add_argument("--model", type=Path, metavar="FILE",
                   help="compose with this model file (a trained .lstmc) instead of a style's")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="MIDI file to write (default: STYLE-SEED.mid here); its folder must exist")
    for setting in COMPOSE_SETTINGS:  # the record every host builds its options from
        if setting.kind == "flag":
            p.add_argument(setting.flag, action="store_true", help=setting.help_text())
        else:
            p.add_argument(setting.flag, type=_PARSE[setting.kind], metavar=setting.metavar,
                           help=setting.help_text())
    _plugin_option(p)
    return p


def run_compose(host: Host, args: argparse.Namespace, con: Console) -> int:
    style = args.style or args.style_option
    if args.style and args.style_option and args.style != args.style_option:
        raise CommandLineError(f"two styles given: {args.style!r} and --style {args.style_option!r}")
    if not style and args.model is None:
        raise CommandLineError("compose needs a STYLE (or --model FILE)")
    for what, path in (("primer", args.primer), ("model", args.model)):
        if path is not None and not path.is_file():
            raise CommandLineError(f"{what} file {str(path)!r} does not exist")
    if args.output is not None and not args.output.parent.is_dir():
        raise CommandLineError(f"output folder {str(args.output.parent)!r} does not exist")
    options = ComposeOptions.from_namespace(args)
    options.check()  # the bounds the page checks too (results.COMPOSE_BOUNDS), before anything is read
    bars = con.progress()
    noted = len(host.warnings)
    try:
        result = host.compose(style or "", options, progress=bars, plugin=args.plugin)
    except NoAnswerError as exc:
        # What the plugins said while declining (e.g. how to set up a catalogue) belongs to this
        # one error line, not to warnings of their own.
        notes = [w.line() for w in host.warnings[noted:]]
        del host.warnings[noted:]
        # As the compose itself was asked: offline only if the user said so (else the catalogue just
        # fetched, or its fresh cache, answers without a warning about being offline).
        known = sorted({s.name for s in host.list_styles(offline=bool(args.offline))})
        hint = f"; known styles: {', '.join(known)}" if known else ""
        said = f" ({'; '.join(notes)})" if notes else ""
        raise NoAnswerError(exc.hook, f"{exc}{hint}{said}") from exc
    finally:
        bars.close()
    if con.json:
        con.emit(result)
        return ExitCode.OK
    epoch = f", epoch {result.epoch}" if result.epoch is not None else ""
    con.out(
        f"wrote {result.path}  ({result.style} by {result.plugin}, seed {result.seed}, "
        f"{result.events} {'notes' if 'notes' in (result.report or {}) else 'events'}, "
        f"{result.duration_seconds:.1f} s{epoch})"
    )
    for extra in result.variations:
        if Path(extra) != Path(result.path):
            con.out(f"variation {extra}")
    if result.png_path:
        con.out(f"piano roll {result.png_path}")
    for audio in result.audio_variations or ([result.audio_path] if result.audio_path else []):
        con.out(f"audio {audio}")
    for score in result.musicxml_variations:
        con.out(f"score {score}")
    summary = result.report.get("summary") if isinstance(result.report, dict) else None
    if isinstance(summary, str) and summary:
        con.out(summary)
    return ExitCode.OK


# -- styles -------------------------------------------------------------------------


def add_styles_command(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> Parser:
    p = sub.add_parser(
        "styles", parents=list(parents), help="styles to compose in (installed and downloadable)"
    )
    p.add_argument("--offline", action="store_true",
                   help="do not touch the network (use a cached catalogue)")
    _plugin_option(p)
    return p


def run_styles(host: Host, args: argparse.Namespace, con: Console) -> int:
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
            status = f"download {format_size(s.size_bytes)}"
        else:
            status = "available"
        rows.append([s.name, status, s.plugin, s.title])
    for line in table(rows):
        con.out(line)
    return ExitCode.OK


# -- models ---------------------------------------------------------------------------


def _store_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: given before or after the action, they count once.
    s = argparse.SUPPRESS
    parser.add_argument("--offline", action="store_true", default=s,
                        help="never touch the network (also LSTM_COMPOSER_OFFLINE=1)")
    parser.add_argument("--allow-insecure", action="store_true", default=s,
                        help="allow plain http to hosts other than this machine")
    parser.add_argument("--catalogue", metavar="URL", default=s,
                        help="catalogue URL or folder (default: LSTM_COMPOSER_CATALOGUE)")
    parser.add_argument("--home", metavar="DIR", type=Path, default=s,
                        help="store folder (default: LSTM_COMPOSER_HOME or the user data dir)")


def add_models_command(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> Parser:
    p = sub.add_parser(
        "models",
        parents=list(parents),
        help="list, download, install and check style models",
        description="The model manager: ACTION is one of those below (default: list); "
        "`models ACTION --help` shows its arguments.",
    )
    _store_options(p)
    _plugin_option(p)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    each = [*parents]

    def action(name: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, parents=each, help=MODELS_ACTIONS[name])
        _store_options(a)
        a.add_argument("--plugin", metavar="NAME", default=argparse.SUPPRESS,
                       help="ask only this plugin")
        return a

    action("list").add_argument("--refresh", action="store_true",
                                help="ask the catalogue now, not its cached copy")
    a = action("fetch")
    a.add_argument("styles", nargs="*", metavar="STYLE", type=style_name, help="styles to download")
    a.add_argument("--all", action="store_true", help="every style in the catalogue")
    a.add_argument("--force", action="store_true", help="download again even if installed")
    a = action("install")
    a.add_argument("files", nargs="+", metavar="FILE", type=Path, help="trained model files")
    a.add_argument("--force", action="store_true", help="replace an installed model of the style")
    action("verify")
    action("repair")
    a = action("remove")
    a.add_argument("styles", nargs="+", metavar="STYLE", type=style_name, help="styles to delete")
    a = action("pack")
    a.add_argument("--keep", action="store_true", help="keep the pack file after installing")
    a = action("publish")
    a.add_argument("files", nargs=2, metavar="DIR", type=Path,
                   help="MODELS_DIR (model files) and OUT_DIR (the catalogue to write)")
    a.add_argument("--base-url", metavar="URL", help="absolute URL the folder will be served at")
    a.add_argument("--pack", dest="pack", action="store_true", default=True,
                   help="build the pack (the default; it is rebuilt byte for byte from the models)")
    a.add_argument("--no-pack", dest="pack", action="store_false", help="do not build the pack")
    action("where")
    return p


def models_request(args: argparse.Namespace) -> ModelsRequest:
    """The typed request for the parsed ``models`` command line."""
    given = vars(args)
    request = ModelsRequest(action=given.get("action") or "list")
    for name in ModelsRequest.__dataclass_fields__:
        if name != "action" and name in given:
            setattr(request, name, given[name])
    return request


def run_models(host: Host, args: argparse.Namespace, con: Console) -> int:
    if getattr(args, "action", None) == "fetch" and not args.styles and not args.all:
        raise CommandLineError("fetch: name at least one STYLE, or --all")
    bars = con.progress()
    try:
        result = host.manage_models(models_request(args), progress=bars, plugin=args.plugin)
    finally:
        bars.close()
    for warning in result.warnings:
        con.warn(warning)
    if con.json:
        con.emit(result)
    elif result.text:
        con.out(result.text.rstrip("\n"))
    return ExitCode.OK if result.ok else ExitCode.FAILURE


SHARED_COMMANDS: dict[str, HostCommand] = {
    "compose": run_compose,
    "styles": run_styles,
    "models": run_models,
}


def add_shared_commands(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    add_compose_command(sub, parents)
    add_styles_command(sub, parents)
    add_models_command(sub, parents)
