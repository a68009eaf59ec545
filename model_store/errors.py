"""The store's own errors: every message is one line that names the style, file or URL at fault.

``StoreError`` is a plain ``Exception`` (the store depends on no host or plugin package). A
command-line tool prints ``str(exc)`` and exits with ``exc.exit_code`` (1 for failures, 2 for
usage); a plugin converts it to its own error type with the same message. Anything that is not a
``StoreError`` is a bug and may show a traceback.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error a user can cause or meet (bad catalogue, network, missing model)."""

    exit_code = 1


class ConfigError(StoreError):
    """The configuration file or an environment variable holds a bad value."""


class CatalogueError(StoreError):
    """The catalogue cannot be used: see the two subclasses for why."""


class CatalogueUnavailable(CatalogueError):
    """The catalogue could not be fetched (HTTP 404, connection refused, timeout, unreadable file)
    and no cached copy exists; or none is configured."""


class CatalogueInvalid(CatalogueError):
    """The catalogue was fetched but is not one: not JSON, a wrong format, a bad or inconsistent
    field (the message names the field, e.g. ``styles[2].sha256``)."""


class UnknownStyleError(StoreError):
    """A style that is neither installed, bundled nor in the catalogue."""

    exit_code = 2


class UsageError(StoreError):
    """A bad argument (missing folder, bad URL option)."""

    exit_code = 2


class OfflineError(StoreError):
    """Offline mode is on and what was asked for needs the network."""


class StoreNotWritable(StoreError):
    """The store folder cannot be written (read-only, full, not a folder) for an install."""


class InvalidModelError(StoreError):
    """A caller's ``describe`` function found that a file is not a model it can describe."""


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
