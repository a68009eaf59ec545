"""What a new user hit when training (issue 12: items 1, 2, 4, 5, 6, 8, 10), each reproduced for real.

* a run folder that cannot be created or written: a real read-only folder (``chattr +i``,
  which stops root too; the tests run as root, which ignores permission bits) and a path
  under a regular file: one line naming the path, exit 1, nothing left behind;
* no TensorFlow / no pillow: the command runs in a subprocess whose ``sitecustomize`` blocks
  those imports (``sys.modules[name] = None``, what Python itself does for a module that
  cannot be imported), a stand-in for the plain install that costs no second venv;
* Ctrl-C: a real training subprocess interrupted with SIGINT;
* a tiny corpus: validation by piece with a floor, or a plain "training loss" everywhere;
* an interrupt costs minutes: a resumable snapshot every ``--save-every``, resumed after SIGKILL.
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

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "german_folk"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} not present")

TINY_CLI = ["--lstm-units", "16,8", "--dense-units", "8", "--embedding-dim", "4", "--seq-len", "16",
            "--batch-size", "8", "--samples", "2", "--sample-events", "24"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for f in sorted(CORPUS.glob("*.mid"))[:8]:
        shutil.copy(f, root / f.name)
    return root


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lstm_composer_plugin.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def read_only(tmp_path):
    """An empty folder that nobody, root included, can write into (the immutable attribute)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def blocker(tmp_path: Path, *modules: str) -> dict[str, str]:
    """Environment for a subprocess in which ``modules`` cannot be imported."""
    site = tmp_path / "block"
    site.mkdir(exist_ok=True)
    lines = ["import sys"] + [f"sys.modules[{m!r}] = None" for m in modules]
    (site / "sitecustomize.py").write_text("\n".join(lines) + "\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}


# -- 1, 2: a run folder that cannot be written ------------------------------------------


@pytest.mark.tf  # without the train extra, train stops at that check first (tested below)
def test_out_folder_under_a_read_only_parent_is_one_line(corpus, read_only):
    out = read_only / "run"
    proc = cli("train", str(corpus), "--style", "folk", "--out", str(out), *TINY_CLI)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert str(out) in line and "cannot write the run folder" in line and "not permitted" in line
    assert "Traceback" not in proc.stderr and list(read_only.iterdir()) == []


@pytest.mark.tf  # without the train extra, train stops at that check first (tested below)
def test_read_only_run_folder_is_one_line(corpus, read_only):
    proc = cli("train", str(corpus), "--style", "folk", "--out", str(read_only), *TINY_CLI)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert str(read_only) in line and "cannot write the run folder" in line
    assert list(read_only.iterdir()) == []  # no run.json, no temporary file


@pytest.mark.tf  # without the train extra, train stops at that check first (tested below)
def test_out_folder_under_a_file_is_one_line_and_nothing_is_created(corpus, tmp_path):
    (tmp_path / "plain.txt").write_text("not a folder")
    out = tmp_path / "plain.txt" / "runs" / "folk"
    proc = cli("train", str(corpus), "--style", "folk", "--out", str(out), *TINY_CLI)
    assert proc.returncode == 1
    assert "cannot write the run folder" in one_line(proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


@pytest.mark.tf  # without the train extra, train stops at that check first (tested below)
def test_a_failed_start_removes_the_folders_it_created(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "new" / "run"
    proc = cli("train", str(empty), "--style", "folk", "--out", str(out), *TINY_CLI)
    assert proc.returncode == 2 and "no readable MIDI files" in one_line(proc.stderr)
    assert not (tmp_path / "new").exists()


# -- 4, 5: the train extra missing -------------------------------------------------------------


def test_train_without_tensorflow_says_how_to_install_and_writes_nothing(corpus, tmp_path):
    out = tmp_path / "run"
    proc = cli("train", str(corpus), "--style", "folk", "--out", str(out), *TINY_CLI,
               env=blocker(tmp_path, "tensorflow", "keras"))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert "training needs tensorflow, keras" in line and "pip install 'lstm-composer-plugin[train]'" in line
    assert not out.exists()  # no run.json to refuse the next attempt


def test_train_report_without_pillow_says_so_before_writing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"style": "folk", "history": {"loss": [1.0]}, "checkpoints": []}))
    out = tmp_path / "report"
    proc = cli("train-report", str(run), str(out), env=blocker(tmp_path, "PIL"))
    assert proc.returncode == 1
    assert "train-report needs pillow" in one_line(proc.stderr)
    assert not out.exists()


# -- 6, 10: interrupts -------------------------------------------------------------------------


