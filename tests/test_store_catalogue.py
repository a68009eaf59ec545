"""Catalogue validation, configuration precedence, caching and offline use of the cache."""

from __future__ import annotations

import copy
import json
import time

import pytest

from lstm_composer_plugin.models import APP as cfg  # the plugin's AppConfig: $LSTM_COMPOSER_*
from model_store import (
    CatalogueError,
    CatalogueInvalid,
    CatalogueUnavailable,
    ConfigError,
    OfflineError,
    parse_catalogue,
)
from model_store.catalogue import CatalogueCache, human_age, load_catalogue
from tests.store_helpers import make_model, make_store

pytest_plugins = ["tests.store_fixtures"]

SHA = "ab" * 32
GOOD = {
    "format": "lstm-composer-catalogue",
    "format_version": 1,
    "styles": [
        {"id": "bach", "title": "Bach", "description": "chorales", "file": "bach-e0010.lstmc",
         "size": 10, "sha256": SHA, "url": "models/bach-e0010.lstmc", "version": "bach-e0010",
         "epoch": 10, "quality": "val loss 1.2"},
        {"id": "jazz", "file": "jazz.lstmc", "size": 5, "sha256": "cd" * 32,
         "url": "https://cdn.example.org/jazz.lstmc", "version": "jazz-e0001"},
    ],
    "pack": {"url": "pack/p.tar", "size": 99, "sha256": "ef" * 32,
             "members": [{"name": "bach/bach-e0010.lstmc", "style": "bach", "size": 10, "sha256": SHA}]},
}
URL = "https://example.org/cat/index.json"


def test_valid_catalogue_resolves_relative_urls():
    cat = parse_catalogue(GOOD, URL)
    assert list(cat.styles) == ["bach", "jazz"]
    assert cat.styles["bach"].url == "https://example.org/cat/models/bach-e0010.lstmc"
    assert cat.styles["jazz"].url == "https://cdn.example.org/jazz.lstmc"
    assert cat.styles["jazz"].title == "jazz" and cat.styles["jazz"].epoch is None
    assert cat.pack is not None and cat.pack.url == "https://example.org/cat/pack/p.tar"
    assert cat.pack.file == "p.tar" and cat.pack.members[0].style == "bach"


def _broken(path: str, value: object) -> dict:
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node: object = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]  # type: ignore[index]
    if value is KeyError:
        del node[last]  # type: ignore[attr-defined]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value  # type: ignore[index]
    return data


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("format", "something-else", r"format: expected 'lstm-composer-catalogue'"),
        ("format_version", 2, r"format_version: 2 is newer than this reader"),
        ("format_version", "1", r"top level.format_version: must be an integer"),
        ("styles", {}, r"styles: must be a list"),
        ("styles.0.sha256", "xyz", r"styles\[0\] \('bach'\)\.sha256: must be 64 hex digits"),
        ("styles.1.size", -1, r"styles\[1\] \('jazz'\)\.size: must be an integer >= 0"),
        ("styles.1.size", True, r"\.size: must be an integer"),
        ("styles.0.url", KeyError, r"styles\[0\] \('bach'\)\.url: missing"),
        ("styles.0.url", "ftp://x/y", r"\.url: unsupported URL"),
        ("styles.0.file", "../evil.lstmc", r"\.file: must be a plain file name"),
        ("styles.0.id", "a/b", r"styles\[0\]\.id: must be 1-64 letters"),
        ("styles.1.id", "bach", r"styles\[1\] \('bach'\)\.id: duplicate style id"),
        ("styles.0.version", KeyError, r"\.version: missing"),
        ("styles.0", "bach", r"styles\[0\]: must be an object"),
        ("pack.members.0.style", "nope", r"pack\.members\[0\]\.style: 'nope' is not in styles"),
        ("pack.members.0.sha256", "cd" * 32, r"pack\.members\[0\]: size/sha256 differ"),
        ("pack.members", None, r"pack\.members: must be a list"),
    ],
)
def test_malformed_catalogue_names_the_field(path, value, expected):
    with pytest.raises(CatalogueError, match=expected) as info:
        parse_catalogue(_broken(path, value), URL)
    assert str(info.value).startswith(f"catalogue {URL}: ") and "\n" not in str(info.value)


