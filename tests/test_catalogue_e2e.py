"""The user's whole path against the project's published catalogue (``catalogue/``).

Served from 127.0.0.1 by a real HTTP server, driven through ``voc-host`` in fresh processes
(the plugin found by its entry point), with a fresh, empty model store:

    fresh store → styles: the bundled style installed, every other one downloadable
    → compose irish: fetched on first use, with a progress bar on the terminal
    → models pack: every style installed from the one file
    → offline, server gone: every style still composes
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from lstm_composer_plugin.models import bundled_models
from lstm_composer_plugin.music.midi import read_midi
from model_store.testing import StoreServer

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "catalogue"
VOC_HOST = [sys.executable, "-m", "hostapi.cli"]


@pytest.fixture
def index() -> dict:
    assert (CATALOGUE / "index.json").is_file(), "catalogue/ is missing: see docs/catalogue.md"
    return json.loads((CATALOGUE / "index.json").read_text())


def voc_host(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*VOC_HOST, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"voc-host {' '.join(args)}: {proc.stderr}"
    return proc


def on_a_terminal(*args: str, env: dict[str, str]) -> tuple[str, str]:
    """Run voc-host with stderr on a pseudo-terminal (as a user sees it): (stdout, terminal text)."""
    main, sub = pty.openpty()
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([*VOC_HOST, *args], stdout=subprocess.PIPE, stderr=sub, env=env)
    os.close(sub)
    screen = b""
    while True:
        try:
            data = os.read(main, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        screen += data
    os.close(main)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, screen.decode(errors="replace")
    return out.decode(), screen.decode(errors="replace")


def test_catalogue_lists_at_least_eight_trained_styles(index):
    styles = {s["id"]: s for s in index["styles"]}
    assert len(styles) >= 8
    assert set(bundled_models()) <= set(styles)  # the bundled model is in the pack too
    members = {m["style"]: m for m in index["pack"]["members"]}
    assert members.keys() == styles.keys()
    for sid, s in styles.items():
        path = CATALOGUE / "models" / s["file"]
        assert path.stat().st_size == s["size"] == members[sid]["size"], sid
        assert s["epoch"] and s["title"] != sid and s["quality"], sid  # trained, described, scored
    assert (CATALOGUE / index["pack"]["url"]).stat().st_size == index["pack"]["size"]
    # Nothing stale accumulates: exactly the files the index names.
    assert sorted(p.name for p in (CATALOGUE / "models").iterdir()) == sorted(s["file"] for s in styles.values())
    assert [p.name for p in (CATALOGUE / "pack").iterdir()] == [Path(index["pack"]["url"]).name]


def test_users_path_fresh_store_lazy_fetch_pack_offline(index, tmp_path):
    styles = sorted(s["id"] for s in index["styles"])
    bundled = set(bundled_models())
    lazy = "irish"
    assert lazy in styles and lazy not in bundled
    with StoreServer(CATALOGUE) as server:
        env = {**os.environ, "LSTM_COMPOSER_HOME": str(tmp_path / "store"),
               "LSTM_COMPOSER_CATALOGUE": server.url, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        env.pop("LSTM_COMPOSER_OFFLINE", None)

        # 1. A fresh store: the bundled style is ready, every other one is downloadable.
        listed = {s["name"]: s for s in json.loads(voc_host("styles", "--json", env=env).stdout)}
        assert sorted(listed) == styles
        for sid, s in listed.items():
            assert s["installed"] == (sid in bundled) and s["needs_download"] == (sid not in bundled), s
        table = voc_host("styles", env=env).stdout
        assert all(sid in table for sid in styles) and "download" in table
        assert server.count("/" + index["pack"]["url"]) == 0  # listing downloads no model

        # 2. Compose irish: the model is fetched on first use, with progress, then composed.
        server.reset_log()
        out = tmp_path / "irish.mid"
        stdout, screen = on_a_terminal("compose", lazy, "-o", str(out), "--seed", "7", "--json", env=env)
        result = json.loads(stdout)
        entry = next(s for s in index["styles"] if s["id"] == lazy)
        assert result["style"] == lazy and result["model_id"] == entry["version"]
        assert "download" in screen and "100%" in screen  # the download bar reached its end
        assert "compose" in screen
        assert len(read_midi(out).notes) > 50
        assert server.count("/" + entry["url"]) == 1
        # A download re-reads the index first (so it gets the current sha256), then the one model.
        assert [r.path for r in server.requests()] == ["/index.json", "/" + entry["url"]]

        # 3. The pack installs everything else at once.
        pack = json.loads(voc_host("models", "pack", "--json", env=env).stdout)
        assert pack["ok"] and sorted(pack["data"]["installed"] + pack["data"]["skipped"]) == styles
        assert lazy in pack["data"]["skipped"]
        assert server.count("/" + index["pack"]["url"]) == 1
        listed = {s["name"]: s for s in json.loads(voc_host("styles", "--json", env=env).stdout)}
        assert all(s["installed"] and not s["needs_download"] for s in listed.values())

    # 4. Offline, with the server gone: every style composes from the store.
    env["LSTM_COMPOSER_OFFLINE"] = "1"
    for sid in styles:
        out = tmp_path / f"{sid}-offline.mid"  # irish.mid exists: composing never overwrites
        result = json.loads(voc_host("compose", sid, "-o", str(out), "--seed", "1", "--length", "200",
                                     "--json", env=env).stdout)
        assert result["style"] == sid and result["events"] == 200
        assert len(read_midi(out).notes) >= 100, sid
