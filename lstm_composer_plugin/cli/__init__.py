"""``lstm-composer``: the plugin's own command line (corpus, train, compose, styles, models).

Every user mistake ends as one line on stderr and a non-zero exit status:
1 for a failure, 2 for a usage error. Tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from lstm_composer_plugin.errors import ComposerError, UsageError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lstm-composer", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    corpus = sub.add_parser("corpus", help="inspect a folder of MIDI files")
    csub = corpus.add_subparsers(dest="corpus_command", required=True, parser_class=_Parser)
    inspect = csub.add_parser("inspect", help="read MIDI files and report notes, events, vocabulary")
    inspect.add_argument("path", help="a MIDI file or a folder (searched recursively)")
    inspect.add_argument("--min-count", type=int, default=2, help="vocabulary minimum count (default 2)")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.set_defaults(func=run_corpus_inspect)

    for add in _optional_parsers():
        add(sub)
    return parser


def _optional_parsers():
    """Subcommands that live beside their code (train, compose, styles, models)."""
    adders = []
    try:
        from lstm_composer_plugin.cli.train import add_report_parser, add_train_parser

        adders += [add_train_parser, add_report_parser]
    except ImportError:
        pass
    try:
        from lstm_composer_plugin.cli.compose import add_compose_parser, add_styles_parser

        adders += [add_compose_parser, add_styles_parser]
    except ImportError:
        pass
    try:
        from lstm_composer_plugin.cli.models import add_models_parser

        adders.append(add_models_parser)
    except ImportError:
        pass
    return adders


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
                {"path": f.path, "ok": f.ok, "notes": f.notes, "events": f.events, "error": f.error or None}
                for f in corpus.files
            ],
            **summary,
        }
        out["skipped"] = len(corpus.skipped)
        out["skipped_files"] = summary["skipped"]
        print(json.dumps(out, indent=1))
    else:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(f"{summary['root']}: {summary['files_read']} files read, {summary['files_skipped']} skipped")
        print(f"  notes {summary['notes']}, events {summary['events']}")
        print(
            f"  vocabulary {summary['vocab_size']} events with count >= {summary['min_count']}, "
            f"covering {summary['coverage']:.1%} of events (the rest fall back to their nearest neighbour)"
        )
    return EXIT_OK if corpus.pieces else EXIT_FAIL


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"lstm-composer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ComposerError as exc:
        print(f"lstm-composer: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("lstm-composer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
