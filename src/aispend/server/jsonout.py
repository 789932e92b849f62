"""JSON and CSV bodies exactly as the CLI prints them (``aispend.output``): money as exact decimal strings."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Response

from ..output import _plain as _cell  # the CLI's own cell serializer: the two outputs cannot drift
from ..output import render

FORMATS = ("json", "csv")


def plain(value: Any) -> Any:
    """JSON-ready: decimals as exact strings, times as ISO 8601 (UTC ``Z``), containers walked."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return _cell(value)


def json_body(value: Any) -> Response:
    return Response(json.dumps(plain(value), indent=2, default=str), media_type="application/json")


def rows_body(rows: list[dict[str, Any]], columns: list[str], fmt: str = "json", filename: str = "aispend") -> Response:
    """A list of rows as ``aispend ... --format json|csv`` prints it (CSV as a download)."""
    if fmt not in FORMATS:
        raise HTTPException(400, f"format {fmt!r}: choose json or csv")
    text = render(rows, columns, fmt) or ""
    if fmt == "json":
        return Response(text, media_type="application/json")
    return Response(text + "\n", media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
