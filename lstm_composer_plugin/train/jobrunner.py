"""Running the jobs of :mod:`lstm_composer_plugin.train.jobs` on this machine.

The pre-training job runs first, alone, with every core; the style jobs then run side by side,
``parallel`` at a time, each a child process with its share of the cores (TensorFlow's and
OpenMP's thread pools are sized through the environment, so jobs do not fight over cores).
Each job's output is appended to ``OUT/<name>.log``; this process prints one line when a job
starts, ends or is skipped, and rewrites ``OUT/train-all.json`` (atomically) whenever a job ends.

A failed job does not stop the others (except that the style jobs need the pre-training's
weights: when it fails they are not started). Ctrl-C (or SIGTERM) sends one SIGINT to each
child, whose trainer says what it kept and exits, and waits for them; a second Ctrl-C kills
them (a run folder survives even that: its files are replaced atomically). Rerunning the same
command then resumes what was interrupted and skips what is done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from lstm_composer_plugin.train.checkpoints import MODEL_FILE, read_json, write_json
from lstm_composer_plugin.train.jobs import DONE, FRESH, PRETRAIN, STYLES, Job

SUMMARY_FILE = "train-all.json"
# What one style run needs at the default widths, with TensorFlow itself, its tf.data buffers
# and the scorecard's sampling: about 1.5-2.5 GB resident; 3 GiB leaves room for the peaks.
JOB_MEMORY = 3 * 2**30
POLL_SECONDS = 0.5

# Job statuses in train-all.json
PENDING, RUNNING, OK, FAILED, SKIPPED, STOPPED, NOT_RUN = (
    "pending", "running", "ok", "failed", "skipped", "interrupted", "not-run")


def available_cores() -> int:
    """The cores this process may use (its CPU affinity, as Slurm or taskset set it; else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def available_memory(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """MemAvailable in bytes (what can be used without swapping), or None where it cannot be read."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the kernel writes kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def auto_parallel(cores: int, memory: int | None) -> int:
    """Style jobs to run at once: half the cores (two threads each train faster than one job per
    core with one thread, and leave the cores' second hyperthread to tf.data), as memory allows."""
    by_cores = cores // 2
    by_memory = by_cores if memory is None else memory // JOB_MEMORY
    return max(1, min(by_cores, by_memory))


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class JobRecord:
    """One job's line of ``train-all.json``; ``attempts`` keeps its earlier runs across invocations."""

    name: str
    style: str
    stage: str
    state_before: str
    status: str
    command: str
    log: str
    start: str | None = None
    end: str | None = None
    wall_seconds: float | None = None
    exit_code: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def trained_seconds(self) -> float:
        return round(sum(a.get("wall_seconds") or 0 for a in self.attempts), 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "trained_seconds": self.trained_seconds}


@dataclass
class Outcome:
    """What a local run of the jobs came to: each job's record, and whether it was interrupted."""

    records: list[JobRecord]
    interrupted: bool = False

    @property
    def failed(self) -> list[JobRecord]:
        return [r for r in self.records if r.status == FAILED]

    @property
    def not_run(self) -> list[JobRecord]:
        return [r for r in self.records if r.status == NOT_RUN]


class _Summary:
    """``OUT/train-all.json``: rewritten whole, atomically, so a reader never sees half of it."""

    def __init__(self, out: Path, records: list[JobRecord], parallel: int, threads: int, cores: int,
                 others: list[dict[str, Any]]) -> None:
        self.path = out / SUMMARY_FILE
        self.records = records
        self.others = others  # earlier jobs this invocation does not plan (another --styles): kept as they were
        self.info = {"started": utc_now(), "cores": cores, "jobs_in_parallel": parallel, "threads_per_job": threads}
        self.t0 = time.monotonic()

    def write(self, status: str = "running") -> None:
        write_json(self.path, {**self.info, "updated": utc_now(), "status": status,
                               "wall_seconds": round(time.monotonic() - self.t0, 1),
                               "jobs": [r.to_dict() for r in self.records] + self.others})


def previous_jobs(out: Path) -> dict[str, dict[str, Any]]:
    """The jobs of an earlier ``train-all.json`` by name (none when there is none or it is unreadable)."""
    try:
        return {j["name"]: j for j in read_json(out / SUMMARY_FILE)["jobs"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_jobs(jobs: list[Job], out: str | os.PathLike[str], *, parallel: int | None = None, cores: int | None = None,
             say: Callable[[str], None] = print) -> Outcome:
    """Run the pending ``jobs`` here: pre-training alone first, then the style jobs ``parallel`` at a time.

    ``parallel`` None: :func:`auto_parallel` of ``cores`` (default: :func:`available_cores`) and
    the available memory. Returns the outcome; a KeyboardInterrupt ends it with ``interrupted``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cores = cores or available_cores()
    pretrain = [j for j in jobs if j.stage == PRETRAIN and j.pending]
    styles = [j for j in jobs if j.stage == STYLES and j.pending]
    wanted = parallel or auto_parallel(cores, available_memory())
    parallel = max(1, min(wanted, len(styles) or 1))
    threads = max(1, cores // parallel)

    earlier = previous_jobs(out)
    records = {j.name: JobRecord(name=j.name, style=j.style, stage=j.stage, state_before=j.state,
                                 status=SKIPPED if j.state == DONE else PENDING, command=j.command_line(),
                                 log=str(out / f"{j.name}.log"),
                                 attempts=list(earlier.get(j.name, {}).get("attempts") or []))
               for j in jobs}
    others = [entry for name, entry in earlier.items() if name not in records]
    summary = _Summary(out, list(records.values()), parallel, threads, cores, others)
    pending = len(pretrain) + len(styles)
    say(f"train-all: {pending} job(s) to run, {len(jobs) - pending} done; the style jobs {parallel} at a time "
        f"with {threads} thread(s) each ({cores} cores); logs in {out}/<job>.log, summary in {summary.path}")
    for job in jobs:
        if not job.pending:
            say(f"{_clock()} skip   {job.name}: done ({job.out / MODEL_FILE} exists)")
    summary.write()

    outcome = Outcome(records=summary.records)
    with _sigterm_as_interrupt():
        try:
            _run_stage(pretrain, 1, cores, records, summary, say)
            if any(records[j.name].status == FAILED for j in pretrain):
                for job in styles:
                    records[job.name].status = NOT_RUN
                say(f"{_clock()} the style jobs need the pre-training's weights: not started")
            else:
                _run_stage(styles, parallel, threads, records, summary, say)
        except KeyboardInterrupt:
            outcome.interrupted = True
            for record in records.values():
                if record.status == PENDING:
                    record.status = NOT_RUN
    summary.write(status="interrupted" if outcome.interrupted else "failed" if outcome.failed or outcome.not_run
                  else "ok")
    return outcome


@dataclass
class _Running:
    job: Job
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    t0: float


def _run_stage(jobs: list[Job], parallel: int, threads: int, records: dict[str, JobRecord], summary: _Summary,
               say: Callable[[str], None]) -> None:
    queue = list(jobs)
    running: list[_Running] = []
    try:
        while queue or running:
            while queue and len(running) < parallel:
                _start(queue.pop(0), threads, running, records, summary, say)
            time.sleep(POLL_SECONDS)
            for r in [r for r in running if r.proc.poll() is not None]:
                running.remove(r)
                _finish(r, records, summary, say)
    except KeyboardInterrupt:
        _stop(running, records, summary, say)
        raise


def _start(job: Job, threads: int, running: list[_Running], records: dict[str, JobRecord], summary: _Summary,
           say: Callable[[str], None]) -> None:
    record = records[job.name]
    log = open(record.log, "ab")  # noqa: SIM115 (closed when the job ends)
    log.write(f"\n=== {utc_now()} train-all: {job.command_line()}\n".encode())
    log.flush()
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads)}
    # A session of its own: a Ctrl-C at the terminal reaches this process only, which then sends
    # each child exactly one SIGINT (a second one could cut short what the trainer says and saves).
    # SIGINT back to its default in the child: started in the background (`train-all ... &`, nohup),
    # this process inherits it ignored, and so would the trainer, which then could not be stopped.
    proc = subprocess.Popen(job.local_command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True, preexec_fn=_default_sigint)
    running.append(_Running(job, proc, log, time.monotonic()))  # at once: an interrupt from here on stops it
    record.status, record.start, record.end, record.exit_code, record.wall_seconds = RUNNING, utc_now(), None, None, None
    state = "fresh" if job.state == FRESH else "resuming"
    say(f"{_clock()} start  {job.name} ({job.stage}, {state}): log {record.log}")
    summary.write()


def _finish(r: _Running, records: dict[str, JobRecord], summary: _Summary, say: Callable[[str], None],
            interrupted: bool = False) -> None:
    r.log.close()
    record = records[r.job.name]
    code = r.proc.returncode
    record.end, record.exit_code = utc_now(), code
    record.wall_seconds = round(time.monotonic() - r.t0, 1)
    record.status = STOPPED if interrupted else OK if code == 0 else FAILED
    record.attempts.append({k: getattr(record, k) for k in ("start", "end", "wall_seconds", "exit_code", "status")})
    minutes = record.wall_seconds / 60
    if record.status == OK:
        say(f"{_clock()} done   {r.job.name} in {minutes:.1f} min (exit 0)")
    elif record.status == FAILED:
        say(f"{_clock()} FAILED {r.job.name} after {minutes:.1f} min (exit {code}); see {record.log}")
    else:
        say(f"{_clock()} stopped {r.job.name} after {minutes:.1f} min (exit {code})")
    summary.write()


def _stop(running: list[_Running], records: dict[str, JobRecord], summary: _Summary,
          say: Callable[[str], None]) -> None:
    if running:
        say(f"{_clock()} interrupted: asking {len(running)} running job(s) to save and stop "
            "(Ctrl-C again to kill them)")
    for r in running:
        with contextlib.suppress(ProcessLookupError):
            r.proc.send_signal(signal.SIGINT)
    while running:
        try:
            for r in [r for r in running if r.proc.poll() is not None]:
                running.remove(r)
                _finish(r, records, summary, say, interrupted=True)
            time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            say(f"{_clock()} killing {len(running)} job(s); their last saved states are kept")
            for r in running:
                with contextlib.suppress(ProcessLookupError):
                    r.proc.kill()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's or the system's stop) stops the jobs as Ctrl-C does."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: signals stay as they are
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _clock() -> str:
    return time.strftime("[%H:%M:%S]")


__all__ = ["JOB_MEMORY", "SKIPPED", "SUMMARY_FILE", "JobRecord", "Outcome", "auto_parallel", "available_cores",
           "available_memory", "previous_jobs", "run_jobs"]
