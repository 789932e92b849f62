"""Load and read the ``revenue`` table. A load replaces, never adds.

Each load names its ``source`` (``csv:<file>``, ``stripe:<name>``) and the window it answers: a CSV
answers for everything its source holds, a Stripe sync for the documents created in [start, end).
Delete that scope, append the new rows, in one transaction: re-importing a file or re-syncing a
window converges on what the source says now.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ..store import Store
from .model import ARROW_SCHEMA, COLUMNS, RevenueRow


def replace_revenue(store: Store, source: str, rows: Sequence[RevenueRow],
                    window: tuple[datetime, datetime] | None = None) -> tuple[int, int]:
    """Replace ``source``'s rows (only those with ``occurred_at`` in ``window`` when given) by ``rows``.

    Returns (rows loaded, rows replaced). Rows of the same source carrying an external id being
    loaded are replaced too, wherever they were dated: an id is loaded once per source.
    """
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    table = pa.Table.from_pylist(
        [{"source": source, "loaded_at": loaded_at, **{c: getattr(r, c) for c in COLUMNS if hasattr(r, c)}}
         for r in rows],
        schema=ARROW_SCHEMA,
    )
    scope, params = "source = ?", [source]
    if window is not None:
        scope += " AND occurred_at >= ? AND occurred_at < ?"
        params += [window[0], window[1]]
    ids = sorted({r.external_id for r in rows if r.external_id})
    with store.transaction() as tx:
        before = tx.execute("SELECT count(*) FROM revenue WHERE source = ?", [source])[0][0]
        tx.execute(f"DELETE FROM revenue WHERE {scope}", params)
        if ids:
            tx.execute("CREATE TEMP TABLE IF NOT EXISTS _revenue_ids (external_id VARCHAR)")
            tx.execute("DELETE FROM _revenue_ids")
            tx.append("_revenue_ids", pa.table({"external_id": pa.array(ids, pa.string())}))
            tx.execute("DELETE FROM revenue WHERE source = ? AND external_id IN (SELECT external_id FROM _revenue_ids)",
                       [source])
            tx.execute("DROP TABLE _revenue_ids")
        after_delete = tx.execute("SELECT count(*) FROM revenue WHERE source = ?", [source])[0][0]
        tx.append("revenue", table)
    return table.num_rows, before - after_delete


LIST_COLUMNS = ["period_start", "period_end", "customer", "feature", "amount", "currency", "source",
                "external_id", "source_customer", "description"]


def list_revenue(store: Store, start: datetime | None = None, end: datetime | None = None,
                 source: str | None = None, customer: str | None = None) -> list[dict[str, Any]]:
    """Revenue rows whose period starts in [start, end), oldest first (for ``aispend revenue list``)."""
    t = store.table("revenue")
    preds = []
    if start is not None:
        preds.append(t.period_start >= start)
    if end is not None:
        preds.append(t.period_start < end)
    if source is not None:
        preds.append(t.source == source)
    if customer is not None:
        preds.append(t.customer == customer)
    expr = t.filter(preds) if preds else t
    expr = expr.order_by([expr.period_start, expr.customer, expr.source, expr.external_id]).select(*LIST_COLUMNS)
    return expr.to_pyarrow().to_pylist()
