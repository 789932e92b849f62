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


def restated_batches(tx: Transaction, source: str, batch_id: str, column: str) -> list[str]:
    """Earlier live imports of ``source`` whose ``column`` values the new batch all covers.

    A CUR delivery restates its whole billing period, an invoice its whole invoice: the newest
    import of a period (or invoice) wins, the older is retired.
    """
    from ..schema import COLUMNS_BY_NAME

    if column not in COLUMNS_BY_NAME:
        raise ValueError(f"restates_by names no ledger column: {column}")
    rows = tx.execute(
        f"""SELECT i.batch_id FROM imports i
            WHERE i.replaced_by IS NULL AND i.source = ? AND i.batch_id <> ?
              AND EXISTS (SELECT 1 FROM ledger l WHERE l.batch_id = i.batch_id)
              AND NOT EXISTS (
                SELECT 1 FROM ledger l WHERE l.batch_id = i.batch_id
                  AND l.{column} NOT IN (SELECT n.{column} FROM ledger n WHERE n.batch_id = ? AND n.{column} IS NOT NULL))""",
        [source, batch_id, batch_id],
    )
    return [r[0] for r in rows]
