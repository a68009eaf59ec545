"""The last stage: the choice, OUT/model.lstmc (chosen: true), the final graphs and the GIF; re-picks.

    finish()   after training: choose (or take ``--epoch N``), ship it, draw, write metrics.json
    repick()   ``--epoch N|auto`` on an existing run: ship another checkpoint, without training

Shipping rewrites the chosen checkpoint's model file with a new manifest only: that file
already holds exactly the float16 weights the scorecard measured, so no TensorFlow is needed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lstm_composer_plugin import PLUGIN
from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.modelfile import ModelFile, load_model, save_model
from lstm_composer_plugin.train import checkpoints as ck
from lstm_composer_plugin.train.choose import Choice, Thresholds, user_choice
from lstm_composer_plugin.train.prepare import PreparedRun
from lstm_composer_plugin.train.record import (
    choose,
    manifest,
    manifest_metrics,
    metrics_doc,
    plot,
    portable_settings,
    quality,
    title_line,
)
from lstm_composer_plugin.train.settings import TrainSettings

log = logging.getLogger(__name__)


def finish(run: PreparedRun, state: ck.RunState, epoch: int | None, *, status: str,
           say: Callable[[str], None]) -> Choice:
    """Choose, ship the chosen checkpoint as OUT/model.lstmc, draw the final graphs and the GIF."""
    from lstm_composer_plugin.train.charts import make_gif

    recommended = choose(state, run.thresholds)
    choice = recommended
    if epoch is not None:
        check_epoch(run.out, epoch)
        choice = user_choice(epoch, recommended)
    if choice.epoch is not None:
        ship(run.out, choice, state, run=run)
    plot(run, state, choice, run.out / ck.GRAPH_FILE)
    frames = [d / ck.GRAPH_FILE for _, d in ck.list_checkpoints(run.out)] + [run.out / ck.GRAPH_FILE]
    make_gif(frames, run.out / ck.GIF_FILE)
    ck.write_json(run.out / ck.METRICS_FILE, metrics_doc(run, state, choice, status=status, recommended=recommended))
    if choice.epoch is not None:
        if not run.validated:
            say("notice: no validation loss in this run (too few or too short held-out pieces): the epoch was "
                "chosen on training loss, which keeps falling as a network memorises; the copy limits guard")
        say(f"recommended epoch {recommended.epoch}: {recommended.reason}")
        say(f"wrote {run.out / ck.MODEL_FILE} (epoch {choice.epoch})")
    else:
        say("no checkpoint was written, so there is no model to ship")
    return choice


def ship(out: Path, choice: Choice, state: ck.RunState, *, run: PreparedRun | None = None) -> Path:
    """Re-export checkpoint ``choice.epoch`` as OUT/model.lstmc with chosen: true and the final metrics."""
    source = ck.checkpoint_dir(out, choice.epoch) / ck.MODEL_FILE
    mf = load_model(source)
    doc = dict(mf.manifest)
    if run is not None:
        doc.update(manifest(run, state, choice.epoch, chosen=True, choice=choice))
    else:  # re-pick without the corpus: update what the choice and the final metrics change
        metrics = doc.get("metrics", {})
        doc["chosen"] = True
        doc["choice"] = {"epoch": choice.epoch, "reason": choice.reason, "auto": choice.auto}
        doc["metrics"] = manifest_metrics(state, metrics.get("baseline", {}), metrics.get("thresholds", {}))
        doc["quality"] = quality(state, choice.epoch, metrics.get("baseline", {}))
        training = {**doc.get("training", {}), "seconds": round(state.seconds, 1), "epochs_run": state.epoch}
        if isinstance(training.get("settings"), dict):  # a checkpoint written before the settings were portable
            training["settings"] = portable_settings(training["settings"])
        doc["training"] = training
    with_own_figures(doc, mf, source)
    return save_model(out / ck.MODEL_FILE, doc, mf.arrays)


def with_own_figures(doc: dict[str, Any], mf: ModelFile, path: Path) -> None:
    """Put the model's own figures beside its style's in ``doc``'s profile, as shipping does (compositions
    with the NumPy engine, a few seconds, ``note_composer.shipping_figures``): its semitone clashes per bar
    (composing draws clashing bars again only for a model that clashes well above its style,
    ``note_composer.CLASH_EXCESS``) and its bars' density classes (composing corrects the density control
    toward the style's only where they differ by much, ``note_composer.DENSITY_GAP``)."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.note_composer import NoteModel, shipping_figures

    record = doc.get("encoding")
    profile = record.get("profile") if isinstance(record, dict) else None
    if not isinstance(profile, dict) or not (profile.get("clashes") or profile.get("density")):
        return  # not a model with bar controls, or one trained before the profile measured either
    net = NumpyNetwork.from_model(mf)
    clashes, density = shipping_figures(net, NoteModel.from_model(mf, path, net.n_vocab),
                                        (profile.get("density") or {}).get("style"))
    profile = dict(profile)
    if profile.get("clashes") and clashes is not None:
        profile["clashes"] = {**profile["clashes"], "model": clashes}
    if density:
        profile["density"] = density
    doc["encoding"] = {**record, "profile": profile}


