"""Background jobs of the web window (compose, model manager, training) and the files they wrote.

A click starts a :class:`Job`; the page polls its state by id. Jobs run one at a
time per lane: composing and downloading share one worker thread (they are CPU- and
bandwidth-bound, and a plugin need not be thread-safe), a training run has a lane of
its own so the window still composes while a style trains. Progress reports from the
plugin (:class:`~hostapi.results.Progress`) update the job under a lock; a report with
``metrics`` adds a point to the job's ``series`` (the page's training curves).

Cancel: the job's progress callback raises :class:`hostapi.Cancelled` at the plugin's
next report, which the plugin handles as Ctrl-C (a training run keeps what it saved).

Files are known to the page only by an id: :class:`FileRegistry` hands out random
ids for files inside the session folder and refuses anything outside it, so no
request can name a path on disk.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostapi import Cancelled, HostError, Progress

MEDIA_TYPES = {
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".wav": "audio/wav",
    ".png": "image/png",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".json": "application/json",
    ".musicxml": "application/vnd.recordare.musicxml+xml",
}


@dataclass
class Job:
    """One click's work as the page sees it (``to_dict`` is the JSON it polls)."""

    id: str
    kind: str  # "compose" | "models" | "train"
    state: str = "queued"  # queued | running | done | failed | cancelled
    stage: str = ""  # the plugin's progress stage: "download", "compose", ...
    done: float = 0
    total: float | None = None
    unit: str = ""
    message: str = ""
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)  # every stage seen, in order
    started: float = field(default_factory=time.time)
    series: list[dict[str, float]] = field(default_factory=list)  # one point per report with metrics
    extra: dict[str, Any] = field(default_factory=dict)  # what the work attached while running (pictures)
    cancel: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            "message": self.message,
            "error": self.error,
            "result": self.result,
            "stages": list(self.stages),
            "seconds": round(time.time() - self.started, 2),
            "series": list(self.series),
            "extra": dict(self.extra),
            "cancelling": self.cancel and self.state == "running",
        }


@dataclass(frozen=True)
class ServedFile:
    path: Path
    name: str  # the download name the page shows
    media_type: str
    kind: str = "output"  # "output": a job wrote it; "upload": the page sent it


class FileRegistry:
    """Maps random ids to files inside one folder (the server's session folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[str, ServedFile] = {}
        self._lock = threading.Lock()

    def add(self, path: Path | str | None, *, kind: str = "output") -> dict[str, Any] | None:
        """Register ``path`` and return ``{"id", "name", "url", "type", "size"}``; None if unusable."""
        if path is None:
            return None
        resolved = Path(path).resolve()
        # A plugin may write where it likes; the page gets only what lies in the session.
        if not resolved.is_file() or not resolved.is_relative_to(self.root):
            return None
        file_id = secrets.token_hex(16)
        media = MEDIA_TYPES.get(resolved.suffix.lower(), "application/octet-stream")
        with self._lock:
            self._files[file_id] = ServedFile(resolved, resolved.name, media, kind)
        return {"id": file_id, "name": resolved.name, "url": f"/files/{file_id}", "type": media,
                "size": resolved.stat().st_size}

    def get(self, file_id: str) -> ServedFile | None:
        with self._lock:
            return self._files.get(file_id)


class Reporter:
    """What a job's work gets: call it with a ``Progress``; ``attach`` puts a value the page shows
    beside the progress (a checkpoint's piano roll, say) into the job's ``extra``."""

    def __init__(self, runner: JobRunner, job: Job) -> None:
        self._runner, self._job = runner, job

    def __call__(self, p: Progress) -> None:
        self._runner._progress(self._job, p)

    def attach(self, key: str, value: Any) -> None:
        self._runner._update(self._job, extra={**self._job.extra, key: value})


class JobRunner:
    """Runs jobs one at a time per lane on worker threads and keeps their state for polling."""

    def __init__(self, lanes: tuple[str, ...] = ("main", "train")) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pools = {lane: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"voc-{lane}") for lane in lanes}

    def start(self, kind: str, work: Callable[[Reporter], dict[str, Any]], *, lane: str = "main") -> Job:
        """Queue ``work(progress)`` on ``lane``; its return value becomes the job's ``result``."""
        job = Job(id=secrets.token_hex(8), kind=kind)
        with self._lock:
            self._jobs[job.id] = job
        self._pools[lane].submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.to_dict() if job is not None else None

    def busy(self, kind: str) -> bool:
        """Whether a job of ``kind`` is queued or running."""
        with self._lock:
            return any(j.kind == kind and j.state in ("queued", "running") for j in self._jobs.values())

    def cancel(self, job_id: str) -> bool:
        """Ask a job to stop at its next progress report; False if there is no such job still going."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ("queued", "running"):
                return False
            job.cancel = True
            return True

    def shutdown(self) -> None:
        with self._lock:  # a training run hears it at its next report and keeps what it saved
            for job in self._jobs.values():
                job.cancel = True
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def _update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(job, key, value)

    def _progress(self, job: Job, p: Progress) -> None:
        if job.cancel:
            raise Cancelled(f"{job.kind} cancelled")
        stages = job.stages if p.stage in job.stages[-1:] else [*job.stages, p.stage]
        series = [*job.series, dict(p.metrics)] if p.metrics else job.series
        self._update(
            job, stage=p.stage, done=p.done, total=p.total, unit=p.unit,
            message=p.message or job.message, stages=stages, series=series,
        )

    def _run(self, job: Job, work: Callable[[Reporter], dict[str, Any]]) -> None:
        if job.cancel:
            self._update(job, state="cancelled", message="cancelled before it started")
            return
        self._update(job, state="running")
        try:
            result = work(Reporter(self, job))
        except KeyboardInterrupt:  # Cancelled, as the plugin let it through after keeping what it saved
            self._update(job, state="cancelled", message="cancelled")
        except HostError as exc:  # the plugin's one-line message, as a console host prints it
            self._update(job, state="failed", error=str(exc))
        except Exception as exc:  # a bug: still a message, never a traceback in the page
            self._update(job, state="failed", error=f"internal error: {type(exc).__name__}: {exc}")
        else:
            self._update(job, state="done", result=result, message="")
