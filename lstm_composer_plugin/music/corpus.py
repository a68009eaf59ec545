"""A folder of MIDI files → pieces and their events, skipping (and naming) the bad ones."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lstm_composer_plugin.errors import MidiReadError, UsageError
from lstm_composer_plugin.music.midi import Piece, read_midi
from lstm_composer_plugin.music.tokens import Event, EventEncoding, Vocabulary, piece_to_events

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi", ".rmi", ".kar")


@dataclass
class FileReport:
    path: str
    ok: bool
    notes: int = 0
    events: int = 0
    error: str = ""
    truncated: str = ""  # the reader stopped where the file is cut: what it says about the cut


@dataclass
class Corpus:
    root: Path
    pieces: list[Piece] = field(default_factory=list)
    events: list[list[Event]] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)  # per loaded piece

    @property
    def skipped(self) -> list[FileReport]:
        return [f for f in self.files if not f.ok]

    @property
    def names(self) -> list[str]:
        return [_relative(self.root, p.path) for p in self.pieces]

    def fingerprint(self) -> str:
        """sha256 over the sorted file hashes: the same files give the same fingerprint."""
        return hashlib.sha256("\n".join(sorted(self.sha256)).encode()).hexdigest()

    def summary(self, min_count: int = 2) -> dict:
        vocab = Vocabulary.build(self.events, min_count=min_count) if self.events else None
        return {
            "root": str(self.root),
            "files_read": len(self.pieces),
            "files_skipped": len(self.skipped),
            "files_truncated": sum(bool(f.truncated) for f in self.files),
            "skipped": [{"path": f.path, "error": f.error} for f in self.skipped],
            "notes": sum(len(p.notes) for p in self.pieces),
            "events": sum(len(e) for e in self.events),
            "vocab_size": len(vocab) if vocab else 0,
            "min_count": min_count,
            "coverage": round(vocab.coverage(self.events), 4) if vocab else 0.0,
        }


def _relative(root: Path, path: str) -> str:
    try:
        return str(Path(path).relative_to(root)) if root.is_dir() else Path(path).name
    except ValueError:
        return Path(path).name


def find_midi_files(path: str | os.PathLike[str]) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"{path}: no such file or folder")
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def load_corpus(
    path: str | os.PathLike[str],
    encoding: EventEncoding = EventEncoding(),
    warn: Callable[[str], None] | None = None,
) -> Corpus:
    """Read every MIDI file under ``path`` (recursively); bad files are skipped with a warning."""
    root = Path(path)
    warn = warn or log.warning
    corpus = Corpus(root=root)
    for file in find_midi_files(root):
        name = str(file)
        try:
            piece = read_midi(file)
            if not piece.notes:
                raise MidiReadError(f"{file}: no notes")
        except MidiReadError as exc:
            warn(f"skipping {exc}")
            corpus.files.append(FileReport(path=name, ok=False, error=str(exc).removeprefix(f"{file}: ")))
            continue
        events = piece_to_events(piece, encoding)
        corpus.pieces.append(piece)
        corpus.events.append(events)
        corpus.sha256.append(hashlib.sha256(file.read_bytes()).hexdigest())
        cut = "; ".join(w for w in piece.warnings if "truncated" in w)
        corpus.files.append(
            FileReport(path=name, ok=True, notes=len(piece.notes), events=len(events), truncated=cut)
        )
    return corpus
