"""User-facing errors: each message is one line that names the file or value at fault.

The CLIs print ``str(exc)`` of a ``ComposerError`` and exit non-zero; anything else is a bug.
"""


class ComposerError(Exception):
    """Base of every error a user can cause (bad file, bad argument, missing model)."""


class MidiReadError(ComposerError):
    """A MIDI file could not be read; the message names the file and the problem."""


class ModelFileError(ComposerError):
    """A model file is missing, damaged or of an unknown format version."""


class UsageError(ComposerError):
    """A bad argument (unknown style, negative length, ...)."""
