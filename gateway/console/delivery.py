"""This instance's delivery queue: pushes for the sockets it holds, plus its timers.

The queue is exclusive to the instance (gone when the instance is), bound to ``outbound.webchat``
and, while an operator has a socket here, to that operator's key. Two small loops also live
here: the presence heartbeat (so a crashed instance's operators are noticed) and the router tick
(published by every instance, consumed by the one active router).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import structlog
from aio_pika.abc import AbstractIncomingMessage

from channels.webchat.hub import WebchatHub
from gateway.broker import Broker, BrokerUnavailable
from gateway.console.hub import OperatorHub
from gateway.events import Event, conversation_id_of, outbound_event
from gateway.logs import ids_from_headers
from gateway.model import MessageStatus
from gateway.storage.routing_state import RoutingState
from gateway.topology import Names

log = structlog.get_logger()


class InstanceDelivery:
    def __init__(self, broker: Broker, operators: OperatorHub, webchat: WebchatHub) -> None:
        self.broker = broker
        self.operators = operators
        self.webchat = webchat
        self.consumer_tag: str | None = None

    async def start(self) -> None:
        assert self.broker.connection is not None
        channel = await self.broker.connection.channel()
        await channel.set_qos(prefetch_count=256)
        queue = await channel.declare_queue(
            self.broker.names.instance_queue(self.broker.instance_id),
            exclusive=True,
            auto_delete=True,
        )
        await queue.bind(self.broker.names.events, outbound_event("webchat"))
        await queue.bind(self.broker.names.events, Event.CLOSED)
        self.operators.delivery_queue = queue
        # Operators who connected before the broker did (binding twice is harmless).
        for operator_id in self.operators.operator_ids:
            await queue.bind(self.broker.names.operators, Names.operator_key(operator_id))
        self.consumer_tag = await queue.consume(self._on_message)
        self.broker.on_reconnect(self.resync)

    async def resync(self) -> None:
        try:
            await self.operators.resync()
            await self.webchat.resync()
            log.info("delivery.resynced")
        except Exception:
            log.exception("delivery.resync.failed")

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        with structlog.contextvars.bound_contextvars(**ids_from_headers(message.headers)):
            try:
                payload = json.loads(message.body)
                if message.exchange == self.broker.names.operators:
                    operator_id = int((message.routing_key or "op.0").split(".", 1)[1])
                    await self.operators.push(operator_id, payload)
                elif message.routing_key == outbound_event("webchat"):
                    delivered = await self.webchat.deliver(
                        int(payload["conversation_id"]),
                        int(payload["message_id"]),
                        payload.get("message"),
                    )
                    if delivered and payload.get("operator_id"):
                        await self.broker.publish_to_operator(
                            int(payload["operator_id"]),
                            {
                                "type": "message_status",
                                "conversation_id": int(payload["conversation_id"]),
                                "message_id": int(payload["message_id"]),
                                "status": MessageStatus.SENT.value,
                            },
                        )
                elif message.routing_key == Event.CLOSED:
                    await self.webchat.closed(conversation_id_of(payload))
            except Exception:
                log.exception("delivery.push.failed", key=message.routing_key)
            try:
                await message.ack()
            except Exception as exc:
                log.info("delivery.ack.lost", error=str(exc))


async def presence_loop(
    state: RoutingState, hub: OperatorHub, instance_id: str, every: float
) -> None:
    """Tell the store which operators this instance still holds sockets for."""
    while True:
        try:
            await state.touch(hub.operator_ids, instance_id)
        except Exception:
            log.exception("presence.touch.failed")
        await asyncio.sleep(every)


async def tick_loop(broker: Broker, every: float) -> None:
    """Publish router ticks; they expire quickly so an absent router finds no backlog."""
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(BrokerUnavailable):
            await broker.publish_event(Event.ROUTER_TICK, {}, expiration=max(every * 3, 1.0))
