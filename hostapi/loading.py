"""Finding plugins before they are imported: explicit specs and entry points.

:class:`hostapi.Host` turns these candidates into registered plugins; keeping the
lookup here lets the host read as load, validate, call.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .results import BrokenPlugin

#: What ``Host(plugins=...)`` accepts: a module or object with hook
#: implementations, ``(name, object)``, or a string ``"[name=]module[:attr]"``
#: imported lazily like an entry point.
PluginSpec = Any


@dataclass
class Candidate:
    """A plugin known by name before it is imported (so env filters skip the import)."""

    name: str
    source: str
    load: Callable[[], object]
    version: str | None = None


def _load_target(target: str) -> object:
    """Import ``module[:attr.path]`` the way an entry point's value is loaded."""
    module_name, _, attrs = target.partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for attr in filter(None, attrs.strip().split(".")):
        obj = getattr(obj, attr)
    return obj


def _object_name(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__.rpartition(".")[2]
    name = getattr(obj, "plugin_name", None) or getattr(obj, "__name__", None)
    return str(name) if name else type(obj).__name__


def object_version(obj: object) -> str | None:
    version = getattr(obj, "__version__", None)
    return str(version) if version is not None else None


def explicit_candidate(spec: PluginSpec) -> Candidate:
    if isinstance(spec, tuple):
        name, obj = spec
        return Candidate(str(name), "object", lambda: obj, object_version(obj))
    if isinstance(spec, str):
        name, sep, target = spec.partition("=")
        if not sep:
            name, target = spec.partition(":")[0].rpartition(".")[2], spec
        return Candidate(name.strip(), f"module {target.strip()}", lambda: _load_target(target))
    source = f"module {spec.__name__}" if isinstance(spec, types.ModuleType) else "object"
    return Candidate(_object_name(spec), source, lambda: spec, object_version(spec))


def entry_point_candidates(group: str) -> tuple[list[Candidate], list[BrokenPlugin]]:
    """The group's entry points, one per name, sorted by name (the documented order)."""
    by_name: dict[str, importlib.metadata.EntryPoint] = {}
    clashes: list[BrokenPlugin] = []
    for ep in importlib.metadata.entry_points(group=group):
        first = by_name.setdefault(ep.name, ep)
        # The same distribution seen twice on sys.path is harmless; two different
        # targets under one name would make the order depend on sys.path.
        if first is not ep and first.value != ep.value:
            clashes.append(
                BrokenPlugin(
                    ep.name,
                    f"entry point name also used by {first.value!r}; ignored {ep.value!r}",
                    "register",
                    f"entry point {ep.value}",
                )
            )
    candidates = []
    for name in sorted(by_name):
        ep = by_name[name]
        dist = getattr(ep, "dist", None)
        version = dist.version if dist is not None else None
        where = f" ({dist.name} {version})" if dist is not None else ""
        candidates.append(Candidate(name, f"entry point {ep.value}{where}", ep.load, version))
    return candidates, clashes