def test_unknown_keys_are_ignored():
    data = copy.deepcopy(GOOD)
    data["future"] = {"x": 1}
    data["styles"][0]["new_field"] = 3
    assert "bach" in parse_catalogue(data, URL).styles


def test_catalogue_url_precedence(store_env, monkeypatch, tmp_path):
    assert cfg.catalogue_url() is None
    store_env.config.parent.mkdir(parents=True)
    store_env.config.write_text(json.dumps({"catalogue": "https://conf.example/cat/"}))
    assert cfg.catalogue_url() == "https://conf.example/cat/index.json"
    monkeypatch.setenv("LSTM_COMPOSER_CATALOGUE", "https://env.example/c/index.json")
    assert cfg.catalogue_url() == "https://env.example/c/index.json"
    assert cfg.catalogue_url("https://flag.example") == "https://flag.example/index.json"
    folder = tmp_path / "published"
    folder.mkdir()
    assert cfg.catalogue_url(str(folder)) == (folder / "index.json").as_uri()
    assert cfg.catalogue_url(folder.as_uri()) == (folder / "index.json").as_uri()
    with pytest.raises(ConfigError, match="unsupported URL scheme 'ftp'"):
        cfg.catalogue_url("ftp://x/")


def test_flags_and_bad_config(store_env, monkeypatch):
    assert cfg.is_offline() is False and cfg.is_offline(True) is True
    monkeypatch.setenv("LSTM_COMPOSER_OFFLINE", "yes")
    assert cfg.is_offline() is True
    monkeypatch.setenv("LSTM_COMPOSER_OFFLINE", "maybe")
    with pytest.raises(ConfigError, match="LSTM_COMPOSER_OFFLINE='maybe'"):
        cfg.is_offline()
    monkeypatch.delenv("LSTM_COMPOSER_OFFLINE")
    store_env.config.parent.mkdir(parents=True)
    store_env.config.write_text('{"offline": "true"}')
    with pytest.raises(ConfigError, match="'offline' must be a bool"):
        cfg.is_offline()
    store_env.config.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        cfg.catalogue_url()
    store_env.config.write_text('{"offline": true, "allow_insecure": true}')
    assert cfg.is_offline() and cfg.allow_insecure()


def test_store_home_env_override(store_env, monkeypatch):
    assert cfg.store_home() == store_env.home
    monkeypatch.delenv("LSTM_COMPOSER_HOME")
    assert cfg.store_home().name == "lstm-composer"


def test_last_good_catalogue_is_cached_and_used_offline_with_its_age(published, store_env):
    store = make_store(store_env.home, published.url)
    loaded = store.catalogue()
    assert loaded.source == "network" and loaded.age_seconds < 5
    # Make the cached copy look two hours old, then go offline.
    cache = CatalogueCache(store_env.home / "catalogue")
    cat, _ = cache.read(store.catalogue_url)
    raw = json.loads((published.server.root / "index.json").read_text())
    cache.write(store.catalogue_url, raw, time.time() - 7200)
    published.server.reset_log()
    offline = make_store(store_env.home, published.url, offline=True)
    loaded = offline.catalogue()
    assert loaded.source == "cache" and 7100 < loaded.age_seconds < 7300
    assert offline.warnings == ["offline: using the catalogue cached 2 h ago"]
    assert published.server.count(method=None) == 0
    summary = offline.catalogue_summary()
    assert summary["age"] == "2 h" and summary["source"] == "cache"


def test_network_failure_falls_back_to_cache_with_warning(published, store_env):
    make_store(store_env.home, published.url).catalogue()
    published.server.set_fault("/index.json", status=500)
    store = make_store(store_env.home, published.url)
    loaded = store.catalogue(refresh=True)
    assert loaded.source == "cache" and "bach" in loaded.catalogue.styles
    assert store.warnings and "unreachable (server error (HTTP 500))" in store.warnings[0]
    # The styles list still works, fed from the cache.
    assert {e.name for e in store.styles()} == {"bach", "folk", "jazz"}


