"""The local store: listing, resolve (offline first, lazy fetch, bundled fallback), verify,
repair, remove, versions."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from hostapi.host import UserError
from hostapi.results import StyleInfo
from lstm_composer_plugin import errors as plugin_errors
from lstm_composer_plugin import models as plugin_models
from lstm_composer_plugin.errors import ComposerError
from lstm_composer_plugin.models import style_info
from model_store import (
    CatalogueUnavailable,
    OfflineError,
    StoreError,
    StoreNotWritable,
    UnknownStyleError,
)
from tests.store_helpers import PYTHON, make_model, make_store, publish_models, subprocess_env

pytest_plugins = ["tests.store_fixtures"]


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def bundled(tmp_path):
    return {"bach": make_model(tmp_path / "bundled" / "bach.lstmc", "bach", 1, title="Bach (bundled)"),
            "blues": make_model(tmp_path / "bundled" / "blues.lstmc", "blues", 2)}


def test_styles_merge_store_bundled_and_catalogue(published, store_env, bundled):
    store = make_store(store_env.home, published.url, bundled=bundled)
    store.fetch("jazz")
    by = {e.name: e for e in store.styles()}
    assert sorted(by) == ["bach", "blues", "folk", "jazz"]
    assert (by["jazz"].source, by["jazz"].installed, by["jazz"].needs_download) == ("store", True, False)
    assert by["jazz"].path.is_relative_to(store_env.home) and by["jazz"].version == "jazz-e0020"
    assert by["jazz"].epoch == 20 and by["jazz"].quality and by["jazz"].title == "Jazz"
    assert (by["bach"].source, by["bach"].installed, by["bach"].path) == ("bundled", True, bundled["bach"])
    assert by["bach"].title == "Bach (bundled)" and by["bach"].bundled
    assert by["bach"].version == "bach-e0001" and by["bach"].update_available  # catalogue has e0010
    assert (by["folk"].source, by["folk"].installed, by["folk"].needs_download) == ("catalogue", False, True)
    assert by["folk"].size == published.entry("folk")["size"] and by["folk"].path is None
    assert (by["blues"].source, by["blues"].catalogue_version) == ("bundled", None)
    info = style_info(by["folk"], "lstm")
    assert isinstance(info, StyleInfo) and info.needs_download and info.plugin == "lstm"
    assert info.version == "folk-e0005" and info.size_bytes == by["folk"].size
    assert by["jazz"].to_dict()["path"] == str(by["jazz"].path)


def test_styles_without_catalogue(store_env, bundled):
    store = make_store(store_env.home, None, bundled=bundled)
    assert [e.name for e in store.styles()] == ["bach", "blues"]
    assert store.warnings == []


def test_resolve_installed_uses_no_network(published, store_env):
    store = make_store(store_env.home, published.url)
    path = store.fetch("bach")
    published.server.reset_log()
    assert make_store(store_env.home, published.url).resolve("bach") == path
    assert published.server.count(method=None) == 0


def test_resolve_prefers_bundled_over_downloading(published, store_env, bundled):
    store = make_store(store_env.home, published.url, bundled=bundled)
    assert store.resolve("bach") == bundled["bach"]
    assert published.server.count(method=None) == 0
    # Once the user fetched the catalogue's version, the store's copy wins.
    fetched = store.fetch("bach")
    assert store.resolve("bach") == fetched != bundled["bach"]


def test_resolve_fetches_lazily_with_progress(published, store_env):
    seen = []
    store = make_store(store_env.home, published.url)
    path = store.resolve("folk", progress=seen.append)
    assert sha(path) == published.entry("folk")["sha256"]
    assert seen[-1].done == published.entry("folk")["size"] and seen[-1].message == "folk"


def test_unknown_style_lists_known_ones(published, store_env, bundled):
    store = make_store(store_env.home, published.url, bundled=bundled)
    with pytest.raises(UnknownStyleError) as info:
        store.resolve("polka")
    msg = str(info.value)
    assert "'polka'" in msg and "bach, blues, folk, jazz" in msg and "\n" not in msg
    no_cat = make_store(store_env.home, None, bundled=bundled)
    with pytest.raises(UnknownStyleError, match=r"unknown style 'polka' \(installed: bach, blues\); "
                                                r"no catalogue configured: set LSTM_COMPOSER_CATALOGUE"):
        no_cat.resolve("polka")


def test_damaged_install_is_fetched_again_or_reported(published, store_env, bundled):
    store = make_store(store_env.home, published.url)
    path = store.fetch("jazz")
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert store.resolve("jazz") == path and path.read_bytes() == good  # re-fetched
    path.write_bytes(b"junk")
    offline = make_store(store_env.home, published.url, offline=True)
    with pytest.raises(StoreError, match=r"style 'jazz': the installed model is damaged .*models repair"):
        offline.resolve("jazz")
    # With a bundled copy, offline falls back to it.
    store.fetch("bach")
    p = store.resolve("bach")
    p.write_bytes(b"junk")
    offline = make_store(store_env.home, published.url, offline=True, bundled=bundled)
    assert offline.resolve("bach") == bundled["bach"]


def test_verify_and_repair(published, store_env, bundled, tmp_path):
    broken_bundle = tmp_path / "broken.lstmc"
    broken_bundle.write_bytes(b"PK\x03\x04 not really a zip")
    store = make_store(store_env.home, published.url, bundled={**bundled, "rock": broken_bundle})
    for s in ("bach", "jazz", "folk"):
        store.fetch(s)
    results = {(r.style, r.source): r for r in store.verify()}
    assert all(r.ok for k, r in results.items() if k != ("rock", "bundled"))
    assert not results[("rock", "bundled")].ok
    assert results[("bach", "bundled")].version == "bach-e0001"
    jazz = results[("jazz", "store")].path
    jazz.write_bytes(b"damaged")
    results = {(r.style, r.source): r for r in store.verify()}
    assert not results[("jazz", "store")].ok and "bytes, expected" in results[("jazz", "store")].problem
    published.server.reset_log()
    report = store.repair()
    assert report.repaired == ["jazz"] and report.checked == 6
    assert report.failed == [("rock", report.failed[0][1])] and "reinstall" in report.failed[0][1]
    assert published.server.count(published.path("jazz")) == 1
    assert published.server.count(published.path("bach")) == 0
    assert sha(jazz) == published.entry("jazz")["sha256"]


def test_remove(published, store_env, bundled):
    store = make_store(store_env.home, published.url, bundled=bundled)
    path = store.fetch("jazz")
    removed = store.remove("jazz")
    assert removed == [path.parent] and not path.exists()
    assert not (store_env.home / "models" / "jazz").exists()
    with pytest.raises(UnknownStyleError, match="'jazz' is not installed in the store"):
        store.remove("jazz")
    with pytest.raises(StoreError, match="bundled model, which is read-only"):
        store.remove("blues")
    with pytest.raises(UnknownStyleError):
        store.remove("../etc")


def test_new_version_replaces_the_old_one(store_env, store_server, tmp_path):
    pub = publish_models(store_server, tmp_path / "train", {"bach": 3})
    store = make_store(store_env.home, pub.url)
    old = store.fetch("bach")
    pub2 = publish_models(store_server, tmp_path / "train2", {"bach": 7})
    store2 = make_store(store_env.home, pub2.url)
    by = {e.name: e for e in store2.styles(refresh=True)}
    assert by["bach"].update_available and by["bach"].catalogue_version == "bach-e0007"
    new = store2.fetch("bach")
    assert new != old and not old.exists() and new.parent.name.startswith("bach-e0007-")
    assert [e.version for e in store2.styles()] == ["bach-e0007"]
    assert not store2.styles()[0].update_available


def test_where_and_info(store_env, published):
    store = make_store(None, published.url)
    assert store.where() == store_env.home
    info = store.info()
    assert info["home"] == str(store_env.home) and info["catalogue_url"].endswith("/index.json")
    assert info["config_file"] == str(store_env.config)


def test_offline_fetch_of_installed_style_is_fine(published, store_env):
    make_store(store_env.home, published.url).fetch("bach")
    offline = make_store(store_env.home, published.url, offline=True)
    assert offline.fetch("bach").is_file()
    with pytest.raises(OfflineError, match=r"style 'jazz' is not downloaded \(.*\) and offline mode is on"):
        offline.fetch("jazz")


# ------------------------------------------------------------------------ a read-only store


@contextlib.contextmanager
def immutable(folder: Path):
    """``folder`` and every folder below it made immutable (``chattr +i``).

    The tests run as root, who ignores permission bits, so ``chmod a-w`` proves nothing; an
    immutable inode cannot gain or lose entries even for root. Skips where chattr is missing
    or not allowed (no CAP_LINUX_IMMUTABLE, a file system without attributes); the test below
    it (a home under a regular file) covers the same code on any machine.
    """
    dirs = [str(d) for d in [folder, *folder.rglob("*")] if d.is_dir()]
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    proc = subprocess.run(["chattr", "+i", *dirs], capture_output=True, text=True)
    try:
        if proc.returncode != 0:
            pytest.skip(f"chattr +i not allowed here: {proc.stderr.strip()}")
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")  # really read-only, even for root
        yield
    finally:
        subprocess.run(["chattr", "-i", *dirs], capture_output=True)


def _snapshot(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p), p.stat().st_size) for p in folder.rglob("*"))


def test_read_only_store_lists_and_composes_installed_and_bundled(published, store_env, monkeypatch):
    """Issue 12 item 3: LSTM_COMPOSER_HOME read-only with a catalogue set."""
    monkeypatch.setenv("LSTM_COMPOSER_CATALOGUE", published.url)
    installed = make_store(store_env.home, published.url).fetch("jazz")
    shutil.rmtree(store_env.home / "catalogue")  # so the listing must fetch and try to cache
    before = _snapshot(store_env.home)
    with immutable(store_env.home):
        rows, warnings = plugin_models.list_styles()
        by = {r["name"]: r for r in rows}
        assert {"bach", "jazz", "folk"} <= set(by)
        assert by["bach"]["source"] == "bundled" and by["jazz"]["source"] == "store"
        assert by["folk"]["needs_download"]
        assert len(warnings) == 1 and warnings[0].startswith(
            f"could not save the catalogue cache in {store_env.home / 'catalogue'} (")
        store = plugin_models.open_store()
        store.list_styles()
        store.list_styles(refresh=True)
        assert len(store.warnings) == 1  # said once, however often the catalogue is read
        assert plugin_models.locate_model("jazz") == installed
        assert plugin_models.locate_model("bach") == plugin_models.bundled_models()["bach"]
        with pytest.raises(ComposerError) as info:
            plugin_models.locate_model("folk")
        message = str(info.value)
        assert message.startswith("style 'folk': cannot write to the model store (")
        assert "set LSTM_COMPOSER_HOME to a writable folder" in message and "\n" not in message
    assert _snapshot(store_env.home) == before  # nothing half-written


def test_store_home_under_a_regular_file(published, store_env, tmp_path, monkeypatch):
    """The same on any machine: a home whose parent is a file can never be created."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    home = blocker / "home"
    monkeypatch.setenv("LSTM_COMPOSER_HOME", str(home))
    monkeypatch.setenv("LSTM_COMPOSER_CATALOGUE", published.url)
    rows, warnings = plugin_models.list_styles()
    assert {r["name"] for r in rows} >= {"bach", "jazz", "folk"}
    assert len(warnings) == 1 and "could not save the catalogue cache" in warnings[0]
    assert plugin_models.locate_model("bach") == plugin_models.bundled_models()["bach"]
    store = make_store(home, published.url)
    with pytest.raises(StoreNotWritable, match=r"style 'jazz': cannot write to the model store"):
        store.fetch("jazz")
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------- a library of its own


