"""The one configuration record of training: every setting, its default and its help, written once.

    NetworkSettings   the network's fields: recipe, input, widths, dropout, seq_len, lr, batch
    NetworkConfig     NetworkSettings resolved for one vocabulary (``n_vocab``): a model file's "network"
    TrainSettings     NetworkSettings plus the run's own fields: epochs, checkpoints, split, encoding, ...

Each field's metadata carries its command line (``cli/train.py`` builds the options from it):
``help`` (the default is appended from the field itself), ``kind`` (how the text is parsed:
int, float, str, "units", "duration"), ``choices``, ``flag`` (when it is not ``--field-name``)
and ``resumable`` (may change on ``--resume``). A new setting is one field here.

Some defaults depend on another setting (the reference recipe is the seed's: scalar input,
Adam's 1e-3, the event encoding). Those fields default to None and ``AUTO`` resolves them,
in order, when the record is made; ``auto`` in the metadata says how, for the help text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.music.codec import ENCODINGS
from lstm_composer_plugin.music.notetable import KEY_MODES

RECIPES = ("default", "reference")
INPUTS = ("embedding", "scalar")
DISTRIBUTE = ("none", "mirrored", "multiworker")
CONTROLS = ("bar", "none")


def setting(default: Any = None, help: str = "", *, kind: Any = None, choices: tuple[str, ...] | None = None,
            flag: str | None = None, auto: str | None = None, resumable: bool = False,
            factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its command-line description (see the module docstring)."""
    meta = {"help": help, "kind": kind, "choices": choices, "flag": flag, "auto": auto, "resumable": resumable}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# Defaults that follow another setting, resolved in this order (``None`` means "not given").
AUTO: dict[str, Callable[[Any], Any]] = {
    "input": lambda s: "embedding" if s.recipe == "default" else "scalar",
    # A batch of the default recipe holds seq_len times more targets than a reference batch, so
    # its gradients are less noisy and bear a larger step (docs/training.md: the same validation
    # loss in the same time as batch 16 at 1e-3).
    "learning_rate": lambda s: 2e-3 if s.recipe == "default" else 1e-3,
    "encoding": lambda s: "notes" if s.recipe == "default" else "events",
    # A note is about three tokens (position, pitch, duration): 256 tokens hold ~85 notes, a few
    # bars of a chorale, about what 100 chord events held.
    "seq_len": lambda s: 256 if getattr(s, "encoding", "events") == "notes" else 100,
    "checkpoint_every": lambda s: 5 if s.encoding == "notes" else 25,
    "key_mode": lambda s: "normalise" if s.encoding == "notes" else "none",
    "controls": lambda s: "bar" if s.encoding == "notes" else "none",
}


def _resolve(obj: Any) -> None:
    names = {f.name for f in fields(obj)}
    for name, rule in AUTO.items():
        if name in names and getattr(obj, name) is None:
            setattr(obj, name, rule(obj))


@dataclass(kw_only=True)
class NetworkSettings:
    """The network's fields (``network.build_model`` reads them)."""

    recipe: str = setting("default", "default (every position predicts its next token) or reference (the "
                          "seed's windows: the last position only)", choices=RECIPES)
    input: str | None = setting(None, "how tokens enter the network", choices=INPUTS,
                                auto="embedding; the reference recipe: scalar")
    embedding_dim: int = setting(64, "embedding width", kind=int)
    lstm_units: list[int] = setting(help="LSTM widths, comma-separated", kind="units", factory=lambda: [512, 256])
    dense_units: int = setting(128, "width of the Dense layer", kind=int)
    dropout: float = setting(0.2, "dropout after each layer", kind=float)
    seq_len: int | None = setting(None, "tokens per training sequence", kind=int,
                                  auto="256 with the note encoding, 100 with events")
    learning_rate: float | None = setting(None, "Adam learning rate (may change on --resume)", kind=float,
                                          flag="--lr", auto="0.002; the reference recipe: 0.001", resumable=True)
    batch_size: int = setting(64, "sequences per batch: chunks or windows", kind=int)
    # Two tokens per step halve the LSTM steps of a chunk: the step reads a pair of tokens and
    # predicts the next pair, its second token by a small head fed the first one's choice
    # (network.py). Each step costs about what a one-token step costs, so the network learns from
    # about twice the tokens per second (docs/benchmarks.md, "Two tokens per step").
    tokens_per_step: int = setting(1, "tokens the network reads and predicts per LSTM step: 1, or 2 (a "
                                   "compound step: the second token's head is fed the first one's choice)",
                                   kind=int)

    def __post_init__(self) -> None:
        _resolve(self)
        self.lstm_units = [int(u) for u in self.lstm_units]


