"""Training one LSTM per style: the fit loop, checkpoints with graphs and scorecards, the epoch choice.

Read from the top:

    train()          the entry point: a fresh run, ``resume``, or ``epoch=N`` to re-pick
    _prepare()       corpus → validation split → vocabulary → token streams (→ run.json)
    _fit()           the loop: one epoch, fault check, progress, a checkpoint every N epochs
    _checkpoint()    state.keras (resumable), model.lstmc, scorecard, graphs.png, metrics.json
    _finish()        the choice, OUT/model.lstmc (chosen: true), training.gif, the result

TensorFlow is imported only inside ``_fit`` (and what it calls), so importing this
module, re-picking an epoch, or reading a run needs NumPy alone.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.modelfile import load_model, save_model
from lstm_composer_plugin.music.corpus import load_corpus
from lstm_composer_plugin.music.stats import CorpusIndex, style_stats
from lstm_composer_plugin.music.tokens import EventEncoding, Vocabulary, tokenize_pieces
from lstm_composer_plugin.train import checkpoints as ck
from lstm_composer_plugin.train.choose import (
    Choice,
    Thresholds,
    choose_epoch,
    detect_fault,
    user_choice,
)
from lstm_composer_plugin.train.dataset import epoch_rng, split_pieces
from lstm_composer_plugin.train.network import RECIPES, NetworkConfig
from lstm_composer_plugin.train.scorecard import SAMPLE_EVENTS, SAMPLES, baseline, scorecard

log = logging.getLogger(__name__)

# Settings that may change when a run is resumed; everything else is fixed by run.json.
RESUMABLE = ("epochs", "checkpoint_every", "time_budget", "learning_rate")


@dataclass
class TrainSettings:
    epochs: int = 500
    checkpoint_every: int = 25
    recipe: str = "default"  # "default": every position; "reference": the seed's windows
    input: str | None = None  # None: "embedding" for the default recipe, "scalar" for the reference
    embedding_dim: int = 64
    lstm_units: list[int] = field(default_factory=lambda: [512, 256])
    dense_units: int = 128
    dropout: float = 0.2
    seq_len: int = 100
    learning_rate: float | None = None  # None: 2e-3 (default recipe), Adam's 1e-3 (reference)
    batch_size: int = 64  # chunks of seq_len (default recipe) or windows (reference)
    min_count: int = 2
    val_fraction: float = 0.1
    seed: int = 0
    time_budget: float | None = None  # seconds of wall time for this invocation
    samples: int = SAMPLES  # scorecard compositions per checkpoint
    sample_events: int = SAMPLE_EVENTS
    title: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.input is None:
            self.input = "embedding" if self.recipe == "default" else "scalar"
        if self.learning_rate is None:
            # A batch of the default recipe holds seq_len times more targets than a
            # reference batch, so its gradients are less noisy and bear a larger step
            # (docs/training.md: the same validation loss in the same time as batch 16 at 1e-3).
            self.learning_rate = 2e-3 if self.recipe == "default" else 1e-3
        self.lstm_units = [int(u) for u in self.lstm_units]

    def validate(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise UsageError(what)

        need(self.recipe in RECIPES, f"recipe must be one of {', '.join(RECIPES)}, not {self.recipe!r}")
        need(self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}")
        need(self.checkpoint_every >= 1, f"checkpoint-every must be at least 1, not {self.checkpoint_every}")
        need(self.seq_len >= 2, f"seq-len must be at least 2, not {self.seq_len}")
        need(self.batch_size >= 1, f"batch size must be at least 1, not {self.batch_size}")
        need(self.learning_rate > 0, f"learning rate must be above 0, not {self.learning_rate}")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1), not {self.dropout}")
        need(bool(self.lstm_units) and min(self.lstm_units) >= 1, f"LSTM widths must be positive, not {self.lstm_units}")
        need(self.dense_units >= 1 and self.embedding_dim >= 1, "dense and embedding widths must be positive")
        need(self.min_count >= 1, f"min-count must be at least 1, not {self.min_count}")
        need(0 <= self.val_fraction < 1, f"val-fraction must be in [0, 1), not {self.val_fraction}")
        need(self.time_budget is None or self.time_budget > 0, f"time budget must be positive, not {self.time_budget}")
        need(self.samples >= 1 and self.sample_events >= 16, "the scorecard needs at least 1 sample of 16 events")

    def network(self, n_vocab: int) -> NetworkConfig:
        return NetworkConfig(
            n_vocab=n_vocab,
            recipe=self.recipe,
            input=self.input,
            embedding_dim=self.embedding_dim,
            lstm_units=list(self.lstm_units),
            dense_units=self.dense_units,
            dropout=self.dropout,
            seq_len=self.seq_len,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainSettings:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class _Run:
    """One training run's data, prepared once (fresh) or rebuilt from run.json (resume)."""

    out: Path
    style: str
    corpus_dir: Path
    settings: TrainSettings
    config: NetworkConfig
    vocab: Vocabulary
    encoding: EventEncoding
    train_tokens: np.ndarray
    train_offsets: np.ndarray
    train_names: list[str]
    val_tokens: np.ndarray
    val_offsets: np.ndarray
    val_names: list[str]
    corpus_info: dict[str, Any]  # fingerprint, files, skipped
    stats: dict[str, Any]  # style statistics of the training pieces
    index: CorpusIndex  # for the scorecard's copy measures
    baseline: dict[str, Any]  # the scorecard of real validation pieces
    thresholds: Thresholds

    @property
    def n_events(self) -> int:
        return int(len(self.train_tokens) - len(self.train_names))  # without separators


