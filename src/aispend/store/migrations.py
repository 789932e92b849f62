"""Schema migrations, applied in order and recorded in ``schema_migrations``.

Each migration is portable DDL written once; the adapter translates the few types that differ.
Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

from ..schema import LEDGER_COLUMNS


def _ledger_ddl() -> str:
    # Version 1's columns: later versions add theirs with ALTER TABLE, so a shipped migration
    # never changes under an existing ledger.
    v1 = LEDGER_COLUMNS[: [c.name for c in LEDGER_COLUMNS].index("tags") + 1]
    cols = ",\n  ".join(f"{c.name} {c.sql}" for c in v1)
    return f"CREATE TABLE ledger (\n  {cols}\n)"


MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "ledger, imports and rejects",
        [
            _ledger_ddl(),
            """CREATE TABLE imports (
  batch_id VARCHAR PRIMARY KEY,
  source VARCHAR NOT NULL,
  path VARCHAR NOT NULL,
  sha256 VARCHAR NOT NULL,
  format VARCHAR NOT NULL,
  rows_loaded BIGINT NOT NULL,
  rows_rejected BIGINT NOT NULL,
  imported_at TIMESTAMP NOT NULL,
  replaced_by VARCHAR
)""",
            """CREATE TABLE import_rejects (
  batch_id VARCHAR NOT NULL,
  file VARCHAR NOT NULL,
  line BIGINT NOT NULL,
  column_name VARCHAR,
  reason VARCHAR NOT NULL,
  value VARCHAR
)""",
        ],
    ),
]

MIGRATIONS.append(
    (
        2,
        "invoice ids and dated FX rates",
        [
            "ALTER TABLE ledger ADD COLUMN invoice_id VARCHAR",
            """CREATE TABLE fx_rates (
  currency VARCHAR NOT NULL,
  day DATE NOT NULL,
  usd_rate DECIMAL(38, 18) NOT NULL,
  source VARCHAR,
  PRIMARY KEY (currency, day)
)""",
        ],
    )
)

MIGRATIONS.append(
    (
        3,
        "API sync: raw landing and cursors",
        [
            # One row per page as the vendor sent it (never headers or keys), with the window it
            # answers: renormalize replays these without calling the vendor.
            """CREATE TABLE raw_pages (
  source VARCHAR NOT NULL,
  endpoint VARCHAR NOT NULL,
  batch_id VARCHAR NOT NULL,
  window_start TIMESTAMP NOT NULL,
  window_end TIMESTAMP NOT NULL,
  granularity VARCHAR NOT NULL,
  page_no INTEGER NOT NULL,
  fetched_at TIMESTAMP NOT NULL,
  body VARCHAR NOT NULL
)""",
            """CREATE TABLE sync_state (
  source VARCHAR PRIMARY KEY,
  cursor TIMESTAMP,
  last_success TIMESTAMP,
  last_error VARCHAR
)""",
        ],
    )
)

# Blocks above are appended by feature, each with its own version; they apply in version order.
MIGRATIONS.sort(key=lambda m: m[0])
LATEST_VERSION = MIGRATIONS[-1][0]
