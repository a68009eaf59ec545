"""The Keras side: train one LSTM per style, checkpoint it, choose its epoch, export it.

    from lstm_composer_plugin.train import train, TrainSettings
    result = train("corpus/bach", "bach", "runs/bach", epochs=60, progress=callback)

Stages, in the order a run goes through them (each a module): ``settings`` (the one
configuration record), ``prepare`` (corpus → split → tokens), ``fit`` (the loop),
``record`` (checkpoints: scorecard, export, graphs), ``finish`` (the choice, the shipped
model). Importing this package needs NumPy only; TensorFlow loads when training starts.

The names below load their modules on first use: the command line builds its ``train`` parsers
from ``settings`` and ``jobs`` on every start, and a ``compose`` must not pay for the rest
(about 60 ms of imports, docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "NetworkConfig": "settings",
    "TrainSettings": "settings",
    "repick": "finish",
    "require_training_libraries": "trainer",
    "train": "trainer",
    "train_with_options": "trainer",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