@dataclass(kw_only=True)
class NetworkConfig(NetworkSettings):
    """The network of one model: its settings and its vocabulary size (a model file's ``network``)."""

    n_vocab: int

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, not {self.recipe!r}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, not {self.input!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @classmethod
    def reference(cls, n_vocab: int, **overrides: Any) -> NetworkConfig:
        """The original recipe, for comparison: scalar input, predict the last event of 100."""
        return cls(n_vocab=n_vocab, **{"recipe": "reference", **overrides})


@dataclass(kw_only=True)
class TrainSettings(NetworkSettings):
    """Everything one training run is told; ``train(**settings)`` takes these fields as keywords."""

    epochs: int = setting(500, "epochs to train in all", kind=int, resumable=True)
    checkpoint_every: int | None = setting(None, "write a checkpoint (exported model, scorecard, graphs) every "
                                           "N epochs", kind=int, resumable=True,
                                           auto="5 with the note encoding, 25 with events")
    save_every: float = setting(120.0, "save a resumable state when this much time has passed since the last, "
                                "e.g. 2m (an interrupt loses at most about this much)", kind="duration",
                                resumable=True)
    encoding: str | None = setting(None, "notes (bar, position, pitch, duration per note) or events (one "
                                   "token per chord)", choices=ENCODINGS, auto="notes; the reference recipe: events")
    key_mode: str | None = setting(None, "note encoding: normalise (every piece to C major / A minor), augment "
                                   "(a random transposition per chunk and epoch) or none", choices=KEY_MODES,
                                   auto="normalise")
    controls: str | None = setting(None, "note encoding: bar (each bar starts with its onset density, chord "
                                   "and texture, which the notes then follow; docs/tokens.md) or none",
                                   choices=CONTROLS, auto="bar; the event encoding: none")
    chunks_per_epoch: int | None = setting(None, "train on at most N random chunks per epoch (big corpora)",
                                           kind=int, auto="all")
    min_count: int = setting(2, "event encoding: rarer events fall back to their nearest neighbour", kind=int)
    val_fraction: float = setting(0.1, "share of pieces held out for validation", kind=float)
    seed: int = setting(0, "random seed", kind=int)
    init_from: str | None = setting(None, "start from another run's trained weights instead of random ones "
                                    "(fine-tuning, e.g. from the corpus-wide network): a run folder (its "
                                    "recommended checkpoint), a state.keras or .lstmc file, or an installed "
                                    "style such as corpus; the widths and the vocabulary must match", kind=str, auto="random weights")
    freeze_epochs: int = setting(0, "with --init-from: for the first N epochs train only the layers after the "
                                 "LSTMs, the embedding and LSTMs kept as the starting network learnt them (small "
                                 "styles), then all", kind=int)
    distribute: str = setting("none", "tf.distribute strategy: mirrored (every GPU of this machine, or its one "
                              "device), multiworker (the machines of TF_CONFIG; each worker its own --out, the "
                              "chief's is the run) or none", choices=DISTRIBUTE, resumable=True)
    time_budget: float | None = setting(None, "stop after this much wall time, e.g. 90m, 1h, 600 (seconds)",
                                        kind="duration", resumable=True, auto="none")
    patience: int | None = setting(None, "stop when the validation loss has not reached a new low for N epochs "
                                   "(train until it stops improving); each new low is checkpointed", kind=int,
                                   resumable=True, auto="none: the planned epochs or the time budget")
    samples: int = setting(8, "scorecard compositions per checkpoint", kind=int)
    sample_events: int = setting(200, "tokens (events or notes) per scorecard composition", kind=int)
    title: str = setting("", "display title of the model", kind=str)
    description: str = setting("", "one sentence describing the model", kind=str)

    def validate(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise UsageError(what)

        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            need(not choices or value in choices,
                 f"{f.name.replace('_', '-')} must be one of {', '.join(choices or ())}, not {value!r}")
        need(self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}")
        need(self.checkpoint_every >= 1, f"checkpoint-every must be at least 1, not {self.checkpoint_every}")
        need(self.save_every > 0, f"save-every must be positive, not {self.save_every}")
        need(self.seq_len >= 2, f"seq-len must be at least 2, not {self.seq_len}")
        need(self.batch_size >= 1, f"batch size must be at least 1, not {self.batch_size}")
        need(self.learning_rate > 0, f"learning rate must be above 0, not {self.learning_rate}")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1), not {self.dropout}")
        need(bool(self.lstm_units) and min(self.lstm_units) >= 1,
             f"LSTM widths must be positive, not {self.lstm_units}")
        need(self.dense_units >= 1 and self.embedding_dim >= 1, "dense and embedding widths must be positive")
        need(self.tokens_per_step in (1, 2), f"tokens-per-step must be 1 or 2, not {self.tokens_per_step}")
        need(self.tokens_per_step == 1 or (self.recipe == "default" and self.input == "embedding"),
             "tokens-per-step 2 needs the default recipe with the embedding input")
        need(self.seq_len % self.tokens_per_step == 0,
             f"seq-len {self.seq_len} must be a multiple of tokens-per-step {self.tokens_per_step}")
        need(self.freeze_epochs >= 0, f"freeze-epochs must not be negative, not {self.freeze_epochs}")
        need(self.freeze_epochs == 0 or self.init_from is not None,
             "freeze-epochs keeps a starting network's layers: it needs --init-from")
        need(self.min_count >= 1, f"min-count must be at least 1, not {self.min_count}")
        need(0 <= self.val_fraction < 1, f"val-fraction must be in [0, 1), not {self.val_fraction}")
        need(self.time_budget is None or self.time_budget > 0, f"time budget must be positive, not {self.time_budget}")
        need(self.patience is None or self.patience >= 1, f"patience must be at least 1 epoch, not {self.patience}")
        need(self.chunks_per_epoch is None or self.chunks_per_epoch >= 1,
             f"chunks-per-epoch must be at least 1, not {self.chunks_per_epoch}")
        need(self.samples >= 1 and self.sample_events >= 16, "the scorecard needs at least 1 sample of 16 events")
        need(self.encoding == "notes" or self.controls == "none",
             f"controls {self.controls} need the note encoding")
        need(self.encoding == "notes" or self.key_mode == "none",
             f"key-mode {self.key_mode} needs the note encoding (the event encoding keeps the pieces' keys)")

    def network(self, n_vocab: int) -> NetworkConfig:
        net = {f.name: getattr(self, f.name) for f in fields(NetworkSettings)}
        return NetworkConfig(n_vocab=n_vocab, **{**net, "lstm_units": list(self.lstm_units)})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainSettings:
        """A run's settings from run.json (older runs lack newer fields: they were the event encoding)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known.setdefault("encoding", "events")
        known.setdefault("controls", "none")  # runs from before the bar controls had none
        return cls(**known)


RESUMABLE = tuple(f.name for f in fields(TrainSettings) if f.metadata.get("resumable"))


def duration_option(seconds: float) -> str:
    """A duration as a ``kind="duration"`` option reads it back (``16m``, ``90s``)."""
    return f"{seconds / 60:g}m" if seconds % 60 == 0 else f"{seconds:g}s"


def default_text(f: Any) -> str:
    """How the help shows a field's default: the value, or what ``AUTO`` makes of it."""
    if f.metadata.get("auto"):
        return f.metadata["auto"]
    value = f.default_factory() if f.default is MISSING else f.default
    if f.metadata.get("kind") == "duration" and value:
        return duration_option(value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value == "" else str(value)


__all__ = ["AUTO", "CONTROLS", "DISTRIBUTE", "ENCODINGS", "INPUTS", "KEY_MODES", "RECIPES", "RESUMABLE", "NetworkConfig", "NetworkSettings",
           "TrainSettings", "default_text", "duration_option", "setting"]
