"""Fixtures for testing the host contract without the LSTM plugin.

Use them from a test module with ``pytest_plugins = ["tests.host_fixtures"]``.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from hostapi import Host
from tests.plugins.broken import RaisingComposer
from tests.plugins.dummy import DummyComposer

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent

# Put first on PYTHONPATH of a child interpreter, this makes `import tensorflow`
# fail as if it were not installed (the real one stays in site-packages).
BLOCK_TENSORFLOW = textwrap.dedent(
    '''
    import sys

    class _BlockTensorFlow:
        """Test stand-in for an environment without TensorFlow."""

        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _BlockTensorFlow())
    '''
)


@pytest.fixture
def dummy_plugin() -> DummyComposer:
    """A working plugin knowing the styles "waltz" and "shared"."""
    return DummyComposer()


@pytest.fixture
def broken_plugin() -> RaisingComposer:
    """A plugin named "raising" that lists "shared" and raises in compose/check_runtime."""
    return RaisingComposer()


@pytest.fixture
def make_host() -> Callable[..., Host]:
    """``make_host(*plugins, env={...})``: a Host with exactly these plugins, no entry points."""

    def make(*plugins: object, env: Mapping[str, str] | None = None, **kwargs: object) -> Host:
        kwargs.setdefault("load_entry_points", False)
        return Host(plugins=plugins, env=dict(env or {}), **kwargs)

    return make


@pytest.fixture
def dummy_host(make_host, dummy_plugin) -> Host:
    return make_host(dummy_plugin)


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch) -> Iterator[Callable[..., Path]]:
    """``fake_distribution(entry_points, modules)``: install a distribution on sys.path.

    ``entry_points`` maps names to targets in the ``lstm_composer`` group,
    ``modules`` maps module names to their source. A real ``*.dist-info`` folder
    is written, so ``importlib.metadata`` finds the entry points like any installed
    plugin's.
    """
    site = tmp_path / "site"
    created: list[str] = []

    def install(entry_points: Mapping[str, str], modules: Mapping[str, str]) -> Path:
        dist_info = site / "lstmc_test_plugins-0.1.dist-info"
        dist_info.mkdir(parents=True, exist_ok=True)
        (dist_info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: lstmc-test-plugins\nVersion: 0.1\n"
        )
        lines = ["[lstm_composer]"] + [f"{k} = {v}" for k, v in entry_points.items()]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for name, source in modules.items():
            (site / f"{name}.py").write_text(textwrap.dedent(source))
            created.append(name)
        monkeypatch.syspath_prepend(str(site))
        return site

    yield install
    for name in created:
        sys.modules.pop(name, None)


@pytest.fixture
def child_env() -> Callable[..., dict[str, str]]:
    """``child_env(block_tensorflow_in=DIR, VAR=value)``: environment for a child interpreter.

    Run ``python -m hostapi.cli`` with it, ``cwd=REPO_DIR``. The checkout goes on
    PYTHONPATH (for ``-p tests.plugins.*``); with ``block_tensorflow_in`` a
    sitecustomize.py written there hides TensorFlow. The plugin-selection
    variables of the calling environment are dropped.
    """
    return make_child_env


def make_child_env(*, block_tensorflow_in: Path | None = None, **extra: str) -> dict[str, str]:
    paths = [str(REPO_DIR)]
    if block_tensorflow_in is not None:
        block_tensorflow_in.mkdir(parents=True, exist_ok=True)
        (block_tensorflow_in / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
        paths.insert(0, str(block_tensorflow_in))
    env = dict(os.environ)
    for var in ("LSTM_COMPOSER_PLUGINS", "LSTM_COMPOSER_DISABLE"):
        env.pop(var, None)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    env.update(extra)
    return env
