"""``lstm-composer models ...``: list, fetch, verify, repair, remove, pack, publish, where.

Mounted by the plugin's CLI through ``add_models_parser`` / ``run_models``; also runnable alone
as ``python -m model_store.cli models ...`` (without bundled models).

Every command takes ``--json``. Errors are one line on stderr (and ``{"ok": false, "error"}``
on stdout with ``--json``); exit 1 for failures, 2 for usage. A traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hostapi.results import Progress

from .errors import StoreError, UsageError
from .store import Store

_S = argparse.SUPPRESS  # so options given before or after the sub-command both count


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=_S, help="machine-readable output")
    p.add_argument("--offline", action="store_true", default=_S,
                   help="never touch the network (also LSTM_COMPOSER_OFFLINE=1)")
    p.add_argument("--allow-insecure", action="store_true", default=_S,
                   help="allow plain http to non-loopback hosts (also LSTM_COMPOSER_ALLOW_INSECURE=1)")
    p.add_argument("--catalogue", metavar="URL", default=_S,
                   help="catalogue URL or folder (default: LSTM_COMPOSER_CATALOGUE or the config file)")
    p.add_argument("--home", metavar="DIR", default=_S,
                   help="store folder (default: LSTM_COMPOSER_HOME or the user data dir)")
    return p


def add_models_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``models`` and its sub-commands to an argparse ``subparsers`` object."""
    common = _common()
    p = subparsers.add_parser(
        "models", parents=[common], help="list, download and manage style models",
        description="Manage the local model store and the model catalogue.",
    )
    sub = p.add_subparsers(dest="models_command", metavar="COMMAND")
    sub.required = True
    s = sub.add_parser("list", parents=[common], help="installed and downloadable styles")
    s.add_argument("--refresh", action="store_true", help="ask the catalogue now, not its cache")
    s = sub.add_parser("fetch", parents=[common], help="download styles' models")
    s.add_argument("styles", nargs="*", metavar="STYLE")
    s.add_argument("--all", action="store_true", help="every style in the catalogue")
    s.add_argument("--force", action="store_true", help="download again even if installed")
    sub.add_parser("verify", parents=[common], help="re-hash every installed model")
    sub.add_parser("repair", parents=[common], help="download again what fails verification")
    s = sub.add_parser("remove", parents=[common], help="delete styles from the store")
    s.add_argument("styles", nargs="+", metavar="STYLE")
    s = sub.add_parser("pack", parents=[common], help="download and install the whole model pack")
    s.add_argument("--keep", action="store_true", help="keep the pack file after installing")
    s = sub.add_parser("publish", parents=[common],
                       help="write a static catalogue (index.json, models, pack) for exported models")
    s.add_argument("models_dir", metavar="MODELS_DIR", type=Path)
    s.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    s.add_argument("--base-url", metavar="URL", help="absolute URL the folder will be served at")
    s.add_argument("--no-pack", action="store_true", help="do not build the model pack")
    sub.add_parser("where", parents=[common], help="print the store folder")
    return p


# ---------------------------------------------------------------------------------- progress


