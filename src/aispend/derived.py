"""Derived data, brought up to date at the end of every write to the ledger, in its transaction.

Two things derive from ledger rows: allocated shares (``attribution/allocate.py``, when
``[allocation]`` is active) and the daily rollup (``analysis/rollups.py``). A write marks the
provider-months it touched (``rollup_stale``); :func:`settle` re-allocates and re-rolls just those,
so readers never see a ledger and its derivations disagree. :func:`settle_all` redoes everything,
after a change that rewrites every row (re-pricing, re-attribution).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .analysis.rollups import STALE, rebuild, refresh
from .attribution.allocate import ALL_KEYS, allocate

if TYPE_CHECKING:
    from .config import Settings
    from .store import Store, Transaction


def settle(tx: Transaction, store: Store, settings: Settings) -> None:
    tx.full_memory()
    if settings.allocation.active or tx.execute("SELECT count(*) FROM allocation_sources LIMIT 1")[0][0]:
        allocate(tx, store, settings, batch_id=f"allocation:{uuid.uuid4().hex}")
    refresh(tx, store)


def settle_all(tx: Transaction, store: Store, settings: Settings) -> None:
    tx.full_memory()
    if settings.allocation.active or tx.execute("SELECT count(*) FROM allocation_sources LIMIT 1")[0][0]:
        allocate(tx, store, settings, keys=ALL_KEYS, batch_id=f"allocation:{uuid.uuid4().hex}")
    rebuild(tx, store)
    tx.execute(f"DELETE FROM {STALE}")