# -- the entry point ----------------------------------------------------------------


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
):  # -> hostapi.results.TrainingResult
    """Train (or resume, or re-pick) the network for ``style`` on the MIDI files in ``corpus_dir``.

    ``settings`` are :class:`TrainSettings` fields (``epochs=300``, ``lstm_units=[512, 256]``, ...).
    ``resume`` continues the run in ``out_dir`` from its last checkpoint (only
    ``RESUMABLE`` settings may change). ``epoch`` ships that checkpoint instead of
    the recommended one; given alone on a finished run, it only re-picks.
    ``progress`` receives a ``Progress`` per epoch; ``say`` human-readable notices.
    """
    from hostapi.results import TrainingResult

    say = say or log.info
    out = Path(out_dir)
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

    run = _prepare(corpus_dir, style, out, settings, resume=resume, say=say)
    state, stop_reason = _fit(run, resume=resume, progress=progress, say=say)
    choice = _finish(run, state, epoch, status=stop_reason, say=say)

    model_path = out / ck.MODEL_FILE
    return TrainingResult(
        out_dir=out,
        style=style,
        model_path=model_path if model_path.exists() else None,
        epochs_run=state.epoch,
        recommended_epoch=choice.epoch,
        reason=choice.reason,
        metrics_path=out / ck.METRICS_FILE,
        plugin="lstm",
    )


def train_with_options(corpus_dir, style, out_dir, options, progress=None, **settings: Any):
    """The host hook's form: ``hostapi.results.TrainOptions`` (``extra`` holds any other setting)."""
    given = {k: v for k, v in (("epochs", options.epochs), ("checkpoint_every", options.checkpoint_every),
                               ("recipe", options.recipe)) if v is not None}
    return train(corpus_dir, style, out_dir, resume=options.resume, epoch=options.epoch, progress=progress,
                 **{**dict(options.extra or {}), **given, **settings})


# -- preparing the data ----------------------------------------------------------------


