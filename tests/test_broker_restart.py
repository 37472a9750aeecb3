"""RabbitMQ restarted while customers are sending: every acknowledged message reaches the
operator, none twice. Intake keeps acknowledging while the broker is away (the outbox holds)."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import RunningGateway
from tests.support import make_settings, rabbitmqctl, wait_for

pytestmark = pytest.mark.slow


async def _send_for(customer, seconds: float, tag: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    i = 0
    while loop.time() < end:
        await customer.send(f"{tag} {i}")
        i += 1
        await asyncio.sleep(0.05)


async def test_broker_restart_loses_and_doubles_nothing(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gateway: RunningGateway = await start_gateway(
        make_settings(tmp_path, routing={"chat_capacity": 10, "offer_timeout_seconds": 30})
    )
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customers = [await gateway.customer() for _ in range(4)]

    senders = [
        asyncio.create_task(_send_for(c, 6.0, f"customer-{n}")) for n, c in enumerate(customers)
    ]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        await asyncio.sleep(2.0)
        # While the broker is away, intake still acknowledges: the outbox holds the messages.
        acked_before = sum(len(c.acks) for c in customers)
        await asyncio.sleep(1.0)
        assert sum(len(c.acks) for c in customers) > acked_before
        async with gateway.http.get(f"{gateway.base}/readyz") as resp:
            body = await resp.json()
            assert resp.status == 503 and body["checks"]["broker"] == "disconnected"
            assert int(body["checks"]["outbox_backlog"]) > 0
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
    await asyncio.gather(*senders)

    async def ready() -> bool:
        async with gateway.http.get(f"{gateway.base}/readyz") as resp:
            return resp.status == 200

    await wait_for(ready, timeout=30)

    acked = {ack["id"] for c in customers for ack in c.acks.values()}
    assert len(acked) > 40
    await wait_for(lambda: acked <= set(ada.messages), timeout=60)
    assert len(ada.message_frames) == len(set(ada.message_frames)), "a message was pushed twice"
    for customer in customers:
        await customer.close()
    await ada.close()


async def test_gateway_starts_and_takes_messages_while_the_broker_is_down(
    start_gateway, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        gateway: RunningGateway = await start_gateway(make_settings(tmp_path), wait_ready=False)
        customer = await gateway.customer()
        acks = [await customer.say(f"while the broker is away {n}") for n in range(3)]
        async with gateway.http.get(f"{gateway.base}/readyz") as resp:
            body = await resp.json()
            assert resp.status == 503 and body["checks"]["broker"] == "disconnected"
        ada = await gateway.operator("ada")
        # Ready before the broker is: the gateway may offer the contact while start_app is
        # still returning.
        ada.auto_accept = True
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
    await wait_for(lambda: {a["id"] for a in acks} <= set(ada.messages), timeout=60)
    assert len(ada.message_frames) == len(set(ada.message_frames))
    await customer.close()
    await ada.close()
