"""aispend: local-first AI cost management. The public API is what ``__all__`` lists."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .analysis import Window, spend_report
from .config import Settings, load_settings
from .errors import AispendError
from .ingest import import_file
from .pricing import PriceBook, Pricer
from .store import Store, open_store

try:
    __version__ = version("aispend")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "AispendError",
    "PriceBook",
    "Pricer",
    "Settings",
    "Store",
    "Window",
    "__version__",
    "import_file",
    "load_settings",
    "open_store",
    "spend_report",
]
