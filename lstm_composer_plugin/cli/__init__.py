"""``lstm-composer``: the plugin's own command line.

``corpus``, ``train`` and ``train-report`` are this plugin's own commands. ``compose``,
``styles`` and ``models`` are the host's (:mod:`hostapi.commands`), run through a
:class:`~hostapi.Host` that holds only this plugin, so they take the same words, print
the same output and exit with the same codes as ``voc-host`` (``docs/errors.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from hostapi import ExitCode, Host
from hostapi import commands as host_commands
from lstm_composer_plugin.cli.train import add_report_parser, add_train_parser
from lstm_composer_plugin.cli.train_all import add_train_all_parser
from lstm_composer_plugin.errors import UsageError

PROG = "lstm-composer"


def build_parser() -> argparse.ArgumentParser:
    parser = host_commands.Parser(prog=PROG, description="Compose MIDI music with one LSTM per style; train new styles.")
    host_commands.add_global_options(parser, after_command=False)
    common = host_commands.global_parent()
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=host_commands.Parser
    )

    corpus = sub.add_parser("corpus", parents=[common], help="inspect a folder of MIDI files")
    csub = corpus.add_subparsers(
        dest="corpus_command", required=True, parser_class=host_commands.Parser
    )
    inspect = csub.add_parser(
        "inspect", parents=[common], help="read MIDI files and report notes, events, vocabulary"
    )
    inspect.add_argument("path", help="a MIDI file or a folder (searched recursively)")
    inspect.add_argument(
        "--min-count", type=int, default=2, help="vocabulary minimum count (default 2)"
    )
    inspect.set_defaults(func=run_corpus_inspect)

    add_train_parser(sub)
    add_train_all_parser(sub)
    add_report_parser(sub)
    host_commands.add_shared_commands(sub, [common])
    return parser


def run_corpus_inspect(args: argparse.Namespace) -> int:
    from lstm_composer_plugin.music.corpus import load_corpus

    if args.min_count < 1:
        raise UsageError(f"--min-count must be at least 1, not {args.min_count}")
    warnings: list[str] = []
    corpus = load_corpus(args.path, warn=warnings.append)
    summary = corpus.summary(min_count=args.min_count)
    if args.json:
        out = {
            "files": [
                {
                    "path": f.path,
                    "ok": f.ok,
                    "notes": f.notes,
                    "events": f.events,
                    "error": f.error or None,
                    "truncated": f.truncated or None,
                }
                for f in corpus.files
            ],
            **summary,
        }
        out["skipped"] = len(corpus.skipped)
        out["skipped_files"] = summary["skipped"]
        print(json.dumps(out, indent=1))
    else:
        for w in warnings:
            print(f"{PROG}: warning: {w}", file=sys.stderr)
        print(
            f"{summary['root']}: {summary['files_read']} files read, "
            f"{summary['files_skipped']} skipped"
        )
        for f in corpus.files:
            if f.truncated:
                print(f"  {f.path}: read only up to where it is cut ({f.truncated})")
        print(f"  notes {summary['notes']}, events {summary['events']}")
        print(
            f"  vocabulary {summary['vocab_size']} events with count >= {summary['min_count']}, "
            f"covering {summary['coverage']:.1%} of events "
            "(the rest fall back to their nearest neighbour)"
        )
    if not corpus.pieces:
        why = f"none of its {summary['files_skipped']} MIDI files could be read" if corpus.files else "no MIDI files in it"
        print(f"{PROG}: error: {args.path}: {why} (.mid/.midi, searched in subfolders too)", file=sys.stderr)
        return ExitCode.FAILURE
    return ExitCode.OK


def _plugin_host(args: argparse.Namespace) -> Host:
    from lstm_composer_plugin import hooks

    # Only this plugin, whatever else is installed: this is the plugin's own command line.
    return Host(plugins=[(hooks.PLUGIN, hooks)], load_entry_points=False, env={})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet = "-q" in argv or "--quiet" in argv
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    return host_commands.run(
        PROG,
        build_parser(),
        argv,
        host_commands=host_commands.SHARED_COMMANDS,
        make_host=_plugin_host,
        name_plugins=False,
    )


if __name__ == "__main__":
    sys.exit(main())
