"""The training run on disk: what survives a kill at any moment, and how to pick it up again.

    OUT/
      run.json                      written once: settings, network config, vocabulary, split
      metrics.json                  history, checkpoints with scorecards, the choice (rewritten)
      graphs.png                    the latest graphs; training.gif at the end
      model.lstmc                   the recommended (or --epoch) checkpoint, chosen: true
      checkpoints/epoch_0025/
        state.keras                 weights + optimizer state: what --resume loads
        model.lstmc                 this epoch exported (chosen: false)
        graphs.png, metrics.json    as they were at this epoch
        state.json                  epoch, history, scorecards so far: written last
      snapshot/epoch_0031/          state.keras + state.json only: the newest resumable state,
                                    saved every ``save_every`` seconds between checkpoints

A checkpoint is assembled in ``epoch_0025.partial/`` and renamed into place only
when complete, and every JSON file is replaced atomically, so a SIGKILL leaves at
worst a ``.partial`` directory that the next ``--resume`` deletes. Resuming
loads the newest complete checkpoint or snapshot and continues its history: epochs
trained after it are trained again.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model_store.atomic import atomic_file

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
STATE_FILE = "state.json"
KERAS_FILE = "state.keras"
MODEL_FILE = "model.lstmc"
GRAPH_FILE = "graphs.png"
SAMPLE_ROLL = "sample.png"  # a piano roll of the checkpoint's first sample (with matplotlib)
GIF_FILE = "training.gif"
CHECKPOINTS = "checkpoints"
SNAPSHOTS = "snapshot"
PARTIAL = ".partial"


@dataclass
class RunState:
    """Everything the fit loop has learnt so far, apart from the weights."""

    epoch: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)  # per epoch: loss, val_loss, ...
    checkpoints: list[dict[str, Any]] = field(default_factory=list)  # epoch, val_loss, summary, samples
    seconds: float = 0.0  # training time so far (for throughput and ETA)
    fault: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunState:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (temp file + rename). NaN and inf become null (valid JSON)."""
    path = Path(path)
    with atomic_file(path, "w") as fh:
        json.dump(_finite(obj), fh, indent=1)
        fh.write("\n")
    return path


def read_json(path: str | Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def checkpoint_dir(out: str | Path, epoch: int) -> Path:
    return Path(out) / CHECKPOINTS / f"epoch_{epoch:04d}"


def begin_checkpoint(out: str | Path, epoch: int, kind: str = CHECKPOINTS) -> Path:
    """A fresh, empty ``.partial`` directory to assemble checkpoint (or snapshot) ``epoch`` in."""
    tmp = Path(out) / kind / f"epoch_{epoch:04d}{PARTIAL}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit_checkpoint(tmp: Path, state: RunState) -> Path:
    """Write ``state.json`` last, then move the directory into place in one rename."""
    write_json(tmp / STATE_FILE, state.to_dict())
    final = tmp.with_name(tmp.name.removesuffix(PARTIAL))
    if final.exists():  # a stale checkpoint from before a resume: this one replaces it
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def list_checkpoints(out: str | Path, kind: str = CHECKPOINTS) -> list[tuple[int, Path]]:
    """Complete checkpoints (or snapshots: those with ``state.json``), oldest first."""
    root = Path(out) / kind
    found = []
    if root.is_dir():
        for d in root.iterdir():
            if d.name.startswith("epoch_") and not d.name.endswith(PARTIAL) and (d / STATE_FILE).exists():
                with contextlib.suppress(ValueError):
                    found.append((int(d.name.removeprefix("epoch_")), d))
    return sorted(found)


def latest_checkpoint(out: str | Path) -> Path | None:
    found = list_checkpoints(out)
    return found[-1][1] if found else None


def latest_resumable(out: str | Path) -> Path | None:
    """The newest complete checkpoint or snapshot (a checkpoint on a tie): what ``--resume`` loads."""
    found = [(e, 1, d) for e, d in list_checkpoints(out)] + [(e, 0, d) for e, d in list_checkpoints(out, SNAPSHOTS)]
    return max(found)[2] if found else None


def save_snapshot(out: str | Path, model: Any, state: RunState) -> Path:
    """The resumable state alone (weights, optimizer, history), replacing the previous snapshot."""
    tmp = begin_checkpoint(out, state.epoch, SNAPSHOTS)
    save_keras_state(model, tmp / KERAS_FILE)
    final = commit_checkpoint(tmp, state)
    for epoch, d in list_checkpoints(out, SNAPSHOTS):
        if epoch != state.epoch:
            shutil.rmtree(d, ignore_errors=True)
    return final


def load_state(cp_dir: str | Path) -> RunState:
    state = RunState.from_dict(read_json(Path(cp_dir) / STATE_FILE))
    # JSON has no NaN: a null in the history was a non-finite value.
    state.history = {k: [math.nan if v is None else float(v) for v in vs] for k, vs in state.history.items()}
    return state


def clean_partial(out: str | Path, after: int | None = None) -> None:
    """Remove half-written checkpoints, and (``after``) complete ones newer than a resume point."""
    for kind in (CHECKPOINTS, SNAPSHOTS):
        root = Path(out) / kind
        if root.is_dir():
            for d in root.iterdir():
                if d.name.endswith(PARTIAL):
                    shutil.rmtree(d, ignore_errors=True)
    if after is not None:
        for epoch, d in list_checkpoints(out):
            if epoch > after:
                shutil.rmtree(d, ignore_errors=True)


def save_keras_state(model: Any, path: str | Path) -> None:
    """Weights and optimizer state in Keras's own format (atomic)."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    model.save(tmp)
    os.replace(tmp, path)


def load_keras_state(path: str | Path) -> Any:
    import keras

    return keras.models.load_model(path)
