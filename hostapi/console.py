"""What both command lines print: one-line errors, warnings, JSON, tables, sizes, progress.

``voc-host`` and ``lstm-composer`` print through one :class:`Console`, so a size, a
progress bar, a warning and a ``--json`` error look the same in both.

Streams: results on stdout (``--json``: one JSON document); errors, warnings and
progress bars on stderr. With ``--json`` an error is also a JSON document on stdout,
``{"error": MESSAGE, "exit_code": N, ...}``, so a script reading stdout always gets JSON.
``-q`` prints errors (and ``--json`` output) only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .results import HookFailure, Progress, jsonable


def format_size(n: int | float | None) -> str:
    """Bytes for people in SI units, as the progress bars, the page and the docs give them:
    ``3.9 MB`` is 3,850,488 bytes, ``512 B``. One unit everywhere (a "MB" that meant MiB read
    5 % small)."""
    if n is None:
        return "-"
    if n < 1000:
        return f"{int(n)} B"
    size = n / 1000
    for unit in ("kB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


class Console:
    """Output of one command-line run (``prog`` names the program in every message)."""

    def __init__(
        self,
        prog: str,
        *,
        as_json: bool = False,
        quiet: bool = False,
        tracebacks: bool = False,
        name_plugins: bool = True,
    ) -> None:
        self.prog = prog
        self.json = as_json
        self.quiet = quiet
        self.show_tracebacks = tracebacks
        #: A host of several plugins names the plugin in its messages; a plugin's own CLI not.
        self.name_plugins = name_plugins

    def out(self, text: str = "") -> None:
        if not self.quiet:
            print(text)

    def emit(self, value: Any) -> None:
        print(json.dumps(jsonable(value), indent=2))

    def error(self, message: str, code: int, **extra: Any) -> None:
        """The one-line error on stderr, and with ``--json`` its JSON document on stdout."""
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        if self.json:
            self.emit({"error": message, "exit_code": int(code), **extra})

    def warn(self, message: str) -> None:
        if not self.quiet:
            print(f"{self.prog}: warning: {message}", file=sys.stderr)

    def failure_line(self, failure: HookFailure) -> str:
        if failure.user_error and not self.name_plugins:
            return failure.error
        return failure.line()

    def tracebacks(self, failures: Sequence[HookFailure]) -> None:
        if self.show_tracebacks:
            for failure in failures:
                if failure.traceback:
                    print(failure.traceback, file=sys.stderr, end="")

    def records(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """JSON form of failures/broken plugins; tracebacks only with ``--traceback``."""
        dicts = [r.to_dict() for r in records]
        if not self.show_tracebacks:
            for d in dicts:
                d.pop("traceback", None)
        return dicts

    def progress(self) -> ProgressBars:
        return ProgressBars(enabled=not self.quiet)


class ProgressBars:
    """A :class:`~hostapi.results.ProgressCallback` drawing tqdm bars on stderr (terminal only).

    A new bar starts when the stage changes or the count starts again (the next file of
    a ``models fetch --all``).
    """

    def __init__(self, enabled: bool = True, file: TextIO | None = None) -> None:
        self.enabled = enabled
        self.file = file
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        stream = self.file or sys.stderr
        if not _is_terminal(stream):
            if progress.unit == "B":  # downloads only: a log must say one happened (compose stays quiet)
                self._line(progress, stream)
            return
        bar = self._bar
        if bar is None or progress.stage != self._stage or progress.done < bar.n:
            bar = self._open(progress)
        if progress.total != bar.total:
            bar.total = progress.total
        if progress.message:
            bar.set_postfix_str(progress.message, refresh=False)
        bar.update(progress.done - bar.n)  # update() rate-limits redraws; refresh() would not

    def _open(self, progress: Progress) -> Any:
        self.close()
        from tqdm import tqdm  # only paid for when something reports progress

        is_bytes = progress.unit == "B"
        stream = self.file or sys.stderr
        self._bar = tqdm(
            total=progress.total,
            desc=progress.stage,
            unit=progress.unit or "it",
            unit_scale=is_bytes,
            unit_divisor=1000,  # SI: the same MB as format_size, the page and the docs
            file=stream,
            disable=None,  # tqdm's rule: draw only on a terminal
            **_width(stream),
        )
        self._stage = progress.stage
        return self._bar

    def close(self) -> None:
        if self._bar is not None:
            # Draw the final state: a download faster than tqdm's first redraw left no bar at all.
            self._bar.refresh()
            self._bar.close()
            self._bar = None
        self._stage = None
        self._tenth = -1

    _tenth = -1  # redirected output: the last tenth of the stage written as a line

    def _line(self, progress: Progress, stream: TextIO) -> None:
        """Not a terminal: one line per 10 % of a download (its first and last included), so a
        log says that it happened and how big it was."""
        if progress.stage != self._stage:
            self._stage, self._tenth = progress.stage, -1
        if not progress.total:
            return
        tenth = min(10, int(progress.done * 10 // progress.total))
        if tenth <= self._tenth:
            return
        self._tenth = tenth
        amount = f"{format_size(progress.done)} of {format_size(progress.total)}"
        about = f" {progress.message}" if progress.message else ""
        print(f"{progress.stage}{about}: {tenth * 10}% ({amount})", file=stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width(stream: TextIO) -> dict[str, Any]:
    """Follow the terminal's width; a terminal that reports 0 columns (a bare pty, some IDE
    consoles) would get an empty bar from tqdm, so it gets 80 columns instead."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return {"dynamic_ncols": True}
    return {"dynamic_ncols": True} if columns > 0 else {"ncols": 80}
