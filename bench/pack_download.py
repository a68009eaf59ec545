"""Model pack download: the store against curl on loopback, memory, and an interrupted resume.

    python bench/pack_download.py               # ~1 GB pack of ~4 MB models (the real figures)
    python bench/pack_download.py --size-mb 64  # a quick run

Steps: generate random model-sized ``.lstmc`` files in a temp dir, publish them (index.json,
models, pack) and serve the folder with the tests' loopback server (sendfile, Range support);
download the pack with the store (``model_store.download.download``: streamed, sha256-verified,
atomic rename, in a child process whose peak RSS is read with ``wait4``) and with ``curl``, in
alternating rounds; then kill a store download with SIGKILL at 50 % and resume it, counting the
bytes fetched twice. Finally install the pack (download + verified extraction) once.
Everything is deleted at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lstm_composer_plugin.modelfile import SUFFIX  # noqa: E402
from lstm_composer_plugin.models import describe_model  # noqa: E402
from model_store.publish import publish  # noqa: E402
from model_store.testing import StoreServer  # noqa: E402

CHILD_DOWNLOAD = r"""
import json, sys, time
from pathlib import Path
from model_store.download import download, DownloadOptions
url, target, sha, size = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
t = time.perf_counter()
r = download(url, target, sha256=sha, size=size, options=DownloadOptions())
print(json.dumps({"seconds": time.perf_counter() - t, "fetched": r.bytes_fetched,
                  "resumed_from": r.resumed_from, "attempts": r.attempts}))
"""

CHILD_INSTALL = r"""
import json, sys, time
from pathlib import Path
from model_store import Store
t = time.perf_counter()
r = Store(home=Path(sys.argv[1]), catalogue_url=sys.argv[2]).install_pack()
print(json.dumps({"seconds": time.perf_counter() - t, "installed": len(r.installed),
                  "failed": len(r.failed), "fetched": r.bytes_fetched}))
"""


def make_models(folder: Path, total_mb: int, file_mb: float) -> int:
    """Random stand-in models (zip + manifest, stored: like real weights, incompressible)."""
    n = max(1, round(total_mb / file_mb))
    payload = int(file_mb * 1_000_000)
    for i in range(n):
        style = f"style{i:04d}"
        manifest = {"format": "lstm-composer-model", "format_version": 1, "style": style,
                    "title": f"Style {i}", "model_id": f"{style}-e0001", "epoch": 1,
                    "chosen": True, "quality": "benchmark filler"}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest))
            zf.writestr("arrays/weights.npy", os.urandom(payload))
        (folder / f"{style}.lstmc").write_bytes(buf.getvalue())
    return n


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for k in ("LSTM_COMPOSER_OFFLINE", "LSTM_COMPOSER_CATALOGUE"):
        env.pop(k, None)
    return env


def run_child(argv: list[str]) -> tuple[dict, int, float]:
    """Run a child Python; returns its JSON output, peak RSS (bytes) and wall time."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, *argv], env=child_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    out, err = p.stdout.read(), p.stderr.read()  # type: ignore[union-attr]
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"child failed ({p.returncode}): {err.strip()}")
    return json.loads(out), usage.ru_maxrss * 1024, wall


