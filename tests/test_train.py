"""Training end to end on a slice of the shared corpus, with a tiny network (seconds per epoch).

Covers: checkpoints, PNGs, GIF, metrics.json and the exported models appear; a
corrupt MIDI file is skipped; a SIGKILLed run resumes and continues its epoch
count; an exploding loss stops the run and keeps the last good checkpoint;
``--epoch N`` re-picks without training; the reference recipe runs too.
These run the event encoding (``encoding="events"``, the previous default, still available);
the note encoding, now the default, is covered by ``test_train_notes.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"
STYLE_DIR = CORPUS / "german_folk"  # short tunes: a dozen make a corpus of ~700 events

pytestmark = [
    pytest.mark.tf,
    pytest.mark.skipif(not STYLE_DIR.is_dir(), reason=f"{STYLE_DIR} not present"),
]
pytest.importorskip("tensorflow")

from lstm_composer_plugin.errors import UsageError  # noqa: E402
from lstm_composer_plugin.modelfile import load_model, read_manifest  # noqa: E402
from lstm_composer_plugin.train import checkpoints as ck  # noqa: E402
from lstm_composer_plugin.train.trainer import train  # noqa: E402

TINY = dict(encoding="events", lstm_units=[32, 16], dense_units=16, embedding_dim=8, seq_len=16, batch_size=8,
            samples=4, sample_events=40)
TINY_CLI = ["--encoding", "events", "--lstm-units", "32,16", "--dense-units", "16", "--embedding-dim", "8", "--seq-len", "16",
            "--batch-size", "8", "--samples", "4", "--sample-events", "40"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Twelve tunes and two files that are not MIDI at all."""
    root = tmp_path_factory.mktemp("corpus")
    for f in sorted(STYLE_DIR.glob("*.mid"))[:12]:
        shutil.copy(f, root / f.name)
    (root / "garbage.mid").write_bytes(np.random.default_rng(0).bytes(2000))
    (root / "truncated.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\xff")
    return root


def history(out: Path) -> dict:
    return json.loads((out / ck.METRICS_FILE).read_text())["history"]


