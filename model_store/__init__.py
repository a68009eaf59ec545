"""model_store: catalogue, verified resumable downloads, the model pack and the local store.

It knows nothing about music or Keras: it moves verified files. Typical use::

    from model_store import Store
    path = Store(bundled={"bach": bundled_path}).resolve("bach", progress=callback)
"""

from .catalogue import (
    Catalogue,
    CatalogueStyle,
    LoadedCatalogue,
    PackInfo,
    PackMember,
    load_catalogue,
    parse_catalogue,
    read_model_manifest,
)
from .config import catalogue_url, is_offline, store_home
from .download import DownloadOptions, DownloadResult, download
from .errors import (
    CatalogueError,
    ConfigError,
    DownloadError,
    InsecureURLError,
    IntegrityError,
    LockBusyError,
    OfflineError,
    PackError,
    StoreError,
    UnknownStyleError,
    UsageError,
)
from .publish import PublishResult, publish
from .store import (
    FetchOutcome,
    InstalledModel,
    PackReport,
    RepairReport,
    Store,
    StyleEntry,
    VerifyResult,
)

__all__ = [
    "Catalogue",
    "CatalogueError",
    "CatalogueStyle",
    "ConfigError",
    "DownloadError",
    "DownloadOptions",
    "DownloadResult",
    "FetchOutcome",
    "InsecureURLError",
    "InstalledModel",
    "IntegrityError",
    "LoadedCatalogue",
    "LockBusyError",
    "OfflineError",
    "PackError",
    "PackInfo",
    "PackMember",
    "PackReport",
    "PublishResult",
    "RepairReport",
    "Store",
    "StoreError",
    "StyleEntry",
    "UnknownStyleError",
    "UsageError",
    "VerifyResult",
    "catalogue_url",
    "download",
    "is_offline",
    "load_catalogue",
    "parse_catalogue",
    "publish",
    "read_model_manifest",
    "store_home",
]
