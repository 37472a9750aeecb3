"""Liveness, readiness and metrics for orchestrators and Prometheus."""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from gateway.keys import BROKER, DATABASE, METRICS, RELAY

log = structlog.get_logger()


class Consumer(Protocol):
    """A service that is attached once it consumes its queue (the router, the delivery queue)."""

    consumer_tag: str | None


# What must be consuming for the instance to be ready (create_app lists them).
CONSUMERS = web.AppKey("ready_consumers", list[Consumer])


async def livez(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with app[DATABASE].read() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failing: {type(exc).__name__}"
    broker = app[BROKER]
    checks["broker"] = "ok" if broker.is_connected else "disconnected"
    consumers_ok = all(consumer.consumer_tag is not None for consumer in app[CONSUMERS])
    checks["consumers"] = "ok" if consumers_ok and broker.is_connected else "not attached"
    checks["outbox_backlog"] = (
        str(await app[RELAY].pending()) if checks["database"] == "ok" else "?"
    )
    ready = all(checks[k] == "ok" for k in ("database", "broker", "consumers"))
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    try:
        await app[RELAY].pending()
    except Exception as exc:  # the gauge keeps its last value when the database is away
        log.info("metrics.backlog.unknown", error=type(exc).__name__)
    body = generate_latest(app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
