"""What a new user hit on the command line (issue 12, items 7, 9, 11, 12), in real processes.

Each test runs ``voc-host`` and/or ``lstm-composer`` as a fresh process against a real
store, the bundled model and (where it matters) a real loopback server, and checks the
one-line message, the exit code and that nothing was half-written.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from hostapi import ENV_ONLY
from lstm_composer_plugin.models import bundled_models
from tests.store_helpers import PYTHON, subprocess_env

pytest_plugins = ["tests.store_fixtures"]

PROGRAMS = {
    "voc-host": [PYTHON, "-m", "hostapi.cli"],
    "lstm-composer": [PYTHON, "-m", "lstm_composer_plugin.cli"],
}


@pytest.fixture
def env(store_env) -> dict[str, str]:
    return subprocess_env(LSTM_COMPOSER_HOME=str(store_env.home), **{ENV_ONLY: "lstm"})


def run(prog: str, *argv: str, env: dict[str, str], cwd: Path, code: int | None = None,
        pre: str = "") -> subprocess.CompletedProcess[str]:
    command = PROGRAMS[prog]
    if pre:  # run a line of Python first, in the same process (e.g. hide a module)
        module = command[-1]
        command = [PYTHON, "-c", f"import sys; {pre}; from {module} import main; "
                   "sys.exit(main(sys.argv[1:]))"]
    proc = subprocess.run([*command, *argv], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    if code is not None:
        assert proc.returncode == code, proc.stderr
    return proc


def one_line(proc: subprocess.CompletedProcess[str], prog: str) -> str:
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"{prog}: error: ")
    return line


# -- item 7: a catalogue that 404s or is not JSON is named, in both programs ---------------


@pytest.mark.parametrize("fault", ["404", "not json"])
def test_a_bad_catalogue_is_named(published, env, tmp_path, fault):
    env["LSTM_COMPOSER_CATALOGUE"] = published.url
    if fault == "404":
        published.server.set_fault("/index.json", status=404)
    else:
        published.result.index.write_text("<html>maintenance</html>")
    for prog in PROGRAMS:
        proc = run(prog, "styles", env=env, cwd=tmp_path, code=0)
        assert proc.stdout.splitlines()[1].startswith("bach ")  # installed+bundled still listed
        [warning] = proc.stderr.splitlines()
        assert warning.startswith(f"{prog}: warning: ") and "index.json" in warning
        proc = run(prog, "compose", "jazz", env=env, cwd=tmp_path)
        line = one_line(proc, prog)
        assert proc.returncode == (4 if fault == "404" else 1)
        assert "'jazz' is not installed" in line and "catalogue" in line
        assert "no plugin composes" not in line
    assert list(tmp_path.glob("*.mid")) == []


# -- item 9: a trained model reaches the host ------------------------------------------------


def _trained_model(path: Path, style: str) -> Path:
    """The bundled bach model under another style name: a real model the user 'trained'."""
    with zipfile.ZipFile(bundled_models()["bach"]) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                manifest.update(style=style, model_id=f"{style}-e0025", title=style.title())
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    return path


def test_install_a_trained_model_then_compose_with_it(env, tmp_path):
    model = _trained_model(tmp_path / "chorales.lstmc", "chorales")
    proc = run("voc-host", "models", "install", str(model), env=env, cwd=tmp_path, code=0)
    assert "installed chorales" in proc.stdout
    styles = json.loads(run("voc-host", "styles", "--json", env=env, cwd=tmp_path, code=0).stdout)
    assert {"name": "chorales", "installed": True} in [
        {"name": s["name"], "installed": s["installed"]} for s in styles
    ]
    run("lstm-composer", "compose", "chorales", "--seed", "1", "--length", "20", "-o", "a.mid",
        env=env, cwd=tmp_path, code=0)
    assert (tmp_path / "a.mid").stat().st_size > 0
    # --model works in voc-host too, and a model of another style is a one-line error.
    run("voc-host", "compose", "--model", str(model), "--seed", "1", "--length", "20",
        "-o", "b.mid", env=env, cwd=tmp_path, code=0)
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    for prog in PROGRAMS:
        proc = run(prog, "compose", "--style", "bach", "--model", str(model), "-o", "c.mid",
                   env=env, cwd=tmp_path, code=2)
        assert "is a model of style 'chorales', not 'bach'" in one_line(proc, prog)
    assert not (tmp_path / "c.mid").exists()
    # Installing again needs --force; a file that is not a model is refused.
    proc = run("lstm-composer", "models", "install", str(model), env=env, cwd=tmp_path, code=2)
    assert "already installed" in one_line(proc, "lstm-composer")
    run("lstm-composer", "models", "install", str(model), "--force", env=env, cwd=tmp_path, code=0)
    (tmp_path / "junk.lstmc").write_bytes(b"not a zip")
    proc = run("voc-host", "models", "install", str(tmp_path / "junk.lstmc"), env=env,
               cwd=tmp_path, code=1)
    assert "junk.lstmc" in one_line(proc, "voc-host")


# -- item 11: existing files are never overwritten without --force ----------------------------


def test_existing_outputs_are_refused_unless_forced(env, tmp_path):
    (tmp_path / "song-2.mid").write_bytes(b"my own variation")
    argv = ["compose", "bach", "-o", "song.mid", "--variations", "2", "--png", "--seed", "3",
            "--length", "20"]
    for prog in PROGRAMS:
        proc = run(prog, *argv, env=env, cwd=tmp_path, code=1)
        assert "song-2.mid exists: nothing was written" in one_line(proc, prog)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song-2.mid"]
    assert (tmp_path / "song-2.mid").read_bytes() == b"my own variation"
    run("voc-host", *argv, "--force", env=env, cwd=tmp_path, code=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song-2.mid", "song.mid", "song.png"]
    assert (tmp_path / "song-2.mid").read_bytes()[:4] == b"MThd"
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    proc = run("lstm-composer", *argv[:-4], env=env, cwd=tmp_path, code=1)  # another seed
    assert "song.mid exists: nothing was written" in one_line(proc, "lstm-composer")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == written
    # A missing output folder is refused, not created.
    proc = run("lstm-composer", "compose", "bach", "-o", "new/x.mid", env=env, cwd=tmp_path,
               code=2)
    assert "output folder 'new' does not exist" in one_line(proc, "lstm-composer")
    assert not (tmp_path / "new").exists()


# -- item 12: the surprises --------------------------------------------------------------------


def test_values_the_programs_cannot_honour_are_said(env, tmp_path):
    proc = run("voc-host", "compose", "bach", "--seed", "99999999999999999999",
               env=env, cwd=tmp_path, code=2)
    assert "seed must be at least 0 and at most 9223372036854775807, not 99999999999999999999" in proc.stderr
    proc = run("lstm-composer", "compose", "--style", "bad/style name", env=env, cwd=tmp_path,
               code=2)
    assert "'bad/style name' is not a style name" in proc.stderr
    proc = run("voc-host", "models", "frobnicate", env=env, cwd=tmp_path, code=2)
    assert proc.stderr.splitlines() == [
        "voc-host models: error: argument ACTION: invalid choice: 'frobnicate' (choose from "
        "'list', 'fetch', 'install', 'verify', 'repair', 'remove', 'pack', 'publish', 'where')"
    ]
    # --png without matplotlib: refused before composing, nothing written.
    for prog in PROGRAMS:
        proc = run(prog, "compose", "bach", "--png", "-o", "p.mid", env=env, cwd=tmp_path,
                   code=1, pre="sys.modules['matplotlib'] = None")
        assert "--png needs matplotlib" in one_line(proc, prog)
    assert list(tmp_path.iterdir()) == []


def test_a_length_beyond_the_cap_is_a_warning(env, tmp_path):
    proc = run("voc-host", "compose", "bach", "--length", "20", "--seed", "1", "-q",
               env=env, cwd=tmp_path, code=0)
    assert proc.stdout == proc.stderr == ""  # -q: errors only
    proc = run("lstm-composer", "compose", "bach", "--seconds", "100000", "--seed", "2",
               env=env, cwd=tmp_path, code=0)
    [warning] = proc.stderr.splitlines()
    assert warning.startswith("lstm-composer: warning: the piece is ")
    assert "not the 100000 s asked for: compositions stop at 20000 events" in warning


def test_voc_host_never_sends_the_user_to_lstm_composer(env, store_env, tmp_path):
    model = _trained_model(tmp_path / "chorales.lstmc", "chorales")
    run("voc-host", "models", "install", str(model), env=env, cwd=tmp_path, code=0)
    installed = next(store_env.home.rglob("*.lstmc"))
    with open(installed, "r+b") as fh:
        fh.write(b"XX")
    proc = run("voc-host", "models", "verify", env=env, cwd=tmp_path, code=1)
    assert "FAIL  chorales" in proc.stdout and "models repair" in proc.stdout
    assert "lstm-composer" not in proc.stdout + proc.stderr
