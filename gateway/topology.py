"""RabbitMQ names and arguments, all under one configurable prefix.

Why a prefix: several deployments (or test runs) share one broker without seeing each other's
messages. Durable queues are quorum queues; the per-instance delivery queue is the exception
(exclusive, so classic) because it only carries pushes to sockets that instance holds, and the
store is the mailbox that is replayed after any loss.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from gateway.events import ROUTER_BINDINGS, Family


@dataclass(frozen=True, slots=True)
class Names:
    prefix: str

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def operators(self) -> str:
        return f"{self.prefix}.operators"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.dlx"

    def capability_queue(self, name: str) -> str:
        """The durable queue a capability's service consumes (``<prefix>.appeals``)."""
        return f"{self.prefix}.{name}"

    @property
    def router_queue(self) -> str:
        return f"{self.prefix}.router"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}.dead"

    def outbound_queue(self, channel: str, family: str = "out") -> str:
        """Jobs of one kind for one channel that every instance consumes: replies waiting to
        be sent (``out``), customers' files waiting to be fetched (``media``)."""
        return f"{self.prefix}.{family}.{channel}"

    def retry_queue(self, channel: str, delay_seconds: float, family: str = "out") -> str:
        """Where a failed job waits ``delay_seconds`` before it goes back to its queue."""
        return f"{self.prefix}.{family}.{channel}.retry.{int(delay_seconds * 1000)}ms"

    def failed_queue(self, channel: str, family: str = "out") -> str:
        """Jobs that failed every retry, kept for inspection."""
        return f"{self.prefix}.{family}.{channel}.failed"

    def instance_queue(self, instance_id: str) -> str:
        return f"{self.prefix}.instance.{instance_id}"

    @staticmethod
    def operator_key(operator_id: int) -> str:
        return f"op.{operator_id}"


@dataclass(frozen=True, slots=True)
class Topology:
    events: AbstractExchange
    operators: AbstractExchange
    router_queue: AbstractQueue


async def declare(channel: AbstractChannel, names: Names) -> Topology:
    """Declare exchanges and durable queues; safe to run any number of times."""
    events = await channel.declare_exchange(names.events, aio_pika.ExchangeType.TOPIC, durable=True)
    operators = await channel.declare_exchange(
        names.operators, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dlx = await channel.declare_exchange(
        names.dead_letters, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead = await channel.declare_queue(
        names.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(dlx)
    router_args: dict[str, Any] = {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        "x-dead-letter-exchange": names.dead_letters,
        "x-delivery-limit": 20,
    }
    router_queue = await channel.declare_queue(
        names.router_queue, durable=True, arguments=router_args
    )
    for key in ROUTER_BINDINGS:
        await router_queue.bind(events, key)
    return Topology(events, operators, router_queue)


@dataclass(frozen=True, slots=True)
class JobKind:
    """A family of retried jobs: its queue names' part and its routing keys' prefix."""

    family: str
    key_prefix: str

    def key(self, name: str) -> str:
        return f"{self.key_prefix}.{name}"


SENDS = JobKind("out", Family.OUTBOUND)  # replies to send on a provider channel
FETCHES = JobKind("media", Family.MEDIA)  # customers' files to bring in from a provider


async def declare_outbound(
    channel: AbstractChannel,
    names: Names,
    name: str,
    delays: tuple[float, ...],
    kind: JobKind = SENDS,
) -> AbstractQueue:
    """The queue a channel's worker consumes, its retry queues (one per delay: a message waits
    there for the delay, then dead-letters back to the queue's routing key), and the queue of
    jobs that failed for good."""
    events = await channel.get_exchange(names.events)
    queue = await channel.declare_queue(
        names.outbound_queue(name, kind.family),
        durable=True,
        arguments={"x-queue-type": "quorum"},
    )
    await queue.bind(events, kind.key(name))
    for delay in delays:
        await channel.declare_queue(
            names.retry_queue(name, delay, kind.family),
            durable=True,
            arguments={
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": names.events,
                "x-dead-letter-routing-key": kind.key(name),
            },
        )
    await channel.declare_queue(
        names.failed_queue(name, kind.family),
        durable=True,
        arguments={"x-queue-type": "quorum"},
    )
    return queue


def outbound_queues(
    names: Names, name: str, delays: tuple[float, ...], kind: JobKind = SENDS
) -> list[str]:
    return [
        names.outbound_queue(name, kind.family),
        names.failed_queue(name, kind.family),
        *(names.retry_queue(name, d, kind.family) for d in delays),
    ]


async def remove(url: str, names: Names, extra_queues: tuple[str, ...] = ()) -> None:
    """Delete a deployment's durable queues and exchanges (tests, benchmarks, decommissioning)."""
    connection = await aio_pika.connect(url)
    try:
        for queue in (names.router_queue, names.dead_letter_queue, *extra_queues):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(queue)
        for exchange in (names.events, names.operators, names.dead_letters):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()
