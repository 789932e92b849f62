"""FOCUS imports against the real FOCUS sample: exact totals, idempotence, bad rows, formats."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from aispend.errors import FormatDetectionError, ImportError_, ValidationError
from aispend.ingest import import_file, runner

from .conftest import FOCUS_SAMPLE, run_cli

# From shared/samples/INDEX.md (recomputed there with Decimal).
INDEX_TOTALS = {"AWS": Decimal("18.00663861840"), "Microsoft": Decimal("1.97651418586"), "Oracle": Decimal("0.53707392473")}
PROVIDER_CODE = {"AWS": "aws", "Microsoft": "azure", "Oracle": "oracle"}


def sample_totals(path: Path) -> dict[str, Decimal]:
    """An independent oracle: the csv module and Decimal, nothing of aispend."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            totals[PROVIDER_CODE[row["ProviderName"]]] += Decimal(row["BilledCost"])
    return dict(totals)


def ledger_state(store) -> tuple:
    return (
        store.query("SELECT count(*), sum(billed_cost), sum(cost_usd) FROM ledger")[0],
        store.query("SELECT row_id FROM ledger ORDER BY row_id"),
    )


def corrupt(src: Path, dst: Path, line: int, column: str, value: str) -> Path:
    """Copy src with one cell replaced; ``line`` is the 1-based physical line (header is line 1)."""
    with src.open(newline="") as fh:
        rows = list(csv.reader(fh))
    col = rows[0].index(column)
    rows[line - 1][col] = value
    with dst.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return dst


def test_report_by_provider_matches_the_sample_to_the_last_digit(workdir):
    expected = sample_totals(FOCUS_SAMPLE)
    assert expected == {PROVIDER_CODE[k]: v for k, v in INDEX_TOTALS.items()}

    imported = run_cli("import", str(FOCUS_SAMPLE), cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    first = run_cli("report", "--by", "provider", "--format", "json", cwd=workdir)
    assert first.returncode == 0, first.stderr
    rows = json.loads(first.stdout)
    assert {r["provider"]: Decimal(r["cost_usd"]) for r in rows} == expected
    assert set(rows[0]) == {"provider", "cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "requests"}

    again = run_cli("import", str(FOCUS_SAMPLE), cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert "replaced 1,000 rows" in again.stderr
    second = run_cli("report", "--by", "provider", "--format", "json", cwd=workdir)
    assert second.stdout == first.stdout


def test_importing_twice_changes_nothing(store, settings):
    import_file(store, settings, FOCUS_SAMPLE)
    before = ledger_state(store)
    result = import_file(store, settings, FOCUS_SAMPLE)
    assert result.replaced_rows == 1000
    assert ledger_state(store) == before
    assert before[0][0] == 1000


def test_same_content_under_another_name_and_source_is_not_counted_twice(store, settings, workdir):
    copy = workdir / "renamed.csv"
    copy.write_bytes(FOCUS_SAMPLE.read_bytes())
    import_file(store, settings, FOCUS_SAMPLE)
    import_file(store, settings, copy, source="finance-drop")
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 1000


def test_a_restated_file_at_the_same_path_replaces_the_old_rows(store, settings, workdir):
    path = workdir / "export.csv"
    path.write_bytes(FOCUS_SAMPLE.read_bytes())
    import_file(store, settings, path)
    corrupt(path, path, 2, "BilledCost", "100")  # the vendor restated one charge
    import_file(store, settings, path)
    total = store.query("SELECT sum(billed_cost) FROM ledger")[0][0]
    old_first = Decimal("0.00000080000")  # line 2's BilledCost in the sample
    assert total == sum(sample_totals(FOCUS_SAMPLE).values()) - old_first + 100
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 1000


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("BilledCost", "twelve dollars", "not a decimal number"),
        ("ChargePeriodStart", "2024-13-45T00:00:00Z", "not a date/time"),
        ("ChargePeriodEnd", "", "required value is missing"),
        ("ChargeCategory", "Refund", "not one of Usage, Purchase, Tax, Credit, Adjustment"),
        ("Tags", "{not json", "not a JSON object"),
    ],
)
def test_a_corrupted_row_fails_with_its_line_and_leaves_the_ledger_unchanged(store, settings, workdir, column, value, reason):
    import_file(store, settings, FOCUS_SAMPLE)
    before = ledger_state(store)
    bad = corrupt(FOCUS_SAMPLE, workdir / "bad.csv", 734, column, value)
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value
    assert err.total == 1
    assert (err.errors[0].line, err.errors[0].column, err.errors[0].reason) == (734, column, reason)
    assert f"bad.csv:734 column {column}: {reason}" in str(err)
    assert ledger_state(store) == before
    assert store.query("SELECT count(*) FROM imports")[0][0] == 1


def test_line_numbers_stay_right_across_batches(store, settings, workdir, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_ROWS", 97)
    bad = corrupt(FOCUS_SAMPLE, workdir / "bad.csv", 999, "BilledCost", "n/a")
    bad = corrupt(bad, bad, 100, "ChargePeriodStart", "yesterday")
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    assert [(e.line, e.column) for e in info.value.errors] == [(100, "ChargePeriodStart"), (999, "BilledCost")]
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_many_bad_rows_show_the_first_few_and_count_all(store, settings, workdir):
    bad = workdir / "bad.csv"
    bad.write_bytes(FOCUS_SAMPLE.read_bytes())
    for line in range(10, 30):
        corrupt(bad, bad, line, "BilledCost", "x")
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    assert info.value.total == 20
    assert "20 invalid row(s)" in str(info.value) and "and 15 more" in str(info.value)


def test_skip_invalid_loads_good_rows_and_keeps_the_rejects(workdir):
    bad = corrupt(FOCUS_SAMPLE, workdir / "bad.csv", 5, "BilledCost", "1,50")
    bad = corrupt(bad, bad, 6, "ChargePeriodStart", "06/09/2024")
    failed = run_cli("import", str(bad), cwd=workdir)
    assert failed.returncode == 1
    assert "bad.csv:5 column BilledCost: not a decimal number (value '1,50')" in failed.stderr
    assert "--skip-invalid" in failed.stderr

    ok = run_cli("import", "--skip-invalid", "--json", str(bad), cwd=workdir)
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)[0]
    assert (summary["rows_loaded"], summary["rows_rejected"]) == (998, 2)
    rejects = json.loads(run_cli("rejects", "--format", "json", cwd=workdir).stdout)
    assert [(r["line"], r["column_name"], r["reason"], r["value"]) for r in rejects] == [
        (5, "BilledCost", "not a decimal number", "1,50"),
        (6, "ChargePeriodStart", "not a date/time", "06/09/2024"),
    ]


def test_a_row_with_the_wrong_number_of_fields_fails_the_file(store, settings, workdir):
    lines = FOCUS_SAMPLE.read_text().splitlines(keepends=True)
    lines[41] = lines[41].rstrip("\n") + ",extra\n"
    bad = workdir / "ragged.csv"
    bad.write_text("".join(lines))
    with pytest.raises(ImportError_) as info:
        import_file(store, settings, bad)
    assert "ragged.csv" in str(info.value) and "nothing was imported" in str(info.value)
    assert "42" in str(info.value)  # DuckDB names the line
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_parquet_and_gzip_give_the_same_ledger(store, settings, workdir):
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true)) TO '{workdir / 's.parquet'}'")
    con.execute(f"COPY (SELECT * FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true)) TO '{workdir / 's.csv.gz'}' (HEADER)")
    for name in ("s.parquet", "s.csv.gz"):
        import_file(store, settings, workdir / name, source=name)
    per_source = dict(store.query("SELECT source, sum(billed_cost) FROM ledger GROUP BY source"))
    total = sum(sample_totals(FOCUS_SAMPLE).values())
    assert per_source == {"s.parquet": total, "s.csv.gz": total}


