"""The jobs of training a whole corpus: one plain ``lstm-composer train`` command line per job.

    plan(CORPUS_ROOT, OUT)   → [Job(stage="pretrain", style="corpus", out=OUT/_corpus),
                                Job(stage="styles", style=S, out=OUT/S) for every style folder S]

The pre-training job trains one network on every piece under the root (the validation split is
made per top-level folder, so it holds out exactly each style's own validation pieces); each
style job then fine-tunes a copy of it on its own folder (``--init-from OUT/_corpus``, a lower
learning rate). Every job is one command line that does not depend on the others' processes,
so the same list runs on this machine (``jobrunner``), or on any batch scheduler as it is
printed (``lstm-composer train-all --print``; ``deploy/slurm/``).

A job's state comes from its run folder alone: *done* when ``OUT/model.lstmc`` exists (it is
written at the end of a run), *interrupted* when ``run.json`` exists without it (the job gets
``--resume``), *fresh* otherwise. No TensorFlow here: printing the plan must work anywhere.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lstm_composer_plugin.errors import UsageError
from lstm_composer_plugin.train.checkpoints import MODEL_FILE, RUN_FILE
from lstm_composer_plugin.train.settings import duration_option

PROGRAM = "lstm-composer"
PRETRAIN, STYLES = "pretrain", "styles"
STAGES = (PRETRAIN, STYLES)
DONE, INTERRUPTED, FRESH = "done", "interrupted", "fresh"
CORPUS_STYLE = "corpus"
CORPUS_RUN = "_corpus"  # the leading underscore keeps it apart from any style folder's name
MIDI_SUFFIXES = (".mid", ".midi")

PRETRAIN_TITLE = "Whole corpus (pre-training)"
# The pre-training run sees every style, so it may look at more chunks per epoch than a style's
# default (all of its own); rarer checkpoints and fewer scorecard samples keep its overhead small:
# its only use is as the starting point of the style runs.
PRETRAIN_OPTIONS = ("--chunks-per-epoch", "1024", "--checkpoint-every", "3", "--samples", "2")
# Fine-tuning starts from weights that already fit music well: half the default step (2e-3)
# keeps the first epochs from undoing them.
FINE_TUNE_LR = "0.001"
DEFAULT_BUDGET = 16 * 60.0
DEFAULT_PRETRAIN_BUDGET = 20 * 60.0

# The display title and one-sentence description of each style of ../shared/corpus (see its README).
STYLE_TEXT: dict[str, tuple[str, str]] = {
    "bach": ("Bach chorales", "J. S. Bach's four-part chorale harmonisations."),
    "beethoven": ("Beethoven string quartets", "Beethoven's string quartets, the four parts on one track."),
    "brahms": ("Brahms songs", "Johannes Brahms's Lieder for voice and piano, and the Marienlieder for choir."),
    "children": ("Children's songs", "German children's songs (Essen Folksong Collection, Kinderlieder)."),
    "chinese_folk": ("Chinese folk songs", "Han Chinese folk songs (Essen Folksong Collection)."),
    "chopin": ("Chopin mazurkas", "Chopin's mazurkas for piano."),
    "debussy": ("Debussy songs", "Claude Debussy's songs for voice and piano."),
    "fiddle": ("Fiddle tunes", "Reels, jigs, hornpipes and strathspeys (Ryan's Mammoth Collection, 1883)."),
    "german_folk": ("German folk songs", "German folk songs and ballads (Essen Folksong Collection)."),
    "haydn": ("Haydn string quartets", "Haydn string quartet movements (op. 1 no. 1, op. 74 no. 1)."),
    "irish": ("Irish traditional", "Irish tunes and airs (O'Neill's Music of Ireland, 1903)."),
    "joplin": ("Joplin rags", "Scott Joplin's rags, marches and waltzes for piano."),
    "lullabies": ("Lullabies", "German lullabies and sleep songs (Essen Folksong Collection)."),
    "monteverdi": ("Monteverdi madrigals", "Monteverdi five-voice madrigals (books 3-5)."),
    "mozart": ("Mozart piano sonatas", "Mozart piano sonata movements (K. 279-576)."),
    "schubert": ("Schubert songs", "Franz Schubert's Lieder for voice and piano (Winterreise, Schwanengesang and others)."),
    "schumann": ("Schumann songs", "Robert Schumann's Lieder for voice and piano (Dichterliebe, Myrthen and others)."),
    "scottish": ("Scottish traditional", "Scottish airs and dance tunes (Aird's Selection, 1778-1803)."),
    "trecento": ("Trecento", "Italian and French 14th-century polyphony."),
}


@dataclass(frozen=True)
class Job:
    """One training run: ``lstm-composer`` + ``argv`` trains ``style`` into ``out``."""

    style: str
    stage: str  # PRETRAIN or STYLES
    argv: tuple[str, ...]  # the arguments after the program name, starting with "train"
    out: Path
    state: str  # DONE, INTERRUPTED or FRESH, when planned

    @property
    def pending(self) -> bool:
        return self.state != DONE

    @property
    def name(self) -> str:
        """What the job is called in progress lines and its log's file name (its run folder's name)."""
        return self.out.name

    def command_line(self, program: str = PROGRAM) -> str:
        """The job as one shell-quoted line, for a terminal or a batch scheduler."""
        return shlex.join([program, *self.argv])

    def local_command(self) -> list[str]:
        """The job as this interpreter runs it: no dependence on ``lstm-composer`` being on PATH."""
        return [sys.executable, "-m", "lstm_composer_plugin.cli", *self.argv]


def run_state(out: Path) -> str:
    """DONE, INTERRUPTED or FRESH: what a run folder holds (see the module docstring)."""
    if (out / MODEL_FILE).is_file():
        return DONE
    if (out / RUN_FILE).is_file():
        return INTERRUPTED
    return FRESH


def has_midi(folder: Path) -> bool:
    """Whether ``folder`` holds a MIDI file at any depth (train reads its folder recursively)."""
    for _, _, files in os.walk(folder):
        if any(f.lower().endswith(MIDI_SUFFIXES) for f in files):
            return True
    return False


def find_styles(root: Path) -> list[str]:
    """The style folders of a corpus root: its subfolders that hold MIDI files, sorted by name."""
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and has_midi(p))


def plan(root: str | os.PathLike[str], out: str | os.PathLike[str], *, styles: Sequence[str] | None = None,
         budget: float = DEFAULT_BUDGET, pretrain_budget: float = DEFAULT_PRETRAIN_BUDGET, pretrain: bool = True,
         extra: Sequence[str] = ()) -> list[Job]:
    """Every job of training the corpus at ``root`` into ``out``, done ones included, pre-training first.

    ``styles`` picks some style folders (default: all); ``extra`` are further ``train`` options,
    appended to every job (so they override the plan's own). Paths stay as given: the lines run
    from the directory the plan was made in. Bad input raises :class:`UsageError`.
    """
    root_path, out_path = Path(root), Path(out)
    if not root_path.is_dir():
        raise UsageError(f"{root}: no such corpus folder")
    _check_out_outside(root_path, out_path)
    found = find_styles(root_path)
    if not found:
        raise UsageError(f"{root}: no style folders (subfolders with MIDI files) to train; "
                         "for one folder of pieces use lstm-composer train")
    chosen = found
    if styles is not None:
        unknown = [s for s in styles if s not in found]
        if unknown:
            raise UsageError(f"{root}: no style folder {', '.join(map(repr, unknown))} with MIDI files "
                             f"(there are: {', '.join(found)})")
        chosen = sorted(set(styles))

    jobs: list[Job] = []
    init: list[str] = []
    if pretrain:
        corpus_out = out_path / CORPUS_RUN
        argv = ["train", str(root_path), "--style", CORPUS_STYLE, "--out", str(corpus_out), *PRETRAIN_OPTIONS,
                "--time-budget", duration_option(pretrain_budget), "--title", PRETRAIN_TITLE]
        jobs.append(_job(CORPUS_STYLE, PRETRAIN, argv, corpus_out, extra))
        init = ["--init-from", str(corpus_out), "--lr", FINE_TUNE_LR]
    for style in chosen:
        title, description = STYLE_TEXT.get(style, (style, ""))
        style_out = out_path / style
        argv = ["train", str(root_path / style), "--style", style, "--out", str(style_out), *init,
                "--time-budget", duration_option(budget), "--title", title]
        if description:
            argv += ["--description", description]
        jobs.append(_job(style, STYLES, argv, style_out, extra))
    return jobs


def _job(style: str, stage: str, argv: list[str], out: Path, extra: Sequence[str]) -> Job:
    state = run_state(out)
    resume = ["--resume"] if state == INTERRUPTED else []
    return Job(style=style, stage=stage, argv=(*argv, *resume, *extra), out=out, state=state)


def _check_out_outside(root: Path, out: Path) -> None:
    # With --out at the root, OUT/STYLE is the style's own folder of pieces; below it, run folders
    # would sit among the style folders, where a later file (a MIDI export) would join the corpus.
    root_abs, out_abs = root.resolve(), out.resolve()
    if out_abs == root_abs or root_abs in out_abs.parents:
        raise UsageError(f"{out}: --out must be outside the corpus folder {root} (run folders there mix with the style folders)")


__all__ = ["CORPUS_RUN", "CORPUS_STYLE", "DONE", "FRESH", "INTERRUPTED", "PRETRAIN", "PROGRAM", "STAGES", "STYLES",
           "STYLE_TEXT", "Job", "find_styles", "has_midi", "plan", "run_state"]
