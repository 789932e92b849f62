"""``aispend serve``: the HTTP server (the OTLP/HTTP receiver for GenAI spans) and the scheduler."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from .common import _settings, app, err


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on. Beyond loopback, [events] receiver_token is required.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (4318 is OTLP/HTTP's).")] = 4318,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
    scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler",
                                            help="Run [schedule]'s sync and alerts jobs in this process.")] = True,
) -> None:
    """Serve the dashboard and REST API (/api/v1), receive OpenTelemetry traces over OTLP/HTTP at
    /v1/traces (protobuf or JSON, gzip or not), and run `aispend sync` and `aispend alerts run` on
    the [schedule] of aispend.toml. On 127.0.0.1 no login is needed; on any other address every
    page and API call needs one (`aispend users add`).

    GenAI spans become per-request events in the ledger (see docs/events.md). Point an exporter at
    it with OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:PORT. The ledger file is opened per request,
    so other aispend commands can use it meanwhile.

    Scheduled jobs (default: sync every 6h when [sources] exist, alerts every 1h when alert rules or
    budget channels exist; "every N(s|m|h|d)", a cron line, or "off") take the same ledger lock as
    the CLI, so a cron `aispend sync && aispend alerts run` never overlaps them: a job that finds
    the lock held is skipped until its next tick. --no-scheduler serves only.
    """
    import uvicorn

    from ..schedule import build_scheduler, describe_jobs
    from ..server import check_exposure, create_app

    settings = _settings()
    check_exposure(host, settings)
    application = create_app(settings, host=host)  # beyond loopback, every page and API call needs a login
    err.print(f"aispend dashboard on http://{host}:{port}/ (API /api/v1, OTLP traces /v1/traces) "
              f"over {settings.store.url}", highlight=False, markup=False)
    jobs = build_scheduler(settings) if scheduler else None
    if jobs is not None and jobs.get_jobs():
        _log_jobs(log_level)
        jobs.start()
        err.print("scheduled: " + "; ".join(describe_jobs(settings)), highlight=False, markup=False)
    try:
        uvicorn.run(application, host=host, port=port, log_level=log_level)
    finally:
        if jobs is not None and jobs.running:
            jobs.shutdown(wait=False)


def _log_jobs(level: str) -> None:
    """Job outcomes to stderr, beside uvicorn's access log."""
    log = logging.getLogger("aispend")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(level.upper())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
