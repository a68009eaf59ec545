"""model_store: catalogue, verified resumable downloads, the model pack and the local store.

A library in the manner of pooch: it moves verified files and knows nothing of music, of the
model format or of any host. It depends on requests, platformdirs and filelock only.

Public API (everything a plugin or a command-line tool needs)::

    from model_store import Store, ModelInfo, StoreError

    store = Store(bundled={"bach": path}, describe=describe_model)   # home, catalogue from env
    listing = store.list_styles()          # StyleListing: .styles (StyleEntry rows),
                                           #   .catalogue_error (StoreError | None), .warnings
    path = store.resolve("irish", progress=callback)   # installed > bundled > download
    store.fetch_detailed(style) / verify() / repair() / remove(style) / install_pack()
    publish(models_dir, out_dir, describe=describe_model)          # write a static catalogue

What the caller hands in
    ``describe: Callable[[Path], ModelInfo]``: tells the store what a model file is (style,
    version, title, description, epoch, quality line, chosen). Used for bundled models and by
    ``publish``; it raises ``InvalidModelError`` for a file that is not a model. Without it a
    bundled file is named by its stem. The store never opens a model file itself.
    ``progress``: ``Callable[[Progress], None]`` (``Progress(stage, done, total, unit,
    message)``, stage "download" or "extract", message the style or "model pack"), or any
    tqdm-like object (``update``/``total``/``n``), which is driven directly.
    ``commands``: how messages name the caller's CLI (default "lstm-composer models"; a host
    passes e.g. "voc-host models"), as in "run `voc-host models repair`".

What comes back
    Records (dataclasses, each with ``to_dict`` where a CLI prints it as JSON): ``StyleEntry``,
    ``StyleListing``, ``InstalledModel``, ``VerifyResult``, ``RepairReport``, ``PackReport``
    (in ``records``), ``FetchOutcome`` (``store``), ``PublishResult`` (``publish``).

Errors
    Every user-facing failure is a ``StoreError`` (a plain Exception) whose ``str`` is one line
    naming the style, file or URL, with ``exit_code`` 1 (2 for ``UnknownStyleError`` and
    ``UsageError``). Catalogue problems: ``CatalogueUnavailable`` (HTTP 404, connection refused,
    timeout, unreadable file, none configured; no cached copy) and ``CatalogueInvalid`` (not
    JSON, wrong format, bad or inconsistent field), both ``CatalogueError``. ``list_styles``
    never raises for them: it returns the installed and bundled styles and the error in
    ``catalogue_error`` for the CLI to show. A store folder that cannot be written still lists
    and resolves; an install raises ``StoreNotWritable``, and a catalogue cache that cannot be
    saved is one warning in ``Store.warnings`` / ``StyleListing.warnings``.

Configuration (``config``): ``$LSTM_COMPOSER_HOME``, ``$LSTM_COMPOSER_CATALOGUE``,
``$LSTM_COMPOSER_OFFLINE``, ``$LSTM_COMPOSER_ALLOW_INSECURE``, and a JSON config file.
"""

from .catalogue import (
    Catalogue,
    CatalogueStyle,
    LoadedCatalogue,
    PackInfo,
    PackMember,
    load_catalogue,
    parse_catalogue,
)
from .config import AppConfig
from .download import DownloadOptions, DownloadResult, download
from .errors import (
    CatalogueError,
    CatalogueInvalid,
    CatalogueUnavailable,
    ConfigError,
    DownloadError,
    InsecureURLError,
    IntegrityError,
    InvalidModelError,
    LockBusyError,
    OfflineError,
    PackError,
    StoreError,
    StoreNotWritable,
    UnknownStyleError,
    UsageError,
)
from .publish import PublishResult, publish
from .records import (
    Describe,
    InstalledModel,
    ModelInfo,
    PackReport,
    Progress,
    ProgressCallback,
    RepairReport,
    StyleEntry,
    StyleListing,
    VerifyResult,
    as_progress_callback,
)
from .store import FetchOutcome, Store

__all__ = [
    "AppConfig",
    "Catalogue",
    "CatalogueError",
    "CatalogueInvalid",
    "CatalogueStyle",
    "CatalogueUnavailable",
    "ConfigError",
    "Describe",
    "DownloadError",
    "DownloadOptions",
    "DownloadResult",
    "FetchOutcome",
    "InsecureURLError",
    "InstalledModel",
    "IntegrityError",
    "InvalidModelError",
    "LoadedCatalogue",
    "LockBusyError",
    "ModelInfo",
    "OfflineError",
    "PackError",
    "PackInfo",
    "PackMember",
    "PackReport",
    "Progress",
    "ProgressCallback",
    "PublishResult",
    "RepairReport",
    "Store",
    "StoreError",
    "StoreNotWritable",
    "StyleEntry",
    "StyleListing",
    "UnknownStyleError",
    "UsageError",
    "VerifyResult",
    "as_progress_callback",
    "download",
    "load_catalogue",
    "parse_catalogue",
    "publish",
]
