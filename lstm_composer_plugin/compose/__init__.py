"""Composing without TensorFlow: the NumPy network, sampling, the guards, and ``compose`` itself.

Names are loaded on first use, so ``import lstm_composer_plugin.compose.engine`` (the trainer's
parity checks) does not pull in the composer, the model store or MIDI writing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compose": "composer",
    "variation_path": "composer",
    "NoteModel": "note_composer",
    "compose_notes": "note_composer",
    "NumpyNetwork": "engine",
    "Guards": "guards",
    "MelodyGuards": "guards",
    "SamplingSettings": "sampling",
    "sample": "sampling",
    "sample_tokens": "sampling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
