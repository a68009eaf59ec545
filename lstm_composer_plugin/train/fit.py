"""The fit loop: one epoch at a time, validation, fault check, progress, snapshots and checkpoints.

    fit()                   train until the planned epoch, the time budget, a fault or Ctrl-C
    evaluate_stream()       exact validation loss of the default recipe: every target once
    recalibrate_batchnorm() "precise BatchNorm" after every epoch (docs/training.md)

Two kinds of saved state (``checkpoints.py``): a *checkpoint* every ``checkpoint_every`` epochs
(resumable state, exported model, scorecard, graphs: what the epoch choice picks from) and a
*snapshot* whenever ``save_every`` seconds have passed (resumable state only, a second or two),
so an interrupt costs minutes of training, whatever the checkpoint interval.
TensorFlow is imported inside the functions here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstm_composer_plugin.train import checkpoints as ck
from lstm_composer_plugin.train.choose import detect_fault
from lstm_composer_plugin.train.dataset import chunk_starts, epoch_rng, pair_examples
from lstm_composer_plugin.train.prepare import PreparedRun

LN2 = math.log(2)


@dataclass
class _Kept:
    """Where the loop is, for the message after Ctrl-C."""

    epoch: int = 0  # the epoch in progress (0: not training yet)
    saved: int = 0  # the newest epoch saved (checkpoint or snapshot)


def fit(run: PreparedRun, *, resume: bool, progress: Any, say: Callable[[str], None],
        on_checkpoint: Callable[[Any, PreparedRun, ck.RunState], Path]) -> tuple[ck.RunState, str]:
    """Train until the planned epoch, the time budget, a fault or an interrupt; returns the state and why it stopped.

    ``on_checkpoint(model, run, state)`` writes a checkpoint (``record.write_checkpoint``) and returns its
    folder; its sample's piano roll, where one was drawn, goes to ``progress`` as a ``Progress.files``.
    A Ctrl-C anywhere in here says what was kept and how to go on, then propagates.
    """
    kept = _Kept()
    try:
        return _fit(run, resume=resume, progress=progress, say=say, on_checkpoint=on_checkpoint, kept=kept)
    except KeyboardInterrupt:
        # run.json exists by now, so going on is always --resume (from the start when nothing was saved).
        if kept.epoch > kept.saved:
            where = (f"continue from epoch {kept.saved} with --resume" if kept.saved else
                     "nothing was saved yet: --resume starts it again")
            lost = f"epochs {kept.saved + 1}-{kept.epoch}" if kept.epoch > kept.saved + 1 else f"epoch {kept.epoch}"
            say(f"interrupted in epoch {kept.epoch} ({lost} not saved); {where}")
        else:
            say("interrupted before training started; continue with --resume")
        # TensorFlow objects left unfinished by the interrupt log "never used" dumps when they
        # are collected; after an interrupt that is noise, not news.
        logging.getLogger("tensorflow").setLevel(logging.CRITICAL)
        raise


def _fit(run: PreparedRun, *, resume: bool, progress: Any, say: Callable[[str], None],
         on_checkpoint: Callable[[Any, PreparedRun, ck.RunState], Path], kept: _Kept) -> tuple[ck.RunState, str]:
    with quiet_native_stderr():  # TensorFlow's C++ start-up chatter (absl logs ignore TF_CPP_MIN_LOG_LEVEL)
        import keras
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    from lstm_composer_plugin.train.dataset import make_dataset
    from lstm_composer_plugin.train.devices import strategy_scope
    from lstm_composer_plugin.train.network import build_model
    from lstm_composer_plugin.train.warmstart import load_initial_weights, resolve_init

    s = run.settings
    if not gpus:
        say("notice: no GPU found; training on the CPU (it works, only slower)")

    state = ck.RunState()
    model = None
    with strategy_scope(s.distribute, say):
        if resume:
            latest = ck.latest_resumable(run.out)
            ck.clean_partial(run.out)
            if latest is not None:
                state = ck.load_state(latest)
                model = ck.load_keras_state(latest / ck.KERAS_FILE)
                model.optimizer.learning_rate.assign(s.learning_rate)
                say(f"resuming from epoch {state.epoch} ({latest})")
            else:
                say("no saved state yet: starting from the beginning")
        if model is None:
            keras.utils.set_random_seed(s.seed)
            model = build_model(run.config)
            if s.init_from:
                start = resolve_init(s.init_from)
                load_initial_weights(model, start)
                say(f"starting from the weights of {start}")
        else:
            keras.utils.set_random_seed(s.seed + state.epoch)  # dropout masks differ from the first pass

    transposer = run.tokens.transposer() if hasattr(run.tokens, "transposer") else None

    def batches(rng):
        return make_dataset(run.train_tokens, recipe=s.recipe, input_kind=s.input, seq_len=s.seq_len,
                            batch_size=s.batch_size, n_vocab=run.config.n_vocab, rng=rng,
                            max_examples=s.chunks_per_epoch, transposer=transposer,
                            tokens_per_step=s.tokens_per_step)

    val_ds = None
    if run.validated and s.recipe == "reference":
        val_ds = make_dataset(run.val_tokens, recipe=s.recipe, input_kind=s.input, seq_len=s.seq_len,
                              batch_size=s.batch_size, n_vocab=run.config.n_vocab, rng=None)
    started = time.monotonic()
    last_save = started
    epoch_times: list[float] = []
    stop = "finished"
    last_good = state.epoch if state.checkpoints else 0
    kept.epoch = kept.saved = state.epoch

    if state.epoch >= s.epochs:
        say(f"the run already has {state.epoch} epochs (--epochs {s.epochs}); nothing to train")
    for epoch in range(state.epoch + 1, s.epochs + 1):
        t0 = time.monotonic()
        kept.epoch = epoch
        rng = epoch_rng(s.seed, epoch)
        if s.freeze_epochs:
            model = freeze_start(model, frozen=epoch <= s.freeze_epochs, learning_rate=s.learning_rate)
        beat = [_beat_callback(progress, epoch, s.epochs)] if progress is not None else []
        h = model.fit(batches(rng), epochs=epoch, initial_epoch=epoch - 1, verbose=0,
                      shuffle=False, callbacks=[keras.callbacks.TerminateOnNaN(), *beat])
        logs = {k: float(v[-1]) for k, v in h.history.items()}
        if all(math.isfinite(v) for v in logs.values()):
            recalibrate_batchnorm(model, run.train_tokens, input_kind=s.input, seq_len=s.seq_len, rng=rng,
                                  tokens_per_step=s.tokens_per_step)
            logs.update(_validate(model, run, val_ds))
        elif run.validated:  # a broken network is not worth validating; keep the series aligned
            logs.update(dict.fromkeys(_val_keys(run), math.nan))
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

        now = time.monotonic()
        out_of_time = s.time_budget is not None and now - started + np.mean(epoch_times[-5:]) > s.time_budget
        new_low, stale = _progress_of(state.history.get("val_loss", []), s.patience)
        budget_left = None if s.time_budget is None else s.time_budget - (now - started)
        _report(progress, say, state, s.epochs, epoch_times, budget_left)
        if epoch % s.checkpoint_every == 0 or epoch == s.epochs or out_of_time or new_low or stale:
            folder = on_checkpoint(model, run, state)
            _report_files(progress, state, s.epochs, folder)
            last_good = kept.saved = epoch
            last_save = time.monotonic()
        elif now - last_save >= s.save_every:
            ck.save_snapshot(run.out, model, state)
            kept.saved, last_save = epoch, time.monotonic()
        if out_of_time:
            say(f"time budget of {s.time_budget:.0f} s spent after epoch {epoch}")
            stop = "time budget"
            break
        if stale:
            say(f"the validation loss has not reached a new low for {s.patience} epochs: stopping after epoch {epoch}")
            stop = "no improvement"
            break
    return state, stop


FROZEN_PREFIXES = ("embedding", "lstm_")  # the layers a fine-tune starts from (network.py names them)


def freeze_start(model: Any, *, frozen: bool, learning_rate: float) -> Any:
    """Keep the embedding and the LSTMs (what a starting network learnt) fixed, or let them train again.

    A change takes effect when the model is compiled again; the optimizer is a new Adam then, because its
    moments were kept for the variables that trained (the layers after the LSTMs, a few epochs at most)."""
    import keras

    layers = [layer for layer in model.layers if layer.name.startswith(FROZEN_PREFIXES)]
    if all(layer.trainable == (not frozen) for layer in layers):
        return model
    for layer in layers:
        layer.trainable = not frozen
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=model.loss,
                  metrics=["accuracy"])
    return model


def _beat_callback(progress: Any, epoch: int, total: int) -> Any:
    """A Keras callback that reports the epoch's share done about once a second, so a host's bar moves
    and its Cancel (``hostapi.Cancelled``, raised by its progress callback) is heard within a batch."""
    import keras

    class Beat(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.last = time.monotonic()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            now = time.monotonic()
            if now - self.last < 1.0:
                return
            self.last = now
            steps = (self.params or {}).get("steps") or 0
            share = min((batch + 1) / steps, 1.0) if steps else 0.0
            from hostapi.results import Progress

            progress(Progress(stage="train", done=round(epoch - 1 + share, 3), total=total, unit="epoch",
                              message=f"epoch {epoch}: batch {batch + 1}" + (f"/{steps}" if steps else "")))

    return Beat()


def _progress_of(val_loss: list[float], patience: int | None) -> tuple[bool, bool]:
    """(this epoch is a new low of the validation loss, the run has stopped improving) under ``--patience``.

    Without patience both are False (checkpoints come every N epochs as before). With it, each new low is
    checkpointed, so the best epoch is always one the user can pick and ship.
    """
    finite = [v if math.isfinite(v) else math.inf for v in val_loss]
    if patience is None or not finite or min(finite) == math.inf:
        return False, False
    best = int(np.argmin(finite))  # the first epoch at the lowest value
    last = len(finite) - 1
    return best == last, last - best >= patience


def _val_keys(run: PreparedRun) -> tuple[str, ...]:
    if run.settings.recipe == "reference":
        return ("val_loss", "val_accuracy")
    return ("val_loss", "val_accuracy", "val_bits_per_note")


def _validate(model: Any, run: PreparedRun, val_ds: Any) -> dict[str, float]:
    """Validation figures of this epoch: loss (nats per token), accuracy, and bits per unit."""
    if not run.validated:
        return {}
    if val_ds is not None:  # the reference recipe: Keras's own evaluation of the last positions
        val = model.evaluate(val_ds, verbose=0, return_dict=True)
        return {f"val_{k}": float(v) for k, v in val.items()}
    nats, targets, correct = evaluate_stream(model, run.val_tokens, run.settings.seq_len, run.settings.batch_size,
                                             input_kind=run.settings.input,
                                             tokens_per_step=run.settings.tokens_per_step)
    # Bits per note are comparable across encodings (a chord event holds several notes).
    return {"val_loss": nats / targets, "val_accuracy": correct / targets,
            "val_bits_per_note": nats / max(run.val_notes, 1) / LN2}


def evaluate_stream(model: Any, tokens: np.ndarray, seq_len: int, batch_size: int, *,
                    input_kind: str = "embedding", tokens_per_step: int = 1) -> tuple[float, int, int]:
    """(total nats, targets, correct) over a token stream, every next-token target counted once.

    Chunks of ``seq_len`` on a grid from 0 (each starts without context, as in training);
    the stream's tail is one shorter chunk. A stream shorter than a chunk is one short chunk.
    """
    tokens = np.asarray(tokens, dtype=np.int32)
    if tokens_per_step == 2:
        return _evaluate_pairs(model, tokens, seq_len, batch_size)
    n = len(tokens) - 1  # targets
    length = min(seq_len, n)
    full = n // length
    groups = [(np.arange(full) * length, length)]
    if n % length:
        groups.append((np.array([full * length]), n % length))
    nats, correct = 0.0, 0
    for starts, width in groups:
        for b in range(0, len(starts), batch_size):
            rows = starts[b : b + batch_size]
            x = np.stack([tokens[i : i + width] for i in rows])
            y = np.stack([tokens[i + 1 : i + width + 1] for i in rows])
            if input_kind != "embedding":
                x = x[..., None].astype(np.float32)
            p = np.asarray(model(x, training=False), dtype=np.float64)
            picked = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
            nats -= float(np.log(np.maximum(picked, 1e-12)).sum())
            correct += int((p.argmax(-1) == y).sum())
    return nats, n, correct


def _evaluate_pairs(model: Any, tokens: np.ndarray, seq_len: int, batch_size: int) -> tuple[float, int, int]:
    """``evaluate_stream`` for the two-token network: chunks of ``seq_len`` tokens on a grid from 0
    predict the ``seq_len`` tokens after their first pair, so every token from the third on is a
    target once (a chunk starts without context, as in training). A stream of odd length leaves its
    last token out. The total is scaled to the one-token count (``len - 1`` targets) at the mean
    nats per target, so bits per note compare across the two networks."""
    n_pairs = len(tokens) // 2
    if n_pairs < 2:
        return 0.0, 0, 0
    usable = tokens[: 2 * n_pairs]
    width = min(seq_len // 2, n_pairs - 1)  # pairs of input per chunk
    starts = list(range(0, n_pairs - width, width))
    groups = [(starts, width)]
    tail = n_pairs - 1 - len(starts) * width
    if tail:
        groups.append(([len(starts) * width], tail))
    nats, targets, correct = 0.0, 0, 0
    for rows_all, w in groups:
        for b in range(0, len(rows_all), batch_size):
            rows = rows_all[b : b + batch_size]
            x, y = pair_examples(np.stack([usable[2 * i : 2 * (i + w + 1)] for i in rows]))
            p = np.asarray(model(x, training=False), dtype=np.float64)
            picked = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
            nats -= float(np.log(np.maximum(picked, 1e-12)).sum())
            correct += int((p.argmax(-1) == y).sum())
            targets += y.size
    every = len(tokens) - 1
    return nats / targets * every, every, int(round(correct / targets * every))


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
                          rng: np.random.Generator, chunks: int = 64, tokens_per_step: int = 1) -> None:
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

    if tokens_per_step == 2:
        _recalibrate_graph(model, tokens, seq_len, rng, chunks)
        return
    starts = chunk_starts(len(tokens), seq_len, rng)[:chunks]
    x = np.stack([tokens[i : i + seq_len] for i in starts])
    x = tf.constant(x if input_kind == "embedding" else x[..., None].astype(np.float32))
    for layer in model.layers[1:]:  # a chain: input → ... → softmax
        if type(layer).__name__ == "BatchNormalization":
            mean, var = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)))
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(var)
        x = layer(x, training=False)


def _recalibrate_graph(model, tokens: np.ndarray, seq_len: int, rng: np.random.Generator, chunks: int) -> None:
    """``recalibrate_batchnorm`` for a network that is not a chain (the two-token one): each
    BatchNorm, in order, gets the statistics of its input computed by the network up to it."""
    import keras
    import tensorflow as tf

    starts = chunk_starts(len(tokens), seq_len, rng, step=2)[:chunks]
    x, _ = pair_examples(np.stack([tokens[i : i + seq_len + 2] for i in starts]))
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            probe = keras.Model(model.input, layer.input)
            h = tf.constant(probe(x, training=False))
            mean, var = tf.nn.moments(h, axes=list(range(len(h.shape) - 1)))
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(var)


def _report(progress: Any, say: Callable[[str], None], state: ck.RunState, total: int,
            epoch_times: list[float], budget_left: float | None = None) -> None:
    """One line per epoch (and a ``Progress`` for the host): epoch, loss, accuracy, ETA."""
    h = state.history
    per_epoch = float(np.mean(epoch_times[-5:]))
    eta = per_epoch * (total - state.epoch)
    if budget_left is not None:  # the time budget ends the run first
        eta = min(eta, max(budget_left, 0.0))
    parts = [f"epoch {state.epoch}/{total}", f"loss {h['loss'][-1]:.4f}", f"acc {h['accuracy'][-1]:.3f}"]
    if h.get("val_loss"):
        parts += [f"val_loss {h['val_loss'][-1]:.4f}", f"val_acc {h['val_accuracy'][-1]:.3f}"]
    if h.get("val_bits_per_note"):
        parts.append(f"{h['val_bits_per_note'][-1]:.3f} bits/note")
    parts += [f"{per_epoch:.1f} s/epoch", f"ETA {duration_text(eta)}"]
    line = "  ".join(parts)
    if progress is not None:
        from hostapi.results import Progress

        metrics = {key: float(values[-1]) for key, values in h.items() if values and math.isfinite(values[-1])}
        progress(Progress(stage="train", done=state.epoch, total=total, unit="epoch", message=line,
                          metrics={"epoch": float(state.epoch), **metrics}))
    else:
        say(line)


def _report_files(progress: Any, state: ck.RunState, total: int, folder: Path) -> None:
    """Tell the host what a checkpoint wrote that it may show: its sample's piano roll."""
    roll = folder / ck.SAMPLE_ROLL
    if progress is not None and roll.is_file():
        from hostapi.results import Progress

        progress(Progress(stage="train", done=state.epoch, total=total, unit="epoch",
                          message=f"checkpoint epoch {state.epoch}: a sample", files=[roll]))


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


__all__ = ["LN2", "duration_text", "evaluate_stream", "fit", "quiet_native_stderr", "recalibrate_batchnorm"]
