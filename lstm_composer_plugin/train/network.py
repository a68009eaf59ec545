"""The network: Softology's improved model, widths configurable (needs the ``train`` extra).

    input → LSTM 512 (sequences) → Dropout .2 → BatchNorm → LSTM 256 → Dropout .2 → BatchNorm
          → Dense 128 relu → Dropout .2 → BatchNorm → Dense n_vocab softmax

Two recipes share it. ``reference`` is the original: a window of 100 tokens fed as
the scalar ``index / n_vocab`` and only the last position predicted. ``default``
predicts the next event at *every* position (the second LSTM returns sequences and
the Dense layers apply per step), so one pass over a chunk yields ``seq_len``
targets instead of one (DESIGN decision 2). Keras picks the cuDNN kernel by itself
on a GPU as long as the LSTMs keep their default activations and no recurrent
dropout, which is why dropout sits between layers and not inside them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RECIPES = ("default", "reference")
INPUTS = ("embedding", "scalar")


@dataclass
class NetworkConfig:
    n_vocab: int
    recipe: str = "default"
    input: str = "embedding"  # "embedding" or the reference's "scalar" index / n_vocab
    embedding_dim: int = 64
    lstm_units: list[int] = field(default_factory=lambda: [512, 256])
    dense_units: int = 128
    dropout: float = 0.2
    seq_len: int = 100
    learning_rate: float = 1e-3
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, not {self.recipe!r}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, not {self.input!r}")
        self.lstm_units = [int(u) for u in self.lstm_units]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @classmethod
    def reference(cls, n_vocab: int, **overrides: Any) -> NetworkConfig:
        """The original recipe, for comparison: scalar input, predict the last event of 100."""
        return cls(n_vocab=n_vocab, **{"recipe": "reference", "input": "scalar", **overrides})


def build_model(cfg: NetworkConfig, compile: bool = True):  # -> keras.Model
    import keras
    from keras import layers

    every_position = cfg.recipe == "default"
    # The default recipe takes chunks of any length; the reference one fixed windows.
    length = None if every_position else cfg.seq_len
    if cfg.input == "embedding":
        inputs = keras.Input(shape=(length,), dtype="int32", name="tokens")
        x = layers.Embedding(cfg.n_vocab, cfg.embedding_dim, name="embedding")(inputs)
    else:
        inputs = keras.Input(shape=(length, 1), dtype="float32", name="tokens")
        x = layers.Rescaling(1.0 / cfg.n_vocab, name="scalar")(inputs)
    n = len(cfg.lstm_units)
    for i, units in enumerate(cfg.lstm_units):
        last = i == n - 1
        x = layers.LSTM(units, return_sequences=every_position or not last, name=f"lstm_{i}")(x)
        x = layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
        x = layers.BatchNormalization(name=f"batchnorm_{i}")(x)
    x = layers.Dense(cfg.dense_units, activation="relu", name="dense_0")(x)
    x = layers.Dropout(cfg.dropout, name=f"dropout_{n}")(x)
    x = layers.BatchNormalization(name=f"batchnorm_{n}")(x)
    outputs = layers.Dense(cfg.n_vocab, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name=f"lstm_composer_{cfg.recipe}")
    if compile:
        loss = "sparse_categorical_crossentropy" if every_position else "categorical_crossentropy"
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss=loss,
            metrics=["accuracy"],
        )
    return model
