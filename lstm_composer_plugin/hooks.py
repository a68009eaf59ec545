"""The LSTM composer's side of the host contract (``hostapi.hookspecs``).

Registered through the ``lstm_composer`` entry point as the plugin named ``lstm``.
Each hook is thin glue over the module that does the work; heavy imports (the
engine, TensorFlow, requests) happen inside the hooks, so that a host listing its
plugins pays nothing for this one.

``compose`` resolves the style once (a given model file, else the store: installed,
bundled or downloaded) and hands the composer a path. A style the store does not know
is not this plugin's (None: the host asks the next plugin); any other problem, such as
an unreachable catalogue, is raised as it is, so the user sees the real cause.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from hostapi import hookimpl
from hostapi.results import (
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
from lstm_composer_plugin import PLUGIN
from lstm_composer_plugin.errors import (
    ComposerError,
    OutputExistsError,
    UnknownStyleError,
    UsageError,
)


@hookimpl
def list_styles(offline: bool, warn: WarnCallback) -> list[StyleInfo]:
    from lstm_composer_plugin.models import open_store, style_info

    listing = open_store(offline).list_styles()
    for note in dict.fromkeys(listing.warnings):  # e.g. the catalogue is unreachable
        warn(note)
    return [style_info(entry, PLUGIN) for entry in listing.styles]


@hookimpl
def compose(
    style: str, options: ComposeOptions, progress: ProgressCallback, warn: WarnCallback
) -> CompositionResult | None:
    from lstm_composer_plugin.compose.composer import MAX_EVENTS
    from lstm_composer_plugin.compose.composer import compose as compose_style

    _check_request(style, options)
    if options.model is not None:
        path, style = _own_model(Path(options.model), style)
    else:
        from lstm_composer_plugin.models import locate_model

        try:
            path = locate_model(style, offline=options.offline, progress=progress)
        except UnknownStyleError:
            _hint_catalogue(warn)
            return None  # not a style of ours: another plugin may know it
    # Resolved once, here: the style (above), the seed and the output name; the composer takes them as given.
    seed = options.seed if options.seed is not None else int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    out = Path(options.out_path) if options.out_path is not None else Path(f"{style}-{seed}.mid")
    options = dataclasses.replace(options, seed=seed, out_path=out)
    _refuse_overwrite(options)
    result = compose_style(style, options, model_path=path, progress=progress)
    result.plugin = PLUGIN
    if options.seconds is not None and result.duration_seconds < 0.95 * options.seconds:
        # Say why only when it is the cap (MAX_EVENTS, or 20 notes a second for note models).
        capped = result.events >= min(MAX_EVENTS, 20 * options.seconds) - 1
        why = (f": compositions stop at {MAX_EVENTS} events (notes, for note-level models; "
               "at most 20 notes a second)") if capped else ""
        warn(f"the piece is {result.duration_seconds:.1f} s long, not the {options.seconds:g} s asked for{why}")
    result.report["summary"] = _summary(result.report)
    return result


def _hint_catalogue(warn: WarnCallback) -> None:
    """Where a style may be missing only because no catalogue is set up, say how to set one up."""
    from lstm_composer_plugin.models import catalogue_hint

    hint = catalogue_hint()
    if hint:
        warn(hint)


def _check_request(style: str, options: ComposeOptions) -> None:
    """What can be refused before any model is read or downloaded."""
    from hostapi.commands import STYLE_NAME
    from lstm_composer_plugin.compose.composer import check_options

    if style and not STYLE_NAME.fullmatch(style):
        raise UsageError(f"{style!r} is not a style name (letters, digits, '.', '_' and '-')")
    check_options(options)  # every bound (variations, length, seed, ...) before anything is read
    if options.out_path is not None:
        _writable_folder(Path(options.out_path).parent)
    if options.png and not _have_matplotlib():
        raise ComposerError(
            "--png needs matplotlib, which is not installed "
            "(pip install 'lstm-composer-plugin[png]'); nothing was composed"
        )
    if options.audio:  # the renderer and a SoundFont, before any download (one line if missing)
        from lstm_composer_plugin.compose.audio import check_audio

        check_audio()


def _writable_folder(folder: Path) -> None:
    """Refuse an output folder that is missing or cannot be written to, before composing."""
    if not folder.is_dir():
        raise UsageError(f"output folder '{folder}' does not exist")
    try:  # a real probe: permission bits say nothing for root, or on a read-only mount
        fd, probe = tempfile.mkstemp(prefix=".lstm-composer-probe-", dir=folder)
    except OSError as exc:
        raise UsageError(f"output folder '{folder}' is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _have_matplotlib() -> bool:
    try:  # it is imported for the drawing anyway; find_spec would miss a broken install
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _own_model(path: Path, style: str) -> tuple[Path, str]:
    """A model file the user named: it must be a model, and of ``style`` if one is given."""
    from lstm_composer_plugin.modelfile import read_manifest

    if not path.is_file():
        raise ComposerError(f"{path}: no such model file")
    own = read_manifest(path).style  # ModelFileError (one line) for a file that is not a model
    if style and own != style:
        raise UsageError(f"{path} is a model of style '{own}', not '{style}'")
    return path, own


def _refuse_overwrite(options: ComposeOptions) -> None:
    """Existing output files (MIDI, variations, WAVs, piano roll) stay untouched unless
    ``options.force``; the folder must exist."""
    from lstm_composer_plugin.compose.composer import variation_path

    out = Path(options.out_path)
    if not out.parent.is_dir():
        raise UsageError(f"output folder '{out.parent}' does not exist")
    if options.force:
        return
    planned = [variation_path(out, k) for k in range(options.variations)]
    if options.audio:
        planned += [path.with_suffix(".wav") for path in planned]
    if options.png:
        planned.append(out.with_suffix(".png"))
    for path in planned:
        if path.exists():
            raise OutputExistsError(
                f"{path} exists: nothing was written (add --force to overwrite, or choose "
                "another --output)"
            )


def _summary(report: dict) -> str:
    """The originality line a console host prints under the file name."""
    if "longest_repeat" not in report:
        return ""
    if "notes" in report:  # a note-level model: the measures are the melody's (docs/compose.md)
        line = (
            f"longest repeated melody pitch {report['longest_repeat']}, "
            f"{report.get('distinct_per_100', '?')} distinct melody pitches per 100"
        )
        if "longest_borrowed_melody" in report:
            src = f" ({report['melody_borrowed_from']})" if report.get("melody_borrowed_from") else ""
            line = f"longest borrowed melody {report['longest_borrowed_melody']} notes{src}; " + line
        return f"originality: {line}"
    line = (
        f"longest repeated event {report['longest_repeat']}, "
        f"{report.get('distinct_per_100', '?')} distinct per 100"
    )
    if "longest_borrowed_run" in report:
        src = f" ({report['borrowed_from']})" if report.get("borrowed_from") else ""
        share = report.get("ngram8_share")
        shown = f", 8-gram share {share:.1%}" if isinstance(share, float) else ""
        line = f"longest borrowed run {report['longest_borrowed_run']} events{src}{shown}; " + line
    return f"originality: {line}"


@hookimpl
def train(
    corpus_dir: Path, style: str, out_dir: Path, options: TrainOptions, progress: ProgressCallback
) -> TrainingResult:
    from lstm_composer_plugin.train.trainer import train_with_options

    result = train_with_options(corpus_dir, style, out_dir, options, progress)
    result.plugin = PLUGIN
    return result


@hookimpl
def check_runtime(deep: bool) -> RuntimeReport:
    from lstm_composer_plugin.runtime import check_runtime as check

    return check(probe_tensorflow=deep, plugin=PLUGIN)


@hookimpl
def manage_models(request: ModelsRequest, progress: ProgressCallback) -> ModelsResult:
    from lstm_composer_plugin.manager import manage

    return manage(request, progress)
