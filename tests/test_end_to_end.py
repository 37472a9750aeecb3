"""The whole path over the real RabbitMQ: customer socket -> operator socket -> reply back."""

from __future__ import annotations

from tests.conftest import RunningGateway
from tests.support import wait_for


async def test_customer_to_operator_and_reply_back(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    customer = await gateway.customer()

    ack = await customer.say("Hello, my internet is down")
    assert ack["id"] > 0

    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    assert offer["preview"] == "Hello, my internet is down"
    result = await ada.act({"type": "accept", "offer_id": offer["id"]})
    assert result["ok"], result
    assert ada.texts("in") == ["Hello, my internet is down"]

    await customer.say("It started this morning")
    await wait_for(lambda: "It started this morning" in ada.texts("in"))

    reply = await ada.act(
        {
            "type": "reply",
            "conversation_id": offer["conversation_id"],
            "client_id": "reply-0001",
            "text": "Sorry to hear that, let me check",
        }
    )
    assert reply["ok"], reply
    await wait_for(lambda: customer.received)
    (pushed,) = customer.received.values()
    assert pushed["text"] == "Sorry to hear that, let me check"
    assert pushed["author"] == "Ada"

    await customer.close()
    await ada.close()


async def test_reply_status_and_closing_reach_both_sides(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customer = await gateway.customer()
    await customer.say("status please")
    await wait_for(lambda: ada.messages)
    conversation_id = next(iter(ada.offers.values()))["conversation_id"]
    reply = await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "reply-0002",
            "text": "ok",
        }
    )
    assert reply["message"]["status"] == "queued"
    status = await wait_for(
        lambda: next((f for f in ada.frames if f["type"] == "message_status"), None)
    )
    assert status == {
        "type": "message_status",
        "conversation_id": conversation_id,
        "message_id": reply["message"]["id"],
        "status": "sent",
    }

    assert (await ada.act({"type": "resolve", "conversation_id": conversation_id}))["ok"]
    closed = await wait_for(
        lambda: next((f for f in customer.frames if f["type"] == "closed"), None)
    )
    assert closed["conversation_id"] == conversation_id
    # Writing again opens a new conversation, offered afresh.
    again = await customer.say("one more thing")
    assert again["conversation_id"] != conversation_id
    await wait_for(lambda: len(ada.offers) == 2)
    await customer.close()
    await ada.close()


async def test_end_to_end_on_postgresql(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same path with PostgreSQL as the store (the relay takes rows with SKIP LOCKED)."""
    from tests.support import make_settings, postgres_database

    databases = postgres_database()
    url = await databases.__anext__()
    try:
        gateway = await start_gateway(make_settings(tmp_path, database={"url": url}))
        ada = await gateway.operator("ada")
        ada.auto_accept = True
        customer = await gateway.customer()
        for n in range(5):
            await customer.say(f"on postgres {n}")
        await wait_for(lambda: ada.texts("in") == [f"on postgres {n}" for n in range(5)])
        conversation_id = next(iter(ada.offers.values()))["conversation_id"]
        reply = await ada.act(
            {
                "type": "reply",
                "conversation_id": conversation_id,
                "client_id": "pg-reply-1",
                "text": "hi",
            }
        )
        assert reply["ok"]
        await wait_for(lambda: customer.received)
        await customer.close()
        await ada.close()
        await gateway.server.close()
    finally:
        await databases.aclose()
