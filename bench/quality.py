"""Composition quality per style, next to the human baseline: writes docs/quality.md.

    python bench/quality.py                                  # catalogue/ and ../shared/corpus, 20 seeds
    python bench/quality.py --seeds 5 --out /tmp/quality.md  # quick

For every style in the catalogue it composes ``--seeds`` pieces with the product's own
``compose`` (default settings, seeds 1..N, written as MIDI and read back, so what is measured
is what the user gets) and measures each with the same functions the training scorecard and
the composer's guards use (``lstm_composer_plugin.music.stats``):

- longest run of one repeated event, and distinct events per 100 (collapse and monotony);
- longest verbatim run shared with one training piece, and the share of the composition's
  8-grams found in the training pieces (copying);
- the nearest style by pitch-class and duration histograms, among all catalogue styles'
  training pieces (does it sound like its style, by the crudest measure).

The baseline is human: the same measures for that style's validation pieces (the pieces the
model never saw; the model file lists its training pieces) against its training pieces. Both
sides are read through the model's vocabulary, so "the same event" means the same thing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostapi.results import ComposeOptions  # noqa: E402
from lstm_composer_plugin.compose.composer import compose, corpus_index  # noqa: E402
from lstm_composer_plugin.modelfile import load_model, read_manifest  # noqa: E402
from lstm_composer_plugin.music.corpus import load_corpus  # noqa: E402
from lstm_composer_plugin.music.midi import read_midi  # noqa: E402
from lstm_composer_plugin.music.stats import (  # noqa: E402
    CorpusIndex,
    distinct_per_100,
    longest_run,
    style_distance,
    style_stats,
)
from lstm_composer_plugin.music.tokens import SEP, EventEncoding, Vocabulary, piece_to_events  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figures:
    """Per-piece measures, summarised as median (and max where a maximum matters)."""

    events: list[int] = field(default_factory=list)
    run: list[int] = field(default_factory=list)
    distinct: list[float] = field(default_factory=list)
    copy_run: list[int] = field(default_factory=list)
    ngram: list[float] = field(default_factory=list)
    nearest_own: list[bool] = field(default_factory=list)

    def add(self, tokens: list[int], copies: CorpusIndex, own: bool) -> None:
        rep = copies.report(tokens)
        self.events.append(len(tokens))
        self.run.append(longest_run(tokens))
        self.distinct.append(distinct_per_100(tokens))
        self.copy_run.append(rep.longest_run)
        self.ngram.append(rep.ngram_share)
        self.nearest_own.append(own)

    def summary(self) -> dict[str, float]:
        return {
            "pieces": len(self.events),
            "events": float(np.median(self.events)),
            "run_median": float(np.median(self.run)),
            "run_max": int(max(self.run)),
            "distinct": float(np.median(self.distinct)),
            "copy_run_median": float(np.median(self.copy_run)),
            "copy_run_max": int(max(self.copy_run)),
            "ngram_share": float(np.mean(self.ngram)),
            "nearest_own": float(np.mean(self.nearest_own)),
        }


@dataclass
class Style:
    id: str
    model: Path
    manifest: dict
    vocab: Vocabulary
    train_events: list = field(default_factory=list)
    val_events: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def load_style(style_id: str, model: Path, corpus_root: Path) -> Style:
    manifest = read_manifest(model)
    vocab = Vocabulary.from_dict(manifest["vocabulary"])
    encoding = EventEncoding.from_dict(manifest.get("encoding", {}))
    corpus = load_corpus(corpus_root / style_id, encoding, warn=lambda _m: None)
    train_names = set((manifest.get("corpus") or {}).get("train_pieces") or [])
    if not train_names:
        raise SystemExit(f"{model}: the manifest does not list its training pieces")
    st = Style(style_id, model, manifest, vocab)
    for name, events in zip(corpus.names, corpus.events, strict=True):
        (st.train_events if name in train_names else st.val_events).append(events)
    st.stats = style_stats(st.train_events)
    return st


def copy_index(st: Style) -> CorpusIndex:
    """The training pieces through the model's vocabulary: the copy guard's own index, from the model file."""
    index = corpus_index(load_model(st.model))
    if index is None:
        raise SystemExit(f"{st.model}: the model file carries no corpus index")
    return index


def ngram_val_losses(st: Style, beta: float = 10.0) -> tuple[float, float]:
    """Validation loss (nats per event) of a unigram and a bigram table on the model's split.

    Tokens through the model's vocabulary with a separator after each piece, as training sees
    them. Unigram: add-one. Bigram: Dirichlet-smoothed towards the unigram (beta fixed, not
    tuned on the validation pieces). A network that does not beat these has learnt no more
    than event frequencies.
    """
    n = len(st.vocab)

    def stream(seqs) -> np.ndarray:
        return np.concatenate([np.asarray(st.vocab.encode(ev) + [SEP], dtype=np.int64) for ev in seqs])

    train, val = stream(st.train_events), stream(st.val_events)
    uni = (np.bincount(train, minlength=n) + 1.0) / (len(train) + n)
    pairs = np.zeros((n, n))
    np.add.at(pairs, (train[:-1], train[1:]), 1.0)
    prev = np.concatenate([[SEP], val[:-1]])
    p_bi = (pairs[prev, val] + beta * uni[val]) / (pairs[prev].sum(axis=1) + beta)
    return float(-np.log(uni[val]).mean()), float(-np.log(p_bi).mean())


def nearest(events, styles: list[Style]) -> str:
    return min(styles, key=lambda s: style_distance(events, s.stats)).id


def measure(styles: list[Style], seeds: int, length: int | None, tmp: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for st in styles:
        t0 = time.perf_counter()
        copies = copy_index(st)
        human, model = Figures(), Figures()
        for ev in st.val_events:
            human.add(st.vocab.encode(ev), copies, nearest(ev, styles) == st.id)
        encoding = EventEncoding.from_dict(st.manifest.get("encoding", {}))
        for seed in range(1, seeds + 1):
            opts = ComposeOptions(out_path=tmp / f"{st.id}-{seed}.mid", seed=seed, length=length, offline=True)
            result = compose(st.id, opts, model_path=st.model)
            events = piece_to_events(read_midi(result.path), encoding)
            model.add(st.vocab.encode(events), copies, nearest(events, styles) == st.id)
        unigram, bigram = ngram_val_losses(st)
        out[st.id] = {"human": human.summary(), "model": model.summary(),
                      "epoch": st.manifest.get("epoch"), "vocab": len(st.vocab),
                      "val_loss": (st.manifest.get("quality") or {}).get("val_loss"),
                      "unigram_val_loss": unigram, "bigram_val_loss": bigram,
                      "lstm_units": (st.manifest.get("network") or {}).get("lstm_units"),
                      "pieces": [len(st.train_events), len(st.val_events)],
                      "train_events": sum(len(e) for e in st.train_events)}
        print(f"{st.id:14s} {time.perf_counter() - t0:6.1f} s  "
              + _line(out[st.id]["model"]) + "  | human " + _line(out[st.id]["human"]), flush=True)
    return out


def _line(s: dict) -> str:
    return (f"run {s['run_max']:>2}  distinct {s['distinct']:5.1f}  copy {s['copy_run_median']:5.1f}/"
            f"{s['copy_run_max']:<3}  8-gram {s['ngram_share']:.3f}  nearest {s['nearest_own']:.2f}")


def markdown(results: dict[str, dict], seeds: int, command: str) -> str:
    lines = [
        "# Composition quality per style",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}; the method is in the script's docstring.",
        "",
        "## The models against frequency tables",
        "",
        "Validation loss in nats per event on the style's held-out pieces (lower is better), next to a unigram",
        "and a bigram table fitted on the same training pieces through the same vocabulary. A network above the",
        "bigram has learnt less about what follows what than counting pairs does.",
        "",
        "| style | pieces (train / val) | training events | vocabulary | LSTM | epoch | val loss | unigram | bigram |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for sid, r in results.items():
        units = "/".join(str(u) for u in r["lstm_units"] or [])
        vl = r["val_loss"]
        lines.append(
            f"| {sid} | {r['pieces'][0]} / {r['pieces'][1]} | {r['train_events']:,} | {r['vocab']:,} | {units} "
            f"| {r['epoch']} | {vl:.2f} | {r['unigram_val_loss']:.2f} | {r['bigram_val_loss']:.2f} |"
            if vl is not None else f"| {sid} | | | {r['vocab']} | {units} | {r['epoch']} | – | | |"
        )
    lines += [
        "",
        "## Compositions against the human baseline",
        "",
        f"**model**: {seeds} compositions per style (seeds 1..{seeds}, default settings, read back from the",
        "written MIDI). **human**: the style's validation pieces, never seen in training, against its training",
        "pieces (the same measures). Both are read through the model's vocabulary. Medians over pieces, except",
        "where max or mean is said. Compositions are 500 events long and most real pieces are shorter, which",
        "favours the human side on the verbatim-run column (a longer piece has more chances to meet a phrase).",
        "",
        "| style | | pieces | events | longest same-event run (median / max) | distinct / 100 "
        "| verbatim run from training (median / max) | copied 8-grams (mean) | nearest style is its own |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sid, r in results.items():
        for who in ("model", "human"):
            s = r[who]
            lines.append(
                f"| {sid if who == 'model' else ''} | {who} | {s['pieces']} | {s['events']:.0f} "
                f"| {s['run_median']:.0f} / {s['run_max']} "
                f"| {s['distinct']:.1f} | {s['copy_run_median']:.0f} / {s['copy_run_max']} | {s['ngram_share']:.1%} "
                f"| {s['nearest_own']:.0%} |"
            )
    model_acc = np.mean([r["model"]["nearest_own"] for r in results.values()])
    human_acc = np.mean([r["human"]["nearest_own"] for r in results.values()])
    lines += [
        "",
        f"Nearest-style accuracy (pitch-class and duration histograms against each style's training pieces) "
        f"over all styles: compositions {model_acc:.0%}, human validation pieces {human_acc:.0%} "
        f"(chance: {1 / len(results):.0%}).",
        "",
        "What the figures mean for each style, and what is left to do: [catalogue.md](catalogue.md#quality).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--catalogue", type=Path, default=ROOT / "catalogue", help="a published catalogue folder")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--length", type=int, default=None, help="events per composition (default: compose's)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "quality.md")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    index = json.loads((args.catalogue / "index.json").read_text())
    styles = [load_style(s["id"], args.catalogue / "models" / s["file"], args.corpus) for s in index["styles"]]
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(styles, args.seeds, args.length, Path(tmp))
    command = "python bench/quality.py" + ("" if args.seeds == 20 else f" --seeds {args.seeds}")
    args.out.write_text(markdown(results, args.seeds, command))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
