"""The ``aispend`` command: parse options, call one library function, print.

``common`` holds the app and what commands share; each other module adds the commands of one
subject. Importing them here registers them.
"""

from __future__ import annotations

from . import (  # noqa: F401 - importing registers the commands
    alerts,
    anomalies,
    attribute,
    budgets,
    doctor,
    economics,
    events,
    forecast,
    fx,
    ledger,
    recommend,
    reconcile,
    revenue,
    serve,
    sources,
    spark,
    users,
    whatif,
)
from .common import app, main

__all__ = ["app", "main"]
