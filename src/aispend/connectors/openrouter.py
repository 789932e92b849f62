"""OpenRouter: the activity API (billed dollars per day and endpoint, with tokens), read-only.

Wire format: shared/reference/vendors.md §7. ``GET https://openrouter.ai/api/v1/activity`` with
``Authorization: Bearer <management key>`` (a *management* key, formerly "provisioning" key; an
inference key ``sk-or-v1-...`` used for completions is refused) answers ``{"data": [item]}``: one
item per UTC day and endpoint (model x provider), ``usage`` in USD. There is no pagination and no
start/end: the API keeps **the last 30 completed UTC days** only, all of them at once, or one day
with ``date=YYYY-MM-DD``; ``api_key_hash`` narrows to one API key (SHA-256 hex, as the keys API
lists it) and ``workspace_id`` to one workspace.

How a window is pulled: one request per day (``date=``), so every landed page holds exactly the
days asked for and the engine can replace the window. That is at most 30 requests.

* Days from today on (not completed) are not asked for: nothing exists for them yet. The cursor
  still moves, and the trailing ``restatement_days`` re-pull yesterday on the next run.
* Days before ``today - 30`` cannot be pulled from OpenRouter at all. Because the engine replaces
  the whole window, quietly skipping them would delete rows synced earlier, so such a window is an
  error that names the earliest day to use with ``--start``. An automatic window (no --start) is
  clipped to what the API still has (``earliest_start``), so a sync after a long gap still runs;
  days older than 30 that were never synced are gone at OpenRouter: sync at least monthly.

Rows land under the source's name, ``cost_source = billed``, normalized by the import format
``openrouter`` (``ingest/native/openrouter.py``): one mapping for files and sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from ..config import SecretRef, SourceConfig
from ..errors import SyncError
from .base import Connector, Endpoint, Page, Params
from .http import HttpClient

HISTORY_DAYS = 30  # the API's reach: the last 30 completed UTC days


class OpenRouterSettings(SourceConfig):
    model_config = SourceConfig.model_config | {"extra": "forbid"}
    type: Literal["openrouter"]
    api_key: SecretRef  # required: a management key
    # Filters the API takes; a filtered source sees only that key's or workspace's spend.
    api_key_hash: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    workspace_id: str | None = Field(default=None, min_length=1)


def utc_today() -> date:
    """Today in UTC: the API's days are UTC days (tests replace this)."""
    return datetime.now(UTC).date()


class OpenRouterConnector(Connector):
    type = "openrouter"
    default_base_url = "https://openrouter.ai/api/v1"
    settings_model = OpenRouterSettings
    auth_hint = ("check the management key: the activity API needs an OpenRouter management key "
                 "(openrouter.ai > Settings > Management keys, formerly provisioning keys), "
                 "not an inference API key")
    granularities = ("1d",)
    # One row per day, endpoint (sku) and workspace: tags (BYOK amounts) stay out of the id.
    natural_key = (*(k for k in Connector.natural_key if k != "tags"), "description")

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("activity", "/activity", "openrouter", "", ("1d",))]

    def earliest_start(self) -> datetime:
        return datetime.combine(utc_today() - timedelta(days=HISTORY_DAYS), datetime.min.time())

    def reachable(self, start: datetime, end: datetime) -> list[date]:
        """The window's days the API can answer for, oldest first; SyncError if it starts too early."""
        today = utc_today()
        earliest = today - timedelta(days=HISTORY_DAYS)
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        if first < earliest:
            raise SyncError(
                f"{self.name}: OpenRouter's activity API keeps only the last {HISTORY_DAYS} completed UTC days "
                f"({earliest:%Y-%m-%d} to {today - timedelta(days=1):%Y-%m-%d}); the window starts {first:%Y-%m-%d}, "
                f"and days before {earliest:%Y-%m-%d} cannot be pulled. Nothing was loaded (replacing the window "
                f"would drop rows synced earlier). Re-run with --start {earliest:%Y-%m-%d} or later")
        return [first + timedelta(days=i) for i in range((min(last, today - timedelta(days=1)) - first).days + 1)]

    def pages(self, http: HttpClient, endpoint: Endpoint, start: datetime, end: datetime,
              granularity: str) -> Iterator[Page]:
        if not self.reachable(start, end):  # only today or later: nothing is complete yet
            return iter(())
        return super().pages(http, endpoint, start, end, granularity)

    def _filters(self) -> Params:
        cfg: Any = self.settings
        out: Params = []
        if cfg.api_key_hash:
            out.append(("api_key_hash", cfg.api_key_hash.lower()))
        if cfg.workspace_id:
            out.append(("workspace_id", cfg.workspace_id))
        return out

    def first_params(self, endpoint: Endpoint, start: datetime, end: datetime, granularity: str) -> Params:
        days = self.reachable(start, end)
        self._last_day = days[-1]
        return [("date", days[0].isoformat()), *self._filters()]

    def next_params(self, endpoint: Endpoint, params: Params, body: Any) -> Params | None:
        day = date.fromisoformat(dict(params)["date"]) + timedelta(days=1)
        if day > self._last_day:
            return None
        return [("date", day.isoformat()) if k == "date" else (k, v) for k, v in params]

    def check(self, http: HttpClient) -> str:
        yesterday = utc_today() - timedelta(days=1)
        params = [("date", yesterday.isoformat()), *self._filters()]
        body = http.get(self.url(self.endpoints()[0]), params, what=f"{self.name}: check").json()
        return f"management key accepted; activity readable ({len(body.get('data') or [])} item(s) for yesterday)"


CONNECTOR = OpenRouterConnector
