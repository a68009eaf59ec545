"""bench/quality.py on the published catalogue, one seed per style: the table it writes is complete."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_quality_bench_writes_a_row_pair_per_style(corpus_dir, tmp_path):
    index = REPO / "catalogue" / "index.json"
    if not index.is_file():
        pytest.fail("catalogue/ is missing: see docs/catalogue.md")
    styles = [s["id"] for s in json.loads(index.read_text())["styles"]]
    out, figures = tmp_path / "quality.md", tmp_path / "quality.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "quality.py"), "--seeds", "1", "--length", "120",
         "--corpus", str(corpus_dir), "--out", str(out), "--json", str(figures)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(figures.read_text())
    assert list(data) == styles
    for sid, r in data.items():
        assert r["model"]["pieces"] == 1 and r["model"]["events"] == 120, sid
        assert r["human"]["pieces"] >= 1 and 0 <= r["human"]["ngram_share"] <= 1, sid
        # The frequency tables are fitted, not made up: a unigram beats a uniform guess.
        assert 0 < r["unigram_val_loss"] < math.log(r["vocab"]) and r["bigram_val_loss"] > 0, sid
    # ... and on a melody corpus a bigram beats the unigram (on sparse chord vocabularies it may not).
    assert data["irish"]["bigram_val_loss"] < data["irish"]["unigram_val_loss"]
    text = out.read_text()
    assert all(f"| {sid} |" in text for sid in styles) and "Nearest-style accuracy" in text
