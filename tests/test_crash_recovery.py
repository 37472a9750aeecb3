"""The gateway process killed with SIGKILL while customers are sending: after a restart every
acknowledged message is delivered to the operator, and none is stored or delivered twice.

What is checked is what happened, not what the store can show afterwards: a queue of the test's
own on the events exchange sees every event the outbox relay publishes, and an operator
connected across the customers' resends must be pushed every message stored after their
snapshot. The kill lands on events (enough acknowledgements, and one message stored whose
acknowledgement is held back), not at a fixed time."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from gateway.events import Event
from gateway.model import Role
from gateway.settings import load_settings
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade_async
from gateway.storage.schema import messages, outbox
from gateway.storage.users import UserStore
from tests.processes import GatewayProcess
from tests.support import (
    Customer,
    EventTap,
    Operator,
    ReplyHoldingProxy,
    delete_broker_objects,
    free_port,
    live_message_ids,
    snapshot_message_ids,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow


async def _keep_sending(customer: Customer, sent: list[str], tag: str) -> None:
    i = 0
    while True:
        client_id = f"{tag}-{i:05d}"
        try:
            await customer.send(f"{tag} message {i}", client_id=client_id)
        except (ConnectionError, RuntimeError, AssertionError):
            return
        sent.append(client_id)
        i += 1
        await asyncio.sleep(0.03)


async def _stored_id(db: Database, client_id: str) -> int | None:
    """The id of the message a web chat client sent with ``client_id``, if it was stored."""
    async with db.read() as conn:
        query = select(messages.c.id).where(messages.c.dedupe_key.like(f"webchat:%:{client_id}"))
        return (await conn.execute(query)).scalar_one_or_none()


async def _outbox_message_ids(db: Database) -> set[int]:
    async with db.read() as conn:
        rows = (await conn.execute(select(outbox.c.routing_key, outbox.c.payload))).all()
    return {int(r.payload["message_id"]) for r in rows if r.routing_key == Event.MESSAGE}


async def _outbox_size(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


async def _inbound_ids(db: Database) -> set[int]:
    async with db.read() as conn:
        query = select(messages.c.id).where(messages.c.direction == "in")
        return set((await conn.execute(query)).scalars())


async def test_sigkill_loses_and_doubles_nothing(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": base},
        routing={"chat_capacity": 10, "offer_timeout_seconds": 30, "tick_seconds": 0.5},
        log_level="info",
    )
    settings = load_settings(config)
    await upgrade_async(settings.database.url)
    db = Database(settings.database.url)
    users = UserStore(db)
    ada = await users.add("ada", "ada-password", Role.OPERATOR)
    token = await users.create_api_token(ada, "test")

    gateway = GatewayProcess(config, tmp_path / "gateway.log")
    http = aiohttp.ClientSession()
    tap = EventTap(settings.amqp.prefix, Event.MESSAGE)
    proxy = ReplyHoldingProxy("127.0.0.1", port)
    try:
        await gateway.start(base)
        await tap.start()
        operator = Operator(http, base, token)
        operator.auto_accept = True
        await operator.connect()
        customers = [Customer(http, base) for _ in range(3)]
        # One more customer talks through a proxy that can hold the gateway's answers back.
        held = Customer(http, await proxy.start())
        customers.append(held)
        for customer in customers:
            await customer.connect()
        await held.say("the held customer says hello")
        sent: list[list[str]] = [[] for _ in customers]
        senders = [
            asyncio.create_task(_keep_sending(c, sent[n], f"c{n}"))
            for n, c in enumerate(customers[:3])
        ]
        # The kill lands while messages are in flight and events are being pushed: once enough
        # acknowledgements have come back, and every conversation is with the operator.
        await wait_for(lambda: sum(len(c.acks) for c in customers) >= 40, timeout=60)
        await wait_for(lambda: len(operator.message_frames) >= 5, timeout=30)
        # Stored but not acknowledged, every time: the message is committed, its ack is held.
        proxy.holding = True
        held_id = "held-00000"
        await held.send("held message", client_id=held_id)
        sent[3].append(held_id)
        await wait_for(lambda: _stored_id(db, held_id), timeout=30, interval=0.01)
        gateway.kill()
        assert held_id not in held.acks
        proxy.holding = False
        await asyncio.gather(*senders)
        acked_before = {cid for c in customers for cid in c.acks}
        assert len(acked_before) > 10
        pending_at_kill = await _outbox_message_ids(db)
        for client in (*customers, operator):
            await client.close()

        await gateway.start(base)
        # The operator is back before the customers are, so what follows must be pushed live.
        operator = Operator(http, base, token)
        operator.auto_accept = True
        await operator.connect()
        for offer_id in list(operator.offers):
            await operator.act({"type": "accept", "offer_id": offer_id})
        # Customers come back and resend what was never acknowledged, with the same ids, a few
        # at a time as a widget does (a burst above the rate limit would be refused).
        for n, customer in enumerate(customers):
            await customer.connect()
            unacked = [cid for cid in sent[n] if cid not in customer.acks]
            for start in range(0, len(unacked), 20):
                window = unacked[start : start + 20]
                for client_id in window:
                    number = int(client_id.split("-")[1])
                    text = "held message" if client_id == held_id else f"c{n} message {number}"
                    await customer.send(text, client_id)
                await wait_for(lambda w=window, c=customer: set(w) <= set(c.acks), timeout=30)
        assert held.acks[held_id]["id"] == await _stored_id(db, held_id)
        acked_ids = {ack["id"] for c in customers for ack in c.acks.values()}
        await wait_for(lambda: acked_ids <= set(operator.messages), timeout=30)
        # Every conversation is with the operator again: a new message is pushed to them live.
        fresh = [(await c.say(f"c{n} after the restart"))["id"] for n, c in enumerate(customers)]
        await wait_for(lambda: set(fresh) <= set(operator.message_frames), timeout=30)

        async def outbox_drained() -> bool:
            return await _outbox_size(db) == 0

        await wait_for(outbox_drained, timeout=30)
        stored = await _inbound_ids(db)

        async def all_published() -> bool:
            await tap.collect()
            return stored <= set(tap.message_ids())

        await wait_for(all_published, timeout=30)
        published = Counter(tap.message_ids())
        twice = {message_id for message_id, count in published.items() if count > 1}
        # The relay publishes again only what it had not deleted when the process died.
        assert twice <= pending_at_kill, sorted(twice - pending_at_kill)
        # After the operator's snapshot, every stored message reached them as a push, once.
        missing = stored - snapshot_message_ids(operator) - set(live_message_ids(operator))
        assert not missing, sorted(missing)
        assert len(operator.message_frames) == len(set(operator.message_frames))

        async with db.read() as conn:
            total = (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
            distinct = (
                await conn.execute(select(func.count(func.distinct(messages.c.text))))
            ).scalar_one()
        assert total == distinct == sum(len(s) for s in sent) + 1 + len(fresh)
        for client in (*customers, operator):
            await client.close()
    finally:
        await http.close()
        gateway.stop()
        await proxy.close()
        await tap.close()
        await db.dispose()
        await delete_broker_objects(settings.amqp.prefix)
