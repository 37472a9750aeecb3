"""Shared test helpers: settings for an isolated run, broker clean-up, live clients.

Every test run gets its own RabbitMQ prefix and its own database, so runs and tests sharing the
local broker never see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import pytest
from sqlalchemy import select

from channels.registry import CHANNELS
from gateway.settings import Settings, load_settings
from gateway.storage.database import Database
from gateway.storage.schema import metadata
from gateway.topology import FETCHES, Names, outbound_queues, remove

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_ADMIN_URL = os.environ.get(
    "CG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("CG_TEST_REQUIRE_POSTGRES") == "1"
ORIGIN = "http://shop.example"
SECRET = "test-secret-key-0123456789abcdef-0123456789"


async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database URL, dropped afterwards; skips (or fails in CI) without one."""
    name = f"cg_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL}: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def rabbitmqctl(*args: str) -> None:
    """Stop or start the local broker's app (tests of broker outages)."""
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def free_port() -> int:
    """A TCP port nobody listens on now (for a gateway whose public URL must name its port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(write_config(tmp_path, **overrides))


def write_config(tmp_path: Path, **overrides: Any) -> Path:
    """A complete, isolated configuration file (fresh prefix, database under tmp_path)."""
    prefix = f"cgtest.{uuid.uuid4().hex[:10]}"
    data: dict[str, Any] = {
        "instance_name": "test",
        "log_level": "warning",
        "http": {"host": "127.0.0.1", "port": 0, "public_url": "http://127.0.0.1"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/gateway.sqlite3"},
        "amqp": {"url": AMQP_URL, "prefix": prefix, "publish_timeout_seconds": 3},
        "security": {"secret_key": SECRET, "allowed_origins": [ORIGIN]},
        "webchat": {"allowed_origins": [ORIGIN], "rate_per_second": 50, "burst": 50},
        "routing": {
            "offer_timeout_seconds": 20,
            "operator_stale_seconds": 4,
            "presence_interval_seconds": 1,
            "tick_seconds": 0.5,
        },
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    config = tmp_path / f"config-{secrets.token_hex(4)}.yaml"
    config.write_text(json.dumps(data))  # JSON is YAML
    return config


def provider_queues(settings: Settings) -> tuple[str, ...]:
    """The job queues (sends, file fetches) a gateway with these settings declares for
    provider channels."""
    names = Names(settings.amqp.prefix)
    queues: list[str] = []
    sources: dict[str, tuple[float, ...]] = {}
    for spec in CHANNELS:
        if spec.retry_delays is None or not spec.enabled(settings):
            continue
        delays = spec.retry_delays(settings)
        queues += outbound_queues(names, spec.name, delays)
        if spec.media_source is not None:
            sources.setdefault(spec.media_source, delays)
    for source, delays in sources.items():
        queues += outbound_queues(names, source, delays, FETCHES)
    queues.append(names.capability_queue("appeals"))
    return tuple(queues)


async def delete_broker_objects(prefix: str, extra_queues: tuple[str, ...] = ()) -> None:
    """Remove the durable queues and exchanges a test run declared under ``prefix``."""
    await remove(AMQP_URL, Names(prefix), extra_queues)


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


# Columns that move on their own (an operator's heartbeat), not because of what a test sent.
VOLATILE_COLUMNS = frozenset({("operator_presence", "last_seen_at")})

Snapshot = dict[str, tuple[int, str]]


async def snapshot_tables(database: Database) -> Snapshot:
    """Every table of the schema: its row count and a hash of its rows' contents."""
    out: Snapshot = {}
    async with database.read() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
            rows = sorted(repr(tuple(row)) for row in await conn.execute(select(*columns)))
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            out[table.name] = (len(rows), digest)
    return out


@asynccontextmanager
async def nothing_stored(database: Database) -> AsyncIterator[Snapshot]:
    """Assert that no table of the store changes inside the block.

    The snapshot before is taken once the store has settled (the outbox drained, then two
    equal readings in a row), so work still under way from earlier steps does not count as a
    change."""
    readings: list[Snapshot] = [await snapshot_tables(database)]

    async def settled() -> bool:
        readings.append(await snapshot_tables(database))
        return readings[-1] == readings[-2] and readings[-1]["outbox"][0] == 0

    await wait_for(settled, timeout=15, interval=0.1)
    before = readings[-1]
    yield before
    after = await snapshot_tables(database)
    changed = sorted(name for name in before if before[name] != after[name])
    assert not changed, f"the store changed: {[(n, before[n][0], after[n][0]) for n in changed]}"


