"""aispend's HTTP server: ``create_app(settings)``: the dashboard, the REST API (``/api/v1``) and
the OTLP/HTTP receiver (``/v1/traces``). docs/dashboard.md describes pages, API and auth."""

from __future__ import annotations

from .app import create_app
from .auth import check_exposure
from .ledger import Ledger, StoreBusy

__all__ = ["Ledger", "StoreBusy", "check_exposure", "create_app"]
