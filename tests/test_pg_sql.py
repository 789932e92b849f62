"""The DuckDB-to-PostgreSQL translation: each rewrite, and the same statements giving the same
answers on both engines (the differential part needs the PostgreSQL run: AISPEND_TEST_STORE)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest

from aispend.store import open_store
from aispend.store.pg_sql import glob_regex, pg_time_format, to_postgres

from .stores import STORE_ENGINE

NAMES = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "team[a]", "a?b", "x*y", "", "GPT-4O", "gpt-4.1",
         "prod/api", "a.b", "a+b", "(x)", "\\w"]
GLOBS = ["gpt-4o*", "gpt-4?", "*sonnet", "team[[]a]", "[!g]*", "a[?]b", "x[*]y", "*", "?", "gpt-4.1", "a.b",
         "a+b", "(x)", "[a-c]*", "*/*", "\\w"]


@pytest.mark.parametrize("pattern", GLOBS)
def test_glob_regex_matches_what_duckdb_glob_matches(pattern: str) -> None:
    con = duckdb.connect()
    for name in NAMES:
        expected = con.execute("SELECT ? GLOB ?", [name, pattern]).fetchone()[0]
        assert bool(re.fullmatch(glob_regex(pattern), name)) == expected, (pattern, name)


def test_parameters_become_numbered_and_percent_stays_literal() -> None:
    (sql,) = to_postgres("SELECT count(*) FROM ledger WHERE source = ? AND sku LIKE '%x%' AND period_start >= ?")
    assert "$1" in sql and "$2" in sql and sql.index("$1") < sql.index("$2")
    assert "'%x%'" in sql


def test_group_by_all_and_order_by_all_become_ordinals() -> None:
    (sql,) = to_postgres("SELECT provider, model, sum(cost_usd), max(day) FROM ledger GROUP BY ALL ORDER BY ALL")
    assert sql.endswith("GROUP BY 1, 2 ORDER BY 1, 2, 3, 4")
    (windowed,) = to_postgres("SELECT provider, sum(x) OVER (PARTITION BY provider), count(*) FROM t GROUP BY ALL")
    assert "GROUP BY 1, 2" in windowed  # a window over a non-aggregate is a grouping key, as in DuckDB


def test_create_or_replace_table_drops_first() -> None:
    drop, create = to_postgres("CREATE OR REPLACE TEMP TABLE k AS SELECT 1 AS one")
    assert drop == "DROP TABLE IF EXISTS k"
    assert create.startswith("CREATE TEMPORARY TABLE k")


def test_json_is_text_and_mixed_case_aliases_are_kept() -> None:
    (ddl,) = to_postgres("CREATE TABLE t (tags JSON, n DECIMAL(38, 18))")
    assert "tags TEXT" in ddl and "DECIMAL(38, 18)" in ddl
    (sql,) = to_postgres("SELECT billed_cost AS BilledCost FROM ledger")
    assert '"BilledCost"' in sql


def test_strftime_formats_quote_their_literal_text() -> None:
    assert pg_time_format("%Y-%m-%dT%H:%M:%SZ") == 'YYYY"-"MM"-"DD"T"HH24":"MI":"SS"Z"'
    assert pg_time_format("%Y-%m") == 'YYYY"-"MM'


# Statements the pipeline relies on, each answered by both engines.
DIFFERENTIAL = [
    ("""SELECT json_merge_patch('{"b":1,"a":2,"c":3}', json_object('a', 9, 'd', 'x', 'c', NULL))""", []),
    ("SELECT CAST(json_object('k', 'v', 'n', 1) AS VARCHAR)", []),
    ("""SELECT json_extract_string('{"customer":"acme","n":{"x":1}}', '$.customer')""", []),
    ("""SELECT regexp_full_match('gpt-4o-mini', 'gpt-4o.*'), regexp_full_match('xgpt-4o', 'gpt-4o.*')""", []),
    ("SELECT 'gpt-4o-mini' GLOB 'gpt-4o*', 'gpt-4' GLOB 'gpt-4?'", []),
    ("SELECT try_strptime('2026-04', '%Y-%m'), try_strptime('2026-13', '%Y-%m'), try_strptime('x', '%Y-%m')", []),
    ("SELECT try_strptime('2026-04-05T06:07:08Z', '%Y-%m-%dT%H:%M:%SZ')", []),
    ("SELECT strftime(TIMESTAMP '2026-04-05 06:07:08', '%Y-%m-%dT%H:%M:%SZ')", []),
    ("SELECT any_value(v) FROM (VALUES (NULL), ('a')) t(v)", []),
    ("SELECT k, sum(v) FROM (VALUES ('a', 1.5), ('b', 2.25), ('a', 3)) t(k, v) GROUP BY ALL ORDER BY ALL", []),
    ("SELECT CAST(unnest(generate_series(DATE '2026-01-01', DATE '2026-03-01', INTERVAL 1 MONTH)) AS DATE) AS m",
     []),
    ("SELECT CAST(? AS DECIMAL(38, 18)) * 3, ? || '%'", [Decimal("0.333333333333333333"), "50"]),
    ("SELECT k FROM (SELECT unnest(json_keys('{\"b\":1,\"a\":2}')) AS k) ORDER BY k", []),
]


@pytest.mark.skipif(STORE_ENGINE != "postgres", reason="needs the PostgreSQL run (AISPEND_TEST_STORE)")
@pytest.mark.parametrize(("sql", "params"), DIFFERENTIAL, ids=[f"stmt{i}" for i in range(len(DIFFERENTIAL))])
def test_same_answer_on_both_engines(ledger_url, sql: str, params: list) -> None:
    expected = duckdb.connect().execute(sql, params).fetchall()
    with open_store(ledger_url("differential")) as pg:
        got = pg.query(sql, params)
    assert _plain(got) == _plain(expected)


def test_focus_tags_matches_duckdb(ledger_url) -> None:
    if STORE_ENGINE != "postgres":
        pytest.skip("needs the PostgreSQL run (AISPEND_TEST_STORE)")
    from aispend.export.focus import _TAGS

    docs = ['{"team":"search","n":3,"nested":{"a":1},"none":null}', "{}", None]
    con = duckdb.connect()
    with open_store(ledger_url("tags")) as pg:
        for doc in docs:
            expected = con.execute(f"SELECT {_TAGS} FROM (SELECT CAST(? AS JSON) AS tags)", [doc]).fetchone()[0]
            assert pg.query("SELECT focus_tags(?)", [doc])[0][0] == expected


def _plain(rows: list[tuple]) -> list[tuple]:
    """Engines differ in Python types for the same value (date vs datetime at midnight, list vs tuple)."""
    def one(v):
        if isinstance(v, datetime) and v.time() == datetime.min.time():
            return v.date()
        if isinstance(v, list | tuple):
            return tuple(one(x) for x in v)
        if isinstance(v, Decimal):
            return v.normalize()
        return v
    return [tuple(one(v) for v in row) for row in rows]


def test_json_extract_string_reads_the_paths_aispend_writes(ledger_url) -> None:
    if STORE_ENGINE != "postgres":
        pytest.skip("needs the PostgreSQL run (AISPEND_TEST_STORE)")
    doc = '{"team":"search","cost.center":"cc-1","n":3}'
    paths = ["$.team", '$."team"', '$."cost.center"', "$.n", "$.missing"]
    con = duckdb.connect()
    with open_store(ledger_url("paths")) as pg:
        for path in paths:
            expected = con.execute("SELECT json_extract_string(?, ?)", [doc, path]).fetchone()[0]
            # straight to the server: this is the function Ibis calls (budgets' tag scopes), untranslated
            got = pg.con.execute("SELECT json_extract_string(%s::text, %s::text)", [doc, path]).fetchone()[0]
            assert got == expected, path
