"""The Spark job against the DuckDB path: normalize + price + roll up events + allocate.

Same generated input for both (``gen_focus.py``'s FOCUS CSV, N rows over July-December 2025,
plus M per-request events in aispend's JSONL over the same providers, models and days):

* DuckDB: ``import_file`` for the export, then ``import_events`` for the events (whose
  ``settle`` allocates the provider-months they touch), into a fresh store (the product's own
  path, one process). Not ``allocate_all``: at 2M rows it runs out of its bulk transaction's
  512 MB memory cap;
* Spark: ``aispend.spark.job.run`` in local mode on every core (``local[*]``), writing Parquet.

Each side runs in its own subprocess (cold start included for Spark: the JVM start is part of
what a user waits for; it is printed separately). The script prints wall time, rows/s, per-core
throughput and the Spark/DuckDB ratio, then checks the two results agree to the cent: ledger
total and per-row cost, events_daily totals, allocated shares row by row.

    .venv/bin/python benchmarks/bench_spark.py [--rows 2000000] [--events 1000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# (event provider, model_raw, weight) from gen_focus's AI offers: the events land on the bill's pools.
EVENT_OFFERS_SQL = """
SELECT * FROM (VALUES
  ('openai', 'gpt-4o', 8), ('openai', 'gpt-4o-mini', 12), ('openai', 'gpt-4.1', 5), ('openai', 'gpt-4.1-mini', 6),
  ('openai', 'o3-mini', 3), ('anthropic', 'claude-sonnet-4-5', 10), ('anthropic', 'claude-haiku-4-5', 6),
  ('anthropic', 'claude-opus-4-1', 2), ('aws', 'anthropic.claude-sonnet-4-5-20250929-v1:0', 8),
  ('aws', 'anthropic.claude-3-5-haiku-20241022-v1:0', 3), ('aws', 'amazon.nova-lite-v1:0', 4),
  ('azure', 'gpt-4o', 6), ('azure', 'gpt-4o-mini', 6), ('gcp', 'gemini-2.5-flash', 8), ('gcp', 'gemini-2.5-pro', 4)
) t(provider, model, weight)"""

EVENTS_SQL = """
COPY (
  WITH o AS (SELECT row_number() OVER () - 1 AS k, provider, model FROM ({offers})),
  e AS (
    SELECT i, hash(i, {seed}, 1) % 15 AS k,
           TIMESTAMP '2025-07-01' + to_seconds(CAST(hash(i, {seed}, 2) % (184 * 86400) AS BIGINT)) AS ts,
           CAST(200 + hash(i, {seed}, 3) % 8000 AS BIGINT) AS input_tokens,
           CAST(20 + hash(i, {seed}, 4) % 900 AS BIGINT) AS output_tokens,
           hash(i, {seed}, 5) % 100 AS u_cache, hash(i, {seed}, 6) % 300 AS customer_i
    FROM range({n}) r(i)
  )
  SELECT 'ev-' || i AS id, strftime(ts, '%Y-%m-%dT%H:%M:%S.000Z') AS time, o.provider, o.model,
         input_tokens, CASE WHEN u_cache < 40 THEN input_tokens * u_cache // 50 ELSE 0 END AS cache_read_tokens,
         output_tokens, 'customer-' || customer_i AS customer, 'feature-' || (customer_i % 12) AS feature,
         'proj-' || (customer_i % 5) AS project, CASE WHEN customer_i % 7 = 0 THEN 'staging' ELSE 'prod' END AS environment
  FROM e JOIN o USING (k) ORDER BY i
) TO '{out}' (FORMAT JSON)"""


def write_events(out: Path, n: int, seed: int = 7) -> Path:
    """``n`` events in aispend's JSONL, deterministic, with NULL-free required fields."""
    import duckdb

    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(EVENTS_SQL.format(offers=EVENT_OFFERS_SQL, seed=seed, n=n, out=str(out)))
    con.close()
    return out


def write_exports(out: Path, rows: int, seed: int = 42) -> Path:
    from gen_focus import generate

    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        generate(rows, out, "csv", seed)
    return out


def settings_for(db: str):
    from aispend.config import AllocationSettings, Settings, StoreConfig

    return Settings(store=StoreConfig(url=db), allocation=AllocationSettings(enabled=True))


# --- workers: each runs alone in a fresh interpreter -------------------------------------------

def _worker_duckdb(export: str, events: str, work: str) -> dict:
    from aispend.events import import_events
    from aispend.ingest.runner import import_file
    from aispend.store import open_store

    db = str(Path(work, "duck.duckdb"))
    settings = settings_for(db)
    t0 = time.perf_counter()
    store = open_store(db)
    import_file(store, settings, export)
    t1 = time.perf_counter()
    import_events(store, settings, events)  # its settle() allocates every provider-month the events touch
    t2 = time.perf_counter()
    t3 = t2
    store.close()
    return {"seconds": time.perf_counter() - t0, "import_s": t1 - t0, "events_s": t2 - t1, "allocate_s": t3 - t2,
            "db": db, "db_bytes": os.path.getsize(db)}


def _worker_spark(export: str, events: str, work: str, master: str) -> dict:
    from aispend.spark.job import run
    from aispend.spark.session import spark_session

    t0 = time.perf_counter()
    spark = spark_session(master)
    t1 = time.perf_counter()
    out = str(Path(work, "spark"))
    result = run(spark, settings_for(str(Path(work, "unused.duckdb"))), [export], out, [events])
    t2 = time.perf_counter()
    cores = spark.sparkContext.defaultParallelism
    spark.stop()
    return {"seconds": t2 - t0, "session_s": t1 - t0, "job_s": t2 - t1, "out": out, "rows": result.rows,
            "cores": cores}


