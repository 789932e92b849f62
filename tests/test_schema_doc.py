"""docs/schema.md documents exactly the ledger schema.py defines."""

from __future__ import annotations

import re

from aispend.schema import LEDGER_COLUMNS, SCHEMA_VERSION
from aispend.store.migrations import LATEST_VERSION, MIGRATIONS

from .conftest import REPO
from .stores import LEDGER_COLUMNS_SQL


def test_schema_doc_lists_every_column_with_its_type():
    text = (REPO / "docs" / "schema.md").read_text()
    documented = re.findall(r"^\| `(\w+)` \| ([A-Z0-9(), ]+) \|", text, re.MULTILINE)
    assert documented == [(c.name, c.sql) for c in LEDGER_COLUMNS]
    assert f"Schema version: **{SCHEMA_VERSION}**" in text


def test_schema_version_is_the_latest_migration():
    assert SCHEMA_VERSION == LATEST_VERSION


def test_a_ledger_is_migrated_once(store):
    assert store.migrate() == LATEST_VERSION
    applied = [v for (v,) in store.query("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == sorted(v for v, _, _ in MIGRATIONS)  # each once, none skipped
    assert [r[0] for r in store.query(LEDGER_COLUMNS_SQL)] == [c.name for c in LEDGER_COLUMNS]
