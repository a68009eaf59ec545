"""``lstm-composer train-all``: the plan of a corpus's jobs, their command lines, and running them here.

The planning tests use real MIDI files in temporary style folders and real run-folder states
(``run.json``, ``model.lstmc``); the ``tf`` tests run ``lstm-composer train-all`` as a child
process on a tiny two-style corpus: failed jobs, then a whole run with pre-training, a second
run that skips everything, and a resumed style.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstm_composer_plugin.cli import main
from lstm_composer_plugin.train import jobs as J
from lstm_composer_plugin.train.jobrunner import JOB_MEMORY, auto_parallel, available_memory
from tests.midi_bytes import off, on, scale, smf, tempo, track

REPO = Path(__file__).resolve().parents[1]
GiB = 2**30


def melody(seed: int, n: int = 40) -> bytes:
    """A type-0 file of one seeded melody: steps in C major, quarters and eighths."""
    rng = random.Random(seed)
    steps = [0, 2, 4, 5, 7, 9, 11]
    degree = 7
    events: list[tuple[int, bytes]] = [(0, tempo(100))]
    for _ in range(n):
        degree = min(13, max(0, degree + rng.choice([-2, -1, -1, 1, 1, 2])))
        pitch = 48 + 12 * (degree // 7) + steps[degree % 7]  # degree 7 is middle C
        events += [(0, on(pitch)), (rng.choice([240, 480, 480]), off(pitch))]
    return smf([track(events)], fmt=0)


def make_corpus(root: Path, styles: dict[str, int], *, notes: int = 40) -> Path:
    """``root/<style>/pieceN.mid`` with ``styles[style]`` pieces each."""
    for k, (style, count) in enumerate(styles.items()):
        (root / style).mkdir(parents=True)
        for i in range(count):
            (root / style / f"piece{i}.mid").write_bytes(melody(100 * k + i, notes))
    return root


def cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- planning ---------------------------------------------------------------------------------


def test_style_folders_are_the_subfolders_holding_midi_files_of_any_case(tmp_path):
    (tmp_path / "upper").mkdir()
    (tmp_path / "upper" / "A.MIDI").write_bytes(smf([track(scale(5))], fmt=0))
    (tmp_path / "nested" / "book1").mkdir(parents=True)
    (tmp_path / "nested" / "book1" / "x.Mid").write_bytes(smf([track(scale(5))], fmt=0))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.mid").write_bytes(smf([track(scale(5))], fmt=0))
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("not music")
    (tmp_path / "empty").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.mid").write_bytes(smf([track(scale(5))], fmt=0))
    (tmp_path / "loose.mid").write_bytes(smf([track(scale(5))], fmt=0))  # a file at the root is no style

    assert J.find_styles(tmp_path) == ["nested", "plain", "upper"]


def test_the_plan_pretrains_on_the_root_then_fine_tunes_each_style(tmp_path):
    root = make_corpus(tmp_path / "corpus", {"bach": 2, "my_tunes": 2}, notes=8)
    out = tmp_path / "runs"
    jobs = J.plan(root, out)

    assert [(j.stage, j.style, j.state) for j in jobs] == [
        ("pretrain", "corpus", "fresh"), ("styles", "bach", "fresh"), ("styles", "my_tunes", "fresh")]
    pre, bach, mine = jobs
    assert list(pre.argv) == ["train", str(root), "--style", "corpus", "--out", str(out / "_corpus"),
                              "--chunks-per-epoch", "1024", "--checkpoint-every", "3", "--samples", "2",
                              "--time-budget", "20m", "--title", "Whole corpus (pre-training)"]
    assert list(bach.argv) == ["train", str(root / "bach"), "--style", "bach", "--out", str(out / "bach"),
                               "--init-from", str(out / "_corpus"), "--lr", "0.001", "--time-budget", "16m",
                               "--title", "Bach chorales", "--description",
                               "J. S. Bach's four-part chorale harmonisations."]
    # a folder the table does not know is titled by its name, with no description
    assert mine.argv[-2:] == ("--title", "my_tunes") and "--description" not in mine.argv
    assert mine.out == out / "my_tunes" and mine.name == "my_tunes" and pre.name == "_corpus"
    assert mine.local_command()[:4] == [sys.executable, "-m", "lstm_composer_plugin.cli", "train"]


def test_every_style_of_the_shared_corpus_has_a_title_and_description(corpus_dir):
    styles = J.find_styles(corpus_dir)
    assert len(styles) >= 19
    assert set(styles) <= set(J.STYLE_TEXT)
    assert all(title and description.endswith(".") for title, description in J.STYLE_TEXT.values())


def test_states_come_from_the_run_folders(tmp_path):
    root = make_corpus(tmp_path / "corpus", {"a": 2, "b": 2, "c": 2}, notes=8)
    out = tmp_path / "runs"
    (out / "a").mkdir(parents=True)
    (out / "a" / "run.json").write_text("{}")  # started, never finished
    (out / "b").mkdir()
    (out / "b" / "run.json").write_text("{}")
    (out / "b" / "model.lstmc").write_bytes(b"model")  # finished
    (out / "c").mkdir()  # a folder alone is nothing yet
    states = {j.name: j.state for j in J.plan(root, out, pretrain=False)}
    assert states == {"a": J.INTERRUPTED, "b": J.DONE, "c": J.FRESH}

    jobs = {j.name: j for j in J.plan(root, out, pretrain=False)}
    assert "--resume" in jobs["a"].argv and "--resume" not in jobs["c"].argv
    assert not jobs["b"].pending and jobs["a"].pending and jobs["c"].pending


def test_print_lists_pending_jobs_as_quoted_lines_with_resume_and_without_done_ones(tmp_path, capsys):
    root = make_corpus(tmp_path / "my corpus", {"folk songs": 2, "bach": 2, "done": 2}, notes=8)
    out = tmp_path / "runs"
    (out / "bach").mkdir(parents=True)
    (out / "bach" / "run.json").write_text("{}")
    (out / "done").mkdir()
    (out / "done" / "model.lstmc").write_bytes(b"model")

    code, stdout, stderr = cli("train-all", str(root), "--out", str(out), "--budget", "90s", "--print",
                               "--", "--epochs", "3", "--lstm-units", "8,8", capsys=capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert len(lines) == 3  # _corpus, bach, folk songs
    words = [shlex.split(line) for line in lines]
    assert all(w[:2] == ["lstm-composer", "train"] for w in words)
    assert [w[w.index("--style") + 1] for w in words] == ["corpus", "bach", "folk songs"]
    assert words[2][2] == str(root / "folk songs")  # spaces survive the quoting
    assert "--resume" in words[1] and "--resume" not in words[2]
    assert words[1][words[1].index("--time-budget") + 1] == "90s"
    assert all(w[-4:] == ["--epochs", "3", "--lstm-units", "8,8"] for w in words)  # extras last: they win
    assert "Bach chorales" in words[1] and "J. S. Bach's four-part chorale harmonisations." in words[1]
    assert stderr.strip() == f"# skipped (done): done ({out / 'done' / 'model.lstmc'})"
    assert not (out / "_corpus").exists()  # --print runs and creates nothing

    code, stdout, _ = cli("train-all", str(root), "--out", str(out), "--print", "--stage", "styles", capsys=capsys)
    assert code == 0 and [shlex.split(x)[4] for x in stdout.splitlines()] == ["bach", "folk songs"]
    code, stdout, _ = cli("train-all", str(root), "--out", str(out), "--print", "--stage", "pretrain",
                          "--pretrain-budget", "1h", capsys=capsys)
    assert code == 0 and len(stdout.splitlines()) == 1 and "--time-budget 60m" in stdout
    code, stdout, _ = cli("train-all", str(root), "--out", str(out), "--print", "--no-pretrain",
                          "--styles", "folk songs", capsys=capsys)
    assert code == 0 and len(stdout.splitlines()) == 1
    assert "--init-from" not in stdout and "--lr" not in stdout and "bach" not in stdout


@pytest.mark.parametrize("args, message", [
    (["{tmp}/nowhere", "--out", "{tmp}/runs"], "nowhere: no such corpus folder"),
    (["{tmp}/corpus/a", "--out", "{tmp}/runs"], "no style folders (subfolders with MIDI files)"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--styles", "a,nope"], "no style folder 'nope' with MIDI files (there are: a, b)"),
    (["{tmp}/corpus", "--out", "{tmp}/corpus/runs"], "--out must be outside the corpus folder"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--jobs", "0"], "argument --jobs: must be at least 1, not 0"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--budget", "soon"], "expected a duration"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--budget", "0"], "argument --budget: expected a duration such as 600, 90m or 1.5h, not '0'"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--", "--epochs", "many"], "the train options after --: argument --epochs"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--", "--bogus"], "unrecognized arguments: --bogus"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--", "--out", "x"], "--out after --: train-all sets it"),
    (["{tmp}/corpus", "--out", "{tmp}/runs", "--no-pretrain", "--stage", "pretrain"], "no pre-training stage"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    make_corpus(tmp_path / "corpus", {"a": 1, "b": 1}, notes=8)
    code, stdout, stderr = cli("train-all", *[a.format(tmp=tmp_path) for a in args], capsys=capsys)
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("lstm-composer"), stderr
    assert message in stderr
    assert not (tmp_path / "runs").exists()


def test_parallel_jobs_follow_cores_and_available_memory(tmp_path):
    assert auto_parallel(16, 64 * GiB) == 8  # half the cores
    assert auto_parallel(16, 7 * GiB) == 2  # one per 3 GiB
    assert auto_parallel(2, 64 * GiB) == 1
    assert auto_parallel(1, None) == 1 and auto_parallel(8, None) == 4
    assert auto_parallel(8, GiB) == 1  # never none
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16318480 kB\nMemFree:         1000000 kB\nMemAvailable:    9437184 kB\n")
    assert available_memory(meminfo) == 9 * GiB and available_memory(meminfo) // JOB_MEMORY == 3
    assert available_memory(tmp_path / "none") is None


# -- running here (the train extra) -------------------------------------------------------------

TINY = ["--lstm-units", "8,8", "--dense-units", "8", "--embedding-dim", "4", "--epochs", "1", "--seq-len", "16",
        "--batch-size", "4", "--samples", "1", "--sample-events", "16"]


def train_all(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lstm_composer_plugin.cli", "train-all", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def summary(out: Path) -> dict[str, dict]:
    return {j["name"]: j for j in json.loads((out / "train-all.json").read_text())["jobs"]}


@pytest.mark.tf
def test_failed_jobs_do_not_stop_the_others_and_are_named(tmp_path):
    root = make_corpus(tmp_path / "corpus", {"a": 3, "b": 3}, notes=12)
    out = tmp_path / "runs"
    # Every job starts from a run that does not exist: each fails at its start (no TensorFlow loaded).
    proc = train_all(str(root), "--out", str(out), "--no-pretrain", "--jobs", "2",
                     "--", "--init-from", str(tmp_path / "missing"), *TINY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "2 job(s) failed: a (exit 2, see" in err[0] and "b (exit 2" in err[0]
    jobs = summary(out)
    assert {n: (j["status"], j["exit_code"]) for n, j in jobs.items()} == {"a": ("failed", 2), "b": ("failed", 2)}
    assert "--init-from names no run folder" in (out / "a.log").read_text()
    assert proc.stdout.count("FAILED") == 2

    # A failed pre-training leaves the style jobs unstarted: they would start from its weights.
    proc = train_all(str(root), "--out", str(out / "second"), "--", "--init-from", str(tmp_path / "missing"), *TINY)
    assert proc.returncode == 1
    assert "1 job(s) failed: _corpus" in proc.stderr and "not started: a, b" in proc.stderr
    assert [j["status"] for j in summary(out / "second").values()] == ["failed", "not-run", "not-run"]


@pytest.mark.tf
def test_train_all_trains_every_style_skips_what_is_done_and_resumes_the_rest(tmp_path):
    root = make_corpus(tmp_path / "corpus", {"alpha": 4, "beta": 4})
    out = tmp_path / "runs"
    args = [str(root), "--out", str(out), "--jobs", "2", "--budget", "2m", "--pretrain-budget", "2m", "--", *TINY]

    t0 = time.monotonic()
    proc = train_all(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("_corpus", "alpha", "beta"):
        assert (out / name / "model.lstmc").is_file(), name
    jobs = summary(out)
    assert {n: (j["stage"], j["state_before"], j["status"], j["exit_code"]) for n, j in jobs.items()} == {
        "_corpus": ("pretrain", "fresh", "ok", 0), "alpha": ("styles", "fresh", "ok", 0),
        "beta": ("styles", "fresh", "ok", 0)}
    for job in jobs.values():
        assert job["start"] <= job["end"] and 0 < job["wall_seconds"] < time.monotonic() - t0
        assert len(job["attempts"]) == 1 and job["trained_seconds"] == job["wall_seconds"]
    # The style runs started from the pre-training's weights, which ended before they began.
    assert jobs["_corpus"]["end"] <= min(jobs["alpha"]["start"], jobs["beta"]["start"])
    assert "starting from the weights of" in (out / "alpha.log").read_text()
    assert "--init-from" in jobs["alpha"]["command"] and "--resume" not in jobs["alpha"]["command"]
    said = proc.stdout
    assert said.count(" start  ") == 3 and said.count(" done   ") == 3 and "(exit 0)" in said

    proc = train_all(*args)  # everything is done: nothing runs
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" skip   ") == 3 and " start " not in proc.stdout
    again = summary(out)
    assert {j["status"] for j in again.values()} == {"skipped"}
    assert again["alpha"]["attempts"] == jobs["alpha"]["attempts"]  # the times of the run that made it stay

    (out / "alpha" / "model.lstmc").unlink()  # run.json stays: the run counts as interrupted
    proc = train_all(*args[:3], "--styles", "alpha", *args[3:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "alpha" / "model.lstmc").is_file()
    third = summary(out)
    assert (third["alpha"]["state_before"], third["alpha"]["status"]) == ("interrupted", "ok")
    assert "--resume" in third["alpha"]["command"] and len(third["alpha"]["attempts"]) == 2
    assert third["_corpus"]["status"] == "skipped"
    assert third["beta"] == again["beta"]  # not planned this time (--styles alpha): its entry stays as it was
    assert "start  alpha (styles, resuming)" in proc.stdout


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a command started with `&`


@pytest.mark.tf
@pytest.mark.parametrize("stop, start_ignoring_sigint", [(signal.SIGINT, False), (signal.SIGTERM, True)],
                         ids=["ctrl-c", "sigterm-in-background"])
def test_ctrl_c_stops_the_jobs_and_the_same_command_resumes_them(tmp_path, stop, start_ignoring_sigint):
    """Ctrl-C, or SIGTERM to a train-all started in the background (whose jobs would inherit SIGINT ignored)."""
    from lstm_composer_plugin.train import checkpoints as ck

    root = make_corpus(tmp_path / "corpus", {"alpha": 4, "beta": 4})
    out = tmp_path / "runs"
    head = [str(root), "--out", str(out), "--no-pretrain", "--styles", "alpha"]
    tail = ["--", *TINY, "--epochs", "500", "--checkpoint-every", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "lstm_composer_plugin.cli", "train-all", *head, "--budget", "1h", *tail],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=_ignore_sigint if start_ignoring_sigint else None)
    try:
        deadline = time.monotonic() + 240
        while ck.latest_checkpoint(out / "alpha") is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert ck.latest_checkpoint(out / "alpha") is not None and proc.poll() is None
    finally:
        proc.send_signal(stop)  # to train-all only: the job runs in a session of its own
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "run the same command again to resume" in stderr
    assert "interrupted in epoch" in (out / "alpha.log").read_text()  # the trainer's own Ctrl-C message
    data = json.loads((out / "train-all.json").read_text())
    assert data["status"] == "interrupted"
    assert (data["jobs"][0]["status"], data["jobs"][0]["exit_code"]) == ("interrupted", 130)
    assert (out / "alpha" / "run.json").is_file() and not (out / "alpha" / "model.lstmc").exists()

    # The same command (with a budget that ends it after an epoch) resumes the run and finishes it.
    done = train_all(*head, "--budget", "1s", *tail)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "alpha" / "model.lstmc").is_file()
    alpha = summary(out)["alpha"]
    assert (alpha["state_before"], alpha["status"]) == ("interrupted", "ok") and "--resume" in alpha["command"]
    assert [a["status"] for a in alpha["attempts"]] == ["interrupted", "ok"]
    assert "resuming from epoch" in (out / "alpha.log").read_text()


# -- the Slurm files (deploy/slurm): a stand-in sbatch records what it is asked ------------------

SLURM = REPO / "deploy" / "slurm"


def stand_in(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("#!/bin/sh\n" + body)
    (folder / name).chmod(0o755)


def test_submit_sh_submits_the_pretraining_then_the_styles_as_an_array_after_it(tmp_path):
    root = make_corpus(tmp_path / "corpus", {"bach": 1, "irish": 1}, notes=8)
    out = tmp_path / "runs"
    calls = tmp_path / "calls"
    # sbatch --parsable prints the job id (here with a cluster name, as federated clusters do)
    stand_in(tmp_path / "bin", "sbatch", f'echo "$*" >> {calls}\necho "42$(wc -l < {calls});main"\n')
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"}

    proc = subprocess.run(["sh", str(SLURM / "submit.sh"), str(root), str(out), "--budget", "30m", "--",
                           "--epochs", "9"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, second = calls.read_text().splitlines()
    assert f"JOBS={out}/jobs-pretrain.txt" in first and "--dependency" not in first and "--array" not in first
    assert "--dependency=afterok:421 " in second and "--array=1-2 " in second
    assert f"JOBS={out}/jobs-styles.txt" in second and second.endswith(str(SLURM / "train-all.sbatch"))
    styles = (out / "jobs-styles.txt").read_text().splitlines()
    assert [shlex.split(x)[4] for x in styles] == ["bach", "irish"]
    assert all("--time-budget 30m" in x and x.endswith("--epochs 9") for x in styles)
    assert len((out / "jobs-pretrain.txt").read_text().splitlines()) == 1

    # The pre-training done: no job for it, and the array depends on nothing.
    (out / "_corpus").mkdir()
    (out / "_corpus" / "model.lstmc").write_bytes(b"model")
    calls.unlink()
    proc = subprocess.run(["sh", str(SLURM / "submit.sh"), str(root), str(out)], capture_output=True, text=True,
                          env={**env, "ARRAY_LIMIT": "4"}, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (only,) = calls.read_text().splitlines()
    assert "--dependency" not in only and "--array=1-2%4 " in only


def test_the_sbatch_file_runs_its_tasks_line_exactly_as_printed(tmp_path):
    jobs = tmp_path / "jobs.txt"
    jobs.write_text(J.Job("x", "styles", ("train", "a b", "--title", "Children's songs", "--description", 'a "b" $HOME'),
                          tmp_path, "fresh").command_line() + "\n" + "lstm-composer train second\n")
    seen = tmp_path / "seen.json"
    # the stand-in lstm-composer records the words it was given and its thread settings
    stand_in(tmp_path / "bin", "lstm-composer",
             f'exec {sys.executable} -c "import json, os, sys; json.dump([sys.argv[1:], '
             f"os.environ['TF_NUM_INTRAOP_THREADS'], os.environ['OMP_NUM_THREADS']], open('{seen}', 'w'))\" \"$@\"\n")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "JOBS": str(jobs),
           "SLURM_ARRAY_TASK_ID": "1", "SLURM_CPUS_PER_TASK": "3"}
    proc = subprocess.run(["bash", str(SLURM / "train-all.sbatch")], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    argv, intra, omp = json.loads(seen.read_text())
    assert argv == ["train", "a b", "--title", "Children's songs", "--description", 'a "b" $HOME']
    assert intra == omp == "3"

    proc = subprocess.run(["bash", str(SLURM / "train-all.sbatch")], capture_output=True, text=True,
                          env={**env, "SLURM_ARRAY_TASK_ID": "3"}, timeout=60)
    assert proc.returncode == 2 and f"no line 3 in {jobs}" in proc.stderr
