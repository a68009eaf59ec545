"""compose(): determinism, liveliness, provenance, options, the CLI's one-line errors, no TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from hostapi import Host
from hostapi.results import ComposeOptions
from lstm_composer_plugin.compose.composer import compose
from lstm_composer_plugin.errors import ComposerError, UnknownStyleError, UsageError
from lstm_composer_plugin.models import bundled_models, locate_model
from lstm_composer_plugin.music.midi import read_midi
from lstm_composer_plugin.music.stats import distinct_per_100, longest_run
from tests.model_fixtures import BACH

pytest_plugins = ["tests.model_fixtures"]  # the tiny_model fixture

REPO = Path(__file__).resolve().parents[1]
BUNDLED_BACH = bundled_models().get("bach")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lstm_composer_plugin.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- determinism and liveliness --------------------------------------------------------------


def test_same_seed_gives_the_same_midi_bytes(tiny_model, tmp_path):
    a = compose("bach", ComposeOptions(out_path=tmp_path / "a.mid", seed=11, length=200), model_path=tiny_model)
    b = compose("bach", ComposeOptions(out_path=tmp_path / "b.mid", seed=11, length=200), model_path=tiny_model)
    c = compose("bach", ComposeOptions(out_path=tmp_path / "c.mid", seed=12, length=200), model_path=tiny_model)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    assert (a.seed, a.events, a.style) == (11, 200, "bach")
    assert a.duration_seconds > 0


def _check_lively(model: Path, tmp_path: Path) -> None:
    for seed in range(20):
        result = compose("bach", ComposeOptions(out_path=tmp_path / f"{seed}.mid", seed=seed), model_path=model)
        r = result.report
        assert r["longest_repeat"] <= r["guards"]["max_run"] <= 8, seed
        assert r["distinct_per_100"] >= 10, seed
        assert r["longest_borrowed_run"] <= 12, seed
        # The report describes the file that was written.
        assert result.events == r["events"] == 500


def test_twenty_seeded_compositions_are_lively_and_original(tiny_model, tmp_path):
    _check_lively(tiny_model, tmp_path)


def test_bach_is_bundled():
    """The package ships bach (the README's first command composes with it, offline)."""
    assert BUNDLED_BACH is not None and BUNDLED_BACH.is_file()


def test_bundled_model_twenty_seeded_compositions(tmp_path):
    """The bundled note-level model: exactly the notes asked for, no one-pitch loop, no borrowed tune."""
    for seed in range(20):
        result = compose("bach", ComposeOptions(out_path=tmp_path / f"{seed}.mid", seed=seed), model_path=BUNDLED_BACH)
        r = result.report
        assert r["longest_repeat"] <= r["guards"]["max_run"] <= 8, seed
        assert r["distinct_per_100"] >= 10, seed
        assert r["longest_borrowed_melody"] <= r["guards"]["copy_limit"], seed
        assert result.events == r["events"] == r["notes"] == 500 == len(read_midi(result.path).notes)


def test_bundled_model_composes_by_style_name(tmp_path):
    """By name, offline: a file in the chorales' metre that starts on a bar and keeps moving."""
    result = Host().compose("bach", ComposeOptions(out_path=tmp_path / "bach.mid", seed=1, offline=True))
    assert result.path.is_file() and result.model_id
    piece = read_midi(result.path)
    assert piece.time_signature == (4, 4) and result.report["time_signature"] == "4/4"
    top = [max(n.pitch for n in piece.notes if n.start == t) for t in sorted({n.start for n in piece.notes})]
    assert longest_run(top) <= 8 and distinct_per_100(top) >= 10


# -- output: MIDI text events, report, variations, length, primer, png ------------------------


def test_midi_records_provenance_and_the_report(tiny_model, tmp_path):
    result = compose("bach", ComposeOptions(out_path=tmp_path / "p.mid", seed=5, temperature=0.9, length=100), model_path=tiny_model)
    texts = [m.text for m in mido.MidiFile(result.path).tracks[0] if m.type == "text"]
    joined = "\n".join(texts)
    for needle in ("style=bach", f"model={result.model_id}", "epoch=10", "seed=5", "temperature=0.9", "longest borrowed run"):
        assert needle in joined
    assert result.report["borrowed_from"].endswith(".mid") or result.report["longest_borrowed_run"] == 0
    json.dumps(result.to_dict())  # the host prints this


def test_variations_seconds_and_tempo(tiny_model, tmp_path):
    opts = ComposeOptions(out_path=tmp_path / "v.mid", seed=3, variations=3, seconds=20, tempo=90)
    result = compose("bach", opts, model_path=tiny_model)
    assert [p.name for p in result.variations] == ["v.mid", "v-2.mid", "v-3.mid"]
    assert all(p.is_file() for p in result.variations)
    assert len(result.report["variations"]) == 3
    # At least the asked length, at most one event (capped at 16 beats) more.
    assert 20 <= result.duration_seconds <= 20 + 16 * 60 / 90 + 16 * 60 / 90
    assert read_midi(result.path).bpm == pytest.approx(90, abs=0.01)


def test_primer_file_is_continued(tiny_model, tmp_path):
    primer = sorted(BACH.glob("*.mid"))[0] if BACH.is_dir() else None
    if primer is None:
        pytest.skip("corpus not found")
    result = compose("bach", ComposeOptions(out_path=tmp_path / "c.mid", seed=2, length=50, primer=primer), model_path=tiny_model)
    assert result.events == 50
    assert primer.name in result.report["primer"]
    assert read_midi(result.path).bpm == pytest.approx(read_midi(primer).bpm, abs=0.01)


def test_png_piano_roll(tiny_model, tmp_path):
    pytest.importorskip("matplotlib")
    result = compose("bach", ComposeOptions(out_path=tmp_path / "r.mid", seed=1, length=60, png=True), model_path=tiny_model)
    assert result.png_path == tmp_path / "r.png"
    assert result.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        (ComposeOptions(length=-5), "length"),
        (ComposeOptions(temperature=0), "temperature"),
        (ComposeOptions(temperature=-1), "temperature"),
        (ComposeOptions(seconds=0), "seconds"),
        (ComposeOptions(variations=0), "variations"),
        (ComposeOptions(top_p=2), "top-p"),
    ],
)
def test_bad_options_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message):
        compose("bach", options, model_path=BUNDLED_BACH)


