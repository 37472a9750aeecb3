"""RabbitMQ restarted while customers are sending: every acknowledged message reaches the
operator, none twice. Intake keeps acknowledging while the broker is away (the outbox holds)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.events import Event
from tests.conftest import RunningGateway
from tests.support import EventTap, make_settings, rabbitmqctl, wait_for

pytestmark = pytest.mark.slow


async def _send_until(customer, stop: asyncio.Event, tag: str) -> None:  # type: ignore[no-untyped-def]
    i = 0
    while not stop.is_set():
        await customer.send(f"{tag} {i}")
        i += 1
        await asyncio.sleep(0.05)


async def _ready(gateway: RunningGateway) -> bool:
    async with gateway.http.get(f"{gateway.base}/readyz") as resp:
        return resp.status == 200


async def _broker_down(gateway: RunningGateway) -> dict[str, str] | None:
    async with gateway.http.get(f"{gateway.base}/readyz") as resp:
        checks: dict[str, str] = (await resp.json())["checks"]
        return checks if resp.status == 503 and checks["broker"] == "disconnected" else None


async def test_broker_restart_loses_and_doubles_nothing(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, routing={"chat_capacity": 10, "offer_timeout_seconds": 30})
    gateway: RunningGateway = await start_gateway(settings)
    tap = EventTap(settings.amqp.prefix, Event.MESSAGE)
    await tap.start()
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customers = [await gateway.customer() for _ in range(4)]

    stop = asyncio.Event()
    senders = [
        asyncio.create_task(_send_until(c, stop, f"customer-{n}")) for n, c in enumerate(customers)
    ]
    try:
        # The broker goes while messages flow and are pushed live to the operator.
        await wait_for(lambda: len(ada.message_frames) >= 8, timeout=30)
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        try:
            checks = await wait_for(lambda: _broker_down(gateway), timeout=30)
            # While the broker is away, intake still acknowledges: the outbox holds the messages.
            acked_before = sum(len(c.acks) for c in customers)
            await wait_for(lambda: sum(len(c.acks) for c in customers) >= acked_before + 10)
            checks = await wait_for(lambda: _broker_down(gateway))
            assert int(checks["outbox_backlog"]) > 0
        finally:
            await asyncio.to_thread(rabbitmqctl, "start_app")
        await wait_for(lambda: _ready(gateway), timeout=30)
        acked = {ack["id"] for c in customers for ack in c.acks.values()}
        await wait_for(lambda: acked <= set(ada.messages), timeout=60)
        # Once everything held is through, what customers send now must be pushed live.
        live_from = len(ada.frames)
        known = set(ada.messages)
        acked_now = sum(len(c.acks) for c in customers)
        await wait_for(lambda: sum(len(c.acks) for c in customers) >= acked_now + 20)
    finally:
        stop.set()
        await asyncio.gather(*senders)
    try:
        acked = {ack["id"] for c in customers for ack in c.acks.values()}
        assert len(acked) > 40
        await wait_for(lambda: acked <= set(ada.messages), timeout=60)
        later = {int(f["message"]["id"]) for f in ada.frames[live_from:] if f["type"] == "message"}
        after_return = acked - known
        assert after_return
        assert after_return <= later, sorted(after_return - later)
        assert len(ada.message_frames) == len(set(ada.message_frames)), "a message was pushed twice"

        # The outbox drains, and the broker saw every acknowledged message published.
        await wait_for(lambda: _ready(gateway), timeout=30)

        async def drained() -> bool:
            async with gateway.http.get(f"{gateway.base}/readyz") as resp:
                return bool((await resp.json())["checks"]["outbox_backlog"] == "0")

        await wait_for(drained, timeout=30)

        async def all_published() -> bool:
            await tap.collect()
            return acked <= set(tap.message_ids())

        await wait_for(all_published, timeout=30)
    finally:
        await tap.close()
    for customer in customers:
        await customer.close()
    await ada.close()


async def test_gateway_starts_and_takes_messages_while_the_broker_is_down(
    start_gateway, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        gateway: RunningGateway = await start_gateway(settings, wait_ready=False)
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
    # What the outbox held went out once the broker was back: the broker saw it published.
    tap = EventTap(settings.amqp.prefix, Event.MESSAGE)
    try:
        # The gateway's own queues took the events; the test's queue sees a fresh message.
        await tap.start()
        late = await customer.say("after the broker is back")
        await wait_for(lambda: late["id"] in ada.message_frames, timeout=30)

        async def published() -> bool:
            await tap.collect()
            return late["id"] in tap.message_ids()

        await wait_for(published, timeout=30)
    finally:
        await tap.close()
    await customer.close()
    await ada.close()
