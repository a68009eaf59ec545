"""Training throughput of the recipes, side by side: next-token targets and notes per second, peak memory.

    python bench/train_throughput.py [--corpus ../shared/corpus/bach] [--seconds 60]
                                     [--recipes notes,events,reference]

Same corpus, same split, same layer widths (LSTM 512/256, Dense 128 by default); each recipe
trains in its own process (so its peak RSS is its own), one after the other, with its default
settings from ``TrainSettings``:

* ``notes``: the default recipe on the note encoding (every position of chunks of 256 tokens
  predicts the next token; ``--key-mode augment`` adds the per-chunk transposition);
* ``pairs``: the same with two tokens per LSTM step (``--tokens-per-step 2``: 128 steps per chunk
  of 256 tokens, each predicting the next two tokens); ``pairs-b128`` with 128 chunks per batch,
  ``pairs-b128-lr`` and ``pairs-b96-lr`` with 128 or 96 and Adam's learning rate scaled by the batch's root;
* ``events``: the default recipe on the event encoding (the previous default, chunks of 100);
* ``reference``: the seed's recipe (windows of 100 events, the last one predicted, scalar input).

After a warm-up (graph tracing), each trains for about ``--seconds`` and counts the targets it
learnt from, then measures the validation pieces' bits per note (BatchNorm recalibrated as the
trainer does), so recipes that learn more per second show whether they also learn better in the
same time. Targets are not the same unit across encodings (a note is ~2.4 note tokens; a
chord event holds several notes), so the notes per second (targets × notes per target of its
training stream) are the comparable figure.
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
RECIPES = {  # name -> TrainSettings overrides
    "notes": {"recipe": "default", "encoding": "notes"},
    "pairs": {"recipe": "default", "encoding": "notes", "tokens_per_step": 2},
    "pairs-b128": {"recipe": "default", "encoding": "notes", "tokens_per_step": 2, "batch_size": 128},
    # Twice the batch with Adam's step scaled by sqrt(2) (the square-root rule for adaptive optimisers), and
    # one and a half times the batch by sqrt(1.5): half the updates per token need larger ones.
    "pairs-b128-lr": {"recipe": "default", "encoding": "notes", "tokens_per_step": 2, "batch_size": 128,
                      "learning_rate": 2e-3 * 2 ** 0.5},
    "pairs-b96-lr": {"recipe": "default", "encoding": "notes", "tokens_per_step": 2, "batch_size": 96,
                     "learning_rate": 2e-3 * 1.5 ** 0.5},
    "events": {"recipe": "default", "encoding": "events"},
    "reference": {"recipe": "reference"},
}


def worker(args: argparse.Namespace) -> dict:
    """Train one recipe for about ``args.seconds`` and report targets per second."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    import numpy as np

    from lstm_composer_plugin.music.corpus import load_corpus
    from lstm_composer_plugin.train.dataset import epoch_rng, make_dataset, split_pieces
    from lstm_composer_plugin.train.fit import LN2, evaluate_stream, recalibrate_batchnorm
    from lstm_composer_plugin.train.fit import quiet_native_stderr as quiet
    from lstm_composer_plugin.train.network import build_model
    from lstm_composer_plugin.train.settings import TrainSettings
    from lstm_composer_plugin.train.tokensets import make_token_set

    with quiet():
        import keras

    over = dict(RECIPES[args.recipe], lstm_units=args.lstm_units)
    if args.batch_size:
        over["batch_size"] = args.batch_size
    if args.recipe == "notes" or args.recipe.startswith("pairs"):
        over["key_mode"] = args.key_mode
    s = TrainSettings(**over)
    corpus = load_corpus(args.corpus, warn=lambda m: None)
    split = split_pieces(corpus.names, s.val_fraction)
    token_set = make_token_set(s, corpus, split.train, split.val)
    tokens, _ = token_set.tokenize(corpus, split.train)
    notes_per_target = token_set.count_notes(corpus, split.train) / max(len(tokens) - 1, 1)
    keras.utils.set_random_seed(0)
    model = build_model(s.network(token_set.n_vocab))
    val_tokens, _ = token_set.tokenize(corpus, split.val)
    val_notes = token_set.count_notes(corpus, split.val)
    per_step = s.batch_size * (s.seq_len if s.recipe == "default" else 1)  # targets in one full batch
    transposer = token_set.transposer()

    def dataset(epoch: int):
        return make_dataset(tokens, recipe=s.recipe, input_kind=s.input, seq_len=s.seq_len, batch_size=s.batch_size,
                            n_vocab=token_set.n_vocab, rng=epoch_rng(0, epoch), transposer=transposer,
                            tokens_per_step=s.tokens_per_step)

    class Count(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            Count.steps += 1

    model.fit(dataset(0).take(2), verbose=0, shuffle=False)  # warm-up: trace the train function (not timed)
    epoch = 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        # Whole batches only, so targets = steps × per_step exactly; a few steps per fit call.
        n = 8 if s.recipe == "reference" else 1_000_000
        ds = dataset(epoch).filter(lambda x, y: _full(x, s.batch_size)).take(n)
        model.fit(ds, verbose=0, shuffle=False, callbacks=[Count()])
        epoch += 1
    seconds = time.perf_counter() - t0
    targets = Count.steps * per_step
    bits = None
    if s.recipe == "default" and len(val_tokens) > 2:
        recalibrate_batchnorm(model, np.asarray(tokens), input_kind=s.input, seq_len=s.seq_len,
                              rng=epoch_rng(0, epoch), tokens_per_step=s.tokens_per_step)
        nats, _, _ = evaluate_stream(model, np.asarray(val_tokens), s.seq_len, s.batch_size, input_kind=s.input,
                                     tokens_per_step=s.tokens_per_step)
        bits = nats / max(val_notes, 1) / LN2
    return {
        "recipe": args.recipe,
        "encoding": s.encoding,
        "key_mode": s.key_mode,
        "input": s.input,
        "batch_size": s.batch_size,
        "seq_len": s.seq_len,
        "n_vocab": token_set.n_vocab,
        "train_tokens": int(len(tokens)),
        "notes_per_target": round(notes_per_target, 3),
        "params": int(model.count_params()),
        "steps": Count.steps,
        "targets": targets,
        "seconds": round(seconds, 2),
        "targets_per_s": round(targets / seconds, 1),
        "notes_per_s": round(targets * notes_per_target / seconds, 1),
        "tokens_per_step": s.tokens_per_step,
        "val_bits_per_note": None if bits is None else round(bits, 3),
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
    p.add_argument("--recipes", default="notes,events,reference", help="which, in order (default all three)")
    p.add_argument("--key-mode", default="normalise", choices=("normalise", "augment", "none"),
                   help="the notes recipe's key handling (default normalise)")
    p.add_argument("--default-batch", type=int, default=None, help="chunks per batch (notes, events)")
    p.add_argument("--reference-batch", type=int, default=None, help="windows per batch (reference recipe)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--worker", choices=tuple(RECIPES), help=argparse.SUPPRESS)
    args = p.parse_args()
    args.lstm_units = [int(u) for u in args.lstm_units.split(",")]

    if args.worker:
        args.recipe = args.worker
        args.batch_size = args.reference_batch if args.worker == "reference" else args.default_batch
        print(json.dumps(worker(args)))
        return 0

    names = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = [r for r in names if r not in RECIPES]
    if unknown:
        p.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    results = {}
    for recipe in names:
        cmd = [sys.executable, __file__, "--worker", recipe, "--corpus", args.corpus, "--seconds", str(args.seconds),
               "--lstm-units", ",".join(map(str, args.lstm_units)), "--key-mode", args.key_mode]
        for flag, value in (("--default-batch", args.default_batch), ("--reference-batch", args.reference_batch)):
            if value is not None:
                cmd += [flag, str(value)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[recipe] = json.loads(out.strip().splitlines()[-1])

    base = results.get("reference")
    summary = {"corpus": args.corpus, "lstm_units": args.lstm_units, "recipes": results}
    if base:
        summary["vs_reference"] = {
            r: {"targets": round(x["targets_per_s"] / base["targets_per_s"], 1),
                "notes": round(x["notes_per_s"] / base["notes_per_s"], 1)}
            for r, x in results.items()
        }
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    first = next(iter(results.values()))
    print(f"corpus {args.corpus}: LSTM {'/'.join(map(str, args.lstm_units))}, "
          f"{first['params'] / 1e6:.2f} M parameters ({first['recipe']})")
    print(f"{'recipe':<14} {'encoding':<8} {'vocab':>6} {'batch':>12} {'steps':>6} {'seconds':>8} "
          f"{'targets/s':>10} {'notes/s':>9} {'val bits/note':>14} {'peak RSS':>9}")
    for x in results.values():
        unit = "chunks" if x["recipe"] != "reference" else "windows"
        bits = "-" if x.get("val_bits_per_note") is None else f"{x['val_bits_per_note']:.3f}"
        print(f"{x['recipe']:<14} {x['encoding']:<8} {x['n_vocab']:>6} {str(x['batch_size']) + ' ' + unit:>12} "
              f"{x['steps']:>6} {x['seconds']:>8.1f} {x['targets_per_s']:>10.0f} {x['notes_per_s']:>9.0f} "
              f"{bits:>14} {x['peak_rss_mb']:>7.0f} MB")
    b = results.get("notes")
    for r, a in results.items():
        if b is not None and r.startswith("pairs"):
            print(f"{r} / notes: {a['notes_per_s'] / b['notes_per_s']:.2f}x notes per second; validation bits per "
                  f"note after {args.seconds:g} s each: {a['val_bits_per_note']} against {b['val_bits_per_note']}")
    for r, ratio in summary.get("vs_reference", {}).items():
        if r != "reference":
            print(f"{r} / reference: {ratio['targets']:.1f}x targets per second, {ratio['notes']:.1f}x notes per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
