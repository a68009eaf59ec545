"""The LSTM plugin driven through the host, as the real host (or voc-host) drives it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lstm_composer_plugin.hooks as lstm_hooks
from hostapi import Host
from hostapi.results import ComposeOptions, Progress, TrainOptions
from lstm_composer_plugin.modelfile import SUFFIX
from lstm_composer_plugin.models import bundled_models, describe_model
from lstm_composer_plugin.music.midi import read_midi
from model_store.publish import publish
from model_store.testing import StoreServer
from tests.model_fixtures import have_tensorflow
from tests.plugins.dummy import DummyComposer

pytest_plugins = ["tests.model_fixtures"]

needs_bundled = pytest.mark.skipif("bach" not in bundled_models(), reason="no bundled bach model")


def lstm_host(*others: object) -> Host:
    return Host(plugins=[("lstm", lstm_hooks), *others], load_entry_points=False, env={})


@needs_bundled
def test_list_styles_shows_the_bundled_style():
    styles = {s.name: s for s in lstm_host().list_styles(offline=True)}
    assert styles["bach"].installed and not styles["bach"].needs_download
    assert styles["bach"].plugin == "lstm" and styles["bach"].source == "bundled"


@needs_bundled
def test_compose_bundled_style_to_a_midi_file(tmp_path):
    out = tmp_path / "bach.mid"
    result = lstm_host().compose("bach", ComposeOptions(out_path=out, length=80, seed=7, offline=True))
    assert result.path == out and result.plugin == "lstm" and result.seed == 7
    notes = read_midi(out).notes
    assert result.events == 80 and len(notes) >= 80
    assert result.duration_seconds > 0 and result.report["longest_repeat"] <= 8


def test_unknown_style_is_not_answered_by_the_lstm_plugin():
    from hostapi import NoAnswerError

    with pytest.raises(NoAnswerError):
        lstm_host().compose("no-such-style", ComposeOptions(offline=True))


@needs_bundled
def test_two_plugins_with_the_same_style_are_ordered_deterministically(tmp_path):
    dummy = DummyComposer(styles=("bach",))
    # The plugin registered last is asked first (pluggy's LIFO order, docs/hostapi.md).
    first = lstm_host(dummy).compose("bach", ComposeOptions(out_path=tmp_path / "a.mid", seed=1, offline=True))
    assert first.plugin == "dummy"
    host = Host(plugins=[dummy, ("lstm", lstm_hooks)], load_entry_points=False, env={})
    second = host.compose("bach", ComposeOptions(out_path=tmp_path / "b.mid", length=20, seed=1, offline=True))
    assert second.plugin == "lstm"
    assert host.call_order("compose") == ["lstm", "dummy"]
    assert {s.plugin for s in host.list_styles(offline=True) if s.name == "bach"} == {"lstm", "dummy"}


@pytest.mark.skipif(not have_tensorflow(), reason="training needs TensorFlow (the train extra)")
def test_train_a_tiny_model_through_the_host(tmp_path, corpus_dir):
    corpus = tmp_path / "songs"
    corpus.mkdir()
    for f in sorted((corpus_dir / "children").glob("*.mid"))[:12]:
        shutil.copy(f, corpus / f.name)
    seen: list[Progress] = []
    options = TrainOptions(
        epochs=2,
        checkpoint_every=1,
        extra={"lstm_units": [16, 16], "dense_units": 8, "embedding_dim": 8, "seq_len": 16, "samples": 2, "sample_events": 20},
    )
    result = lstm_host().train(corpus, "kids", tmp_path / "run", options, progress=seen.append)
    assert result.plugin == "lstm" and result.epochs_run == 2
    assert result.model_path is not None and result.model_path.is_file()
    assert result.recommended_epoch in (1, 2)
    assert [p.done for p in seen if p.stage == "train"][-1] == 2


@pytest.mark.skipif(not have_tensorflow(), reason="the test model is trained with TensorFlow")
def test_fetch_from_a_loopback_catalogue_then_compose(tmp_path, tiny_model, monkeypatch):
    """A style that is only in the catalogue: the first compose downloads it (with progress), then composes."""
    models = tmp_path / "models"
    models.mkdir()
    from lstm_composer_plugin.modelfile import load_model, save_model

    # The same real trained network, published under a style the package does not bundle.
    m = load_model(tiny_model)
    save_model(models / "irish.lstmc", {**m.manifest, "style": "irish", "title": "Irish (test)"}, m.arrays)
    with StoreServer(tmp_path / "www") as server:
        publish(models, server.root, describe=describe_model, suffix=SUFFIX)
        monkeypatch.setenv("LSTM_COMPOSER_CATALOGUE", server.url)
        host = lstm_host()
        styles = {s.name: s for s in host.list_styles()}
        assert styles["irish"].needs_download and not styles["irish"].installed
        seen: list[Progress] = []
        result = host.compose("irish", ComposeOptions(out_path=tmp_path / "irish.mid", length=40, seed=3), progress=seen.append)
        assert read_midi(result.path).notes
        downloads = [p for p in seen if p.stage == "download"]
        assert downloads and downloads[-1].done == downloads[-1].total
        # Installed now: offline composing works and the server is not asked again.
        before = server.count()
        host.compose("irish", ComposeOptions(out_path=tmp_path / "again.mid", length=20, seed=3, offline=True))
        assert server.count() == before
        assert {s.name: s for s in host.list_styles(offline=True)}["irish"].installed


@needs_bundled
def test_voc_host_compose_and_models_through_the_entry_point(tmp_path):
    """The console host, in a fresh process, finds the plugin by its entry point."""
    env_cmd = [sys.executable, "-m", "hostapi.cli"]
    out = tmp_path / "x.mid"
    proc = subprocess.run([*env_cmd, "compose", "bach", "-o", str(out), "--length", "30", "--offline", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert Path(data["path"]) == out and out.is_file() and data["plugin"] == "lstm"
    proc = subprocess.run([*env_cmd, "models", "list", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "bach" in proc.stdout


@pytest.mark.skipif(not have_tensorflow(), reason="training needs TensorFlow (the train extra)")
def test_voc_host_train_with_a_time_budget_installs_the_style_and_it_composes(tmp_path, corpus_dir):
    """What the window's Train does, headless: a time budget, the metrics in each epoch's progress, --install."""
    corpus = tmp_path / "songs"
    corpus.mkdir()
    for f in sorted((corpus_dir / "children").glob("*.mid"))[:6]:
        shutil.copy(f, corpus / f.name)
    env = {**os.environ, "LSTM_COMPOSER_HOME": str(tmp_path / "store"), "LSTM_COMPOSER_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hostapi.cli", "train", str(corpus), "--style", "kids",
                           "--out", str(tmp_path / "run"), "--time-budget", "15s", "--checkpoint-every", "1",
                           "--install"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "trained kids by lstm" in proc.stdout and "installed kids" in proc.stdout, proc.stdout
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["settings"]["time_budget"] == 15
    out = tmp_path / "kids.mid"
    composed = subprocess.run([sys.executable, "-m", "hostapi.cli", "compose", "kids", "-o", str(out), "--seed", "1",
                               "--length", "30"], capture_output=True, text=True, env=env, timeout=300)
    assert composed.returncode == 0, composed.stderr
    assert read_midi(out).notes
    # Each finished epoch's report carries its figures (the window draws its curve from them).
    seen: list[Progress] = []
    options = TrainOptions(epochs=1, checkpoint_every=1, extra={"lstm_units": [16, 16], "dense_units": 8,
                                                                "embedding_dim": 8, "seq_len": 16, "samples": 1,
                                                                "sample_events": 20})
    lstm_host().train(corpus, "kids2", tmp_path / "run2", options, progress=seen.append)
    ends = [p for p in seen if p.metrics]
    assert len(ends) == 1 and ends[0].metrics["epoch"] == 1 and {"loss", "val_loss"} <= set(ends[0].metrics)
    # The checkpoint's sample is handed to the host as a file to show, after that epoch's figures.
    rolls = [(p.done, f) for p in seen for f in p.files]
    assert rolls == [(1, tmp_path / "run2" / "checkpoints" / "epoch_0001" / "sample.png")]
    assert rolls[0][1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert seen.index(ends[0]) < next(i for i, p in enumerate(seen) if p.files)
