"""Sending replies on provider channels (SMS, WhatsApp, email, Telegram) from RabbitMQ, with
retries and a failed queue, so an outage of a provider delays replies but loses none.

Each channel has a durable queue ``<p>.out.<channel>`` that every instance consumes. A job names
a stored message; the worker reads it, skips it if the provider already has it (a redelivery),
sends it through the channel's :class:`Sender`, and records the outcome. A temporary failure
(a 429, a 5xx, a timeout) goes to a retry queue whose TTL is the back-off and comes back; after
the last retry the reply is marked failed, shown so to the operator (who can resend), and a copy
of the job is kept in ``<p>.out.<channel>.failed``.

The one window where a reply can go out twice: the provider took it and this process died
before recording it. Nothing in the providers' APIs closes that window; it is a crash between
two statements, not a retry.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from prometheus_client import Counter

from gateway.broker import Broker, BrokerUnavailable
from gateway.logs import ids_from_headers
from gateway.model import MessageStatus
from gateway.storage.outbound import OutboundJob, OutboundStore
from routing.topology import declare_outbound

log = structlog.get_logger()

ATTEMPT_HEADER = "x-cg-attempt"


class SendError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(SendError):
    """Worth trying again later (rate limited, provider down, timeout)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(SendError):
    """Trying again will not help (bad number, blocked bot, message refused)."""

    def __init__(
        self,
        reason: str,
        status: MessageStatus = MessageStatus.FAILED,
        unreachable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.unreachable = unreachable


class Sender(Protocol):
    """A provider channel's way out: send one stored reply, return the provider's id for it."""

    channel: str

    async def send(self, job: OutboundJob) -> str: ...


def retry_delay(delays: tuple[float, ...], attempt: int, retry_after: float | None) -> float:
    """The back-off before attempt ``attempt + 1``: the configured step, or the shortest
    configured delay that honours the provider's Retry-After."""
    delay = delays[min(attempt, len(delays) - 1)]
    if retry_after is not None:
        longer = [d for d in delays if d >= retry_after]
        delay = max(delay, min(longer) if longer else delays[-1])
    return delay


@dataclass
class DispatchMetrics:
    sent: Counter
    failed: Counter
    retried: Counter


class OutboundWorker:
    def __init__(
        self,
        sender: Sender,
        store: OutboundStore,
        broker: Broker,
        delays: tuple[float, ...],
        metrics: DispatchMetrics,
    ) -> None:
        self.sender = sender
        self.store = store
        self.broker = broker
        self.delays = delays
        self.metrics = metrics
        self.queue: AbstractQueue | None = None

    @property
    def channel(self) -> str:
        return self.sender.channel

    async def start(self) -> None:
        assert self.broker.connection is not None
        channel = await self.broker.connection.channel()
        await channel.set_qos(prefetch_count=16)
        self.queue = await declare_outbound(channel, self.broker.names, self.channel, self.delays)
        await self.queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        with structlog.contextvars.bound_contextvars(**ids_from_headers(message.headers)):
            try:
                payload = json.loads(message.body)
                raw_attempt = (message.headers or {}).get(ATTEMPT_HEADER, 0)
                attempt = raw_attempt if isinstance(raw_attempt, int) else 0
                headers = {k: v for k, v in (message.headers or {}).items() if isinstance(v, str)}
                await self.handle(int(payload["message_id"]), payload, attempt, headers)
            except BrokerUnavailable as exc:
                # The retry could not be scheduled: let the broker give the job back.
                log.warning("outbound.requeue", channel=self.channel, error=str(exc))
                with contextlib.suppress(Exception):
                    await message.reject(requeue=True)
                return
            except Exception:
                log.exception("outbound.job.failed", channel=self.channel)
            with contextlib.suppress(Exception):
                await message.ack()

    async def handle(
        self,
        message_id: int,
        payload: dict[str, Any],
        attempt: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        job = await self.store.job(message_id)
        if job is None or job.channel != self.channel:
            log.warning("outbound.job.unknown", message_id=message_id, channel=self.channel)
            return
        if job.already_sent or job.status != MessageStatus.QUEUED.value:
            log.info("outbound.job.duplicate", message_id=message_id, status=job.status)
            return
        if job.opted_out:
            await self._give_up(job, MessageStatus.FAILED, "the customer opted out (STOP)")
            return
        if job.unreachable:
            await self._give_up(job, MessageStatus.UNDELIVERED, "the customer cannot be reached")
            return
        await self.store.count_attempt(message_id)
        try:
            external_id = await self.sender.send(job)
        except TemporaryFailure as exc:
            if attempt >= len(self.delays):
                await self._give_up(job, MessageStatus.FAILED, exc.reason, payload)
                return
            delay = retry_delay(self.delays, attempt, exc.retry_after)
            await self._retry(payload, {**(headers or {}), ATTEMPT_HEADER: attempt + 1}, delay)
            self.metrics.retried.labels(self.channel).inc()
            log.warning(
                "outbound.retry",
                channel=self.channel,
                message_id=message_id,
                attempt=attempt + 1,
                delay=delay,
                reason=exc.reason,
            )
            return
        except PermanentFailure as exc:
            if exc.unreachable:
                await self.store.set_unreachable(job.identity_id)
            await self._give_up(job, exc.status, exc.reason)
            return
        await self.store.sent(message_id, external_id)
        self.metrics.sent.labels(self.channel).inc()
        log.info("outbound.sent", channel=self.channel, message_id=message_id, external=external_id)
        await self._tell_operator(job, MessageStatus.SENT)

    async def _retry(self, payload: dict[str, Any], headers: dict[str, Any], delay: float) -> None:
        if self.broker.channel is None:
            raise BrokerUnavailable("not connected")
        await self.broker.publish(
            self.broker.channel.default_exchange,
            self.broker.names.retry_queue(self.channel, delay),
            payload,
            headers=headers,
        )

    async def _give_up(
        self,
        job: OutboundJob,
        status: MessageStatus,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> None:
        await self.store.failed(job.message_id, status, reason)
        self.metrics.failed.labels(self.channel).inc()
        log.warning(
            "outbound.failed",
            channel=self.channel,
            message_id=job.message_id,
            status=status.value,
            reason=reason,
        )
        if payload is not None and self.broker.channel is not None:
            with contextlib.suppress(BrokerUnavailable):
                await self.broker.publish(
                    self.broker.channel.default_exchange,
                    self.broker.names.failed_queue(self.channel),
                    {**payload, "reason": reason},
                )
        await self._tell_operator(job, status, reason)

    async def _tell_operator(
        self, job: OutboundJob, status: MessageStatus, reason: str | None = None
    ) -> None:
        if job.author_user_id is None:
            return
        frame: dict[str, Any] = {
            "type": "message_status",
            "conversation_id": job.conversation_id,
            "message_id": job.message_id,
            "status": status.value,
        }
        if reason:
            frame["reason"] = reason
        with contextlib.suppress(BrokerUnavailable):
            await self.broker.publish_to_operator(job.author_user_id, frame)
