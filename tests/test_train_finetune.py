"""Fine-tuning from another run (``--init-from``), ``--distribute`` on the CPU, and the per-folder split.

The corpus-wide network seeds every style (``train-all``): a fine-tuned run starts from the
source run's weights exactly, refuses a network of another shape with one line, and never
trained on its own style's validation pieces, because a corpus of style folders is split
folder by folder as each style's own run splits it. ``--distribute mirrored`` is exercised
through the strategy's one-device path, as CI has no GPU.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.train.dataset import split_pieces

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not (CORPUS / "bach").is_dir(), reason=f"{CORPUS} not present")

TINY = dict(lstm_units=[24, 12], dense_units=12, embedding_dim=8, seq_len=48, batch_size=8, samples=1,
            sample_events=30)


def test_a_corpus_of_style_folders_holds_out_what_each_style_holds_out():
    styles = {s: sorted(p.name for p in (CORPUS / s).glob("*.mid")) for s in ("bach", "lullabies", "haydn")}
    whole = [f"{s}/{n}" for s, names in styles.items() for n in names]
    split = split_pieces(whole, 0.1)
    for style, names in styles.items():
        own = split_pieces(names, 0.1)
        held = sorted(whole[i] for i in split.val if whole[i].startswith(style + "/"))
        assert held == sorted(f"{style}/{names[i]}" for i in own.val) and held
    assert sorted(split.train + split.val) == list(range(len(whole)))


@pytest.fixture(scope="module")
def two_styles(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for style, n in (("bach", 5), ("lullabies", 5)):
        (root / style).mkdir()
        for f in sorted((CORPUS / style).glob("*.mid"))[:n]:
            shutil.copy(f, root / style / f.name)
    return root


@pytest.fixture(scope="module")
def source_run(two_styles, tmp_path_factory):
    pytest.importorskip("tensorflow")
    from lstm_composer_plugin.train import train

    out = tmp_path_factory.mktemp("runs") / "_corpus"
    train(two_styles, "corpus", out, epochs=1, checkpoint_every=1, **TINY)
    return out


def _lstm_kernel(state: Path) -> np.ndarray:
    from lstm_composer_plugin.train.checkpoints import load_keras_state

    return load_keras_state(state).get_layer("lstm_0").get_weights()[0]


@pytest.mark.tf
def test_a_fine_tuned_run_starts_from_the_source_weights(source_run, two_styles, tmp_path):
    from lstm_composer_plugin.train import train
    from lstm_composer_plugin.train.warmstart import resolve_init

    start = resolve_init(source_run)
    assert start == source_run / "checkpoints" / "epoch_0001" / "state.keras"
    # A step too small to move the weights: what the run ends with is what it started from.
    tuned = train(two_styles / "lullabies", "lullabies", tmp_path / "tuned", epochs=1, checkpoint_every=1,
                  init_from=str(source_run), learning_rate=1e-12, **TINY)
    scratch = train(two_styles / "lullabies", "lullabies", tmp_path / "scratch", epochs=1, checkpoint_every=1,
                    learning_rate=1e-12, seed=5, **TINY)
    src = _lstm_kernel(start)
    mine = _lstm_kernel(tmp_path / "tuned" / "checkpoints" / "epoch_0001" / "state.keras")
    other = _lstm_kernel(tmp_path / "scratch" / "checkpoints" / "epoch_0001" / "state.keras")
    assert np.allclose(src, mine, atol=1e-6) and not np.allclose(src, other, atol=1e-3)
    assert json.loads((tmp_path / "tuned" / "run.json").read_text())["settings"]["init_from"] == str(source_run)
    assert tuned.model_path is not None and scratch.model_path is not None
    # The model file names its start by the run's folder name, not by a path of the training machine.
    from lstm_composer_plugin.modelfile import read_manifest

    assert read_manifest(tuned.model_path)["training"]["settings"]["init_from"] == source_run.name
    assert str(tmp_path) not in json.dumps(read_manifest(tuned.model_path).raw)


@pytest.mark.tf
def test_fine_tuning_from_a_model_file_or_an_installed_style(source_run, two_styles, tmp_path, monkeypatch):
    """The store's ``corpus`` network (a published ``.lstmc``) is a starting point too: the page's
    "fine-tune from the corpus network" names it as an installed style."""
    from hostapi import ModelsRequest
    from lstm_composer_plugin.manager import manage
    from lstm_composer_plugin.train import train
    from lstm_composer_plugin.train.warmstart import resolve_init

    model = source_run / "model.lstmc"
    assert model.is_file()
    src = _lstm_kernel(resolve_init(source_run))
    tuned = train(two_styles / "lullabies", "lullabies", tmp_path / "from_file", epochs=1, checkpoint_every=1,
                  init_from=str(model), learning_rate=1e-12, **TINY)
    mine = _lstm_kernel(tmp_path / "from_file" / "checkpoints" / "epoch_0001" / "state.keras")
    assert np.allclose(src, mine, atol=2e-3)  # the file keeps float16 weights
    assert tuned.model_path is not None
    # Installed in the store under its style name ("corpus"), it is found by that name.
    monkeypatch.setenv("LSTM_COMPOSER_HOME", str(tmp_path / "store"))
    manage(ModelsRequest(action="install", files=[model], force=True, offline=True), None)
    assert resolve_init("corpus").name.endswith(".lstmc")
    train(two_styles / "bach", "bach", tmp_path / "from_style", epochs=1, checkpoint_every=1, init_from="corpus",
          learning_rate=1e-12, **TINY)
    theirs = _lstm_kernel(tmp_path / "from_style" / "checkpoints" / "epoch_0001" / "state.keras")
    assert np.allclose(src, theirs, atol=2e-3)
    with pytest.raises(UsageError, match="no such run folder, and no installed style of that name"):
        resolve_init("mozart_for_lutes")


@pytest.mark.tf
def test_init_from_refuses_another_shape_and_a_wrong_path_in_one_line(source_run, two_styles, tmp_path):
    from lstm_composer_plugin.train import train

    wider = {**TINY, "lstm_units": [32, 12]}
    with pytest.raises(UsageError) as e:
        train(two_styles / "bach", "bach", tmp_path / "wide", epochs=1, init_from=str(source_run), **wider)
    assert str(source_run) in str(e.value) and "lstm_0" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UsageError, match="names no run folder"):
        train(two_styles / "bach", "bach", tmp_path / "nowhere", epochs=1, init_from=str(tmp_path / "nope"), **TINY)
    assert not (tmp_path / "nowhere" / "run.json").exists()
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(UsageError, match="no checkpoint yet"):
        train(two_styles / "bach", "bach", tmp_path / "x", epochs=1, init_from=str(empty), **TINY)


@pytest.mark.tf
def test_freeze_epochs_keep_the_starting_lstms_then_train_them(source_run, two_styles, tmp_path):
    """``--freeze-epochs 1``: the first epoch trains only the layers after the LSTMs (the embedding and the LSTMs
    come out exactly as the starting network's), the second trains them all; without ``--init-from`` there is
    nothing to keep, and it is refused in one line before anything is written."""
    from lstm_composer_plugin.train import train
    from lstm_composer_plugin.train.checkpoints import load_keras_state
    from lstm_composer_plugin.train.warmstart import resolve_init

    train(two_styles / "lullabies", "lullabies", tmp_path / "frozen", epochs=2, checkpoint_every=1,
          init_from=str(source_run), freeze_epochs=1, learning_rate=1e-2, **TINY)
    start = load_keras_state(resolve_init(source_run))
    first, second = (load_keras_state(tmp_path / "frozen" / "checkpoints" / f"epoch_{e:04d}" / "state.keras")
                     for e in (1, 2))
    for name in ("embedding", "lstm_0", "lstm_1"):
        for a, b in zip(start.get_layer(name).get_weights(), first.get_layer(name).get_weights(), strict=True):
            assert np.array_equal(a, b), name
    assert not np.allclose(start.get_layer("dense_0").get_weights()[0], first.get_layer("dense_0").get_weights()[0])
    assert not np.allclose(first.get_layer("lstm_0").get_weights()[0], second.get_layer("lstm_0").get_weights()[0])
    assert all(layer.trainable for layer in second.layers)
    with pytest.raises(UsageError, match="freeze-epochs .* needs --init-from") as e:
        train(two_styles / "bach", "bach", tmp_path / "none", epochs=1, freeze_epochs=2, **TINY)
    assert "\n" not in str(e.value) and not (tmp_path / "none" / "run.json").exists()


@pytest.mark.tf
def test_distribute_mirrored_trains_on_the_one_cpu_device(two_styles, tmp_path):
    from lstm_composer_plugin.train import train

    said: list[str] = []
    result = train(two_styles / "lullabies", "lullabies", tmp_path / "mirrored", epochs=1, checkpoint_every=1,
                   distribute="mirrored", say=said.append, **TINY)
    assert any("MirroredStrategy over 1 replica" in line for line in said)
    assert result.model_path is not None and result.model_path.is_file()
    history = json.loads((tmp_path / "mirrored" / "metrics.json").read_text())["history"]
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["val_bits_per_note"][0])
