"""Appeals: registered requests, complaints and incidents that move through their topic's
stages with deadlines, SLA clocks, history and notices to the customer (docs/appeals.md).

A capability package: its pure core (statuses and transitions, reference numbers, business
time, topics and their forms) imports no I/O; its store, service and routes build on the core
(`gateway/`), which wires the package in through ``setup(app)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from appeals import notices, routes
from appeals.routes import APPEAL_STORE
from appeals.service import APPEAL_EVENTS, HANDLERS, TICKS, AppealEvents, ticker
from appeals.store import AppealStore
from gateway.keys import BROKER, DATABASE, WORKER_FACTORIES


async def _store(app: web.Application) -> AsyncIterator[None]:
    app[APPEAL_STORE] = AppealStore(app[DATABASE])
    yield


def _events(app: web.Application) -> AppealEvents:
    events = AppealEvents(app, app[BROKER], app[HANDLERS])
    app[APPEAL_EVENTS] = events
    return events


def setup(app: web.Application) -> None:
    """Wire appeals into a gateway: the store (once the database is open), the event
    consumer (started with the other workers), the deadline ticker and the routes."""
    app[TICKS] = []
    app[HANDLERS] = {}
    app.cleanup_ctx.append(_store)
    notices.setup(app)
    app[WORKER_FACTORIES].append(_events)
    app.cleanup_ctx.append(ticker)
    routes.add_routes(app)
