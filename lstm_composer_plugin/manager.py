"""The plugin's model manager: runs a host's :class:`~hostapi.ModelsRequest` on the store.

``voc-host models ACTION`` and ``lstm-composer models ACTION`` both parse their command line
in :mod:`hostapi.commands` and reach :func:`manage` through the ``manage_models`` hook; the
store (``model_store``) is a library that knows nothing of hosts, so the text and the exit
codes are made here and store errors become this plugin's errors
(:func:`lstm_composer_plugin.models.store_errors`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostapi import ModelsRequest, ModelsResult, ProgressCallback
from hostapi.console import format_size, table
from lstm_composer_plugin import PLUGIN
from lstm_composer_plugin.errors import ModelFileError, UsageError
from lstm_composer_plugin.modelfile import SUFFIX

#: (JSON data, text lines, ok)
Outcome = tuple[dict[str, Any], list[str], bool]


def manage(request: ModelsRequest, progress: ProgressCallback | None = None) -> ModelsResult:
    """Run one model-manager action; raises this plugin's errors for what went wrong."""
    from lstm_composer_plugin.models import host_progress, open_store, store_errors

    handler = _HANDLERS.get(request.action)
    if handler is None:
        raise UsageError(f"unknown models action {request.action!r} ({', '.join(_HANDLERS)})")
    with store_errors():
        store = open_store(
            request.offline,
            home=request.home,
            catalogue_url=request.catalogue,
            allow_insecure=True if request.allow_insecure else None,
        )
        data, text, ok = handler(store, request, host_progress(progress))
    return ModelsResult(
        action=request.action,
        plugin=PLUGIN,
        ok=ok,
        text="\n".join(text),
        data=data,
        warnings=list(dict.fromkeys(store.warnings)),
    )