def test_focus_1_3_columns_are_tolerated(store, settings, workdir):
    with FOCUS_SAMPLE.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows[0] += ["ServiceProviderName", "HostProviderName", "AllocatedMethodId"]
    for row in rows[1:]:
        row += [row[rows[0].index("ProviderName")], row[rows[0].index("ProviderName")], ""]
    path = workdir / "focus13.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    import_file(store, settings, path)
    assert dict(store.query("SELECT provider, sum(billed_cost) FROM ledger GROUP BY 1")) == sample_totals(FOCUS_SAMPLE)


def test_an_unknown_file_is_refused_with_what_to_do(store, settings, workdir):
    path = workdir / "mystery.csv"
    path.write_text("date,amount\n2024-01-01,3\n")
    with pytest.raises(FormatDetectionError) as info:
        import_file(store, settings, path)
    assert "csv_mappings" in str(info.value) and "BilledCost" in str(info.value)


def test_rows_carry_lineage_and_focus_semantics(store, settings):
    result = import_file(store, settings, FOCUS_SAMPLE)
    (n, batches, sources, categories, periods, lists) = store.query(
        "SELECT count(*), count(DISTINCT batch_id), list(DISTINCT source), list(DISTINCT charge_category), "
        "list(DISTINCT billing_period), count(list_cost_usd) FROM ledger"
    )[0]
    assert (n, batches, sources) == (1000, 1, ["focus"])
    assert sorted(categories) == ["adjustment", "credit", "usage"]
    # One sample charge of 2024-09-30 is invoiced in the October billing period: kept as billed.
    assert sorted(periods) == ["2024-09", "2024-10"]
    assert lists == 1000  # the vendor's ListCost is kept for rows the price book cannot price
    assert store.query("SELECT batch_id FROM imports")[0][0] == result.batch_id
    tags = store.query("SELECT tags FROM ledger WHERE tags IS NOT NULL LIMIT 1")[0][0]
    assert isinstance(json.loads(tags), dict)
