"""A training run's report, small enough to commit: ``lstm-composer train-report RUN_DIR OUT_DIR``.

A run folder holds gigabytes of checkpoints; what a reader needs is the final graph, an
animation across checkpoints, the scorecard of every checkpoint (why this epoch and not
another) and the metrics without the per-sample detail. The scorecard is written from
``metrics.json`` alone, so it always says what the run measured, nothing retyped.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from typing import Any

from lstm_composer_plugin.errors import ComposerError, UsageError
from lstm_composer_plugin.train.checkpoints import METRICS_FILE, write_json
from lstm_composer_plugin.train.choose import Verdict
from lstm_composer_plugin.train.record import portable_settings

GIF_FRAMES = 24  # enough to see the curves move; a 300-epoch run has 60 checkpoints
GIF_WIDTH = 560


def load_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / METRICS_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (is {run_dir} a training run folder?)") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def write_report(run_dir: Path, out_dir: Path, *, run_label: str | None = None) -> list[Path]:
    """Write graphs.png, training.gif, metrics.json and scorecard.md of ``run_dir`` into ``out_dir``."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    metrics = load_metrics(run_dir)
    if importlib.util.find_spec("PIL") is None:  # before anything is written: no half reports
        raise ComposerError("train-report needs pillow (for training.gif), not installed here: "
                            "install the train extra (pip install 'lstm-composer-plugin[train]')")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if (run_dir / "graphs.png").is_file():
        shutil.copyfile(run_dir / "graphs.png", out_dir / "graphs.png")
        written.append(out_dir / "graphs.png")
    gif = _gif(run_dir, metrics, out_dir / "training.gif")
    if gif is not None:
        written.append(gif)
    write_json(out_dir / "metrics.json", slim_metrics(metrics))
    (out_dir / "scorecard.md").write_text(scorecard_markdown(metrics, run_label or str(run_dir)))
    return [*written, out_dir / "metrics.json", out_dir / "scorecard.md"]


def slim_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without each checkpoint's per-sample list (the summaries keep the figures)."""
    out = dict(metrics)
    out["checkpoints"] = [{k: v for k, v in c.items() if k != "samples"} for c in metrics.get("checkpoints", [])]
    return out


def _gif(run_dir: Path, metrics: dict[str, Any], path: Path) -> Path | None:
    from lstm_composer_plugin.train.charts import make_gif  # pillow: the train extra

    epochs = [c["epoch"] for c in metrics.get("checkpoints", [])]
    frames = [run_dir / "checkpoints" / f"epoch_{e:04d}" / "graphs.png" for e in epochs]
    frames = [f for f in frames if f.is_file()]
    if len(frames) > GIF_FRAMES:  # evenly spaced, always with the last one
        step = len(frames) / GIF_FRAMES
        frames = [frames[int(i * step)] for i in range(GIF_FRAMES - 1)] + [frames[-1]]
    if (run_dir / "graphs.png").is_file():
        frames.append(run_dir / "graphs.png")  # the final graph, with the recommendation marked
    return make_gif(frames, path, width=GIF_WIDTH)


