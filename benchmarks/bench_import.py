"""Import throughput and peak memory: aispend's `import_file` versus a plain DuckDB CSV load.

For each size (1M, and 10M with ``--sizes 1m,10m``) on the same generated FOCUS file:

* baseline: a fresh DuckDB file, ``CREATE TABLE t AS SELECT * FROM read_csv('file')`` (auto-detected
  types, no validation, no pricing), then close (checkpoint);
* aispend: a fresh store (``open_store``), ``import_file`` (validate, normalize, row ids, bulk pricing,
  one transaction), then close.

Each measurement runs in its own fresh Python subprocess; its peak RSS is the kernel's
``ru_maxrss`` for that one child (``os.wait4``), so the numbers never mix. The timed span is the
load itself (plus the close/checkpoint), not interpreter start-up or module imports; the RSS is
the whole process's peak, imports included.

    .venv/bin/python benchmarks/bench_import.py                  # 1M rows
    .venv/bin/python benchmarks/bench_import.py --sizes 1m,10m    # 1M and 10M rows
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TARGET_RATIO = 3.0
TARGET_RSS_MB = 1500  # at 10M rows


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    for suffix, mult in (("m", 1_000_000), ("k", 1_000)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * mult)
    return int(text)


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


# --- workers: each runs alone in a fresh interpreter --------------------------------------------

def _worker_baseline(file: str, db: str, fmt: str) -> dict:
    import duckdb

    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    t0 = time.perf_counter()
    con = duckdb.connect(db)
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{file}')")
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def _worker_aispend(file: str, db: str, fmt: str) -> dict:
    empty = tempfile.mkdtemp(prefix="aispend-bench-")
    os.chdir(empty)  # no aispend.toml in cwd: default settings
    from aispend.config import load_settings
    from aispend.ingest.runner import import_file
    from aispend.store import open_store

    settings = load_settings(None)
    t0 = time.perf_counter()
    store = open_store(db)
    result = import_file(store, settings, file)
    rows = store.query("SELECT count(*) FROM ledger")[0][0]
    priced = store.query("SELECT count(*) FROM ledger WHERE pricing_status IN ('priced', 'override')")[0][0]
    store.close()
    seconds = time.perf_counter() - t0
    os.chdir(HERE)
    os.rmdir(empty)
    return {"seconds": seconds, "rows": rows, "rows_loaded": result.rows_loaded,
            "rows_rejected": result.rows_rejected, "priced_rows": priced}


WORKERS = {"baseline": _worker_baseline, "aispend": _worker_aispend}


def measure(kind: str, file: Path, fmt: str, workdir: Path) -> dict:
    """Run one measurement in a fresh subprocess; add its own peak RSS (MB) and the DB size."""
    db = workdir / f"bench-{kind}-{os.getpid()}.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--file", str(file), "--db", str(db),
           "--format", fmt]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    result["db_mb"] = db.stat().st_size / 1e6 if db.exists() else None
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    return result


def ensure_file(rows: int, out_dir: Path, fmt: str) -> Path:
    from gen_focus import generate

    path = out_dir / f"focus_{label(rows).lower()}.{fmt}"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        secs = generate(rows, path, fmt)
        print(f"  {path.stat().st_size / 1e6:,.0f} MB in {secs:.1f} s", file=sys.stderr, flush=True)
    return path


def run(sizes: list[int], out_dir: Path, fmt: str, repeat: int) -> list[dict]:
    results = []
    for rows in sizes:
        file = ensure_file(rows, out_dir, fmt)
        row = {"rows": rows, "file": str(file), "file_mb": file.stat().st_size / 1e6}
        for kind in ("baseline", "aispend"):
            runs = []
            for k in range(repeat):
                print(f"{label(rows)} {kind} run {k + 1}/{repeat} ...", file=sys.stderr, flush=True)
                runs.append(measure(kind, file, fmt, out_dir))
            best = min(runs, key=lambda r: r["seconds"])
            best["all_seconds"] = [round(r["seconds"], 2) for r in runs]
            best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
            if best["rows"] != rows:
                raise SystemExit(f"{kind} loaded {best['rows']} rows of {rows}")
            row[kind] = best
        row["ratio"] = row["aispend"]["seconds"] / row["baseline"]["seconds"]
        results.append(row)
    return results


def report(results: list[dict]) -> str:
    lines = [
        f"{'rows':>5} {'method':<9} {'seconds':>8} {'rows/s':>11} {'peak RSS MB':>12} {'DB MB':>7}",
    ]
    for r in results:
        for kind in ("baseline", "aispend"):
            m = r[kind]
            lines.append(
                f"{label(r['rows']):>5} {kind:<9} {m['seconds']:8.2f} {r['rows'] / m['seconds']:11,.0f} "
                f"{m['peak_rss_mb']:12,.0f} {m['db_mb'] or 0:7,.0f}"
            )
        ok = "MET" if r["ratio"] <= TARGET_RATIO else "NOT MET"
        lines.append(f"{label(r['rows']):>5} ratio aispend/baseline = {r['ratio']:.2f}x  (target <= {TARGET_RATIO:g}x: {ok})")
        if r["rows"] >= 10_000_000:
            rss = r["aispend"]["peak_rss_mb"]
            ok = "MET" if rss < TARGET_RSS_MB else "NOT MET"
            lines.append(f"{label(r['rows']):>5} aispend peak RSS = {rss:,.0f} MB  (target < {TARGET_RSS_MB:,} MB: {ok})")
        a = r["aispend"]
        lines.append(f"{'':>5} aispend loaded {a['rows_loaded']:,} rows, rejected {a['rows_rejected']:,}, "
                     f"priced {a['priced_rows']:,}; file {r['file_mb']:,.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1m", help="comma-separated row counts: 1m,10m (default 1m)")
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--out-dir", type=Path, default=HERE / "out")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest is reported")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.file, args.db, args.format)), flush=True)
        return 0

    args.out_dir.mkdir(parents=True, exist_ok=True)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    results = run(sizes, args.out_dir.resolve(), args.format, args.repeat)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