def _start(corpus: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lstm_composer_plugin.cli", "train", str(corpus), "--style", "folk", "--out",
           str(out), "--epochs", "500", *TINY_CLI, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for(predicate, proc: subprocess.Popen, seconds: float = 600) -> None:
    # Generous: on a loaded 2-core machine TensorFlow's import and first epochs take minutes.
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert predicate(), "the condition did not come true before the deadline"
    assert proc.poll() is None, "the run ended too early"


@pytest.mark.tf
def test_ctrl_c_says_what_was_saved_without_a_tensorflow_dump(corpus, tmp_path):
    pytest.importorskip("tensorflow")
    from lstm_composer_plugin.train import checkpoints as ck

    out = tmp_path / "run"
    proc = _start(corpus, out, "--checkpoint-every", "1", "--save-every", "1h")
    try:
        _wait_for(lambda: ck.latest_checkpoint(out) is not None, proc)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    said = stdout.splitlines()
    interrupted = [line for line in said if line.startswith("interrupted in epoch")]
    assert interrupted and "--resume" in interrupted[0], stdout
    assert stderr.strip() == "lstm-composer: interrupted"  # no "Object was never used" dump, no traceback


@pytest.mark.tf
def test_an_interrupt_costs_seconds_not_checkpoints(corpus, tmp_path):
    """Snapshots every --save-every, independent of --checkpoint-every; --resume continues from them."""
    pytest.importorskip("tensorflow")
    from lstm_composer_plugin.train import checkpoints as ck
    from lstm_composer_plugin.train.trainer import train

    out = tmp_path / "run"
    proc = _start(corpus, out, "--checkpoint-every", "1000", "--save-every", "1s")
    try:
        _wait_for(lambda: bool(ck.list_checkpoints(out, ck.SNAPSHOTS)) and
                  ck.list_checkpoints(out, ck.SNAPSHOTS)[-1][0] >= 3, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert ck.list_checkpoints(out) == []  # no checkpoint: only snapshots held the progress
    snaps = ck.list_checkpoints(out, ck.SNAPSHOTS)
    assert len(snaps) == 1  # the newest replaces the previous
    saved = ck.load_state(snaps[0][1])
    notices = []
    result = train(corpus, "folk", out, resume=True, epochs=saved.epoch + 1, say=notices.append)
    assert any(n.startswith(f"resuming from epoch {saved.epoch} ") for n in notices), notices
    assert result.epochs_run == saved.epoch + 1
    h = json.loads((out / "metrics.json").read_text())["history"]
    assert h["loss"][: saved.epoch] == pytest.approx(saved.history["loss"])


# -- 8: a tiny corpus --------------------------------------------------------------------------


@pytest.mark.tf
def test_tiny_corpus_validates_on_held_out_pieces(corpus, tmp_path):
    pytest.importorskip("tensorflow")
    from lstm_composer_plugin.train.trainer import train

    few = tmp_path / "few"
    few.mkdir()
    for f in sorted(corpus.glob("*.mid"))[:4]:
        shutil.copy(f, few / f.name)
    from lstm_composer_plugin.music.corpus import load_corpus
    from lstm_composer_plugin.train.settings import TrainSettings
    from lstm_composer_plugin.train.tokensets import piece_sizes

    out = tmp_path / "run"
    # A sequence longer than any one song: the held-out song is validated in a shorter chunk.
    seq_len = max(piece_sizes(TrainSettings(**_tiny()), load_corpus(few)))
    result = train(few, "folk", out, epochs=2, checkpoint_every=2, **_tiny(seq_len=seq_len))
    metrics = json.loads((out / "metrics.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert run["corpus"]["val_pieces"] and len(metrics["history"]["val_loss"]) == 2
    assert metrics["judged_on"] == "validation loss" and "validation loss" in result.reason


@pytest.mark.tf
def test_single_piece_is_judged_on_training_loss_and_says_so(corpus, tmp_path):
    pytest.importorskip("tensorflow")
    from lstm_composer_plugin.train.report import scorecard_markdown
    from lstm_composer_plugin.train.trainer import train

    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(sorted(corpus.glob("*.mid"))[0], one)
    notices = []
    result = train(one, "folk", tmp_path / "run", epochs=2, checkpoint_every=1, say=notices.append, **_tiny())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "val_loss" not in metrics["history"] and metrics["judged_on"] == "training loss"
    assert "training loss" in result.reason and "validation" not in result.reason
    assert any("chosen on training loss" in n for n in notices)
    card = scorecard_markdown(metrics, "run")
    assert "validation loss" not in card.split("| epoch |")[0]


def test_split_holds_out_more_pieces_until_one_sequence_fits():
    from lstm_composer_plugin.train.dataset import split_pieces

    names = [f"song{i}.mid" for i in range(12)]
    plain = split_pieces(names, 0.1)
    assert len(plain.val) == 1
    floored = split_pieces(names, 0.1, sizes=[40] * 12, min_val_tokens=101)
    assert len(floored.val) == 3 and set(plain.val) <= set(floored.val)  # the same hash order, extended
    capped = split_pieces(names, 0.1, sizes=[10] * 12, min_val_tokens=10_000)
    assert len(capped.val) == 3  # at most a quarter of the pieces: training keeps the bulk


def _tiny(**over):
    base = dict(lstm_units=[16, 8], dense_units=8, embedding_dim=4, seq_len=16, batch_size=8, samples=2,
                sample_events=24)
    return {**base, **over}


def test_the_scorecard_says_where_the_run_started():
    """Issue 21 item 3: a fine-tuned run's scorecard names its starting network (by its last part, not a path
    of the training machine) and its patience; the status says what stopped it."""
    from lstm_composer_plugin.train.report import scorecard_markdown

    base = {"style": "irish", "epochs_run": 7, "seconds": 204, "status": "no improvement", "checkpoints": []}
    tuned = scorecard_markdown({**base, "settings": {"init_from": "/root/runs/_corpus", "patience": 3,
                                                     "controls": "bar"}}, "runs/irish")
    assert "Start: the weights of `_corpus` (fine-tuned); patience 3 epochs." in tuned
    assert "status no improvement" in tuned and "/root" not in tuned
    assert "bar controls bar" in tuned
    # A run's shipped model file names its run, not the file every run ships ("model.lstmc").
    shipped = scorecard_markdown({**base, "settings": {"init_from": "/root/runs/_corpus/model.lstmc"}}, "runs/irish")
    assert "Start: the weights of `_corpus` (fine-tuned)" in shipped
    published = scorecard_markdown({**base, "settings": {"init_from": "/x/catalogue/models/corpus-e0009.lstmc"}}, "r")
    assert "Start: the weights of `corpus-e0009.lstmc` (fine-tuned)" in published
    scratch = scorecard_markdown({**base, "settings": {}}, "runs/irish")
    assert "Start: random weights (trained from scratch)." in scratch
