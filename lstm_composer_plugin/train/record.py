"""What a checkpoint records: resumable state, the exported model and its manifest, scorecard, graphs, metrics.

    write_checkpoint()   one checkpoint, assembled in ``.partial`` and renamed into place
    choose()             the epoch choice over the checkpoints so far (``choose.choose_epoch``)
    metrics_doc()        metrics.json: history, scorecards, thresholds, the choice
    manifest()           what an exported model says about itself beyond its weights

The series the choice judges is the validation loss, or the training loss when the run has
no validation pieces; ``judged_series`` returns it with its name, so every sentence that
explains a choice says which one it was.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from lstm_composer_plugin.train import checkpoints as ck
from lstm_composer_plugin.train.choose import Choice, Thresholds, choose_epoch
from lstm_composer_plugin.train.prepare import PreparedRun


def write_checkpoint(model: Any, run: PreparedRun, state: ck.RunState, *, say: Callable[[str], None]) -> Path:
    """Write checkpoint ``state.epoch``: resumable state, exported model, scorecard, graphs, metrics."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.train.export import describe_layers, export_model
    from lstm_composer_plugin.train.scorecard import scorecard

    epoch = state.epoch
    tmp = ck.begin_checkpoint(run.out, epoch)
    ck.save_keras_state(model, tmp / ck.KERAS_FILE)

    # The scorecard runs the weights exactly as they will be shipped (float16, NumPy engine).
    layers, weights = describe_layers(model)
    net = NumpyNetwork(layers, {k: v.astype(np.float16) for k, v in weights.items()})
    drawn: list[list[int]] = []
    card = scorecard(net, run.index, run.stats, run.tokens, samples=run.settings.samples,
                     n_events=run.settings.sample_events, drawn=drawn)
    if drawn:
        sample_roll(run, drawn[0], tmp / ck.SAMPLE_ROLL, epoch)
    record = {"epoch": epoch, **{k: v[-1] for k, v in state.history.items()}, **card}
    state.checkpoints.append(record)
    choice = choose(state, run.thresholds)

    export_model(model, tmp / ck.MODEL_FILE, config=run.config, token_set=run.tokens,
                 manifest_extra=manifest(run, state, epoch, chosen=False, choice=choice),
                 corpus_tokens=run.train_tokens, corpus_offsets=run.train_offsets, corpus_names=run.train_names)
    doc = metrics_doc(run, state, choice, status="running")
    ck.write_json(tmp / ck.METRICS_FILE, doc)
    plot(run, state, choice, tmp / ck.GRAPH_FILE)
    final = ck.commit_checkpoint(tmp, state)
    # The run's top-level view follows the newest checkpoint.
    ck.write_json(run.out / ck.METRICS_FILE, doc)
    shutil.copyfile(final / ck.GRAPH_FILE, run.out / ck.GRAPH_FILE)
    f = card["summary"]
    say(
        f"checkpoint epoch {epoch}: longest run {f['longest_run']:g}, {f['distinct_per_100']:.0f} distinct/100, "
        f"verbatim run {f['copy_run']:g} (max {f['copy_run_max']}), 8-gram share {f['ngram_share']:.2f}; "
        f"recommended so far: epoch {choice.epoch}"
    )
    return final


def sample_roll(run: PreparedRun, tokens: list[int], path: Path, epoch: int) -> Path | None:
    """A piano roll of one sample of this checkpoint, to see what the epoch composes (None without matplotlib)."""
    if importlib.util.find_spec("matplotlib") is None:
        return None
    from lstm_composer_plugin.compose.pianoroll import render_pianoroll

    notes = run.tokens.codec.decode(tokens)
    bpm = float(run.stats.get("bpm") or 120.0)
    return render_pianoroll(notes, path, bpm=bpm, title=f"{run.style}, epoch {epoch}: a sample")


def choose(state: ck.RunState, thresholds: Thresholds) -> Choice:
    series, measure = judged_series(state)
    return choose_epoch(series, state.checkpoints, thresholds, measure=measure)


def judged_series(state: ck.RunState) -> tuple[list[float], str]:
    """The validation loss (training loss without validation) up to the last good epoch, and its name."""
    if state.history.get("val_loss"):
        series, measure = state.history["val_loss"], "validation loss"
    else:
        series, measure = state.history.get("loss") or [], "training loss"
    series = [math.nan if v is None else float(v) for v in series]
    if state.fault:  # the broken epoch must not leak into the smoothing of the good ones
        series = series[: int(state.fault["epoch"]) - 1]
    return series, measure


def plot(run: PreparedRun, state: ck.RunState, choice: Choice, path: Path) -> None:
    from lstm_composer_plugin.train.charts import plot_run

    plot_run(path, state.history, state.checkpoints, choice=choice.to_dict(), title=title_line(run),
             epochs_total=run.settings.epochs, thresholds=run.thresholds.to_dict(), baseline=run.baseline)


