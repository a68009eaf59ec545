"""``lstm-composer models ...``: every action, --json, one-line errors and exit codes.

The actions are parsed by ``hostapi.commands`` and run by the plugin's model manager
(``lstm_composer_plugin.manager``) on a real store and a loopback catalogue.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from lstm_composer_plugin.cli import main
from tests.store_helpers import PYTHON, make_model, subprocess_env

pytest_plugins = ["tests.store_fixtures"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, _ = run(capsys, *argv, "--json")
    return code, json.loads(out)


@pytest.fixture
def cat(published, monkeypatch):
    monkeypatch.setenv("LSTM_COMPOSER_CATALOGUE", published.url)
    return published


def test_list_json_and_text(cat, capsys):
    code, result = run_json(capsys, "list")
    assert code == 0 and result["ok"] and result["action"] == "list" and result["plugin"] == "lstm"
    data = result["data"]
    by = {s["name"]: s for s in data["styles"]}
    assert sorted(by) == ["bach", "folk", "jazz"]
    assert by["bach"]["source"] == "bundled"  # the package's own bach; the catalogue's is newer
    assert by["jazz"]["source"] == "catalogue" and by["jazz"]["needs_download"]
    assert data["catalogue"]["source"] == "network" and data["catalogue"]["url"].endswith("index.json")
    code, out, _ = run(capsys, "list")
    lines = out.splitlines()
    assert lines[0].split() == ["STYLE", "STATUS", "VERSION", "SIZE", "PATH"]
    jazz = next(line for line in lines if line.startswith("jazz"))
    assert "download" in jazz and " kB" in jazz  # the one size formatter: SI units (issue 23, item 12)
    assert any(line.startswith("catalogue: http://127.0.0.1") for line in lines)


def test_fetch_verify_repair_remove(cat, capsys, store_env):
    size = cat.entry("jazz")["size"]
    code, result = run_json(capsys, "fetch", "jazz")
    assert code == 0 and result["data"]["fetched"][0]["bytes_fetched"] == size
    code, result = run_json(capsys, "fetch", "jazz")
    assert code == 0 and result["data"]["fetched"][0]["bytes_fetched"] == 0
    code, out, _ = run(capsys, "fetch", "--all")
    assert code == 0 and "folk: downloaded" in out and "jazz: already installed" in out
    code, result = run_json(capsys, "verify")
    store_results = [r for r in result["data"]["results"] if r["source"] == "store"]
    assert code == 0 and len(store_results) == 3 and all(r["ok"] for r in store_results)
    path = next(r["path"] for r in store_results if r["style"] == "folk")
    with open(path, "r+b") as fh:
        fh.write(b"XX")
    code, out, _ = run(capsys, "verify")
    assert code == 1 and "FAIL  folk" in out and "models repair" in out
    assert "lstm-composer" not in out  # the same text serves voc-host
    code, result = run_json(capsys, "repair")
    assert code == 0 and result["data"]["repaired"] == ["folk"]
    code, out, _ = run(capsys, "remove", "folk", "jazz")
    assert code == 0 and out.splitlines() == ["removed folk (1 version)", "removed jazz (1 version)"]
    code, out, err = run(capsys, "remove", "folk")
    assert code != 0 and err.count("\n") == 1 and "'folk' is not installed" in err


def test_pack_and_where(cat, capsys, store_env):
    code, result = run_json(capsys, "pack")
    assert code == 0 and sorted(result["data"]["installed"]) == ["bach", "folk", "jazz"]
    code, out, _ = run(capsys, "where")
    assert code == 0 and out.strip() == str(store_env.home)
    code, result = run_json(capsys, "where")
    assert result["data"]["models"] == str(store_env.home / "models")
    assert not result["data"]["offline"]


def test_publish_command(capsys, tmp_path, store_env):
    make_model(tmp_path / "runs" / "a.lstmc", "bach", 4)
    code, out, _ = run(capsys, "publish", str(tmp_path / "runs"), str(tmp_path / "out"),
                       "--base-url", "https://cdn.example/c/")
    assert code == 0 and "bach: bach-e0004" in out and "published 1 styles" in out
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["styles"][0]["url"] == "https://cdn.example/c/models/bach-e0004.lstmc"
    code, out, err = run(capsys, "publish", str(tmp_path / "nope"), str(tmp_path / "out"))
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["fetch", "polka"], 3, "style 'polka' is not in the catalogue; known styles: bach, folk, jazz"),
        (["fetch", "jazz", "--offline"], 4, "offline mode is on"),
        (["fetch"], 2, "name at least one STYLE"),
    ],
)
def test_errors_are_one_line_with_exit_codes(cat, capsys, argv, code, message):
    got, out, err = run(capsys, *argv)
    assert got == code and message in err and err.count("\n") == 1 and "Traceback" not in err
    got, out, err = run(capsys, *argv, "--json")
    data = json.loads(out)
    assert got == code and data["exit_code"] == code and message in data["error"]


def test_network_errors_exit_4(cat, capsys):
    cat.server.set_fault(cat.path("jazz"), status=404)
    code, out, err = run(capsys, "fetch", "jazz")
    assert code == 4 and "not found on the server (HTTP 404)" in err and err.count("\n") == 1


def test_partial_failure_of_several_styles(cat, capsys):
    cat.server.set_fault(cat.path("jazz"), status=404)
    code, result = run_json(capsys, "fetch", "folk", "jazz")
    data = result["data"]
    assert code == 1 and not result["ok"] and [f["style"] for f in data["fetched"]] == ["folk"]
    assert data["errors"][0]["style"] == "jazz"


def test_usage_errors_exit_2(capsys):
    assert main(["models", "frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'frobnicate'" in err
    assert main(["models", "remove"]) == 2


def test_global_options_count_before_and_after_the_action(cat, capsys):
    for argv in (["--json", "models", "list"], ["models", "--json", "list"],
                 ["models", "list", "--json"]):
        assert main(argv) == 0
        data = json.loads(capsys.readouterr().out)
        assert "bach" in {s["name"] for s in data["data"]["styles"]}


def test_module_entry_point_has_no_traceback(cat, store_env):
    env = subprocess_env(LSTM_COMPOSER_CATALOGUE=cat.url, LSTM_COMPOSER_HOME=str(store_env.home))
    argv = [PYTHON, "-m", "lstm_composer_plugin.cli", "models", "fetch"]
    p = subprocess.run([*argv, "nope"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and p.stderr.startswith("lstm-composer: error: style 'nope'")
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1
    p = subprocess.run([*argv, "jazz"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "jazz: downloaded" in p.stdout
