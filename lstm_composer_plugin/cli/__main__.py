"""``python -m lstm_composer_plugin.cli``: the same as the ``lstm-composer`` command."""

from lstm_composer_plugin.cli import main

raise SystemExit(main())
