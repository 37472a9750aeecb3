"""Raw ceilings of the parts the gateway is built from, measured on this machine.

Why: an end-to-end figure means little alone. Next to the bare limits of an aiohttp websocket
handler (parse JSON, answer JSON, nothing stored) and of RabbitMQ confirmed publish+consume
through aio-pika, it says how much the product's own work (storage, routing, pushes) costs.
Everything talks to 127.0.0.1 only and every run is bounded in count and time.

    python -m bench.raw_limits
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aiohttp import web

LIMIT_SECONDS = 120.0


def percentiles(samples: Sequence[float], ps: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles: ``{"p50": …, "p95": …, "p99": …}`` (0.0 for no samples)."""
    if not samples:
        return {f"p{p}": 0.0 for p in ps}
    ordered = sorted(samples)
    return {f"p{p}": ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] for p in ps}


def _result(name: str, count: int, seconds: float, latencies_ms: list[float]) -> dict[str, Any]:
    pct = percentiles(latencies_ms)
    return {
        "name": name,
        "messages": count,
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(pct["p50"], 3),
        "p95_ms": round(pct["p95"], 3),
        "p99_ms": round(pct["p99"], 3),
    }


async def _echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            frame = json.loads(msg.data)
            await ws.send_str(json.dumps({"type": "ack", "client_id": frame["client_id"]}))
    return ws


async def aiohttp_ws_limit(
    clients: int = 50, messages_per_client: int = 200, payload_bytes: int = 100
) -> dict[str, Any]:
    """Closed-loop JSON round trips through a bare aiohttp websocket handler."""
    app = web.Application()
    app.router.add_get("/ws", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    latencies: list[float] = []
    text = "x" * payload_bytes

    async def client(http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            for i in range(messages_per_client):
                started = time.perf_counter()
                await ws.send_str(
                    json.dumps({"type": "message", "client_id": str(i), "text": text})
                )
                await ws.receive(timeout=10)
                latencies.append((time.perf_counter() - started) * 1000)

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            started = time.perf_counter()
            async with asyncio.timeout(LIMIT_SECONDS):
                await asyncio.gather(*(client(http) for _ in range(clients)))
            elapsed = time.perf_counter() - started
    finally:
        await runner.cleanup()
    return _result("aiohttp_ws_echo", len(latencies), elapsed, latencies)


async def amqp_confirmed_limit(
    amqp_url: str, messages: int = 20_000, payload_bytes: int = 200, in_flight: int = 256
) -> dict[str, Any]:
    """Persistent publishes with confirms into a quorum queue, consumed and acked meanwhile."""
    name = f"bench.raw.{secrets.token_hex(6)}"
    connection = await aio_pika.connect(amqp_url)
    latencies: list[float] = []
    done = asyncio.Event()
    body_pad = "x" * payload_bytes
    try:
        publish_channel = await connection.channel(publisher_confirms=True)
        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=500)
        queue = await publish_channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            sent = json.loads(message.body)["t"]
            latencies.append((time.perf_counter() - sent) * 1000)
            await message.ack()
            if len(latencies) >= messages:
                done.set()

        consume_queue = await consume_channel.get_queue(name)
        tag = await consume_queue.consume(on_message)
        exchange = publish_channel.default_exchange
        started = time.perf_counter()
        async with asyncio.timeout(LIMIT_SECONDS):
            for window in range(0, messages, in_flight):
                batch = range(window, min(window + in_flight, messages))
                await asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(
                                json.dumps(
                                    {"t": time.perf_counter(), "i": i, "p": body_pad}
                                ).encode(),
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            ),
                            routing_key=name,
                        )
                        for i in batch
                    )
                )
            await done.wait()
        elapsed = time.perf_counter() - started
        await consume_queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return _result("amqp_confirmed_publish_consume", len(latencies), elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    async def both() -> list[dict[str, Any]]:
        return [
            await aiohttp_ws_limit(clients=args.clients),
            await amqp_confirmed_limit(args.amqp_url, messages=args.messages),
        ]

    results = asyncio.run(both())
    print(f"{'part':<34} {'msg/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['name']:<34} {r['per_second']:>10.0f} "
            f"{r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
