"""The gateway process killed with SIGKILL while customers are sending: after a restart every
acknowledged message is delivered to the operator, and none is stored or delivered twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from gateway.model import Role
from gateway.settings import load_settings
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade_async
from gateway.storage.schema import messages
from gateway.storage.users import UserStore
from tests.processes import GatewayProcess
from tests.support import (
    Customer,
    Operator,
    delete_broker_objects,
    free_port,
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
    try:
        await gateway.start(base)
        operator = Operator(http, base, token)
        operator.auto_accept = True
        await operator.connect()
        customers = [Customer(http, base) for _ in range(3)]
        for customer in customers:
            await customer.connect()
        sent: list[list[str]] = [[] for _ in customers]
        senders = [
            asyncio.create_task(_keep_sending(c, sent[n], f"c{n}")) for n, c in enumerate(customers)
        ]
        await asyncio.sleep(1.5)
        gateway.kill()
        await asyncio.gather(*senders)
        acked_before = {cid for c in customers for cid in c.acks}
        assert len(acked_before) > 10
        for client in (*customers, operator):
            await client.close()

        await gateway.start(base)
        # Customers come back and resend what was never acknowledged, with the same ids.
        for n, customer in enumerate(customers):
            await customer.connect()
            for client_id in sent[n]:
                if client_id not in customer.acks:
                    await customer.send(f"c{n} message {int(client_id.split('-')[1])}", client_id)
        await wait_for(
            lambda: all(set(s) <= set(c.acks) for s, c in zip(sent, customers, strict=True))
        )

        operator = Operator(http, base, token)
        operator.auto_accept = True
        await operator.connect()
        for offer_id in list(operator.offers):
            await operator.act({"type": "accept", "offer_id": offer_id})
        acked_ids = {ack["id"] for c in customers for ack in c.acks.values()}
        await wait_for(lambda: acked_ids <= set(operator.messages), timeout=30)
        assert len(operator.message_frames) == len(set(operator.message_frames))

        async with db.read() as conn:
            total = (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
            distinct = (
                await conn.execute(select(func.count(func.distinct(messages.c.text))))
            ).scalar_one()
        assert total == distinct == sum(len(s) for s in sent)
        for client in (*customers, operator):
            await client.close()
    finally:
        await http.close()
        gateway.stop()
        await db.dispose()
        await delete_broker_objects(settings.amqp.prefix)