def _prepare(corpus_dir, style: str, out: Path, overrides: dict[str, Any], *, resume: bool, say) -> _Run:
    corpus_dir = Path(corpus_dir)
    corpus = load_corpus(corpus_dir, warn=lambda m: say(f"warning: {m}"))
    names = corpus.names
    skipped = [{"path": f.path, "error": f.error} for f in corpus.skipped]

    if resume:
        info = ck.read_json(out / ck.RUN_FILE)
        if info["corpus"]["fingerprint"] != corpus.fingerprint():
            raise UsageError(
                f"{corpus_dir}: the MIDI files differ from those this run started with "
                f"(fingerprint {corpus.fingerprint()[:12]}, run {info['corpus']['fingerprint'][:12]}); "
                "train a new run with another --out"
            )
        settings = TrainSettings.from_dict(info["settings"])
        for k, v in overrides.items():
            if k in RESUMABLE:
                setattr(settings, k, v)
            elif v != getattr(settings, k):
                say(f"notice: --resume keeps the run's {k} ({getattr(settings, k)!r}); ignoring {v!r}")
        settings.validate()
        vocab = _restore_vocab(info["vocabulary"], corpus.events)
        encoding = EventEncoding.from_dict(info["encoding"])
        position = {n: i for i, n in enumerate(names)}
        train_idx = [position[n] for n in info["corpus"]["train_pieces"]]
        val_idx = [position[n] for n in info["corpus"]["val_pieces"]]
        config = NetworkConfig.from_dict(info["network"])
        config.learning_rate = settings.learning_rate
    else:
        settings = TrainSettings(**overrides)
        settings.validate()
        if not corpus.pieces:
            raise UsageError(f"{corpus_dir}: no readable MIDI files to train on")
        encoding = EventEncoding()
        split = split_pieces(names, settings.val_fraction)
        train_idx, val_idx = split.train, split.val
        if not val_idx:
            say("notice: no validation pieces (one piece, or --val-fraction 0): the choice uses training loss")
        vocab = Vocabulary.build([corpus.events[i] for i in train_idx], min_count=settings.min_count)
        config = settings.network(len(vocab))

    train_events = [corpus.events[i] for i in train_idx]
    val_events = [corpus.events[i] for i in val_idx]
    train_tokens, train_offsets = tokenize_pieces(train_events, vocab)
    val_tokens, val_offsets = tokenize_pieces(val_events, vocab)
    if len(train_tokens) < settings.seq_len + 1:
        raise UsageError(
            f"{corpus_dir}: {len(train_tokens)} training events are fewer than one sequence "
            f"({settings.seq_len + 1}); add pieces or lower --seq-len"
        )
    train_names = [names[i] for i in train_idx]
    stats = style_stats(train_events)
    index = CorpusIndex(train_tokens, train_offsets, train_names)
    base = baseline(val_tokens, val_offsets, index, stats, vocab, n_events=settings.sample_events)
    corpus_info = {"fingerprint": corpus.fingerprint(), "files": len(corpus.pieces), "skipped": skipped}

    run = _Run(
        out=out, style=style, corpus_dir=corpus_dir, settings=settings, config=config, vocab=vocab,
        encoding=encoding, train_tokens=train_tokens, train_offsets=train_offsets, train_names=train_names,
        val_tokens=val_tokens, val_offsets=val_offsets, val_names=[names[i] for i in val_idx],
        corpus_info=corpus_info, stats=stats, index=index, baseline=base,
        thresholds=Thresholds.from_baseline(base),
    )
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
        ck.write_json(out / ck.RUN_FILE, {
            "style": style,
            "corpus_dir": str(corpus_dir.resolve()),
            "settings": asdict(settings),
            "network": config.to_dict(),
            "vocabulary": vocab.to_dict(),
            "encoding": encoding.to_dict(),
            "corpus": {**corpus_info, "train_pieces": train_names, "val_pieces": run.val_names},
            "coverage": round(vocab.coverage(train_events), 4),
        })
    say(
        f"{style}: {len(train_idx)} training pieces ({run.n_events} events), {len(val_idx)} validation pieces, "
        f"vocabulary {len(vocab)} (min count {settings.min_count}), recipe {settings.recipe} ({settings.input} input)"
    )
    return run


def _restore_vocab(d: dict[str, Any], events) -> Vocabulary:
    """The run's vocabulary, with every fallback computed in one pass (as ``Vocabulary.build`` does)."""
    vocab = Vocabulary.from_dict(d)
    missing = sorted({e for seq in events for e in seq if e not in vocab.index})
    if missing:
        vocab.fallback = dict(zip(missing, vocab.nearest_many(missing), strict=True))
    return vocab


# -- the loop ------------------------------------------------------------------------------


