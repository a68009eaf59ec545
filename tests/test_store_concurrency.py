"""Concurrent processes and dead lock holders, with real subprocesses and a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from model_store import LockBusyError
from model_store.download import lock_path_for
from tests.store_helpers import PYTHON, fast_options, make_store, publish_models, subprocess_env

pytest_plugins = ["tests.store_fixtures"]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from model_store import AppConfig, Store, DownloadOptions
    ready, go = Path(sys.argv[1]), Path(sys.argv[2])
    store = Store(download_options=DownloadOptions(lock_stall_timeout=float(sys.argv[3]),
                                                   backoff=0.01, chunk_size=16384),
                  app=AppConfig("lstm-composer", "LSTM_COMPOSER"))
    ready.write_text("1")
    while not go.exists():
        time.sleep(0.005)
    out = store.fetch_detailed("bach")
    dl = out.download
    print(json.dumps({"path": str(out.path), "fetched": dl.bytes_fetched if dl else 0,
                      "reused": dl.reused if dl else True}))
    """
)


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def test_four_processes_fetch_the_same_style_once(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3}, payload=200_000)
    size = pub.entry("bach")["size"]
    # ~1.3 s of download, longer than the waiters' stall timeout (1 s) but in steps far shorter:
    # waiting processes must keep waiting while the holder makes progress.
    store_server.set_fault(pub.path("bach"), chunk_size=16_384, chunk_delay=0.1)
    env = subprocess_env(LSTM_COMPOSER_CATALOGUE=pub.url)
    go = tmp_path / "go"
    procs = []
    for i in range(4):
        ready = tmp_path / f"ready{i}"
        procs.append((ready, subprocess.Popen(
            [PYTHON, "-c", CHILD, str(ready), str(go), "1.0"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    _wait_for(lambda: all(r.exists() for r, _ in procs), timeout=30)
    go.write_text("go")
    results = []
    for _, p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({r["path"] for r in results}) == 1
    assert sorted(r["fetched"] for r in results) == [0, 0, 0, size]
    assert store_server.count(pub.path("bach")) == 1
    assert Path(results[0]["path"]).stat().st_size == size
    # Issue 12 item 13: the lock files went with their last holder.
    assert sorted(store_env.home.rglob("*.lock")) == []


def test_lock_of_a_killed_downloader_does_not_block(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3}, payload=200_000)
    store_server.set_fault(pub.path("bach"), chunk_size=16_384, chunk_delay=0.2)
    store = make_store(store_env.home, pub.url,
                       download_options=fast_options(lock_stall_timeout=30.0))
    target = store._target(store.catalogue().catalogue.styles["bach"])
    part = target.with_name(target.name + ".part")
    env = subprocess_env(LSTM_COMPOSER_CATALOGUE=pub.url)
    child = subprocess.Popen(
        [PYTHON, "-c", "from model_store import AppConfig, Store; Store(app=AppConfig('lstm-composer', 'LSTM_COMPOSER')).fetch('bach')"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: part.exists() and part.stat().st_size >= 32_768, timeout=30)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert lock_path_for(target).exists()  # the killed holder's lock file stays behind
    kept = part.stat().st_size
    store_server.clear_faults()
    started = time.monotonic()
    path = store.fetch("bach")
    assert time.monotonic() - started < 5  # no wait on the dead holder's lock
    assert path == target and path.stat().st_size == pub.entry("bach")["size"]
    last = store_server.requests(pub.path("bach"))[-1]
    assert last.range == f"bytes={kept}-" and last.status == 206


def test_live_holder_without_progress_gives_a_clear_error(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3})
    store = make_store(store_env.home, pub.url,
                       download_options=fast_options(lock_stall_timeout=1.0))
    target = store._target(store.catalogue().catalogue.styles["bach"])
    target.parent.mkdir(parents=True, exist_ok=True)
    hold = textwrap.dedent(f"""
        import sys, time
        from filelock import FileLock
        lock = FileLock({str(lock_path_for(target))!r})
        lock.acquire()
        print("held", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([PYTHON, "-c", hold], env=subprocess_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(LockBusyError, match="another process holds the download lock"):
            store.fetch("bach")
        assert time.monotonic() - started < 5
        assert store_server.count(pub.path("bach")) == 0
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert store.fetch("bach").is_file()  # the holder is gone: its lock went with it


LOCKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from model_store.lock import RemovableLock
    lock_path, counter, go, rounds = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    while not go.exists():
        time.sleep(0.001)
    for _ in range(rounds):
        with RemovableLock(lock_path):
            # A read-modify-write that loses updates unless the lock excludes everyone else.
            n = int(counter.read_text())
            time.sleep(0.0005)
            counter.write_text(str(n + 1))
    """
)


def test_removed_lock_files_still_exclude_concurrent_processes(tmp_path):
    """Deleting a lock file on release is the classic race (a waiter locks the unlinked inode
    while a newcomer locks a fresh file); RemovableLock re-checks the inode after locking. Four
    processes each add 1 to a counter 150 times under the lock: any overlap would lose updates."""
    lock, counter, go = tmp_path / "x.lock", tmp_path / "counter", tmp_path / "go"
    counter.write_text("0")
    procs = [subprocess.Popen([PYTHON, "-c", LOCKER, str(lock), str(counter), str(go), "150"],
                              env=subprocess_env(), stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    time.sleep(0.5)
    go.write_text("go")
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert counter.read_text() == str(4 * 150)
    assert not lock.exists()  # removed by its last holder


def test_fetch_and_pack_leave_no_lock_files(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3, "jazz": 4})
    store = make_store(store_env.home, pub.url)
    store.fetch("bach")
    store.fetch("bach", force=True)
    store.install_pack()
    store.remove("jazz")
    assert store.verify() and all(r.ok for r in store.verify())
    assert sorted(store_env.home.rglob("*.lock")) == []
