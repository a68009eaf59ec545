"""Training graphs: one PNG per checkpoint (loss, accuracy and the scorecard), and a GIF of them.

Every PNG of a run has the same size and the same epoch axis (the planned number
of epochs), so the GIF shows the curves growing in place, as the seed's
hand-made animation did. matplotlib runs on the Agg backend: no display needed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIGSIZE = (12, 10)  # inches
DPI = 80  # 960 × 800 pixels
GIF_WIDTH = 720  # the animation is scaled down: it is for looking, the PNGs are for reading

_CHOSEN = "#2ca02c"
_VERDICT_COLOURS = {"ok": "#2ca02c", "collapsed": "#7f7f7f", "copying": "#d62728", "val": "#ff7f0e"}


def plot_run(
    path: str | Path,
    history: dict[str, Sequence[float]],
    checkpoints: Sequence[dict[str, Any]],
    *,
    title: str,
    epochs_total: int,
    choice: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    baseline: dict[str, Any] | None = None,
) -> Path:
    """Loss and accuracy (train, validation) above the scorecard series; the choice marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = thresholds or {}
    baseline = baseline or {}
    epochs = list(range(1, len(history.get("loss", [])) + 1))
    cp_epochs = [int(c["epoch"]) for c in checkpoints]
    summ = [c.get("summary", {}) for c in checkpoints]
    chosen = (choice or {}).get("epoch")
    xmax = max(epochs_total, len(epochs), 1)

    fig, axes = plt.subplots(3, 2, figsize=FIGSIZE, dpi=DPI)
    fig.suptitle(title, fontsize=13)

    def series(ax, key, label, **kw):
        values = history.get(key) or []
        if values:
            ax.plot(epochs[: len(values)], values, label=label, **kw)

    ax = axes[0, 0]
    series(ax, "loss", "train", color="#1f77b4")
    series(ax, "val_loss", "validation", color="#ff7f0e")
    ax.set_title("loss (sparse cross-entropy)")
    ax = axes[0, 1]
    series(ax, "accuracy", "train", color="#1f77b4")
    series(ax, "val_accuracy", "validation", color="#ff7f0e")
    ax.set_title("next-event accuracy")
    ax.set_ylim(0, 1)

    def points(ax, key, label, **kw):
        ys = [s.get(key) for s in summ]
        xs = [x for x, y in zip(cp_epochs, ys, strict=True) if y is not None]
        ax.plot(xs, [y for y in ys if y is not None], marker="o", ms=4, label=label, **kw)

    def limit(ax, value, label, color):
        if value is not None:
            ax.axhline(value, ls=":", color=color, lw=1, label=label)

    ax = axes[1, 0]
    points(ax, "longest_run", "longest run of one event (median)", color="#7f7f7f")
    points(ax, "greedy_longest_run", "... under argmax (not judged)", color="#c7c7c7")
    limit(ax, thresholds.get("max_run"), "collapse limit", "#7f7f7f")
    ax.set_title("collapse")
    # Runs span 1 (healthy) to the whole sample (one chord under argmax): a log scale shows both.
    ax.set_yscale("log")
    runs = [s.get(k) for s in summ for k in ("longest_run", "greedy_longest_run")]
    ax.set_ylim(0.8, max([r for r in runs if r] + [10]) * 1.5)
    twin = ax.twinx()
    points(twin, "distinct_per_100", "distinct events per 100", color="#9467bd")
    limit(twin, thresholds.get("min_distinct"), "distinct minimum", "#9467bd")
    limit(twin, baseline.get("distinct_per_100"), "real pieces", "#c5b0d5")
    twin.set_ylim(0, 105)
    _legend(ax, twin, loc="center right")

    ax = axes[1, 1]
    points(ax, "copy_run", "verbatim run (median)", color="#d62728")
    points(ax, "copy_run_max", "verbatim run (max)", color="#ff9896")
    limit(ax, thresholds.get("max_copy_run"), "copy-run limit", "#d62728")
    ax.set_title("copying the training pieces")
    _floor_zero(ax, [s.get("copy_run_max") for s in summ], thresholds.get("max_copy_run"))
    twin = ax.twinx()
    points(twin, "ngram_share", "8-grams found in training", color="#8c564b")
    limit(twin, thresholds.get("max_copy_share"), "share limit", "#8c564b")
    limit(twin, baseline.get("ngram_share"), "real pieces", "#c49c94")
    twin.set_ylim(0, 1.02)
    _legend(ax, twin)

    ax = axes[2, 0]
    points(ax, "pitch_class_distance", "pitch classes", color="#17becf")
    points(ax, "duration_distance", "durations", color="#bcbd22")
    limit(ax, baseline.get("pitch_class_distance"), "real pieces (pitch)", "#9edae5")
    limit(ax, baseline.get("duration_distance"), "real pieces (duration)", "#dbdb8d")
    ax.set_title("style: histogram distance to the training set (0 = same)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper right")

    for ax in (axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1], axes[2, 0]):
        ax.set_xlim(0, xmax)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if chosen is not None:
            ax.axvline(chosen, color=_CHOSEN, lw=1.5, alpha=0.7)
    axes[0, 0].legend(fontsize=8)
    axes[0, 1].legend(fontsize=8)

    # The verdict per checkpoint, as coloured ticks along the loss graph's top edge.
    verdicts = (choice or {}).get("verdicts") or []
    for v in verdicts:
        key = "ok" if v["ok"] else "copying" if v["copying"] else "collapsed" if v["collapsed"] else "val"
        axes[0, 0].plot([v["epoch"]], [1.0], marker="v", color=_VERDICT_COLOURS[key], ms=6,
                        transform=axes[0, 0].get_xaxis_transform(), clip_on=False)

    ax = axes[2, 1]
    ax.axis("off")
    ax.text(0, 1, _summary_text(history, choice, checkpoints), va="top", ha="left", fontsize=9,
            family="monospace", transform=ax.transAxes)

    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _floor_zero(ax, values, limit) -> None:
    """Run lengths from 0 up to past the larger of the data and the limit."""
    top = max([v for v in values if v is not None] + [limit or 0, 1])
    ax.set_ylim(0, top * 1.15 + 1)


