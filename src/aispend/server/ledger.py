"""Short-lived, serialised access to the ledger for request handlers (``app.state.ledger``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from ..errors import StoreError
from ..events.mapping import AttributeMap
from ..store import Store, open_store


class StoreBusy(StoreError):
    """The ledger could not be opened now (another process writes to it); try again shortly."""


class Ledger:
    """Opens the store for one unit of work and closes it again, one unit at a time per process.

    The store is not held between requests, so the CLI can use the same DuckDB file while the
    server runs (DuckDB allows one writing process at a time). What is costly to build (the price
    book, the attribute mapping) is built once.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.attributes = AttributeMap.from_settings(settings.events)
        self._lock = threading.Lock()
        self._pricer: Any = None

    @contextmanager
    def open(self) -> Iterator[Store]:
        with self._lock:
            try:
                store = open_store(self.settings.store.url)
            except StoreError as exc:
                raise StoreBusy(str(exc)) from None
            try:
                yield store
            finally:
                store.close()

    def pricer(self, store: Store) -> Any:
        """The price book and FX rates, built on first use (call it inside :meth:`open`)."""
        if self._pricer is None:
            from ..pricing import Pricer

            self._pricer = Pricer.for_store(store, self.settings)
        return self._pricer
