"""A cross-process lock file that is removed when released, without the classic race.

Why not filelock: its ``FileLock`` (``flock``) leaves ``<file>.lock`` behind forever, and
``SoftFileLock`` (existence of the file) is not dropped by the kernel when its holder dies. Simply
deleting a ``flock`` lock file on release is the classic race: a waiter that already opened the
old file then locks an inode nobody else can see, while a third process creates a new file and
locks that one: two holders.

The protocol used here closes it (POSIX): a process that obtains ``flock`` on the file it opened
checks that the path still names that very inode (``fstat`` vs ``stat``); if not, the file was
removed (or replaced) by the previous holder and it starts again. The holder unlinks the path
*before* it releases ``flock``, so an unlinked inode is never locked by anyone who would trust
it, and at most one process holds the lock on the inode the path names. A holder that dies
releases its ``flock`` with it; its file stays behind and is reused by the next process.

On Windows (no ``fcntl``) this falls back to ``filelock.FileLock``, whose file stays.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class LockTimeout(Exception):
    """The lock was not obtained within the timeout."""


class RemovableLock:
    """An exclusive lock on ``path`` (created on acquire, removed on release)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._fallback = None

    @property
    def is_locked(self) -> bool:
        return self._fd is not None or self._fallback is not None

    def acquire(self, timeout: float = -1, poll_interval: float = 0.05) -> None:
        """Block until held; ``timeout`` seconds (< 0: forever, 0: one try) then LockTimeout.

        OSError (a folder that cannot be written) is raised as it is.
        """
        if fcntl is None:
            self._acquire_fallback(timeout, poll_interval)
            return
        deadline = None if timeout < 0 else time.monotonic() + timeout
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeout(str(self.path)) from None
                time.sleep(poll_interval)
                continue
            except BaseException:
                os.close(fd)
                raise
            if self._still_linked(fd):
                self._fd = fd
                return
            os.close(fd)  # the previous holder removed it: lock the new file instead

    def release(self) -> None:
        if self._fallback is not None:
            self._fallback.release()
            self._fallback = None
            return
        if self._fd is None:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # first, while still held: see the module docstring
        finally:
            os.close(self._fd)  # drops the flock
            self._fd = None

    def __enter__(self) -> RemovableLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # its folder was pruned meanwhile
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def _still_linked(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def _acquire_fallback(self, timeout: float, poll_interval: float) -> None:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path))
        try:
            lock.acquire(timeout=timeout, poll_interval=poll_interval)
        except Timeout:
            raise LockTimeout(str(self.path)) from None
        self._fallback = lock
