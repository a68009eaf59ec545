"""Where a run trains: one device, or several through ``tf.distribute`` (``--distribute``).

``mirrored`` copies the network onto every GPU of this machine and splits each batch among
them (on a machine with no GPU it runs on the one CPU device, which is how CI exercises the
path); ``multiworker`` does the same across the machines that ``TF_CONFIG`` lists (without
it, this machine alone). The batch size stays the global one. Model building, loading and
compiling happen inside the strategy's scope; ``model.fit`` distributes by itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


def strategy_scope(name: str, say: Callable[[str], None]) -> contextlib.AbstractContextManager[Any]:
    """The scope to build the network in: ``contextlib.nullcontext()`` for ``none``."""
    if name == "none":
        return contextlib.nullcontext()
    import tensorflow as tf

    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multiworker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise ValueError(f"unknown distribute strategy {name!r}")
    say(f"distributing with {type(strategy).__name__} over {strategy.num_replicas_in_sync} replica(s)")
    return strategy.scope()


__all__ = ["strategy_scope"]
