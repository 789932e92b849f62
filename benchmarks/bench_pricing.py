"""Bulk pricing (`Pricer().price(table)`) versus genai-prices' `calc_price` called once per row.

The input is an Arrow table of N (default 1M) ledger rows with the ledger schema
(`aispend.schema.ARROW_SCHEMA`), built deterministically with DuckDB SQL: a realistic mix of
providers (openai, anthropic, aws, azure, gcp), models, request counts, and cached input on ~45%
of rows; ~0.5% of rows name a model no book knows. All rows are usage without a bill
(``cost_source = 'estimated'``), standard service tier.

* bulk: one ``Pricer.price(table)`` call over all N rows (the `Pricer()` set-up, which flattens the
  book once, is timed separately);
* per row: ``calc_price(Usage(...), model, provider_id=...)`` for every row of a sample (default
  20,000 rows, every N/sample-th row), timed and extrapolated linearly to N (the output says so).
  The Python values are extracted before the clock starts, so the per-row figure is its best case.

Like with like: aispend picks a long-context price tier by input tokens *per request*; one
`calc_price` call prices one request. So each row's tokens are exact multiples of its request
count, the per-row baseline prices one request's usage and multiplies by the count, and both
sides then compute the same number. The check compares aispend's ``list_cost_usd`` with that, row
by row and in total (must agree to the cent).

    .venv/bin/python benchmarks/bench_pricing.py [--rows 1000000] [--sample 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from aispend.pricing import PriceBook, Pricer
from aispend.schema import ARROW_SCHEMA, LEDGER_COLUMNS
from aispend.vendors import book_provider

TARGET_SPEEDUP = 100

# (provider, publisher, model_raw, weight): ledger codes, as the normalizers write them.
OFFERS = (
    ("openai", "openai", "gpt-4o", 8),
    ("openai", "openai", "gpt-4o-mini", 12),
    ("openai", "openai", "gpt-4.1", 5),
    ("openai", "openai", "gpt-4.1-mini", 6),
    ("openai", "openai", "o3-mini", 3),
    ("anthropic", "anthropic", "claude-sonnet-4-5", 10),
    ("anthropic", "anthropic", "claude-haiku-4-5", 6),
    ("anthropic", "anthropic", "claude-opus-4-1", 2),
    ("aws", "anthropic", "anthropic.claude-sonnet-4-5-20250929-v1:0", 8),
    ("aws", "anthropic", "anthropic.claude-3-5-haiku-20241022-v1:0", 3),
    ("aws", "aws", "amazon.nova-lite-v1:0", 4),
    ("aws", "meta", "meta.llama3-3-70b-instruct-v1:0", 2),
    ("azure", "azure", "gpt-4o", 6),
    ("azure", "azure", "gpt-4o-mini", 6),
    ("azure", "azure", "gpt-4.1-mini", 3),
    ("gcp", "gcp", "gemini-2.5-flash", 8),
    ("gcp", "gcp", "gemini-2.5-pro", 4),
    ("gcp", "gcp", "gemini-2.0-flash", 4),
)
UNKNOWN_MODEL = "ft:gpt-4o-mini:acme:support-v3"


def _list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def token_rows(rows: int, seed: int = 7) -> pa.Table:
    """N ledger rows of token usage, deterministic, with the ledger's Arrow schema."""
    slots = [i for i, o in enumerate(OFFERS, start=1) for _ in range(o[3])]
    u = lambda k: f"((hash(i, {seed}, {k}) % 1000000) / 1000000.0)"  # noqa: E731
    values = {
        "row_id": "md5(CAST(i AS VARCHAR))",
        "source": "'bench'",
        "source_type": "'focus'",
        "ingested_at": "TIMESTAMP '2026-01-01'",
        "batch_id": "'bench'",
        "period_start": f"TIMESTAMP '2025-07-01' + to_hours(CAST(hash(i, {seed}, 1) % {184 * 24} AS BIGINT))",
        "period_end": f"TIMESTAMP '2025-07-01' + to_hours(CAST(hash(i, {seed}, 1) % {184 * 24} AS BIGINT) + 1)",
        "billing_period": f"strftime(TIMESTAMP '2025-07-01' + to_hours(CAST(hash(i, {seed}, 1) % {184 * 24} AS BIGINT)), '%Y-%m')",
        "provider": f"{_list([o[0] for o in OFFERS])}[offer]",
        "publisher": f"{_list([o[1] for o in OFFERS])}[offer]",
        "service_category": "'AI and Machine Learning'",
        "model_raw": f"CASE WHEN {u(2)} < 0.005 THEN '{UNKNOWN_MODEL}' ELSE {_list([o[2] for o in OFFERS])}[offer] END",
        "charge_category": "'usage'",
        "input_tokens": "req * in_pr",
        "output_tokens": "req * out_pr",
        "cache_read_tokens": "req * cache_pr",
        "requests": "req",
        "quantity": "req * (in_pr + out_pr)",
        "unit": "'Tokens'",
        "cost_source": "'estimated'",
        "project": f"'proj-' || (hash(i, {seed}, 3) % 40)",
    }
    select = ", ".join(f"CAST({values.get(c.name, 'NULL')} AS {c.sql}) AS {c.name}" for c in LEDGER_COLUMNS)
    sql = f"""
    SELECT {select} FROM (
      SELECT *, CASE WHEN {u(9)} < 0.45 THEN CAST(floor(in_pr * {u(9)} * 2) AS BIGINT) ELSE 0 END AS cache_pr
      FROM (
        SELECT i,
          CAST(([{', '.join(map(str, slots))}])[CAST(1 + hash(i, {seed}, 4) % {len(slots)} AS BIGINT)] AS BIGINT) AS offer,
          CAST(1 + floor(pow({u(5)}, 3) * 2000) AS BIGINT) AS req,
          -- tokens per request: mostly short prompts, a tail of long-context ones (some past 200k)
          CAST(CASE WHEN {u(6)} < 0.02 THEN 150000 + floor({u(7)} * 200000)
                    ELSE 200 + floor(pow({u(7)}, 2) * 40000) END AS BIGINT) AS in_pr,
          CAST(20 + floor({u(8)} * 1500) AS BIGINT) AS out_pr
        FROM range({rows}) r(i)
      )
    )
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.sql(sql).to_arrow_table().cast(ARROW_SCHEMA)


def per_row_prices(sample: list[dict]) -> tuple[list[Decimal | None], float]:
    """genai-prices, one calc_price per row (one request's usage x request count)."""
    from genai_prices import Usage, calc_price

    out: list[Decimal | None] = []
    t0 = time.perf_counter()
    for r in sample:
        req = r["requests"] or 1
        usage = Usage(
            input_tokens=r["input_tokens"] // req,
            cache_read_tokens=r["cache_read_tokens"] // req,
            output_tokens=r["output_tokens"] // req,
        )
        try:
            calc = calc_price(usage, r["model_raw"], provider_id=book_provider(r["provider"]),
                              genai_request_timestamp=r["period_start"])
        except LookupError:
            out.append(None)  # unknown model: aispend marks the row 'unpriced'
            continue
        out.append(calc.total_price * req)
    return out, time.perf_counter() - t0


def run(rows: int, sample_size: int, repeat: int) -> dict:
    t = time.perf_counter()
    table = token_rows(rows)
    build_s = time.perf_counter() - t

    t = time.perf_counter()
    pricer = Pricer(PriceBook())
    setup_s = time.perf_counter() - t

    bulk_runs = []
    priced = None
    for _ in range(repeat):
        t = time.perf_counter()
        priced = pricer.price(table)
        bulk_runs.append(time.perf_counter() - t)
    bulk_s = min(bulk_runs)
    assert priced is not None and priced.num_rows == rows

    step = max(rows // sample_size, 1)
    idx = pa.array(range(0, rows, step)[:sample_size], pa.int64())
    cols = ["provider", "model_raw", "input_tokens", "cache_read_tokens", "output_tokens", "requests", "period_start"]
    sample = table.take(idx).select(cols).to_pylist()
    for r in sample:  # genai-prices wants an aware timestamp; the ledger's are naive UTC
        r["period_start"] = r["period_start"].replace(tzinfo=UTC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        genai, per_row_s = per_row_prices(sample)
    per_row_extrapolated = per_row_s / len(sample) * rows

    # The pricer's joins need not keep row order: match the sample by row_id.
    by_id = dict(zip(priced.column("row_id").to_pylist(),
                     priced.select(["list_cost_usd", "pricing_status"]).to_pylist(), strict=True))
    ours = [by_id[rid] for rid in table.column("row_id").take(idx).to_pylist()]
    both = [(o["list_cost_usd"], g) for o, g in zip(ours, genai, strict=True) if g is not None and o["pricing_status"] == "priced"]
    status_mismatch = sum(1 for o, g in zip(ours, genai, strict=True) if (g is None) != (o["pricing_status"] == "unpriced"))
    diffs = [abs(a - b) for a, b in both]
    total_ours = sum((a for a, _ in both), Decimal(0))
    total_genai = sum((b for _, b in both), Decimal(0))
    return {
        "rows": rows,
        "build_table_s": build_s,
        "pricer_setup_s": setup_s,
        "bulk_s": bulk_s,
        "bulk_runs_s": [round(x, 3) for x in bulk_runs],
        "bulk_rows_per_s": rows / bulk_s,
        "sample_rows": len(sample),
        "per_row_sample_s": per_row_s,
        "per_row_us": per_row_s / len(sample) * 1e6,
        "per_row_extrapolated_s": per_row_extrapolated,
        "speedup": per_row_extrapolated / bulk_s,
        "speedup_incl_setup": per_row_extrapolated / (bulk_s + setup_s),
        "priced_rows": sum(1 for s in priced.column("pricing_status").to_pylist() if s == "priced"),
        "unpriced_rows": sum(1 for s in priced.column("pricing_status").to_pylist() if s == "unpriced"),
        "check_rows": len(both),
        "check_status_mismatch": status_mismatch,
        "check_rows_differing": sum(1 for d in diffs if d > Decimal("1e-12")),
        "check_max_abs_diff": max(diffs, default=Decimal(0)),
        "check_total_aispend": total_ours,
        "check_total_genai": total_genai,
        "check_total_diff": abs(total_ours - total_genai),
    }


def report(r: dict) -> str:
    n = r["rows"]
    ok = "MET" if r["speedup"] >= TARGET_SPEEDUP else "NOT MET"
    agree = r["check_total_diff"] < Decimal("0.005") and r["check_status_mismatch"] == 0
    return "\n".join([
        f"pricing {n:,} token rows (table built in {r['build_table_s']:.1f} s; Pricer() set-up {r['pricer_setup_s']:.2f} s, once)",
        f"  bulk     Pricer.price(table): {r['bulk_s']:8.2f} s  {r['bulk_rows_per_s']:12,.0f} rows/s  (runs: {r['bulk_runs_s']})",
        f"  per row  calc_price x {r['sample_rows']:,} sample rows: {r['per_row_sample_s']:.2f} s = {r['per_row_us']:.0f} us/row;"
        f" extrapolated to {n:,} rows: {r['per_row_extrapolated_s']:,.0f} s",
        f"  speed-up bulk vs per-row: {r['speedup']:,.0f}x (target >= {TARGET_SPEEDUP}x: {ok});"
        f" {r['speedup_incl_setup']:,.0f}x counting the set-up",
        f"  agreement on the sample: {r['check_rows']:,} priced rows, total aispend ${r['check_total_aispend']:,.6f}"
        f" vs genai-prices ${r['check_total_genai']:,.6f} (diff ${r['check_total_diff']:.10f});"
        f" {r['check_rows_differing']} rows differ (max ${r['check_max_abs_diff']:.12f});"
        f" priced/unpriced disagreements: {r['check_status_mismatch']} -> {'AGREE' if agree else 'DISAGREE'}",
        f"  all rows: {r['priced_rows']:,} priced, {r['unpriced_rows']:,} unpriced (unknown model)",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3, help="bulk runs; the fastest is reported")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    result = run(args.rows, args.sample, args.repeat)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
