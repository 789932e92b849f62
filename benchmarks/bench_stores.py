"""DuckDB versus PostgreSQL as the ledger store: import and report on the same FOCUS file, in one run.

For each size (1M by default; ``--sizes 1m,10m`` for the documented run) on the same generated
FOCUS file (``gen_focus.py``, seed 42):

* **import**: ``import_file`` (validate, normalize, row ids, bulk pricing, rollup refresh, one
  transaction) into a fresh DuckDB file, and into a fresh PostgreSQL database created for the run
  (``CREATE DATABASE bench_pg_stores_<size>`` through ``--pg-url``, the admin URL). Each import runs
  in its own fresh Python subprocess, as in ``bench_import.py``: the timed span is ``open_store``
  (migrations included) + ``import_file`` + close, and the peak RSS is that child's ``ru_maxrss``
  (the aispend process only). For PostgreSQL the script also reads the peak RSS of the server
  backend that served the import (``VmHWM``, shared buffers it touched included; needs read
  access to ``/proc/<pid>``), ``pg_database_size`` against the DuckDB file size, and where the
  client's time went (COPY of the Arrow batches versus the other statements).
* **report**, on the two loaded ledgers, each engine in its own subprocess: the month report
  (``spend_report(store, ["provider", "model"], month)``: what ``aispend report --by
  provider,model --month M`` runs, answered from the daily rollup), the same report forced onto
  raw ledger rows (``use_rollup=False``: the counted-ledger joins), and the dashboard overview
  (``aispend.server.views.overview``: what ``bench_overview.py`` times). p50/p95 over
  ``--repeat`` runs (``--raw-repeat`` for the raw report), first call included.
* **same figures**: the ledger totals (rows, cost, list cost, tokens, by pricing status), the
  month report's rows and the overview's figures must be identical on both engines, to the last
  decimal. A difference is printed and makes the exit status 1.

Before the report runs, PostgreSQL gets ``VACUUM (ANALYZE)`` on the fresh database (timed and
printed): what autovacuum does on its own shortly after a large load; DuckDB needs no such step.
With ``--sync-commit`` the first size's PostgreSQL import runs once more with
``synchronous_commit=on`` for that session (``PGOPTIONS``); the server's own fsync setting
still applies, and the output says what it is.

Slow statements: ``--log-slow-ms N`` sets ``log_min_duration_statement`` on the bench database
(``ALTER DATABASE``) and, when the server log is readable (``--pg-log``), prints the slowest
statements of the import's backend.

    export PGPASSWORD=...   # never on the command line or in a file
    .venv/bin/python benchmarks/bench_stores.py --pg-url postgresql://aispend@localhost:5432/postgres
    .venv/bin/python benchmarks/bench_stores.py --sizes 1m,10m --sync-commit --json benchmarks/out/stores.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_import import label, parse_size

MONTH = "2025-12"  # gen_focus.py writes July to December 2025
AS_OF = date(2025, 12, 20)
REPORT_BY = ["provider", "model"]
PG_SETTINGS = ("shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "fsync",
               "synchronous_commit", "full_page_writes", "wal_level", "max_wal_size",
               "max_parallel_workers_per_gather", "jit")
DEFAULT_PG_LOG = "/var/log/postgresql/postgresql-15-main.log"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _jsonable(value):
    """Figures as exact text: Decimals keep every digit, so the engines compare to the last decimal."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return "NaN" if value.is_nan() else format(value.normalize(), "f")
    if isinstance(value, float):
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


# --- workers: each runs alone in a fresh interpreter --------------------------------------------

def _in_empty_dir():
    empty = tempfile.mkdtemp(prefix="aispend-bench-")
    os.chdir(empty)  # no aispend.toml in cwd: default settings
    return empty


