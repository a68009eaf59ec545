"""User-facing errors: each message is one line that names the file or value at fault.

The CLIs print ``str(exc)`` of a ``ComposerError`` and exit with its ``exit_code``
(``docs/errors.md``); anything else is a bug. They derive from the host contract's
``UserError`` (and its kinds) so that a host reports them as the user's mistake (one
line) with the documented exit code, instead of as a plugin failure.
"""

from hostapi import BadValueError, NotFoundError, UnavailableError, UserError


class ComposerError(UserError):
    """Base of every error a user can cause (bad file, bad argument, missing model). Exit 1."""


class MidiReadError(ComposerError):
    """A MIDI file could not be read; the message names the file and the problem."""


class ModelFileError(ComposerError):
    """A model file is missing, damaged or of an unknown format version."""


class UsageError(ComposerError, BadValueError):
    """A bad argument (negative length, a path where a name belongs, ...). Exit 2."""


class UnknownStyleError(ComposerError, NotFoundError):
    """A style that is neither installed, bundled nor in the catalogue. Exit 3."""


class UnavailableError(ComposerError, UnavailableError):
    """The catalogue or a server cannot be reached, or offline mode forbids the download. Exit 4."""


class OutputExistsError(ComposerError):
    """An output file exists and ``--force`` was not given (nothing was written). Exit 1."""


class Interrupted(ComposerError):
    """Ctrl-C while composing: what was begun has been removed (exit 130, as any interrupt)."""

    exit_code = 130