def _list(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    listing = store.list_styles(refresh=request.refresh)
    summary = store.catalogue_summary()
    rows = [["STYLE", "STATUS", "VERSION", "SIZE", "PATH"]]
    for e in listing.styles:
        status = {"store": "installed", "bundled": "bundled"}.get(
            e.source, f"download {format_size(e.size)}"
        )
        if e.update_available:
            status += f" (update: {e.catalogue_version})"
        rows.append([e.name, status, e.version or "-", format_size(e.size), str(e.path or "")])
    text = table(rows) if len(rows) > 1 else ["no styles installed, bundled or in a catalogue"]
    if summary:
        text.append(f"catalogue: {summary['url']} ({summary['source']}, fetched {summary['age']} ago)")
    elif store.catalogue_url is None:
        text.append("catalogue: none configured (set LSTM_COMPOSER_CATALOGUE)")
    else:
        text.append(f"catalogue: {store.catalogue_url} (unavailable, see the warning)")
    text.append(f"store: {store.where()}")
    data = {
        "styles": [e.to_dict() for e in listing.styles],
        "catalogue": summary,
        "catalogue_error": str(listing.catalogue_error) if listing.catalogue_error else None,
        "store": str(store.where()),
    }
    return data, text, True


def _fetch(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    from lstm_composer_plugin.models import plugin_error
    from model_store import StoreError

    styles = list(request.styles)
    if request.all:
        loaded = store.catalogue()
        styles += [s for s in loaded.catalogue.styles if s not in styles]
    if not styles:
        raise UsageError("fetch: name at least one STYLE, or --all")
    results, errors, text = [], [], []
    for style in styles:
        try:
            out = store.fetch_detailed(style, progress=progress, force=request.force)
        except StoreError as exc:
            if len(styles) == 1:
                raise
            errors.append({"style": style, "error": str(plugin_error(exc))})
            text.append(f"FAIL {style}: {exc}")
            continue
        results.append(out.to_dict())
        got = out.download.bytes_fetched if out.download else 0
        how = f"downloaded {format_size(got)}" if got else "already installed"
        text.append(f"{style}: {how}: {out.path}")
    return {"fetched": results, "errors": errors}, text, not errors


def _install(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    """Install trained model files: published into a private folder catalogue, then fetched
    from it like any download, so the store verifies and records them as it does its own."""
    from lstm_composer_plugin.models import describe_model
    from model_store import Store, publish

    installed, text = [], []
    for file in request.files:
        if not Path(file).is_file():
            raise ModelFileError(f"{file}: no such model file")
        info = describe_model(Path(file))
        current = store.installed().get(info.style)
        if current and not request.force:
            raise UsageError(
                f"style '{info.style}' is already installed ({current[0].version}); "
                "add --force to replace it"
            )
        with tempfile.TemporaryDirectory(prefix="install-") as tmp:
            models, out = Path(tmp, "models"), Path(tmp, "catalogue")
            models.mkdir()
            (models / Path(file).name).symlink_to(Path(file).resolve())
            publish(models, out, make_pack=False, describe=describe_model, suffix=SUFFIX)
            local = Store(home=store.home, catalogue_url=str(out), bundled=store.bundled, app=store.app,
                          describe=describe_model, offline=False, allow_insecure=False)
            outcome = local.fetch_detailed(info.style, progress=progress, force=True)
        installed.append({"style": info.style, "version": info.version, "path": str(outcome.path)})
        text.append(f"installed {info.style} ({info.version or '-'}) from {file}: {outcome.path}")
    return {"installed": installed}, text, True


def _verify(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    results = store.verify()
    text = [
        f"{'ok' if r.ok else 'FAIL'}  {r.style}  {r.version or '-'}  ({r.source})  "
        f"{r.problem or r.path}"
        for r in results
    ] or ["nothing installed"]
    bad = sum(not r.ok for r in results)
    if bad:
        text.append(f"{bad} of {len(results)} failed: the models repair command fetches them again")
    return {"results": [r.to_dict() for r in results]}, text, not bad


def _repair(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    report = store.repair(progress=progress)
    text = [f"checked {report.checked}; repaired: {', '.join(report.repaired) or 'none'}"]
    text += [f"FAIL {s}: {why}" for s, why in report.failed]
    return report.to_dict(), text, report.ok


def _remove(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    if not request.styles:
        raise UsageError("remove: name at least one STYLE")
    removed = {style: [str(p) for p in store.remove(style)] for style in request.styles}
    text = [f"removed {s} ({len(v)} version{'s' if len(v) != 1 else ''})" for s, v in removed.items()]
    return {"removed": removed}, text, True


def _pack(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    report = store.install_pack(progress=progress, keep=request.keep)
    text = [
        f"model pack: fetched {format_size(report.bytes_fetched)}; installed "
        f"{len(report.installed)}, already installed {len(report.skipped)}, "
        f"failed {len(report.failed)}"
    ]
    text += [f"FAIL {s}: {why}" for s, why in report.failed]
    if report.kept:
        text.append(f"pack kept at {report.pack}")
    return report.to_dict(), text, report.ok


def _where(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    return store.info(), [str(store.where())], True


def _publish(store: Any, request: ModelsRequest, progress: Any) -> Outcome:
    from lstm_composer_plugin.models import describe_model
    from model_store import publish

    if len(request.files) != 2:
        raise UsageError("publish needs MODELS_DIR and OUT_DIR")
    models_dir, out_dir = request.files
    result = publish(models_dir, out_dir, base_url=request.base_url, make_pack=request.pack,
                     describe=describe_model, suffix=SUFFIX)
    text = [f"{s.id}: {s.version} ({format_size(s.size)}) from {s.source}" for s in result.styles]
    text += [f"skipped {p}: {why}" for p, why in result.skipped]
    pack = f", pack {result.pack} ({format_size(result.pack_size)})" if result.pack else ""
    text.append(f"published {len(result.styles)} styles to {result.index}{pack}")
    return result.to_dict(), text, True


_HANDLERS: dict[str, Callable[[Any, ModelsRequest, Any], Outcome]] = {
    "list": _list,
    "fetch": _fetch,
    "install": _install,
    "verify": _verify,
    "repair": _repair,
    "remove": _remove,
    "pack": _pack,
    "publish": _publish,
    "where": _where,
}
