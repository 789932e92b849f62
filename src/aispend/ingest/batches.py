"""Import batches: what an import loaded, and retiring it when a newer one replaces it."""

from __future__ import annotations

from ..store import Transaction


def retire_batch(tx: Transaction, batch_id: str, replaced_by: str) -> int:
    """Delete an import's rows and rejects, mark it replaced; return how many ledger rows went."""
    from ..analysis.rollups import mark_stale  # local: analysis builds on ingest

    rows = tx.execute("SELECT count(*) FROM ledger WHERE batch_id = ?", [batch_id])[0][0]
    if rows:
        mark_stale(tx, "batch_id = ?", [batch_id])
    tx.execute("DELETE FROM ledger WHERE batch_id = ?", [batch_id])
    tx.execute("DELETE FROM import_rejects WHERE batch_id = ?", [batch_id])
    tx.execute("UPDATE imports SET replaced_by = ? WHERE batch_id = ?", [replaced_by, batch_id])
    return rows


def restate(tx: Transaction, source: str, batch_id: str, columns: str | tuple[str, ...]) -> tuple[int, list[str]]:
    """Delete rows of earlier imports of ``source`` that the new batch restates; retire emptied imports.

    ``columns`` is the restatement key: a CUR delivery restates its billing period, an invoice
    its invoice id, a re-pulled API window its days. Row by row: a new import of days 29-30 replaces
    just those days of an older month-to-date import, and an invoice seen again in another file
    (PDF, then e-mail) is counted once. Returns (rows deleted, imports retired).
    """
    from ..schema import COLUMNS_BY_NAME

    key = (columns,) if isinstance(columns, str) else tuple(columns)
    unknown = [c for c in key if c not in COLUMNS_BY_NAME]
    if unknown:
        raise ValueError(f"restates_by names no ledger column: {', '.join(unknown)}")
    cols = ", ".join(key)
    restated = f"""source = ? AND batch_id <> ? AND ({cols}) IN (
        SELECT {cols} FROM ledger WHERE batch_id = ? AND {' AND '.join(f'{c} IS NOT NULL' for c in key)})"""
    params = [source, batch_id, batch_id]
    rows = tx.execute(f"SELECT count(*) FROM ledger WHERE {restated}", params)[0][0]
    if rows:
        from ..analysis.rollups import mark_stale

        mark_stale(tx, restated, params)
        tx.execute(f"DELETE FROM ledger WHERE {restated}", params)
    emptied = tx.execute(
        """SELECT i.batch_id FROM imports i WHERE i.replaced_by IS NULL AND i.source = ? AND i.batch_id <> ?
             AND i.rows_loaded > 0 AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.batch_id = i.batch_id)""",
        [source, batch_id],
    )
    retired = [b for (b,) in emptied]
    for old in retired:
        retire_batch(tx, old, replaced_by=batch_id)
    return rows, retired
