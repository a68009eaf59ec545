"""User-facing store errors: every message is one line that names the style, file or URL at fault.

The CLI prints ``str(exc)`` and exits with ``exc.exit_code`` (1 for failures, 2 for usage);
anything that is not a ``StoreError`` is a bug and may show a traceback.
"""

from __future__ import annotations

from hostapi.host import UserError


class StoreError(UserError):
    """Base of every error a user can cause or meet (bad catalogue, network, missing model).

    A ``hostapi`` ``UserError``, so a host shows it as one line with the plugin's name.
    """

    exit_code = 1


class ConfigError(StoreError):
    """The configuration file or an environment variable holds a bad value."""


class CatalogueError(StoreError):
    """The catalogue is missing, unreachable with no cached copy, or malformed."""


class UnknownStyleError(StoreError):
    """A style that is neither installed, bundled nor in the catalogue."""

    exit_code = 2


class UsageError(StoreError):
    """A bad argument (missing folder, bad URL option)."""

    exit_code = 2


class OfflineError(StoreError):
    """Offline mode is on and what was asked for needs the network."""


class DownloadError(StoreError):
    """A download failed (network, HTTP status, timeout, lock)."""


class InsecureURLError(DownloadError):
    """A plain-http (or unknown scheme) URL that the user did not opt in to."""


class IntegrityError(DownloadError):
    """The bytes received do not match the catalogue (sha256 or size)."""


class LockBusyError(DownloadError):
    """Another live process holds the download lock and makes no progress."""


class PackError(StoreError):
    """The model pack is unsafe or does not match the catalogue."""
