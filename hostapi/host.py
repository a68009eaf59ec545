"""The host side: a pluggy ``PluginManager`` that survives its plugins.

Loading
    Plugins come from two places, registered the same way (import in its own
    ``try``, register, validate): the ``plugins=`` given to :class:`Host` (in the
    order given; built-ins, ``voc-host -p``, or test plugins), then the
    entry-point group ``lstm_composer`` sorted by entry-point name. A plugin
    that fails to import, fails pluggy's signature check, implements a hook no
    spec declares (``check_pending``) or uses a hook wrapper is unregistered and
    listed in :attr:`Host.broken` with its reason; the others load normally.

Restricting
    ``LSTM_COMPOSER_PLUGINS=a,b`` loads only the plugins named a and b;
    ``LSTM_COMPOSER_DISABLE=c`` never loads c (it is not even imported, so a
    plugin that crashes on import can be switched off). Excluded plugins are in
    :attr:`Host.skipped`; a name in ``LSTM_COMPOSER_PLUGINS`` that matches no
    plugin is reported broken (stage ``missing``) so a typo does not go unseen.

Ordering (deterministic)
    Hooks run in pluggy's order: the plugin registered last is called first
    (LIFO), except that ``@hookimpl(tryfirst=True)`` implementations run before
    all others and ``trylast=True`` ones after all others. With the registration
    order above this means: entry points in reverse name order (``zeta`` before
    ``alpha``), then the explicit plugins from last to first. For first-result
    hooks (``compose``, ``train``, ``manage_models``) the first plugin in that
    order that answers wins; a host can pass ``plugin=NAME`` to ask only one.

Calling
    The host calls each implementation itself, one by one in that order, with
    keyword arguments (each implementation receives only the arguments it
    declares, as pluggy does), so that an exception in one plugin is recorded as
    a :class:`~hostapi.results.HookFailure` with the plugin's name and the next
    plugin still gets its turn. pluggy's own ``pm.hook.compose(...)`` would
    abort the whole call on the first exception (compare llm#1280).
    A :class:`UserError` is different: the plugin has claimed the request and
    rejected the user's input, so the call stops there and the error is raised.

(A little over 400 lines: loading, validating and calling are one lifecycle of the
``PluginManager``; the plugin lookup and the errors live in ``loading.py`` and
``errors.py``.)
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pluggy
from pluggy import HookImpl

from . import hookspecs
from .errors import (
    NoAnswerError,
    PluginCallError,
    UnknownPluginError,
    UserError,
)
from .hookspecs import PROJECT
from .loading import (
    Candidate,
    PluginSpec,
    entry_point_candidates,
    explicit_candidate,
    object_version,
)
from .results import (
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
    RuntimeReport,
    SkippedPlugin,
    StyleInfo,
    TrainingResult,
    TrainOptions,
)

#: Entry-point group plugins register in (the same name as the hook markers').
ENTRY_POINT_GROUP = PROJECT
#: Comma-separated plugin names: load only these.
ENV_ONLY = "LSTM_COMPOSER_PLUGINS"
#: Comma-separated plugin names: never load these.
ENV_DISABLE = "LSTM_COMPOSER_DISABLE"

T = TypeVar("T")

def one_line(text: str) -> str:
    """Collapse a message to one line (pluggy's validation errors span several)."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _describe(exc: BaseException) -> str:
    message = one_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _names(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _no_progress(progress: Progress) -> None:
    """The callback plugins get when the caller did not pass one."""


class Host:
    """Loads composer plugins and calls their hooks, one plugin at a time.

    ``Host()`` loads the installed plugins (entry points). Tests and embedding
    hosts can pass plugins explicitly: ``Host(plugins=[module_or_object],
    load_entry_points=False)``. ``env`` defaults to ``os.environ`` and is read
    for :data:`ENV_ONLY` and :data:`ENV_DISABLE`.
    """

    def __init__(
        self,
        plugins: Iterable[PluginSpec] = (),
        *,
        load_entry_points: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        env = os.environ if env is None else env
        self._only = _names(env.get(ENV_ONLY))
        self._disabled = _names(env.get(ENV_DISABLE)) or set()
        #: Plugins that could not be used, with the reason.
        self.broken: list[BrokenPlugin] = []
        #: Plugins excluded by an environment variable.
        self.skipped: list[SkippedPlugin] = []
        #: Every hook failure so far (including ones where another plugin answered).
        self.failures: list[HookFailure] = []
        #: Notes plugins passed to their ``warn`` callback (they still answered).
        self.warnings: list[PluginWarning] = []
        self._loaded: dict[str, Candidate] = {}

        if isinstance(plugins, str):  # one "module:attr" string, not its characters
            plugins = [plugins]
        candidates = [explicit_candidate(p) for p in plugins]
        if load_entry_points:
            from_eps, clashes = entry_point_candidates(ENTRY_POINT_GROUP)
            candidates += from_eps
            self.broken += clashes
        for candidate in candidates:
            self._load(candidate)
        seen = {c.name for c in candidates}
        for name in sorted((self._only or set()) - seen):
            self.broken.append(
                BrokenPlugin(
                    name, f"named in {ENV_ONLY} but no such plugin is installed", "missing"
                )
            )

    # -- loading ---------------------------------------------------------

    def _load(self, candidate: Candidate) -> None:
        name = candidate.name
        if name in self._disabled:
            self.skipped.append(SkippedPlugin(name, f"disabled by {ENV_DISABLE}", candidate.source))
            return
        if self._only is not None and name not in self._only:
            self.skipped.append(SkippedPlugin(name, f"not listed in {ENV_ONLY}", candidate.source))
            return
        try:
            plugin = candidate.load()
        # SystemExit too: a plugin calling sys.exit() on import must not end the host.
        except (Exception, SystemExit) as exc:
            self._mark_broken(candidate, "import", exc)
            return
        if self.pm.has_plugin(name):
            self._mark_broken(candidate, "register", f"a plugin named {name!r} is already loaded")
            return
        if self.pm.is_registered(plugin):  # e.g. `-p` of a module an entry point also names
            other = self.pm.get_name(plugin)
            self._mark_broken(
                candidate, "register", f"the same plugin is already loaded as {other!r}"
            )
            return
        try:
            self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            self._forget(name)
            self._mark_broken(candidate, "register", exc)
            return
        problem = self._validate(plugin)
        if problem:
            self._forget(name)
            self._mark_broken(candidate, "validate", problem)
            return
        # A "module:attr" string only reveals its version once imported.
        candidate.version = candidate.version or object_version(plugin)
        self._loaded[name] = candidate

    def _validate(self, plugin: object) -> str | None:
        """Why a just-registered plugin cannot be used, or None."""
        # Every plugin registered before this one passed, so whatever
        # check_pending finds now belongs to this plugin.
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            return one_line(str(exc))
        for caller in self.pm.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                    return (
                        f"hook wrapper {caller.name!r} is not supported "
                        "(the host calls each plugin on its own)"
                    )
        return None

    def _forget(self, name: str) -> None:
        # pluggy >= 1.7 leaves no trace of a plugin that failed registration;
        # older versions may have half-registered it.
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)

    def _mark_broken(self, candidate: Candidate, stage: str, why: BaseException | str) -> None:
        if isinstance(why, BaseException):
            reason = _describe(why)
            tb = "".join(traceback.format_exception(type(why), why, why.__traceback__))
        else:
            reason, tb = one_line(why), ""
        self.broken.append(BrokenPlugin(candidate.name, reason, stage, candidate.source, tb))

    # -- what is loaded ----------------------------------------------------

    @property
    def plugins(self) -> list[PluginInfo]:
        """The working plugins, in registration order."""
        infos = []
        for name, candidate in self._loaded.items():
            plugin = self.pm.get_plugin(name)
            hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
            infos.append(PluginInfo(name, candidate.version, candidate.source, hooks))
        return infos

    def call_order(self, hook: str) -> list[str]:
        """Plugin names in the order ``hook`` is called (the documented ordering)."""
        return [impl.plugin_name for impl in self._impls(hook)]

    # -- calling -----------------------------------------------------------

    def _impls(self, hook: str, plugin: str | None = None) -> list[HookImpl]:
        # pluggy keeps implementations in reverse call order (it runs them with
        # reversed()); tryfirst/trylast are already applied to this list.
        impls = list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))
        if plugin is None:
            return impls
        if not self.pm.has_plugin(plugin):
            raise UnknownPluginError(hook, self._why_not_loaded(plugin))
        return [impl for impl in impls if impl.plugin_name == plugin]

    def _why_not_loaded(self, name: str) -> str:
        for broken in self.broken:
            if broken.name == name:
                return f"plugin {name!r} is broken: {broken.reason}"
        for skipped in self.skipped:
            if skipped.name == name:
                return f"plugin {name!r} is not loaded: {skipped.reason}"
        loaded = ", ".join(self._loaded) or "none"
        return f"no plugin named {name!r} (loaded: {loaded})"

    def _invoke(self, impl: HookImpl, kwargs: Mapping[str, object]) -> object:
        # As pluggy's _multicall: positional parameters by name, then the
        # implementation's own defaulted parameters if the call provides them.
        if "warn" in impl.argnames:
            kwargs = {**kwargs, "warn": self._warner(impl.plugin_name)}
        args = [kwargs[name] for name in impl.argnames]
        extra = {name: kwargs[name] for name in impl.kwargnames if name in kwargs}
        return impl.function(*args, **extra)

    def _warner(self, plugin: str) -> Callable[[str], None]:
        def warn(message: str) -> None:
            self.warnings.append(PluginWarning(plugin, one_line(message)))

        return warn

    def _failure(self, impl: HookImpl, hook: str, exc: BaseException | str) -> HookFailure:
        if isinstance(exc, BaseException):
            failure = HookFailure(
                plugin=impl.plugin_name,
                hook=hook,
                error=one_line(str(exc)) or type(exc).__name__,
                error_type=type(exc).__name__,
                user_error=isinstance(exc, UserError),
                exit_code=int(exc.exit_code) if isinstance(exc, UserError) else None,
                traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            )
        else:
            failure = HookFailure(impl.plugin_name, hook, exc, "ContractError")
        self.failures.append(failure)
        return failure

    def _first(
        self,
        hook: str,
        expected: type[T],
        plugin: str | None,
        no_answer: str,
        **kwargs: object,
    ) -> T:
        """Call a first-result hook plugin by plugin until one answers."""
        impls = self._impls(hook, plugin)
        failures: list[HookFailure] = []
        for impl in impls:
            try:
                result = self._invoke(impl, kwargs)
            except UserError as exc:
                raise PluginCallError(hook, [self._failure(impl, hook, exc)]) from exc
            except Exception as exc:
                failures.append(self._failure(impl, hook, exc))
                continue
            if result is None:
                continue
            if not isinstance(result, expected):
                failures.append(self._wrong_type(impl, hook, result, expected.__name__))
                continue
            _stamp(result, impl.plugin_name)
            return result
        if failures:
            raise PluginCallError(hook, failures)
        if not impls:
            no_answer += f" (no loaded plugin implements {hook}{self._broken_hint()})"
        raise NoAnswerError(hook, no_answer)

    def _each(self, hook: str, plugin: str | None, **kwargs: object) -> list[tuple[HookImpl, Any]]:
        """Call a collecting hook on every plugin; failures are recorded, not raised."""
        answers = []
        for impl in self._impls(hook, plugin):
            try:
                result = self._invoke(impl, kwargs)
            except Exception as exc:
                self._failure(impl, hook, exc)
                continue
            if result is not None:
                answers.append((impl, result))
        return answers

    def _wrong_type(self, impl: HookImpl, hook: str, result: object, expected: str) -> HookFailure:
        return self._failure(
            impl, hook, f"returned {type(result).__name__}, expected {expected} or None"
        )

    def _broken_hint(self) -> str:
        return f"; {len(self.broken)} plugin(s) broken" if self.broken else ""

    # -- the hooks, as a host calls them -----------------------------------

    def list_styles(self, *, offline: bool = False, plugin: str | None = None) -> list[StyleInfo]:
        """All styles of all plugins, in call order (a plugin's failure drops only its styles)."""
        styles: list[StyleInfo] = []
        for impl, result in self._each("list_styles", plugin, offline=offline):
            if not isinstance(result, (list, tuple)):
                self._wrong_type(impl, "list_styles", result, "list[StyleInfo]")
                continue
            stray = next((s for s in result if not isinstance(s, StyleInfo)), None)
            if stray is not None:
                what = f"a list holding a {type(stray).__name__}, expected StyleInfo items"
                self._failure(impl, "list_styles", f"returned {what}")
                continue
            for style in result:
                _stamp(style, impl.plugin_name)
            styles.extend(result)
        return styles

    def compose(
        self,
        style: str,
        options: ComposeOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        plugin: str | None = None,
    ) -> CompositionResult:
        """Compose in ``style``; raises :class:`NoAnswerError` if no plugin knows it."""
        return self._first(
            "compose",
            CompositionResult,
            plugin,
            f"no plugin composes in style {style!r}",
            style=style,
            options=options or ComposeOptions(),
            progress=progress or _no_progress,
        )

    def train(
        self,
        corpus_dir: Path,
        style: str,
        out_dir: Path,
        options: TrainOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        plugin: str | None = None,
    ) -> TrainingResult:
        """Train a new style; raises :class:`NoAnswerError` if no plugin trains."""
        return self._first(
            "train",
            TrainingResult,
            plugin,
            "no plugin can train",
            corpus_dir=Path(corpus_dir),
            style=style,
            out_dir=Path(out_dir),
            options=options or TrainOptions(),
            progress=progress or _no_progress,
        )

    def check_runtime(
        self, *, deep: bool = False, plugin: str | None = None
    ) -> list[RuntimeReport]:
        """One report per plugin that implements ``check_runtime``."""
        reports = []
        for impl, result in self._each("check_runtime", plugin, deep=deep):
            if not isinstance(result, RuntimeReport):
                self._wrong_type(impl, "check_runtime", result, "RuntimeReport")
                continue
            _stamp(result, impl.plugin_name)
            reports.append(result)
        return reports

    def manage_models(
        self,
        request: ModelsRequest | None = None,
        *,
        progress: ProgressCallback | None = None,
        plugin: str | None = None,
    ) -> ModelsResult:
        """Run a model-manager command on the first plugin that has a model manager."""
        return self._first(
            "manage_models",
            ModelsResult,
            plugin,
            "no plugin has a model manager",
            request=request or ModelsRequest(),
            progress=progress or _no_progress,
        )


def _stamp(record: object, plugin_name: str) -> None:
    """Fill in the ``plugin`` field a plugin left empty, so hosts can always show it."""
    if hasattr(record, "plugin") and not record.plugin:
        record.plugin = plugin_name
