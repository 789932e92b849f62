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

MIGRATIONS.append(
    (
        6,
        "per-request events and their daily rollup",
        [
            # One row per LLM call (an OTel GenAI span, a gateway log line). event_id is the
            # source's own id (trace:span, request_id), so a re-delivery replaces, never adds.
            # (day, provider, model, project, api_key_id) is the ledger's join key for allocation.
            """CREATE TABLE events (
  event_id VARCHAR NOT NULL,
  trace_id VARCHAR,
  time TIMESTAMP NOT NULL,
  day DATE NOT NULL,
  provider VARCHAR,
  model VARCHAR,
  model_raw VARCHAR,
  operation VARCHAR,
  service_tier VARCHAR,
  input_tokens BIGINT,
  output_tokens BIGINT,
  cache_read_tokens BIGINT,
  cache_write_tokens BIGINT,
  reasoning_tokens BIGINT,
  requests BIGINT,
  duration_ms BIGINT,
  status VARCHAR,
  service VARCHAR,
  environment VARCHAR,
  project VARCHAR,
  api_key_id VARCHAR,
  customer VARCHAR,
  feature VARCHAR,
  experiment VARCHAR,
  attributes JSON,
  source VARCHAR NOT NULL,
  ingested_at TIMESTAMP NOT NULL,
  estimated_cost_usd DECIMAL(38, 18),
  pricing_status VARCHAR
)""",
            # Kept in step with events by every load, and kept when raw events are pruned.
            """CREATE TABLE events_daily (
  day DATE NOT NULL,
  provider VARCHAR,
  model VARCHAR,
  project VARCHAR,
  api_key_id VARCHAR,
  customer VARCHAR,
  feature VARCHAR,
  experiment VARCHAR,
  environment VARCHAR,
  events BIGINT NOT NULL,
  requests BIGINT NOT NULL,
  error_events BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cache_read_tokens BIGINT NOT NULL,
  cache_write_tokens BIGINT NOT NULL,
  reasoning_tokens BIGINT NOT NULL,
  estimated_cost_usd DECIMAL(38, 18) NOT NULL,
  unpriced_events BIGINT NOT NULL
)""",
            # Each prune's cutoff: events older than the latest one are already in the rollup and
            # are skipped if delivered again.
            """CREATE TABLE events_prunes (
  pruned_at TIMESTAMP NOT NULL,
  cutoff TIMESTAMP NOT NULL,
  events_deleted BIGINT NOT NULL
)""",
        ],
    )
)

MIGRATIONS.append(
    (
        4,
        "anomalies",
        [
            # One row per detected anomaly. ``id`` hashes kind + scope + period_start, so re-running
            # detection over a window replaces its rows and alerting can deliver each id once.
            # ``scope`` is a JSON object of dimension: value; expected/actual are in ``metric``.
            """CREATE TABLE anomalies (
  id VARCHAR PRIMARY KEY,
  kind VARCHAR NOT NULL,
  scope VARCHAR NOT NULL,
  period_start TIMESTAMP NOT NULL,
  period_end TIMESTAMP NOT NULL,
  metric VARCHAR NOT NULL,
  expected DECIMAL(38, 18) NOT NULL,
  actual DECIMAL(38, 18) NOT NULL,
  impact_usd DECIMAL(38, 18) NOT NULL,
  severity VARCHAR NOT NULL,
  explanation VARCHAR NOT NULL,
  first_detected_at TIMESTAMP NOT NULL,
  detected_at TIMESTAMP NOT NULL
)""",
        ],
    )
)

MIGRATIONS.append(
    (
        7,
        "optimization recommendations and their status",
        [
            # One row per recommendation id (kind + scope): findings refresh an open row, never a
            # decided one, so a dismissal sticks and an accepted estimate stays what was accepted.
            """CREATE TABLE recommendations (
  id VARCHAR PRIMARY KEY,
  kind VARCHAR NOT NULL,
  scope VARCHAR NOT NULL,
  title VARCHAR NOT NULL,
  evidence VARCHAR NOT NULL,
  monthly_savings_usd DECIMAL(38, 18) NOT NULL,
  assumption VARCHAR NOT NULL,
  confidence VARCHAR NOT NULL,
  action VARCHAR,
  status VARCHAR NOT NULL,
  reason VARCHAR,
  first_seen TIMESTAMP NOT NULL,
  last_seen TIMESTAMP NOT NULL,
  decided_at TIMESTAMP,
  effective_from TIMESTAMP
)""",
        ],
    )
)

MIGRATIONS.append(
    (
        5,
        "month-end sign-offs",
        [
            # One row per sign-off (re-signing adds one: history is kept), the figures per vendor
            # as signed, and each batch's share of them: a later re-import or re-sync that moves the
            # month's figure is named by the batches that differ.
            """CREATE TABLE signoffs (
  signoff_id VARCHAR PRIMARY KEY,
  month VARCHAR NOT NULL,
  signed_by VARCHAR NOT NULL,
  signed_at TIMESTAMP NOT NULL,
  note VARCHAR,
  invoice_usd DECIMAL(38, 18) NOT NULL,
  ledger_usd DECIMAL(38, 18) NOT NULL
)""",
            """CREATE TABLE signoff_vendors (
  signoff_id VARCHAR NOT NULL,
  provider VARCHAR NOT NULL,
  basis VARCHAR NOT NULL,
  invoice_usd DECIMAL(38, 18) NOT NULL,
  ledger_usd DECIMAL(38, 18) NOT NULL,
  estimate_usd DECIMAL(38, 18) NOT NULL,
  difference_usd DECIMAL(38, 18) NOT NULL
)""",
            """CREATE TABLE signoff_batches (
  signoff_id VARCHAR NOT NULL,
  provider VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  batch_id VARCHAR NOT NULL,
  row_count BIGINT NOT NULL,
  ledger_usd DECIMAL(38, 18) NOT NULL
)""",
        ],
    )
)

