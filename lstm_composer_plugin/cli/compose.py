"""``lstm-composer compose`` and ``lstm-composer styles``.

Mounted by ``cli.build_parser``. Nothing heavy is imported until a command runs,
so ``lstm-composer --help`` and the compose path stay fast (no TensorFlow, no
matplotlib unless ``--png``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_compose_parser(sub: Any) -> None:
    p = sub.add_parser("compose", help="compose a new piece in a style (NumPy only; no TensorFlow)")
    p.add_argument("--style", help="the style to compose in (see `lstm-composer styles`)")
    p.add_argument("-o", "--output", type=Path, help="MIDI file to write (default: STYLE-SEED.mid)")
    p.add_argument("--length", type=int, help="number of events (default 500)")
    p.add_argument("--seconds", type=float, help="compose about this many seconds instead of --length events")
    p.add_argument("--seed", type=int, help="random seed: the same seed and model give the same file")
    p.add_argument("--temperature", type=float, help="above 1 more adventurous, below 1 safer (default 1.0)")
    p.add_argument("--top-k", type=int, help="draw only from the K likeliest events")
    p.add_argument("--top-p", type=float, help="draw only from the likeliest events that make up P of the probability")
    p.add_argument("--repetition-penalty", type=float, help="discourage recently used events (1 = off, e.g. 1.2)")
    p.add_argument("--variations", type=int, default=1, help="compose N variations at once (FILE-2.mid, ...)")
    p.add_argument("--primer", type=Path, help="a MIDI file to continue (default: a random opening of the style)")
    p.add_argument("--tempo", type=float, help="beats per minute (default: the primer's, else 120)")
    p.add_argument("--png", action="store_true", help="also draw a piano roll (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the result and report as JSON")
    p.add_argument("--offline", action="store_true", help="never use the network (no model download)")
    p.add_argument("--model", type=Path, help="compose with this model file instead of a style's")
    p.set_defaults(func=run_compose)


def add_styles_parser(sub: Any) -> None:
    p = sub.add_parser("styles", help="list the styles available here and in the catalogue")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--offline", action="store_true", help="do not fetch the catalogue (use a cached copy)")
    p.set_defaults(func=run_styles)


def run_compose(args: argparse.Namespace) -> int:
    from hostapi.results import ComposeOptions
    from lstm_composer_plugin.compose.composer import compose
    from lstm_composer_plugin.errors import UsageError

    if not args.style and not args.model:
        raise UsageError("compose needs --style NAME (or --model FILE)")
    options = ComposeOptions.from_namespace(args)
    result = compose(args.style or "", options, model_path=args.model, progress=_DownloadProgress())
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    r = result.report
    print(
        f"wrote {result.path}: {result.events} events, {result.duration_seconds:.1f} s, "
        f"seed {result.seed} (model {result.model_id or '?'}, epoch {result.epoch})"
    )
    for extra in result.variations[1:]:
        print(f"wrote {extra}")
    if result.png_path:
        print(f"wrote {result.png_path}")
    line = f"longest repeated event {r['longest_repeat']}, {r['distinct_per_100']} distinct per 100"
    if "longest_borrowed_run" in r:
        src = f" ({r['borrowed_from']})" if r["borrowed_from"] else ""
        line = f"longest borrowed run {r['longest_borrowed_run']} events{src}, 8-gram share {r['ngram8_share']:.1%}; " + line
    print(f"originality: {line}")
    return 0


def run_styles(args: argparse.Namespace) -> int:
    from lstm_composer_plugin.models import list_styles

    rows, warnings = list_styles(offline=args.offline)
    for w in warnings:
        print(f"lstm-composer: warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no styles: none bundled, none installed, no catalogue configured")
        return 0
    for row in rows:
        state = "installed" if row.get("installed") else "download" if row.get("needs_download") else "-"
        size = f"{row['size'] / 1e6:.1f} MB" if row.get("size") else ""
        print(f"{row['name']:<16} {row.get('source', ''):<9} {state:<9} {size:>8}  {row.get('title', '')}")
    return 0


class _DownloadProgress:
    """Shows a model download on stderr (every 10 %); composing itself is quick and silent."""

    def __init__(self) -> None:
        self.shown = -1

    def __call__(self, p: Any) -> None:
        if getattr(p, "stage", "") != "download" or not p.total:
            return
        tenth = int(10 * p.done / p.total)
        if tenth > self.shown:
            self.shown = tenth
            print(f"downloading model: {10 * tenth} % of {p.total / 1e6:.1f} MB", file=sys.stderr)
