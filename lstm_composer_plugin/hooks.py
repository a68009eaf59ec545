"""The LSTM composer's side of the host contract (``hostapi.hookspecs``).

Registered through the ``lstm_composer`` entry point as the plugin named ``lstm``.
Each hook is thin glue over the module that does the work; heavy imports (the
engine, TensorFlow, requests) happen inside the hooks, so that a host listing its
plugins pays nothing for this one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

from hostapi import hookimpl
from hostapi.results import (
    ComposeOptions,
    CompositionResult,
    ModelsResult,
    ProgressCallback,
    RuntimeReport,
    StyleInfo,
    TrainingResult,
    TrainOptions,
)
from lstm_composer_plugin.errors import UsageError

PLUGIN = "lstm"


def _store(offline: bool = False):
    from lstm_composer_plugin.models import bundled_models
    from model_store import Store

    return Store(bundled=bundled_models(), offline=True if offline else None)


@hookimpl
def list_styles(offline: bool) -> list[StyleInfo]:
    return [entry.to_style_info(plugin=PLUGIN) for entry in _store(offline).styles()]


@hookimpl
def compose(style: str, options: ComposeOptions, progress: ProgressCallback) -> CompositionResult | None:
    from lstm_composer_plugin.compose.composer import compose as compose_style

    # Answer only for styles this plugin has (bundled, installed or in the catalogue), so that
    # another composer plugin gets its turn for the rest.
    if style not in {entry.name for entry in _store(options.offline).styles()}:
        return None
    result = compose_style(style, options, progress=progress)
    result.plugin = PLUGIN
    return result


@hookimpl
def train(
    corpus_dir: Path, style: str, out_dir: Path, options: TrainOptions, progress: ProgressCallback
) -> TrainingResult:
    from lstm_composer_plugin.train.trainer import train_with_options

    result = train_with_options(corpus_dir, style, out_dir, options, progress)
    result.plugin = PLUGIN
    return result


@hookimpl
def check_runtime(deep: bool) -> RuntimeReport:
    from lstm_composer_plugin.runtime import check_runtime as check

    return check(probe_tensorflow=deep, plugin=PLUGIN)


@hookimpl
def manage_models(action: str, args: list[str], progress: ProgressCallback) -> ModelsResult:
    from lstm_composer_plugin.models import bundled_models
    from model_store.cli import add_models_parser, execute

    parser = argparse.ArgumentParser(prog="models", add_help=False, exit_on_error=False)
    add_models_parser(parser.add_subparsers(dest="command"))
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed = parser.parse_args(["models", action, *args])
    except (argparse.ArgumentError, SystemExit) as exc:
        detail = err.getvalue().strip().splitlines()
        raise UsageError(f"models {action}: {detail[-1] if detail else exc}") from None
    payload, text, code, warnings = execute(parsed, bundled_models(), progress)
    lines = [f"warning: {w}" for w in warnings] + list(text)
    return ModelsResult(action=action, plugin=PLUGIN, ok=code == 0, text="\n".join(lines), data=payload)
