"""The RabbitMQ connection of one gateway instance and confirmed, persistent publishing.

Why a class: the connection is robust (it reconnects by itself), and a few parts (the outbox
relay, the router, the socket hubs) need to publish and to know whether the broker is there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from gateway.errors import BrokerUnavailable
from gateway.topology import Names, Topology, declare

log = structlog.get_logger()

ReconnectCallback = Callable[[], Coroutine[Any, Any, None]]


CONNECT_TIMEOUT = 10.0  # seconds for one connection attempt, handshake included


class Broker:
    def __init__(
        self,
        url: str,
        names: Names,
        instance_id: str,
        publish_timeout: float,
        heartbeat_seconds: int = 2,
    ) -> None:
        self.url = url
        self.heartbeat_seconds = heartbeat_seconds
        self.names = names
        self.instance_id = instance_id
        self.publish_timeout = publish_timeout
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractChannel | None = None
        self.topology: Topology | None = None
        self._on_reconnect: list[ReconnectCallback] = []

    async def connect(self, attempts: int | None = None) -> None:
        """Connect and declare the topology, retrying until the broker answers."""
        delay = 0.5
        tried = 0
        while True:
            tried += 1
            try:
                self.connection = await aio_pika.connect_robust(
                    self.url,
                    client_properties={"connection_name": f"contact-gateway {self.instance_id}"},
                    reconnect_interval=1,
                    fail_fast=True,
                    heartbeat=self.heartbeat_seconds,
                    # A broker that is still starting can accept the socket and never finish
                    # the handshake: give up on this try and retry.
                    timeout=CONNECT_TIMEOUT,
                )
                break
            except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
                if attempts is not None and tried >= attempts:
                    raise BrokerUnavailable(str(exc)) from exc
                log.warning("broker.connect.retry", error=str(exc), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.topology = await declare(self.channel, self.names)
        self.connection.reconnect_callbacks.add(self._reconnected)
        log.info("broker.connected", prefix=self.names.prefix)

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        self._on_reconnect.append(callback)

    def _reconnected(self, *_: Any) -> None:
        log.info("broker.reconnected")
        for callback in self._on_reconnect:
            asyncio.get_running_loop().create_task(callback())

    @property
    def is_connected(self) -> bool:
        return (
            self.connection is not None
            and not self.connection.is_closed
            and self.channel is not None
            and not self.channel.is_closed
        )

    async def publish(
        self,
        exchange: AbstractExchange | None,
        routing_key: str,
        payload: dict[str, Any],
        headers: dict[str, Any] | None = None,
        expiration: float | None = None,
    ) -> None:
        """Publish persistently and wait for the broker's confirm."""
        if exchange is None or not self.is_connected:
            raise BrokerUnavailable("not connected")
        message = aio_pika.Message(
            body=json.dumps(payload, separators=(",", ":")).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers or {},
            expiration=expiration,
        )
        try:
            # The whole call is bounded, not only the wait for the confirm: aio-pika first waits
            # for a reconnecting connection to be ready, with no limit of its own.
            async with asyncio.timeout(self.publish_timeout):
                await exchange.publish(
                    message, routing_key=routing_key, timeout=self.publish_timeout
                )
        except (
            TimeoutError,
            aio_pika.exceptions.AMQPError,
            aio_pika.exceptions.DeliveryError,
            ConnectionError,
            RuntimeError,
        ) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def publish_event(self, routing_key: str, payload: dict[str, Any], **kw: Any) -> None:
        await self.publish(
            self.topology.events if self.topology else None, routing_key, payload, **kw
        )

    async def publish_to_operator(self, operator_id: int, frame: dict[str, Any]) -> None:
        await self.publish(
            self.topology.operators if self.topology else None,
            Names.operator_key(operator_id),
            frame,
        )

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
