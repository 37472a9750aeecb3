"""The appeals service: what happens to appeals because of events and the clock.

One durable queue, ``<prefix>.appeals`` (every instance consumes it; each event is handled by
one of them), bound to:

- ``conversation.message``: a customer wrote. A status question by number is answered
  (appeals/status.py); a reply in a conversation gathered by an appeal resumes it when it was
  pending the customer, or reopens it when it was resolved a short while ago
  (appeals/replies.py).
- ``outbound.*``: an operator wrote to a customer: the first human answer of the appeals of that
  conversation (the SLA's first response).
- ``appeal.changed``: notices to the customer (appeals/notices.py) and pushes to the people who
  work on the appeal (appeals/pushes.py).

Handlers are idempotent (an event can arrive twice) and ack promptly. The deadline ticker
(appeals/deadlines.py) runs on every instance; the store's unique keys and compare-and-set
make a deadline that two instances see at once count once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage
from aiohttp import web

from gateway.broker import Broker, BrokerUnavailable
from gateway.events import Event, Family
from gateway.jobs import JobWorker
from gateway.keys import SETTINGS
from gateway.logs import ids_from_headers
from gateway.model import utcnow

log = structlog.get_logger()

Handler = Callable[[web.Application, str, dict[str, Any]], Awaitable[None]]
Tick = Callable[[web.Application, datetime], Awaitable[None]]


class AppealEvents(JobWorker):
    """Consumes the appeals queue and hands each event to the handlers registered for its
    routing key (exact key, or the family prefix such as ``outbound``)."""

    def __init__(
        self, app: web.Application, broker: Broker, handlers: dict[str, list[Handler]]
    ) -> None:
        super().__init__("appeals", broker, ())
        self.app = app
        self.handlers = handlers

    async def start(self) -> None:
        assert self.broker.connection is not None
        channel = await self.broker.connection.channel()
        await channel.set_qos(prefetch_count=32)
        events = await channel.get_exchange(self.broker.names.events)
        self.queue = await channel.declare_queue(
            self.broker.names.capability_queue("appeals"),
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        for key in (Event.MESSAGE, Event.APPEAL_CHANGED, f"{Family.OUTBOUND}.*"):
            await self.queue.bind(events, str(key))
        await self.queue.consume(self._on_event)

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key or ""
        with structlog.contextvars.bound_contextvars(**ids_from_headers(message.headers)):
            try:
                payload = json.loads(message.body)
                handlers = self.handlers.get(key, []) + self.handlers.get(key.split(".")[0], [])
                for handler in handlers:
                    await handler(self.app, key, payload)
            except BrokerUnavailable as exc:
                log.warning("appeals.event.retry", key=key, error=str(exc))
                with contextlib.suppress(Exception):
                    await message.reject(requeue=True)
                return
            except Exception:
                log.exception("appeals.event.failed", key=key)
                if not message.redelivered:
                    with contextlib.suppress(Exception):
                        await message.reject(requeue=True)
                    return
            with contextlib.suppress(Exception):
                await message.ack()


APPEAL_EVENTS = web.AppKey("appeal_events", AppealEvents)
# What the appeals' parts registered in setup: event handlers by routing key (or family) and
# ticks of the deadline loop.
HANDLERS = web.AppKey("appeal_handlers", dict[str, list[Handler]])
TICKS = web.AppKey("appeal_ticks", list[Tick])


def on_event(app: web.Application, key: str, handler: Handler) -> None:
    """Call ``handler(app, routing_key, payload)`` for each event with this key (or family)."""
    app[HANDLERS].setdefault(key, []).append(handler)


def on_tick(app: web.Application, tick: Tick) -> None:
    app[TICKS].append(tick)


async def tick_loop(app: web.Application, interval: float) -> None:
    """Run every registered tick (deadlines, held staff notices, notice fallbacks) now and
    then; a failing tick is logged and tried again at the next turn."""
    while True:
        # Sleep first: the services the ticks use start after this loop does.
        await asyncio.sleep(interval)
        now = utcnow()
        for tick in app[TICKS]:
            try:
                await tick(app, now)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("appeals.tick.failed", tick=getattr(tick, "__name__", str(tick)))


async def ticker(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the tick loop, for as long as the gateway runs."""
    task = asyncio.create_task(
        tick_loop(app, app[SETTINGS].appeals.tick_seconds), name="appeals-ticker"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