class Customer:
    """A web chat visitor speaking the widget protocol."""

    def __init__(
        self, http: aiohttp.ClientSession, base: str, attributes: dict[str, str] | None = None
    ) -> None:
        self.attributes = attributes or {}  # language, topic: sent as query parameters
        self.http = http
        self.base = base
        self.token: str | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict[str, Any]] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.received: dict[int, dict[str, Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        body = {"token": self.token} if self.token else {}
        async with self.http.post(
            f"{self.base}/api/webchat/session", json=body, headers={"Origin": ORIGIN}
        ) as resp:
            assert resp.status == 200, await resp.text()
            self.token = (await resp.json())["token"]
        ws_base = self.base.replace("http", "ws", 1)
        self.ws = await self.http.ws_connect(
            f"{ws_base}/ws/webchat",
            params={"token": self.token, **self.attributes},
            headers={"Origin": ORIGIN},
        )
        ready = await self.ws.receive_json(timeout=5)
        assert ready["type"] == "ready"
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames.append(frame)
            if frame["type"] == "ack":
                self.acks[frame["client_id"]] = frame
            elif frame["type"] == "message" and frame["direction"] == "out":
                self.received[frame["id"]] = frame

    async def send(self, text: str, client_id: str | None = None) -> str:
        assert self.ws is not None
        client_id = client_id or uuid.uuid4().hex
        await self.ws.send_json({"type": "message", "client_id": client_id, "text": text})
        return client_id

    async def say(self, text: str, timeout: float = 10.0) -> dict[str, Any]:
        client_id = await self.send(text)
        return await wait_for(lambda: self.acks.get(client_id), timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class Operator:
    """An operator console speaking the operator websocket protocol with a bearer token."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict[str, Any]] = []
        self.offers: dict[int, dict[str, Any]] = {}
        self.revoked: list[int] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.message_frames: list[int] = []
        self.results: dict[str, dict[str, Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.auto_accept = False

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def connect(self, state: str | None = "available") -> None:
        ws_base = self.base.replace("http", "ws", 1)
        self.ws = await self.http.ws_connect(f"{ws_base}/ws/operator", headers=self.headers)
        self._reader = asyncio.create_task(self._read())
        await wait_for(lambda: any(f["type"] == "snapshot" for f in self.frames))
        if state:
            await self.act({"type": "state", "state": state})

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames.append(frame)
            kind = frame["type"]
            if kind == "snapshot":
                for offer in frame["offers"]:
                    self.offers[offer["id"]] = offer
                for conversation in frame["conversations"]:
                    for message in conversation["messages"]:
                        self.messages[message["id"]] = message
            elif kind == "offer":
                self.offers[frame["offer"]["id"]] = frame["offer"]
                if self.auto_accept:
                    await self.ws.send_json({"type": "accept", "offer_id": frame["offer"]["id"]})
            elif kind == "offer_revoked":
                self.revoked.append(frame["offer_id"])
            elif kind == "assigned":
                for message in frame["conversation"]["messages"]:
                    self.messages[message["id"]] = message
            elif kind == "message":
                self.message_frames.append(frame["message"]["id"])
                self.messages[frame["message"]["id"]] = frame["message"]
            elif kind == "result" and frame.get("ref"):
                self.results[frame["ref"]] = frame

    async def act(self, frame: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        assert self.ws is not None
        ref = uuid.uuid4().hex
        await self.ws.send_json({**frame, "ref": ref})
        return await wait_for(lambda: self.results.get(ref), timeout)

    async def get(self, path: str) -> dict[str, Any]:
        """A JSON API resource as this operator sees it (asserting a 200)."""
        async with self.http.get(f"{self.base}{path}", headers=self.headers) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return dict(await resp.json())

    def texts(self, direction: str = "in") -> list[str]:
        return [
            m["text"]
            for m in sorted(self.messages.values(), key=lambda m: m["id"])
            if m["direction"] == direction
        ]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class TcpProxy:
    """A TCP forwarder in front of a gateway, to lose a client's connection the way a network
    does, never with a websocket close frame.

    ``cut()`` aborts every connection: the gateway sees the TCP connection end at once, as when
    the browser or its machine process is killed. ``blackhole()`` stops forwarding and leaves
    the connections open, as when a cable is pulled or a laptop lid is closed: nothing arrives
    and nothing is closed, so only a heartbeat can tell.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.server: asyncio.Server | None = None
        self.blackholed = False
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        """Start listening on a free local port; the base URL to use instead of the target."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self._writers += [writer, upstream_writer]
        pumps = [
            asyncio.create_task(self._pump(reader, upstream_writer)),
            asyncio.create_task(self._pump(upstream_reader, writer)),
        ]
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65_536)
            if not data:
                if not self.blackholed:
                    writer.close()
                return
            if not self.blackholed:  # a black hole swallows what comes, and tells nobody
                writer.write(data)
                await writer.drain()

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()

    def blackhole(self) -> None:
        self.blackholed = True

    async def close(self) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class EventTap:
    """A durable queue of the test's own bound to the events exchange: what the outbox relay
    really published, seen on the broker itself (a socket's resync from the store cannot hide a
    lost event here). The queue outlives a broker restart; ``collect`` reconnects as needed."""

    def __init__(self, prefix: str, routing_key: str = "conversation.message") -> None:
        self.names = Names(prefix)
        self.routing_key = routing_key
        self.queue_name = f"{prefix}.tap.{uuid.uuid4().hex[:8]}"
        self.payloads: list[dict[str, Any]] = []
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None

    async def _open(self) -> aio_pika.abc.AbstractQueue:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect(AMQP_URL)
            self._queue = None
        if self._channel is None or self._channel.is_closed or self._queue is None:
            self._channel = channel = await self._connection.channel()
            events = await channel.declare_exchange(
                self.names.events, aio_pika.ExchangeType.TOPIC, durable=True
            )
            self._queue = await channel.declare_queue(self.queue_name, durable=True)
            await self._queue.bind(events, self.routing_key)
        return self._queue

    async def start(self) -> None:
        await self._open()

    async def collect(self) -> list[dict[str, Any]]:
        """Take what has arrived since the last call; everything seen so far."""
        try:
            queue = await self._open()
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                self.payloads.append(json.loads(message.body))
        except (ConnectionError, aio_pika.exceptions.AMQPError, RuntimeError):
            # The broker is away: what the queue holds is read once it is back.
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    await self._connection.close()
            self._connection = self._channel = self._queue = None
        return self.payloads

    def message_ids(self) -> list[int]:
        return [int(p["message_id"]) for p in self.payloads]

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, aio_pika.exceptions.AMQPError, RuntimeError):
            queue = await self._open()
            await queue.delete(if_unused=False, if_empty=False)
        if self._connection is not None:
            await self._connection.close()


class ReplyHoldingProxy(TcpProxy):
    """A TCP forwarder that can stop passing on what the gateway answers while what the client
    sends still arrives: a message is stored, and its acknowledgement never reaches the client
    (the window between a gateway's commit and the client hearing of it, held open)."""

    holding = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self._writers += [writer, upstream_writer]
        pumps = [
            asyncio.create_task(self._pump(reader, upstream_writer)),
            asyncio.create_task(self._replies(upstream_reader, writer)),
        ]
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)

    async def _replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65_536):
            if not self.holding:
                writer.write(data)
                await writer.drain()
        writer.close()


def live_message_ids(operator: Operator) -> list[int]:
    """The message ids an operator's socket was pushed after its snapshot (message frames and
    assignments), in order, repeats included."""
    ids: list[int] = []
    for frame in operator.frames:
        if frame["type"] == "message":
            ids.append(int(frame["message"]["id"]))
        elif frame["type"] == "assigned":
            ids += [int(m["id"]) for m in frame["conversation"]["messages"]]
    return ids


def snapshot_message_ids(operator: Operator) -> set[int]:
    """The message ids an operator's socket had in its snapshots (from the store, not pushed)."""
    return {
        int(message["id"])
        for frame in operator.frames
        if frame["type"] == "snapshot"
        for conversation in frame["conversations"]
        for message in conversation["messages"]
    }


def served_at(port: int) -> dict[str, dict[str, Any]]:
    """Settings sections for a gateway that a browser opens at its own origin on ``port``."""
    origin = f"http://127.0.0.1:{port}"
    return {
        "http": {"host": "127.0.0.1", "port": port, "public_url": origin},
        "security": {"allowed_origins": [origin]},
    }
