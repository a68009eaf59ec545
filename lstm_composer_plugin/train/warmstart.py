"""Starting a run from another run's weights: fine-tuning a style from the corpus-wide network.

The note encoding's vocabulary is the same fixed table for every style, so a network trained
on the whole corpus has exactly the shape of every style's network and can be its starting
point (``--init-from``). Only the weights travel: the optimizer starts fresh, so the run's own
learning rate applies from its first step.

The start can be a run folder (its recommended checkpoint), a checkpoint's ``state.keras``, a
published model file (``.lstmc``: its weights, stored in float16, come back as float32), or the
name of an installed style, such as the catalogue's ``corpus`` network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostapi.commands import STYLE_NAME
from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.modelfile import SUFFIX as MODEL_SUFFIX
from lstm_composer_plugin.train import checkpoints as ck


def resolve_init(path: str | Path) -> Path:
    """The weights ``--init-from`` names: a ``state.keras`` or ``.lstmc`` file, a run folder's recommended
    checkpoint, or an installed style's model file.

    A run folder without a recommendation yet (still training, or interrupted) gives its newest
    checkpoint, so a pre-training run can seed others as soon as it has one.
    """
    text = str(path)
    path = Path(path)
    if path.is_file():
        if path.suffix not in (".keras", MODEL_SUFFIX):
            raise UsageError(f"{path}: --init-from takes a run folder, a state.keras or {MODEL_SUFFIX} file, or an "
                             f"installed style, not a {path.suffix or 'plain'} file")
        return path
    if not path.exists() and STYLE_NAME.fullmatch(text):  # a style name has no folders
        from lstm_composer_plugin.errors import ComposerError
        from lstm_composer_plugin.models import locate_model

        try:
            return locate_model(text, offline=True)
        except ComposerError as exc:
            raise UsageError(f"--init-from {text}: no such run folder, and no installed style of that name ({exc})") \
                from None
    if not path.is_dir():
        raise UsageError(f"{path}: --init-from names no run folder, state.keras or {MODEL_SUFFIX} file")
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
    into ``model``, layer by layer by name (a ``.lstmc`` file is rebuilt as a Keras network first)."""
    if Path(state).suffix == MODEL_SUFFIX:
        from lstm_composer_plugin.train.export import keras_model_from_file

        source = keras_model_from_file(state)
    else:
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
                f"against {shapes}); fine-tune with the same widths, encoding and tokens per step"
            )
        layer.set_weights(weights)


__all__ = ["load_initial_weights", "resolve_init"]
