"""Render lists of rows as a table (people), JSON or CSV (scripts). Money is never a float."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

FORMATS = ("table", "json", "csv")
_CENT = Decimal("0.01")


def exact(value: Decimal) -> str:
    """Every digit, no exponent, no trailing zeros past the cents."""
    text = format(value.normalize(), "f")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(2, "0")
    return f"{whole}.{frac}"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _human(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        if column.endswith(("cost_usd", "_usd")) or column in ("billed_cost",):
            return f"{value.quantize(_CENT):,}" if abs(value) >= _CENT or value == 0 else f"{value:.6f}".rstrip("0")
        return exact(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(_plain(value))


def render(rows: list[dict[str, Any]], columns: list[str], fmt: str, *, title: str | None = None,
           footer: list[str] | None = None, console: Console | None = None) -> str | None:
    """JSON and CSV are returned as text for stdout; a table is printed to ``console``."""
    if fmt == "json":
        return json.dumps([{c: _plain(r.get(c)) for c in columns} for r in rows], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else _plain(r.get(c)) for c in columns])
        return buf.getvalue().rstrip("\n")
    console = console or Console()
    table = Table(title=escape(title) if title else None, show_footer=False)
    for c in columns:
        numeric = bool(rows) and isinstance(rows[0].get(c), (int, Decimal)) and not isinstance(rows[0].get(c), bool)
        table.add_column(escape(c), justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*[escape(_human(c, r.get(c))) for c in columns])  # "[pricing.fx]" is text, not markup
    console.print(table)
    for line in footer or []:
        console.print(f"[yellow]note:[/yellow] {escape(line)}")
    return None
