"""``aispend spark run|load``: the heavy paths on Apache Spark (docs/spark.md).

PySpark is optional: it is imported only when a command runs, so ``aispend`` works without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import AispendError
from .common import _settings, _store, app

spark_app = typer.Typer(help="Normalize, price, roll up events and allocate on Apache Spark (local or a cluster).",
                        no_args_is_help=True)
app.add_typer(spark_app, name="spark")


@spark_app.command("run")
def run_cmd(
    inputs: Annotated[list[str], typer.Option("--input", "-i", help="Export file (FOCUS or a csv mapping; CSV or Parquet; local or a URI Spark reads). Repeat for more.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Directory (or URI) for the Parquet tables.")],
    events: Annotated[list[str] | None, typer.Option("--events", "-e", help="Event file (JSONL, LiteLLM or OTLP/JSON, one record a line). Repeat for more.")] = None,
    master: Annotated[str | None, typer.Option(help="Spark master, e.g. local[4]; default: spark-submit's, else local[*].")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Export format: focus or csv (default: detected).")] = None,
    mapping: Annotated[str | None, typer.Option(help="[csv_mappings.NAME] to read the exports with.")] = None,
    source: Annotated[str | None, typer.Option(help="Source name for the export rows.")] = None,
    events_format: Annotated[str | None, typer.Option(help="otlp-json, litellm or jsonl (default: detected).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Load the valid rows; count the rest.")] = False,
    load: Annotated[bool, typer.Option("--load", help="Then load the result into the configured store.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the job: export files (and events) in, Parquet tables out."""
    from ..spark.job import run
    from ..spark.session import SparkUnavailable, spark_session

    settings = _settings()
    try:
        spark = spark_session(master)
    except SparkUnavailable as exc:
        raise AispendError(f"Spark cannot start: {exc}") from None
    result = run(spark, settings, inputs, output, events, fmt=fmt, mapping=mapping, source=source,
                 events_format=events_format, skip_invalid=skip_invalid)
    summary = result.summary()
    if load:
        summary["loaded"] = _load(output)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    rows = ", ".join(f"{k} {v:,}" for k, v in result.rows.items())
    typer.echo(f"{output}: {rows} ({result.seconds:.1f} s)")
    if result.allocation:
        a = result.allocation
        typer.echo(f"allocation: {a['allocated_pools']:,} of {a['pools']:,} pools, ${a['allocated_usd']} allocated, "
                   f"${a['unmatched_usd']} unmatched, ${a['unseen_usd']} unseen")
    if load:
        typer.echo(f"loaded into the store: {summary['loaded']}")


@spark_app.command("load")
def load_cmd(output: Annotated[Path, typer.Argument(help="A `spark run` output directory.")]) -> None:
    """Load a job's output into the configured store (no Spark needed)."""
    typer.echo(json.dumps(_load(str(output)), default=str))


def _load(output: str) -> dict:
    from ..spark.load import load_output

    settings = _settings()
    with _store(settings) as store:
        r = load_output(store, settings, output)
    return {"ledger_rows": r.ledger_rows, "events_daily_rows": r.events_daily_rows, "replaced_rows": r.replaced_rows}
