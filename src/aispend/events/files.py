"""``aispend events import FILE``: read, detect, parse, then load in one transaction.

A file is JSON Lines (one object a line), a JSON array of objects, or one JSON document (an OTLP
export written pretty-printed); ``.gz`` is read as it is. Formats:

* ``otlp-json``: OTLP/JSON ``ExportTraceServiceRequest`` objects, one a line (what the OpenTelemetry
  Collector's file exporter writes), or one document;
* ``litellm``: LiteLLM spend-log rows (see :mod:`aispend.events.litellm`);
* ``jsonl``: aispend's generic shape (see :mod:`aispend.events.jsonl`).

When ``fmt`` is omitted the first record decides: ``resourceSpans`` means otlp-json,
``request_id`` with ``call_type`` / ``spend`` / ``startTime`` means litellm, ``id`` with ``time``
and ``model`` means jsonl.

A malformed record fails the whole file with ``file:line: reason`` (the first five shown, all
counted) and nothing is stored, unless ``skip_invalid``. Events are keyed by their own ids, so
importing the same file again replaces them: nothing is counted twice.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from ..config import Settings
from ..derived import settle
from ..errors import FormatDetectionError, ImportError_, RowError
from ..pricing import Pricer
from ..store import Store
from .jsonl import jsonl_event
from .litellm import litellm_event
from .mapping import AttributeMap, RowProblem
from .otel import PayloadError, decode_json, spans_to_events
from .store import LoadResult, append_events, priced_events

FORMATS = ("otlp-json", "litellm", "jsonl")
_DECODER = json.JSONDecoder(parse_float=Decimal)  # money stays exact
CHUNK_EVENTS = 50_000  # events priced and appended at a time: memory stays flat
KEPT_REJECTS = 1_000  # with skip_invalid: reasons kept for the caller (all are counted)


class EventsValidationError(ImportError_):
    """Records failed to parse; nothing was stored."""

    shown = 5

    def __init__(self, path: str, errors: list[RowError], total: int):
        self.path, self.errors, self.total = path, errors, total
        lines = "\n".join(f"  {e}" for e in errors[: self.shown])
        more = f"\n  ... and {total - self.shown} more" if total > self.shown else ""
        super().__init__(f"{path}: {total} invalid record(s); nothing was imported.\n{lines}{more}\n"
                         "Fix them, or re-run with --skip-invalid to load the valid records.")


@dataclass
class EventsImport:
    path: str
    format: str
    source: str
    loaded: LoadResult = field(default_factory=LoadResult)
    records: int = 0
    rejected: int = 0
    ignored_spans: int = 0
    errors: list[RowError] = field(default_factory=list)


def _open(path: Path) -> IO[str]:
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else path.open(encoding="utf-8")


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or item number, parsed object), or (number, RowProblem) for a malformed one."""
    with _open(path) as fh:
        number = 0
        try:
            head: list[str] = []
            while (line := fh.readline()) and not line.strip():
                head.append(line)
            head.append(line)
            start = line.lstrip()[:1]
            if start == "[" or (start == "{" and not _parses(line)):
                # One JSON document: an array of records, or a pretty-printed object.
                try:
                    doc = _DECODER.decode("".join(head) + fh.read())
                except json.JSONDecodeError as exc:
                    yield exc.lineno, RowProblem(None, f"not valid JSON: {exc.msg} (column {exc.colno})")
                    return
                yield from enumerate(doc if isinstance(doc, list) else [doc], start=1)
                return
            # Iterating a text file splits on \n only (str.splitlines would split inside JSON strings).
            for number, line in enumerate(itertools.chain(head, fh), start=1):
                if not line.strip():
                    continue
                try:
                    yield number, _DECODER.decode(line)
                except json.JSONDecodeError as exc:
                    yield number, RowProblem(None, f"not valid JSON: {exc.msg} (column {exc.colno})")
        except UnicodeDecodeError:
            raise ImportError_(f"{path}:{number + 1}: not UTF-8 text (expected JSON)") from None


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def detect_format(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if "resourceSpans" in record or "resource_spans" in record:
        return "otlp-json"
    if "request_id" in record and ({"call_type", "spend", "startTime"} & record.keys()):
        return "litellm"
    if {"id", "time", "model"} <= record.keys():
        return "jsonl"
    return None


def import_events(store: Store, settings: Settings, path: str | Path, *, fmt: str | None = None,
                  skip_invalid: bool = False, pricer: Pricer | None = None,
                  on_records: Callable[[int], None] | None = None) -> EventsImport:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")
    if fmt is not None and fmt not in FORMATS:
        raise ImportError_(f"--format {fmt!r}: choose {', '.join(FORMATS)}")
    records = _records(path)
    peeked = next(records, None)
    if peeked is None:
        raise ImportError_(f"{path}: empty file, no events")
    if fmt is None:
        fmt = detect_format(peeked[1])
        if fmt is None:
            raise FormatDetectionError(
                f"{path}:{peeked[0]}: not an OTLP/JSON export, a LiteLLM spend log or aispend's event JSONL; "
                f"pass --format ({', '.join(FORMATS)}) or see docs/events.md")
    result = EventsImport(str(path), fmt, f"{fmt}:{path.name}")
    mapping = AttributeMap.from_settings(settings.events)
    pricer = pricer or Pricer.for_store(store, settings)

    def parse(number: int, record: Any) -> list[dict[str, Any]]:
        if isinstance(record, RowProblem):
            raise record
        if fmt == "litellm":
            return [litellm_event(record, mapping, result.source)]
        if fmt == "jsonl":
            return [jsonl_event(record, result.source)]
        try:
            batch = spans_to_events(decode_json(record), mapping, result.source)
        except PayloadError as exc:
            raise RowProblem(None, str(exc)) from None
        result.ignored_spans += batch.ignored
        if batch.rejected:
            problem = RowProblem(None, "; ".join(batch.rejected[:3]) + (" ..." if len(batch.rejected) > 3 else ""))
            if not skip_invalid:
                raise problem
            reject(number, problem)  # the record's valid spans still load
        return batch.rows

    def reject(number: int, problem: RowProblem) -> None:
        result.rejected += 1
        if len(result.errors) < (KEPT_REJECTS if skip_invalid else EventsValidationError.shown):
            result.errors.append(RowError(str(path), number, problem.column, problem.reason))

    pending: list[dict[str, Any]] = []
    with store.transaction(bulk=True) as tx:
        for number, record in itertools.chain([peeked], records):
            result.records += 1
            try:
                pending += parse(number, record)
            except RowProblem as exc:
                reject(number, exc)
            if len(pending) >= CHUNK_EVENTS:
                result.loaded.add(_flush(tx, pending, pricer, result, skip_invalid))
                pending = []
            if on_records and result.records % 10_000 == 0:
                on_records(10_000)
        result.loaded.add(_flush(tx, pending, pricer, result, skip_invalid))
        if result.rejected and not skip_invalid:
            raise EventsValidationError(str(path), result.errors, result.rejected)  # rolls the load back
        settle(tx, store, settings)
    if on_records:
        on_records(result.records % 10_000)
    return result


def _flush(tx: Any, pending: list[dict[str, Any]], pricer: Pricer, result: EventsImport,
           skip_invalid: bool) -> LoadResult:
    # Once a record failed (and it is not skipped) the load will roll back: stop storing.
    if not pending or (result.rejected and not skip_invalid):
        return LoadResult()
    return append_events(tx, priced_events(pending, pricer))
