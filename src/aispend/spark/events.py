"""Per-request event files -> priced events -> the ``events_daily`` rollup, on Spark.

Line-based event files (aispend's JSONL, LiteLLM spend logs, OTLP/JSON one request a line, as
the OpenTelemetry Collector's file exporter writes them; plain or gzip) are parsed by the
importer's own parsers (``jsonl_event``, ``litellm_event``, ``spans_to_events``) inside an
Arrow UDF, so field rules, provider names and key hashing are the same code. Then, like
``aispend events import``: one copy per ``event_id`` (the last: later file in the order given,
later line), priced by the ledger's pricer SQL, and rolled up per day with the loader's own
measures. A malformed record fails the job (``file:line: reason``), unless ``skip_invalid``.
A JSON array or pretty-printed document is not line-based: import those with ``aispend``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..config import Settings
from ..errors import FormatDetectionError, ImportError_, RowError
from ..events.files import _DECODER, FORMATS, EventsValidationError, detect_format
from ..events.jsonl import jsonl_event
from ..events.litellm import litellm_event
from ..events.mapping import AttributeMap, RowProblem
from ..events.otel import PayloadError, decode_json, spans_to_events
from ..events.schema import EVENT_COLUMNS, EVENT_SCHEMA, EVENT_TOKENS, PARSED_COLUMNS, ROLLUP_KEYS, ROLLUP_MEASURES
from ..events.store import _CONTRIBUTION
from ..schema import LEDGER_COLUMNS
from .frames import ddl, position, with_ordinals
from .pricing import SparkPricer
from .sql import to_spark

_PARSED = pa.schema([EVENT_SCHEMA.field(c) for c in PARSED_COLUMNS])
_OUT = pa.schema([*_PARSED, ("_file_index", pa.int32()), ("_ordinal", pa.int64()), ("_seq", pa.int32()),
                  ("_error", pa.string())])
DAILY_SCHEMA = pa.schema([*(EVENT_SCHEMA.field(k) for k in ROLLUP_KEYS),
                          *((m, EVENT_SCHEMA.field(m).type if m == "estimated_cost_usd" else pa.int64())
                            for m in ROLLUP_MEASURES)])


@dataclass
class EventFile:
    path: str
    format: str
    source: str
    records: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)


def _first_record(spark: Any, path: str) -> Any:
    from pyspark.sql import functions as F

    line = spark.read.text(path).filter(F.trim("value") != "").first()
    if line is None:
        raise ImportError_(f"{path}: empty file, no events")
    try:
        return _DECODER.decode(line.value)
    except ValueError:
        raise FormatDetectionError(f"{path}: the first line is not a JSON object; the Spark job reads "
                                   "one record a line (a JSON array or document: use `aispend events import`)") from None


def _parser(files: list[EventFile], mapping: AttributeMap) -> Any:
    """The mapInArrow function: lines in, parsed event rows (or one error row per bad record) out."""
    formats = [(f.format, f.source) for f in files]

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        decoder = json.JSONDecoder(parse_float=Decimal)  # the importer's decoder (it does not pickle)
        for batch in batches:
            out: list[dict[str, Any]] = []
            for line, index, ordinal in zip(*(batch.column(c).to_pylist() for c in ("value", "_file_index", "_ordinal")),
                                            strict=True):
                if not line.strip():
                    continue
                fmt, source = formats[index]
                where = {"_file_index": index, "_ordinal": ordinal}
                try:
                    try:
                        record = decoder.decode(line)
                    except ValueError as exc:
                        raise RowProblem(None, f"not valid JSON: {exc}") from None
                    if fmt == "jsonl":
                        rows = [jsonl_event(record, source)]
                    elif fmt == "litellm":
                        rows = [litellm_event(record, mapping, source)]
                    else:
                        try:
                            spans = spans_to_events(decode_json(record), mapping, source)
                        except PayloadError as exc:
                            raise RowProblem(None, str(exc)) from None
                        if spans.rejected:
                            raise RowProblem(None, "; ".join(spans.rejected[:3]) + (" ..." if len(spans.rejected) > 3 else ""))
                        rows = spans.rows
                except RowProblem as problem:
                    out.append({**where, "_seq": 0, "_error": f"{problem.column or ''}\x1f{problem.reason}"})
                    continue
                out += [{**{c: r.get(c) for c in PARSED_COLUMNS}, **where, "_seq": i} for i, r in enumerate(rows)]
            yield pa.RecordBatch.from_pylist(out, schema=_OUT)

    return parse


def parse_events(spark: Any, settings: Settings, paths: list[str], *, fmt: str | None = None,
                 skip_invalid: bool = False) -> tuple[Any, list[EventFile]]:
    """Every file's events (parsed columns), one copy per event_id, and what was read."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if fmt is not None and fmt not in FORMATS:
        raise ImportError_(f"--events-format {fmt!r}: choose {', '.join(FORMATS)}")
    files, frames = [], []
    for i, path in enumerate(paths):
        kind = fmt or detect_format(_first_record(spark, path))
        if kind is None:
            raise FormatDetectionError(f"{path}: not an OTLP/JSON export, a LiteLLM spend log or aispend's event JSONL")
        files.append(EventFile(path, kind, f"{kind}:{Path(path).name}"))
        lines = spark.read.text(path).select("value", position(F))
        frames.append(with_ordinals(lines, F).select("value", F.lit(i).alias("_file_index"), "_ordinal"))
    lines = frames[0]
    for other in frames[1:]:
        lines = lines.unionByName(other)
    parsed = lines.mapInArrow(_parser(files, AttributeMap.from_settings(settings.events)), ddl(_OUT)).persist()

    bad = parsed.filter(F.col("_error").isNotNull())
    counts = {r["_file_index"]: r["n"] for r in bad.groupBy("_file_index").agg(F.count(F.lit(1)).alias("n")).collect()}
    if counts:
        shown = bad.orderBy("_file_index", "_ordinal")
        for r in (shown if skip_invalid else shown.limit(EventsValidationError.shown)).collect():
            column, reason = r["_error"].split("\x1f", 1)
            files[r["_file_index"]].errors.append(RowError(files[r["_file_index"]].path, r["_ordinal"] + 1,
                                                           column or None, reason))
        for i, n in counts.items():
            files[i].rejected = n
        if not skip_invalid:
            first = next(f for f in files if f.rejected)
            raise EventsValidationError(first.path, first.errors, sum(counts.values()))
    good = parsed.filter(F.col("_error").isNull())
    last = Window.partitionBy("event_id").orderBy(F.desc("_file_index"), F.desc("_ordinal"), F.desc("_seq"))
    unique = good.withColumn("_n", F.row_number().over(last)).filter("_n = 1")
    return unique.select(*PARSED_COLUMNS), files