def _legend(ax, twin, loc: str = "upper left") -> None:
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc=loc, framealpha=0.6)


def _summary_text(history: dict[str, Sequence[float]], choice: dict[str, Any] | None, checkpoints) -> str:
    lines = []
    n = len(history.get("loss", []))
    if n:
        vl = history.get("val_loss") or []
        bits = history.get("val_bits_per_note") or []
        lines.append(f"epoch {n}: loss {history['loss'][-1]:.3f}" + (f", validation {vl[-1]:.3f}" if vl else "")
                     + (f" ({bits[-1]:.2f} bits/note)" if bits and bits[-1] is not None else ""))
        if not vl:
            lines.append("no validation pieces: judged on training loss")
    lines.append(f"checkpoints: {len(checkpoints)}")
    if choice and choice.get("epoch") is not None:
        lines.append("")
        lines.append(f"recommended epoch: {choice['epoch']}" + ("" if choice.get("auto", True) else " (user)"))
        lines += textwrap.wrap(choice.get("reason", ""), 58)[:12]
    lines += ["", "ticks on the loss graph: green ok, grey collapsed,", "red copying, orange validation loss"]
    return "\n".join(lines)


def make_gif(frames: Sequence[str | Path], path: str | Path, *, width: int = GIF_WIDTH, ms_per_frame: int = 600) -> Path | None:
    """An animated GIF of the checkpoint PNGs (the last frame held longer); None without frames."""
    from PIL import Image

    frames = [Path(f) for f in frames if Path(f).exists()]
    if not frames:
        return None
    images = []
    for f in frames:
        with Image.open(f) as im:
            im = im.convert("RGB")
            if im.width > width:
                im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
            images.append(im.quantize(colors=128, method=Image.Quantize.MEDIANCUT))
    durations = [ms_per_frame] * (len(images) - 1) + [ms_per_frame * 4]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    tmp.replace(path)
    return path
