"""The host API: hook specifications, the plugin host, and the records between them.

A host application embeds it like this::

    from hostapi import Host, ComposeOptions
    host = Host()                                   # loads the installed plugins
    styles = host.list_styles()                     # for the style drop-down
    result = host.compose(styles[0].name, ComposeOptions(seed=1))
    print(result.path, host.broken)                 # broken plugins never stop the host

A plugin marks its hook functions with :data:`hookimpl` and registers its module
in the ``lstm_composer`` entry-point group. See ``docs/hostapi.md``.
"""

from .hookspecs import PROJECT, hookimpl, hookspec
from .host import (
    ENTRY_POINT_GROUP,
    ENV_DISABLE,
    ENV_ONLY,
    Host,
    HostError,
    NoAnswerError,
    PluginCallError,
    UnknownPluginError,
    UserError,
)
from .results import (
    BrokenPlugin,
    ComposeOptions,
    CompositionResult,
    HookFailure,
    ModelsResult,
    PluginInfo,
    Progress,
    ProgressCallback,
    RuntimeFinding,
    RuntimeReport,
    SkippedPlugin,
    StyleInfo,
    TrainingResult,
    TrainOptions,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_DISABLE",
    "ENV_ONLY",
    "PROJECT",
    "BrokenPlugin",
    "ComposeOptions",
    "CompositionResult",
    "HookFailure",
    "Host",
    "HostError",
    "ModelsResult",
    "NoAnswerError",
    "PluginCallError",
    "PluginInfo",
    "Progress",
    "ProgressCallback",
    "RuntimeFinding",
    "RuntimeReport",
    "SkippedPlugin",
    "StyleInfo",
    "TrainOptions",
    "TrainingResult",
    "UnknownPluginError",
    "UserError",
    "hookimpl",
    "hookspec",
]
