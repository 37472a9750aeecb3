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
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from prometheus_client import Counter

from gateway import errors
from gateway.broker import Broker, BrokerUnavailable
from gateway.jobs import JobWorker, TemporaryFailure, retry_delay
from gateway.model import MessageStatus
from gateway.storage.outbound import OutboundJob, OutboundStore

log = structlog.get_logger()

__all__ = ["OutboundWorker", "PermanentFailure", "Sender", "TemporaryFailure", "retry_delay"]


class PermanentFailure(errors.PermanentFailure):
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


@dataclass
class DispatchMetrics:
    sent: Counter
    failed: Counter
    retried: Counter


class OutboundWorker(JobWorker):
    def __init__(
        self,
        sender: Sender,
        store: OutboundStore,
        broker: Broker,
        delays: tuple[float, ...],
        metrics: DispatchMetrics,
    ) -> None:
        super().__init__(sender.channel, broker, delays)
        self.sender = sender
        self.store = store
        self.metrics = metrics

    @property
    def channel(self) -> str:
        return self.sender.channel

    async def handle(self, payload: dict[str, Any], attempt: int, headers: dict[str, str]) -> None:
        message_id = int(payload["message_id"])
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
            if self.out_of_retries(attempt):
                await self._give_up(job, MessageStatus.FAILED, exc.reason, payload)
                return
            delay = await self.retry(payload, headers, attempt, exc.retry_after)
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
        if payload is not None:
            await self.keep_failed(payload, reason)
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
        # If the broker is away, the console reads the status from the store on reconnect.
        with contextlib.suppress(BrokerUnavailable):
            await self.broker.publish_to_operator(job.author_user_id, frame)
