"""Duplicates, declines and dropped operators, over the real broker."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.keys import DATABASE
from gateway.storage.schema import messages
from tests.conftest import RunningGateway
from tests.support import wait_for


async def _count_messages(gateway: RunningGateway) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


async def test_same_client_id_twice_is_one_message(gateway: RunningGateway) -> None:
    customer = await gateway.customer()
    first = await customer.say("only once")
    client_id = first["client_id"]
    customer.acks.clear()
    await customer.send("only once", client_id=client_id)
    second = await wait_for(lambda: customer.acks.get(client_id))
    assert second["id"] == first["id"]
    assert await _count_messages(gateway) == 1

    # A reconnect (new socket, same visitor token) resending it is still the same message.
    await customer.close()
    again = await gateway.customer()
    again.token = customer.token
    await again.close()
    await again.connect()
    await again.send("only once", client_id=client_id)
    third = await wait_for(lambda: again.acks.get(client_id))
    assert third["id"] == first["id"]
    assert await _count_messages(gateway) == 1
    await again.close()


async def test_decline_offers_the_contact_to_the_next_operator(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    grace = await gateway.operator("grace")
    customer = await gateway.customer()
    await customer.say("Can someone help?")

    first = await wait_for(lambda: ada.offers or grace.offers)
    (offer,) = first.values()
    first_op, second_op = (ada, grace) if first is ada.offers else (grace, ada)
    declined = await first_op.act({"type": "decline", "offer_id": offer["id"]})
    assert declined["ok"], declined

    second = await wait_for(lambda: second_op.offers)
    (offer2,) = second.values()
    assert offer2["conversation_id"] == offer["conversation_id"]
    assert (await second_op.act({"type": "accept", "offer_id": offer2["id"]}))["ok"]
    # The decliner cannot take it back any more.
    late = await first_op.act({"type": "accept", "offer_id": offer["id"]})
    assert not late["ok"] and late["error"] == "offer_declined"
    for client in (customer, ada, grace):
        await client.close()


async def test_dropped_operator_gives_the_offer_to_another(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    customer = await gateway.customer()
    await customer.say("Hello?")
    (offer,) = (await wait_for(lambda: ada.offers)).values()

    grace = await gateway.operator("grace")
    await ada.close()  # the connection drops with the offer in hand

    loop = __import__("asyncio").get_running_loop()
    started = loop.time()
    (offer2,) = (await wait_for(lambda: grace.offers, timeout=10)).values()
    assert offer2["conversation_id"] == offer["conversation_id"]
    assert loop.time() - started < 10
    assert (await grace.act({"type": "accept", "offer_id": offer2["id"]}))["ok"]
    await customer.close()
    await grace.close()


async def test_offer_times_out_and_goes_to_another(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support import make_settings

    gateway = await start_gateway(make_settings(tmp_path, routing={"offer_timeout_seconds": 1}))
    ada = await gateway.operator("ada")
    customer = await gateway.customer()
    await customer.say("Anyone there?")
    (offer,) = (await wait_for(lambda: ada.offers)).values()
    grace = await gateway.operator("grace")
    await wait_for(lambda: offer["id"] in ada.revoked, timeout=10)
    (offer2,) = (await wait_for(lambda: grace.offers, timeout=10)).values()
    assert offer2["conversation_id"] == offer["conversation_id"]
    expired = await ada.act({"type": "accept", "offer_id": offer["id"]})
    assert not expired["ok"]
    for client in (customer, ada, grace):
        await client.close()


async def test_two_operators_accepting_one_offer_only_one_wins(gateway: RunningGateway) -> None:
    """Two operators each hold a pending offer of the same contact (what a router that lost
    its slot mid-offer could leave behind) and accept at the same moment from their consoles:
    one gets the conversation, the other is told it is taken, and the contact is in one place."""
    import asyncio

    from sqlalchemy import select

    from gateway.keys import DATABASE
    from gateway.storage.schema import conversations, offers

    ada = await gateway.operator("ada")
    grace = await gateway.operator("grace", state="away")
    customer = await gateway.customer()
    await customer.say("race")
    (offer,) = (await wait_for(lambda: ada.offers)).values()
    db = gateway.app[DATABASE]
    async with db.write() as conn:
        row = (await conn.execute(select(offers).where(offers.c.id == offer["id"]))).one()
        inserted = await conn.execute(
            offers.insert().values(
                {**row._asdict(), "id": None, "operator_id": grace.user_id}  # type: ignore[attr-defined]
            )
        )
        second = int(inserted.inserted_primary_key[0])
    results = await asyncio.gather(
        ada.act({"type": "accept", "offer_id": offer["id"]}),
        grace.act({"type": "accept", "offer_id": second}),
    )
    assert sorted(r["ok"] for r in results) == [False, True], results
    loser = next(r for r in results if not r["ok"])
    assert loser["error"] == "taken"
    winner = ada if results[0]["ok"] else grace
    async with db.read() as conn:
        conversation = (
            await conn.execute(
                select(conversations).where(conversations.c.id == offer["conversation_id"])
            )
        ).one()
        accepted = (
            await conn.execute(
                select(offers.c.operator_id).where(
                    offers.c.conversation_id == offer["conversation_id"],
                    offers.c.status == "accepted",
                )
            )
        ).all()
    assert conversation.status == "assigned"
    assert conversation.operator_id == winner.user_id  # type: ignore[attr-defined]
    assert [r.operator_id for r in accepted] == [winner.user_id]  # type: ignore[attr-defined]
    await customer.close()
    await ada.close()
    await grace.close()


async def test_operator_gone_too_long_gives_conversations_back(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support import make_settings

    gateway = await start_gateway(make_settings(tmp_path, routing={"reassign_after_seconds": 1}))
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customer = await gateway.customer()
    await customer.say("my order is late")
    await wait_for(lambda: ada.messages)
    conversation_id = next(iter(ada.offers.values()))["conversation_id"]
    await ada.close()  # her browser crashed and she does not come back

    grace = await gateway.operator("grace")
    grace.auto_accept = True
    await wait_for(lambda: grace.offers, timeout=10)
    (offer,) = grace.offers.values()
    assert offer["conversation_id"] == conversation_id
    await wait_for(lambda: "my order is late" in grace.texts("in"))
    await customer.say("hello?")
    await wait_for(lambda: "hello?" in grace.texts("in"))
    await customer.close()
    await grace.close()


async def test_a_short_disconnect_keeps_the_conversation(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customer = await gateway.customer()
    await customer.say("still mine")
    await wait_for(lambda: ada.messages)
    await ada.close()
    again = await gateway.operator_again(ada)
    snapshot = next(f for f in again.frames if f["type"] == "snapshot")
    assert [c["messages"][0]["text"] for c in snapshot["conversations"]] == ["still mine"]
    await customer.close()
    await again.close()


async def test_missing_offers_in_a_row_sets_the_operator_away(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.keys import ROUTING_STATE
    from tests.support import make_settings

    gateway = await start_gateway(
        make_settings(
            tmp_path,
            routing={"offer_timeout_seconds": 1, "away_after_missed": 2, "tick_seconds": 0.3},
        )
    )
    ada = await gateway.operator("ada")  # available, but gone for coffee
    customers = [await gateway.customer() for _ in range(2)]
    for n, customer in enumerate(customers):
        await customer.say(f"hello {n}")
    await wait_for(lambda: len(ada.offers) == 2)
    away = await wait_for(
        lambda: next(
            (f for f in ada.frames if f["type"] == "state" and f["state"] == "away"), None
        ),
        timeout=10,
    )
    assert away["reason"] == "missed_offers"
    assert await gateway.app[ROUTING_STATE].state_of(ada.user_id) == "away"  # type: ignore[attr-defined]
    for client in (*customers, ada):
        await client.close()
