"""The contract between a host application and composer plugins.

A composer plugin is a module (or object) with functions marked ``@hookimpl``
whose names and argument names match the specifications below. The host always
calls hooks with keywords, and pluggy passes each implementation only the
arguments it names, so an implementation may declare a subset
(``def list_styles():`` is a valid implementation of ``list_styles(offline)``),
and new arguments can be added to a spec later without breaking old plugins.

Rules every hook follows:

* Results are the dataclasses of :mod:`hostapi.results`, never dicts. The host
  rejects any other type as a plugin failure.
* ``progress`` is always a callable taking a :class:`~hostapi.results.Progress`
  (the host passes a no-op when nobody listens), so a GUI host can draw a bar.
  Call it as often as you like; it is cheap.
* Return ``None`` for a request that is not yours (a style you do not know, a
  model manager you do not have). The host then asks the next plugin.
* Raise :class:`hostapi.UserError` (one-line message) for a mistake the user can
  fix: the plugin has claimed the request and the host reports the message with
  the plugin's name. Its kind sets the exit code a console host uses
  (``BadValueError`` 2, ``NotFoundError`` 3, ``UnavailableError`` 4, else 1).
* ``warn`` (where a spec has it) takes a one-line note the user should see while
  the hook still answers (e.g. "the catalogue is unreachable"). Any other exception is a plugin failure: it is reported
  with the plugin's name and the next plugin is tried.

How the host orders plugins is described in :mod:`hostapi.host`.
"""

from __future__ import annotations

from pathlib import Path

import pluggy

from .results import (
    ComposeOptions,
    CompositionResult,
    ModelsRequest,
    ModelsResult,
    ProgressCallback,
    RuntimeReport,
    StyleInfo,
    TrainingResult,
    TrainOptions,
    WarnCallback,
)

#: The pluggy project name. It is also the entry-point group plugins register in.
PROJECT = "lstm_composer"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a plugin's hook implementations with this: ``@hookimpl def compose(...)``.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def list_styles(offline: bool, warn: WarnCallback) -> list[StyleInfo] | None:
    """The styles this plugin can compose in: installed ones and downloadable ones.

    Each :class:`StyleInfo` says whether the style is ``installed`` or
    ``needs_download`` (with ``size_bytes`` so a host can warn before a large
    download), plus a title and a description for the style drop-down.

    :param offline: do not touch the network; list what is known locally (for
        example from a cached catalogue).
    :param warn: call with a one-line note for the user when something could not be
        listed (an unreachable catalogue): list what you can and say why the rest is missing.
    :returns: a list (possibly empty), or None if the plugin offers no styles.
    """


@hookspec(firstresult=True)
def compose(
    style: str, options: ComposeOptions, progress: ProgressCallback, warn: WarnCallback
) -> CompositionResult | None:
    """Compose a new piece in ``style`` and write it to a MIDI file.

    First result wins: the plugin that knows ``style`` answers; a plugin that
    does not know it returns None. If the style's model must be downloaded
    first, do it here (unless ``options.offline``), reporting bytes through
    ``progress`` (stage ``"download"``), then the composing (stage ``"compose"``).

    :param style: a ``StyleInfo.name`` from :func:`list_styles`; may be empty when
        ``options.model`` names a model file (its own style is used).
    :param warn: call with a one-line note for the user (the piece is still written).
    :param options: what the user asked for; None fields mean the plugin's default.
        ``options.out_path`` None means a file name of the plugin's choosing in
        the current directory.
    :returns: the written composition, or None if the style is not this plugin's.
    """


@hookspec(firstresult=True)
def train(
    corpus_dir: Path,
    style: str,
    out_dir: Path,
    options: TrainOptions,
    progress: ProgressCallback,
) -> TrainingResult | None:
    """Train a new style from a folder of MIDI files.

    First result wins: a plugin that cannot train returns None. Checkpoints,
    graphs, metrics and the exported model go under ``out_dir``; report epochs
    through ``progress`` (stage ``"train"``, unit ``"epoch"``; an epoch's figures in
    ``Progress.metrics``, files a host may show, such as a checkpoint's piano roll, in
    ``Progress.files``).

    :param corpus_dir: a folder of ``.mid`` files (searched recursively).
    :param style: the name of the new style.
    :param out_dir: where to write everything (created if needed).
    :returns: what was trained and which epoch is recommended, or None.
    """


@hookspec
def check_runtime(deep: bool) -> RuntimeReport | None:
    """Report what this plugin needs, what is installed, and what that enables.

    Must never raise because a dependency is missing or broken: a missing
    dependency is a finding, not an error.

    :param deep: also run slow probes (for example importing a machine-learning
        framework in a subprocess to ask for its GPUs). False must stay fast.
    :returns: one report for this plugin, or None.
    """


@hookspec(firstresult=True)
def manage_models(request: ModelsRequest, progress: ProgressCallback) -> ModelsResult | None:
    """Run the plugin's model manager: ``voc-host models ACTION ...``.

    The host parses the command line into a :class:`~hostapi.results.ModelsRequest`
    (the actions are :data:`~hostapi.results.MODELS_ACTIONS`); the plugin runs it and
    reports downloads through ``progress``. Raise a :class:`hostapi.UserError` subclass
    for what went wrong (its ``exit_code`` is the one the user sees).

    :param request: the action and its arguments, typed.
    :returns: the outcome, or None if this plugin has no model manager.
    """
