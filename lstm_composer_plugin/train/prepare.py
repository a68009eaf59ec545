"""The first stage of a run: corpus → validation split → vocabulary → token streams (→ run.json).

``prepare`` reads the corpus and returns a :class:`PreparedRun`, everything the fit loop,
the checkpoints and the choice need. A fresh run decides the split and the vocabulary and
writes them to ``run.json``; a resumed run reads them back from there (and checks that the
corpus is still the one it started with). No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.music.corpus import Corpus, load_corpus
from lstm_composer_plugin.music.stats import CorpusIndex
from lstm_composer_plugin.train import checkpoints as ck
from lstm_composer_plugin.train.choose import Thresholds
from lstm_composer_plugin.train.dataset import split_pieces
from lstm_composer_plugin.train.scorecard import baseline
from lstm_composer_plugin.train.settings import RESUMABLE, NetworkConfig, TrainSettings
from lstm_composer_plugin.train.tokensets import (
    TokenSet,
    make_token_set,
    piece_sizes,
    restore_token_set,
)
from lstm_composer_plugin.train.warmstart import resolve_init


@dataclass
class PreparedRun:
    """One training run's data, prepared once (fresh) or rebuilt from run.json (resume)."""

    out: Path
    style: str
    corpus_dir: Path
    settings: TrainSettings
    config: NetworkConfig
    tokens: TokenSet  # the encoding, its vocabulary and how the scorecard reads tokens
    train_tokens: np.ndarray
    train_offsets: np.ndarray
    train_names: list[str]
    val_tokens: np.ndarray
    val_offsets: np.ndarray
    val_names: list[str]
    val_notes: int  # notes in the validation pieces (for bits per note)
    corpus_info: dict[str, Any]  # fingerprint, files, skipped
    stats: dict[str, Any]  # style statistics of the training pieces
    index: CorpusIndex  # for the scorecard's copy measures
    baseline: dict[str, Any]  # the scorecard of real validation pieces
    thresholds: Thresholds

    @property
    def n_units(self) -> int:
        """Musical units in the training pieces: events or notes (what the descriptions count)."""
        return self.tokens.count_units(self.train_tokens)

    @property
    def validated(self) -> bool:
        """Whether validation loss is measured (held-out pieces long enough for one sequence)."""
        return len(self.val_tokens) >= 2 and (
            self.settings.recipe == "default" or len(self.val_tokens) > self.settings.seq_len
        )


def prepare(corpus_dir: str | Path, style: str, out: Path, overrides: dict[str, Any], *, resume: bool,
            say: Callable[[str], None]) -> PreparedRun:
    """Read the corpus and set up (or restore) the run in ``out``; writes ``out/run.json`` when fresh."""
    corpus_dir = Path(corpus_dir)
    corpus = load_corpus(corpus_dir, warn=lambda m: say(f"warning: {m}"))
    names = corpus.names
    if resume:
        info = ck.read_json(out / ck.RUN_FILE)
        if info["corpus"]["fingerprint"] != corpus.fingerprint():
            raise UsageError(
                f"{corpus_dir}: the MIDI files differ from those this run started with "
                f"(fingerprint {corpus.fingerprint()[:12]}, run {info['corpus']['fingerprint'][:12]}); "
                "train a new run with another --out"
            )
        settings = _resumed_settings(info, overrides, say)
        position = {n: i for i, n in enumerate(names)}
        train_idx = [position[n] for n in info["corpus"]["train_pieces"]]
        val_idx = [position[n] for n in info["corpus"]["val_pieces"]]
        token_set = restore_token_set(info, corpus, train_idx)
        config = NetworkConfig.from_dict(info["network"])
        config.learning_rate = settings.learning_rate
    else:
        settings = TrainSettings(**overrides)
        settings.validate()
        if settings.init_from:
            resolve_init(settings.init_from)  # a wrong path fails now, not after the corpus is read
        if not corpus.pieces:
            raise UsageError(f"{corpus_dir}: no readable MIDI files to train on")
        sizes = piece_sizes(settings, corpus)
        split = split_pieces(names, settings.val_fraction, sizes=sizes, min_val_tokens=settings.seq_len + 1)
        train_idx, val_idx = split.train, split.val
        token_set = make_token_set(settings, corpus, train_idx, val_idx)
        config = settings.network(token_set.n_vocab)

    train_tokens, train_offsets = token_set.tokenize(corpus, train_idx)
    val_tokens, val_offsets = token_set.tokenize(corpus, val_idx)
    if len(train_tokens) < settings.seq_len + 1:
        raise UsageError(
            f"{corpus_dir}: {len(train_tokens)} training tokens are fewer than one sequence "
            f"({settings.seq_len + 1}); add pieces or lower --seq-len"
        )
    train_names = [names[i] for i in train_idx]
    stats = token_set.style_stats(corpus, train_idx)
    index = token_set.copy_index(train_tokens, train_offsets, train_names)
    base = baseline(val_tokens, val_offsets, index, stats, token_set, n_events=settings.sample_events)
    skipped = [{"path": f.path, "error": f.error} for f in corpus.skipped]
    corpus_info = {"fingerprint": corpus.fingerprint(), "files": len(corpus.pieces), "skipped": skipped}

    run = PreparedRun(
        out=out, style=style, corpus_dir=corpus_dir, settings=settings, config=config, tokens=token_set,
        train_tokens=train_tokens, train_offsets=train_offsets, train_names=train_names,
        val_tokens=val_tokens, val_offsets=val_offsets, val_names=[names[i] for i in val_idx],
        val_notes=token_set.count_notes(corpus, val_idx),
        corpus_info=corpus_info, stats=stats, index=index, baseline=base,
        thresholds=Thresholds.from_baseline(base),
    )
    if not resume:
        write_run_file(run, corpus, train_idx)
    val_note = f"{len(val_idx)} validation pieces" if run.validated else (
        "no validation (too few pieces to hold any out): the epoch choice uses training loss"
        if not val_idx else
        f"{len(val_idx)} validation pieces, too short for one sequence: the epoch choice uses training loss")
    say(
        f"{style}: {len(train_idx)} training pieces ({run.n_units} {token_set.unit}s), {val_note}, "
        f"{token_set.describe()}, recipe {settings.recipe} ({settings.input} input)"
    )
    return run


def _resumed_settings(info: dict[str, Any], overrides: dict[str, Any], say: Callable[[str], None]) -> TrainSettings:
    settings = TrainSettings.from_dict(info["settings"])
    for k, v in overrides.items():
        if k in RESUMABLE:
            setattr(settings, k, v)
        elif v != getattr(settings, k):
            say(f"notice: --resume keeps the run's {k} ({getattr(settings, k)!r}); ignoring {v!r}")
    settings.validate()
    return settings


def write_run_file(run: PreparedRun, corpus: Corpus, train_idx: list[int]) -> None:
    """run.json: what a resume needs to rebuild exactly this run (written once, atomically)."""
    ck.write_json(run.out / ck.RUN_FILE, {
        "style": run.style,
        "corpus_dir": str(run.corpus_dir.resolve()),
        "settings": asdict(run.settings),
        "network": run.config.to_dict(),
        **run.tokens.to_manifest(),
        "corpus": {**run.corpus_info, "train_pieces": run.train_names, "val_pieces": run.val_names},
        "coverage": round(run.tokens.coverage(corpus, train_idx), 4),
    })


__all__ = ["PreparedRun", "prepare", "write_run_file"]
