"""The supervisor's line: counts that agree, why each waiting contact is not on offer, contacts
closed by a rule's final action with their reason, only operators in the operator list, and
assigning a waiting or offered contact to a chosen operator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.model import Role
from gateway.settings import Settings
from tests.conftest import RunningGateway
from tests.support import Operator, make_settings, wait_for

RULES: dict[str, Any] = {
    "skills": {"sales": "Contracts"},
    "operators": {"ada": {"skills": {"sales": 1}}, "grace": {"skills": {"sales": 2}}},
    "queues": {"everyone": {}, "sales": {"target": {"skills": {"sales": 3}}}},
    "rules": [
        {
            "name": "closed",
            "when": {"topic": "closed"},
            "steps": [{"queue": "sales", "timeout_seconds": 1}],
            "final": {"action": "notice", "text": "All our agents are busy."},
        },
        {
            "name": "rest",
            "steps": [{"queue": "everyone", "timeout_seconds": 600}],
            "final": {"action": "overflow", "queue": "everyone"},
        },
    ],
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    rules = tmp_path / "routing.json"
    rules.write_text(json.dumps(RULES))
    return make_settings(tmp_path, routing={"rules_file": str(rules)})


async def _overview(gateway: RunningGateway, sam: Operator) -> dict[str, Any]:
    return await sam.get("/api/supervisor/overview")


def _queue(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(q for q in data["queues"] if q["name"] == name)


async def _assign(
    gateway: RunningGateway, who: Operator, conversation_id: int, operator_id: Any
) -> tuple[int, dict[str, Any]]:
    async with gateway.http.post(
        f"{gateway.base}/api/supervisor/conversations/{conversation_id}/assign",
        json={"operator_id": operator_id},
        headers=who.headers,
    ) as resp:
        return resp.status, await resp.json()


async def test_the_line_counts_explains_and_assigns(gateway: RunningGateway) -> None:
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)
    ada = await gateway.operator("ada")
    first = await gateway.customer()
    await first.say("first, offered to ada")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    second = await gateway.customer()
    await second.say("second, waits behind ada's pending offer")

    async def settled() -> dict[str, Any] | None:
        data = await _overview(gateway, sam)
        q = _queue(data, "everyone")
        return data if (q["waiting"], q["offered"]) == (1, 1) else None

    data = await wait_for(settled)
    everyone = _queue(data, "everyone")
    assert everyone["waiting_by_media"] == {"chat": 1}  # the same rows as "waiting"
    waiting = next(c for c in everyone["contacts"] if c["status"] == "waiting")
    assert waiting["holdup"] == "pending_offer_limit"
    assert waiting["eligible_operators"] == [{"id": ada.user_id, "name": "Ada"}]  # type: ignore[attr-defined]
    # Sam supervises: not listed as an operator (offline or not).
    assert [op["username"] for op in data["operators"]] == ["ada"]

    grace = await gateway.operator("grace", state="away")
    # An offered contact goes to Grace: Ada's offer is revoked first.
    status, body = await _assign(gateway, sam, offer["conversation_id"], grace.user_id)  # type: ignore[attr-defined]
    assert status == 200, body
    assert body["assign"]["revoked"] == [{"offer_id": offer["id"], "operator_id": ada.user_id}]  # type: ignore[attr-defined]
    await wait_for(lambda: offer["id"] in ada.revoked)
    moved = await wait_for(lambda: next(iter(grace.offers.values()), None))
    assert moved["conversation_id"] == offer["conversation_id"]
    # Again: it is on offer to her already, nothing changes.
    status, body = await _assign(gateway, sam, offer["conversation_id"], grace.user_id)  # type: ignore[attr-defined]
    assert (status, body["error"]) == (409, "moved")
    # The waiting one, too; then Grace takes it.
    status, body = await _assign(gateway, sam, waiting["id"], grace.user_id)  # type: ignore[attr-defined]
    assert status == 200, body
    taken = await wait_for(
        lambda: next(
            (o for o in grace.offers.values() if o["conversation_id"] == waiting["id"]), None
        )
    )
    assert (await grace.act({"type": "accept", "offer_id": taken["id"]}))["ok"]

    # Bad requests change nothing.
    assert (await _assign(gateway, ada, waiting["id"], grace.user_id))[0] == 403  # type: ignore[attr-defined]
    assert (await _assign(gateway, sam, waiting["id"], "grace"))[0] == 422
    assert (await _assign(gateway, sam, 999_999, grace.user_id))[0] == 404  # type: ignore[attr-defined]
    assert (await _assign(gateway, sam, waiting["id"], 999_999))[0] == 422
    for client in (first, second, ada, grace, sam):
        await client.close()


async def test_a_contact_closed_by_a_final_action_is_counted_with_its_reason(
    gateway: RunningGateway,
) -> None:
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)
    ada = await gateway.operator("ada")  # sales level 1: not enough for the sales queue
    customer = await gateway.customer(topic="closed")
    await customer.say("anyone selling?")

    async def explained() -> dict[str, Any] | None:
        contacts = _queue(await _overview(gateway, sam), "sales")["contacts"]
        return contacts[0] if contacts and contacts[0].get("holdup") else None

    seen = await explained()
    if seen is not None:  # caught before its one-second step ran out
        assert seen["holdup"] == "no_eligible_operator"
        assert seen["eligible_operators"] == []

    async def counted() -> dict[str, Any] | None:
        q = _queue(await _overview(gateway, sam), "sales")
        return q if q["closed_by_final_action"] == 1 else None

    sales = await wait_for(counted)
    (closed,) = sales["final_closes"]
    assert closed["reason"] == "final_action:notice All our agents are busy."
    assert closed["channel"] == "webchat"
    for client in (customer, ada, sam):
        await client.close()


async def test_an_operator_who_qualifies_is_required(gateway: RunningGateway) -> None:
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)
    ada = await gateway.operator("ada", state="away")
    customer = await gateway.customer(topic="closed")
    await customer.say("sales please")

    async def waiting_id() -> int | None:
        contacts = _queue(await _overview(gateway, sam), "sales")["contacts"]
        return contacts[0]["id"] if contacts else None

    conversation_id = await wait_for(waiting_id)
    status, body = await _assign(gateway, sam, conversation_id, ada.user_id)  # type: ignore[attr-defined]
    assert (status, body["error"]) == (422, "not_eligible")
    assert ada.offers == {}
    for client in (customer, ada, sam):
        await client.close()