def _child(kind: str, *args: str) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import bench_spark as b; "
            f"print('RESULT' + json.dumps(b._worker_{kind}(*{list(args)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[6:])
    raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-4000:]}")


# --- comparison: both results, to the cent ------------------------------------------------------

def compare(db: str, out: str) -> dict:
    """Both sides' ledger, events_daily and allocated shares, in DuckDB over the Parquet output."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    con.execute(f"CREATE TEMP VIEW s_ledger AS SELECT * FROM read_parquet('{out}/ledger/**/*.parquet', hive_partitioning = true)")
    con.execute(f"CREATE TEMP VIEW s_daily AS SELECT * FROM read_parquet('{out}/events_daily/*.parquet')")
    con.execute(f"CREATE TEMP VIEW s_alloc AS SELECT * FROM read_parquet('{out}/allocated/*.parquet')")
    q = lambda sql: con.execute(sql).fetchall()
    differ = q("""SELECT count(*) FROM (SELECT * FROM ledger WHERE cost_source <> 'allocated') d
        FULL JOIN s_ledger s USING (row_id)
        WHERE d.row_id IS NULL OR s.row_id IS NULL OR d.cost_usd IS DISTINCT FROM s.cost_usd
           OR d.list_cost_usd IS DISTINCT FROM s.list_cost_usd OR d.model IS DISTINCT FROM s.model
           OR d.pricing_status IS DISTINCT FROM s.pricing_status""")[0][0]
    totals = q("""SELECT (SELECT sum(cost_usd) FROM ledger WHERE cost_source <> 'allocated'),
                         (SELECT sum(cost_usd) FROM s_ledger),
                         (SELECT sum(estimated_cost_usd) FROM events_daily), (SELECT sum(estimated_cost_usd) FROM s_daily),
                         (SELECT sum(cost_usd) FROM ledger WHERE cost_source = 'allocated'), (SELECT sum(cost_usd) FROM s_alloc),
                         (SELECT count(*) FROM ledger WHERE cost_source = 'allocated'), (SELECT count(*) FROM s_alloc)""")[0]
    alloc_differ = q("""SELECT count(*) FROM (SELECT * FROM ledger WHERE cost_source = 'allocated') d
        FULL JOIN s_alloc s USING (row_id) WHERE d.row_id IS NULL OR s.row_id IS NULL OR d.cost_usd <> s.cost_usd""")[0][0]
    con.close()
    return {"ledger_rows_differ": differ, "ledger_usd": [str(totals[0]), str(totals[1])],
            "events_daily_usd": [str(totals[2]), str(totals[3])], "allocated_usd": [str(totals[4]), str(totals[5])],
            "allocated_rows": [totals[6], totals[7]], "allocated_rows_differ": alloc_differ,
            "equal": differ == 0 and alloc_differ == 0 and totals[0] == totals[1] and totals[2] == totals[3]
            and totals[4] == totals[5]}


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="export (FOCUS) rows")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--dir", type=Path, default=HERE / "out")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    export = write_exports(args.dir / f"spark_focus_{args.rows}.csv", args.rows)
    events = write_events(args.dir / f"spark_events_{args.events}.jsonl", args.events)
    work = Path(tempfile.mkdtemp(prefix="aispend-bench-spark-", dir=args.dir))
    try:
        duck = _child("duckdb", str(export), str(events), str(work))
        spark = _child("spark", str(export), str(events), str(work), args.master)
        check = compare(duck["db"], spark["out"])
        cores = os.cpu_count() or 1
        rows = args.rows + args.events
        out = {
            "export_rows": args.rows, "events": args.events, "cpus": cores, "spark_cores": spark["cores"],
            "duckdb_s": round(duck["seconds"], 2), "duckdb_steps_s": {k: round(duck[k], 2) for k in ("import_s", "events_s", "allocate_s")},
            "spark_s": round(spark["seconds"], 2), "spark_session_s": round(spark["session_s"], 2),
            "spark_job_s": round(spark["job_s"], 2),
            "duckdb_rows_per_s": round(rows / duck["seconds"]), "spark_rows_per_s": round(rows / spark["seconds"]),
            "duckdb_rows_per_core_s": round(rows / duck["seconds"] / cores),
            "spark_rows_per_core_s": round(rows / spark["seconds"] / spark["cores"]),
            "ratio_spark_over_duckdb": round(spark["seconds"] / duck["seconds"], 2),
            "bytes": {"export_csv": export.stat().st_size, "events_jsonl": events.stat().st_size,
                      "duckdb_file": duck["db_bytes"],
                      "parquet_ledger": _bytes(Path(spark["out"], "ledger")),
                      "parquet_events_daily": _bytes(Path(spark["out"], "events_daily")),
                      "parquet_allocated": _bytes(Path(spark["out"], "allocated"))},
            "spark_rows": spark["rows"], "check": check,
        }
        print(f"{args.rows:,} export rows + {args.events:,} events on {cores} cores")
        print(f"  DuckDB  {duck['seconds']:8.1f} s  ({out['duckdb_rows_per_s']:,} rows/s, "
              f"{out['duckdb_rows_per_core_s']:,} rows/s/core)  steps {out['duckdb_steps_s']}")
        print(f"  Spark   {spark['seconds']:8.1f} s  ({out['spark_rows_per_s']:,} rows/s, "
              f"{out['spark_rows_per_core_s']:,} rows/s/core on {spark['cores']} cores; session start "
              f"{spark['session_s']:.1f} s)")
        print(f"  Spark / DuckDB = {out['ratio_spark_over_duckdb']}x")
        print(f"  equal to the cent: {check['equal']}  {json.dumps(check)}")
        print(f"  bytes: {json.dumps(out['bytes'])}")
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return 0 if check["equal"] else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
