"""``lstm-composer models ...``: every sub-command, --json, one-line errors and exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess

import pytest

from model_store.cli import add_models_parser, main, run_models
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
    code, data = run_json(capsys, "list")
    assert code == 0 and data["ok"]
    by = {s["name"]: s for s in data["styles"]}
    assert sorted(by) == ["bach", "folk", "jazz"]
    assert by["bach"]["source"] == "catalogue" and by["bach"]["needs_download"]
    assert data["catalogue"]["source"] == "network" and data["catalogue"]["url"].endswith("index.json")
    code, out, _ = run(capsys, "list")
    lines = out.splitlines()
    assert lines[0].split() == ["STYLE", "STATUS", "VERSION", "SIZE", "PATH"]
    assert lines[1].startswith("bach") and "download" in lines[1]
    assert any(line.startswith("catalogue: http://127.0.0.1") for line in lines)


def test_fetch_verify_repair_remove(cat, capsys, store_env):
    size = cat.entry("bach")["size"]
    code, data = run_json(capsys, "fetch", "bach")
    assert code == 0 and data["fetched"][0]["bytes_fetched"] == size
    code, data = run_json(capsys, "fetch", "bach")
    assert code == 0 and data["fetched"][0]["bytes_fetched"] == 0
    code, out, _ = run(capsys, "fetch", "--all")
    assert code == 0 and "jazz: downloaded" in out and "bach: already installed" in out
    code, data = run_json(capsys, "verify")
    assert code == 0 and len(data["results"]) == 3 and all(r["ok"] for r in data["results"])
    path = next(r["path"] for r in data["results"] if r["style"] == "folk")
    with open(path, "r+b") as fh:
        fh.write(b"XX")
    code, out, _ = run(capsys, "verify")
    assert code == 1 and "FAIL  folk" in out and "models repair" in out
    code, data = run_json(capsys, "repair")
    assert code == 0 and data["repaired"] == ["folk"]
    code, out, _ = run(capsys, "remove", "folk", "jazz")
    assert code == 0 and out.splitlines() == ["removed folk (1 version)", "removed jazz (1 version)"]
    code, out, err = run(capsys, "remove", "folk")
    assert code == 2 and err.count("\n") == 1 and "'folk' is not installed" in err


def test_pack_and_where(cat, capsys, store_env):
    code, data = run_json(capsys, "pack")
    assert code == 0 and sorted(data["installed"]) == ["bach", "folk", "jazz"]
    code, out, _ = run(capsys, "where")
    assert code == 0 and out.strip() == str(store_env.home)
    code, data = run_json(capsys, "where")
    assert data["models"] == str(store_env.home / "models") and not data["offline"]


def test_publish_command(capsys, tmp_path):
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
        (["fetch", "polka"], 2, "style 'polka' is not in the catalogue; known styles: bach, folk, jazz"),
        (["fetch", "jazz", "--offline"], 1, "offline mode is on"),
        (["fetch"], 2, "name at least one STYLE"),
    ],
)
def test_errors_are_one_line_with_exit_codes(cat, capsys, argv, code, message):
    got, out, err = run(capsys, *argv)
    assert got == code and message in err and err.count("\n") == 1 and "Traceback" not in err
    got, out, err = run(capsys, *argv, "--json")
    data = json.loads(out)
    assert got == code and data["ok"] is False and message in data["error"]


def test_network_errors_exit_1(cat, capsys):
    cat.server.set_fault(cat.path("jazz"), status=404)
    code, out, err = run(capsys, "fetch", "jazz")
    assert code == 1 and "not found on the server (HTTP 404)" in err and err.count("\n") == 1


def test_partial_failure_of_several_styles(cat, capsys):
    cat.server.set_fault(cat.path("jazz"), status=404)
    code, data = run_json(capsys, "fetch", "bach", "jazz")
    assert code == 1 and [f["style"] for f in data["fetched"]] == ["bach"]
    assert data["errors"][0]["style"] == "jazz"


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["models"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["models", "frobnicate"])
    assert info.value.code == 2


def test_mounted_under_a_parent_parser_with_its_own_json_flag(cat, capsys, tmp_path):
    parser = argparse.ArgumentParser(prog="lstm-composer")
    parser.add_argument("--json", action="store_true")
    subs = parser.add_subparsers(dest="command")
    add_models_parser(subs)
    bundled = {"blues": make_model(tmp_path / "b" / "blues.lstmc", "blues", 1)}
    for argv in (["--json", "models", "list"], ["models", "--json", "list"], ["models", "list", "--json"]):
        args = parser.parse_args(argv)
        assert run_models(args, bundled) == 0
        data = json.loads(capsys.readouterr().out)
        assert "blues" in {s["name"] for s in data["styles"]}


def test_module_entry_point_has_no_traceback(cat, store_env):
    env = subprocess_env(LSTM_COMPOSER_CATALOGUE=cat.url, LSTM_COMPOSER_HOME=str(store_env.home))
    p = subprocess.run([PYTHON, "-m", "model_store.cli", "models", "fetch", "nope"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.startswith("lstm-composer models: error: style 'nope'")
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1
    p = subprocess.run([PYTHON, "-m", "model_store.cli", "models", "fetch", "bach"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "bach: downloaded" in p.stdout