def scorecard_markdown(metrics: dict[str, Any], run_label: str) -> str:
    style = metrics.get("style", "?")
    checkpoints = metrics.get("checkpoints", [])
    choice = metrics.get("choice") or {}
    verdicts = {v["epoch"]: v for v in choice.get("verdicts", [])}
    s = (checkpoints[0].get("settings") if checkpoints else None) or {}
    settings = metrics.get("settings", {})
    base = metrics.get("baseline") or {}
    lines = [
        f"# {settings.get('title') or style}: scorecard per checkpoint",
        "",
        f"Run: `{run_label}` ({metrics.get('epochs_run')} epochs, {_minutes(metrics.get('seconds'))} of training, "
        f"status {metrics.get('status')}). Network: LSTM {_units(settings)}, Dense {settings.get('dense_units')}, "
        f"batch {settings.get('batch_size')}, Adam {settings.get('learning_rate')}, recipe {settings.get('recipe')} "
        f"({settings.get('input')} input, {settings.get('encoding') or 'events'} encoding"
        + (f", keys {settings['key_mode']}" if settings.get("key_mode") not in (None, "none") else "")
        + (f", bar controls {settings['controls']}" if settings.get("controls") not in (None, "none") else "") + ").",
        "Start: " + (f"the weights of `{portable_settings(settings)['init_from']}` (fine-tuned)"
                     if settings.get("init_from") else "random weights (trained from scratch)")
        + (f"; patience {settings['patience']} epochs" if settings.get("patience") else "") + ".",
    ]
    if s:
        seeds = f"seeds {s.get('seed')}-{s.get('seed', 0) + s.get('samples', 1) - 1}"
        lines.append(
            f"Samples: {s.get('samples')} × {s.get('events')} {s.get('unit', 'event')}s at temperature "
            f"{s.get('temperature')} "
            f"({seeds}) plus one argmax continuation, {'with' if s.get('guards') else 'no'} guards."
        )
    if base:
        lines.append(
            f"Real held-out pieces (first {settings.get('sample_events', '?')} events of {base.get('pieces')} "
            f"validation pieces, the human baseline): longest run "
            f"{_g(base.get('longest_run'))}, {_g(base.get('distinct_per_100'))} distinct/100, verbatim run "
            f"{_g(base.get('copy_run'))} (max {base.get('copy_run_max')}), 8-gram share "
            f"{base.get('ngram_share', 0):.2f}, distances {base.get('pitch_class_distance', 0):.2f} / "
            f"{base.get('duration_distance', 0):.2f}."
        )
    lines.append(f"Limits: {json.dumps(metrics.get('thresholds', {}))}.")
    lines.append("")
    if choice.get("epoch") is not None:
        reason = str(choice.get("reason", ""))
        who = ("Recommended" if choice.get("auto", True) else
               "Chosen by measurement:" if reason.startswith("picked by measurement") else "Chosen by the user:")
        lines.append(f"{who} epoch **{choice['epoch']}**: {choice.get('reason', '')}")
        lines.append("")
    measured = metrics.get("measured") or []
    if measured:
        lines += ["Measured against the style's held-out pieces (`bench/pick_checkpoint.py`, bench/quality.py's "
                  "measures: AUC of a classifier telling compositions from real pieces, 0.5 = indistinguishable; "
                  "bits per note against the best n-gram):", "",
                  "| epoch | AUC model | AUC n-gram | bits/note ratio | missed goals |", "|---:|---:|---:|---:|---|"]
        lines += [f"| {m['epoch']} | {_f2(m.get('auc'))}{_seeds(m)} | {_f2(m.get('auc_ngram'))} | "
                  f"{_f2(m.get('bits_ratio'))} | {', '.join(m.get('missed') or []) or 'none'} |" for m in measured]
        lines.append("")
    if metrics.get("judged_on") == "training loss":
        lines.append("This run had no validation pieces (too few or too short to hold out), so the epoch was chosen "
                     "on training loss, which keeps falling as a network memorises: only the copy and collapse "
                     "limits guard against that.")
        lines.append("")
    lines += [
        "| epoch | loss | acc | val loss | val bits/note | val acc | run (T=1) | run (argmax) | distinct/100 "
        "| verbatim run median / max | 8-gram share | pitch-class / duration distance | verdict |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in checkpoints:
        q = c.get("summary", {})
        lines.append(
            f"| {c['epoch']} | {c.get('loss', 0):.3f} | {c.get('accuracy', 0):.3f} | {_f3(c.get('val_loss'))} "
            f"| {_f3(c.get('val_bits_per_note'))} | {_f3(c.get('val_accuracy'))} | {_g(q.get('longest_run'))} | {_g(q.get('greedy_longest_run'))} "
            f"| {_g(q.get('distinct_per_100'), 0)} | {_g(q.get('copy_run'))} / {q.get('copy_run_max')} "
            f"| {q.get('ngram_share', 0):.2f} | {q.get('pitch_class_distance', 0):.2f} / "
            f"{q.get('duration_distance', 0):.2f} | {_verdict(verdicts.get(c['epoch']), c['epoch'] == choice.get('epoch'))} |"
        )
    return "\n".join(lines) + "\n"


def _verdict(v: dict[str, Any] | None, chosen: bool) -> str:
    text = Verdict(**v).words() if v is not None else ""
    return f"{text} **chosen**".strip() if chosen else text


def _units(settings: dict[str, Any]) -> str:
    units = settings.get("lstm_units") or []
    return "/".join(str(u) for u in units) if units else "?"


def _minutes(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _g(x: Any, digits: int = 1) -> str:
    if not isinstance(x, (int, float)):
        return "–"
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{x:.0f}"


def _seeds(m: dict[str, Any]) -> str:
    """A row measured with several seeds (``pick_checkpoint.py --seeds``): its AUC is their mean."""
    seeds = m.get("auc_seeds")
    return f" (mean of seeds: {', '.join(_f2(a) for a in seeds)})" if isinstance(seeds, list) and len(seeds) > 1 else ""


def _f2(x: Any) -> str:
    return f"{x:.2f}" if isinstance(x, (int, float)) and math.isfinite(x) else "–"


def _f3(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "–"
