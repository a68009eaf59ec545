"""The Keras side: train one LSTM per style, checkpoint it, choose its epoch, export it.

    from lstm_composer_plugin.train import train, TrainSettings
    result = train("corpus/bach", "bach", "runs/bach", epochs=60, progress=callback)

Stages, in the order a run goes through them (each a module): ``settings`` (the one
configuration record), ``prepare`` (corpus → split → tokens), ``fit`` (the loop),
``record`` (checkpoints: scorecard, export, graphs), ``finish`` (the choice, the shipped
model). Importing this package needs NumPy only; TensorFlow loads when training starts.
"""

from lstm_composer_plugin.train.finish import repick
from lstm_composer_plugin.train.settings import NetworkConfig, TrainSettings
from lstm_composer_plugin.train.trainer import require_training_libraries, train, train_with_options

__all__ = ["NetworkConfig", "TrainSettings", "repick", "require_training_libraries", "train",
           "train_with_options"]
