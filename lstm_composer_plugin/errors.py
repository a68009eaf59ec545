"""User-facing errors: each message is one line that names the file or value at fault.

The CLIs print ``str(exc)`` of a ``ComposerError`` and exit non-zero; anything else is a bug.
They derive from the host contract's ``UserError`` so that a host reports them as the
user's mistake (one line, with the plugin's name) instead of as a plugin failure.
"""

from hostapi.host import UserError


class ComposerError(UserError):
    """Base of every error a user can cause (bad file, bad argument, missing model)."""


class MidiReadError(ComposerError):
    """A MIDI file could not be read; the message names the file and the problem."""


class ModelFileError(ComposerError):
    """A model file is missing, damaged or of an unknown format version."""


class UsageError(ComposerError):
    """A bad argument (unknown style, negative length, ...)."""
