"""What every command shares: the app, consoles, options, settings and store, output, errors.

Commands live in small modules of this package by subject; each registers on ``app`` when
imported (``aispend.cli.__init__`` imports them all). Errors the user can act on print one line on
stderr and exit 1; ``--debug`` shows the traceback. Anything that lists rows takes ``--format
table|json|csv``; JSON is an array of objects with exact decimal strings for money.
"""

from __future__ import annotations

import importlib
import sys
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..config import Settings, load_settings
from ..errors import AispendError
from ..output import render
from ..store import Store, open_store

app = typer.Typer(
    help="aispend: one exact ledger for every AI vendor's bill. Import billing files, price usage, "
    "report spend and export it (CSV, Parquet, FOCUS 1.2).",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(width=None if sys.stdout.isatty() else 200)  # piped tables are not truncated


class OutFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class _State:
    config: str | None = None
    store_url: str | None = None
    debug: bool = False


state = _State()

FormatOpt = Annotated[OutFormat, typer.Option("--format", "-f", help="table for people; json or csv for scripts.")]
MonthOpt = Annotated[str | None, typer.Option(help="Calendar month YYYY-MM (by charge period start, UTC).")]
StartOpt = Annotated[str | None, typer.Option(help="First day, inclusive (YYYY-MM-DD, UTC).")]
EndOpt = Annotated[str | None, typer.Option(help="Last day, exclusive (YYYY-MM-DD, UTC).")]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", "-w", help="Filter DIM=VALUE; repeat it (same DIM: any of the values)."),
]


def _settings() -> Settings:
    settings = load_settings(state.config)
    if state.store_url:
        settings.store.url = state.store_url
    return settings


def _store(settings: Settings) -> Store:
    return open_store(settings.store.url, wait=settings.store.wait_seconds)


def _total(rows: list[dict[str, Any]]) -> Decimal:
    return sum((r["cost_usd"] for r in rows if r["cost_usd"] is not None), Decimal(0))


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: OutFormat, **kw: Any) -> None:
    text = render(rows, columns, fmt.value, console=out, **kw)
    if text is not None:
        typer.echo(text)


@app.callback()
def _root(
    config: Annotated[str | None, typer.Option("--config", "-c", help="Config file (default ./aispend.toml or $AISPEND_CONFIG).")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Ledger location, overriding store.url.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    state.config, state.store_url, state.debug = config, store, debug


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,} rows"), TimeElapsedColumn(), console=err, transient=True,
                    disable=not err.is_terminal)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AispendError(f"{option} {value!r} is not YYYY-MM-DD") from None


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit
    except AispendError as exc:
        if state.debug:
            raise
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors come through here too
        if isinstance(exc, _click_exceptions()):
            exc.show()
            sys.exit(exc.exit_code)
        if state.debug:
            raise
        err.print(f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                  highlight=False, markup=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Usage errors: typer >= 0.17 raises its vendored click's exceptions, older typer click's own."""
    found: list[type[Exception]] = []
    for module in ("typer._click", "click"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            pass
    return tuple(found)
