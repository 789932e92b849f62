"""Ledger storage: one interface, one adapter per engine."""

from __future__ import annotations

from .base import Store, Transaction
from .url import open_store

__all__ = ["Store", "Transaction", "open_store"]