MIGRATIONS.append(
    (
        9,
        "attribution provenance",
        ["ALTER TABLE ledger ADD COLUMN attributed_by JSON"],
    )
)

MIGRATIONS.append(
    (
        8,
        "revenue",
        [
            # What customers paid, for margin. A load replaces its source's window of occurred_at
            # (a CSV: the whole file's source), so re-importing or re-syncing never double counts.
            # customer is the ledger's customer key; source_customer what the source called them.
            """CREATE TABLE revenue (
  source VARCHAR NOT NULL,
  external_id VARCHAR,
  customer VARCHAR,
  source_customer VARCHAR,
  feature VARCHAR,
  period_start TIMESTAMP NOT NULL,
  period_end TIMESTAMP NOT NULL,
  occurred_at TIMESTAMP NOT NULL,
  amount DECIMAL(38, 18) NOT NULL,
  currency VARCHAR NOT NULL,
  description VARCHAR,
  loaded_at TIMESTAMP NOT NULL
)""",
        ],
    )
)

MIGRATIONS.append(
    (
        12,
        "daily rollup",
        [
            # The counted ledger per day and dimension (aispend/analysis/rollups.py), and the
            # provider-months a write left to recompute. A ledger from before this version marks
            # all of its months stale: reports read raw rows until the next write refreshes them.
            """CREATE TABLE ledger_daily (
  day DATE NOT NULL,
  long_period BOOLEAN NOT NULL,
  source VARCHAR,
  source_type VARCHAR,
  billing_period VARCHAR,
  provider VARCHAR,
  publisher VARCHAR,
  service VARCHAR,
  service_category VARCHAR,
  model VARCHAR,
  region VARCHAR,
  service_tier VARCHAR,
  charge_category VARCHAR,
  billing_currency VARCHAR,
  cost_source VARCHAR,
  pricing_status VARCHAR,
  account_id VARCHAR,
  project VARCHAR,
  api_key_id VARCHAR,
  environment VARCHAR,
  owner VARCHAR,
  feature VARCHAR,
  customer VARCHAR,
  experiment VARCHAR,
  rows BIGINT NOT NULL,
  cost_usd DECIMAL(38, 18),
  superseded_rows BIGINT,
  superseded_usd DECIMAL(38, 18),
  input_tokens BIGINT,
  output_tokens BIGINT,
  cache_read_tokens BIGINT,
  cache_write_tokens BIGINT,
  reasoning_tokens BIGINT,
  requests BIGINT,
  unpriced_rows BIGINT,
  unpriced_tokens BIGINT,
  unconverted_rows BIGINT,
  unconverted_billed DECIMAL(38, 18)
)""",
            "CREATE TABLE rollup_stale (provider VARCHAR NOT NULL, month DATE NOT NULL)",
            ("INSERT INTO rollup_stale SELECT DISTINCT coalesce(provider, ''), "
             "CAST(date_trunc('month', period_start) AS DATE) FROM ledger WHERE period_start IS NOT NULL"),
        ],
    )
)

MIGRATIONS.append(
    (
        11,
        "dashboard users",
        [
            # Dashboard and API users. password_hash is an argon2id hash (never the password);
            # owner, for a viewer, is the one team whose costs they may see.
            """CREATE TABLE users (
  user_id VARCHAR PRIMARY KEY,
  username VARCHAR NOT NULL UNIQUE,
  role VARCHAR NOT NULL,
  owner VARCHAR,
  password_hash VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL
)""",
            # API tokens: only a SHA-256 of the token is kept; the token is shown once, when made.
            """CREATE TABLE api_tokens (
  token_id VARCHAR PRIMARY KEY,
  user_id VARCHAR NOT NULL,
  label VARCHAR,
  token_hash VARCHAR NOT NULL UNIQUE,
  created_at TIMESTAMP NOT NULL
)""",
        ],
    )
)

MIGRATIONS.append((10, "alerts outbox", [
    # One row per (alert, channel, level): evaluation inserts pending rows in one transaction,
    # delivery marks each sent or schedules its retry, so a restart resumes where it stopped.
    # group_key hashes channel + kind + scope + period: a row is added only for a level above
    # every earlier row of its group (an escalation). No secret is stored: channels by name.
    """CREATE TABLE alert_outbox (
  id VARCHAR PRIMARY KEY,
  group_key VARCHAR NOT NULL,
  rule VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  scope VARCHAR NOT NULL,
  period VARCHAR NOT NULL,
  level INTEGER NOT NULL,
  level_label VARCHAR NOT NULL,
  channel VARCHAR NOT NULL,
  message VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  attempts INTEGER NOT NULL,
  created_at TIMESTAMP NOT NULL,
  next_attempt_at TIMESTAMP,
  last_attempt_at TIMESTAMP,
  sent_at TIMESTAMP,
  last_error VARCHAR
)""",
]))

MIGRATIONS.append(
    (
        13,
        "allocation sources",
        # The ledger rows an allocation split (aispend/attribution/allocate.py): counted through
        # their allocated shares, never again themselves. Keyed by provider-month like the rollup.
        ["CREATE TABLE allocation_sources (row_id VARCHAR NOT NULL, provider VARCHAR NOT NULL, month DATE NOT NULL)"],
    )
)

# Blocks above are appended by feature, each with its own version; they apply in version order.
MIGRATIONS.sort(key=lambda m: m[0])
LATEST_VERSION = MIGRATIONS[-1][0]