def test_fresh_cache_spares_the_network_for_listings(published, store_env):
    make_store(store_env.home, published.url).styles()
    published.server.reset_log()
    make_store(store_env.home, published.url).styles()
    assert published.server.count("/index.json") == 0
    make_store(store_env.home, published.url, catalogue_max_age=0).styles()
    assert published.server.count("/index.json") == 1


def test_malformed_remote_catalogue_is_an_error_and_does_not_replace_the_cache(published, store_env):
    make_store(store_env.home, published.url).catalogue()
    good_sha = published.entry("folk")["sha256"]
    index = published.server.root / "index.json"
    data = json.loads(index.read_text())
    data["styles"][1]["sha256"] = "nope"
    index.write_text(json.dumps(data))
    store = make_store(store_env.home, published.url)
    with pytest.raises(CatalogueError, match=r"styles\[1\] \('folk'\)\.sha256: must be 64 hex"):
        store.catalogue(refresh=True)
    offline = make_store(store_env.home, published.url, offline=True)
    assert offline.catalogue().catalogue.styles["folk"].sha256 == good_sha


def test_offline_without_any_cache(store_env, tmp_path):
    cache = CatalogueCache(tmp_path / "c")
    with pytest.raises(OfflineError, match="has never been fetched"):
        load_catalogue("https://example.org/index.json", cache=cache, offline=True)


def test_catalogue_json_errors(tmp_path):
    (tmp_path / "index.json").write_text("{oops")
    with pytest.raises(CatalogueError, match="not valid JSON"):
        load_catalogue((tmp_path / "index.json").as_uri(), cache=CatalogueCache(tmp_path / "c"))
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue((tmp_path / "missing.json").as_uri(), cache=CatalogueCache(tmp_path / "c"))


def test_human_age():
    assert [human_age(s) for s in (5, 600, 7200, 3 * 86400)] == ["5 s", "10 min", "2 h", "3 days"]


def test_cache_survives_garbage(tmp_path):
    cache = CatalogueCache(tmp_path)
    cache.write(URL, GOOD, 1.0)
    assert cache.read(URL) is not None
    for f in tmp_path.iterdir():
        f.write_text("garbage")
    assert cache.read(URL) is None


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:  # a port that was just free and now has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.mark.parametrize("problem, error, cause", [
    ("404", CatalogueUnavailable, "HTTP 404 not found (and no cached copy)"),
    ("down", CatalogueUnavailable, "connection refused (and no cached copy)"),
    ("not json", CatalogueInvalid, "not valid JSON"),
    ("inconsistent", CatalogueInvalid, "pack.members[0]: size/sha256 differ from styles entry 'bach'"),
])
def test_bad_catalogue_is_named_and_local_styles_still_listed(published, store_env, tmp_path,
                                                              problem, error, cause):
    """Issue 12 item 7 (store side): the real cause, with the URL, as a specific error; listing
    keeps the bundled style and hands the error to the CLI."""
    url = published.url + "index.json"
    index = published.server.root / "index.json"
    if problem == "404":
        published.server.set_fault("/index.json", status=404)
    elif problem == "down":
        url = _closed_port_url() + "index.json"
    elif problem == "not json":
        index.write_text("<html><body>Welcome to nginx!</body></html>")
    else:
        data = json.loads(index.read_text())
        data["pack"]["members"][0]["size"] += 1
        index.write_text(json.dumps(data))
    bundled = {"blues": make_model(tmp_path / "bundled" / "blues.lstmc", "blues", 2)}
    store = make_store(store_env.home, url, bundled=bundled)
    listing = store.list_styles()
    assert listing.names == ["blues"] and listing.get("blues").source == "bundled"
    err = listing.catalogue_error
    assert isinstance(err, error) and isinstance(err, CatalogueError)
    assert str(err).startswith(f"catalogue {url}: ") and cause in str(err) and "\n" not in str(err)
    assert listing.warnings == [str(err)]
    with pytest.raises(error, match=r"style 'jazz' is not installed \(installed: blues\) and the "
                                    r"catalogue is unavailable: catalogue "):
        make_store(store_env.home, url, bundled=bundled).resolve("jazz")
    assert make_store(store_env.home, url, bundled=bundled).resolve("blues") == bundled["blues"]
