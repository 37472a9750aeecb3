"""Call-back tasks: a customer no channel reached is called by an operator of the call-back
queue, who marks the task done with a note.

The task comes about the real way: a web chat visitor (a customer with no channel a notice
can go on once their page is gone) gets an appeal registered for them by a supervisor, so the
registered notice finds no identity at all and becomes a call-back task in the topics'
``callback_queue`` (billing here, while the appeal waits in first_line).

Done by an operator of billing: the task leaves the list and the supervisors' overview, the
appeal's history has ``callback_done`` with the note, and the push reaches the billing
operator. An operator of first_line (who sees the appeal) is answered 404, as for an unknown
task; a second done is 409; neither changes anything.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.keys import DATABASE
from gateway.model import Role
from gateway.storage.schema import appeal_alerts, conversations
from tests.conftest import RunningGateway
from tests.support import Operator, make_settings, nothing_stored, wait_for

RULES: dict[str, Any] = {
    "skills": {"front": "First line", "billing": "Bills and payments"},
    "operators": {"ada": {"skills": {"front": 1}}, "bob": {"skills": {"billing": 1}}},
    "queues": {
        "first_line": {"target": {"skills": {"front": 1}}},
        "billing": {"target": {"skills": {"billing": 1}}},
    },
    "rules": [
        {
            "name": "all",
            "steps": [{"queue": "first_line", "timeout_seconds": 600}],
            "final": {"action": "overflow", "queue": "first_line"},
        }
    ],
}

TOPICS = """
settings:
  callback_queue: billing
topics:
  billing_dispute:
    title: {en: Billing dispute}
    category: complaint
    fields:
      - {name: contact_phone, label: {en: Phone to call back}, type: phone, region: DE}
    route:
      - {name: First line, queue: first_line, max: 4h, may_resolve: true}
      - {name: Billing, queue: billing, max: 16h, may_resolve: true}