def _backend_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _worker_import(file: str, url: str) -> dict:
    empty = _in_empty_dir()
    from aispend.config import load_settings
    from aispend.ingest.runner import import_file
    from aispend.store import open_store

    profile = {"copy_s": 0.0, "copy_calls": 0, "stmt_s": 0.0, "stmt_calls": 0}
    pg = url.startswith(("postgresql://", "postgres://"))
    if pg:
        # Where the client's time goes: a perf_counter around each COPY and each statement.
        from aispend.store import postgres as pgmod

        run, append = pgmod._run, pgmod._PostgresTransaction.append

        def timed(fn, key):
            def wrapper(*args):
                t = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    profile[f"{key}_s"] += time.perf_counter() - t
                    profile[f"{key}_calls"] += 1
            return wrapper

        pgmod._run = timed(run, "stmt")
        pgmod._PostgresTransaction.append = timed(append, "copy")

    settings = load_settings(None)
    t0 = time.perf_counter()
    store = open_store(url)
    backend = store.con.execute("SELECT pg_backend_pid()").fetchone()[0] if pg else None
    t_open = time.perf_counter() - t0
    result = import_file(store, settings, file)
    seconds_import = time.perf_counter() - t0
    backend_mb = _backend_hwm_mb(backend) if backend else None
    store.close()
    seconds = time.perf_counter() - t0
    # Counted after the clock, on a fresh connection.
    with open_store(url, migrate=False) as check:
        rows = check.query("SELECT count(*) FROM ledger")[0][0]
        priced = check.query("SELECT count(*) FROM ledger WHERE pricing_status IN ('priced', 'override')")[0][0]
        rollup_rows = check.query("SELECT count(*) FROM ledger_daily")[0][0]
        sync = check.query("SELECT current_setting('synchronous_commit')")[0][0] if pg else None
    os.chdir(HERE)
    os.rmdir(empty)
    out = {"seconds": seconds, "open_s": t_open, "close_s": seconds - seconds_import, "rows": rows,
           "rows_loaded": result.rows_loaded, "rows_rejected": result.rows_rejected, "priced_rows": priced,
           "rollup_rows": rollup_rows, "backend_pid": backend, "backend_peak_mb": backend_mb,
           "synchronous_commit": sync}
    if pg:
        out["profile"] = profile
    return out


def _worker_report(url: str, repeat: int, raw_repeat: int) -> dict:
    empty = _in_empty_dir()
    from aispend.analysis import Window
    from aispend.analysis.report import spend_report
    from aispend.config import Settings, StoreConfig
    from aispend.server.access import Principal
    from aispend.server.scoped import ScopedLedger
    from aispend.server.views import overview
    from aispend.store import open_store

    window = Window.parse(month=MONTH)
    settings = Settings(store=StoreConfig(url=url))
    out: dict = {}
    with open_store(url, migrate=False) as store:
        led = ScopedLedger(store, settings, Principal("bench", "admin", via="local"))

        def timed(fn, n):
            times, result = [], None
            for _ in range(n):
                t = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - t)
            return times, result

        out["report_times"], rep = timed(lambda: spend_report(store, REPORT_BY, window), repeat)
        out["raw_times"], raw = timed(lambda: spend_report(store, REPORT_BY, window, use_rollup=False), raw_repeat)
        out["overview_times"], ov = timed(lambda: overview(led, AS_OF), repeat)
        totals = store.query(
            # Token sums cast: PostgreSQL's sum(bigint) is NUMERIC (a Decimal), DuckDB's an int.
            "SELECT pricing_status, count(*), sum(cost_usd), sum(list_cost_usd), sum(billed_cost), "
            "CAST(sum(input_tokens) AS BIGINT), CAST(sum(output_tokens) AS BIGINT), CAST(sum(requests) AS BIGINT) "
            "FROM ledger GROUP BY ALL ORDER BY ALL")
    os.chdir(HERE)
    os.rmdir(empty)
    out["figures"] = _jsonable({
        "ledger_by_status": [list(r) for r in totals],
        "report_rows": rep.rows,
        "report_total_usd": sum((r["cost_usd"] or Decimal(0) for r in rep.rows), Decimal(0)),
        "report_footer": vars(rep.footer),
        "raw_report_rows": raw.rows,
        "raw_report_total_usd": sum((r["cost_usd"] or Decimal(0) for r in raw.rows), Decimal(0)),
        "raw_report_footer": vars(raw.footer),
        "overview": ov,
    })
    return out


# --- the parent ----------------------------------------------------------------------------------

