"""The default recipe on the note-level encoding: real Keras steps on a few real chorales, tiny widths.

A note model trains, validates in bits per note, exports everything compose needs (the
encoding with the style's profile, the melody index), composes through the plugin's
``compose`` with the NumPy engine alone (TensorFlow blocked in that process), and the NumPy
engine matches Keras on its weights within 1e-4. Key augmentation draws transpositions that
keep every chunk in range; a note run resumes from run.json.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BACH = REPO.parent / "shared" / "corpus" / "bach"
pytestmark = pytest.mark.skipif(not BACH.is_dir(), reason=f"{BACH} not present")

TINY = dict(lstm_units=[24, 12], dense_units=12, embedding_dim=8, seq_len=48, batch_size=8, samples=2,
            sample_events=30)


@pytest.fixture(scope="module")
def chorales(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chorales")
    for f in sorted(BACH.glob("*.mid"))[:6]:
        shutil.copy(f, root / f.name)
    return root


@pytest.fixture(scope="module")
def note_run(chorales, tmp_path_factory):
    pytest.importorskip("tensorflow")
    from lstm_composer_plugin.train import train

    out = tmp_path_factory.mktemp("runs") / "bach"
    result = train(chorales, "bach", out, epochs=2, checkpoint_every=1, **TINY)
    return out, result


# -- no TensorFlow needed ----------------------------------------------------------------------


def test_the_default_recipe_is_the_note_encoding_with_the_seeds_widths():
    from lstm_composer_plugin.train import TrainSettings

    s = TrainSettings()
    assert (s.recipe, s.encoding, s.key_mode, s.input) == ("default", "notes", "normalise", "embedding")
    assert (s.lstm_units, s.dense_units, s.dropout) == ([512, 256], 128, 0.2)
    ref = TrainSettings(recipe="reference")
    assert (ref.encoding, ref.input, ref.learning_rate, ref.key_mode) == ("events", "scalar", 1e-3, "none")
    assert TrainSettings(encoding="events").seq_len == 100


def test_cli_help_comes_from_the_settings_record():
    proc = subprocess.run([sys.executable, "-m", "lstm_composer_plugin.cli", "train", "--help"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0
    for expect in ("--encoding {notes,events}", "--key-mode {normalise,augment,none}", "(default: 512,256)",
                   "--save-every TIME", "(default: 2m)", "--lr X"):
        assert expect in text, expect


def test_key_augmentation_transposes_each_chunk_within_the_pitch_range(chorales):
    from lstm_composer_plugin.music.controls import N_CHORDS, QUALITIES
    from lstm_composer_plugin.music.corpus import load_corpus
    from lstm_composer_plugin.music.notes import NoteEncoding, token_table
    from lstm_composer_plugin.train.dataset import chunk_starts
    from lstm_composer_plugin.train.notetokens import KeyAugmenter, NoteTokens
    from lstm_composer_plugin.train.settings import TrainSettings

    corpus = load_corpus(chorales)
    tokens_of = NoteTokens.build(TrainSettings(key_mode="augment"), corpus, range(6), [])
    tokens, _ = tokens_of.tokenize(corpus, range(6))
    enc = tokens_of.enc
    assert enc == NoteEncoding(key_mode="augment", controls=True)  # bar controls are the default
    t = token_table(enc)
    aug = KeyAugmenter(enc)
    # A narrow range makes the limits bite: the chorales span about three octaves.
    narrow = NoteEncoding(key_mode="augment", pitch_low=36, pitch_high=84, controls=True)
    assert KeyAugmenter(narrow).table.shape == (13, token_table(narrow).size)
    rng = np.random.default_rng(0)
    starts = chunk_starts(len(tokens), 48, rng)
    shifts = []
    for epoch in range(5):
        rows = aug.draw(tokens, starts, 49, np.random.default_rng(epoch))
        for start, row in zip(starts, rows, strict=True):
            chunk = tokens[start : start + 49]
            moved = aug.table[row][chunk]
            shift = int(row) - aug.max_shift
            is_p = (chunk >= t.p0) & (chunk < t.d0)
            assert np.array_equal(moved[is_p] - chunk[is_p], np.full(is_p.sum(), shift))  # no clipping
            # Chord controls move with the notes (roots by the same shift), all else stays.
            is_ch = (chunk >= t.ch0) & (chunk < t.ch0 + N_CHORDS - 1)
            roots = (chunk[is_ch] - t.ch0) // len(QUALITIES)
            assert np.array_equal((moved[is_ch] - t.ch0) // len(QUALITIES), (roots + shift) % 12)
            assert np.array_equal(moved[~is_p & ~is_ch], chunk[~is_p & ~is_ch])
        shifts += (rows - aug.max_shift).tolist()
    assert min(shifts) == -6 and max(shifts) == 6  # every key, fresh per chunk and epoch


# -- real Keras steps ---------------------------------------------------------------------------


@pytest.mark.tf
def test_a_note_model_trains_validates_in_bits_per_note_and_exports_what_compose_needs(note_run):
    from lstm_composer_plugin.modelfile import load_model

    out, result = note_run
    metrics = json.loads((out / "metrics.json").read_text())
    h = metrics["history"]
    assert len(h["val_loss"]) == len(h["val_bits_per_note"]) == 2
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["encoding"] == "notes" and run["coverage"] >= 0.99
    assert run["vocabulary"]["kind"] == "notes" and len(run["vocabulary"]["tokens"]) == run["network"]["n_vocab"]
    # bits per note = nats per token × targets / notes / ln 2, over the validation stream
    from lstm_composer_plugin.music.corpus import load_corpus
    from lstm_composer_plugin.music.notes import NoteEncoding, count_notes, tokenize_note_pieces

    corpus = load_corpus(run["corpus_dir"])
    val = [corpus.pieces[corpus.names.index(n)] for n in run["corpus"]["val_pieces"]]
    enc = NoteEncoding.from_dict(run["encoding"])
    assert enc.controls  # the bar controls are the default and counted in the stream
    stream, _ = tokenize_note_pieces(val, enc)
    ratio = (len(stream) - 1) / count_notes(stream, enc) / math.log(2)
    assert h["val_bits_per_note"][-1] == pytest.approx(h["val_loss"][-1] * ratio, rel=1e-6)
    mf = load_model(result.model_path)
    m = mf.manifest
    assert m["encoding"]["kind"] == "notes" and m["encoding"]["key_mode"] == "normalise"
    profile = m["encoding"]["profile"]
    assert {"keys", "time_signature", "max_chord", "same_pitch_limit", "melodic_copy_limit"} <= set(profile)
    assert sum(profile["keys"].values()) == len(m["corpus"]["train_pieces"])
    # The chorales' semitone clashes per bar, and the shipped model's own beside them (measured on compositions
    # when it was shipped); the checkpoint it was shipped from has only the style's.
    assert set(profile["clashes"]) == {"mean", "limit", "model"} and profile["clashes"]["model"] >= 0
    chosen = load_model(out / "checkpoints" / f"epoch_{m['epoch']:04d}" / "model.lstmc")
    assert set(chosen.manifest["encoding"]["profile"]["clashes"]) == {"mean", "limit"}
    # Likewise the share of the chorales' bars in each density class, and the shipped model's own (with a
    # correction only if its own are far from its style's, note_composer.DENSITY_GAP).
    density = profile["density"]
    assert {"style", "model"} <= set(density) and len(density["style"]) == len(density["model"])
    assert sum(density["style"]) == pytest.approx(1.0, abs=1e-3) and sum(density["model"]) == pytest.approx(1.0, abs=1e-3)
    assert set(chosen.manifest["encoding"]["profile"]["density"]) == {"style"}
    assert {"melody.intervals", "melody.offsets", "corpus.tokens", "corpus.offsets"} <= set(mf.arrays)
    assert len(mf.arrays["melody.offsets"]) == len(m["corpus"]["train_pieces"]) + 1
    assert m["quality"]["val_bits_per_note"] is not None
    assert count_notes(mf.arrays["corpus.tokens"], NoteEncoding()) > 0
    assert math.isfinite(metrics["checkpoints"][-1]["summary"]["copy_run"])


@pytest.mark.tf
def test_the_note_model_composes_with_numpy_alone(note_run, tmp_path):
    from lstm_composer_plugin.music.midi import read_midi

    out, result = note_run
    site = tmp_path / "block"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\nsys.modules['keras'] = None\n")
    midi = tmp_path / "x.mid"
    proc = subprocess.run(
        [sys.executable, "-m", "lstm_composer_plugin.cli", "compose", "--model", str(result.model_path),
         "-o", str(midi), "--length", "60", "--seed", "3"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])},
    )
    assert proc.returncode == 0, proc.stderr
    piece = read_midi(midi)
    assert len(piece.notes) >= 60 and piece.time_signature == (4, 4)


@pytest.mark.tf
def test_numpy_engine_matches_keras_on_a_note_model(note_run):
    from lstm_composer_plugin.compose.engine import NumpyNetwork
    from lstm_composer_plugin.modelfile import load_model
    from lstm_composer_plugin.train.export import keras_model_from_file

    out, result = note_run
    mf = load_model(result.model_path)
    keras_model = keras_model_from_file(mf)  # the very weights that are shipped
    net = NumpyNetwork.from_model(mf)
    tokens = mf.arrays["corpus.tokens"].astype(np.int64)
    windows = np.stack([tokens[s : s + 40] for s in (0, 100, 300)])
    keras_probs = np.asarray(keras_model(windows, training=False))
    _, probs = net.run(windows, all_positions=True)
    assert np.abs(probs - keras_probs).max() <= 1e-4
    state = net.initial_state(len(windows))
    for t in range(windows.shape[1]):
        state, p = net.step(state, windows[:, t])
        assert np.abs(p - keras_probs[:, t]).max() <= 1e-4


@pytest.mark.tf
def test_a_note_run_resumes_and_augmentation_trains(note_run, chorales, tmp_path):
    from lstm_composer_plugin.modelfile import read_manifest
    from lstm_composer_plugin.train import train

    out, _ = note_run
    copy = tmp_path / "bach"
    shutil.copytree(out, copy)
    result = train(chorales, "bach", copy, resume=True, epochs=3)
    assert result.epochs_run == 3 and len(json.loads((copy / "metrics.json").read_text())["history"]["loss"]) == 3

    aug = train(chorales, "bach", tmp_path / "aug", epochs=1, checkpoint_every=1, key_mode="augment", **TINY)
    man = read_manifest(aug.model_path)
    assert man["encoding"]["key_mode"] == "augment" and man["training"]["settings"]["key_mode"] == "augment"


def test_evaluate_stream_counts_every_target_once():
    from lstm_composer_plugin.train.fit import evaluate_stream

    vocab = 7

    def uniform(x, training=False):
        return np.full((*np.shape(x), vocab), 1 / vocab)

    for n_tokens, seq_len in [(101, 16), (10, 16), (33, 32), (64, 16)]:
        nats, targets, _ = evaluate_stream(uniform, np.arange(n_tokens) % vocab, seq_len, 4)
        assert targets == n_tokens - 1 and nats == pytest.approx(targets * math.log(vocab))


def test_progress_of_finds_new_lows_and_staleness():
    from lstm_composer_plugin.train.fit import _progress_of

    assert _progress_of([3.0, 2.0, 2.5], None) == (False, False)  # no patience: as before
    assert _progress_of([3.0, 2.0], 2) == (True, False)
    assert _progress_of([3.0, 2.0, 2.5], 2) == (False, False)
    assert _progress_of([3.0, 2.0, 2.5, 2.1], 2) == (False, True)
    assert _progress_of([3.0, 2.0, 2.0, 2.0], 2) == (False, True)  # equal is not a new low
    assert _progress_of([float("nan"), 2.0], 1) == (True, False)


def test_patience_stops_a_run_that_stopped_improving_and_keeps_its_best_epoch(chorales, tmp_path):
    """--patience: train until the validation loss stops reaching new lows; the best epoch is checkpointed."""
    pytest.importorskip("tensorflow")
    from lstm_composer_plugin.train import train

    out = tmp_path / "patient"
    # A learning rate this high on six chorales overfits within a few epochs, so the run must stop itself.
    result = train(chorales, "bach", out, epochs=40, checkpoint_every=50, patience=2, learning_rate=0.03,
                   **TINY)
    metrics = json.loads((out / "metrics.json").read_text())
    val = metrics["history"]["val_loss"]
    best = int(np.argmin(val)) + 1
    assert metrics["status"] == "no improvement" and len(val) < 40
    assert len(val) - best == 2  # stopped exactly when the patience ran out
    assert (out / "checkpoints" / f"epoch_{best:04d}").is_dir()  # each new low was checkpointed
    assert result.epochs_run == len(val) and result.model_path is not None and result.model_path.is_file()
