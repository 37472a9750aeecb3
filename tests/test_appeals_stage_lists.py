"""The console's stage lists through the API: ``queue=mine`` keeps the appeals in the queues the
asker works in (by the routing in force) and says which queues those are, so an operator is
not offered to take an appeal they worked on before but that now waits in another team's queue.
"""

from __future__ import annotations

from typing import Any

from gateway.model import Role
from tests.conftest import RunningGateway
from tests.test_appeals import _call, _served_conversation, desk

__all__ = ["desk"]  # the fixture, shared with tests/test_appeals.py


async def _stage_list(gw: RunningGateway, who: Any) -> tuple[list[str], list[int]]:
    status, body = await _call(gw, "GET", "/api/appeals?status=awaiting&queue=mine", who)
    assert status == 200, body
    return body["queues"], [a["id"] for a in body["appeals"]]


async def test_stage_lists_hold_the_appeals_of_the_askers_queues(desk: RunningGateway) -> None:
    ada = await desk.operator("ada")  # works in general
    bob = await desk.operator("bob", state=None)  # works in billing
    sam = await desk.operator("sam", role=Role.SUPERVISOR, state=None)  # no skills
    customer, conversation_id = await _served_conversation(desk, ada)
    body = {
        "topic": "billing_dispute",
        "conversation_id": conversation_id,
        "fields": {"account": "12345678"},
    }
    status, created = await _call(desk, "POST", "/api/appeals", ada, body)
    assert status == 201, created
    appeal = created["appeal"]

    # Waiting at First line (queue general): Ada's to take, not Bob's.
    assert await _stage_list(desk, ada) == (["general", "anyone"], [appeal["id"]])
    assert await _stage_list(desk, bob) == (["billing", "anyone"], [])

    # Ada passes it to Billing: she still sees it (she worked on it), but it is not in her
    # stage list any more; it is in Bob's.
    for action in ("take", "advance"):
        status, moved = await _call(
            desk,
            "POST",
            f"/api/appeals/{appeal['id']}/actions",
            ada,
            {"action": action, "expected_version": appeal["version"]},
        )
        assert status == 200, moved
        appeal = moved["appeal"]
    status, seen = await _call(desk, "GET", "/api/appeals?status=awaiting", ada)
    assert [a["id"] for a in seen["appeals"]] == [appeal["id"]]
    assert await _stage_list(desk, ada) == (["general", "anyone"], [])
    assert await _stage_list(desk, bob) == (["billing", "anyone"], [appeal["id"]])

    # A supervisor with no skills works only in the queue open to anyone; the filters they
    # name see every appeal.
    assert await _stage_list(desk, sam) == (["anyone"], [])
    status, everything = await _call(desk, "GET", "/api/appeals?queue=billing", sam)
    assert [a["id"] for a in everything["appeals"]] == [appeal["id"]]
    for client in (customer, ada, bob, sam):
        await client.close()