def _fit(run: _Run, *, resume: bool, progress, say) -> tuple[ck.RunState, str]:
    """Train until the planned epoch, the time budget, a fault or an interrupt; returns the state and why it stopped."""
    with quiet_native_stderr():  # TensorFlow's C++ start-up chatter (absl logs ignore TF_CPP_MIN_LOG_LEVEL)
        import keras
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    from lstm_composer_plugin.train.dataset import make_dataset
    from lstm_composer_plugin.train.network import build_model

    s = run.settings
    if not gpus:
        say("notice: no GPU found; training on the CPU (it works, only slower)")

    state = ck.RunState()
    model = None
    if resume:
        latest = ck.latest_checkpoint(run.out)
        ck.clean_partial(run.out)
        if latest is not None:
            state = ck.load_state(latest)
            model = ck.load_keras_state(latest / ck.KERAS_FILE)
            model.optimizer.learning_rate.assign(s.learning_rate)
            say(f"resuming from epoch {state.epoch} ({latest})")
        else:
            say("no checkpoint yet: starting from the beginning")
    if model is None:
        keras.utils.set_random_seed(s.seed)
        model = build_model(run.config)
    else:
        keras.utils.set_random_seed(s.seed + state.epoch)  # dropout masks differ from the first pass

    def batches(tokens, rng):
        return make_dataset(tokens, recipe=s.recipe, input_kind=s.input, seq_len=s.seq_len,
                            batch_size=s.batch_size, n_vocab=run.config.n_vocab, rng=rng)

    val_ds = batches(run.val_tokens, None) if len(run.val_tokens) > s.seq_len else None
    started = time.monotonic()
    epoch_times: list[float] = []
    stop = "finished"
    last_good = state.epoch if state.checkpoints else 0

    if state.epoch >= s.epochs:
        say(f"the run already has {state.epoch} epochs (--epochs {s.epochs}); nothing to train")
    for epoch in range(state.epoch + 1, s.epochs + 1):
        t0 = time.monotonic()
        try:
            rng = epoch_rng(s.seed, epoch)
            h = model.fit(batches(run.train_tokens, rng), epochs=epoch, initial_epoch=epoch - 1, verbose=0,
                          shuffle=False, callbacks=[keras.callbacks.TerminateOnNaN()])
            logs = {k: float(v[-1]) for k, v in h.history.items()}
            if all(math.isfinite(v) for v in logs.values()):
                recalibrate_batchnorm(model, run.train_tokens, input_kind=s.input, seq_len=s.seq_len, rng=rng)
                if val_ds is not None:
                    val = model.evaluate(val_ds, verbose=0, return_dict=True)
                    logs.update({f"val_{k}": float(v) for k, v in val.items()})
            elif val_ds is not None:  # a broken network is not worth validating; keep the series aligned
                logs.update(val_loss=math.nan, val_accuracy=math.nan)
        except KeyboardInterrupt:
            say(f"interrupted in epoch {epoch}; the last checkpoint is epoch {last_good}: continue with --resume")
            raise
        dt = time.monotonic() - t0
        epoch_times.append(dt)
        state.epoch = epoch
        state.seconds += dt
        for key, value in logs.items():
            state.history.setdefault(key, []).append(value)

        fault = detect_fault(state.history)
        if fault:
            state.fault = {"epoch": epoch, "reason": fault, "last_good_checkpoint": last_good or None}
            say(f"stopping: {fault}; keeping the last good checkpoint (epoch {last_good or 'none'})")
            stop = "fault"
            break

        elapsed = time.monotonic() - started
        out_of_time = s.time_budget is not None and elapsed + np.mean(epoch_times[-5:]) > s.time_budget
        _report(progress, say, state, s.epochs, epoch_times, elapsed)
        if epoch % s.checkpoint_every == 0 or epoch == s.epochs or out_of_time:
            _checkpoint(model, run, state, say=say)
            last_good = epoch
        if out_of_time:
            say(f"time budget of {s.time_budget:.0f} s spent after epoch {epoch}")
            stop = "time budget"
            break
    return state, stop


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 while TensorFlow loads: its native logging writes there directly."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def recalibrate_batchnorm(model, tokens: np.ndarray, *, input_kind: str, seq_len: int,
                          rng: np.random.Generator, chunks: int = 64) -> None:
    """Set every BatchNorm's moving mean and variance to the statistics the network has *now*.

    Keras keeps exponential moving averages (momentum 0.99) of the batch statistics.
    With a few steps per epoch they lag far behind weights that move quickly, and
    they are gathered with dropout on, while inference runs without it (the
    "variance shift" of dropout before BatchNorm). Both make the network that is
    validated and shipped worse than the one that was trained. One forward pass
    over ``chunks`` random training sequences in inference mode, replacing each
    BatchNorm's statistics before going on to the next layer, fixes both ("precise
    BatchNorm"); it costs a fraction of an epoch.
    """
    import tensorflow as tf

    from lstm_composer_plugin.train.dataset import chunk_starts

    starts = chunk_starts(len(tokens), seq_len, rng)[:chunks]
    x = np.stack([tokens[i : i + seq_len] for i in starts])
    x = tf.constant(x if input_kind == "embedding" else x[..., None].astype(np.float32))
    for layer in model.layers[1:]:  # a chain: input → ... → softmax
        if type(layer).__name__ == "BatchNormalization":
            mean, var = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)))
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(var)
        x = layer(x, training=False)


