"""End-to-end load: N web chat customers and M operators through the real pipeline.

Starts a gateway in its own process (fresh SQLite, the local RabbitMQ under a unique prefix), lets
M operators go available and accept every offer, and N customers send messages in a closed loop
(each waits for its acknowledgement, then thinks briefly). Operators reply to every message.
Reports sustained messages per second delivered to operators, and latency percentiles for:
customer send -> stored acknowledgement, customer send -> operator receipt, operator reply ->
customer receipt. Then measures the raw limits of the parts (bench.raw_limits) in the same run
and prints the ratios.

    python -m bench.load --customers 50 --operators 10 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.raw_limits import aiohttp_ws_limit, amqp_confirmed_limit, percentiles
from gateway.logs import configure_logging
from gateway.model import Role
from gateway.settings import load_settings
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade_async
from gateway.storage.users import UserStore
from gateway.topology import Names, remove

ORIGIN = "http://bench.local"


@dataclass
class Stats:
    sent_at: dict[str, float] = field(default_factory=dict)
    ack: list[float] = field(default_factory=list)
    to_operator: list[float] = field(default_factory=list)
    routed: list[float] = field(default_factory=list)
    reply_at: dict[str, float] = field(default_factory=dict)
    to_customer: list[float] = field(default_factory=list)
    delivered: int = 0
    errors: int = 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp: Path, customers: int, operators: int, port: int) -> Path:
    capacity = max(3, -(-customers // operators) + 2)
    data = {
        "instance_name": "bench",
        "log_level": "error",
        "http": {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
        "database": {
            "url": f"sqlite+aiosqlite:///{tmp}/bench.sqlite3",
            "sqlite_synchronous": os.environ.get("BENCH_SYNC", "FULL"),
        },
        "amqp": {
            "url": os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
            "prefix": f"bench.{uuid.uuid4().hex[:8]}",
        },
        "security": {
            "secret_key": "bench-secret-key-0123456789abcdef0123",
            "allowed_origins": [ORIGIN],
        },
        "webchat": {"allowed_origins": [ORIGIN], "rate_per_second": 1000, "burst": 1000},
        "routing": {"chat_capacity": min(capacity, 50), "offer_timeout_seconds": 60},
    }
    path = tmp / "bench.yaml"
    path.write_text(json.dumps(data))
    return path


async def _operator(
    http: aiohttp.ClientSession, ws_base: str, token: str, stats: Stats, stop: asyncio.Event
) -> None:
    ws = await http.ws_connect(
        f"{ws_base}/ws/operator", headers={"Authorization": f"Bearer {token}"}
    )
    await ws.send_json({"type": "state", "state": "available"})
    seen: set[int] = set()
    while not stop.is_set():
        try:
            msg = await ws.receive(timeout=0.5)
        except TimeoutError:
            continue
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        frame = json.loads(msg.data)
        kind = frame["type"]
        if kind == "offer":
            await ws.send_json({"type": "accept", "offer_id": frame["offer"]["id"]})
        messages = []
        if kind == "message":
            messages = [(frame["conversation_id"], frame["message"])]
        elif kind == "assigned":
            conv = frame["conversation"]
            messages = [(conv["id"], m) for m in conv["messages"]]
        live = kind == "message"
        for conversation_id, message in messages:
            if message["direction"] != "in" or message["id"] in seen:
                continue
            seen.add(message["id"])
            client_id = message["text"].split(" ", 1)[0]
            sent = stats.sent_at.get(client_id)
            if sent is not None:
                (stats.to_operator if live else stats.routed).append(time.perf_counter() - sent)
                stats.delivered += 1
            reply_id = "r" + client_id
            stats.reply_at[reply_id] = time.perf_counter()
            await ws.send_json(
                {
                    "type": "reply",
                    "conversation_id": conversation_id,
                    "client_id": reply_id,
                    "text": f"{reply_id} thanks, looking into it",
                }
            )
    await ws.close()


async def _customer(
    http: aiohttp.ClientSession, base: str, stats: Stats, stop: asyncio.Event, think: float
) -> None:
    async with http.post(
        f"{base}/api/webchat/session", json={}, headers={"Origin": ORIGIN}
    ) as resp:
        token = (await resp.json())["token"]
    ws_base = base.replace("http", "ws", 1)
    ws = await http.ws_connect(f"{ws_base}/ws/webchat?token={token}", headers={"Origin": ORIGIN})
    pending: dict[str, asyncio.Future[None]] = {}

    async def reader() -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame["type"] == "ack":
                future = pending.pop(frame["client_id"], None)
                if future is not None and not future.done():
                    future.set_result(None)
            elif frame["type"] == "message" and frame["direction"] == "out":
                reply_id = frame["text"].split(" ", 1)[0]
                started = stats.reply_at.pop(reply_id, None)
                if started is not None:
                    stats.to_customer.append(time.perf_counter() - started)
            elif frame["type"] == "error":
                stats.errors += 1

    task = asyncio.create_task(reader())
    while not stop.is_set():
        client_id = uuid.uuid4().hex
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending[client_id] = future
        started = time.perf_counter()
        stats.sent_at[client_id] = started
        await ws.send_json(
            {"type": "message", "client_id": client_id, "text": f"{client_id} hello"}
        )
        try:
            await asyncio.wait_for(future, timeout=10)
        except TimeoutError:
            stats.errors += 1
            continue
        stats.ack.append(time.perf_counter() - started)
        await asyncio.sleep(think)
    await ws.close()
    task.cancel()


def _summary(name: str, samples: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {"name": name, "count": len(ms), **{f"{k}_ms": v for k, v in percentiles(ms).items()}}


async def _start_gateway(config: Path, port: int, log: Path) -> asyncio.subprocess.Process:
    """The gateway in its own process, as in production (the load has the other core)."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "--config", str(config), "run", stdout=out, stderr=out
        )
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            if proc.returncode is not None:
                raise RuntimeError(f"the gateway exited; see {log}")
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("the gateway did not become ready in 30 s")


