"""The LSTM composer plugin: styles of music learnt by LSTM networks, composed without TensorFlow.

``PLUGIN`` is the name the host knows this plugin by (the ``lstm_composer`` entry point's name in
pyproject.toml); every result and report the plugin hands the host carries it.
"""

PLUGIN = "lstm"
