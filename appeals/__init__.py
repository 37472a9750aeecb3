"""Appeals: registered requests, complaints and incidents that move through their topic's
stages with deadlines, SLA clocks, history and notices to the customer (docs/appeals.md).

A capability package: its pure core (statuses and transitions, reference numbers, business
time, topics and their forms) imports no I/O; its store, service and routes build on the core
(`gateway/`), which wires the package in through ``setup(app)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from appeals import (
    admin_routes,
    attachments,
    deadlines,
    notices,
    offers,
    overview,
    pushes,
    replies,
    routes,
    status,
)
from appeals.live import TOPICS, live_topics
from appeals.service import APPEAL_EVENTS, HANDLERS, TICKS, AppealEvents, on_event, ticker
from appeals.store import APPEAL_STORE, AppealStore
from gateway.console.actions import DISPOSITIONS
from gateway.events import Event
from gateway.keys import BROKER, DATABASE, WORKER_FACTORIES


async def _store(app: web.Application) -> AsyncIterator[None]:
    app[APPEAL_STORE] = AppealStore(app[DATABASE])
    yield


def _events(app: web.Application) -> AppealEvents:
    events = AppealEvents(app, app[BROKER], app[HANDLERS])
    app[APPEAL_EVENTS] = events
    return events


def _dispositions(app: web.Application) -> Callable[[], Awaitable[list[str]]]:
    async def codes() -> list[str]:
        return list((await app[TOPICS].current()).settings.dispositions)

    return codes


def setup(app: web.Application) -> None:
    """Wire appeals into a gateway: the topics in force (after the routing in force, which the
    database context creates), the store, the event consumer (started with the other workers
    once the broker is attached), the status desk (answers status questions from the
    service's ``conversation.message`` handler, and is the menus' appeals desk), the deadline
    ticker, the wrap-up codes for the console, and the routes."""
    app[TICKS] = []
    app[HANDLERS] = {}
    app.cleanup_ctx.append(live_topics)
    app.cleanup_ctx.append(_store)
    notices.setup(app)
    app.cleanup_ctx.append(status.status_desk)
    on_event(app, Event.MESSAGE, status.on_message)
    app[WORKER_FACTORIES].append(_events)
    app[DISPOSITIONS].append(_dispositions(app))
    app.cleanup_ctx.append(ticker)
    deadlines.setup(app)
    offers.setup(app)
    replies.setup(app)
    pushes.setup(app)
    overview.add_routes(app)
    routes.add_routes(app)
    admin_routes.add_routes(app)
    attachments.add_routes(app)
