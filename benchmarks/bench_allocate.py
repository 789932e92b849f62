"""Allocation at scale: one month of per-request events (default 10M) over a month of billed rows.

Builds, in DuckDB SQL, 30 days of billed usage (3 providers x 10 models, hourly rows: 21,600
rows with tokens) and N events over the same keys (500 customers, each on its own feature,
8 projects), rolls the events up into ``events_daily`` as the event loader does, then times
``aispend.attribution.allocate.allocate_all`` (every pool split over its events, the shares
appended to the ledger, the rollup refreshed) with the process's peak memory, and checks that the
allocated and unattributed shares add up to the bill exactly.

    .venv/bin/python benchmarks/bench_allocate.py [--events 10000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import psutil

from aispend.analysis import spend_report
from aispend.attribution.allocate import allocate_all
from aispend.config import AllocationSettings, Settings, StoreConfig
from aispend.store import open_store

BILLED_SQL = """
INSERT INTO ledger (row_id, source, source_type, ingested_at, batch_id, period_start, period_end, billing_period,
  provider, model, model_raw, service_category, charge_category, input_tokens, output_tokens, billed_cost,
  billing_currency, cost_usd, cost_source, pricing_status)
SELECT 'b' || i, p, 'bench', TIMESTAMP '2026-02-01', 'bench', ts, ts + INTERVAL 1 HOUR, '2026-01',
  p, p || '-m' || m, p || '-m' || m, 'AI and Machine Learning', 'usage', 2000000 + (i % 997) * 1000, 200000,
  CAST(10 + (i % 997) / 100.0 AS DECIMAL(38, 18)), 'USD', CAST(10 + (i % 997) / 100.0 AS DECIMAL(38, 18)),
  'billed', 'priced'
FROM (SELECT i, ['openai', 'anthropic', 'aws'][1 + i % 3] AS p, (i // 3) % 10 AS m,
             TIMESTAMP '2026-01-01' + to_hours(CAST(i // 30 AS BIGINT)) AS ts FROM range(30 * 24 * 30) t(i))"""

EVENTS_SQL = """
INSERT INTO events (event_id, time, day, provider, model, model_raw, input_tokens, output_tokens, cache_read_tokens,
  cache_write_tokens, reasoning_tokens, requests, status, customer, feature, project, source, ingested_at,
  estimated_cost_usd, pricing_status)
SELECT 'e' || i, ts, CAST(ts AS DATE), p, p || '-m' || m, p || '-m' || m, 500 + i % 3000, 50 + i % 400, 0, 0, 0, 1,
  'ok', 'customer-' || (i % 500), 'feature-' || (i % 500 % 20), 'proj-' || (i % 8), 'bench', TIMESTAMP '2026-02-01',
  CAST((500 + i % 3000) * 0.0000025 + (50 + i % 400) * 0.00001 AS DECIMAL(38, 18)), 'priced'
FROM (SELECT i, ['openai', 'anthropic', 'aws'][1 + i % 3] AS p, (i // 3) % 10 AS m,
             TIMESTAMP '2026-01-01' + to_seconds(CAST((i * 2654435761) % (30 * 86400) AS BIGINT)) AS ts
      FROM range(?, ?) t(i))"""

DAILY_SQL = """
INSERT INTO events_daily SELECT day, provider, model, project, api_key_id, customer, feature, experiment, environment,
  count(*), sum(requests), 0, sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
  sum(reasoning_tokens), sum(estimated_cost_usd), 0
FROM events GROUP BY ALL"""


class PeakRss:
    """The process's resident memory, sampled every 50 ms while running."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def __enter__(self) -> PeakRss:
        def sample() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, self._proc.memory_info().rss)
                time.sleep(0.05)
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def build(path: Path, events: int) -> None:
    with open_store(str(path)) as store:
        if store.query("SELECT count(*) FROM events")[0][0] == events:
            print(f"{path}: {events:,} events, reused")
            return
        for table in ("ledger", "events", "events_daily", "ledger_daily", "allocation_sources"):
            store.query(f"DELETE FROM {table}")
        store.query(BILLED_SQL)
        began = time.monotonic()
        for lo in range(0, events, 5_000_000):
            store.query(EVENTS_SQL, [lo, min(lo + 5_000_000, events)])
        store.query(DAILY_SQL)
        print(f"built {events:,} events and their daily rollup in {time.monotonic() - began:.0f}s "
              f"({store.query('SELECT count(*) FROM events_daily')[0][0]:,} rollup rows)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--db", type=Path, default=Path("benchmarks/out/allocate.duckdb"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    build(args.db, args.events)
    settings = Settings(store=StoreConfig(url=str(args.db)), allocation=AllocationSettings(enabled=True))
    with open_store(str(args.db)) as store:
        billed = store.query("SELECT sum(cost_usd) FROM ledger WHERE cost_source = 'billed'")[0][0]
        base = psutil.Process().memory_info().rss
        with PeakRss() as rss:
            began = time.monotonic()
            result = allocate_all(store, settings)
            seconds = time.monotonic() - began
        total = spend_report(store, []).rows[0]["cost_usd"]
        allocated = store.query("SELECT count(*) FROM ledger WHERE cost_source = 'allocated'")[0][0]
    out = {"events": args.events, "pools": result.pools, "allocated_rows": allocated, "seconds": seconds,
           "peak_rss_mb": rss.peak / 2**20, "rss_growth_mb": (rss.peak - base) / 2**20,
           "exact": total == billed, "cpus": psutil.cpu_count()}
    print(f"allocated {args.events:,} events' month: {result.pools:,} pools into {allocated:,} shares in "
          f"{seconds:.1f}s, peak RSS {out['peak_rss_mb']:.0f} MB (+{out['rss_growth_mb']:.0f} MB); "
          f"total after = billed: {out['exact']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0 if out["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
