"""Downloads against a real loopback HTTP server: resume, restarts, integrity, errors, offline."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest

from model_store import (
    CatalogueError,
    DownloadError,
    InsecureURLError,
    IntegrityError,
    OfflineError,
    Progress,
    Store,
    StoreNotWritable,
    download,
)
from model_store.download import check_url
from tests.store_helpers import fast_options, make_store, publish_models

pytest_plugins = ["tests.store_fixtures"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_normal_fetch_verifies_and_reports_progress(published, store_env):
    seen: list[Progress] = []
    store = make_store(store_env.home, published.url)
    path = store.fetch("bach", progress=seen.append)
    entry = published.entry("bach")
    assert path.is_file() and path.is_relative_to(store_env.home)
    assert sha(path) == entry["sha256"] and path.stat().st_size == entry["size"]
    assert published.server.count(published.path("bach")) == 1
    assert seen and seen[-1].stage == "download" and seen[-1].unit == "B"
    assert seen[-1].done == seen[-1].total == entry["size"]
    assert not list(path.parent.glob("*.part"))
    # Installed and verified: fetching again asks nothing of the network.
    published.server.reset_log()
    assert store.fetch("bach") == path
    assert published.server.count(published.path("bach")) == 0


def test_connection_cut_several_times_resumes_without_refetching(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3}, payload=200_000)
    size = pub.entry("bach")["size"]
    cuts = [10_000, 50_001, 120_000, size - 1]
    store_server.set_fault(pub.path("bach"), cut_at=list(cuts))
    store = make_store(store_env.home, pub.url)
    path = store.fetch("bach")
    assert sha(path) == pub.entry("bach")["sha256"]
    reqs = store_server.requests(pub.path("bach"))
    assert [r.start for r in reqs] == [0, *cuts]
    assert [r.status for r in reqs] == [200, 206, 206, 206, 206]
    assert reqs[1].range == "bytes=10000-"
    # Every byte crossed the wire once: what was kept was not fetched again.
    assert store_server.bytes_sent(pub.path("bach")) == size


def test_server_ignoring_range_gets_a_clean_restart(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3}, payload=100_000)
    store_server.set_fault(pub.path("bach"), cut_at=[30_000], ignore_range=True)
    store = make_store(store_env.home, pub.url)
    outcome = store.fetch_detailed("bach")
    assert sha(outcome.path) == pub.entry("bach")["sha256"]
    reqs = store_server.requests(pub.path("bach"))
    assert len(reqs) == 2
    assert reqs[1].range == "bytes=30000-" and reqs[1].status == 200
    assert outcome.download is not None and outcome.download.restarts == 1


def test_corrupt_kept_prefix_is_fetched_again_in_full(published, store_env):
    store = make_store(store_env.home, published.url)
    entry = published.entry("bach")
    # A .part from an earlier run for this very file, but with damaged bytes.
    target = store._target(store.catalogue().catalogue.styles["bach"])
    target.parent.mkdir(parents=True)
    target.with_name(target.name + ".part").write_bytes(b"\0" * 5000)
    target.with_name(target.name + ".part.json").write_text(
        json.dumps({"sha256": entry["sha256"], "size": entry["size"]}))
    path = store.fetch("bach")
    assert sha(path) == entry["sha256"]
    reqs = published.server.requests(published.path("bach"))
    assert [r.start for r in reqs] == [5000, 0]


def test_part_for_another_file_is_not_resumed(published, store_env):
    store = make_store(store_env.home, published.url)
    target = store._target(store.catalogue().catalogue.styles["bach"])
    target.parent.mkdir(parents=True)
    target.with_name(target.name + ".part").write_bytes(b"x" * 5000)
    target.with_name(target.name + ".part.json").write_text(json.dumps({"sha256": "0" * 64, "size": 1}))
    store.fetch("bach")
    assert [r.start for r in published.server.requests(published.path("bach"))] == [0]


def test_tampered_download_is_rejected_and_installed_model_kept(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3})
    store = make_store(store_env.home, pub.url)
    old = store.fetch("bach")
    old_bytes = old.read_bytes()
    # Same version fetched again (force) with one flipped byte: the installed file is untouched.
    store_server.set_fault(pub.path("bach"), tamper_at=1234)
    with pytest.raises(IntegrityError, match=r"bach: sha256 mismatch"):
        store.fetch("bach", force=True)
    assert old.read_bytes() == old_bytes
    # A new version is published and arrives tampered: the old version stays in use.
    pub2 = publish_models(store_server, tmp_path / "train2", {"bach": 9})
    store_server.set_fault(pub2.path("bach"), tamper_at=50)
    store2 = make_store(store_env.home, pub.url)
    with pytest.raises(IntegrityError, match="discarded"):
        store2.fetch("bach")
    assert store2.resolve("bach") == old and old.read_bytes() == old_bytes
    assert not list((store_env.home / "models").rglob("*.part"))
    assert [e.version for e in store2.styles() if e.name == "bach"] == ["bach-e0003"]


@pytest.mark.parametrize("delta", [+10, -10])
def test_wrong_size_is_rejected(published, store_env, delta):
    published.server.set_fault(published.path("jazz"), size_delta=delta)
    store = make_store(store_env.home, published.url)
    with pytest.raises(IntegrityError, match=r"jazz: wrong size"):
        store.fetch("jazz")
    assert not list((store_env.home / "models").rglob("*.lstmc"))


def test_wrong_size_streamed_without_content_length_check(published, store_env, tmp_path):
    """Even if the header were right, more bytes than the catalogue's size are refused."""
    entry = published.entry("jazz")
    published.server.set_fault(published.path("jazz"), size_delta=+100)
    with pytest.raises(IntegrityError, match="wrong size"):
        download(published.url + published.path("jazz").lstrip("/"), tmp_path / "x.lstmc",
                 sha256=entry["sha256"], size=entry["size"], options=fast_options())


