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

# Routing keys the router listens to: new messages, requeues, presence changes, ticks.
ROUTER_BINDINGS = ("conversation.#", "routing.#", "operator.#", "router.tick")


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

    @property
    def router_queue(self) -> str:
        return f"{self.prefix}.router"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}.dead"

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


async def remove(url: str, names: Names) -> None:
    """Delete a deployment's durable queues and exchanges (tests, benchmarks, decommissioning)."""
    connection = await aio_pika.connect(url)
    try:
        for queue in (names.router_queue, names.dead_letter_queue):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(queue)
        for exchange in (names.events, names.operators, names.dead_letters):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()
