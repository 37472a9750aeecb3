"""Storing a customer's message from any channel adapter, with the same metrics and the same
nudge to the outbox relay, so every adapter only verifies, parses and answers its provider."""

from __future__ import annotations

import time

from aiohttp import web

from gateway.keys import INTAKE, METRICS, RELAY, SETTINGS
from gateway.logs import trace_headers
from gateway.model import InboundMessage
from gateway.storage.intake import Accepted


async def accept_from_channel(
    app: web.Application, message: InboundMessage, dedupe_key: str
) -> Accepted:
    """Store ``message`` once (``dedupe_key`` makes a redelivery a duplicate) and count it."""
    channel = message.channel.value
    started = time.perf_counter()
    accepted = await app[INTAKE].accept(
        message,
        dedupe_key=dedupe_key,
        queue=app[SETTINGS].routing.queue,
        headers=trace_headers(),
    )
    app[METRICS].intake_seconds.labels(channel).observe(time.perf_counter() - started)
    if accepted.created:
        app[METRICS].inbound.labels(channel).inc()
        app[RELAY].nudge()
    else:
        app[METRICS].duplicates.labels(channel).inc()
    return accepted
