"""Fake vendor servers, one per connector type: the conformance suite runs every connector
against its fake, so a new connector registers its fake here (and fails the suite until it does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class FakeSpec:
    server: Callable[[], Any]  # a context manager with .base_url, .key (accepted) and .requests
    settings: Callable[[str, str], dict[str, Any]]  # (base_url, env var of the key) -> [sources.NAME]
    window: tuple[date, date]  # a window with data
    # A key the vendor refuses (401/403); most vendors: any other string.
    wrong_key: Callable[[Any], str] = lambda server: "wrong-" + server.key[::-1]


def _openai() -> FakeSpec:
    from .openai_server import FakeOpenAI

    return FakeSpec(
        server=lambda: FakeOpenAI(seed=3),
        settings=lambda url, env: {"type": "openai", "api_key": {"env": env}, "base_url": url},
        window=(date(2026, 1, 1), date(2026, 1, 15)),
    )


def _anthropic() -> FakeSpec:
    from .anthropic_server import FakeAnthropic

    return FakeSpec(
        server=lambda: FakeAnthropic(seed=3),
        settings=lambda url, env: {"type": "anthropic", "api_key": {"env": env}, "base_url": url},
        window=(date(2026, 1, 1), date(2026, 1, 15)),
    )


def _openrouter() -> FakeSpec:
    from datetime import UTC, datetime, timedelta

    from .openrouter_server import FakeOpenRouter

    today = datetime.now(UTC).date()  # the API only keeps the last 30 completed days
    return FakeSpec(
        server=lambda: FakeOpenRouter(seed=3),
        settings=lambda url, env: {"type": "openrouter", "api_key": {"env": env}, "base_url": url},
        window=(today - timedelta(days=15), today - timedelta(days=1)),
    )


def _azure() -> FakeSpec:
    from .azure_server import CLIENT_ID, SCOPE, TENANT, FakeAzure

    return FakeSpec(
        server=lambda: FakeAzure(seed=3),
        settings=lambda url, env: {"type": "azure", "tenant_id": TENANT, "client_id": CLIENT_ID,
                                   "client_secret": {"env": env}, "scope": SCOPE, "base_url": url, "login_url": url},
        window=(date(2026, 1, 1), date(2026, 1, 15)),
    )


def _aws() -> FakeSpec:
    from .aws_ce_server import KEY_ID, FakeCostExplorer

    return FakeSpec(
        server=lambda: FakeCostExplorer(seed=3),
        settings=lambda url, env: {"type": "aws", "access_key_id": KEY_ID, "api_key": {"env": env}, "base_url": url},
        window=(date(2026, 1, 1), date(2026, 1, 15)),
    )


def _gcp() -> FakeSpec:
    from .bigquery_server import TABLE, FakeBigQuery

    return FakeSpec(
        server=lambda: FakeBigQuery(seed=3, page_cap=150),
        settings=lambda url, env: {"type": "gcp", "table": TABLE, "credentials": {"env": env}, "base_url": url},
        window=(date(2026, 1, 1), date(2026, 1, 15)),
        # A key is a signed identity: another service account's key, valid but without access.
        wrong_key=lambda server: server.other_key,
    )


FAKES: dict[str, Callable[[], FakeSpec]] = {"openai": _openai, "aws": _aws, "anthropic": _anthropic,
                                           "openrouter": _openrouter, "azure": _azure, "gcp": _gcp}
