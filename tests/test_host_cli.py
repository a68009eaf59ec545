"""``voc-host``: the headless host, in-process with test plugins and once as a real process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from hostapi import ENV_DISABLE, ENV_ONLY, ExitCode, Host, Progress, StyleInfo, hookimpl
from hostapi.cli import main
from hostapi.console import ProgressBars
from tests.plugins.broken import UserErrorComposer
from tests.plugins.dummy import DummyComposer

pytest_plugins = ["tests.host_fixtures"]

REPO_DIR = Path(__file__).resolve().parents[1]


def run(capsys, argv, host):
    code = main(argv, host=host)
    out, err = capsys.readouterr()
    return code, out, err


def test_plugins_lists_working_broken_and_order(capsys, make_host, dummy_plugin, broken_plugin):
    host = make_host(dummy_plugin, broken_plugin, "tests.plugins.broken_import")
    code, out, _ = run(capsys, ["plugins"], host)
    assert code == ExitCode.OK
    assert "dummy 0.0.1" in out
    assert "hooks: check_runtime, compose, list_styles, manage_models, train" in out
    assert "BROKEN broken_import (import): ImportError: this plugin needs" in out
    assert "compose asks: raising > dummy" in out

    code, out, _ = run(capsys, ["plugins", "--json"], host)
    data = json.loads(out)
    assert [p["name"] for p in data["plugins"]] == ["dummy", "raising"]
    assert data["broken"][0]["name"] == "broken_import" and "traceback" not in data["broken"][0]
    assert data["order"]["compose"] == ["raising", "dummy"]


def test_styles_json(capsys, dummy_host):
    code, out, _ = run(capsys, ["styles", "--json"], dummy_host)
    assert code == ExitCode.OK
    assert [(s["name"], s["plugin"], s["installed"]) for s in json.loads(out)] == [
        ("waltz", "dummy", True),
        ("shared", "dummy", True),
    ]


def test_compose_to_a_midi_file(capsys, dummy_host, dummy_plugin, tmp_path):
    out_file = tmp_path / "song.mid"
    argv = ["compose", "waltz", "-o", str(out_file), "--length", "12", "--seed", "5"]
    argv += ["--temperature", "0.9", "--top-k", "8", "--top-p", "0.95", "--tempo", "90"]
    argv += ["--variations", "2", "--offline", "--png"]
    code, out, err = run(capsys, argv, dummy_host)
    assert code == ExitCode.OK, err
    assert out.startswith(f"wrote {out_file}  (waltz by dummy, seed 5, 12 events")
    assert "variation" in out
    assert len([m for m in mido.MidiFile(out_file) if m.type == "note_on"]) == 12
    options = dummy_plugin.calls[-1][1]["options"]
    assert (options.temperature, options.top_k, options.top_p, options.tempo) == (0.9, 8, 0.95, 90)
    assert options.offline and options.png and options.variations == 2


def test_compose_json(capsys, dummy_host, tmp_path):
    code, out, _ = run(
        capsys, ["compose", "shared", "-o", str(tmp_path / "a.mid"), "--json"], dummy_host
    )
    result = json.loads(out)
    assert code == ExitCode.OK and result["plugin"] == "dummy" and result["path"].endswith("a.mid")


def test_unknown_style_exits_3_with_known_styles(capsys, dummy_host):
    code, out, err = run(capsys, ["compose", "polka"], dummy_host)
    assert code == ExitCode.NO_ANSWER == 3
    assert (
        err == "voc-host: error: no plugin composes in style 'polka'; known styles: shared, waltz\n"
    )
    assert out == ""


def test_plugin_failure_is_one_line_with_the_plugin_name(capsys, make_host, broken_plugin):
    code, out, err = run(capsys, ["compose", "shared"], make_host(broken_plugin))
    assert code == ExitCode.FAILURE
    assert err.splitlines() == [
        "voc-host: error: raising: compose failed: RuntimeError: model weights are corrupt; "
        "(and this message has a second line)"
    ]
    code, out, err = run(capsys, ["compose", "shared", "--traceback"], make_host(broken_plugin))
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("second line)")


def test_user_error_is_printed_plainly(capsys, make_host):
    code, out, err = run(capsys, ["compose", "shared", "--json"], make_host(UserErrorComposer()))
    assert code == ExitCode.FAILURE
    assert err == "voc-host: error: picky: primer file 'x.mid' is not a MIDI file\n"
    # The documented --json error: the message without the plugin's name, which is its own field.
    assert json.loads(out) == {
        "error": "primer file 'x.mid' is not a MIDI file",
        "exit_code": 1,
        "plugin": "picky",
    }


def test_a_failing_plugin_is_a_warning_when_another_answers(
    capsys, make_host, dummy_plugin, broken_plugin, tmp_path
):
    host = make_host(dummy_plugin, broken_plugin)
    code, out, err = run(capsys, ["compose", "shared", "-o", str(tmp_path / "s.mid")], host)
    assert code == ExitCode.OK
    assert "by dummy" in out
    assert "voc-host: warning: raising: compose failed: RuntimeError" in err


def test_broken_plugins_are_warned_about(capsys, make_host, dummy_plugin):
    host = make_host("tests.plugins.broken_import", dummy_plugin)
    code, _, err = run(capsys, ["styles"], host)
    assert code == ExitCode.OK
    assert "voc-host: warning: plugin 'broken_import' is broken (import): ImportError" in err
    _, _, err = run(capsys, ["styles", "-q"], host)
    assert err == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["compose"],
        ["compose", "waltz", "--length", "0"],
        ["compose", "waltz", "--top-p", "1.5"],
        ["compose", "waltz", "--temperature", "nan"],
        ["train", "corpus"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(capsys, dummy_host, argv):
    code, _, err = run(capsys, argv, dummy_host)
    assert code == ExitCode.USAGE == 2
    assert "error:" in err


def test_missing_paths_are_usage_errors(capsys, dummy_host, tmp_path):
    code, _, err = run(
        capsys, ["compose", "waltz", "--primer", str(tmp_path / "no.mid")], dummy_host
    )
    assert (code, err) == (
        2,
        f"voc-host: error: primer file '{tmp_path / 'no.mid'}' does not exist\n",
    )
    code, _, err = run(
        capsys,
        ["train", str(tmp_path / "nowhere"), "--style", "s", "--out", str(tmp_path)],
        dummy_host,
    )
    assert code == 2 and "corpus folder" in err


def test_train(capsys, dummy_host, dummy_plugin, tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "sub" / "a.mid").write_bytes(b"")
    argv = ["train", str(corpus), "--style", "mine", "--out", str(tmp_path / "out")]
    argv += ["--epochs", "4", "--checkpoint-every", "2", "--recipe", "reference", "--resume"]
    argv += ["--epoch", "3"]
    code, out, err = run(capsys, argv, dummy_host)
    assert code == ExitCode.OK, err
    assert "trained mine by dummy: 4 epochs" in out
    assert "recommended epoch 3" in out
    options = dummy_plugin.calls[-1][1]["options"]
    assert (
        options.epochs,
        options.checkpoint_every,
        options.recipe,
        options.resume,
        options.epoch,
    ) == (
        4,
        2,
        "reference",
        True,
        3,
    )


def test_train_with_no_trainer_exits_3(capsys, make_host, broken_plugin, tmp_path):
    code, _, err = run(
        capsys,
        ["train", str(tmp_path), "--style", "s", "--out", str(tmp_path / "o")],
        make_host(broken_plugin),
    )
    assert code == ExitCode.NO_ANSWER
    assert "no plugin can train" in err


def test_models_commands_reach_the_plugin_typed(capsys, dummy_host, dummy_plugin):
    code, out, _ = run(capsys, ["models"], dummy_host)
    assert (code, out) == (0, "waltz\nshared\n")
    code, out, _ = run(capsys, ["models", "fetch", "--all", "--json", "--force"], dummy_host)
    request = dummy_plugin.calls[-1][1]["request"]
    assert (request.action, request.all, request.force, request.allow_insecure) == (
        "fetch", True, True, False
    )
    code, out, _ = run(capsys, ["models", "list", "--json"], dummy_host)
    assert code == 0 and json.loads(out)["data"] == ["waltz", "shared"]
    code, out, _ = run(capsys, ["models", "verify"], dummy_host)
    assert (code, out) == (ExitCode.FAILURE, "shared: hash mismatch\n")
    code, _, err = run(capsys, ["models", "remove", "waltz"], dummy_host)
    assert (code, err) == (
        1,
        "voc-host: error: dummy: models remove is not supported (try: list, verify)\n",
    )
    # An action nobody offers is the host's usage error, before any plugin is asked.
    code, _, err = run(capsys, ["models", "frobnicate"], dummy_host)
    assert code == ExitCode.USAGE
    assert err.splitlines()[-1].startswith("voc-host models: error: argument ACTION: invalid choice")


def test_plugin_option_selects_and_unknown_plugin_exits_3(capsys, make_host, tmp_path):
    host = make_host(DummyComposer("first"), DummyComposer("second"))
    code, out, _ = run(
        capsys, ["compose", "shared", "--plugin", "first", "-o", str(tmp_path / "x.mid")], host
    )
    assert code == 0 and "by first" in out
    code, _, err = run(capsys, ["styles", "--plugin", "nope"], host)
    assert code == ExitCode.NO_ANSWER and "no plugin named 'nope'" in err


def test_doctor_with_test_plugins(capsys, make_host, dummy_plugin, broken_plugin):
    code, out, _ = run(capsys, ["doctor"], make_host(dummy_plugin))
    assert code == ExitCode.OK
    assert "dummy:" in out and "compose: ready (arpeggios)" in out
    code, out, _ = run(capsys, ["doctor", "--json"], make_host(dummy_plugin, broken_plugin))
    assert code == ExitCode.FAILURE  # a plugin's check raised
    data = json.loads(out)
    assert [r["plugin"] for r in data["reports"]] == ["dummy"]
    assert data["failures"][0]["plugin"] == "raising"
    code, _, err = run(capsys, ["doctor"], make_host())
    assert code == ExitCode.NO_ANSWER and "no loaded plugin implements check_runtime" in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, ["--help"], Host(plugins=[], load_entry_points=False, env={}))
    assert code == 0 and "Exit codes" in out


def test_real_process_with_plugin_module_and_env(tmp_path, child_env):
    """The console entry as a GUI host would spawn it: -p loading, env restriction, exit code."""
    env = child_env(**{ENV_ONLY: "dummy,broken_import"})
    argv = [sys.executable, "-m", "hostapi.cli", "compose", "waltz", "-o", str(tmp_path / "w.mid")]
    argv += ["-p", "tests.plugins.dummy:plugin", "-p", "tests.plugins.broken_import", "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO_DIR, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["plugin"] == "dummy"
    assert (tmp_path / "w.mid").is_file()
    # The installed LSTM entry point was filtered out before import; the broken module is named.
    assert proc.stderr.splitlines() == [
        "voc-host: warning: plugin 'broken_import' is broken (import): ImportError: "
        "this plugin needs the 'unobtainium' library, which is not installed"
    ]
    env[ENV_DISABLE] = "dummy"
    proc = subprocess.run(
        argv + ["-q"], capture_output=True, text=True, env=env, cwd=REPO_DIR, timeout=60
    )
    assert proc.returncode == ExitCode.NO_ANSWER


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_draw_one_bar_per_stage():
    screen = _Terminal()
    bars = ProgressBars(file=screen)
    for done in (0, 512 * 1024, 1024 * 1024):
        bars(Progress("download", done, 1024 * 1024, "B", "bach.lstmc"))
    for done in range(1, 5):
        bars(Progress("compose", done, 4, "event"))
    bars.close()
    text = screen.getvalue()
    assert "download" in text and "1.05M/1.05M" in text and "bach.lstmc" in text
    assert "compose" in text and "4/4" in text


def _drain(fd: int) -> str:
    """Everything written to a pty so far (one read may return only the first of several writes)."""
    import os
    import select

    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_progress_bars_draw_on_a_terminal_that_reports_no_width():
    """A bare pseudo-terminal says 0 columns; tqdm would draw an empty bar there."""
    import os
    import pty

    main_fd, sub_fd = pty.openpty()  # never resized: 0 x 0
    try:
        with os.fdopen(sub_fd, "w", closefd=False) as screen:
            assert os.get_terminal_size(sub_fd).columns == 0
            bars = ProgressBars(file=screen)
            for done in range(1, 5):
                bars(Progress("compose", done, 4, "event"))
            bars.close()
            screen.flush()
        text = _drain(main_fd)
    finally:
        os.close(sub_fd)
        os.close(main_fd)
    assert "compose" in text and "4/4" in text and "100%" in text


def test_progress_bars_stay_silent_off_a_terminal():
    screen = io.StringIO()
    bars = ProgressBars(file=screen)
    bars(Progress("compose", 1, 4, "event"))
    bars.close()
    assert screen.getvalue() == ""


class _Catalogue:
    plugin_name = "catalogue"

    @hookimpl
    def list_styles(self, offline):
        big = StyleInfo(name="mozart", title="Mozart", needs_download=True, size_bytes=23_000_000)
        return [] if offline else [big]


def test_styles_table_shows_downloads_and_honours_offline(capsys, make_host, dummy_plugin):
    host = make_host(dummy_plugin, _Catalogue())
    code, out, _ = run(capsys, ["styles"], host)
    assert code == 0
    assert out.splitlines() == [
        "NAME    STATUS            PLUGIN     TITLE",
        "mozart  download 23.0 MB  catalogue  Mozart",
        "waltz   installed         dummy      Waltz (dummy)",
        "shared  installed         dummy      Shared (dummy)",
    ]
    _, out, _ = run(capsys, ["styles", "--offline"], host)
    assert "mozart" not in out