def _report(progress, say, state: ck.RunState, total: int, epoch_times: list[float], elapsed: float) -> None:
    """One line per epoch (and a ``Progress`` for the host): epoch, loss, accuracy, ETA."""
    h = state.history
    per_epoch = float(np.mean(epoch_times[-5:]))
    eta = per_epoch * (total - state.epoch)
    parts = [f"epoch {state.epoch}/{total}", f"loss {h['loss'][-1]:.4f}", f"acc {h['accuracy'][-1]:.3f}"]
    if h.get("val_loss"):
        parts += [f"val_loss {h['val_loss'][-1]:.4f}", f"val_acc {h['val_accuracy'][-1]:.3f}"]
    parts += [f"{per_epoch:.1f} s/epoch", f"ETA {_duration(eta)}"]
    line = "  ".join(parts)
    if progress is not None:
        from hostapi.results import Progress

        progress(Progress(stage="train", done=state.epoch, total=total, unit="epoch", message=line))
    else:
        say(line)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


# -- checkpoints ---------------------------------------------------------------------------


def _checkpoint(model, run: _Run, state: ck.RunState, *, say) -> Path:
    """Write checkpoint ``state.epoch``: resumable state, exported model, scorecard, graphs, metrics."""
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.train.export import describe_layers, export_model

    epoch = state.epoch
    tmp = ck.begin_checkpoint(run.out, epoch)
    ck.save_keras_state(model, tmp / ck.KERAS_FILE)

    # The scorecard runs the weights exactly as they will be shipped (float16, NumPy engine).
    layers, weights = describe_layers(model)
    net = NumpyNetwork(layers, {k: v.astype(np.float16) for k, v in weights.items()})
    card = scorecard(net, run.index, run.stats, run.vocab, samples=run.settings.samples,
                     n_events=run.settings.sample_events)
    record = {"epoch": epoch, **{k: v[-1] for k, v in state.history.items()}, **card}
    state.checkpoints.append(record)
    choice = _choose(run, state)

    export_model(model, tmp / ck.MODEL_FILE, config=run.config, vocab=run.vocab, encoding=run.encoding,
                 manifest_extra=_manifest(run, state, epoch, chosen=False, choice=choice),
                 corpus_tokens=run.train_tokens, corpus_offsets=run.train_offsets, corpus_names=run.train_names)
    doc = _metrics_doc(run, state, choice, status="running")
    ck.write_json(tmp / ck.METRICS_FILE, doc)
    _plot(run, state, choice, tmp / ck.GRAPH_FILE)
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


def _choose(run: _Run, state: ck.RunState) -> Choice:
    return choose_epoch(_judged_series(state), state.checkpoints, run.thresholds)


def _judged_series(state: ck.RunState) -> list[float]:
    """The validation loss (training loss without validation pieces) up to the last good epoch."""
    series = state.history.get("val_loss") or state.history.get("loss") or []
    series = [math.nan if v is None else float(v) for v in series]
    if state.fault:  # the broken epoch must not leak into the smoothing of the good ones
        series = series[: int(state.fault["epoch"]) - 1]
    return series


def _plot(run: _Run, state: ck.RunState, choice: Choice, path: Path) -> None:
    from lstm_composer_plugin.train.charts import plot_run

    s = run.settings
    plot_run(path, state.history, state.checkpoints, choice=choice.to_dict(),
             title=f"{run.style}: {s.recipe} recipe, LSTM {'/'.join(map(str, s.lstm_units))}, "
                   f"{s.input} input, {len(run.train_names)} pieces",
             epochs_total=s.epochs, thresholds=run.thresholds.to_dict(), baseline=run.baseline)


