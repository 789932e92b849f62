"""Ledger storage: one interface, one adapter per engine."""

from __future__ import annotations

from .base import Store, Transaction
from .url import is_server_url, open_store

__all__ = ["Store", "Transaction", "is_server_url", "open_store"]