def title_line(run: PreparedRun | None, settings: Any = None, style: str = "") -> str:
    s = run.settings if run is not None else settings
    style = run.style if run is not None else style
    pieces = f", {len(run.train_names)} pieces" if run is not None else ""
    return (f"{style}: {s.recipe} recipe, {s.encoding} encoding, LSTM {'/'.join(map(str, s.lstm_units))}, "
            f"{s.input} input{pieces}")


def metrics_doc(run: PreparedRun, state: ck.RunState, choice: Choice, *, status: str,
                recommended: Choice | None = None) -> dict[str, Any]:
    recommended = recommended or choice
    return {
        "style": run.style,
        "status": status,
        "epochs_planned": run.settings.epochs,
        "epochs_run": state.epoch,
        "seconds": round(state.seconds, 1),
        "settings": asdict(run.settings),
        "judged_on": choice.measure,
        "history": state.history,
        "checkpoints": state.checkpoints,
        "baseline": run.baseline,
        "thresholds": run.thresholds.to_dict(),
        "choice": choice.to_dict(),
        "recommended": {"epoch": recommended.epoch, "reason": recommended.reason},
        "fault": state.fault,
    }


def manifest(run: PreparedRun, state: ck.RunState, epoch: int, *, chosen: bool, choice: Choice) -> dict[str, Any]:
    """What the exported model says about itself beyond its weights (docs/model-format.md)."""
    s = run.settings
    title = s.title or run.style.replace("_", " ").title()
    return {
        "style": run.style,
        "title": title,
        "description": s.description or (
            f"{title}: an LSTM ({'/'.join(map(str, s.lstm_units))}) trained on {len(run.train_names)} "
            f"pieces ({run.n_units:,} {run.tokens.unit}s)."
        ),
        "model_id": f"{run.style}-e{epoch:04d}",
        "epoch": epoch,
        "chosen": chosen,
        "choice": {"epoch": choice.epoch, "reason": choice.reason, "auto": choice.auto},
        "metrics": manifest_metrics(state, run.baseline, run.thresholds.to_dict()),
        "corpus": {**run.corpus_info, "train_pieces": run.train_names, "val_pieces": run.val_names},
        "stats": run.tokens.manifest_stats(run.stats, run.train_tokens, run.train_offsets),
        "quality": quality(state, epoch, run.baseline),
        "training": {"seconds": round(state.seconds, 1), "epochs_run": state.epoch,
                     "settings": portable_settings(asdict(s))},
    }


def portable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as a model file carries them: ``init_from`` named by its last part (``_corpus``,
    ``corpus-e0027.lstmc``, a style name), not by a folder of the machine it was trained on, which
    means nothing where the file is published and downloaded (``run.json`` keeps the whole path)."""
    start = settings.get("init_from")
    if isinstance(start, str) and ("/" in start or "\\" in start):
        path = PureWindowsPath(start) if "\\" in start else PurePosixPath(start)
        # A run's own shipped model (``RUN/model.lstmc``) is named by its run, as the run folder would be.
        name = path.parent.name if path.name == ck.MODEL_FILE and path.parent.name else path.name
        settings = {**settings, "init_from": name}
    return settings


def manifest_metrics(state: ck.RunState, baseline: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    return {
        "history": state.history,
        "checkpoints": [
            {"epoch": c["epoch"], "val_loss": _round(c.get("val_loss")),
             "val_bits_per_note": _round(c.get("val_bits_per_note")), "scorecard": c["summary"]}
            for c in state.checkpoints
        ],
        "baseline": baseline,
        "thresholds": thresholds,
    }


def quality(state: ck.RunState, epoch: int, baseline: dict[str, Any]) -> dict[str, Any]:
    """A catalogue's summary of these weights: validation figures and what their samples copy."""
    cp = next((c for c in state.checkpoints if c["epoch"] == epoch), None)
    if cp is None:
        return {}
    f = cp["summary"]
    return {
        "epoch": epoch,
        "val_loss": _round(cp.get("val_loss")),
        "val_accuracy": _round(cp.get("val_accuracy")),
        "val_bits_per_note": _round(cp.get("val_bits_per_note")),
        "copy_run": f["copy_run"],
        "copy_run_max": f["copy_run_max"],
        "ngram_share": f["ngram_share"],
        "longest_run": f["longest_run"],
        "distinct_per_100": f["distinct_per_100"],
        "real_pieces": {k: baseline.get(k) for k in ("copy_run", "ngram_share", "longest_run", "distinct_per_100")},
    }


def _round(x: Any, digits: int = 4) -> Any:
    return round(float(x), digits) if isinstance(x, (int, float)) and math.isfinite(x) else None


__all__ = ["choose", "judged_series", "manifest", "manifest_metrics", "metrics_doc", "plot", "quality",
           "title_line", "write_checkpoint"]
