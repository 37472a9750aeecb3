"""Operators reach only the customers they serve: reading, looking up, linking, unlinking and
undoing anyone else's answers 404 (as for an id nobody has) and changes nothing, so no one can
pull a stranger's identity into their conversation and write to them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gateway.keys import DATABASE
from gateway.model import Role
from gateway.storage.schema import audit_log, conversations, identities, messages
from tests.conftest import RunningGateway
from tests.support import Operator, wait_for


async def _call(
    gateway: RunningGateway, who: Operator, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with gateway.http.request(
        method, f"{gateway.base}{path}", json=body, headers=who.headers
    ) as resp:
        return resp.status, await resp.json()


async def _take(operator: Operator) -> int:
    """Accept the operator's first offer; the conversation's id."""
    offer = next(iter((await wait_for(lambda: operator.offers)).values()))
    assert (await operator.act({"type": "accept", "offer_id": offer["id"]}))["ok"]
    return int(offer["conversation_id"])


async def _owner(gateway: RunningGateway, conversation_id: int) -> tuple[int, int, str]:
    """(customer id, identity id, address) of a conversation."""
    async with gateway.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(conversations.c.customer_id, identities.c.id, identities.c.address)
                .join(identities, identities.c.id == conversations.c.identity_id)
                .where(conversations.c.id == conversation_id)
            )
        ).one()
    return int(row[0]), int(row[1]), str(row[2])


async def _customer_of(gateway: RunningGateway, identity_id: int) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int(
            (
                await conn.execute(
                    select(identities.c.customer_id).where(identities.c.id == identity_id)
                )
            ).scalar_one()
        )


async def _count(gateway: RunningGateway, table: Any) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_operators_reach_only_the_customers_they_serve(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    alice = await gateway.customer()
    await alice.say("hello, this is Alice")
    ada_conversation = await _take(ada)
    assert (await ada.act({"type": "state", "state": "away"}))["ok"]
    bob = await gateway.operator("bob")
    stranger = await gateway.customer()
    await stranger.say("my private question")
    bob_conversation = await _take(bob)
    sam = await gateway.operator("sam", Role.SUPERVISOR, state=None)

    alice_id, alice_identity, _ = await _owner(gateway, ada_conversation)
    stranger_id, stranger_identity, stranger_address = await _owner(gateway, bob_conversation)
    assert alice_id != stranger_id

    # Her own customer: visible.
    status, own = await _call(gateway, ada, "GET", f"/api/customers/{alice_id}")
    assert status == 200 and own["customer"]["id"] == alice_id

    # The stranger: exactly as if there were no such customer or identity.
    missing = await _call(gateway, ada, "GET", "/api/customers/999999")
    assert missing[0] == 404
    assert await _call(gateway, ada, "GET", f"/api/customers/{stranger_id}") == missing
    lookup = f"/api/identities?channel=webchat&address={stranger_address}"
    status, answer = await _call(gateway, ada, "GET", lookup)
    assert status == 404 and answer["error"] == "not_found"
    audited, stored = await _count(gateway, audit_log), await _count(gateway, messages)
    for method, path, body in (
        ("POST", f"/api/customers/{alice_id}/identities", {"identity_id": stranger_identity}),
        ("POST", f"/api/customers/{stranger_id}/identities", {"identity_id": alice_identity}),
        ("DELETE", f"/api/customers/{stranger_id}/identities/{stranger_identity}", None),
    ):
        status, answer = await _call(gateway, ada, method, path, body)
        assert (status, answer["error"]) == (404, "not_found"), (path, answer)
    # A reply on the stranger's identity from her own conversation: refused, nothing sent.
    result = await ada.act(
        {
            "type": "reply",
            "conversation_id": ada_conversation,
            "client_id": "to-the-stranger-1",
            "text": "hello stranger",
            "identity_id": stranger_identity,
        }
    )
    assert not result["ok"] and result["error"] == "bad_identity", result
    assert await _customer_of(gateway, stranger_identity) == stranger_id
    assert await _customer_of(gateway, alice_identity) == alice_id
    assert (await _count(gateway, audit_log), await _count(gateway, messages)) == (
        audited,
        stored,
    )
    assert not stranger.received

    # A supervisor sees everyone and may link across customers: audited with their name.
    assert (await _call(gateway, sam, "GET", f"/api/customers/{stranger_id}"))[0] == 200
    assert (await _call(gateway, sam, "GET", lookup))[0] == 200
    status, linked = await _call(
        gateway,
        sam,
        "POST",
        f"/api/customers/{alice_id}/identities",
        {"identity_id": stranger_identity},
    )
    assert status == 200, linked
    async with gateway.app[DATABASE].read() as conn:
        entry = (
            await conn.execute(select(audit_log).where(audit_log.c.id == linked["undo_id"]))
        ).one()
    assert (entry.action, entry.actor, entry.detail["from_customer"]) == (
        "customer.link",
        "sam",
        stranger_id,
    )
    # An operator cannot undo someone else's change that involves a customer they do not
    # serve; the supervisor can.
    undo = f"/api/customer-links/{linked['undo_id']}/undo"
    for operator in (ada, bob):
        status, answer = await _call(gateway, operator, "POST", undo)
        assert (status, answer["error"]) == (404, "not_found")
    assert await _customer_of(gateway, stranger_identity) == alice_id
    assert (await _call(gateway, sam, "POST", undo))[0] == 200
    assert await _customer_of(gateway, stranger_identity) == stranger_id
    for client in (ada, bob, sam, alice, stranger):
        await client.close()


async def test_an_operator_links_and_undoes_between_customers_they_serve(
    gateway: RunningGateway,
) -> None:
    ada = await gateway.operator("ada")
    ada.auto_accept = True  # one unanswered offer at a time: she takes each as it comes
    first, second = await gateway.customer(), await gateway.customer()
    await first.say("on my laptop")
    await second.say("and now on my phone")
    await wait_for(lambda: len(ada.offers) == 2)
    one, other = (int(o["conversation_id"]) for o in ada.offers.values())
    # Both are hers: she serves both customers, and may put them together.
    first_id, _, _ = await _owner(gateway, one)
    _, other_identity, _ = await _owner(gateway, other)
    status, linked = await _call(
        gateway,
        ada,
        "POST",
        f"/api/customers/{first_id}/identities",
        {"identity_id": other_identity},
    )
    assert status == 200, linked
    status, undone = await _call(
        gateway, ada, "POST", f"/api/customer-links/{linked['undo_id']}/undo"
    )
    assert status == 200, undone
    for client in (ada, first, second):
        await client.close()
