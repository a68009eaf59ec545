"""The runtime check behind a hook, until lstm_composer_plugin.hooks exists.

``voc-host -p tests.plugins.runtime_plugin doctor`` runs it like the real plugin will.
"""

from hostapi import RuntimeReport, hookimpl
from lstm_composer_plugin import runtime


@hookimpl
def check_runtime(deep: bool) -> RuntimeReport:
    return runtime.check_runtime(probe_tensorflow=deep, plugin="runtime_plugin")
