"""Errors across the host contract, and the exit codes both command lines use.

A plugin raises a :class:`UserError` (or one of its subclasses) for a mistake the user
can fix; its ``exit_code`` tells a console host which documented exit code to use
(``docs/errors.md``). The host raises :class:`HostError` subclasses to its caller.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from .results import HookFailure


class ExitCode(enum.IntEnum):
    """Exit codes of ``voc-host`` and ``lstm-composer`` (documented in ``docs/errors.md``)."""

    OK = 0
    FAILURE = 1  # the request was understood but failed (bad file, damaged model, a bug)
    USAGE = 2  # a bad command line or a bad value
    NO_ANSWER = 3  # not found: no plugin knows the style, unknown plugin or model
    UNAVAILABLE = 4  # the catalogue or network could not be reached, or offline mode forbids it
    INTERRUPTED = 130  # Ctrl-C


class UserError(Exception):
    """Raised by plugins for a mistake the user can fix (bad file, bad value).

    Its ``str()`` is one line; the host prints it after the plugin's name and
    without a traceback, and exits with ``exit_code``.
    """

    exit_code: int = ExitCode.FAILURE


class BadValueError(UserError):
    """A value the user gave cannot be used (exit 2, like a bad command line)."""

    exit_code = ExitCode.USAGE


class NotFoundError(UserError):
    """What the user named does not exist: a style, a model, a file (exit 3)."""

    exit_code = ExitCode.NO_ANSWER


class UnavailableError(UserError):
    """A catalogue or server could not be reached, or offline mode forbids the request (exit 4)."""

    exit_code = ExitCode.UNAVAILABLE


class Cancelled(KeyboardInterrupt):
    """Raised by a host's progress callback when the user cancels a running hook (the page's Cancel).

    A plugin treats it as Ctrl-C: it keeps what it saved (a training run stays resumable) and lets it
    propagate. It is a ``KeyboardInterrupt`` so that code written for Ctrl-C handles it unchanged.
    """


class HostError(Exception):
    """Base of the errors the host raises to its caller."""

    exit_code: int = ExitCode.FAILURE


class NoAnswerError(HostError):
    """No plugin answered a first-result hook (unknown style, nobody trains...)."""

    exit_code = ExitCode.NO_ANSWER

    def __init__(self, hook: str, message: str) -> None:
        super().__init__(message)
        self.hook = hook


class UnknownPluginError(NoAnswerError):
    """``plugin=NAME`` names no loaded plugin."""


class PluginCallError(HostError):
    """Every plugin that tried failed; ``failures`` says who and why."""

    def __init__(self, hook: str, failures: Sequence[HookFailure]) -> None:
        super().__init__("; ".join(f.line() for f in failures))
        self.hook = hook
        self.failures = list(failures)

    @property
    def user_error(self) -> bool:
        return any(f.user_error for f in self.failures)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        """The plugin's own exit code for a user error, else 1 (a plugin failure)."""
        for failure in self.failures:
            if failure.user_error and failure.exit_code is not None:
                return failure.exit_code
        return ExitCode.FAILURE

    @property
    def message(self) -> str:
        """The error without the plugin's name (for a host that has a single plugin)."""
        if len(self.failures) == 1 and self.failures[0].user_error:
            return self.failures[0].error
        return str(self)
