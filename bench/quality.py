"""Composition quality per style, measured against real music: writes docs/quality.md.

    python bench/quality.py                                   # catalogue/ models and runs/<style>/*.lstmc
    python bench/quality.py --styles bach irish --models runs --quick
    python bench/quality.py --models runs/bach/bach.lstmc catalogue/models/bach-e0025.lstmc

For each model file (its style, vocabulary and encoding come from its manifest), on that
style's pieces in ``--corpus``, split as the model's trainer split them (the manifest lists
the training and, for newer models, the validation pieces; the validation pieces are pieces
the model never saw):

1. **Bits per note**: the network's validation loss (NumPy engine, each piece read from the
   zero state after a separator, every token and the closing separator predicted) and that
   of interpolated modified Kneser-Ney n-gram models of orders 1-6 fitted on the training
   pieces' tokens, both in bits per note of the validation pieces (total nats / notes / ln 2).
2. **Two-sample test** (Lopez-Paz & Oquab 2017): key-invariant features of 32-onset segments
   (16 where most validation pieces are shorter than 48 onsets)
   (``lstm_composer_plugin.music.features.FEATURES``), logistic regression, ROC AUC
   cross-validated by piece, for: validation pieces against each other (two halves by piece,
   the chance level), against the best n-gram model's compositions, and against the model's
   compositions (the product's ``compose``, default settings, seed 1, N variations, written
   as MIDI and read back; ``--temperature``, ``--top-p``, ``--top-k`` and ``--seed`` change
   the model's compositions only, and the report says which were used).
3. **Copying and collapse**: the longest same-pitch and same-event runs, distinct events per
   100, the longest verbatim event run and 8-gram share from the training pieces, and the
   longest melodic run (top-line intervals, transposition and rhythm ignored, in notes: the
   note-level copy guard's measure) shared with a training piece; next to the same figures of the validation pieces (the human baseline).
4. A piano roll per style (``--pianoroll``): a composition above a validation piece, on one
   time scale in beats.

Needs the ``bench`` extra (scikit-learn) and matplotlib for the piano rolls.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_report import markdown, render_comparison  # noqa: E402

from hostapi.results import ComposeOptions  # noqa: E402
from lstm_composer_plugin.compose.composer import compose  # noqa: E402
from lstm_composer_plugin.compose.engine import NumpyNetwork, blas_threads  # noqa: E402
from lstm_composer_plugin.errors import ComposerError, MidiReadError  # noqa: E402
from lstm_composer_plugin.modelfile import Manifest, load_model, read_manifest  # noqa: E402
from lstm_composer_plugin.music.codec import Codec, codec_for  # noqa: E402
from lstm_composer_plugin.music.corpus import find_midi_files  # noqa: E402
from lstm_composer_plugin.music.evaluate import (  # noqa: E402
    CopyIndex,
    feature_gaps,
    halves,
    network_nats,
    two_sample_auc,
)
from lstm_composer_plugin.music.features import FEATURES, piece_segments, to_grid  # noqa: E402
from lstm_composer_plugin.music.midi import Piece, read_midi  # noqa: E402
from lstm_composer_plugin.music.ngram_lm import NgramModel, bits_per_note  # noqa: E402
from lstm_composer_plugin.train.dataset import split_pieces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Settings:
    compositions: int = 20
    segment_onsets: int = 32
    segments_per_piece: int = 8
    max_order: int = 6
    repeats: int = 3
    halvings: int = 5
    max_val_pieces: int | None = None
    pianoroll: Path | None = None
    # The model's compositions only (the n-gram composer samples at temperature 1, its own seeds).
    seed: int = 1
    temperature: float | None = None  # None: the composer's default (1.0)
    top_p: float | None = None
    top_k: int | None = None
    harmony: str | None = None  # None: the model's own; "off", or comma-separated harmony_rates names
    planner: str | None = None  # "ngram": the learnt bar planner plans each bar's density and chord
    bar_retries: int | None = None  # None: the composer's default
    clashes: bool = True  # False: no bar drawn again for its semitone clashes

    def sampling(self) -> str:
        """The compose settings in words, for the report: "default settings, seed 1" or the given ones."""
        given = [f"{k} {v}" for k, v in (("temperature", self.temperature), ("top-p", self.top_p),
                                          ("top-k", self.top_k), ("harmony", self.harmony),
                                          ("planner", self.planner), ("bar retries", self.bar_retries),
                                          ("clash redraws", None if self.clashes else "off"))
                 if v is not None]
        return f"{', '.join(given) or 'default settings'}, seed {self.seed}"


@dataclass
class Music:
    """One piece as measured: its name, the piece (notes in beats, time signature), its notes on the grid."""

    name: str
    piece: Piece
    grid: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.grid = to_grid(self.piece.notes)

    @property
    def notes(self) -> list:
        return self.piece.notes

    @property
    def time_signature(self) -> tuple[int, int]:
        return self.piece.time_signature


def load_split(style: str, manifest: Manifest, corpus: Path) -> tuple[list, list]:
    """(training pieces, validation pieces) as the model's trainer split the style's folder."""
    folder = corpus / style
    files = find_midi_files(folder)
    pieces = {}
    for f in files:
        try:
            p = read_midi(f)
        except MidiReadError:
            continue
        if p.notes:
            pieces[str(f.relative_to(folder))] = p
    info = manifest.corpus
    names = list(pieces)
    # The trainer names pieces relative to the folder it read: the style's, or the corpus root.
    alias = {f"{style}/{n}": n for n in names}

    def ours(listed: list[str] | None) -> set[str]:
        return {alias.get(n, n) for n in listed or []}

    train_names = ours(info.get("train_pieces"))
    if info.get("val_pieces") is not None:
        val_names = ours(info["val_pieces"])
    elif train_names:
        val_names = set(names) - train_names
    else:
        split = split_pieces(names)
        val_names = {names[i] for i in split.val}
        train_names = set(names) - val_names
    train = [(n, pieces[n]) for n in names if n in train_names]
    val = [(n, pieces[n]) for n in names if n in val_names]
    if not train or not val:
        raise SystemExit(f"{style}: no training or no validation pieces of the model in {folder}")
    return train, val


GOAL_FEATURES = ("density", "triadic", "interval_class[1]", "interval[0]")


def goal_features(real: np.ndarray, model: np.ndarray, train: np.ndarray) -> dict[str, dict[str, float]]:
    """The music issue's four measures: the mean over the validation pieces' segments ("real"), the
    compositions' ("model") and all the training pieces' ("train")."""
    names = [n for n, _ in FEATURES]
    return {name: {"real": float(real[:, k].mean()), "model": float(model[:, k].mean()),
                   "train": float(train[:, k].mean())}
            for k, name in enumerate(names) if name in GOAL_FEATURES}


def harmony_extra(harmony: str | None) -> dict:
    """``ComposeOptions.extra`` for ``--harmony``: the pull toward the style's harmony off or limited."""
    if harmony is None:
        return {}
    return {"harmony": None if harmony == "off" else [h for h in harmony.split(",") if h]}


