"""SQL helpers for the report-page formats (private): positions in errors, raw columns, tags.

A page format's normalizer reads either a :func:`._pages.flatten` table (JSON) or a CSV export
through the same aliases (``r_<alias>``); :class:`Checks` names a failing value the way the user
sees the file: a jq path into the JSON (``.[1].data[0].results[2].amount.value``), or a CSV header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .. import sqlparts as s
from . import NativeFormat, Probe
from ._pages import BPOS, POS, PROBLEM, flatten

AI = "'AI and Machine Learning'"


@dataclass(frozen=True)
class At(s.Check):
    """A check reported at a JSON position: the SQL ``where`` (a path) followed by ``column``."""

    where: str = f"r{POS}"

    def sql(self) -> str:
        label = s.lit(self.column + s.SEP + self.reason + s.SEP)
        return f"CASE WHEN {self.failed} THEN coalesce({self.where}, '') || {label} || coalesce({self.raw}, '') END"


def raw_columns(fields: dict[str, str | None], available: set[str] | tuple[str, ...]) -> dict[str, str]:
    """``r_<alias>`` for each field: the cleaned cell, or NULL where the file has no such column."""
    have = set(available)
    return {
        f"r_{alias}": s.blank(s.q(name)) if name is not None and name in have else "CAST(NULL AS VARCHAR)"
        for alias, name in fields.items()
    }


def json_raw(fields: dict[str, str | None]) -> dict[str, str]:
    """The raw layer over a :func:`flatten` table: the fields plus the positions and problem."""
    raw = raw_columns(fields, {n for n in fields.values() if n})
    return {f"r{POS}": POS, f"r{BPOS}": BPOS, f"r{PROBLEM}": PROBLEM, **raw}


class PageFormat(NativeFormat):
    """A report-API format: saved JSON pages flattened to ``raw_table``, or the console's CSV.

    ``spec`` maps aliases to (JSON field, CSV header) as the vendor modules declare them.
    """

    raw_table: str
    spec: dict[str, tuple[str | None, str | None]]

    def tables(self, probe: Probe) -> dict[str, pa.Table]:
        if probe.container != "json":
            return {}
        return {self.raw_table: flatten(probe.path, tuple(n for n, _ in self.spec.values() if n))}

    def raw_source(self, probe: Probe, fields: dict[str, str | None]) -> tuple[dict[str, str], str]:
        """The raw layer and the relation it reads: the flattened pages, or the CSV file."""
        if probe.container == "json":
            return json_raw(fields), self.raw_table
        return raw_columns(fields, probe.headers), s.file_sql(str(probe.path), probe.container, probe.headers)


class Checks:
    """Checks named the way the user sees the file: a JSON path, or a CSV header."""

    def __init__(self, json_mode: bool, fields: dict[str, str | None]):
        self.json_mode = json_mode
        self.fields = fields
        self.items: list[s.Check] = []
        if json_mode:
            self.items.append(At("", f"r{PROBLEM} IS NOT NULL", "malformed record", f"r{PROBLEM}"))

    def _make(self, alias: str, failed: str, reason: str, raw: str) -> s.Check:
        field = self.fields.get(alias) or alias
        if not self.json_mode:
            return s.Check(field, failed, reason, raw)
        if field.startswith("bucket."):
            return At("." + field.removeprefix("bucket."), failed, reason, raw, where=f"r{BPOS}")
        return At("." + field, failed, reason, raw)

    def add(self, alias: str, failed: str, reason: str, raw: str | None = None) -> None:
        self.items.append(self._make(alias, failed, reason, raw or f"r_{alias}"))

    def required(self, alias: str, parsed: str, what: str) -> None:
        for c in s.required(alias, f"r_{alias}", parsed, what):
            self.items.append(self._make(alias, c.failed, c.reason, c.raw))

    def optional(self, alias: str, parsed: str, what: str) -> None:
        for c in s.optional(alias, f"r_{alias}", parsed, what):
            self.items.append(self._make(alias, c.failed, c.reason, c.raw))


def epoch_or_iso(raw: str) -> str:
    """Unix seconds (as JSON gives them) or an ISO 8601 date/time, as a UTC TIMESTAMP."""
    secs = s.integer(raw)
    return (f"CASE WHEN {secs} BETWEEN 0 AND 253402300799 THEN make_timestamp({secs} * 1000000) "
            f"ELSE {s.timestamp(raw)} END")


def money(raw: str) -> str:
    """A decimal amount from text, tolerating a leading currency sign ($1.25)."""
    return s.decimal(f"ltrim(trim({raw}), '$')")


def tags(pairs: dict[str, str]) -> str:
    """A JSON object of the non-NULL values (SQL expressions, cast to text), NULL when none is set."""
    if not pairs:
        return "NULL"
    args = ", ".join(f"{s.lit(k)}, CAST({v} AS VARCHAR)" for k, v in pairs.items())
    merged = f"json_merge_patch('{{}}', json_object({args}))"
    return f"nullif({merged}, '{{}}'::JSON)"


def lineage(ctx: Any, source_type: str) -> dict[str, str]:
    return {
        "source": s.lit(ctx.source),
        "source_type": s.lit(source_type),
        "ingested_at": f"CAST({s.lit(ctx.ingested_at)} AS TIMESTAMP)",
        "batch_id": s.lit(ctx.batch_id),
    }
