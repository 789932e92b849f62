"""Helpers for the API sync tests: a config file pointing sources at fake servers, ledger snapshots."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from aispend.config import load_settings
from aispend.connectors.http import RetryPolicy

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_wait=5.0, jitter=0.1)


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def run_sync(store, settings, window, **kw):
    """One sync of every configured source over ``window``, retrying fast (tests never sleep long)."""
    from aispend.sync import sync

    kw.setdefault("policy", FAST)
    return sync(store, settings, None, *window, **kw)
VOLATILE = ("ingested_at", "batch_id")


def write_config(workdir: Path, sources: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, cfg in sources.items():
        lines.append(f"[sources.{name}]")
        for key, value in cfg.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
    path = workdir / "aispend.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def settings_for(workdir: Path, sources: dict[str, dict[str, Any]]):
    return load_settings(write_config(workdir, sources))


def ledger(store, *, stable: bool = True) -> list[tuple]:
    """Every ledger row (without ingested_at and batch_id when ``stable``), sorted."""
    cols = [c for (c,) in store.query("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'ledger' ORDER BY ordinal_position")]
    if stable:
        cols = [c for c in cols if c not in VOLATILE]
    return sorted(store.query(f"SELECT {', '.join(cols)} FROM ledger"), key=repr)


def billed(store, source: str) -> Decimal:
    return store.query("SELECT coalesce(sum(billed_cost), 0) FROM ledger WHERE source = ?", [source])[0][0]


def landed_cost_total(store, source: str) -> Decimal:
    """The Costs API's own total over the landed pages, read without the normalizer (latest pull per day)."""
    days: dict[int, Decimal] = {}
    rows = store.query("SELECT body FROM raw_pages WHERE source = ? AND endpoint = 'costs' ORDER BY fetched_at, page_no",
                       [source])
    for (body,) in rows:
        for bucket in json.loads(body, parse_float=Decimal)["data"]:
            days[bucket["start_time"]] = sum((Decimal(str(r["amount"]["value"])) for r in bucket["results"]),
                                             Decimal(0))
    return sum(days.values(), Decimal(0))