def compositions(model: Path, style: str, s: Settings, tmp: Path) -> tuple[list[Music], dict | None]:
    """The model's compositions read back from their MIDI files, and, for models with bar controls,
    how their bars kept their controls (the compose report's figures, weighted by bars)."""
    opts = ComposeOptions(out_path=tmp / f"{style}.mid", seed=s.seed, variations=s.compositions, offline=True,
                          force=True, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                          extra={**harmony_extra(s.harmony), **({"planner": s.planner} if s.planner else {}),
                                 **({"bar_retries": s.bar_retries} if s.bar_retries is not None else {}),
                                 **({} if s.clashes else {"clashes": None})})
    result = compose(style, opts, model_path=model)
    out = []
    for k, path in enumerate(result.variations or [result.path]):
        out.append(Music(f"composition {k + 1}", read_midi(path)))
    bars = [r["bar_controls"] for r in result.report.get("variations", [result.report]) if r.get("bar_controls")]
    kept = None
    if bars and sum(b["bars"] for b in bars):
        total = sum(b["bars"] for b in bars)
        kept = {"bars": total, **{k: sum(b[k] * b["bars"] for b in bars if b[k] is not None) / total
                                  for k in ("density_kept", "chord_root_kept", "texture_kept")}}
    return out, kept


def ngram_compositions(
    lm: NgramModel, order: int, codec: Codec, n: int, notes_each: int, time_signature: tuple[int, int]
) -> list[Music]:
    """Samples of the n-gram model, kept well formed by the encoding's grammar where it has one."""
    out = []
    for k in range(n):
        prefix, grammar = codec.start(time_signature)
        rng = np.random.default_rng([7, k])
        toks = lm.sample(order, rng, enough=lambda t: codec.count_notes(t) >= notes_each, prefix=prefix, grammar=grammar)
        piece = Piece(path=f"{order}-gram {k + 1}", notes=codec.decode(toks), time_signature=codec.time_signature(toks))
        out.append(Music(piece.path, piece))
    return out


