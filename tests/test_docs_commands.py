"""The docs cannot drift from the commands (issue 23): every ``lstm-composer`` and ``voc-host`` command
line in a code block of the README and ``docs/*.md`` names a real command, and every option it
uses is one that command's ``--help`` lists."""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.store_helpers import PYTHON

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = {
    "voc-host": [PYTHON, "-m", "hostapi.cli"],
    "lstm-composer": [PYTHON, "-m", "lstm_composer_plugin.cli"],
}
# Options every command takes (the global ones, accepted before or after the command word).
GLOBAL = {"--help", "-h"}


def _blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def command_lines() -> list[tuple[str, str]]:
    """(doc file, command line) of every program call in a code block."""
    out = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in _blocks(doc.read_text()):
            for raw in block.replace("\\\n", " ").splitlines():
                line = raw.split(" #", 1)[0].strip()
                for part in re.split(r"&&|\|\||;|\|", line):
                    words = part.strip().split()
                    # Skip environment assignments and the venv's path in front of the program.
                    while words and "=" in words[0] and not words[0].startswith("-"):
                        words = words[1:]
                    if words and Path(words[0]).name in PROGRAMS:
                        out.append((doc.name, " ".join([Path(words[0]).name, *words[1:]])))
    return out


@cache
def help_text(prog: str, *words: str) -> str | None:
    """``prog words --help``, or None when ``words`` is not a command of ``prog``."""
    proc = subprocess.run([*PROGRAMS[prog], *words, "--help"], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    return proc.stdout if proc.returncode == 0 and proc.stdout.startswith("usage:") else None


def _command_words(prog: str, args: list[str]) -> list[str]:
    """The command (and sub-command) words at the front of ``args``: those with a help of their own."""
    words: list[str] = []
    for arg in args:
        if arg.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", arg):
            break
        text = help_text(prog, *words, arg)
        # A positional argument (a style, a folder) gives the parent's help back, or an error.
        if text is None or f" {arg}" not in text.splitlines()[0]:
            break
        words.append(arg)
    return words


LINES = command_lines()


def test_the_docs_have_command_lines_to_check():
    assert len(LINES) >= 40
    assert {prog for _, line in LINES for prog in [line.split()[0]]} == set(PROGRAMS)


@pytest.mark.parametrize(("doc", "line"), LINES, ids=[f"{d}:{line[:60]}" for d, line in LINES])
def test_every_documented_option_is_in_the_commands_help(doc, line):
    try:
        argv = shlex.split(line)
    except ValueError:
        argv = line.split()
    prog, args = argv[0], argv[1:]
    words = _command_words(prog, args)
    text = help_text(prog, *words)
    assert text is not None
    if args and not words and not args[0].startswith("-"):
        pytest.fail(f"{doc}: `{line}`: {args[0]!r} is not a {prog} command")
    for arg in args:
        if arg.startswith("--") and arg != "--":
            option = arg.split("=", 1)[0]
            assert option in GLOBAL or re.search(rf"(^|[\s,\[]){re.escape(option)}\b", text), (
                f"{doc}: `{line}`: {option} is not an option of `{' '.join([prog, *words])}`")
        if arg == "--":  # train-all passes the rest to lstm-composer train
            break
