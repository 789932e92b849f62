"""Writing values and names into SQL text, for the few places a value cannot be a parameter
(a normalizer's SELECT over a file, a rule compiled to a CASE). Nothing here imports the rest of
aispend, so any module may use it."""

from __future__ import annotations


def q(identifier: str) -> str:
    """Quote an identifier (a CSV header can hold anything)."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: str | None) -> str:
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"