def _metrics_doc(run: _Run, state: ck.RunState, choice: Choice, *, status: str,
                 recommended: Choice | None = None) -> dict[str, Any]:
    recommended = recommended or choice
    return {
        "style": run.style,
        "status": status,
        "epochs_planned": run.settings.epochs,
        "epochs_run": state.epoch,
        "seconds": round(state.seconds, 1),
        "settings": asdict(run.settings),
        "history": state.history,
        "checkpoints": state.checkpoints,
        "baseline": run.baseline,
        "thresholds": run.thresholds.to_dict(),
        "choice": choice.to_dict(),
        "recommended": {"epoch": recommended.epoch, "reason": recommended.reason},
        "fault": state.fault,
    }


def _manifest(run: _Run, state: ck.RunState, epoch: int, *, chosen: bool, choice: Choice) -> dict[str, Any]:
    """What the exported model says about itself beyond its weights (docs/model-format.md)."""
    from lstm_composer_plugin.train.export import opening_counts

    s = run.settings
    title = s.title or run.style.replace("_", " ").title()
    return {
        "style": run.style,
        "title": title,
        "description": s.description or (
            f"{title}: an LSTM ({'/'.join(map(str, s.lstm_units))}) trained on {len(run.train_names)} "
            f"pieces ({run.n_events:,} events)."
        ),
        "model_id": f"{run.style}-e{epoch:04d}",
        "epoch": epoch,
        "chosen": chosen,
        "choice": {"epoch": choice.epoch, "reason": choice.reason, "auto": choice.auto},
        "metrics": _manifest_metrics(state, run.baseline, run.thresholds.to_dict()),
        "corpus": {**run.corpus_info, "train_pieces": run.train_names, "val_pieces": run.val_names},
        "stats": {**run.stats, "opening_counts": opening_counts(run.train_tokens, run.train_offsets)},
        "quality": _quality(state, epoch, run.baseline),
        "training": {"seconds": round(state.seconds, 1), "epochs_run": state.epoch, "settings": asdict(s)},
    }


