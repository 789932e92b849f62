"""Saved JSON pages of the vendors' usage and cost report APIs, flattened for SQL (private).

OpenAI's and Anthropic's admin report APIs answer with the same page shape:
``{data: [bucket{<start>, <end>, results: [result, ...]}], has_more, next_page}``. A saved file
holds one page, a JSON array of pages (or of bare buckets), or JSON lines of pages.

:func:`flatten` turns a file into one Arrow row of strings per result: the bucket's fields as
``bucket.<key>``, the result's fields flattened with dots (``amount.value``) and ``_pos``, the
result's place in the file as a jq path (``.[1].data[0].results[2]``; JSON lines are prefixed with
``line N:``). Numbers keep their JSON text (parsed as ``Decimal``), so money never passes through a
binary float. A page, bucket or result of the wrong shape becomes a row with ``_problem`` set: the
runner reports it with its position instead of it vanishing.

The SQL side (checks reported at these positions, raw columns, tags) is in ``_pagesql``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import ImportError_
from . import Probe

POS, BPOS, PROBLEM = "_pos", "_bpos", "_problem"


# -- reading -------------------------------------------------------------------------------------


def _text(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=Decimal)


def documents(path: Path) -> Iterator[tuple[str, str, Any]]:
    """(prefix, jq path, page) for each page of the file, in file order.

    The prefix is ``line N: `` for JSON lines, else empty; the path is ``.[i]`` in an array.
    """
    text = _text(path)
    try:
        doc = _loads(text)
    except json.JSONDecodeError as whole:
        yield from _json_lines(path, text, whole)
        return
    if isinstance(doc, list):
        for i, page in enumerate(doc):
            yield "", f".[{i}]", page
    else:
        yield "", "", doc


def _json_lines(path: Path, text: str, whole: json.JSONDecodeError) -> Iterator[tuple[str, str, Any]]:
    first = True
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            page = _loads(line)
        except json.JSONDecodeError as exc:
            if first:  # not JSON lines either: the document itself is broken
                raise ImportError_(f"{path}: not valid JSON: {whole}") from None
            page = _Broken(f"not valid JSON ({exc.msg} at column {exc.colno})")
        first = False
        yield f"line {n}: ", "", page


@dataclass(frozen=True)
class _Broken:
    problem: str


def _buckets_of(path: str, page: Any) -> Iterator[tuple[str, Any]]:
    """A page's buckets with their jq paths; a page of the wrong shape yields one _Broken."""
    if isinstance(page, _Broken):
        yield path, page
    elif not isinstance(page, dict):
        yield path, _Broken("not a page object")
    elif isinstance(page.get("results"), list):  # a bare bucket (a saved `data` array)
        yield path, page
    elif "error" in page:
        err = page["error"]
        message = err.get("message") if isinstance(err, dict) else err
        yield path, _Broken(f"an error response, not a page: {message}")
    elif not isinstance(page.get("data"), list):
        yield path, _Broken("not a page: no `data` list of buckets")
    else:
        for b, bucket in enumerate(page["data"]):
            yield f"{path}.data[{b}]", bucket


def _text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value, default=str, sort_keys=True)


def _flat(prefix: str, obj: dict[str, Any], out: dict[str, Any]) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flat(name + ".", value, out)
        else:
            out[name] = value


def flatten(path: Path, columns: tuple[str, ...]) -> pa.Table:
    """One row of strings per result (only ``columns`` are kept), plus positions and ``_problem``.

    ``_pos`` is the result's jq path, ``_bpos`` its bucket's (bucket fields are ``bucket.<key>``).
    """
    names = (POS, BPOS, PROBLEM, *columns)
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    wanted = set(columns)

    def emit(pos: str, bpos: str, fields: dict[str, Any], problem: str | None = None) -> None:
        cols[POS].append(pos)
        cols[BPOS].append(bpos)
        cols[PROBLEM].append(problem)
        for n in columns:
            cols[n].append(_text_of(fields.get(n)))

    for prefix, page_path, page in documents(path):
        for path_, bucket in _buckets_of(page_path, page):
            base = prefix + path_  # bucket fields are reported as base + ".start_time"
            where = base if path_ else (prefix.removesuffix(": ") or ".")
            if isinstance(bucket, _Broken):
                emit(where, base, {}, bucket.problem)
                continue
            if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
                emit(where, base, {}, "not a bucket: no `results` list")
                continue
            head: dict[str, Any] = {}
            _flat("bucket.", {k: v for k, v in bucket.items() if k != "results"}, head)
            for r, result in enumerate(bucket["results"]):
                pos = f"{prefix}{path_}.results[{r}]"
                if not isinstance(result, dict):
                    emit(pos, base, {}, "not a result object")
                    continue
                fields = dict(head)
                _flat("", result, fields)
                emit(pos, base, {k: v for k, v in fields.items() if k in wanted})
    return pa.table({n: pa.array(v, pa.string()) for n, v in cols.items()})


# -- detection -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What the first page of a JSON probe looks like."""

    bucket: dict[str, Any] | None  # the first bucket (None: no page with buckets)
    result: dict[str, Any] | None  # the first result anywhere (None: every bucket empty)


def shape(probe: Probe) -> Shape | None:
    """The first bucket and first result of a JSON probe's pages, or None if it holds no pages."""
    sample = probe.json_sample
    pages = sample if isinstance(sample, list) else [sample]
    first_bucket = None
    for page in pages:
        if not isinstance(page, dict):
            return None
        if "error" in page and "data" not in page:  # a saved error response: reported at import
            continue
        buckets = [page] if isinstance(page.get("results"), list) else page.get("data")
        if not isinstance(buckets, list):
            return None
        for bucket in buckets:
            if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
                return None
            first_bucket = first_bucket or bucket
            for result in bucket["results"]:
                if isinstance(result, dict):
                    return Shape(bucket, result)
    return Shape(first_bucket, None) if first_bucket is not None else None


def head_has(probe: Probe, *needles: str) -> bool:
    """For JSON too large to sample: all of these strings appear in the file's first bytes."""
    head = probe.head.decode("utf-8", errors="replace").replace(" ", "")
    return all(n.replace(" ", "") in head for n in needles)
