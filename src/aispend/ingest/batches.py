"""Import batches: what an import loaded, and retiring it when a newer one replaces it."""

from __future__ import annotations

from ..store import Transaction


def retire_batch(tx: Transaction, batch_id: str, replaced_by: str) -> int:
    """Delete an import's rows and rejects, mark it replaced; return how many ledger rows went."""
    rows = tx.execute("SELECT count(*) FROM ledger WHERE batch_id = ?", [batch_id])[0][0]
    tx.execute("DELETE FROM ledger WHERE batch_id = ?", [batch_id])
    tx.execute("DELETE FROM import_rejects WHERE batch_id = ?", [batch_id])
    tx.execute("UPDATE imports SET replaced_by = ? WHERE batch_id = ?", [replaced_by, batch_id])
    return rows
