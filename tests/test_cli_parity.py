"""One command-line vocabulary: ``voc-host`` and ``lstm-composer`` given the same words.

Each case runs both programs with the SAME argument list (``voc-host`` restricted to the
installed LSTM plugin) against the same real store and loopback catalogue, and compares
the exit codes and the ``--json`` documents (and, for compose, the MIDI bytes).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hostapi import ENV_ONLY
from hostapi.cli import main as voc_host
from lstm_composer_plugin.cli import main as lstm_composer
from tests.store_helpers import PYTHON, subprocess_env

pytest_plugins = ["tests.store_fixtures"]

# Fields that say when something happened, not what: they differ between two runs.
_VOLATILE = {"age", "fetched_at", "catalogue_cached_age_seconds", "installed_at"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def both(capsys, *argv: str, between=None) -> tuple[int, object]:
    """Run both programs with ``argv``; assert the same exit code and JSON; return them."""
    answers = []
    for program in (voc_host, lstm_composer):
        code = program(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        answers.append((code, _stable(json.loads(out)) if out.strip() else None, err))
        if between is not None:
            between()
    (code_a, json_a, err_a), (code_b, json_b, err_b) = answers
    assert code_a == code_b, f"voc-host {code_a}: {err_a!r}; lstm-composer {code_b}: {err_b!r}"
    assert json_a == json_b
    return code_a, json_a


@pytest.fixture
def lstm_only(store_env, monkeypatch):
    monkeypatch.setenv(ENV_ONLY, "lstm")
    return store_env


@pytest.fixture
def cat(published, lstm_only, monkeypatch):
    monkeypatch.setenv("LSTM_COMPOSER_CATALOGUE", published.url)
    return published


def test_styles(cat, capsys):
    code, styles = both(capsys, "styles", "--json")
    assert code == 0 and {s["name"] for s in styles} == {"bach", "folk", "jazz"}
    code, styles = both(capsys, "--json", "styles", "--offline")
    assert code == 0 and "bach" in {s["name"] for s in styles}


def test_compose_same_words_same_file(lstm_only, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "piece.mid"
    kept: list[bytes] = []

    def keep_and_clear() -> None:
        kept.append(out.read_bytes())
        out.unlink()

    for style_words in (["bach"], ["--style", "bach"]):
        argv = ["compose", *style_words, "--seed", "5", "--length", "30", "-o", str(out), "--json"]
        code, result = both(capsys, *argv, between=keep_and_clear)
        assert code == 0 and result["style"] == "bach" and result["seed"] == 5
    assert kept[0] == kept[1] == kept[2] == kept[3]


@pytest.mark.parametrize(
    "argv, code",
    [
        (["compose", "polka", "--json"], 3),
        (["compose", "bach", "--length", "ten", "--json"], 2),
        (["compose", "bach", "--bogus", "--json"], 2),
        (["compose", "bach/x", "--json"], 2),
        (["compose", "bach", "--seed", "99999999999999999999", "--json"], 2),
        (["compose", "--json"], 2),
        (["models", "frobnicate", "--json"], 2),
        (["models", "fetch", "--json"], 2),
        (["models", "fetch", "polka", "--json"], 3),
        (["models", "fetch", "jazz", "--offline", "--json"], 4),
    ],
)
def test_bad_requests_answer_alike(cat, capsys, tmp_path, monkeypatch, argv, code):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    got, error = both(capsys, *argv)
    assert got == code and error["exit_code"] == code and "\n" not in error["error"]
    assert list(work.iterdir()) == []  # nothing written


def test_models_actions(cat, capsys, lstm_only):
    def remove_jazz() -> None:
        assert lstm_composer(["models", "remove", "jazz"]) == 0
        capsys.readouterr()

    code, listing = both(capsys, "models", "list", "--refresh", "--json")
    assert code == 0 and listing["data"]["catalogue"]["url"].startswith(cat.url)
    code, where = both(capsys, "models", "where", "--json")
    assert where["data"]["home"] == str(lstm_only.home)
    code, fetched = both(capsys, "models", "fetch", "jazz", "--json", between=remove_jazz)
    assert code == 0 and fetched["data"]["fetched"][0]["bytes_fetched"] == cat.entry("jazz")["size"]
    assert lstm_composer(["models", "fetch", "jazz"]) == 0
    capsys.readouterr()
    code, verified = both(capsys, "models", "verify", "--json")
    assert code == 0 and "jazz" in {r["style"] for r in verified["data"]["results"]}


def test_unreachable_catalogue_names_the_cause_in_both(lstm_only, tmp_path):
    """The acceptance command lines, as fresh processes: the real cause and exit 4."""
    env = subprocess_env(
        LSTM_COMPOSER_CATALOGUE="http://127.0.0.1:9/index.json",
        LSTM_COMPOSER_HOME=str(lstm_only.home),
        **{ENV_ONLY: "lstm"},
    )
    runs = {
        "voc-host": [PYTHON, "-m", "hostapi.cli", "compose", "irish"],
        "lstm-composer": [PYTHON, "-m", "lstm_composer_plugin.cli", "compose", "--style", "irish"],
    }
    for prog, argv in runs.items():
        proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 4, proc.stderr
        [line] = proc.stderr.splitlines()
        assert line.startswith(f"{prog}: error: ")
        assert "style 'irish' is not installed" in line
        assert "http://127.0.0.1:9/index.json" in line and "connection refused" in line
        assert "no plugin composes" not in line
    assert list(Path(tmp_path).iterdir()) == []