def _manifest_metrics(state: ck.RunState, baseline: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    return {
        "history": state.history,
        "checkpoints": [
            {"epoch": c["epoch"], "val_loss": _round(c.get("val_loss")), "scorecard": c["summary"]}
            for c in state.checkpoints
        ],
        "baseline": baseline,
        "thresholds": thresholds,
    }


def _quality(state: ck.RunState, epoch: int, baseline: dict[str, Any]) -> dict[str, Any]:
    """A catalogue's summary of these weights: validation figures and what their samples copy."""
    cp = next((c for c in state.checkpoints if c["epoch"] == epoch), None)
    if cp is None:
        return {}
    f = cp["summary"]
    return {
        "epoch": epoch,
        "val_loss": _round(cp.get("val_loss")),
        "val_accuracy": _round(cp.get("val_accuracy")),
        "copy_run": f["copy_run"],
        "copy_run_max": f["copy_run_max"],
        "ngram_share": f["ngram_share"],
        "longest_run": f["longest_run"],
        "distinct_per_100": f["distinct_per_100"],
        "real_pieces": {k: baseline.get(k) for k in ("copy_run", "ngram_share", "longest_run", "distinct_per_100")},
    }


def _round(x: Any, digits: int = 4) -> Any:
    return round(float(x), digits) if isinstance(x, (int, float)) and math.isfinite(x) else None


# -- the end ----------------------------------------------------------------------------------


def _finish(run: _Run, state: ck.RunState, epoch: int | None, *, status: str, say) -> Choice:
    """Choose, ship the chosen checkpoint as OUT/model.lstmc, draw the final graphs and the GIF."""
    recommended = _choose(run, state)
    choice = recommended
    if epoch is not None:
        _check_epoch(run.out, epoch)
        choice = user_choice(epoch, recommended)
    if choice.epoch is not None:
        _ship(run.out, choice, state, run=run)
    _plot(run, state, choice, run.out / ck.GRAPH_FILE)
    frames = [d / ck.GRAPH_FILE for _, d in ck.list_checkpoints(run.out)] + [run.out / ck.GRAPH_FILE]
    from lstm_composer_plugin.train.charts import make_gif

    make_gif(frames, run.out / ck.GIF_FILE)
    ck.write_json(run.out / ck.METRICS_FILE, _metrics_doc(run, state, choice, status=status, recommended=recommended))
    if choice.epoch is not None:
        say(f"recommended epoch {recommended.epoch}: {recommended.reason}")
        say(f"wrote {run.out / ck.MODEL_FILE} (epoch {choice.epoch})")
    else:
        say("no checkpoint was written, so there is no model to ship")
    return choice


def _ship(out: Path, choice: Choice, state: ck.RunState, *, run: _Run | None = None) -> Path:
    """Re-export checkpoint ``choice.epoch`` as OUT/model.lstmc with chosen: true and the final metrics.

    The checkpoint's model file already holds exactly these float16 weights, so
    this rewrites its manifest only: no TensorFlow needed, and the shipped
    weights are the ones the scorecard measured.
    """
    mf = load_model(ck.checkpoint_dir(out, choice.epoch) / ck.MODEL_FILE)
    manifest = dict(mf.manifest)
    if run is not None:
        manifest.update(_manifest(run, state, choice.epoch, chosen=True, choice=choice))
    else:  # re-pick without the corpus: update what the choice and the final metrics change
        metrics = manifest.get("metrics", {})
        manifest["chosen"] = True
        manifest["choice"] = {"epoch": choice.epoch, "reason": choice.reason, "auto": choice.auto}
        manifest["metrics"] = _manifest_metrics(state, metrics.get("baseline", {}), metrics.get("thresholds", {}))
        manifest["quality"] = _quality(state, choice.epoch, metrics.get("baseline", {}))
        manifest["training"] = {**manifest.get("training", {}), "seconds": round(state.seconds, 1),
                                "epochs_run": state.epoch}
    return save_model(out / ck.MODEL_FILE, manifest, mf.arrays)


def _check_epoch(out: Path, epoch: int) -> None:
    have = [e for e, _ in ck.list_checkpoints(out)]
    if epoch not in have:
        listing = ", ".join(map(str, have)) or "none"
        raise UsageError(f"--epoch {epoch}: no checkpoint at that epoch in {out} (checkpoints: {listing})")


def repick(out_dir: str | os.PathLike[str], epoch: int | str, *, say: Callable[[str], None] | None = None):
    """``--epoch N`` on an existing run: ship checkpoint N instead, without training (or TensorFlow).

    ``epoch="auto"`` ships the recommendation of the current rule (after the rule changed).
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
    thresholds = Thresholds.from_dict(doc["thresholds"])
    recommended = choose_epoch(_judged_series(state), state.checkpoints, thresholds)
    if epoch == "auto":
        if recommended.epoch is None:
            raise UsageError(f"{out}: {recommended.reason}: nothing to pick from")
        epoch = recommended.epoch
    _check_epoch(out, epoch)
    choice = recommended if epoch == recommended.epoch else user_choice(epoch, recommended)
    _ship(out, choice, state)
    doc["choice"] = choice.to_dict()
    doc["recommended"] = {"epoch": recommended.epoch, "reason": recommended.reason}
    ck.write_json(out / ck.METRICS_FILE, doc)
    info = ck.read_json(out / ck.RUN_FILE)
    s = TrainSettings.from_dict(info["settings"])
    plot_run(out / ck.GRAPH_FILE, state.history, state.checkpoints, choice=choice.to_dict(),
             title=f"{info['style']}: {s.recipe} recipe, LSTM {'/'.join(map(str, s.lstm_units))}, {s.input} input",
             epochs_total=doc.get("epochs_planned", state.epoch), thresholds=doc["thresholds"],
             baseline=doc.get("baseline"))
    say(f"wrote {out / ck.MODEL_FILE} (epoch {epoch}; recommended: {recommended.epoch})")
    return TrainingResult(out_dir=out, style=info["style"], model_path=out / ck.MODEL_FILE, epochs_run=state.epoch,
                          recommended_epoch=recommended.epoch, reason=choice.reason,
                          metrics_path=out / ck.METRICS_FILE, plugin="lstm")


__all__ = ["TrainSettings", "train", "train_with_options", "repick", "recalibrate_batchnorm"]