def segment_length(real: list[Music], s: Settings) -> int:
    """``s.segment_onsets``, or half as many where most validation pieces are too short for two segments."""
    onsets = np.median([len({n.start for n in m.grid}) for m in real])
    return s.segment_onsets if onsets >= 1.5 * s.segment_onsets else s.segment_onsets // 2


def features(pieces: list[Music], s: Settings, onsets: int) -> tuple[np.ndarray, list[str]]:
    rows, groups = [], []
    for m in pieces:
        x = piece_segments(m.grid, m.time_signature, onsets=onsets,
                           hop=onsets // 2, max_segments=s.segments_per_piece)
        rows.append(x)
        groups += [m.name] * len(x)
    return (np.vstack(rows) if rows else np.zeros((0, 0))), groups


def register(m: Music) -> tuple[float, float]:
    """Mean highest and mean lowest pitch over the onsets of a piece."""
    by: dict[int, list[int]] = {}
    for n in m.grid:
        by.setdefault(n.start, []).append(n.pitch)
    return float(np.mean([max(v) for v in by.values()])), float(np.mean([min(v) for v in by.values()]))


def copying(pieces: list[Music], index: CopyIndex) -> dict:
    """Medians and maxima over pieces of the collapse and copying figures."""
    per = [index.measure(m.piece) for m in pieces]
    out: dict = {"pieces": len(per), "notes": float(np.median([len(m.notes) for m in pieces]))}
    for key in ("same_pitch_run", "same_event_run", "verbatim_run", "melodic_run"):
        vals = [f[key] for f in per]
        out[key] = {"median": float(np.median(vals)), "max": int(max(vals))}
    out["distinct_per_100"] = float(np.median([f["distinct_per_100"] for f in per]))
    # Register (not in the two-sample test, whose features ignore the key): the mean highest and
    # lowest pitch at an onset, which a key or octave choice at compose time can move.
    out["register"] = [float(np.mean([register(m)[i] for m in pieces])) for i in (0, 1)]
    out["ngram8_share"] = float(np.mean([f["ngram8_share"] for f in per]))
    return out


def measure(model: Path, corpus: Path, s: Settings, tmp: Path) -> dict:
    t0 = time.perf_counter()
    manifest = read_manifest(model)
    style = manifest.style or model.stem
    codec = codec_for(manifest)
    train, val = load_split(style, manifest, corpus)
    if s.max_val_pieces:
        val = val[: s.max_val_pieces]
    train_toks = [codec.encode(p) for _, p in train]
    val_toks = [codec.encode(p) for _, p in val]
    notes = sum(codec.count_notes(t) for t in val_toks)
    kept = np.sum([codec.fidelity(p) for _, p in val], axis=0)

    # 1. Bits per note: n-grams of every order and the network, on the same tokens.
    lm = NgramModel(train_toks, codec.n_vocab, sep=codec.sep, max_order=s.max_order)
    ng_nats, targets = lm.nats(val_toks)
    ng_bits = [bits_per_note(x, notes) for x in ng_nats]
    best = int(np.argmin(ng_bits)) + 1
    net = NumpyNetwork.from_model(load_model(model))
    net_nats, _ = network_nats(net, val_toks, codec.sep)

    # 2. The compositions, the n-gram composer's and the real pieces, as music.
    real = [Music(n, p) for n, p in val]
    comps, bars_kept = compositions(model, style, s, tmp)
    length = int(np.median([len(m.notes) for m in comps]))
    metres = Counter(p.time_signature for _, p in train)
    ngram = ngram_compositions(lm, best, codec, s.compositions, length, metres.most_common(1)[0][0])

    onsets = segment_length(real, s)
    xr, gr = features(real, s, onsets)
    xm, gm = features(comps, s, onsets)
    xn, gn = features(ngram, s, onsets)
    rr = []
    for h in range(s.halvings):
        one, _ = halves(gr, seed=h)
        mask = np.isin(gr, one)
        rr.append(two_sample_auc(xr[mask], np.array(gr)[mask], xr[~mask], np.array(gr)[~mask], repeats=s.repeats, seed=h))
    ok = [x for x in rr if not math.isnan(x)]
    # The style's own training pieces (as many as there are compositions, evenly spread) against the same
    # validation pieces: what a model that composed exactly like its training pieces would score. Where
    # this is high, the validation pieces differ from the training pieces (few pieces, a split by piece),
    # and part of the model's AUC is that difference, not the model's.
    pick = sorted(set(np.linspace(0, len(train) - 1, min(len(train), s.compositions)).round().astype(int).tolist()))
    xa, ga = features([Music(*p) for p in train], s, onsets)  # all of them, for the goal features' means
    picked = np.isin(ga, [train[i][0] for i in pick])
    xt, gt = xa[picked], list(np.array(ga)[picked])
    auc = {
        "train": two_sample_auc(xr, gr, xt, gt, repeats=s.repeats),
        "real_vs_real": float(np.mean(ok)) if ok else math.nan,
        "real_vs_real_sd": float(np.std(ok)) if ok else math.nan,
        "ngram": two_sample_auc(xr, gr, xn, gn, repeats=s.repeats),
        "model": two_sample_auc(xr, gr, xm, gm, repeats=s.repeats),
    }

    # 3. Copying and collapse, against the training pieces.
    index = CopyIndex([p for _, p in train], [n for n, _ in train])
    result = {
        "style": style,
        "model": str(model),
        "model_id": manifest.model_id or model.stem,
        "encoding": codec.kind,
        "vocab": codec.n_vocab,
        "epoch": manifest.epoch,
        "pieces": [len(train), len(val)],
        "val_notes": notes,
        "val_tokens": targets,
        "val_notes_kept": float(kept[0] / max(kept[1], 1)),
        "bits": {"model": bits_per_note(net_nats, notes), "ngram": ng_bits, "best_order": best},
        "model_nats_per_token": net_nats / targets,
        "manifest_val_loss": manifest.quality.get("val_loss") if isinstance(manifest.quality, dict) else None,
        # The style's own same-pitch range (99th percentile of its training pieces) where the model has one.
        # Fine-tuned from the corpus-wide network (train-all), or trained from random weights.
        "fine_tuned": bool(((manifest.get("training") or {}).get("settings") or {}).get("init_from")),
        "same_pitch_limit": (manifest.encoding.get("profile") or {}).get("same_pitch_limit"),
        "segments": {"onsets": onsets, "real": len(xr), "model": len(xm), "ngram": len(xn)},
        "auc": auc,
        # What tells the compositions from the real pieces best, feature by feature.
        # The music issue's four measures (onsets per beat, triads, semitone clashes, repeated
        # melody notes): the validation pieces' mean and the compositions'.
        "bars_kept": bars_kept,  # models with bar controls: shares of composed bars keeping their controls
        # With the mean over all the style's training pieces beside it: where the validation pieces differ
        # from the pieces learnt from, a model composing like the latter misses the goal by that difference.
        "goal_features": goal_features(xr, xm, xa),
        "gaps": {who: [g.__dict__ for g in feature_gaps(xr, x, [n for n, _ in FEATURES])]
                 for who, x in (("model", xm), ("ngram", xn), ("train", xt))},
        "human": copying(real, index),
        "compositions": copying(comps, index),
        "ngram_compositions": copying(ngram, index),
        "settings": {"compositions": len(comps), "repeats": s.repeats, "halvings": s.halvings, "seed": s.seed,
                     "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k, "harmony": s.harmony,
                     "planner": s.planner},
        "seconds": 0.0,
    }
    if s.pianoroll is not None:
        ref = max(real, key=lambda m: len(m.notes))
        render_comparison(comps[0], ref, s.pianoroll / f"{style}.png",
                          titles=(f"{style}: composition ({result['model_id']}, {s.sampling()})", f"{style}: {ref.name} (validation piece)"))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def find_models(args: argparse.Namespace) -> list[Path]:
    """Catalogue models first (the "before" rows), then the newest model file per style of ``--models``."""
    found: list[Path] = []
    if args.catalogue is not None:
        index = json.loads((args.catalogue / "index.json").read_text())
        found += [args.catalogue / "models" / s["file"] for s in index["styles"]]

    def rank(f: Path) -> tuple[bool, float]:  # an exported model before any checkpoint, then the newest
        return ("checkpoints" not in f.parts, f.stat().st_mtime)

    newest: dict[str, Path] = {}
    for given in args.models or []:
        if not given.is_dir():
            if not given.is_file():
                raise SystemExit(f"{given}: no such model file or folder")
            found.append(given)
            continue
        for f in sorted(given.rglob("*.lstmc")):
            style = str(read_manifest(f).get("style") or f.stem)
            if style not in newest or rank(f) > rank(newest[style]):
                newest[style] = f
    found += list(newest.values())
    if args.styles:
        found = [f for f in found if str(read_manifest(f).get("style") or f.stem) in args.styles]
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--styles", nargs="*", help="only these styles")
    ap.add_argument("--models", nargs="*", type=Path, help="model files, or folders searched for *.lstmc "
                    "(the newest per style); default: runs/ when it exists")
    ap.add_argument("--catalogue", type=Path, default=None, help="also measure a published catalogue's models")
    ap.add_argument("--no-catalogue", action="store_true", help="do not measure catalogue/ by default")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--compositions", type=int, default=20, help="compositions per model (seed 1, N variations)")
    ap.add_argument("--segments-per-piece", type=int, default=8)
    ap.add_argument("--max-order", type=int, default=6, help="highest n-gram order (default 6)")
    ap.add_argument("--max-val-pieces", type=int, default=None, help="measure at most this many validation pieces")
    ap.add_argument("--seed", type=int, default=1, help="the compositions' seed (default 1)")
    ap.add_argument("--planner", choices=["ngram"], default=None,
                    help="models with bar controls: plan each bar's density and chord with the learnt n-gram planner")
    ap.add_argument("--harmony", default=None, help="models with bar controls: 'off', or the harmony_rates to "
                    "pull toward, comma-separated (default: all the model's)")
    ap.add_argument("--bar-retries", type=int, default=None, help="models with bar controls: draw a bar again up "
                    "to N times while it misses its density class or chord root (default: the composer's)")
    ap.add_argument("--no-clash-redraws", dest="clashes", action="store_false", help="models with the style's "
                    "clashes per bar: do not draw a bar again for its semitone clashes")
    ap.add_argument("--temperature", type=float, default=None, help="compose at this temperature (default: the composer's, 1.0)")
    ap.add_argument("--top-p", type=float, default=None, help="compose with nucleus sampling at this p (default: off)")
    ap.add_argument("--top-k", type=int, default=None, help="compose from the k likeliest tokens only (default: off)")
    ap.add_argument("--quick", action="store_true", help="6 compositions, 1 repeat of the cross-validation")
    ap.add_argument("--catalogue-quick", action="store_true", help="--quick for the catalogue's models only")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "quality.md")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--pianoroll", type=Path, default=None, help="folder for <style>.png piano rolls")
    args = ap.parse_args(argv)
    # Refused before minutes of measuring, not by the composer at the first composition.
    if args.temperature is not None and not args.temperature > 0:
        ap.error(f"--temperature must be above 0, not {args.temperature}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        ap.error(f"--top-p must be in (0, 1], not {args.top_p}")
    if args.top_k is not None and args.top_k < 1:
        ap.error(f"--top-k must be at least 1, not {args.top_k}")
    if args.catalogue is None and not args.no_catalogue and (ROOT / "catalogue" / "index.json").is_file():
        args.catalogue = ROOT / "catalogue"
    if args.models is None and (ROOT / "runs").is_dir():
        args.models = [ROOT / "runs"]
    s = Settings(compositions=args.compositions, segments_per_piece=args.segments_per_piece, max_order=args.max_order,
                 max_val_pieces=args.max_val_pieces, pianoroll=args.pianoroll, seed=args.seed,
                 temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, harmony=args.harmony,
                 planner=args.planner, bar_retries=args.bar_retries, clashes=args.clashes)
    quick = Settings(**{**s.__dict__, "compositions": min(s.compositions, 6), "repeats": 1, "halvings": 2})
    if args.quick:
        s = quick
    try:
        models = find_models(args)
    except ComposerError as exc:
        raise SystemExit(str(exc)) from None
    if not models:
        raise SystemExit("no model files to measure (see --models, --catalogue, --styles)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            style = str(read_manifest(model).get("style") or model.stem)
            if not (args.corpus / style).is_dir():  # the catalogue's corpus network: a model of every style
                print(f"{style:13s} {model.name}: skipped (no {args.corpus / style} folder to measure it against)")
                continue
            try:
                listed = args.catalogue is not None and model.parent == args.catalogue / "models"
                # One BLAS thread: stepping an LSTM is many small products, which threads slow down.
                with blas_threads(1):
                    r = measure(model, args.corpus, quick if listed and args.catalogue_quick else s, Path(tmp))
            except ComposerError as exc:
                raise SystemExit(str(exc) if str(exc).startswith(str(model)) else f"{model}: {exc}") from None
            results.append(r)
            a, b = r["auc"], r["bits"]
            print(f"{r['style']:13s} {r['model_id']:24s} {r['seconds']:6.1f} s  bits/note {b['model']:.2f} "
                  f"(best {b['best_order']}-gram {min(b['ngram']):.2f})  AUC real {a['real_vs_real']:.2f} "
                  f"train {a['train']:.2f} n-gram {a['ngram']:.2f} model {a['model']:.2f}", flush=True)
    results.sort(key=lambda r: r["style"])  # stable: a style's catalogue row stays above its new one
    command = "python bench/quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(results, s, command.strip()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
