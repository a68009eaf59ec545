"""Helpers for store tests: stand-in model files, publishing onto the test server, fast options.

Plain functions (no fixtures) so test modules can import them; the fixtures live in
``tests.store_fixtures`` (``pytest_plugins = ["tests.store_fixtures"]``).
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_composer_plugin.modelfile import SUFFIX
from lstm_composer_plugin.models import APP, describe_model
from model_store import DownloadOptions, Store
from model_store.publish import PublishResult
from model_store.publish import publish as store_publish
from model_store.testing import StoreServer

REPO = Path(__file__).resolve().parent.parent

#: Environment variables that point a store somewhere; tests clear them for isolation.
STORE_ENV = (
    "LSTM_COMPOSER_HOME",
    "LSTM_COMPOSER_CATALOGUE",
    "LSTM_COMPOSER_OFFLINE",
    "LSTM_COMPOSER_ALLOW_INSECURE",
    "LSTM_COMPOSER_CONFIG_DIR",
)


def make_model(
    path: Path,
    style: str,
    epoch: int = 10,
    *,
    chosen: bool = True,
    payload: int = 48 * 1024,
    seed: int | None = None,
    title: str | None = None,
    description: str = "",
    quality: Any = None,
    model_id: str | None = None,
) -> Path:
    """A small stand-in ``.lstmc``: a zip with a model manifest and ``payload`` random bytes.

    Stored, not deflated, so the size is predictable; deterministic for a given seed.
    """
    rng = random.Random(seed if seed is not None else hash((style, epoch)) & 0xFFFF)
    manifest = {
        "format": "lstm-composer-model",
        "format_version": 1,
        "style": style,
        "title": title or style.title(),
        "description": description or f"{style} test model",
        "model_id": model_id or f"{style}-e{epoch:04d}",
        "epoch": epoch,
        "chosen": chosen,
        "quality": quality if quality is not None else {"val_loss": 1.5, "accuracy": 0.42},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo("manifest.json", date_time=(2020, 1, 1, 0, 0, 0))
        zf.writestr(info, json.dumps(manifest, sort_keys=True))
        info = zipfile.ZipInfo("arrays/weights.npy", date_time=(2020, 1, 1, 0, 0, 0))
        zf.writestr(info, rng.randbytes(payload))
    path.write_bytes(buf.getvalue())
    return path


def fast_options(**overrides: Any) -> DownloadOptions:
    """Download options for tests: short timeouts and back-off, small chunks."""
    opts = DownloadOptions(
        connect_timeout=2.0,
        read_timeout=2.0,
        retries=3,
        backoff=0.01,
        backoff_max=0.05,
        chunk_size=16 * 1024,
        lock_stall_timeout=5.0,
        progress_interval=0.0,
    )
    for k, v in overrides.items():
        setattr(opts, k, v)
    return opts


def make_store(home: Path, url: str | None, **kwargs: Any) -> Store:
    """A store as the plugin makes one: its ``.lstmc`` files described by ``describe_model``."""
    kwargs.setdefault("download_options", fast_options())
    kwargs.setdefault("describe", describe_model)
    kwargs.setdefault("app", APP)  # the plugin's names: $LSTM_COMPOSER_*, `lstm-composer models`
    return Store(home=home, catalogue_url=url, **kwargs)


def publish(models_dir: Path, out_dir: Path, **kwargs: Any) -> PublishResult:
    """``model_store.publish`` with the plugin's ``describe_model`` (the store reads no model)."""
    kwargs.setdefault("describe", describe_model)
    kwargs.setdefault("suffix", SUFFIX)
    return store_publish(models_dir, out_dir, **kwargs)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python that imports model_store and the test helpers."""
    env = dict(os.environ)
    paths = [str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


PYTHON = sys.executable


@dataclass
class Published:
    server: StoreServer
    url: str  # the catalogue (folder) URL
    result: PublishResult
    models_dir: Path

    def path(self, style: str) -> str:
        """URL path of a style's model file on the server, e.g. ``/models/bach-e0010.lstmc``."""
        for s in self.result.styles:
            if s.id == style:
                return "/models/" + s.file
        raise KeyError(style)

    def entry(self, style: str) -> dict[str, Any]:
        index = json.loads(self.result.index.read_text())
        return next(s for s in index["styles"] if s["id"] == style)


def publish_models(server: StoreServer, models_dir: Path, styles: dict[str, int] | None = None,
                   payload: int = 48 * 1024) -> Published:
    """Make one model per style (``{style: epoch}``) and publish them into the server's root."""
    for style, epoch in (styles or {"bach": 10, "jazz": 20, "folk": 5}).items():
        make_model(models_dir / style / f"{style}-e{epoch:04d}.lstmc", style, epoch,
                   payload=payload)
    result = publish(models_dir, server.root)
    return Published(server, server.url, result, models_dir)
