"""Fixtures for tests that need a model store, a catalogue or the loopback server.

Use them from a test module with ``pytest_plugins = ["tests.store_fixtures"]``; the helpers
(``make_model``, ``publish_models``, ``make_store``, ``fast_options``, ``subprocess_env``) are in
``tests.store_helpers``.

``store_env`` isolates the store (LSTM_COMPOSER_HOME, config dir, offline/insecure flags) in
tmp_path; ``store_server`` is a running ``StoreServer``; ``published`` publishes three small
models into the server's root and gives their catalogue URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from model_store.testing import StoreServer
from tests.store_helpers import STORE_ENV, Published, publish_models


@dataclass
class StoreEnv:
    home: Path
    config: Path


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StoreEnv:
    """An isolated store: home and config file in tmp_path, no offline/insecure/catalogue env."""
    for name in STORE_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    cfg = tmp_path / "config" / "config.json"
    monkeypatch.setenv("LSTM_COMPOSER_HOME", str(home))
    monkeypatch.setenv("LSTM_COMPOSER_CONFIG_DIR", str(cfg.parent))
    # A developer's proxy settings must not capture loopback traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return StoreEnv(home=home, config=cfg)


@pytest.fixture
def store_server(tmp_path: Path) -> Iterator[StoreServer]:
    """A running loopback ``StoreServer`` serving ``tmp_path / "www"``."""
    with StoreServer(tmp_path / "www") as srv:
        yield srv


@pytest.fixture
def published(store_env: StoreEnv, store_server: StoreServer, tmp_path: Path) -> Published:
    """Three styles (bach, jazz, folk; ~48 kB each) published on the loopback server."""
    return publish_models(store_server, tmp_path / "train")
