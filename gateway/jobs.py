"""Retried jobs on RabbitMQ: the part every channel worker shares (replies to send, customers'
files to fetch).

Each worker consumes one durable queue that every instance shares. A temporary failure goes to
a retry queue whose TTL is the back-off and comes back with its attempt count in a header; after
the last retry the job is given up and a copy is kept in the kind's failed queue. Jobs are acked
promptly: the store, not an unacked delivery, says what is still to do.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from gateway.broker import Broker, BrokerUnavailable
from gateway.errors import JobError as JobError  # re-exported: senders and fetchers raise it
from gateway.errors import TemporaryFailure as TemporaryFailure
from gateway.logs import ids_from_headers
from gateway.topology import SENDS, JobKind, declare_outbound

log = structlog.get_logger()

ATTEMPT_HEADER = "x-cg-attempt"


def retry_delay(delays: tuple[float, ...], attempt: int, retry_after: float | None) -> float:
    """The back-off before attempt ``attempt + 1``: the configured step, or the shortest
    configured delay that honours the provider's Retry-After."""
    delay = delays[min(attempt, len(delays) - 1)]
    if retry_after is not None:
        longer = [d for d in delays if d >= retry_after]
        delay = max(delay, min(longer) if longer else delays[-1])
    return delay


class JobWorker:
    """Consumes ``<prefix>.<family>.<name>``; subclasses implement :meth:`handle`."""

    kind: JobKind = SENDS

    def __init__(self, name: str, broker: Broker, delays: tuple[float, ...]) -> None:
        self.name = name
        self.broker = broker
        self.delays = delays
        self.queue: AbstractQueue | None = None

    async def start(self) -> None:
        assert self.broker.connection is not None
        channel = await self.broker.connection.channel()
        await channel.set_qos(prefetch_count=16)
        self.queue = await declare_outbound(
            channel, self.broker.names, self.name, self.delays, self.kind
        )
        await self.queue.consume(self._on_message)

    async def handle(
        self, payload: dict[str, Any], attempt: int, headers: dict[str, str]
    ) -> None:  # pragma: no cover - every worker overrides it
        raise NotImplementedError

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        with structlog.contextvars.bound_contextvars(**ids_from_headers(message.headers)):
            try:
                payload = json.loads(message.body)
                raw_attempt = (message.headers or {}).get(ATTEMPT_HEADER, 0)
                attempt = raw_attempt if isinstance(raw_attempt, int) else 0
                headers = {k: v for k, v in (message.headers or {}).items() if isinstance(v, str)}
                await self.handle(payload, attempt, headers)
            except BrokerUnavailable as exc:
                # The retry could not be scheduled: let the broker give the job back.
                log.warning("jobs.requeue", queue=self.name, error=str(exc))
                with contextlib.suppress(Exception):
                    await message.reject(requeue=True)
                return
            except Exception:
                log.exception("jobs.job.failed", family=self.kind.family, queue=self.name)
            with contextlib.suppress(Exception):
                await message.ack()

    def out_of_retries(self, attempt: int) -> bool:
        return attempt >= len(self.delays)

    async def retry(
        self,
        payload: dict[str, Any],
        headers: dict[str, str],
        attempt: int,
        retry_after: float | None,
    ) -> float:
        """Schedule the job again after the back-off for ``attempt``; the delay chosen."""
        if self.broker.channel is None:
            raise BrokerUnavailable("not connected")
        delay = retry_delay(self.delays, attempt, retry_after)
        await self.broker.publish(
            self.broker.channel.default_exchange,
            self.broker.names.retry_queue(self.name, delay, self.kind.family),
            payload,
            headers={**headers, ATTEMPT_HEADER: attempt + 1},
        )
        return delay

    async def keep_failed(self, payload: dict[str, Any], reason: str) -> None:
        """A copy of a job given up for good, for inspection (best effort)."""
        if self.broker.channel is None:
            return
        with contextlib.suppress(BrokerUnavailable):
            await self.broker.publish(
                self.broker.channel.default_exchange,
                self.broker.names.failed_queue(self.name, self.kind.family),
                {**payload, "reason": reason},
            )
