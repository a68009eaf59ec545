"""Shared fixtures. The corpus lives beside the checkout (../shared/corpus); tests that need it skip without it."""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("LSTM_COMPOSER_TEST_CORPUS", REPO.parent / "shared" / "corpus"))


HAVE_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


def pytest_configure(config: pytest.Config) -> None:
    """A test run started in the background (a shell's ``cmd &``) inherits SIGINT ignored, and would pass it on
    ignored to every program a test starts: the Ctrl-C tests' subprocesses would never see their Ctrl-C. Catching
    SIGINT again here, as an interactive start has it, lets the children start with it at its default."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the plain install (no ``train`` extra) the ``tf`` tests skip and the rest still run.

    The plain suite (``pip install '.[test]'``) is what proves composing needs no TensorFlow:
    determinism, guards, the engine and compose all run there on NumPy-only models.
    """
    if HAVE_TENSORFLOW:
        return
    skip = pytest.mark.skip(reason="needs TensorFlow (pip install '.[train]')")
    for item in items:
        if "tf" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """No test touches the user's real model store, config or network catalogue."""
    home = tmp_path_factory.mktemp("store-home")
    monkeypatch.setenv("LSTM_COMPOSER_HOME", str(home))
    monkeypatch.setenv("LSTM_COMPOSER_CONFIG_DIR", str(home / "config"))
    monkeypatch.delenv("LSTM_COMPOSER_CATALOGUE", raising=False)
    monkeypatch.delenv("LSTM_COMPOSER_OFFLINE", raising=False)