def price_events(pricer: SparkPricer, parsed: Any, now: datetime | None = None) -> Any:
    """Parsed events as the ``events`` table: priced as ``priced_events`` prices them (estimated
    rows at list price less discounts; no tokens costs 0; an unknown model stays NULL)."""
    from pyspark.sql import functions as F

    stamp = (now or datetime.now(UTC)).replace(tzinfo=None)
    ledger_like = {"period_start": "time", "provider": "provider", "model_raw": "model_raw", "model": "model_raw",
                   "service_tier": "service_tier", "requests": "requests", **{c: c for c in EVENT_TOKENS}}
    cols = [F.col(ledger_like[c.name]).alias(c.name) if c.name in ledger_like
            else (F.lit("estimated") if c.name == "cost_source" else F.lit(None).cast(_sql_type(c.sql))).alias(c.name)
            for c in LEDGER_COLUMNS]
    extra = tuple(f"_e_{c}" for c in PARSED_COLUMNS)
    priced = pricer.price(parsed.select(*cols, *(F.col(c).alias(f"_e_{c}") for c in PARSED_COLUMNS)), extra=extra)
    events = {c: F.col(f"_e_{c}") for c in PARSED_COLUMNS}
    events.update(
        day=F.to_date(F.col("_e_time")), model=F.col("model"), ingested_at=F.lit(stamp).cast("timestamp_ntz"),
        estimated_cost_usd=F.when(F.col("pricing_status") == "none", F.lit(0).cast("decimal(38,18)"))
        .otherwise(F.col("cost_usd")),
        pricing_status=F.col("pricing_status"),
    )
    return priced.select(*(events[c].cast(_spark_type(EVENT_SCHEMA.field(c).type)).alias(c) for c in EVENT_COLUMNS))


def _sql_type(sql: str) -> str:
    return {"VARCHAR": "string", "JSON": "string", "TIMESTAMP": "timestamp_ntz"}.get(sql, sql.lower())


def _spark_type(t: pa.DataType) -> str:
    from .frames import spark_type

    return spark_type(t)


def rollup_sql(table: str) -> str:
    """``events_daily`` rows from an events table: the loader's contribution per event, summed."""
    keys = ", ".join(ROLLUP_KEYS)
    measures = ", ".join(f"CAST(sum({m}) AS {'DECIMAL(38, 18)' if m == 'estimated_cost_usd' else 'BIGINT'}) AS {m}"
                         for m in ROLLUP_MEASURES)
    return (f"SELECT {keys}, {measures} FROM (SELECT {keys}, {_CONTRIBUTION.format(sign=1)} FROM {table}) "
            f"GROUP BY {keys}")


def rollup(spark: Any, events: Any) -> Any:
    events.createOrReplaceTempView("_aispend_events")
    return spark.sql(to_spark(rollup_sql("_aispend_events")))
