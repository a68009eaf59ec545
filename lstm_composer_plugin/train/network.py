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

With ``tokens_per_step`` 2 (a compound step) each step reads a pair of tokens and predicts the
next pair: the input is ``(batch, steps, 3)``, the pair ``(a, b)`` and the next pair's first
token ``a'`` (teacher forcing; the composer feeds the token it drew). The pair's two embeddings,
side by side, enter the first LSTM; the features after the Dense layer predict ``a'`` (``output``)
and, joined with ``a'``'s embedding, through one more relu layer the ``b'`` after it (``output_b``).
The output is ``(batch, steps, 2, n_vocab)``: one softmax per token, so the loss is still the mean
over tokens and the bits per note compare with the one-token network's. Half the LSTM steps per
token is where the speed comes from; the heads cost a few small products.
"""

from __future__ import annotations

from lstm_composer_plugin.train.settings import INPUTS, RECIPES, NetworkConfig


def build_model(cfg: NetworkConfig, compile: bool = True):  # -> keras.Model
    import keras
    from keras import layers

    every_position = cfg.recipe == "default"
    # The default recipe takes chunks of any length; the reference one fixed windows.
    length = None if every_position else cfg.seq_len
    pairs = cfg.tokens_per_step == 2
    following = None  # the next pair's first token, embedded (pairs only)
    if pairs:
        inputs = keras.Input(shape=(None, 3), dtype="int32", name="tokens")
        e = layers.Embedding(cfg.n_vocab, cfg.embedding_dim, name="embedding")(inputs)
        x = layers.Reshape((-1, 2 * cfg.embedding_dim), name="pair")(e[:, :, :2, :])
        following = e[:, :, 2, :]
    elif cfg.input == "embedding":
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
    if pairs:
        g = layers.Concatenate(name="head_b_input")([x, following])
        g = layers.Dense(cfg.dense_units, activation="relu", name="head_b_hidden")(g)
        second = layers.Dense(cfg.n_vocab, activation="softmax", name="output_b")(g)
        outputs = keras.ops.stack([outputs, second], axis=2)
    model = keras.Model(inputs, outputs, name=f"lstm_composer_{cfg.recipe}")
    if compile:
        loss = "sparse_categorical_crossentropy" if every_position else "categorical_crossentropy"
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss=loss,
            metrics=["accuracy"],
        )
    return model


__all__ = ["INPUTS", "RECIPES", "NetworkConfig", "build_model"]
