"""Background jobs of the web window (compose, model manager) and the files they wrote.

A click starts a :class:`Job`; the page polls its state by id. Jobs run one at a
time on a single worker thread: composing and downloading are CPU- and
bandwidth-bound, and a plugin need not be thread-safe. Progress reports from the
plugin (:class:`~hostapi.results.Progress`) update the job under a lock.

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

from hostapi import HostError, Progress

MEDIA_TYPES = {
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".wav": "audio/wav",
    ".png": "image/png",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".json": "application/json",
}


@dataclass
class Job:
    """One click's work as the page sees it (``to_dict`` is the JSON it polls)."""

    id: str
    kind: str  # "compose" | "models"
    state: str = "queued"  # queued | running | done | failed
    stage: str = ""  # the plugin's progress stage: "download", "compose", ...
    done: float = 0
    total: float | None = None
    unit: str = ""
    message: str = ""
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)  # every stage seen, in order
    started: float = field(default_factory=time.time)

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
        }


@dataclass(frozen=True)
class ServedFile:
    path: Path
    name: str  # the download name the page shows
    media_type: str


class FileRegistry:
    """Maps random ids to files inside one folder (the server's session folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[str, ServedFile] = {}
        self._lock = threading.Lock()

    def add(self, path: Path | str | None) -> dict[str, str] | None:
        """Register ``path`` and return ``{"id", "name", "url", "type"}``; None if unusable."""
        if path is None:
            return None
        resolved = Path(path).resolve()
        # A plugin may write where it likes; the page gets only what lies in the session.
        if not resolved.is_file() or not resolved.is_relative_to(self.root):
            return None
        file_id = secrets.token_hex(16)
        media = MEDIA_TYPES.get(resolved.suffix.lower(), "application/octet-stream")
        with self._lock:
            self._files[file_id] = ServedFile(resolved, resolved.name, media)
        return {"id": file_id, "name": resolved.name, "url": f"/files/{file_id}", "type": media}

    def get(self, file_id: str) -> ServedFile | None:
        with self._lock:
            return self._files.get(file_id)


class JobRunner:
    """Runs jobs one at a time on a worker thread and keeps their state for polling."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voc-job")

    def start(self, kind: str, work: Callable[[Callable[[Progress], None]], dict[str, Any]]) -> Job:
        """Queue ``work(progress)``; its return value becomes the job's ``result``."""
        job = Job(id=secrets.token_hex(8), kind=kind)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.to_dict() if job is not None else None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(job, key, value)

    def _run(self, job: Job, work: Callable[[Callable[[Progress], None]], dict[str, Any]]) -> None:
        def progress(p: Progress) -> None:
            stages = job.stages if p.stage in job.stages[-1:] else [*job.stages, p.stage]
            self._update(
                job, stage=p.stage, done=p.done, total=p.total, unit=p.unit,
                message=p.message or job.message, stages=stages,
            )

        self._update(job, state="running")
        try:
            result = work(progress)
        except HostError as exc:  # the plugin's one-line message, as a console host prints it
            self._update(job, state="failed", error=str(exc))
        except Exception as exc:  # a bug: still a message, never a traceback in the page
            self._update(job, state="failed", error=f"internal error: {type(exc).__name__}: {exc}")
        else:
            self._update(job, state="done", result=result, message="")
