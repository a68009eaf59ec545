"""``lstm-composer models …``: the model store's commands, with this package's bundled models."""

from __future__ import annotations

import argparse
from typing import Any


def add_models_parser(subparsers: Any) -> argparse.ArgumentParser:
    from model_store.cli import add_models_parser as add_store_parser

    parser = add_store_parser(subparsers)
    parser.set_defaults(func=run_models)
    return parser


def run_models(args: argparse.Namespace) -> int:
    from lstm_composer_plugin.models import bundled_models
    from model_store.cli import run_models as run_store

    return run_store(args, bundled=bundled_models())