def test_404_is_a_clear_error(published, store_env):
    (published.server.root / published.path("folk").lstrip("/")).unlink()
    store = make_store(store_env.home, published.url)
    with pytest.raises(DownloadError, match=r"folk: not found on the server \(HTTP 404\)"):
        store.fetch("folk")
    assert published.server.count(published.path("folk")) == 1  # a 404 is not retried


def test_500_retries_then_gives_up(published, store_env):
    published.server.set_fault(published.path("folk"), status=500)
    store = make_store(store_env.home, published.url)
    with pytest.raises(DownloadError, match=r"folk: server error \(HTTP 500\).*gave up after 4 attempts"):
        store.fetch("folk")
    assert published.server.count(published.path("folk")) == 4


def test_transient_500_is_retried(published, store_env):
    published.server.set_fault(published.path("folk"), status=503, status_times=2)
    store = make_store(store_env.home, published.url)
    path = store.fetch("folk")
    assert sha(path) == published.entry("folk")["sha256"]
    assert [r.status for r in published.server.requests(published.path("folk"))] == [503, 503, 200]


def test_slow_server_times_out(published, store_env):
    published.server.set_fault(published.path("folk"), delay=3.0)
    store = make_store(store_env.home, published.url,
                       download_options=fast_options(read_timeout=0.3, retries=1))
    with pytest.raises(DownloadError, match=r"folk: timed out.*gave up after 2 attempts"):
        store.fetch("folk")


def test_trickling_server_times_out_each_attempt_but_progress_is_kept(store_env, store_server, tmp_path):
    """Each attempt gets one chunk and then times out; kept bytes make every retry worth it."""
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3}, payload=60_000)
    store_server.set_fault(pub.path("bach"), chunk_size=16_384, chunk_delay=5.0)
    store = make_store(store_env.home, pub.url,
                       download_options=fast_options(read_timeout=0.3, retries=0))
    path = store.fetch("bach")
    assert sha(path) == pub.entry("bach")["sha256"]
    starts = [r.start for r in store_server.requests(pub.path("bach"))]
    assert starts == list(range(0, pub.entry("bach")["size"], 16_384))


