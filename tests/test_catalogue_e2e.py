"""The user's whole path against the project's published catalogue (``catalogue/``).

git holds the catalogue's models and its ``index.json`` only; the pack is built, not committed.
So the test first does what a maintainer does: copies ``index.json`` and ``models/`` into a
temporary folder and rebuilds the pack there with the real command
(``lstm-composer models publish DIR/models DIR --pack``), which must give the very bytes the
committed index records. It then serves that folder from 127.0.0.1 with a real HTTP server and
drives ``voc-host`` in fresh processes (the plugin found by its entry point), with fresh stores:

    rebuilt pack = the committed index's sha256 and size; index.json unchanged by publishing
    → fresh store: the bundled styles installed, every other one downloadable
    → compose one style: fetched on first use, with a progress bar on the terminal
    → fetch every style (each download verified against its sha256), verify, and compose a
      few seconds of each: a real MIDI file with notes, from the downloaded model
    → another fresh store: the pack installs every style at once
    → offline, server gone: the installed styles verify and compose

No style name or count is written here: the test covers whatever the committed index lists.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import shutil
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
LSTM_COMPOSER = [sys.executable, "-m", "lstm_composer_plugin.cli"]
SECONDS = "4"  # of music composed per style: enough for notes in every style, ~1 s of work


def clean_env(**extra: str) -> dict[str, str]:
    """The child's environment: no store, catalogue or reproducible-build settings of the caller."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LSTM_COMPOSER_") and k != "SOURCE_DATE_EPOCH"}
    return {**env, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", **extra}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@pytest.fixture(scope="module")
def index() -> dict:
    assert (CATALOGUE / "index.json").is_file(), "catalogue/ is missing: see docs/catalogue.md"
    return json.loads((CATALOGUE / "index.json").read_text())


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> tuple[Path, dict]:
    """The catalogue as git holds it (index.json and models/), its pack rebuilt in place by
    ``models publish``: (the folder, the command's JSON answer)."""
    root = tmp_path_factory.mktemp("served") / "catalogue"
    root.mkdir()
    shutil.copy2(CATALOGUE / "index.json", root / "index.json")
    shutil.copytree(CATALOGUE / "models", root / "models")
    home = tmp_path_factory.mktemp("publish-home")
    proc = subprocess.run(
        [*LSTM_COMPOSER, "models", "publish", str(root / "models"), str(root), "--pack", "--json"],
        capture_output=True, text=True, timeout=300,
        env=clean_env(LSTM_COMPOSER_HOME=str(home), LSTM_COMPOSER_CONFIG_DIR=str(home / "config")),
    )
    assert proc.returncode == 0, f"models publish: {proc.stderr}"
    return root, json.loads(proc.stdout)


def voc_host(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*VOC_HOST, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"voc-host {' '.join(args)}: {proc.stderr}"
    return proc


def voc_json(*args: str, env: dict[str, str]) -> dict | list:
    return json.loads(voc_host(*args, "--json", env=env).stdout)


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


def assert_composed(result: dict, out: Path, entry: dict) -> None:
    """A real MIDI file of a few seconds with notes, made by the catalogue's model of the style."""
    sid = entry["id"]
    assert result["style"] == sid and result["model_id"] == entry["version"], result
    piece = read_midi(out)
    assert len(piece.notes) >= 4 and len({n.pitch for n in piece.notes}) >= 2, sid
    assert 1.0 <= piece.seconds <= 60.0 and result["duration_seconds"] > 1.0, (sid, piece.seconds)


def test_the_committed_catalogue_is_the_models_and_the_index(index):
    styles = {s["id"]: s for s in index["styles"]}
    assert len(styles) >= 1
    assert set(bundled_models()) <= set(styles)  # the bundled models are in the pack too
    members = {m["style"]: m for m in index["pack"]["members"]}
    assert members.keys() == styles.keys()
    for sid, s in styles.items():
        path = CATALOGUE / "models" / s["file"]
        assert path.stat().st_size == s["size"] == members[sid]["size"], sid
        assert s["epoch"] and s["title"] != sid and s["quality"], sid  # trained, described, scored
    # Nothing stale accumulates: exactly the files the index names.
    assert sorted(p.name for p in (CATALOGUE / "models").iterdir()) == sorted(s["file"] for s in styles.values())
    # The pack is built, not stored: ignored by git, and not tracked (each model is in git once).
    pack_dir = CATALOGUE / "pack"
    if pack_dir.is_dir():  # a local rebuild: only the pack the index names
        assert [p.name for p in pack_dir.iterdir()] == [Path(index["pack"]["url"]).name]
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the pack's absence from git cannot be checked")
    git = ["git", "-C", str(REPO)]
    ignored = subprocess.run([*git, "check-ignore", "-q", "--no-index", "catalogue/pack/x.tar"])
    assert ignored.returncode == 0, "catalogue/pack/ must be in .gitignore"
    tracked = subprocess.run([*git, "ls-files", "catalogue/pack"], capture_output=True, text=True)
    assert tracked.stdout == "", f"the pack is committed (git rm --cached it): {tracked.stdout}"


def test_the_pack_rebuilds_byte_for_byte_from_the_committed_models(index, rebuilt):
    root, answer = rebuilt
    pack = root / index["pack"]["url"]
    assert pack.is_file(), f"publish named {answer['data']['pack']}, the index {index['pack']['url']}"
    assert (pack.stat().st_size, sha256(pack)) == (index["pack"]["size"], index["pack"]["sha256"])
    assert (answer["data"]["pack_size"], answer["data"]["pack_sha256"]) == (
        index["pack"]["size"], index["pack"]["sha256"])
    # Publishing again wrote what git holds: the committed index is what publish makes of the models.
    assert (root / "index.json").read_bytes() == (CATALOGUE / "index.json").read_bytes()
    assert sorted(p.name for p in (root / "models").iterdir()) == sorted(
        p.name for p in (CATALOGUE / "models").iterdir())


def test_every_style_downloads_verifies_and_composes(index, rebuilt, tmp_path):
    root, _ = rebuilt
    entries = {s["id"]: s for s in index["styles"]}
    styles = sorted(entries)
    bundled = set(bundled_models())
    lazy = next((s for s in styles if s not in bundled), None)
    assert lazy is not None, "every catalogue style is bundled: nothing to download"
    pack_url = "/" + index["pack"]["url"]
    with StoreServer(root) as server:
        env = clean_env(LSTM_COMPOSER_HOME=str(tmp_path / "store"),
                        LSTM_COMPOSER_CONFIG_DIR=str(tmp_path / "config"),
                        LSTM_COMPOSER_CATALOGUE=server.url)

        # 1. A fresh store: the bundled styles are ready, every other one is downloadable.
        listed = {s["name"]: s for s in voc_json("styles", env=env)}
        assert set(listed) >= set(styles) and len(listed) >= len(styles) >= 1
        for sid in styles:
            s = listed[sid]
            assert s["installed"] == (sid in bundled) and s["needs_download"] == (sid not in bundled), s
        table = voc_host("styles", env=env).stdout
        assert all(sid in table for sid in styles) and "download" in table
        assert {r.path for r in server.requests(method=None)} <= {"/index.json"}  # no model fetched

        # 2. Compose one style: the model is fetched on first use, with progress, then composed.
        server.reset_log()
        out = tmp_path / f"{lazy}.mid"
        stdout, screen = on_a_terminal("compose", lazy, "-o", str(out), "--seed", "7",
                                       "--seconds", SECONDS, "--json", env=env)
        assert "download" in screen and "100%" in screen  # the download bar reached its end
        assert "compose" in screen
        assert_composed(json.loads(stdout), out, entries[lazy])
        # A download re-reads the index first (so it gets the current sha256), then the one model.
        assert [r.path for r in server.requests()] == ["/index.json", "/" + entries[lazy]["url"]]

        # 3. Every style downloads, each file checked against the index's size and sha256.
        fetched = voc_json("models", "fetch", "--all", env=env)
        assert fetched["ok"] and not fetched["data"]["errors"]
        assert sorted(f["style"] for f in fetched["data"]["fetched"]) == styles
        for sid in styles:  # once each, bundled ones too; the lazy one was not fetched again
            assert server.count("/" + entries[sid]["url"]) == 1, sid
        verified = voc_json("models", "verify", env=env)
        assert verified["ok"] and all(r["ok"] for r in verified["data"]["results"])
        in_store = {r["style"]: r for r in verified["data"]["results"] if r["source"] == "store"}
        assert sorted(in_store) == styles
        assert all(in_store[s]["version"] == entries[s]["version"] for s in styles)
        assert server.count(pack_url) == 0

        # 4. Each style composes a few seconds of music from its downloaded model.
        for seed, sid in enumerate(styles, start=1):
            out = tmp_path / f"{sid}-{seed}.mid"
            result = voc_json("compose", sid, "-o", str(out), "--seed", str(seed),
                              "--seconds", SECONDS, env=env)
            assert_composed(result, out, entries[sid])
            assert Path(result["report"]["model_path"]).is_relative_to(tmp_path / "store"), sid

        # 5. Another fresh store: the pack installs every style at once.
        env["LSTM_COMPOSER_HOME"] = str(tmp_path / "store2")
        pack = voc_json("models", "pack", env=env)
        assert pack["ok"] and sorted(pack["data"]["installed"] + pack["data"]["skipped"]) == styles
        assert set(pack["data"]["skipped"]) <= bundled  # only a bundled copy makes a member unneeded
        assert server.count(pack_url) == 1
        listed = {s["name"]: s for s in voc_json("styles", env=env)}
        assert all(listed[s]["installed"] and not listed[s]["needs_download"] for s in styles)

    # 6. Offline, with the server gone: everything the pack installed verifies and composes.
    env["LSTM_COMPOSER_OFFLINE"] = "1"
    verified = voc_json("models", "verify", env=env)
    assert verified["ok"]
    assert sorted(r["style"] for r in verified["data"]["results"] if r["source"] == "store") == sorted(
        pack["data"]["installed"])
    out = tmp_path / f"{lazy}-offline.mid"
    result = voc_json("compose", lazy, "-o", str(out), "--seed", "1", "--seconds", SECONDS, env=env)
    assert_composed(result, out, entries[lazy])
    assert Path(result["report"]["model_path"]).is_relative_to(tmp_path / "store2")