class _Bars:
    """Progress callback drawing one tqdm bar per stage/label on stderr (TTY only)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[tuple[str, str], Any] = {}

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        label = p.message.split(":")[0]
        # One bar per download; extraction reports per model but is one bar for the pack.
        key = (p.stage, "" if p.stage == "extract" else label)
        bar = self.bars.get(key)
        if bar is None:
            bar = tqdm(total=p.total, unit=p.unit or "it", unit_scale=True, unit_divisor=1024,
                       desc=f"{p.stage} {key[1]}".strip(), file=sys.stderr, leave=True,
                       disable=None, dynamic_ncols=True)
            self.bars[key] = bar
        if p.total is not None and bar.total != p.total:
            bar.total = p.total
        if p.stage == "extract":
            bar.set_postfix_str(label, refresh=False)
        bar.update(p.done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


# --------------------------------------------------------------------------------------- run


def execute(
    args: argparse.Namespace, bundled: dict[str, Path] | None = None, progress: Any = None
) -> tuple[dict[str, Any], list[str], int, list[str]]:
    """Run a parsed ``models`` command: (JSON payload, text lines, exit code, warnings).

    Raises ``StoreError`` (one line) for what went wrong; ``progress`` receives
    ``hostapi.results.Progress`` for downloads and extraction. A host calls this
    through the plugin's ``manage_models`` hook; ``run_models`` is the CLI around it.
    """
    command = getattr(args, "models_command", None)
    if command == "publish":
        payload, text, code = _publish(args)
        return payload, text, code, []
    store = Store(
        home=getattr(args, "home", None),
        catalogue_url=getattr(args, "catalogue", None),
        bundled=bundled or {},
        offline=True if getattr(args, "offline", False) else None,
        allow_insecure=True if getattr(args, "allow_insecure", False) else None,
    )
    handler = _HANDLERS.get(command or "")
    if handler is None:
        raise UsageError(f"unknown models command {command!r}")
    payload, text, code = handler(store, args, progress or (lambda p: None))
    return payload, text, code, list(store.warnings)


def run_models(args: argparse.Namespace, bundled: dict[str, Path] | None = None) -> int:
    """Execute a parsed ``models`` command; returns the exit code."""
    as_json = bool(getattr(args, "json", False))
    bars = _Bars(enabled=not as_json)
    try:
        payload, text, code, warnings = execute(args, bundled, bars)
    except StoreError as exc:
        bars.close()
        return _fail(str(exc), exc.exit_code, as_json, type(exc).__name__)
    except OSError as exc:
        bars.close()
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", 1, as_json, "OSError")
    except KeyboardInterrupt:
        bars.close()
        return _fail("interrupted (a partial download is kept and resumes next time)", 130,
                     as_json, "KeyboardInterrupt")
    bars.close()
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if as_json:
        payload = {"ok": code == 0, **payload}
        if warnings:
            payload["warnings"] = warnings
        print(json.dumps(payload, indent=2, default=str))
    else:
        for line in text:
            print(line)
    return code


def _fail(message: str, code: int, as_json: bool, kind: str = "error") -> int:
    print(f"lstm-composer models: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": message, "kind": kind}))
    return code


Result = tuple[dict[str, Any], list[str], int]


def _list(store: Store, args: argparse.Namespace, bars: Any) -> Result:
    styles = store.styles(refresh=args.refresh)
    summary = store.catalogue_summary()
    rows = []
    for e in styles:
        if e.source == "store":
            status = "installed"
        elif e.source == "bundled":
            status = "bundled"
        else:
            status = f"download {_size(e.size)}"
        if e.update_available:
            status += f" (update: {e.catalogue_version})"
        rows.append((e.name, status, e.version or "-", _size(e.size), str(e.path or "")))
    text = []
    if rows:
        widths = [max(len(r[i]) for r in rows + [("STYLE", "STATUS", "VERSION", "SIZE", "")])
                  for i in range(4)]
        header = ("STYLE", "STATUS", "VERSION", "SIZE", "PATH")
        for r in [header, *rows]:
            text.append("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    else:
        text.append("no styles installed, bundled or in a catalogue")
    if summary:
        text.append(f"catalogue: {summary['url']} ({summary['source']}, fetched {summary['age']} ago)")
    elif store.catalogue_url is None:
        text.append("catalogue: none configured (set LSTM_COMPOSER_CATALOGUE)")
    else:
        text.append(f"catalogue: {store.catalogue_url} (unavailable, see the warning)")
    text.append(f"store: {store.where()}")
    payload = {"styles": [e.to_dict() for e in styles], "catalogue": summary,
               "store": str(store.where())}
    return payload, text, 0


def _fetch(store: Store, args: argparse.Namespace, bars: Any) -> Result:
    styles = list(args.styles)
    if args.all:
        loaded = store.catalogue()
        assert loaded is not None
        styles += [s for s in loaded.catalogue.styles if s not in styles]
    if not styles:
        raise _usage("fetch: name at least one STYLE, or --all")
    results, errors, text = [], [], []
    for style in styles:
        try:
            out = store.fetch_detailed(style, progress=bars, force=args.force)
        except StoreError as exc:
            if len(styles) == 1:
                raise
            errors.append({"style": style, "error": str(exc)})
            print(f"lstm-composer models: error: {exc}", file=sys.stderr)
            continue
        results.append(out.to_dict())
        got = out.download.bytes_fetched if out.download else 0
        how = f"downloaded {_size(got)}" if got else "already installed"
        text.append(f"{style}: {how}: {out.path}")
    return {"fetched": results, "errors": errors}, text, 1 if errors else 0


def _verify(store: Store, args: argparse.Namespace, bars: Any) -> Result:
    results = store.verify()
    text = [
        f"{'ok' if r.ok else 'FAIL'}  {r.style}  {r.version or '-'}  ({r.source})  "
        f"{r.problem or r.path}"
        for r in results
    ] or ["nothing installed"]
    bad = sum(not r.ok for r in results)
    if bad:
        text.append(f"{bad} of {len(results)} failed: run `lstm-composer models repair`")
    return {"results": [r.to_dict() for r in results]}, text, 1 if bad else 0


def _repair(store: Store, args: argparse.Namespace, bars: Any) -> Result:
    report = store.repair(progress=bars)
    text = [f"checked {report.checked}; repaired: {', '.join(report.repaired) or 'none'}"]
    text += [f"FAIL {s}: {why}" for s, why in report.failed]
    return report.to_dict(), text, 0 if report.ok else 1


def _remove(store: Store, args: argparse.Namespace, bars: Any) -> Result:
    removed: dict[str, list[str]] = {}
    for style in args.styles:
        removed[style] = [str(p) for p in store.remove(style)]
    text = [f"removed {s} ({len(v)} version{'s' if len(v) != 1 else ''})" for s, v in removed.items()]
    return {"removed": removed}, text, 0


def _pack(store: Store, args: argparse.Namespace, bars: Any) -> Result:
    report = store.install_pack(progress=bars, keep=args.keep)
    text = [
        f"model pack: fetched {_size(report.bytes_fetched)}; installed {len(report.installed)}, "
        f"already installed {len(report.skipped)}, failed {len(report.failed)}"
    ]
    text += [f"FAIL {s}: {why}" for s, why in report.failed]
    if report.kept:
        text.append(f"pack kept at {report.pack}")
    return report.to_dict(), text, 0 if report.ok else 1


def _where(store: Store, args: argparse.Namespace, bars: Any) -> Result:
    info = store.info()
    return info, [str(store.where())], 0


def _publish(args: argparse.Namespace) -> Result:
    from .publish import publish

    result = publish(args.models_dir, args.out_dir, base_url=args.base_url,
                     make_pack=not args.no_pack)
    text = [f"{s.id}: {s.version} ({_size(s.size)}) from {s.source}" for s in result.styles]
    text += [f"skipped {p}: {why}" for p, why in result.skipped]
    pack = f", pack {_size(result.pack_size)}" if result.pack else ""
    text.append(f"published {len(result.styles)} styles to {result.index}{pack}")
    return result.to_dict(), text, 0


_HANDLERS = {
    "list": _list,
    "fetch": _fetch,
    "verify": _verify,
    "repair": _repair,
    "remove": _remove,
    "pack": _pack,
    "where": _where,
}


def _usage(message: str) -> StoreError:
    return UsageError(message)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lstm-composer")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    subs.required = True
    add_models_parser(subs)
    args = parser.parse_args(argv)
    return run_models(args, bundled={})


if __name__ == "__main__":
    sys.exit(main())