def curl(url: str, target: Path) -> tuple[float, int]:
    t = time.perf_counter()
    p = subprocess.Popen(["curl", "-sS", "--fail", "--noproxy", "*", "-o", str(target), url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"curl failed: {p.stderr.read().decode().strip()}")  # type: ignore[union-attr]
    return seconds, usage.ru_maxrss * 1024


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="pack size (default 1024)")
    ap.add_argument("--file-mb", type=float, default=4.0, help="size of each model (default 4)")
    ap.add_argument("--rounds", type=int, default=3, help="store/curl rounds (best is reported)")
    ap.add_argument("--tmp", type=Path, default=None, help="where to put the temp dir")
    args = ap.parse_args(argv)
    if shutil.which("curl") is None:
        raise SystemExit("curl not found")
    work = Path(tempfile.mkdtemp(prefix="pack-bench-", dir=args.tmp))
    try:
        return bench(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, args: argparse.Namespace) -> int:
    t = time.perf_counter()
    (work / "models").mkdir()
    n = make_models(work / "models", args.size_mb, args.file_mb)
    result = publish(work / "models", work / "www", describe=describe_model, suffix=SUFFIX)
    shutil.rmtree(work / "models")  # the published copies are enough
    assert result.pack is not None and result.pack_size and result.pack_sha256
    size, sha = result.pack_size, result.pack_sha256
    print(f"pack: {n} models, {mb(size)} ({size} bytes), made in {time.perf_counter() - t:.1f} s")

    with StoreServer(work / "www") as srv:
        url = srv.url + "pack/" + result.pack.name
        store_runs: list[float] = []
        curl_runs: list[float] = []
        verified_runs: list[float] = []
        rss = 0
        for i in range(args.rounds):
            target = work / "dl" / f"store{i}" / "pack.tar"
            out, peak, _ = run_child(["-c", CHILD_DOWNLOAD, url, str(target), sha, str(size)])
            store_runs.append(size / out["seconds"])
            rss = max(rss, peak)
            shutil.rmtree(target.parent)
            ctarget = work / "dl" / f"curl{i}.tar"
            ctarget.parent.mkdir(parents=True, exist_ok=True)
            seconds, curl_rss = curl(url, ctarget)
            if ctarget.stat().st_size != size:
                raise SystemExit("curl got a wrong size")
            curl_runs.append(size / seconds)
            # What curl users would add to get the same guarantee: a sha256 of the file.
            t0 = time.perf_counter()
            digest = subprocess.run(["sha256sum", str(ctarget)], capture_output=True, text=True,
                                    check=True).stdout.split()[0]
            verified_runs.append(size / (seconds + time.perf_counter() - t0))
            if digest != sha:
                raise SystemExit("curl got different bytes")
            ctarget.unlink()
            print(f"round {i + 1}: store {store_runs[-1] / 1e6:,.0f} MB/s, "
                  f"curl {curl_runs[-1] / 1e6:,.0f} MB/s, "
                  f"curl + sha256sum {verified_runs[-1] / 1e6:,.0f} MB/s")
        best_store, best_curl, best_verified = max(store_runs), max(curl_runs), max(verified_runs)

        # Interrupt at 50 % (SIGKILL: nothing gets to clean up), then resume.
        target = work / "dl" / "resume" / "pack.tar"
        part = target.with_name(target.name + ".part")
        srv.reset_log()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_DOWNLOAD, url, str(target), sha, str(size)],
            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not (part.exists() and part.stat().st_size >= size // 2):
            if child.poll() is not None:
                raise SystemExit("the download finished before it could be interrupted")
            time.sleep(0.0005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kept = part.stat().st_size
        out, _, _ = run_child(["-c", CHILD_DOWNLOAD, url, str(target), sha, str(size)])
        reqs = srv.requests("/pack/" + result.pack.name)
        srv.wait_idle()
        resumed_at = reqs[-1].start
        refetched = kept - resumed_at  # bytes on disk that were asked for again
        in_flight = sum(r.bytes_sent for r in reqs) - size  # sent, never written: killed
        ok = target.stat().st_size == size
        shutil.rmtree(target.parent)

        # The whole install: download + safe streamed extraction, verified per model.
        install, install_rss, _ = run_child(
            ["-c", CHILD_INSTALL, str(work / "home"), srv.url])

    print()
    print(f"store download:   {best_store / 1e6:,.0f} MB/s (best of {args.rounds}; "
          f"sha256 verified, atomic rename)")
    print(f"curl download:    {best_curl / 1e6:,.0f} MB/s (best of {args.rounds})")
    print(f"ratio store/curl: {best_store / best_curl:.2f} (goal >= 0.8)")
    print(f"curl + sha256sum: {best_verified / 1e6:,.0f} MB/s (the same guarantee as the store); "
          f"ratio store/that: {best_store / best_verified:.2f}")
    print(f"store peak RSS:   {rss / 1e6:.0f} MB (downloading child process; goal <= 150 MB)")
    print(f"interrupted at:   {mb(kept)} of {mb(size)} (SIGKILL), resumed with Range from byte "
          f"{resumed_at}; resume took {out['seconds']:.2f} s, complete and verified: {ok}")
    print(f"bytes fetched twice: {refetched} (goal 0); sent but lost in flight at the kill: "
          f"{max(in_flight, 0)} bytes")
    print(f"install_pack:     {install['installed']} models installed, {install['failed']} failed, "
          f"{install['seconds']:.1f} s (download + verified extraction), peak RSS "
          f"{install_rss / 1e6:.0f} MB")
    return 0 if ok and refetched == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
