"""Transfers: to a named operator with a note, back to the line, and supervisor reassign."""

from __future__ import annotations

from typing import Any

from gateway.model import Role
from tests.conftest import RunningGateway
from tests.support import Customer, Operator, wait_for


async def _assigned_to(gateway: RunningGateway, operator: Operator) -> tuple[Customer, int]:
    operator.auto_accept = True
    customer = await gateway.customer()
    await customer.say("I need to change my plan")
    await wait_for(lambda: "I need to change my plan" in operator.texts("in"))
    conversation_id = next(iter(operator.offers.values()))["conversation_id"]
    return customer, conversation_id


def _closed(operator: Operator, conversation_id: int) -> Any:
    return next(
        (
            f
            for f in operator.frames
            if f["type"] == "closed" and f["conversation_id"] == conversation_id
        ),
        None,
    )


async def test_transfer_to_a_named_operator_with_a_note(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    customer, conversation_id = await _assigned_to(gateway, ada)
    grace = await gateway.operator("grace", state="away")  # a transfer reaches her even away

    moved = await ada.act(
        {
            "type": "transfer",
            "conversation_id": conversation_id,
            "to_operator": grace.user_id,  # type: ignore[attr-defined]
            "note": "wants the family plan, already verified",
        }
    )
    assert moved["ok"], moved
    offer = await wait_for(lambda: next(iter(grace.offers.values()), None))
    assert offer["conversation_id"] == conversation_id
    assert offer["note"] == "wants the family plan, already verified"
    closed = await wait_for(lambda: _closed(ada, conversation_id))
    assert closed["reason"] == "transferred"

    assert (await grace.act({"type": "accept", "offer_id": offer["id"]}))["ok"]
    assert "I need to change my plan" in grace.texts("in")
    late = await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "ada-late-1",
            "text": "x",
        }
    )
    assert not late["ok"]
    reply = await grace.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "grace-1-ok",
            "text": "hi",
        }
    )
    assert reply["ok"]
    await wait_for(lambda: customer.received)
    for client in (customer, ada, grace):
        await client.close()


async def test_transfer_back_to_the_line_goes_to_someone_else(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    customer, conversation_id = await _assigned_to(gateway, ada)
    grace = await gateway.operator("grace")
    moved = await ada.act(
        {"type": "transfer", "conversation_id": conversation_id, "queue": "general", "note": "tech"}
    )
    assert moved["ok"], moved
    offer = await wait_for(lambda: next(iter(grace.offers.values()), None))
    assert offer["conversation_id"] == conversation_id
    mine = [o["id"] for o in ada.offers.values() if o["conversation_id"] == conversation_id]
    assert offer["id"] not in mine  # ada holds only her original offer, not a new one
    # The note reaches whoever is offered it next, and stays in the conversation's timeline.
    assert offer["note"] == "tech"
    assert offer["handover"]["kind"] == "transferred"
    assert offer["handover"]["from_name"] == "Ada"
    assert (await grace.act({"type": "accept", "offer_id": offer["id"]}))["ok"]
    seen = (await grace.get(f"/api/conversations/{conversation_id}"))["conversation"]
    assert [(h["kind"], h["text"], h["queue"]) for h in seen["handovers"]] == [
        ("transferred", "tech", "general")
    ]
    assigned = next(f for f in grace.frames if f["type"] == "assigned")
    assert assigned["conversation"]["handovers"][0]["text"] == "tech"
    for client in (customer, ada, grace):
        await client.close()


async def test_supervisor_reassigns(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    customer, conversation_id = await _assigned_to(gateway, ada)
    grace = await gateway.operator("grace")
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)
    async with gateway.http.post(
        f"{gateway.base}/api/conversations/{conversation_id}/transfer",
        json={"to_operator": grace.user_id, "note": "ada is overloaded"},  # type: ignore[attr-defined]
        headers=sam.headers,
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert body["transfer"]["from_operator"] == ada.user_id  # type: ignore[attr-defined]
    await wait_for(lambda: grace.offers)
    await wait_for(lambda: _closed(ada, conversation_id))
    for client in (customer, ada, grace, sam):
        await client.close()


async def test_bad_transfers_change_nothing(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    customer, conversation_id = await _assigned_to(gateway, ada)
    grace = await gateway.operator("grace")
    cases = [
        ({"to_operator": 9999}, "unknown_operator"),
        ({"queue": "nowhere"}, "unknown_queue"),
        ({"queue": "general", "to_operator": grace.user_id}, "bad_field"),  # type: ignore[attr-defined]
        ({}, "bad_field"),
        ({"queue": "general", "note": "x" * 501}, "too_long"),
        ({"to_operator": ada.user_id}, "not_found"),  # type: ignore[attr-defined]
    ]
    for extra, error in cases:
        answer = await ada.act({"type": "transfer", "conversation_id": conversation_id, **extra})
        assert not answer["ok"] and answer["error"] == error, (extra, answer)
    # Grace cannot move Ada's conversation.
    stolen = await grace.act(
        {"type": "transfer", "conversation_id": conversation_id, "queue": "general"}
    )
    assert not stolen["ok"] and stolen["error"] == "not_found"
    # Still Ada's.
    reply = await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "still-ada-1",
            "text": "ok",
        }
    )
    assert reply["ok"]
    for client in (customer, ada, grace):
        await client.close()


async def test_supervisor_force_logout(gateway: RunningGateway) -> None:
    from gateway.keys import ROUTING_STATE

    ada = await gateway.operator("ada")
    customer = await gateway.customer()
    await customer.say("anyone?")
    (offer,) = (await wait_for(lambda: ada.offers)).values()
    grace = await gateway.operator("grace")
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)

    async with gateway.http.post(
        f"{gateway.base}/api/operators/{ada.user_id}/logout",  # type: ignore[attr-defined]
        headers=grace.headers,
    ) as resp:
        assert resp.status == 403  # operators cannot sign each other out
    async with gateway.http.post(
        f"{gateway.base}/api/operators/{ada.user_id}/logout",  # type: ignore[attr-defined]
        headers=sam.headers,
    ) as resp:
        assert resp.status == 200
    await wait_for(lambda: ada.ws is not None and ada.ws.closed)
    assert ada.ws is not None and ada.ws.close_code == 4403
    assert await gateway.app[ROUTING_STATE].state_of(ada.user_id) == "offline"  # type: ignore[attr-defined]
    # Her offer goes to someone who is there.
    (offer2,) = (await wait_for(lambda: grace.offers)).values()
    assert offer2["conversation_id"] == offer["conversation_id"]
    async with gateway.http.post(
        f"{gateway.base}/api/operators/424242/logout", headers=sam.headers
    ) as resp:
        assert resp.status == 404
    for client in (customer, grace, sam):
        await client.close()