def _child(args: list[str], env: dict | None = None) -> dict:
    """Run one worker in a fresh interpreter; return its JSON result plus its own peak RSS (MB)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"worker {args[:2]} failed (exit {code})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def with_db(admin_url: str, dbname: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + dbname))


class Postgres:
    """The admin connection: creates and drops the bench databases, reads settings and sizes."""

    def __init__(self, admin_url: str):
        import psycopg

        self.admin_url = admin_url
        self.con = psycopg.connect(admin_url, autocommit=True)

    def one(self, sql: str, params=()):
        return self.con.execute(sql, params).fetchone()[0]

    def settings(self) -> dict:
        info = {"version": self.one("SELECT version()")}
        for name in PG_SETTINGS:
            info[name] = self.one("SELECT current_setting(%s)", [name])
        return info

    def fresh(self, dbname: str, log_slow_ms: int | None) -> str:
        self.drop(dbname)
        self.con.execute(f'CREATE DATABASE "{dbname}"')
        if log_slow_ms is not None:
            self.con.execute(f'ALTER DATABASE "{dbname}" SET log_min_duration_statement = {int(log_slow_ms)}')
        return with_db(self.admin_url, dbname)

    def drop(self, dbname: str) -> None:
        self.con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def size_mb(self, dbname: str) -> float:
        return self.one("SELECT pg_database_size(%s)", [dbname]) / 1e6

    def vacuum_analyze(self, url: str) -> float:
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            t = time.perf_counter()
            con.execute("VACUUM (ANALYZE)")
            return time.perf_counter() - t

    def table_sizes(self, url: str) -> dict:
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            rows = con.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' "
                "ORDER BY 2 DESC LIMIT 4").fetchall()
        return {name: {"total_mb": total / 1e6, "heap_mb": heap / 1e6} for name, total, heap in rows}


def slow_statements(log: Path, pid: int | None, since: float, top: int = 8) -> list[dict]:
    """The ``duration: N ms`` lines the server logged for one backend (log_min_duration_statement)."""
    if pid is None or not log.exists():
        return []
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    found = []
    pattern = re.compile(rf"^(\S+ \S+) (\S+) \[{pid}\] (?:\S+ )?LOG:  duration: ([\d.]+) ms  (?:statement|execute [^:]*): (.*)$")
    for line in text.splitlines():
        m = pattern.match(line)
        # A backend's pid is reused in time: only lines since the import began (when the log is in UTC).
        if m and (m.group(2) != "UTC" or datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC).timestamp() >= since - 1):
            found.append({"ms": float(m.group(3)), "statement": m.group(4)[:400]})
    found.sort(key=lambda f: -f["ms"])
    return found[:top]


def ensure_file(rows: int, out_dir: Path) -> Path:
    from gen_focus import generate

    path = out_dir / f"focus_{label(rows).lower()}.csv"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        secs = generate(rows, path, "csv")
        print(f"  {path.stat().st_size / 1e6:,.0f} MB in {secs:.1f} s", file=sys.stderr, flush=True)
    return path


def _remove_duckdb(db: Path) -> None:
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)


def run(args: argparse.Namespace, sizes: list[int], pg: Postgres) -> dict:
    out_dir = args.out_dir.resolve()
    env_sync = dict(os.environ, PGOPTIONS=(os.environ.get("PGOPTIONS", "") + " -c synchronous_commit=on").strip())
    results = {"cpu_count": os.cpu_count(), "load_average_start": os.getloadavg(), "postgres": pg.settings(),
               "month": MONTH, "as_of": AS_OF.isoformat(), "sizes": []}
    for n, rows in enumerate(sizes):
        file = ensure_file(rows, out_dir)
        tag = label(rows).lower()
        entry: dict = {"rows": rows, "file": str(file), "file_mb": file.stat().st_size / 1e6}
        db = out_dir / f"bench-stores-{tag}.duckdb"
        dbname = f"{args.pg_db_prefix}_{tag}"
        try:
            _remove_duckdb(db)
            print(f"{label(rows)} import duckdb ...", file=sys.stderr, flush=True)
            d = _child(["--worker", "import", "--file", str(file), "--url", str(db)])
            d["db_mb"] = db.stat().st_size / 1e6
            entry["duckdb_import"] = d

            if args.sync_commit and n == 0:
                url = pg.fresh(dbname + "_sync", None)
                print(f"{label(rows)} import postgresql (synchronous_commit=on) ...", file=sys.stderr, flush=True)
                s = _child(["--worker", "import", "--file", str(file), "--url", url], env=env_sync)
                s["db_mb"] = pg.size_mb(dbname + "_sync")
                pg.drop(dbname + "_sync")
                entry["postgres_import_sync"] = s

            url = pg.fresh(dbname, args.log_slow_ms)
            print(f"{label(rows)} import postgresql ...", file=sys.stderr, flush=True)
            since = time.time()
            p = _child(["--worker", "import", "--file", str(file), "--url", url])
            p["db_mb"] = pg.size_mb(dbname)
            p["tables"] = pg.table_sizes(url)
            if args.log_slow_ms is not None:
                p["slow_statements"] = slow_statements(args.pg_log, p.get("backend_pid"), since)
            entry["postgres_import"] = p
            for kind in ("rows", "rows_loaded", "priced_rows", "rollup_rows"):
                if d[kind] != p[kind]:
                    entry.setdefault("import_differences", []).append(f"{kind}: duckdb {d[kind]:,} postgres {p[kind]:,}")
            if d["rows"] != rows:
                raise SystemExit(f"duckdb loaded {d['rows']} rows of {rows}")

            entry["postgres_vacuum_analyze_s"] = pg.vacuum_analyze(url)
            entry["postgres_db_mb_after_vacuum"] = pg.size_mb(dbname)
            for engine, target in (("duckdb", str(db)), ("postgres", url)):
                print(f"{label(rows)} report {engine} ...", file=sys.stderr, flush=True)
                entry[f"{engine}_report"] = _child(["--worker", "report", "--url", target, "--repeat", str(args.repeat),
                                                    "--raw-repeat", str(args.raw_repeat)])
            fd, fp = entry["duckdb_report"]["figures"], entry["postgres_report"]["figures"]
            entry["same_figures"] = fd == fp
            entry["figure_differences"] = diff(fd, fp)
        finally:
            if not args.keep:
                _remove_duckdb(db)
                pg.drop(dbname)
        results["sizes"].append(entry)
    results["load_average_end"] = os.getloadavg()
    return results


def diff(a, b, path: str = "") -> list[str]:
    """Where two figure trees differ, as readable lines (the first 20)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only on {'postgres' if k in b else 'duckdb'}")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items on duckdb, {len(b)} on postgres")
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
    elif a != b:
        out.append(f"{path}: duckdb {a!r} postgres {b!r}")
    return out[:20]


