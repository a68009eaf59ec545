"""Training throughput of the two recipes, side by side: next-event targets per second and peak memory.

    python bench/train_throughput.py [--corpus ../shared/corpus/bach] [--seconds 60]

Same corpus, same vocabulary, same layer widths (LSTM 512/256, Dense 128 by default);
each recipe trains in its own process (so its peak RSS is its own) with its default
batch: the ``default`` recipe predicts every position of chunks of ``seq_len``
tokens, the ``reference`` recipe (the seed's) predicts the last event of each
window of ``seq_len``. After a warm-up (graph tracing), each trains for about
``--seconds`` and counts the next-event targets it learnt from.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "bach"


def worker(args: argparse.Namespace) -> dict:
    """Train one recipe for about ``args.seconds`` and report targets per second."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    from lstm_composer_plugin.music.corpus import load_corpus
    from lstm_composer_plugin.music.tokens import Vocabulary, tokenize_pieces
    from lstm_composer_plugin.train.dataset import epoch_rng, make_dataset, split_pieces
    from lstm_composer_plugin.train.network import NetworkConfig, build_model
    from lstm_composer_plugin.train.trainer import TrainSettings, quiet_native_stderr

    with quiet_native_stderr():
        import keras

    corpus = load_corpus(args.corpus, warn=lambda m: None)
    split = split_pieces(corpus.names, 0.1)
    events = [corpus.events[i] for i in split.train]
    vocab = Vocabulary.build(events, min_count=2)
    tokens, _ = tokenize_pieces(events, vocab)
    s = TrainSettings(recipe=args.recipe, lstm_units=args.lstm_units,
                      **({"batch_size": args.batch_size} if args.batch_size else {}))
    cfg = NetworkConfig(n_vocab=len(vocab), recipe=s.recipe, input=s.input, lstm_units=s.lstm_units,
                        dense_units=s.dense_units, seq_len=s.seq_len, batch_size=s.batch_size)
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    per_step = s.batch_size * (s.seq_len if s.recipe == "default" else 1)  # targets in one full batch

    def dataset(epoch: int):
        return make_dataset(tokens, recipe=s.recipe, input_kind=s.input, seq_len=s.seq_len,
                            batch_size=s.batch_size, n_vocab=len(vocab), rng=epoch_rng(0, epoch))

    class Count(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            Count.steps += 1

    # Warm-up: trace the train function (not timed).
    model.fit(dataset(0).take(2), verbose=0, shuffle=False)
    epoch = 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        # Whole batches only, so targets = steps × per_step exactly; a few steps per fit call.
        n = 8 if s.recipe == "reference" else 1_000_000
        ds = dataset(epoch).filter(lambda x, y: _full(x, s.batch_size)).take(n)
        model.fit(ds, verbose=0, shuffle=False, callbacks=[Count()])
        epoch += 1
    seconds = time.perf_counter() - t0
    steps = Count.steps
    return {
        "recipe": s.recipe,
        "input": s.input,
        "batch_size": s.batch_size,
        "seq_len": s.seq_len,
        "n_vocab": len(vocab),
        "train_tokens": int(len(tokens)),
        "params": int(model.count_params()),
        "steps": steps,
        "targets": steps * per_step,
        "seconds": round(seconds, 2),
        "targets_per_s": round(steps * per_step / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _full(x, batch_size: int):
    import tensorflow as tf

    return tf.equal(tf.shape(x)[0], batch_size)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    p.add_argument("--seconds", type=float, default=60.0, help="timed training per recipe (default 60)")
    p.add_argument("--lstm-units", default="512,256")
    p.add_argument("--default-batch", type=int, default=None, help="chunks per batch (default recipe)")
    p.add_argument("--reference-batch", type=int, default=None, help="windows per batch (reference recipe)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--worker", choices=("default", "reference"), help=argparse.SUPPRESS)
    args = p.parse_args()
    args.lstm_units = [int(u) for u in args.lstm_units.split(",")]

    if args.worker:
        args.recipe = args.worker
        args.batch_size = args.default_batch if args.worker == "default" else args.reference_batch
        print(json.dumps(worker(args)))
        return 0

    results = {}
    for recipe in ("default", "reference"):
        cmd = [sys.executable, __file__, "--worker", recipe, "--corpus", args.corpus, "--seconds", str(args.seconds),
               "--lstm-units", ",".join(map(str, args.lstm_units))]
        for flag, value in (("--default-batch", args.default_batch), ("--reference-batch", args.reference_batch)):
            if value is not None:
                cmd += [flag, str(value)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[recipe] = json.loads(out.strip().splitlines()[-1])

    d, r = results["default"], results["reference"]
    ratio = d["targets_per_s"] / r["targets_per_s"]
    # What the seed's materialised arrays would take for this corpus: every window as float64
    # inputs and a float64 one-hot target per window (numpy's defaults, as in the original).
    windows = r["train_tokens"] - r["seq_len"]
    seed_mb = windows * (r["seq_len"] + r["n_vocab"]) * 8 / 2**20
    summary = {"corpus": args.corpus, "lstm_units": args.lstm_units, "default": d, "reference": r,
               "ratio": round(ratio, 1), "seed_arrays_mb": round(seed_mb, 1)}
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"corpus {args.corpus}: {d['train_tokens']} training tokens, vocabulary {d['n_vocab']}, "
          f"LSTM {'/'.join(map(str, args.lstm_units))}, {d['params'] / 1e6:.2f} M parameters")
    print(f"{'recipe':<10} {'batch':>14} {'steps':>6} {'seconds':>8} {'targets/s':>10} {'peak RSS':>9}")
    for x, unit in ((d, "chunks"), (r, "windows")):
        print(f"{x['recipe']:<10} {str(x['batch_size']) + ' ' + unit:>14} {x['steps']:>6} {x['seconds']:>8.1f} "
              f"{x['targets_per_s']:>10.0f} {x['peak_rss_mb']:>7.0f} MB")
    print(f"default / reference: {ratio:.1f}x next-event targets per second")
    print(f"(the seed's materialised windows + one-hot targets would need {seed_mb:.0f} MB for this corpus)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
