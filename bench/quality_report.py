"""docs/quality.md and the side-by-side piano rolls, from bench/quality.py's figures."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from lstm_composer_plugin.music.features import FEATURES, metre


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def auc_missed(model: float | None, ngram: float | None) -> str | None:
    """The AUC goal a model's AUC misses (above 0.75, or not 0.1 below the n-gram composer's), or why it
    cannot be judged; None where it is met."""
    if model is None or not math.isfinite(model):
        return "AUC n/a (too few validation pieces to cross-validate)"
    if model > 0.75 or (ngram is not None and math.isfinite(ngram) and model > ngram - 0.1):
        return "AUC"
    return None


def mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One model measured with several seeds (rows with ``auc``, ``auc_ngram`` and ``missed``): the mean AUCs,
    the AUC goal judged on them (``auc_missed``), and the other goals missed with any seed."""
    if len(rows) == 1:
        return rows[0]
    aucs = [r["auc"] for r in rows]
    auc = sum(aucs) / len(aucs) if all(a is not None and math.isfinite(a) for a in aucs) else None
    ngrams = [r["auc_ngram"] for r in rows if r["auc_ngram"] is not None and math.isfinite(r["auc_ngram"])]
    ngram = sum(ngrams) / len(ngrams) if ngrams else None
    missed = sorted({m for r in rows for m in r["missed"] if not m.startswith("AUC")})
    if judged := auc_missed(auc, ngram):
        missed.append(judged)
    return {**rows[0], "auc": auc, "auc_ngram": ngram, "missed": missed, "auc_seeds": aucs}


def missed_goals(r: dict[str, Any]) -> list[str]:
    """The music issue's goals a result misses (bits per note, AUC, melodic copying, same-pitch runs)."""
    b, a, c, h = r["bits"], r["auc"], r["compositions"], r["human"]
    missed = []
    if b["model"] / min(b["ngram"]) > 0.70:
        missed.append("bits")
    if auc := auc_missed(a["model"], a["ngram"]):
        missed.append(auc)
    if c["melodic_run"]["max"] > h["melodic_run"]["max"]:
        missed.append("melodic")
    if c["same_pitch_run"]["max"] > (r.get("same_pitch_limit") or h["same_pitch_run"]["max"]):
        missed.append("same pitch")
    return missed


# Above this, a style's own training pieces are told from its validation pieces about as well as the AUC
# goal (0.75) allows a model's compositions to be: the split, not only the model, is measured.
SPLIT_GAP = 0.65


def summary(results: list[dict[str, Any]]) -> list[str]:
    """How many rows meet each goal, and where the validation pieces differ from the training pieces."""
    missed = [missed_goals(r) for r in results]
    testable = [(r, m) for r, m in zip(results, missed, strict=True) if not any(x.startswith("AUC n/a") for x in m)]
    auc_met = [r["style"] for r, m in testable if "AUC" not in m]
    lines = [
        f"**Goals met**, of {len(results)} rows: bits per note {sum('bits' not in m for m in missed)}; AUC "
        f"{len(auc_met)} of the {len(testable)} with enough validation pieces ({', '.join(auc_met) or 'none'}); "
        f"melodic copying {sum('melodic' not in m for m in missed)}; same-pitch runs "
        f"{sum('same pitch' not in m for m in missed)}. The AUC of one seed's compositions moves by 0.05-0.08 from "
        "seed to seed; `bench/quality_seeds.py` judges the goal on the mean of several (docs/quality-seeds.md).",
    ]
    apart = [r for r in results
             if r["auc"].get("train") is not None and math.isfinite(r["auc"]["train"]) and r["auc"]["train"] >= SPLIT_GAP]
    if apart:
        named = ", ".join(f"{r['style']} {r['auc']['train']:.2f}" for r in apart)
        lines += [
            "",
            "**Where the held-out pieces differ from the learnt ones** (*AUC train* ≥ "
            f"{SPLIT_GAP}): {named}. There the style's own training pieces "
            "are told from its validation pieces nearly as well as the AUC goal allows compositions to be, so a "
            "model that composes like the pieces it learnt from misses that goal by the split's difference. The",
            "features the two sets of real pieces differ in most (validation → training pieces' mean):",
            "",
        ]
        for r in apart:
            gaps = r.get("gaps", {}).get("train") or []
            lines.append(f"- {r['style']}: " + "; ".join(
                f"`{g['name']}` {g['auc']:.2f} ({g['mean_a']:.2f} → {g['mean_b']:.2f})" for g in gaps[:3]))
    return lines


