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

from .errors import (
    BadValueError,
    Cancelled,
    ExitCode,
    HostError,
    NoAnswerError,
    NotFoundError,
    PluginCallError,
    UnavailableError,
    UnknownPluginError,
    UserError,
)
from .hookspecs import PROJECT, hookimpl, hookspec
from .host import ENTRY_POINT_GROUP, ENV_DISABLE, ENV_ONLY, Host
from .results import (
    MODELS_ACTIONS,
    BrokenPlugin,
    ComposeOptions,
    CompositionResult,
    HookFailure,
    ModelsRequest,
    ModelsResult,
    PluginInfo,
    PluginWarning,
    Progress,
    ProgressCallback,
    RuntimeFinding,
    RuntimeReport,
    SkippedPlugin,
    StyleInfo,
    TrainingResult,
    TrainOptions,
    WarnCallback,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_DISABLE",
    "ENV_ONLY",
    "MODELS_ACTIONS",
    "PROJECT",
    "BadValueError",
    "BrokenPlugin",
    "Cancelled",
    "ComposeOptions",
    "CompositionResult",
    "ExitCode",
    "HookFailure",
    "Host",
    "HostError",
    "ModelsRequest",
    "ModelsResult",
    "NoAnswerError",
    "NotFoundError",
    "PluginCallError",
    "PluginInfo",
    "PluginWarning",
    "Progress",
    "ProgressCallback",
    "RuntimeFinding",
    "RuntimeReport",
    "SkippedPlugin",
    "StyleInfo",
    "TrainOptions",
    "TrainingResult",
    "UnavailableError",
    "UnknownPluginError",
    "UserError",
    "WarnCallback",
    "hookimpl",
    "hookspec",
]
