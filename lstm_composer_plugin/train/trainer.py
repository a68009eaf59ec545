"""Training one LSTM per style: the entry point that runs the stages in order.

    train()      a fresh run, ``resume``, or ``epoch=N`` to re-pick; the stages:
      prepare.prepare()          corpus → validation split → vocabulary → token streams (→ run.json)
      fit.fit()                  the loop: epochs, validation, snapshots, a checkpoint every N epochs
      record.write_checkpoint()  state.keras, model.lstmc, scorecard, graphs.png, metrics.json
      finish.finish()            the choice, OUT/model.lstmc (chosen: true), training.gif
    finish.repick()              ``--epoch N|auto`` on a finished run, without training

Before anything is written the run checks what it needs (TensorFlow, matplotlib and pillow:
the ``train`` extra) and that its folder can be written, so a failure leaves nothing behind
that a second attempt would trip over. TensorFlow is imported only inside ``fit``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from lstm_composer_plugin import PLUGIN
from lstm_composer_plugin.errors import ComposerError, UsageError
from lstm_composer_plugin.train import checkpoints as ck
from lstm_composer_plugin.train.finish import finish, repick
from lstm_composer_plugin.train.fit import fit
from lstm_composer_plugin.train.prepare import prepare
from lstm_composer_plugin.train.record import write_checkpoint
from lstm_composer_plugin.train.settings import TrainSettings

log = logging.getLogger(__name__)

# What training imports, and the distribution a user installs for each (all in the train extra).
TRAIN_MODULES = {"tensorflow": "tensorflow", "keras": "keras", "matplotlib": "matplotlib", "PIL": "pillow"}
INSTALL_HINT = "pip install 'lstm-composer-plugin[train]'"


def train(
    corpus_dir: str | os.PathLike[str],
    style: str,
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    epoch: int | str | None = None,  # a checkpoint, or "auto" (the recommendation)
    progress: Callable[[Any], None] | None = None,  # hostapi.results.ProgressCallback
    say: Callable[[str], None] | None = None,
    **settings: Any,
) -> Any:  # hostapi.results.TrainingResult
    """Train (or resume, or re-pick) the network for ``style`` on the MIDI files in ``corpus_dir``.

    ``settings`` are :class:`TrainSettings` fields (``epochs=300``, ``lstm_units=[512, 256]``, ...).
    ``resume`` continues the run in ``out_dir`` from its newest saved state (only
    ``RESUMABLE`` settings may change). ``epoch`` ships that checkpoint instead of
    the recommended one; given alone on a finished run, it only re-picks.
    ``progress`` receives a ``Progress`` per epoch; ``say`` human-readable notices.
    """
    from hostapi.commands import STYLE_NAME
    from hostapi.results import TrainingResult

    say = say or log.info
    out = Path(out_dir)
    if not STYLE_NAME.fullmatch(style):  # the rule compose and the store use: checked before any reading
        raise UsageError(f"{style!r} is not a style name (letters, digits, '.', '_' and '-'; at most 64)")
    unknown = set(settings) - {f.name for f in fields(TrainSettings)}
    if unknown:
        raise UsageError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
    if not resume:
        TrainSettings(**settings).validate()  # a bad value fails before the corpus is read
    existing = (out / ck.RUN_FILE).exists()

    if existing and not resume:
        if epoch is not None:
            return repick(out, epoch, say=say)
        raise UsageError(
            f"{out} already holds a training run: continue it with --resume, re-pick with --epoch N, or use another --out"
        )
    if resume and not existing:
        raise UsageError(f"{out}: nothing to resume (no {ck.RUN_FILE}); start without --resume")
    if epoch == "auto":  # training ends with the recommendation anyway
        epoch = None
    require_training_libraries()

    created = None if resume else make_run_folder(out)
    try:
        run = prepare(corpus_dir, style, out, settings, resume=resume, say=say)
    except BaseException:
        if created is not None:  # nothing of this attempt stays behind (run.json is written last)
            shutil.rmtree(created, ignore_errors=True)
        raise
    try:
        state, stop_reason = fit(run, resume=resume, progress=progress, say=say,
                                 on_checkpoint=lambda m, r, s: write_checkpoint(m, r, s, say=say))
        choice = finish(run, state, epoch, status=stop_reason, say=say)
    except OSError as exc:
        if exc.filename is None:
            raise
        raise ComposerError(f"{exc.filename}: {exc.strerror or exc}; fix that and continue with --resume") from None

    model_path = out / ck.MODEL_FILE
    return TrainingResult(
        out_dir=out,
        style=style,
        model_path=model_path if model_path.exists() else None,
        epochs_run=state.epoch,
        recommended_epoch=choice.epoch,
        reason=choice.reason,
        metrics_path=out / ck.METRICS_FILE,
        plugin=PLUGIN,
    )


def train_with_options(corpus_dir: Any, style: str, out_dir: Any, options: Any, progress: Any = None,
                       **settings: Any) -> Any:
    """The host hook's form: ``hostapi.results.TrainOptions`` (``extra`` holds any other setting)."""
    given = {k: v for k, v in (("epochs", options.epochs), ("checkpoint_every", options.checkpoint_every),
                               ("recipe", options.recipe), ("time_budget", getattr(options, "time_budget", None)),
                               ("init_from", getattr(options, "init_from", None))) if v is not None}
    return train(corpus_dir, style, out_dir, resume=options.resume, epoch=options.epoch, progress=progress,
                 **{**dict(options.extra or {}), **given, **settings})


def require_training_libraries() -> None:
    """Fail before anything is written when the train extra is not installed."""
    missing = [dist for module, dist in TRAIN_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ComposerError(
            f"training needs {', '.join(missing)}, not installed here: install the train extra ({INSTALL_HINT})"
        )


def make_run_folder(out: Path) -> Path | None:
    """Create ``out`` (and missing parents) and check it can be written; returns the topmost folder created.

    A folder that cannot be created or written is one line naming it, and whatever this
    call created is removed again.
    """
    top = None
    for folder in [out, *out.parents]:
        if folder.exists():
            break
        top = folder
    probe = out / f".write-test-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        where = out if exc.filename in (None, str(probe)) else exc.filename
        raise ComposerError(f"{where}: cannot write the run folder there ({exc.strerror or exc})") from None
    return top


__all__ = ["INSTALL_HINT", "TrainSettings", "make_run_folder", "repick", "require_training_libraries", "train",
           "train_with_options"]