"""


@pytest.fixture
async def gw(start_gateway, tmp_path: Path) -> RunningGateway:  # type: ignore[no-untyped-def]
    rules = tmp_path / "routing.json"
    rules.write_text(json.dumps(RULES))
    topics = tmp_path / "topics.yaml"
    topics.write_text(TOPICS)
    settings = make_settings(
        tmp_path,
        routing={"rules_file": str(rules)},
        appeals={"topics_file": str(topics), "tick_seconds": 0.2},
    )
    return await start_gateway(settings)  # type: ignore[no-any-return]


async def call(
    who: Operator, method: str, path: str, body: Any = None, status: int = 200
) -> dict[str, Any]:
    async with who.http.request(
        method, f"{who.base}{path}", json=body, headers=who.headers
    ) as resp:
        assert resp.status == status, (path, resp.status, await resp.text())
        return dict(await resp.json())


async def _task(gw: RunningGateway, sam: Operator) -> dict[str, Any]:
    """A web chat customer, an appeal registered for them, its call-back task."""
    visitor = await gw.customer()
    ack = await visitor.say("I was charged twice")
    await visitor.close()
    async with gw.app[DATABASE].read() as conn:
        customer_id = (
            await conn.execute(
                select(conversations.c.customer_id).where(
                    conversations.c.id == ack["conversation_id"]
                )
            )
        ).scalar_one()
    body = {
        "topic": "billing_dispute",
        "customer_id": customer_id,
        "fields": {"contact_phone": "0151 23456789"},
        "idempotency_key": uuid.uuid4().hex,
    }
    appeal = (await call(sam, "POST", "/api/appeals", body, status=201))["appeal"]

    async def listed() -> dict[str, Any] | None:
        tasks = (await call(sam, "GET", "/api/appeals/callbacks"))["callbacks"]
        return next((t for t in tasks if t["appeal_id"] == appeal["id"]), None)

    return dict(await wait_for(listed, timeout=15))


async def _alert(gw: RunningGateway, task_id: int) -> Any:
    async with gw.app[DATABASE].read() as conn:
        return (
            await conn.execute(select(appeal_alerts).where(appeal_alerts.c.id == task_id))
        ).one()


async def test_an_operator_of_the_callback_queue_marks_the_task_done_with_a_note(
    gw: RunningGateway,
) -> None:
    sam = await gw.operator("sam", role=Role.SUPERVISOR, state=None)
    bob = await gw.operator("bob", state="away")
    task = await _task(gw, sam)
    # What the operator who calls needs: who, about what, why, and a number.
    assert (task["queue"], task["kind"], task["action"]) == ("billing", "callback", "callback")
    assert task["topic_title"] == "Billing dispute"
    assert task["event"] == "registered"
    assert task["customer_name"].startswith("Web visitor")
    assert task["tried"] == []  # a visitor whose page is gone has no channel to try
    assert task["phones"] == [
        {"name": "contact_phone", "label": "Phone to call back", "number": "+4915123456789"}
    ]
    assert "fields" not in task
    # Bob works in billing, not in first_line where the appeal waits: the task lets him
    # open the appeal, and it is his to do.
    assert [t["id"] for t in (await call(bob, "GET", "/api/appeals/callbacks"))["callbacks"]] == [
        task["id"]
    ]
    seen = await call(bob, "GET", f"/api/appeals/{task['appeal_id']}")
    [alert] = [a for a in seen["appeal"]["alerts"] if a["kind"] == "callback"]
    assert (alert["id"], alert["action"], alert["notified_at"]) == (task["id"], "callback", None)

    frames_before = len(bob.frames)
    note = "Called +49 151 23456789: told them the appeal number."
    done = await call(bob, "POST", f"/api/appeals/callbacks/{task['id']}/done", {"note": note})
    assert (done["callback"]["id"], done["callback"]["action"]) == (task["id"], "done")
    assert done["callback"]["notified_at"] is not None

    # Gone from the list and from the supervisors' overview.
    assert (await call(bob, "GET", "/api/appeals/callbacks"))["callbacks"] == []
    assert (await call(sam, "GET", "/api/appeals/callbacks"))["callbacks"] == []
    assert (await call(sam, "GET", "/api/appeals/overview"))["callbacks"] == []
    row = await _alert(gw, task["id"])
    assert (row.action, row.notified_at is not None) == ("done", True)
    # In the appeal's history, by Bob, with his note; the appeal itself did not move.
    appeal = (await call(sam, "GET", f"/api/appeals/{task['appeal_id']}"))["appeal"]
    [history] = [h for h in appeal["history"] if h["action"] == "callback_done"]
    assert (history["actor_id"], history["reason"]) == (bob.user_id, note)  # type: ignore[attr-defined]
    assert history["detail"] == {"task_id": task["id"], "queue": "billing", "event": "registered"}
    assert appeal["version"] == seen["appeal"]["version"]
    # Bob's console hears of it although the appeal is not in his queue.
    pushed = await wait_for(
        lambda: [
            f
            for f in bob.frames[frames_before:]
            if f["type"] == "appeal" and f.get("action") == "callback_done"
        ]
    )
    assert pushed[0]["appeal_id"] == task["appeal_id"]

    # Twice: 409, and nothing changes.
    async with nothing_stored(gw.app[DATABASE]):
        answer = await call(
            bob, "POST", f"/api/appeals/callbacks/{task['id']}/done", {"note": "again"}, 409
        )
    assert answer["error"] == "already_done"
    await bob.close()
    await sam.close()


async def test_an_operator_of_another_queue_is_told_there_is_no_such_task(
    gw: RunningGateway,
) -> None:
    sam = await gw.operator("sam", role=Role.SUPERVISOR, state=None)
    ada = await gw.operator("ada", state="away")
    task = await _task(gw, sam)
    # Ada works in first_line: she sees the appeal, but the call-back task is billing's.
    await call(ada, "GET", f"/api/appeals/{task['appeal_id']}")
    assert (await call(ada, "GET", "/api/appeals/callbacks"))["callbacks"] == []
    async with nothing_stored(gw.app[DATABASE]):
        other = await call(ada, "POST", f"/api/appeals/callbacks/{task['id']}/done", {}, 404)
        unknown = await call(ada, "POST", "/api/appeals/callbacks/999999/done", None, 404)
        not_an_id = await call(ada, "POST", "/api/appeals/callbacks/abc/done", None, 404)
        long_note = {"note": "x" * 1001}
        await call(sam, "POST", f"/api/appeals/callbacks/{task['id']}/done", long_note, 422)
        await call(sam, "POST", f"/api/appeals/callbacks/{task['id']}/done", {"note": 5}, 422)
    # The same answer as for a task that does not exist: nobody learns of others' tasks.
    assert (other["error"], other["reason"]) == (unknown["error"], unknown["reason"])
    assert not_an_id["error"] == "not_found"
    [still] = (await call(sam, "GET", "/api/appeals/callbacks"))["callbacks"]
    assert (still["id"], still["action"]) == (task["id"], "callback")

    # A supervisor may do any task; without a note, the history row has no reason.
    await call(sam, "POST", f"/api/appeals/callbacks/{task['id']}/done")
    appeal = (await call(sam, "GET", f"/api/appeals/{task['appeal_id']}"))["appeal"]
    [history] = [h for h in appeal["history"] if h["action"] == "callback_done"]
    assert (history["actor"], history["reason"]) == ("api:sam", None)
    await ada.close()
    await sam.close()


async def test_a_second_notice_that_reaches_nobody_joins_the_standing_task(
    gw: RunningGateway,
) -> None:
    """One standing task is one call: the resolution notice that reaches nobody either is
    recorded in the history but asks for no second call."""
    sam = await gw.operator("sam", role=Role.SUPERVISOR, state=None)
    task = await _task(gw, sam)
    path = f"/api/appeals/{task['appeal_id']}"
    appeal = (await call(sam, "GET", path))["appeal"]
    for action in ("take", "resolve"):
        body = {"action": action, "expected_version": appeal["version"]}
        appeal = (await call(sam, "POST", f"{path}/actions", body))["appeal"]

    async def asked_twice() -> dict[str, Any] | None:
        found = (await call(sam, "GET", path))["appeal"]
        needed = [h for h in found["history"] if h["action"] == "callback_needed"]
        return found if len(needed) == 2 else None

    resolved = await wait_for(asked_twice, timeout=15)
    assert [n["event"] for n in resolved["notices"]] == ["registered", "resolved"]
    tasks = (await call(sam, "GET", "/api/appeals/callbacks"))["callbacks"]
    assert [t["id"] for t in tasks] == [task["id"]]
    async with gw.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(appeal_alerts).where(
                    appeal_alerts.c.appeal_id == task["appeal_id"],
                    appeal_alerts.c.kind == "callback",
                )
            )
        ).all()
    assert len(rows) == 1