def _ratio(pg_value, duck_value) -> str:
    return f"{pg_value / duck_value:.2f}x" if duck_value else "-"


def report(results: dict, args: argparse.Namespace) -> str:
    info = results["postgres"]
    lines = [
        (f"cores (os.cpu_count): {results['cpu_count']}; load average at start {results['load_average_start'][0]:.1f}, "
         f"at end {results['load_average_end'][0]:.1f} (a shared machine: other work ran meanwhile)"),
        f"PostgreSQL: {info['version'].split(' on ')[0]}; "
        + ", ".join(f"{k}={info[k]}" for k in PG_SETTINGS),
    ]
    if info["fsync"] == "off" or info["synchronous_commit"] == "off" or info["full_page_writes"] == "off":
        lines.append("NOTE: this server runs with fsync/synchronous_commit/full_page_writes off (a test set-up): "
                     "commits are not durable and the import writes less WAL than a production server would.")
    lines.append(f"report = spend_report by {','.join(REPORT_BY)} --month {MONTH} (from the rollup, as the CLI); "
                 f"raw = same, use_rollup=False; overview = server.views.overview as of {results['as_of']}")
    head = f"{'rows':>4} {'measure':<34} {'DuckDB':>12} {'PostgreSQL':>12} {'PG/DuckDB':>10}"
    lines += ["", head, "-" * len(head)]
    for e in results["sizes"]:
        r, d, p = label(e["rows"]), e["duckdb_import"], e["postgres_import"]

        def row(name, dv, pv, fmt="{:,.2f}", ratio=True, r=r):
            lines.append(f"{r:>4} {name:<34} {fmt.format(dv) if dv is not None else '-':>12} "
                         f"{fmt.format(pv) if pv is not None else '-':>12} {_ratio(pv, dv) if ratio and dv and pv else '':>10}")

        row("import seconds", d["seconds"], p["seconds"])
        row("import rows/s", e["rows"] / d["seconds"], e["rows"] / p["seconds"], "{:,.0f}")
        row("import peak RSS, aispend MB", d["peak_rss_mb"], p["peak_rss_mb"], "{:,.0f}")
        row("store size MB (file / database)", d["db_mb"], p["db_mb"], "{:,.0f}")
        for key, name in (("report", "report p50 s"), ("report", "report p95 s"), ("raw", "report raw rows p50 s"),
                          ("raw", "report raw rows p95 s"), ("overview", "overview p50 s"), ("overview", "overview p95 s")):
            q = 0.5 if "p50" in name else 0.95
            row(name, pct(e["duckdb_report"][f"{key}_times"], q), pct(e["postgres_report"][f"{key}_times"], q), "{:,.3f}")
        row("report process peak RSS MB", e["duckdb_report"]["peak_rss_mb"], e["postgres_report"]["peak_rss_mb"], "{:,.0f}")
        prof = p.get("profile", {})
        lines.append(f"{r:>4} PostgreSQL import: COPY {prof.get('copy_s', 0):.1f} s ({prof.get('copy_calls', 0)} appends), "
                     f"other statements {prof.get('stmt_s', 0):.1f} s ({prof.get('stmt_calls', 0)}), "
                     f"open+migrate {p['open_s']:.1f} s; server backend peak RSS "
                     + (f"{p['backend_peak_mb']:,.0f} MB" if p.get("backend_peak_mb") else "n/a")
                     + f"; VACUUM (ANALYZE) afterwards {e['postgres_vacuum_analyze_s']:.1f} s, "
                       f"database {e['postgres_db_mb_after_vacuum']:,.0f} MB")
        tables = ", ".join(f"{k} {v['total_mb']:,.0f} MB" for k, v in p.get("tables", {}).items())
        lines.append(f"{r:>4} PostgreSQL largest tables (with indexes): {tables}")
        if "postgres_import_sync" in e:
            s = e["postgres_import_sync"]
            lines.append(f"{r:>4} PostgreSQL import with synchronous_commit={s['synchronous_commit']} (session): "
                         f"{s['seconds']:.2f} s, {e['rows'] / s['seconds']:,.0f} rows/s "
                         f"({_ratio(s['seconds'], p['seconds'])} of the run above; server fsync={info['fsync']})")
        for st in p.get("slow_statements", [])[:5]:
            lines.append(f"{r:>4}   slow: {st['ms'] / 1000:8.1f} s  {st['statement'][:150]}")
        lines.append(f"{r:>4} loaded {d['rows_loaded']:,} rows (rejected {d['rows_rejected']:,}), priced {d['priced_rows']:,}, "
                     f"rollup rows {d['rollup_rows']:,}; file {e['file_mb']:,.0f} MB")
        for line in e.get("import_differences", []):
            lines.append(f"{r:>4} IMPORT DIFFERS: {line}")
        fd = e["duckdb_report"]["figures"]
        fp = e["postgres_report"]["figures"]
        lines.append(f"{r:>4} month report total: duckdb {fd['report_total_usd']} USD, postgres {fp['report_total_usd']} USD; "
                     f"raw: duckdb {fd['raw_report_total_usd']}, postgres {fp['raw_report_total_usd']}; "
                     f"overview month to date: duckdb {fd['overview']['month_to_date_usd']}, "
                     f"postgres {fp['overview']['month_to_date_usd']}")
        lines.append(f"{r:>4} identical figures on both engines: {'YES' if e['same_figures'] else 'NO'}")
        for line in e["figure_differences"]:
            lines.append(f"{r:>4}   differs {line}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1m", help="comma-separated row counts: 1m,10m (default 1m)")
    ap.add_argument("--pg-url", default=os.environ.get("AISPEND_BENCH_PG_URL"),
                    help="admin URL used to create the bench databases (default: $AISPEND_BENCH_PG_URL); "
                         "the password comes from PGPASSWORD or ~/.pgpass, not the URL")
    ap.add_argument("--pg-db-prefix", default="bench_pg_stores")
    ap.add_argument("--repeat", type=int, default=10, help="runs of the month report and the overview")
    ap.add_argument("--raw-repeat", type=int, default=3, help="runs of the report over raw ledger rows")
    ap.add_argument("--sync-commit", action="store_true",
                    help="also import the first size once with synchronous_commit=on (per session)")
    ap.add_argument("--log-slow-ms", type=int, default=None,
                    help="log_min_duration_statement on the bench database; print the slowest import statements")
    ap.add_argument("--pg-log", type=Path, default=Path(DEFAULT_PG_LOG), help="the server log, for --log-slow-ms")
    ap.add_argument("--keep", action="store_true", help="keep the DuckDB file and the PostgreSQL database")
    ap.add_argument("--out-dir", type=Path, default=HERE / "out")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--worker", choices=("import", "report"), help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker == "import":
        print(json.dumps(_worker_import(args.file, args.url), default=str), flush=True)
        return 0
    if args.worker == "report":
        print(json.dumps(_worker_report(args.url, args.repeat, args.raw_repeat)), flush=True)
        return 0

    if not args.pg_url:
        ap.error("give --pg-url or set AISPEND_BENCH_PG_URL (the admin URL; the password through PGPASSWORD)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    pg = Postgres(args.pg_url)
    results = run(args, sizes, pg)
    print(report(results, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(e["same_figures"] and not e.get("import_differences") for e in results["sizes"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
