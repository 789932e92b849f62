"""Re-price the whole ledger after the price book or the overrides changed."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Settings
from ..store import Store
from .apply import Pricer


def reprice(store: Store, settings: Settings, on_rows: Callable[[int], None] | None = None) -> int:
    """Price every row again, atomically: readers see the old prices or the new, never a mix."""
    pricer = Pricer.for_store(store, settings)
    rows = 0
    with store.transaction(bulk=True) as tx:
        tx.execute("CREATE TEMP TABLE _repriced AS SELECT * FROM ledger LIMIT 0")
        for batch in store.scan("SELECT * FROM ledger"):
            rows += tx.append("_repriced", pricer.price(batch))
            if on_rows:
                on_rows(batch.num_rows)
        tx.execute("DELETE FROM ledger")
        tx.execute("INSERT INTO ledger SELECT * FROM _repriced")
        tx.execute("DROP TABLE _repriced")
        from ..derived import settle_all  # local: derived data builds on pricing

        settle_all(tx, store, settings)
    pricer.close()
    return rows
