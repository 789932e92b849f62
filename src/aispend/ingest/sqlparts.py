"""SQL building blocks shared by the file normalizers.

A normalizer is a pure function from a file's header (and its mapping) to one SELECT over the
raw file. The SELECT yields every ledger column, typed, plus ``_error``: NULL for a good row, else
``column<US>reason<US>value`` for the first check the row fails. Rows stream out in file order,
so the runner can number them without a window over the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import COLUMNS_BY_NAME, LEDGER_COLUMNS, MONEY_SQL
from ..sqltext import lit, q

__all__ = ["lit", "q"]  # re-exported: normalizers write s.lit / s.q

SEP = "\x1f"  # separates the parts of _error


def blank(expr: str) -> str:
    """NULL for a missing, empty or literal 'NULL' cell (FOCUS exports write NULL as text)."""
    return f"nullif(nullif(trim(CAST({expr} AS VARCHAR)), ''), 'NULL')"


def timestamp(raw: str, fmt: str | None = None) -> str:
    """A UTC timestamp from ISO 8601 (any offset) or a strptime format."""
    if fmt:
        return f"try_strptime({raw}, {lit(fmt)})"
    return f"CAST(try_cast({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"


def decimal(raw: str) -> str:
    return f"try_cast({raw} AS {MONEY_SQL})"


def integer(raw: str) -> str:
    return f"try_cast(try_cast({raw} AS {MONEY_SQL}) AS BIGINT)"


@dataclass(frozen=True)
class Check:
    column: str  # as the user knows it: the file's header
    failed: str  # SQL: true when the row fails
    reason: str
    raw: str  # SQL: the offending value

    def sql(self) -> str:
        return f"CASE WHEN {self.failed} THEN {lit(self.column + SEP + self.reason + SEP)} || coalesce({self.raw}, '') END"


def required(column: str, raw: str, parsed: str, what: str) -> list[Check]:
    return [
        Check(column, f"{raw} IS NULL", "required value is missing", "''"),
        Check(column, f"{raw} IS NOT NULL AND {parsed} IS NULL", f"not {what}", raw),
    ]


def optional(column: str, raw: str, parsed: str, what: str) -> list[Check]:
    return [Check(column, f"{raw} IS NOT NULL AND {parsed} IS NULL", f"not {what}", raw)]


def error_expr(checks: list[Check]) -> str:
    if not checks:
        return "CAST(NULL AS VARCHAR)"
    return "coalesce(" + ", ".join(c.sql() for c in checks) + ")"


def ledger_select(
    raw: dict[str, str], parsed: dict[str, str], values: dict[str, str], checks: list[Check], from_sql: str
) -> str:
    """SELECT every ledger column (NULL where ``values`` has none), cast to its type, plus _error.

    Three layers so each cell is cleaned and parsed once: ``raw`` aliases over the file,
    ``parsed`` aliases over ``raw``, then ``values`` and ``checks`` over both.
    """
    raw_cols = ", ".join(f"{expr} AS {alias}" for alias, expr in raw.items()) or "1 AS _none"
    parsed_cols = ", ".join(f"{expr} AS {alias}" for alias, expr in parsed.items())
    cols = []
    for col in LEDGER_COLUMNS:
        expr = values.get(col.name, "NULL")
        cols.append(f"CAST({expr} AS {col.sql}) AS {col.name}")
    middle = f"SELECT *{', ' + parsed_cols if parsed_cols else ''} FROM (SELECT {raw_cols} FROM {from_sql})"
    return f"SELECT {', '.join(cols)}, {error_expr(checks)} AS _error FROM ({middle})"


def file_sql(path: str, container: str, headers: list[str] | tuple[str, ...], delimiter: str = ",") -> str:
    """The raw file as a relation: Parquet as typed, CSV (plain or gzip) as all-VARCHAR columns.

    ``path`` may also be a DuckDB list literal of paths (several files of one delivery).
    """
    source = path if path.startswith("[") else lit(path)
    if container == "parquet":
        return f"read_parquet({source}, union_by_name = true)"
    columns = ", ".join(f"{lit(h)}: 'VARCHAR'" for h in headers)
    return (
        f"read_csv({source}, header = true, auto_detect = false, columns = {{{columns}}}, "
        f"delim = {lit(delimiter)}, quote = '\"', escape = '\"', strict_mode = true)"
    )


def money_type(column: str) -> bool:
    return COLUMNS_BY_NAME[column].sql == MONEY_SQL
