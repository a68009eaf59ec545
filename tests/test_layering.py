"""The layering of docs/architecture.md as checked contracts ([tool.importlinter] in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (the test extra has it)")
    proc = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = [line for line in proc.stdout.splitlines() if line.endswith(" KEPT")]
    assert "0 broken" in proc.stdout and len(kept) >= 5, proc.stdout


def test_the_contracts_name_the_architecture_rules():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    rules = {(tuple(c["source_modules"]), tuple(c["forbidden_modules"])) for c in contracts}
    sources = {s for src, _ in rules for s in src}
    assert {"hostapi", "model_store", "lstm_composer_plugin.music", "lstm_composer_plugin.compose",
            "lstm_composer_plugin.hooks"} <= sources
    compose_rule = next(f for s, f in rules if s == ("lstm_composer_plugin.compose",))
    assert "lstm_composer_plugin.models" in compose_rule  # compose is handed a path


def test_the_plugin_name_is_written_once():
    hits = [p for p in (REPO / "lstm_composer_plugin").rglob("*.py") if '"lstm"' in p.read_text()
            and p.name not in ("engine.py", "export.py")]  # there "lstm" is the layer type, not the plugin
    assert [p.relative_to(REPO).as_posix() for p in hits] == ["lstm_composer_plugin/__init__.py"]