async def run(
    customers: int, operators: int, seconds: float, think: float, raw: bool
) -> dict[str, Any]:
    configure_logging("error", "console")
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        config = _config(Path(tmp), customers, operators, port)
        settings = load_settings(config)
        await upgrade_async(settings.database.url)
        db = Database(settings.database.url)
        users = UserStore(db)
        tokens = []
        for i in range(operators):
            user = await users.add(f"op{i}", "bench-password", Role.OPERATOR)
            tokens.append(await users.create_api_token(user, "bench"))
        await db.dispose()
        gateway = await _start_gateway(config, port, Path(tmp) / "gateway.log")
        base = f"http://127.0.0.1:{port}"
        stats = Stats()
        stop = asyncio.Event()
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                ws_base = base.replace("http", "ws", 1)
                ops = [
                    asyncio.create_task(_operator(http, ws_base, t, stats, stop)) for t in tokens
                ]
                await asyncio.sleep(0.5)
                started = time.perf_counter()
                custs = [
                    asyncio.create_task(_customer(http, base, stats, stop, think))
                    for _ in range(customers)
                ]
                await asyncio.sleep(seconds)
                stop.set()
                elapsed = time.perf_counter() - started
                await asyncio.gather(*custs, return_exceptions=True)
                await asyncio.sleep(1.0)
                await asyncio.gather(*ops, return_exceptions=True)
        finally:
            gateway.terminate()
            await asyncio.wait_for(gateway.wait(), timeout=30)
            await remove(settings.amqp.url.get_secret_value(), Names(settings.amqp.prefix))
    result: dict[str, Any] = {
        "customers": customers,
        "operators": operators,
        "think_seconds": think,
        "seconds": round(elapsed, 2),
        "acked": len(stats.ack),
        "delivered_to_operators": stats.delivered,
        "messages_per_second": round(stats.delivered / elapsed, 1),
        "errors": stats.errors,
        "latency": [
            _summary("customer send -> stored ack", stats.ack),
            _summary("send -> operator, new contact (routed)", stats.routed),
            _summary("send -> operator, assigned conversation", stats.to_operator),
            _summary("operator reply -> customer receipt", stats.to_customer),
        ],
    }
    if raw:
        ws_limit = await aiohttp_ws_limit(clients=customers)
        amqp_limit = await amqp_confirmed_limit(
            os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
        )
        result["raw"] = [ws_limit, amqp_limit]
        e2e = result["messages_per_second"]
        result["ratios"] = {
            "end_to_end / aiohttp_ws_echo": round(e2e / ws_limit["per_second"], 3),
            "end_to_end / amqp_confirmed": round(e2e / amqp_limit["per_second"], 3),
        }
    return result


def _print(result: dict[str, Any]) -> None:
    r = result
    print(f"\n{r['customers']} customers, {r['operators']} operators, {r['seconds']} s:")
    print(
        f"  {r['messages_per_second']} msg/s delivered to operators "
        f"({r['delivered_to_operators']} of {r['acked']} acked, {r['errors']} errors)"
    )
    print(f"{'latency':<38} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for row in r["latency"]:
        cells = " ".join(f"{row[k]:>8.1f}" for k in ("p50_ms", "p95_ms", "p99_ms"))
        print(f"{row['name']:<38} {row['count']:>7} {cells}")
    for raw in r.get("raw", []):
        print(
            f"raw {raw['name']:<34} {raw['per_second']:>10.0f} msg/s"
            f"  p50 {raw['p50_ms']:.2f} ms  p99 {raw['p99_ms']:.2f} ms"
        )
    for name, ratio in r.get("ratios", {}).items():
        print(f"ratio {name:<40} {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--operators", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--think", type=float, default=0.05, help="customer pause after each ack (s)"
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw limits of the parts")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = asyncio.run(
        run(args.customers, args.operators, args.seconds, args.think, not args.no_raw)
    )
    _print(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
