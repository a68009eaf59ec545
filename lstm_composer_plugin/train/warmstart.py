"""Starting a run from another run's weights: fine-tuning a style from the corpus-wide network.

The note encoding's vocabulary is the same fixed table for every style, so a network trained
on the whole corpus has exactly the shape of every style's network and can be its starting
point (``--init-from``). Only the weights travel: the optimizer starts fresh, so the run's own
learning rate applies from its first step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.train import checkpoints as ck


def resolve_init(path: str | Path) -> Path:
    """The ``state.keras`` that ``--init-from`` names: a file, or a run folder's recommended checkpoint.

    A run folder without a recommendation yet (still training, or interrupted) gives its newest
    checkpoint, so a pre-training run can seed others as soon as it has one.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix != ".keras":
            raise UsageError(f"{path}: --init-from takes a run folder or a state.keras file, not a {path.suffix or 'plain'} file")
        return path
    if not path.is_dir():
        raise UsageError(f"{path}: --init-from names no run folder or state.keras file")
    checkpoints = dict(ck.list_checkpoints(path))
    if not checkpoints:
        raise UsageError(f"{path}: the run has no checkpoint yet to start from")
    epoch = max(checkpoints)
    metrics = path / "metrics.json"
    if metrics.is_file():
        try:
            chosen = (json.loads(metrics.read_text()).get("recommended") or {}).get("epoch")
        except (OSError, ValueError) as e:
            raise UsageError(f"{metrics}: unreadable ({e})") from None
        if chosen in checkpoints:
            epoch = chosen
    state = checkpoints[epoch] / ck.KERAS_FILE
    if not state.is_file():
        raise UsageError(f"{checkpoints[epoch]}: the checkpoint has no {ck.KERAS_FILE}")
    return state


def load_initial_weights(model: Any, state: str | Path) -> None:
    """Copy the weights of the network in ``state`` (a ``state.keras``, as ``resolve_init`` finds it)
    into ``model``, layer by layer by name."""
    source = ck.load_keras_state(state)
    theirs = {layer.name: layer.get_weights() for layer in source.layers}
    for layer in model.layers:
        mine = layer.get_weights()
        if not mine:
            continue
        weights = theirs.get(layer.name)
        shapes = [w.shape for w in mine]
        their_shapes = [w.shape for w in weights] if weights is not None else None
        if shapes != their_shapes:
            raise UsageError(
                f"{state}: its network does not fit this run's (layer {layer.name}: {their_shapes or 'missing'} "
                f"against {shapes}); fine-tune with the same widths and encoding"
            )
        layer.set_weights(weights)


__all__ = ["load_initial_weights", "resolve_init"]