def markdown(results: list[dict[str, Any]], s: Any, command: str) -> str:
    lines = [
        "# Composition quality per style, measured",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} (method: `bench/quality.py`'s docstring,",
        "measuring code: `lstm_composer_plugin/music/{evaluate,features,ngram_lm}.py`).",
        "",
        "Each row is one model file on its style's validation pieces (pieces its trainer held out and the model",
        "never saw). **Bits per note**: the network's validation loss and the best n-gram model's (interpolated",
        f"modified Kneser-Ney, orders 1-{s.max_order}, fitted on the training pieces' tokens, normalised over the whole",
        "vocabulary), total nats over the validation token stream / notes / ln 2, so encodings compare; the",
        "ratio is network / best n-gram (goal ≤ 0.70). **AUC** of the two-sample test: a classifier tells",
        "segments of 32 onsets (16 where most validation pieces are shorter than 48 onsets) of the validation",
        "pieces from segments of the other set by the features listed below,",
        "cross-validated by piece; 0.5 = indistinguishable, 1.0 = always told apart (goal ≤ 0.75 and below the",
        "n-gram composer's). *real*: validation pieces against each other (two random halves by piece, mean ± sd",
        "over halvings): the chance level, and how noisy an AUC on this few pieces is (the effective sample is",
        "the number of pieces, not of segments); *train*: the style's training pieces (N of them, evenly spread)",
        "against the validation pieces, what a model composing exactly like its training pieces would score",
        "(where it is high, the held-out pieces differ from the ones learnt from); *n-gram*: compositions sampled from the best n-gram model (the",
        "encoding's grammar keeps them well formed where it has one); *model*: the model's",
        f"compositions (`compose`, {s.sampling()}, N variations: N in the details below). **Runs and copies**:",
        "model / human, the maximum over compositions and over validation pieces (the human baseline);",
        "*same pitch*: longest run of one repeated top-line pitch; *verbatim*: longest run of onset events",
        "(pitches, lengths, time to the next onset) found in one training piece, at the same pitch (a copy in",
        "another key shows in the next column only); *melodic*: longest run of",
        "top-line intervals (transposition-invariant, rhythm ignored; counted in notes, as the note-level copy",
        "guard counts it) shared with one training piece; *8-grams*: mean share of the event 8-grams found in",
        "the training pieces. Goals: melodic ≤ human, same pitch within the style's own range.",
        "*(ft)*: fine-tuned from the corpus-wide network (`lstm-composer train-all`); the others trained from",
        "random weights. *Same pitch* shows in brackets the style's own limit, the 99th percentile of its training pieces' runs,",
        "which the composer's guard keeps to. *Missed*: the goals this row misses (*bits*: ratio above 0.70;",
        "*AUC*: above 0.75 or not below the n-gram composer's; *melodic*: above the human maximum; *same pitch*:",
        "above the style's limit, or the human maximum where the model has none); why, for the AUC, is in",
        "\"What gives the compositions away\" below.",
        "",
        "| style | model | encoding (vocab.) | pieces train / val | bits/note model | best n-gram (order) "
        "| ratio | AUC real | AUC train | AUC n-gram | AUC model | same pitch | verbatim | melodic | 8-grams | missed |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        b, a = r["bits"], r["auc"]
        best = min(b["ngram"])
        c, h = r["compositions"], r["human"]
        limit = "" if r.get("same_pitch_limit") is None else f" ({r['same_pitch_limit']})"
        lines.append(
            f"| {r['style']} | {r['model_id']}{' (ft)' if r.get('fine_tuned') else ''} | {r['encoding']} ({r['vocab']:,}) | {r['pieces'][0]} / {r['pieces'][1]} "
            f"| {b['model']:.2f} | {best:.2f} ({b['best_order']}) | {b['model'] / best:.2f} "
            f"| {_f(a['real_vs_real'])} ± {_f(a['real_vs_real_sd'])} | {_f(a.get('train'))} | {_f(a['ngram'])} | {_f(a['model'])} "
            f"| {c['same_pitch_run']['max']} / {h['same_pitch_run']['max']}{limit} "
            f"| {c['verbatim_run']['max']} / {h['verbatim_run']['max']} "
            f"| {c['melodic_run']['max']} / {h['melodic_run']['max']} "
            f"| {c['ngram8_share']:.1%} / {h['ngram8_share']:.1%} | {', '.join(missed_goals(r)) or 'none'} |"
        )
    lines += ["", *summary(results)]
    lines += [
        "",
        "## Details",
        "",
        "*Notes kept*: the share of the validation pieces' notes that come back from the encoding (pitch, onset",
        "and length on the grid): the event encoding's vocabulary replaces an event it has no token for by its",
        "nearest, which makes its token stream easier to predict than the music, so its bits per note understate",
        "the music's (compare encodings with this column in view).",
        f"Bits per note of the n-gram models by order (1-{s.max_order}) on the same tokens, the network's loss per token,",
        "the compositions measured per model (N) and n-gram composer, the segments each AUC was computed on",
        "(onsets per segment: validation pieces / model / n-gram",
        "compositions), medians over pieces (model / human) of the note count, same-event run and distinct",
        "events per 100, and the register: the mean highest and lowest MIDI pitch at an onset (model / human;",
        "the two-sample test ignores the key, so a composition an octave off the style's register shows here).",
        "",
        f"| style | model | notes kept | n-gram bits/note, orders 1-{s.max_order} | network nats/token (manifest) | N | segments | notes "
        "| same-event run (max) | distinct / 100 | n-gram composer: same pitch, verbatim, melodic (max) "
        "| register: top, bass |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c, h, n = r["compositions"], r["human"], r["ngram_compositions"]
        seg = r["segments"]
        lines.append(
            f"| {r['style']} | {r['model_id']} | {r['val_notes_kept']:.1%} | {' / '.join(f'{x:.2f}' for x in r['bits']['ngram'])} "
            f"| {r['model_nats_per_token']:.2f} ({_f(r['manifest_val_loss'])}) "
            f"| {r['settings']['compositions']} | {seg['onsets']}: {seg['real']} / {seg['model']} / {seg['ngram']} | {c['notes']:.0f} / {h['notes']:.0f} "
            f"| {c['same_event_run']['max']} / {h['same_event_run']['max']} "
            f"| {c['distinct_per_100']:.1f} / {h['distinct_per_100']:.1f} "
            f"| {n['same_pitch_run']['max']}, {n['verbatim_run']['max']}, {n['melodic_run']['max']} "
            f"| {c['register'][0]:.0f}, {c['register'][1]:.0f} / {h['register'][0]:.0f}, {h['register'][1]:.0f} |"
        )
    lines += [
        "",
        "## What gives the compositions away",
        "",
        "The five features that tell the model's compositions from the validation pieces best on their own",
        "(the AUC of the feature's value alone; below 0.5: lower in the compositions), with the mean in the",
        "real pieces → in the compositions. What was tried against them, each measured with this bench",
        "(bar controls, the harmony and repeat pulls, bars drawn again, one-line tunes, a learnt bar planner,",
        "temperature, contour and register controllers, longer training, the melody's harmony over held notes,",
        "note lengths kept to the style's shares, clashing bars drawn again), is in docs/bar-controls.md; the",
        "training of each model in docs/catalogue.md and its scorecard.",
        "",
        "| style | model | features |",
        "|---|---|---|",
    ]
    for r in results:
        gaps = "; ".join(f"`{g['name']}` {g['auc']:.2f} ({g['mean_a']:.2f} → {g['mean_b']:.2f})" for g in r["gaps"]["model"])
        lines.append(f"| {r['style']} | {r['model_id']} | {gaps} |")
    lines += [
        "",
        "## The music issue's measures",
        "",
        "Onsets per beat (`density`), the share of onsets of three or more pitch classes that form a triad",
        "(`triadic`), semitone-class pairs among sounding pairs (`interval_class[1]`) and repeated top-line",
        "notes (`interval[0]`): the validation pieces' mean → the compositions' (difference; goal: within",
        "15 %), and in brackets the mean of all the style's training pieces and the compositions' difference",
        "from it: where the validation pieces differ from the pieces learnt from by more than 15 % themselves,",
        "a model composing exactly like the latter misses the goal by that difference. Bars kept (models with",
        "bar controls): the share of composed bars whose own density class and chord root (recognised from",
        "their notes as in training) equal the controls written in front of them (goals 90 % and 80 %).",
        "",
        "| style | model | onsets per beat | triadic | semitone class | repeated notes | bars: density kept | chord root kept |",
        "|---|---|---|---|---|---|---:|---:|",
    ]
    for r in results:
        cells = []
        for name in ("density", "triadic", "interval_class[1]", "interval[0]"):
            g = (r.get("goal_features") or {}).get(name)
            if g is None:
                cells.append("–")
                continue
            real, model = g["real"], g["model"]
            change = f" ({(model - real) / real:+.0%})" if real > 1e-9 else ""
            train = g.get("train")
            learnt = ""
            if train is not None:
                learnt = f" [train {train:.3f}" + (f", {(model - train) / train:+.0%}]" if train > 1e-9 else "]")
            cells.append(f"{real:.3f} → {model:.3f}{change}{learnt}")
        kept = r.get("bars_kept") or {}
        lines.append(f"| {r['style']} | {r['model_id']} | {' | '.join(cells)} | {_f(kept.get('density_kept'), '.1%')} "
                     f"| {_f(kept.get('chord_root_kept'), '.1%')} |")
    lines += [
        "",
        "The network's loss per token is measured here (each validation piece from the zero state); the",
        "manifest's figure is the trainer's (chunks of the validation stream), for comparison.",
        "",
        "## The two-sample test's features",
        "",
        f"Computed per segment of {s.segment_onsets} onsets or half that (hop: half a segment, at most "
        f"{s.segments_per_piece} segments per piece, evenly spread), on a grid of 24 steps per quarter note,",
        "from the notes as written to MIDI (compositions read back from their files). None depends on the key",
        "or the tempo. Classifier: standardised features, L2 logistic regression (C = 0.1, balanced classes),",
        "5-fold StratifiedGroupKFold by piece, AUC averaged over folds and 3 shuffles (real against real:",
        "over 5 random halvings; in quick mode 1 shuffle and 2 halvings).",
        "",
        "| feature | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in FEATURES]
    lines += [
        "",
        "Piano rolls (a composition above the longest validation piece, same time scale): `docs/pianoroll/<style>.png`.",
        "",
    ]
    return "\n".join(lines)


def render_comparison(top: Any, bottom: Any, path: Path, *, titles: tuple[str, str], beats: float = 64.0) -> Path:
    """Two piano rolls, one above the other, the first ``beats`` quarter notes of each, bar lines drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pitches = [n.pitch for m in (top, bottom) for n in m.notes if n.start < beats]
    lo, hi = (min(pitches) - 2, max(pitches) + 2) if pitches else (48, 84)
    fig, axes = plt.subplots(2, 1, figsize=(16, 7), dpi=90, sharex=True, sharey=True)
    try:
        for ax, music, title in zip(axes, (top, bottom), titles, strict=True):
            spans: dict[int, list[tuple[float, float]]] = {}
            for n in music.notes:
                if n.start < beats:
                    spans.setdefault(n.pitch, []).append((n.start, max(min(n.duration, beats - n.start), 0.05)))
            for pitch, bars in spans.items():
                ax.broken_barh(bars, (pitch - 0.4, 0.8), facecolors="tab:blue", linewidth=0)
            bar, _beat = metre(music.time_signature, grid=1_000)
            num, den = music.time_signature
            for x in range(0, int(beats * 1000) + 1, bar):
                ax.axvline(x / 1000, color="0.8", linewidth=0.6, zorder=0)
            ax.set_title(f"{title} — {num}/{den}", fontsize=10)
            ax.set_ylabel("MIDI pitch")
            ax.set_yticks([p for p in range(lo, hi + 1) if p % 12 == 0])
            ax.grid(axis="y", alpha=0.3)
        axes[0].set_ylim(lo, hi)
        axes[0].set_xlim(0, beats)
        axes[1].set_xlabel("quarter notes (bar lines grey)")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