def test_no_progress_at_all_gives_up_and_keeps_the_part(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3}, payload=60_000)
    store_server.set_fault(pub.path("bach"), cut_at=[20_000])
    store = make_store(store_env.home, pub.url,
                       download_options=fast_options(read_timeout=0.3, retries=1))

    def progress(p):  # once 20000 bytes are in, the server stops answering in time
        if p.done >= 20_000:
            store_server.set_fault(pub.path("bach"), delay=3.0)

    with pytest.raises(DownloadError, match="timed out.*gave up after 3 attempts"):
        store.fetch("bach", progress=progress)
    parts = list((store_env.home / "models").rglob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 20_000
    store_server.clear_faults()
    store.fetch("bach")
    assert store_server.requests(pub.path("bach"))[-1].start == 20_000


def test_unreachable_catalogue_is_a_one_line_error(store_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: connection refused
    store = make_store(store_env.home, f"http://127.0.0.1:{port}/")
    with pytest.raises(CatalogueError) as info:
        store.fetch("bach")
    msg = str(info.value)
    assert "\n" not in msg and "connection refused" in msg and "bach" in msg


def test_plain_http_elsewhere_is_refused_unless_opted_in(store_env, tmp_path, monkeypatch):
    with pytest.raises(InsecureURLError, match="--allow-insecure"):
        download("http://example.invalid/x.lstmc", tmp_path / "x", sha256="0" * 64)
    store = make_store(store_env.home, "http://example.invalid/cat/")
    with pytest.raises(InsecureURLError, match="refusing plain-http"):
        store.fetch("bach")
    with pytest.raises(InsecureURLError):
        download("ftp://example.invalid/x", tmp_path / "x", sha256="0" * 64)
    # Opted in (flag or environment), the URL passes the policy.
    check_url("http://example.invalid/x.lstmc", allow_insecure=True)
    monkeypatch.setenv("LSTM_COMPOSER_ALLOW_INSECURE", "1")
    assert make_store(store_env.home, "http://example.invalid/cat/").allow_insecure
    check_url("http://127.0.0.1:9/x")  # loopback needs no opt-in
    check_url("http://[::1]:9/x")
    check_url("http://localhost:9/x")


def test_offline_with_the_file_present_uses_no_network(published, store_env, monkeypatch):
    make_store(store_env.home, published.url).fetch("bach")
    published.server.reset_log()
    monkeypatch.setenv("LSTM_COMPOSER_OFFLINE", "1")
    store = make_store(store_env.home, published.url)
    assert store.offline
    assert store.resolve("bach").is_file()
    assert {e.name: e.installed for e in store.styles()} == {"bach": True, "folk": False, "jazz": False}
    assert published.server.count(method=None) == 0


def test_offline_without_the_file_says_what_is_missing(published, store_env):
    make_store(store_env.home, published.url).catalogue()  # cache the catalogue
    published.server.reset_log()
    store = make_store(store_env.home, published.url, offline=True)
    with pytest.raises(OfflineError) as info:
        store.resolve("jazz")
    msg = str(info.value)
    assert "jazz" in msg and "offline" in msg and "not downloaded" in msg
    assert published.server.count(method=None) == 0
    # Nothing cached at all: still a clear message, still no network.
    shutil.rmtree(store_env.home)
    store = make_store(store_env.home, published.url, offline=True)
    with pytest.raises(OfflineError, match="jazz.*not installed and offline mode is on"):
        store.resolve("jazz")
    assert published.server.count(method=None) == 0


def test_local_folder_catalogue(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3})
    for url in (str(store_server.root), store_server.root.as_uri(),
                str(store_server.root / "index.json")):
        home = tmp_path / ("home-" + hashlib.md5(url.encode()).hexdigest()[:6])
        path = Store(home=home, catalogue_url=url).fetch("bach")
        assert sha(path) == pub.entry("bach")["sha256"]
    assert store_server.count(method=None) == 0


class _Bar:
    """A tqdm-like object (what pooch accepts): ``total``, ``n`` and ``update``."""

    def __init__(self) -> None:
        self.total, self.n, self.updates = None, 0, 0

    def update(self, k: int = 1) -> None:
        self.n += k
        self.updates += 1


def test_progress_may_be_a_tqdm_like_bar(published, store_env):
    bar = _Bar()
    make_store(store_env.home, published.url).fetch("jazz", progress=bar)
    size = published.entry("jazz")["size"]
    assert bar.total == size and bar.n == size and bar.updates >= 2


def test_download_into_a_folder_that_cannot_exist_is_one_line(published, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    url = published.url + published.path("bach").lstrip("/")
    with pytest.raises(StoreNotWritable, match=r"^bach: cannot write .*file/sub.*\(Not a directory\)$"):
        download(url, blocker / "sub" / "bach.lstmc", sha256=published.entry("bach")["sha256"],
                 label="bach", options=fast_options())