def test_model_store_imports_neither_the_host_nor_the_plugin():
    """Issue 11 item 2. (model_store/cli.py, moving to the plugin, is not imported here.)"""
    code = (
        "import sys, model_store, model_store.store, model_store.publish, model_store.pack, "
        "model_store.download, model_store.lock\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('hostapi', 'lstm_composer_plugin'))\n"
        "print(bad)"
    )
    proc = subprocess.run([PYTHON, "-c", code], env=subprocess_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert issubclass(StoreError, Exception) and not issubclass(StoreError, UserError)


def test_plugin_maps_store_errors_and_styles(published, store_env, bundled):
    err = plugin_models.plugin_error(UnknownStyleError("unknown style 'polka'"))
    assert isinstance(err, plugin_errors.UnknownStyleError) and str(err) == "unknown style 'polka'"
    err = plugin_models.plugin_error(CatalogueUnavailable("catalogue http://x/index.json: HTTP 404"))
    assert isinstance(err, plugin_errors.UnavailableError)
    assert str(err) == "catalogue http://x/index.json: HTTP 404"
    err = plugin_models.plugin_error(StoreNotWritable("style 'x': cannot write"))
    assert type(err) is ComposerError and str(err) == "style 'x': cannot write"
    with pytest.raises(plugin_errors.UnknownStyleError, match="unknown style 'polka'"):
        plugin_models.locate_model("polka", offline=True)
    seen = []
    store = make_store(store_env.home, published.url, bundled=bundled)
    store.resolve("folk", progress=plugin_models.host_progress(seen.append))
    assert seen and all(type(p).__module__ == "hostapi.results" for p in seen)
    assert seen[-1].stage == "download" and seen[-1].done == seen[-1].total
    info = style_info(store.list_styles().get("bach"))
    assert (info.name, info.plugin, info.source, info.version) == ("bach", "lstm", "bundled", "bach-e0001")
