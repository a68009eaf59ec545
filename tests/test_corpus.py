"""Corpus loading and ``lstm-composer corpus inspect``: good files load, bad ones are named and skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from lstm_composer_plugin.cli import main
from lstm_composer_plugin.music.corpus import load_corpus
from tests.midi_bytes import scale, smf, track


def make_mixed_folder(root, corpus_dir):
    good = sorted((corpus_dir / "children").glob("*.mid"))[:3]
    (root / "sub").mkdir(parents=True)
    for i, f in enumerate(good):
        shutil.copy(f, (root / "sub" if i else root) / f.name)
    (root / "empty.mid").write_bytes(b"")
    (root / "text.midi").write_text("not midi")
    (root / "silent.mid").write_bytes(smf([track([])], fmt=0))
    (root / "ok_bytes.MID").write_bytes(smf([track(scale(5))], fmt=0))
    (root / "notes.txt").write_text("ignored: not a MIDI suffix")
    return 4  # good files


def test_mixed_folder_loads_the_good_files(tmp_path, corpus_dir):
    n_good = make_mixed_folder(tmp_path, corpus_dir)
    warnings: list[str] = []
    corpus = load_corpus(tmp_path, warn=warnings.append)
    assert len(corpus.pieces) == n_good
    assert sorted(f.path.rsplit("/", 1)[-1] for f in corpus.skipped) == ["empty.mid", "silent.mid", "text.midi"]
    assert len(warnings) == 3 and all("\n" not in w for w in warnings)
    assert any("empty.mid" in w and "empty file" in w for w in warnings)
    summary = corpus.summary()
    assert summary["files_read"] == n_good and summary["files_skipped"] == 3
    assert summary["vocab_size"] > 1 and 0 < summary["coverage"] <= 1


def test_fingerprint_is_stable_and_content_based(tmp_path, corpus_dir):
    make_mixed_folder(tmp_path, corpus_dir)
    a = load_corpus(tmp_path).fingerprint()
    assert a == load_corpus(tmp_path).fingerprint()
    (tmp_path / "ok_bytes.MID").write_bytes(smf([track(scale(6))], fmt=0))
    assert load_corpus(tmp_path).fingerprint() != a


def test_inspect_json(tmp_path, corpus_dir, capsys):
    make_mixed_folder(tmp_path, corpus_dir)
    assert main(["corpus", "inspect", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] == 3 and len(out["files"]) == 7
    bad = {f["path"].rsplit("/", 1)[-1]: f for f in out["files"] if not f["ok"]}
    assert bad["text.midi"]["error"] == "not a MIDI file (no MThd header)"
    assert all(f["notes"] > 0 and f["events"] > 0 for f in out["files"] if f["ok"])


def test_inspect_exit_codes(tmp_path, capsys):
    (tmp_path / "bad.mid").write_bytes(b"junk")
    assert main(["corpus", "inspect", str(tmp_path)]) == 1
    assert main(["corpus", "inspect", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing: no such file or folder" in err


def test_inspect_whole_corpus_in_a_fresh_process(corpus_dir):
    """The acceptance command: every style folder, 0 skipped, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "lstm_composer_plugin.cli", "corpus", "inspect", str(corpus_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    on_disk = sorted(corpus_dir.rglob("*.mid"))
    assert out["skipped"] == 0 and len(out["files"]) == len(on_disk) >= 1258
    styles = {f["path"].split("/")[-2] for f in out["files"]}
    assert styles == {p.parent.name for p in on_disk} and len(styles) >= 14


def test_usage_error_is_one_line(capsys):
    proc = subprocess.run(
        [sys.executable, "-m", "lstm_composer_plugin.cli", "corpus", "inspect"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") <= 1 and "Traceback" not in proc.stderr


def test_inspect_says_when_a_file_was_read_only_up_to_a_cut(tmp_path, corpus_dir):
    """Issue 12 item 13: a 500-byte head of a real chorale is readable, and said to be cut."""
    source = sorted((corpus_dir / "bach").glob("*.mid"))[0]
    cut = tmp_path / "cut.mid"
    cut.write_bytes(source.read_bytes()[:500])
    shutil.copy(source, tmp_path / "whole.mid")
    proc = subprocess.run(
        [sys.executable, "-m", "lstm_composer_plugin.cli", "corpus", "inspect", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    by_name = {f["path"].rsplit("/", 1)[-1]: f for f in report["files"]}
    assert by_name["cut.mid"]["ok"] and "truncated" in by_name["cut.mid"]["truncated"]
    assert by_name["whole.mid"]["truncated"] is None
    assert report["files_truncated"] == 1
    proc = subprocess.run(
        [sys.executable, "-m", "lstm_composer_plugin.cli", "corpus", "inspect", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"{cut}: read only up to where it is cut" in proc.stdout
