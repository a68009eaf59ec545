"""Compose speed: the reference Keras loop vs the NumPy engine on the same exported network.

    python bench/compose_speed.py                    # the bundled bach model (else a fresh full-width net)
    python bench/compose_speed.py --model FILE.lstmc --events 500

The reference loop is the original plugin's: keep a sliding window of the last
100 events, call ``model.predict`` on it once per new event and draw from the
last position's distribution. The NumPy engine reads the same window once
(stateful) and then takes one LSTM step per event. Both start from the same
100-event window of the training corpus and run in this one process, side by side.
Then the whole ``lstm-composer compose`` command is timed as a user would see it.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstm_composer_plugin.compose.composer import corpus_index  # noqa: E402
from lstm_composer_plugin.compose.engine import NumpyNetwork  # noqa: E402
from lstm_composer_plugin.compose.guards import Guards  # noqa: E402
from lstm_composer_plugin.compose.sampling import sample_tokens  # noqa: E402
from lstm_composer_plugin.modelfile import load_model  # noqa: E402
from lstm_composer_plugin.models import bundled_models  # noqa: E402
from lstm_composer_plugin.music.tokens import SEP  # noqa: E402

WINDOW = 100


def fresh_full_width_model(path: Path, n_vocab: int = 2546) -> Path:
    """An untrained default-recipe network at full width (speed does not depend on training)."""
    from lstm_composer_plugin.music.tokens import Event, EventEncoding, Vocabulary
    from lstm_composer_plugin.train.export import export_model
    from lstm_composer_plugin.train.network import NetworkConfig, build_model

    cfg = NetworkConfig(n_vocab=n_vocab)
    vocab = Vocabulary([Event((60 + i % 24,), (6 + i // 24,), 6) for i in range(n_vocab - 1)], [1] * (n_vocab - 1))
    rng = np.random.default_rng(0)
    tokens = np.concatenate([rng.integers(1, n_vocab, 20_000), [SEP]]).astype(np.int32)
    return export_model(
        build_model(cfg, compile=False), path, config=cfg, vocab=vocab, encoding=EventEncoding(),
        manifest_extra={"style": "bench", "epoch": 0}, corpus_tokens=tokens,
        corpus_offsets=np.array([0, len(tokens)]), corpus_names=["random"],
    )


def reference_loop(model_file, window: np.ndarray, n_events: int, seed: int) -> float:
    """The original composing loop: model.predict on the last 100 events, once per event."""
    from lstm_composer_plugin.train.export import keras_model_from_file

    model = keras_model_from_file(model_file)
    scalar = model_file.manifest.network["input"] == "scalar"
    rng = np.random.default_rng(seed)
    seq = list(window)
    model.predict(_as_input(seq[-WINDOW:], scalar), verbose=0)  # warm-up: graph tracing is not composing
    t0 = time.perf_counter()
    for _ in range(n_events):
        probs = model.predict(_as_input(seq[-WINDOW:], scalar), verbose=0)
        p = np.asarray(probs[0, -1] if probs.ndim == 3 else probs[0], dtype=np.float64)
        p[SEP] = 0
        seq.append(int(rng.choice(len(p), p=p / p.sum())))
    return time.perf_counter() - t0


def _as_input(tokens, scalar: bool) -> np.ndarray:
    x = np.asarray(tokens, dtype=np.int32)[None, :]
    return x[..., None].astype(np.float32) if scalar else x


def numpy_engine(model_file, window: np.ndarray, n_events: int, seed: int, guarded: bool, batch: int = 1) -> float:
    net = NumpyNetwork.from_model(model_file)
    guards = Guards(corpus=corpus_index(model_file)) if guarded else None
    best = float("inf")
    for _ in range(3):  # best of 3: the machine is shared
        t0 = time.perf_counter()
        sample_tokens(net, n_events, seed=seed, primer=window, guards=guards, batch=batch)
        best = min(best, time.perf_counter() - t0)
    return best


def whole_process(args: list[str], runs: int = 5) -> float:
    exe = shutil.which("lstm-composer") or str(Path(sys.executable).with_name("lstm-composer"))
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([exe, "compose", *args, "-o", str(Path(tmp) / "x.mid"), "--force"], check=True,
                           capture_output=True)
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="model file (default: bundled bach, else a fresh full-width network)")
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-reference", action="store_true", help="skip the (slow) Keras loop")
    args = ap.parse_args()

    have_tf = importlib.util.find_spec("tensorflow") is not None
    tmp = Path(tempfile.mkdtemp())
    path = args.model or bundled_models().get("bach")
    if path is None:
        if not have_tf:
            sys.exit("no model: pass --model FILE (or install TensorFlow to build a fresh one)")
        path = fresh_full_width_model(tmp / "bench.lstmc")
    model_file = load_model(path)
    net = model_file.manifest.network
    print(f"model: {path} ({path.stat().st_size / 1e6:.2f} MB, recipe {net['recipe']}, "
          f"LSTM {net['lstm_units']}, vocabulary {net['n_vocab']}, weights {model_file.manifest.weights_dtype or '?'})")

    corpus = model_file.arrays["corpus.tokens"]
    start = next(i for i in range(len(corpus) - WINDOW) if SEP not in corpus[i : i + WINDOW])
    window = np.asarray(corpus[start : start + WINDOW], dtype=np.int64)

    n = args.events
    t_np = numpy_engine(model_file, window, n, args.seed, guarded=False)
    t_guard = numpy_engine(model_file, window, n, args.seed, guarded=True)
    t_batch = numpy_engine(model_file, window, n, args.seed, guarded=False, batch=8)
    print(f"numpy engine, {n} events:            {t_np:8.3f} s  ({1e3 * t_np / n:.3f} ms/event)")
    print(f"numpy engine + guards, {n} events:   {t_guard:8.3f} s  ({1e3 * t_guard / n:.3f} ms/event)")
    print(f"numpy engine, 8 variations at once:  {t_batch:8.3f} s  ({1e3 * t_batch / n / 8:.3f} ms/event/variation)")
    if have_tf and not args.no_reference:
        t_ref = reference_loop(model_file, window, n, args.seed)
        print(f"reference model.predict loop:        {t_ref:8.3f} s  ({1e3 * t_ref / n:.1f} ms/event)")
        print(f"ratio reference / numpy:             {t_ref / t_np:8.0f}x  (with guards {t_ref / t_guard:.0f}x)")
    else:
        print("reference loop skipped (no TensorFlow or --no-reference)")

    cli = ["--model", str(path)] if args.model or "bach" not in bundled_models() else ["--style", "bach"]
    t_cli = whole_process(cli + ["--seed", "1"])
    print(f"whole process `lstm-composer compose {' '.join(cli)}` (500 events or notes): {t_cli:.3f} s (best of 5)")
    t_60 = whole_process(cli + ["--seed", "1", "--seconds", "60"])
    print(f"whole process `lstm-composer compose {' '.join(cli)} --seconds 60`: {t_60:.3f} s (best of 5)")


if __name__ == "__main__":
    main()