def check_epoch(out: Path, epoch: int) -> None:
    have = [e for e, _ in ck.list_checkpoints(out)]
    if epoch not in have:
        listing = ", ".join(map(str, have)) or "none"
        raise UsageError(f"--epoch {epoch}: no checkpoint at that epoch in {out} (checkpoints: {listing})")


def repick(out_dir: str | os.PathLike[str], epoch: int | str, *, say: Callable[[str], None] | None = None,
           why: str | None = None, measured: list[dict[str, Any]] | None = None) -> Any:
    """``--epoch N`` on an existing run: ship checkpoint N instead, without training (or TensorFlow).

    ``epoch="auto"`` ships the recommendation of the current rule (after the rule changed). ``why`` says who
    chose N and how (``bench/pick_checkpoint.py``: by measurement against held-out pieces), and ``measured``
    keeps that measurement's rows in ``metrics.json`` for the scorecard.
    Returns a ``hostapi.results.TrainingResult``.
    """
    from hostapi.results import TrainingResult
    from lstm_composer_plugin.train.charts import plot_run

    say = say or log.info
    out = Path(out_dir)
    try:
        doc = ck.read_json(out / ck.METRICS_FILE)
    except FileNotFoundError:
        raise UsageError(f"{out}: no {ck.METRICS_FILE} yet (no checkpoint written): nothing to pick from") from None
    state = ck.RunState(epoch=doc["epochs_run"], history=doc["history"], checkpoints=doc["checkpoints"],
                        seconds=doc.get("seconds", 0.0), fault=doc.get("fault"))
    recommended = choose(state, Thresholds.from_dict(doc["thresholds"]))
    if epoch == "auto":
        if recommended.epoch is None:
            raise UsageError(f"{out}: {recommended.reason}: nothing to pick from")
        epoch = recommended.epoch
    check_epoch(out, epoch)
    choice = recommended if epoch == recommended.epoch and why is None else user_choice(epoch, recommended, why)
    ship(out, choice, state)
    doc["choice"] = choice.to_dict()
    if measured is not None:
        doc["measured"] = measured
    doc["recommended"] = {"epoch": recommended.epoch, "reason": recommended.reason}
    ck.write_json(out / ck.METRICS_FILE, doc)
    info = ck.read_json(out / ck.RUN_FILE)
    settings = TrainSettings.from_dict(info["settings"])
    plot_run(out / ck.GRAPH_FILE, state.history, state.checkpoints, choice=choice.to_dict(),
             title=title_line(None, settings, info["style"]), epochs_total=doc.get("epochs_planned", state.epoch),
             thresholds=doc["thresholds"], baseline=doc.get("baseline"))
    say(f"wrote {out / ck.MODEL_FILE} (epoch {epoch}; recommended: {recommended.epoch})")
    return TrainingResult(out_dir=out, style=info["style"], model_path=out / ck.MODEL_FILE, epochs_run=state.epoch,
                          recommended_epoch=recommended.epoch, reason=choice.reason,
                          metrics_path=out / ck.METRICS_FILE, plugin=PLUGIN)


__all__ = ["check_epoch", "finish", "repick", "ship"]