def test_unknown_style_and_missing_model_are_one_line_errors(tmp_path):
    with pytest.raises(UnknownStyleError, match="nosuchstyle"):
        locate_model("nosuchstyle", offline=True)
    with pytest.raises(ComposerError, match="no such model file"):
        locate_model("", tmp_path / "missing.lstmc")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--style", "nosuchstyle", "--offline"], "nosuchstyle"),
        (["--style", "bach", "--length", "-5"], "length"),
        (["--style", "bach", "--temperature", "0"], "temperature"),
        (["--style", "bach", "--primer", "PRIMER"], "PRIMER"),
        (["--model", "missing.lstmc"], "missing.lstmc"),
        (["--style", "bach", "--length", "ten"], "length"),
        ([], "needs a STYLE"),
    ],
)
def test_cli_errors_are_one_line(args, needle, tmp_path):
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"this is not a MIDI file")
    args = [str(garbage) if a == "PRIMER" else a for a in args]
    needle = str(garbage) if needle == "PRIMER" else needle
    proc = _cli("compose", *args, cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_compose_json_imports_no_tensorflow_or_matplotlib(tiny_model, tmp_path):
    # A fresh interpreter: the parent test process has TensorFlow loaded for training.
    script = (
        "import sys, json\n"
        "from lstm_composer_plugin.cli import main\n"
        f"rc = main(['compose', '--model', {str(tiny_model)!r}, '--seed', '4', '--length', '80', '--json', '-o', 'x.mid'])\n"
        "assert rc == 0, rc\n"
        "print(json.dumps(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip().splitlines()
    assert json.loads(out[-1]) == []
    result = json.loads("\n".join(out[:-1]))
    assert result["seed"] == 4 and result["events"] == 80 and (tmp_path / "x.mid").is_file()


def test_cli_styles_lists_bundled_styles(tmp_path):
    proc = _cli("styles", "--json", "--offline", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = {row["name"] for row in json.loads(proc.stdout)}
    assert set(bundled_models()) <= names


def test_two_threads_composing_at_once_give_the_same_bytes(tmp_path):
    """Issue 11 item 6: the BLAS thread limit is per call (threadpoolctl), no shared state."""
    import threading

    def piece(name: str, seed: int) -> bytes:
        options = ComposeOptions(out_path=tmp_path / name, seed=seed, length=120)
        return compose("bach", options, model_path=BUNDLED_BACH).path.read_bytes()

    alone = [piece("alone-1.mid", 1), piece("alone-2.mid", 2)]
    together: dict[int, bytes] = {}
    start = threading.Barrier(2)

    def worker(seed: int) -> None:
        start.wait()
        together[seed] = piece(f"together-{seed}.mid", seed)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [together[1], together[2]] == alone and alone[0] != alone[1]


def test_a_tune_of_a_one_line_style_never_sounds_two_notes_at_once(tmp_path):
    """Styles whose pieces are one line (irish: ``max_chord`` 1): a note the network made longer than
    the time to the next one stops where the next begins, in the MIDI as written; the onsets and
    pitches are the network's."""
    from lstm_composer_plugin.compose.note_composer import one_line
    from lstm_composer_plugin.music.midi import Note
    from tests.conftest import CORPUS
    from tests.model_fixtures import random_note_model

    if not (CORPUS / "irish").is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    model = random_note_model(tmp_path / "irish.lstmc", style="irish", controls=True)
    result = compose("irish", ComposeOptions(seed=2, length=300, out_path=tmp_path / "tune.mid"), model_path=model)
    notes = read_midi(result.path).notes
    assert len(notes) == 300
    assert len({n.start for n in notes}) == 300  # one note at each onset
    assert all(a.start + a.duration <= b.start + 1e-6 for a, b in zip(notes, notes[1:], strict=False))
    # Only lengths that ring into the next note change, in beats and in seconds alike.
    given = [Note(60, 0.0, 1.5, start_s=0.0, duration_s=0.75), Note(62, 1.0, 0.5, start_s=0.5, duration_s=0.25),
             Note(64, 2.0, 1.0, start_s=1.0, duration_s=0.5)]
    assert [(n.duration, n.duration_s) for n in one_line(given)] == [(1.0, 0.5), (0.5, 0.25), (1.0, 0.5)]


def test_composing_the_bundled_style_loads_neither_http_nor_the_trainer(tmp_path):
    """The user's Compose imports what composing needs: no requests (nothing is downloaded for an installed
    or bundled style), no trainer modules (the command line only builds their parsers); docs/benchmarks.md."""
    script = (
        "import sys, json\n"
        "from lstm_composer_plugin.cli import main\n"
        "rc = main(['compose', 'bach', '--seed', '4', '--length', '40', '-q', '-o', 'y.mid'])\n"
        "assert rc == 0, rc\n"
        "print(json.dumps(sorted(m for m in ('requests', 'urllib3', 'lstm_composer_plugin.train.trainer',\n"
        "                                    'lstm_composer_plugin.train.fit', 'lstm_composer_plugin.train.finish')\n"
        "                        if m in sys.modules)))\n"
    )
    env = {**os.environ, "LSTM_COMPOSER_HOME": str(tmp_path / "store")}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert read_midi(tmp_path / "y.mid").notes
