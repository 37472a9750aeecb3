"""Storing a customer's message from any channel adapter, with the same metrics and the same
nudge to the outbox relay, so every adapter only verifies, parses and answers its provider;
on a channel with an IVR menu, a new conversation opens in the menu and the message is the
customer's answer to it."""

from __future__ import annotations

import time
from typing import Protocol

from aiohttp import web

from gateway.keys import INTAKE, METRICS, RELAY, SETTINGS
from gateway.logs import trace_headers
from gateway.model import InboundMessage
from gateway.storage.intake import Accepted


class Menus(Protocol):
    """What intake asks of the menus on text channels (gateway/menus/text_menus.py), which
    register themselves under :data:`MENUS` when they run."""

    def menu_id(self, channel: str) -> str | None: ...

    def schedule(self, message: InboundMessage, accepted: Accepted) -> None: ...


MENUS: web.AppKey[Menus] = web.AppKey("intake_menus")


async def accept_from_channel(
    app: web.Application, message: InboundMessage, dedupe_key: str
) -> Accepted:
    """Store ``message`` once (``dedupe_key`` makes a redelivery a duplicate) and count it."""
    channel = message.channel.value
    menus = app.get(MENUS)
    started = time.perf_counter()
    accepted = await app[INTAKE].accept(
        message,
        dedupe_key=dedupe_key,
        queue=app[SETTINGS].routing.queue,
        headers=trace_headers(),
        opens_in_menu=menus is not None and menus.menu_id(channel) is not None,
    )
    app[METRICS].intake_seconds.labels(channel).observe(time.perf_counter() - started)
    if accepted.created:
        app[METRICS].inbound.labels(channel).inc()
        app[RELAY].nudge()
    else:
        app[METRICS].duplicates.labels(channel).inc()
    if menus is not None:
        menus.schedule(message, accepted)
    return accepted