def test_train_writes_checkpoints_graphs_gif_metrics_and_model(corpus, tmp_path):
    out = tmp_path / "run"
    progress = []
    result = train(corpus, "folk", out, epochs=4, checkpoint_every=2, progress=progress.append, **TINY)

    assert result.epochs_run == 4 and result.model_path == out / "model.lstmc"
    # One report with the epoch's figures at the end of each epoch; between them, about once a second, the
    # share of the epoch done (what a host's bar shows, and where its Cancel is heard).
    assert [p.done for p in progress if p.metrics] == [1, 2, 3, 4] and progress[-1].total == 4
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert all(p.metrics["epoch"] == p.done and "loss" in p.metrics for p in progress if p.metrics)
    last_epoch = [p for p in progress if p.metrics][-1]
    assert "loss" in last_epoch.message and "ETA" in last_epoch.message
    # After each checkpoint, its sample's piano roll is handed over as a file the host may show.
    assert progress[-1].files and progress[-1].files[0].name == "sample.png" and progress[-1].done == last_epoch.done
    for epoch in (2, 4):
        d = ck.checkpoint_dir(out, epoch)
        for name in ("state.keras", "model.lstmc", "graphs.png", "metrics.json", "state.json"):
            assert (d / name).stat().st_size > 0, name
        m = read_manifest(d / "model.lstmc")
        assert m["epoch"] == epoch and m["chosen"] is False
    assert (out / "graphs.png").read_bytes()[:4] == b"\x89PNG"
    from PIL import Image

    with Image.open(out / "training.gif") as gif:
        assert gif.n_frames >= 2  # a frame per checkpoint (Pillow merges identical final frames)

    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]["val_loss"]) == 4
    assert [c["epoch"] for c in metrics["checkpoints"]] == [2, 4]
    card = metrics["checkpoints"][0]
    assert len(card["samples"]) == 4
    assert {"longest_run", "distinct_per_100", "copy_run", "ngram_share", "pitch_class_distance"} <= set(card["summary"])
    assert metrics["choice"]["epoch"] == result.recommended_epoch and metrics["choice"]["reason"]

    # The corrupt files were skipped with a reason, the rest trained.
    run = json.loads((out / "run.json").read_text())
    assert sorted(Path(s["path"]).name for s in run["corpus"]["skipped"]) == ["garbage.mid", "truncated.mid"]
    assert len(run["corpus"]["train_pieces"]) + len(run["corpus"]["val_pieces"]) == 12

    mf = load_model(out / "model.lstmc")
    man = mf.manifest
    assert man["chosen"] is True and man["epoch"] == result.recommended_epoch
    assert man["choice"]["epoch"] == result.recommended_epoch and man["choice"]["auto"] is True
    assert man["model_id"] == f"folk-e{man['epoch']:04d}"
    assert set(man["corpus"]) >= {"fingerprint", "files", "train_pieces", "val_pieces"}
    assert not set(man["corpus"]["train_pieces"]) & set(man["corpus"]["val_pieces"])
    assert len(man["stats"]["pitch_class_hist"]) == 12 and man["stats"]["opening_counts"]
    assert man["quality"]["val_loss"] is not None and "ngram_share" in man["quality"]
    assert [c["epoch"] for c in man["metrics"]["checkpoints"]] == [2, 4]
    assert mf.arrays["corpus.offsets"].shape == (len(man["corpus"]["train_pieces"]) + 1,)
    assert mf.arrays["lstm_0.kernel"].dtype == np.float16

    # The exported file composes with NumPy alone.
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.compose.sampling import sample_tokens

    tokens = sample_tokens(NumpyNetwork.from_model(mf), 20, seed=1)
    assert len(tokens[0]) == 20

    # --epoch N on the finished run re-picks without training; an epoch without a checkpoint is refused.
    other = 4 if result.recommended_epoch == 2 else 2
    again = train(corpus, "folk", out, epoch=other)
    assert again.epochs_run == 4 and again.recommended_epoch == result.recommended_epoch
    man = read_manifest(out / "model.lstmc")
    assert man["epoch"] == other and man["chosen"] and man["choice"]["auto"] is False
    assert f"--epoch {other}" in man["choice"]["reason"]
    assert json.loads((out / "metrics.json").read_text())["choice"]["epoch"] == other
    # "auto" goes back to the recommendation (what a changed rule would pick), marked automatic again.
    auto = train(corpus, "folk", out, epoch="auto")
    man = read_manifest(out / "model.lstmc")
    assert man["epoch"] == auto.recommended_epoch == result.recommended_epoch and man["choice"]["auto"] is True
    train(corpus, "folk", out, epoch=other)  # the user's pick again, for the report below
    with pytest.raises(UsageError, match="no checkpoint at that epoch"):
        train(corpus, "folk", out, epoch=3)
    with pytest.raises(UsageError, match="already holds a training run"):
        train(corpus, "folk", out, epochs=2)

    # The run's report for the docs, through the command line.
    report = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "lstm_composer_plugin.cli", "train-report", str(out), str(report),
                           "--label", "runs/folk"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in report.iterdir()) == ["graphs.png", "metrics.json", "scorecard.md", "training.gif"]
    card = (report / "scorecard.md").read_text()
    assert f"Chosen by the user: epoch **{other}**" in card and "`runs/folk` (4 epochs" in card
    rows = [line.split("|")[1].strip() for line in card.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == ["2", "4"]  # header, then one row per checkpoint
    assert f"| {other} |" in card and "**chosen**" in card
    slim = json.loads((report / "metrics.json").read_text())
    assert slim["history"] == metrics["history"] and all("samples" not in c for c in slim["checkpoints"])
    proc = subprocess.run([sys.executable, "-m", "lstm_composer_plugin.cli", "train-report", str(tmp_path), str(report)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "metrics.json: no such file" in proc.stderr


def test_killed_run_resumes_and_continues_its_epochs(corpus, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lstm_composer_plugin.cli", "train", str(corpus), "--style", "folk",
           "--out", str(out), "--epochs", "200", "--checkpoint-every", "2", *TINY_CLI]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 90
        while ck.latest_checkpoint(out) is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert ck.latest_checkpoint(out) is not None, "no checkpoint before the deadline"
        time.sleep(1.0)  # well into the next epochs
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    latest = ck.latest_checkpoint(out)
    saved = ck.load_state(latest)
    assert saved.epoch >= 2
    target = saved.epoch + 2
    result = train(corpus, "folk", out, resume=True, epochs=target)

    assert result.epochs_run == target
    h = history(out)
    assert len(h["loss"]) == target
    assert h["loss"][: saved.epoch] == pytest.approx(saved.history["loss"])  # the same history, continued
    epochs = [e for e, _ in ck.list_checkpoints(out)]
    assert epochs[-1] == target and saved.epoch in epochs
    assert not list((out / "checkpoints").glob("*.partial"))
    assert read_manifest(out / "model.lstmc")["chosen"] is True


def test_exploding_loss_stops_and_keeps_the_last_good_checkpoint(corpus, tmp_path):
    out = tmp_path / "run"
    train(corpus, "folk", out, epochs=2, checkpoint_every=1, **TINY)
    # Resume with an absurd learning rate: the next epoch blows up.
    result = train(corpus, "folk", out, resume=True, epochs=10, learning_rate=1e5)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "fault"
    assert metrics["fault"]["epoch"] == 3 and metrics["fault"]["last_good_checkpoint"] == 2
    assert result.epochs_run == 3
    assert [e for e, _ in ck.list_checkpoints(out)] == [1, 2]
    assert result.recommended_epoch in (1, 2)
    assert read_manifest(out / "model.lstmc")["epoch"] == result.recommended_epoch


def test_reference_recipe_runs_through_the_same_pipeline(corpus, tmp_path):
    out = tmp_path / "run"
    result = train(corpus, "folk", out, recipe="reference", epochs=1, checkpoint_every=1,
                   **{**TINY, "batch_size": 64})
    man = read_manifest(result.model_path)
    assert man["network"]["recipe"] == "reference" and man["network"]["input"] == "scalar"
    assert man["layers"][0]["type"] == "scalar"


def test_bad_settings_and_resume_without_run_are_usage_errors(corpus, tmp_path):
    with pytest.raises(UsageError, match="nothing to resume"):
        train(corpus, "folk", tmp_path / "none", resume=True)
    with pytest.raises(UsageError, match="recipe"):
        train(corpus, "folk", tmp_path / "x", recipe="fast")
    with pytest.raises(UsageError, match="unknown training setting"):
        train(corpus, "folk", tmp_path / "x", colour="blue")
