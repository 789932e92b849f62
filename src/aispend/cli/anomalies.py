"""`aispend anomalies`: detect over a window, store the result, print it."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import typer

from ..analysis.anomalies import KINDS, Anomaly, run_anomalies, scope_text, select
from ..analysis.anomalies.model import new_kind
from ..errors import AispendError
from .common import FormatOpt, OutFormat, _emit, _settings, _store, app, err


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    critical = "critical"


_KIND_LINES = "\n".join(textwrap.fill(f"{k}: {v}", 88, initial_indent="  ", subsequent_indent="      ")
                        for k, v in KINDS.items())
HELP = f"""Find what is unusual in the ledger, store it for alerts and the dashboard, and print it.

The window is [--since, --until) in UTC; it defaults to the `[anomalies] lookback_days` (7) days
before the day after the ledger's last charge. Re-running a window replaces what an earlier run
stored for it: each anomaly keeps a stable id (kind + scope + start). --kind and --min-severity
only filter what is printed; every kind is detected and stored.

\b
Kinds:
{_KIND_LINES}

Each anomaly has a scope (dimension=value pairs), a start, expected vs actual (in its metric:
usd_per_day, input_tokens_per_request, ...), a dollar impact (spend above expected; negative when
spend stopped) and a severity from |impact| (`warning_usd`, `critical_usd`). Thresholds and scopes
are under [anomalies] in aispend.toml (docs/anomalies.md).
"""

TABLE_COLUMNS = ["when", "severity", "kind", "scope", "expected", "actual", "impact_usd", "explanation"]
DATA_COLUMNS = ["id", "kind", "severity", "period_start", "period_end", "scope", "metric", "expected", "actual",
                "impact_usd", "explanation"]
_CENT = Decimal("0.01")


@app.command("anomalies", help=HELP)
def anomalies_cmd(
    since: Annotated[str | None, typer.Option(metavar="DATE", help="Window start, inclusive: YYYY-MM-DD[THH:MM] (UTC).")] = None,
    until: Annotated[str | None, typer.Option(metavar="DATE", help="Window end, exclusive: YYYY-MM-DD[THH:MM] (UTC).")] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", "-k", metavar="KIND", help="Print only this kind; repeat it.")] = None,
    min_severity: Annotated[Severity, typer.Option(help="Print only this severity and above.")] = Severity.info,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    settings = _settings()
    known = list(KINDS) + [k for k in map(new_kind, settings.anomalies.new.dimensions) if k not in KINDS]
    if unknown := [k for k in kind or [] if k not in known]:
        raise AispendError(f"--kind {unknown[0]!r} is not a kind; choose from: {', '.join(known)}")
    start, end = _moment(since, "--since"), _moment(until, "--until")
    with _store(settings) as store:
        detection = run_anomalies(store, settings.anomalies, start, end)
    shown = select(detection.anomalies, kind, min_severity.value)
    window = f"{detection.since:%Y-%m-%d %H:%M} to {detection.until:%Y-%m-%d %H:%M} UTC"
    summary = (f"{len(detection.anomalies)} anomalies from {window}, stored (replacing {detection.replaced} "
               f"from an earlier run)" + (f"; {len(shown)} shown" if len(shown) != len(detection.anomalies) else ""))
    if fmt is OutFormat.table:
        _emit([_table_row(a) for a in shown], TABLE_COLUMNS, fmt, title="Anomalies", footer=[summary])
        return
    err.print(summary, highlight=False, markup=False)
    _emit([_data_row(a, fmt) for a in shown], DATA_COLUMNS, fmt)


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise AispendError(f"{option} {value!r} is not a date: give YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _table_row(a: Anomaly) -> dict[str, Any]:
    when = f"{a.start:%Y-%m-%d %H:%M}" if a.start.hour or a.start.minute else f"{a.start:%Y-%m-%d}"
    return {"when": when, "severity": a.severity, "kind": a.kind, "scope": scope_text(a.scope),
            "expected": a.expected.quantize(_CENT), "actual": a.actual.quantize(_CENT),
            "impact_usd": a.impact_usd, "explanation": a.explanation}


def _data_row(a: Anomaly, fmt: OutFormat) -> dict[str, Any]:
    # JSON keeps the scope an object for scripts; CSV needs one cell.
    scope = dict(a.scope) if fmt is OutFormat.json else scope_text(a.scope)
    return {"id": a.id, "kind": a.kind, "severity": a.severity, "period_start": a.start, "period_end": a.end,
            "scope": scope, "metric": a.metric, "expected": a.expected, "actual": a.actual,
            "impact_usd": a.impact_usd, "explanation": a.explanation}
