"""The dashboard's overview at scale: answered from the daily rollup versus from raw ledger rows.

Builds a ledger of N rows (default 100M) straight in DuckDB SQL (hourly rows over 90 days: 6
providers, 24 models, 40 projects, 200 API keys, 12 owners, 24 features, 500 customers; 10% of
rows are usage-report estimates that a bill supersedes), rebuilds the rollup (timed), then times
``aispend.server.views.overview`` (month to date, forecast with interval, last month, top movers,
30 days of daily spend by provider: what the Overview page and ``/api/v1/overview`` compute):

* rollup: as served;
* raw: the same call with the rollup declared unusable, so every query scans the counted ledger.

Prints p50/p95 of each and their ratio, and checks both give the same figures.

    .venv/bin/python benchmarks/bench_overview.py [--rows 100000000] [--repeat 10] [--raw-repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from unittest import mock

from aispend.analysis import rollups
from aispend.config import Settings, StoreConfig
from aispend.server.access import Principal
from aispend.server.scoped import ScopedLedger
from aispend.server.views import overview
from aispend.store import open_store

AS_OF = date(2026, 3, 20)
CHUNK = 10_000_000

ROWS_SQL = """
INSERT INTO ledger (row_id, source, source_type, ingested_at, batch_id, period_start, period_end, billing_period,
  provider, publisher, service, service_category, model, model_raw, region, service_tier, charge_category,
  input_tokens, output_tokens, requests, billed_cost, billing_currency, cost_usd, list_cost_usd, cost_source,
  pricing_status, account_id, project, api_key_id, environment, owner, feature, customer)
SELECT 'r' || i, CASE WHEN est THEN p || ':usage' ELSE p END, 'bench', TIMESTAMP '2026-03-20', 'bench',
  ts, ts + INTERVAL 1 HOUR, strftime(ts, '%Y-%m'),
  p, p, p || ' AI', 'AI and Machine Learning', p || '-model-' || (i % 4), p || '-model-' || (i % 4), 'us-east-1',
  'standard', 'usage', 1000 + i % 5000, 100 + i % 700, 1 + i % 9,
  CASE WHEN est THEN NULL ELSE cost END, 'USD', cost, cost, CASE WHEN est THEN 'estimated' ELSE 'billed' END,
  'priced', 'acct-' || (i % 3), 'proj-' || (i % 40), 'key-' || (i % 200), CASE WHEN i % 5 = 0 THEN 'dev' ELSE 'prod' END,
  'team-' || (i % 12), 'feature-' || (i % 24), 'customer-' || (i % 500)
FROM (
  SELECT i,
    ['openai', 'anthropic', 'aws', 'azure', 'gcp', 'mistral'][1 + i % 6] AS p,
    TIMESTAMP '2025-12-21' + to_hours(CAST((i // 7) % (90 * 24) AS BIGINT)) AS ts,
    i % 10 = 3 AND i % 6 < 2 AS est,
    CAST(((i * 7919) % 100000) / 1000000.0 + 0.0001 AS DECIMAL(38, 18)) AS cost
  FROM range(?, ?) t(i)
)"""


def build(path: Path, rows: int) -> None:
    with open_store(str(path)) as store:
        have = store.query("SELECT count(*) FROM ledger")[0][0]
        if have == rows and rollups.usable(store):
            print(f"ledger {path}: {rows:,} rows, reused")
            return
        if have != rows:
            store.query("DELETE FROM ledger")
            began = time.monotonic()
            for lo in range(0, rows, CHUNK):
                store.query(ROWS_SQL, [lo, min(lo + CHUNK, rows)])
                print(f"  {min(lo + CHUNK, rows):,} rows ({time.monotonic() - began:.0f}s)", flush=True)
        began = time.monotonic()
        with store.transaction(bulk=True) as tx:
            tx.full_memory()  # as derived.settle_all does before rebuilding
            rollups.rebuild(tx, store)
        n = store.query(f"SELECT count(*) FROM {rollups.TABLE}")[0][0]
        print(f"rollup rebuilt in {time.monotonic() - began:.1f}s: {n:,} rollup rows for {rows:,} ledger rows")


def timed(led: ScopedLedger, repeat: int) -> tuple[list[float], dict]:
    times, result = [], {}
    for _ in range(repeat):
        began = time.perf_counter()
        result = overview(led, AS_OF)
        times.append(time.perf_counter() - began)
    return times, result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--raw-repeat", type=int, default=3)
    ap.add_argument("--db", type=Path, default=Path("benchmarks/out/overview.duckdb"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    build(args.db, args.rows)
    settings = Settings(store=StoreConfig(url=str(args.db)))
    with open_store(str(args.db)) as store:
        led = ScopedLedger(store, settings, Principal("bench", "admin", via="local"))
        assert rollups.usable(store)
        fast, a = timed(led, args.repeat)
        with mock.patch.object(rollups, "usable", lambda _store: False):
            slow, b = timed(led, args.raw_repeat)
    same = (a["month_to_date_usd"], a["forecast"], a["daily"]) == \
           (b["month_to_date_usd"], b["forecast"], b["daily"])
    out = {"rows": args.rows, "rollup_p50": pct(fast, 0.5), "rollup_p95": pct(fast, 0.95),
           "raw_p50": pct(slow, 0.5), "raw_p95": pct(slow, 0.95), "same_figures": same}
    out["ratio_p50"] = out["raw_p50"] / out["rollup_p50"]
    print(f"overview over {args.rows:,} ledger rows: rollup p50 {out['rollup_p50']:.3f}s p95 {out['rollup_p95']:.3f}s "
          f"({args.repeat} runs); raw p50 {out['raw_p50']:.2f}s p95 {out['raw_p95']:.2f}s ({args.raw_repeat} runs); "
          f"raw/rollup {out['ratio_p50']:.0f}x; same figures: {same}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
