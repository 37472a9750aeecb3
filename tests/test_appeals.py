"""Appeals through the HTTP API against a real gateway: registering one from a conversation or
by an integrator (once per idempotency key), moving it through its route with compare-and-set,
sending it back with a reason, pausing it for the customer, and who may see what."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appeals.numbers import parse_reference
from gateway.keys import DATABASE
from gateway.model import Role
from gateway.storage.schema import appeal_history, appeal_pauses, appeals, routing_events
from tests.conftest import RunningGateway
from tests.support import make_settings, nothing_stored, wait_for

ROUTING = """
skills: {support: First line, billing: Bills}
operators:
  ada: {skills: {support: 1}}
  bob: {skills: {billing: 1}}
  eve: {skills: {}}
queues:
  general: {target: {skills: {support: 1}}}
  billing: {target: {skills: {billing: 1}}}
  anyone: {}
rules:
  - name: all
    steps: [{queue: anyone, timeout_seconds: 600}]
    final: {action: voicemail}
"""

TOPICS = """
settings:
  dispositions:
    solved: {en: Solved on first contact, ru: Решено сразу}
    appeal_opened: {en: Appeal opened}
topics:
  billing_dispute:
    title: {en: Billing dispute, ru: Спор по счёту}
    category: complaint
    priority: normal
    fields:
      - {name: account, label: {en: Account number}, type: text, required: true,
         pattern: "^[0-9]{6,10}$"}
      - {name: amount, label: {en: Disputed amount}, type: number, min: 0}
    route:
      - {name: First line, queue: general, max: 4h, may_resolve: false, on_timeout: warn}
      - {name: Billing, queue: billing, max: 8h, may_resolve: true, on_timeout: notify}
    sla:
      first_response: {normal: 1h}
      resolution: {normal: 16h, urgent: 4h}
"""


@pytest.fixture
async def desk(tmp_path: Path, start_gateway: Any) -> RunningGateway:
    (tmp_path / "routing.yaml").write_text(ROUTING)
    (tmp_path / "topics.yaml").write_text(TOPICS)
    settings = make_settings(
        tmp_path,
        routing={"rules_file": str(tmp_path / "routing.yaml")},
        appeals={"topics_file": str(tmp_path / "topics.yaml")},
    )
    return await start_gateway(settings)  # type: ignore[no-any-return]


def _worked(actions: Iterable[str]) -> list[str]:
    """The history's actions without the customer notices' own rows (they are written when
    the notice goes out, at a moment of their own: tests/test_appeals_notices.py)."""
    return [a for a in actions if a not in ("notice", "callback_needed")]


async def _call(
    gw: RunningGateway, method: str, path: str, who: Any, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with gw.http.request(method, f"{gw.base}{path}", headers=who.headers, json=body) as resp:
        return resp.status, await resp.json()


async def _served_conversation(gw: RunningGateway, operator: Any) -> tuple[Any, int]:
    """A web chat customer whose conversation ``operator`` has accepted."""
    operator.auto_accept = True
    customer = await gw.customer()
    await customer.say("I was charged twice this month")
    await wait_for(lambda: operator.messages)
    conversation_id = next(iter(operator.messages.values()))["conversation_id"]
    return customer, int(conversation_id)


async def test_an_operator_registers_an_appeal_from_a_conversation_once(
    desk: RunningGateway,
) -> None:
    ada = await desk.operator("ada")
    customer, conversation_id = await _served_conversation(desk, ada)

    bad = {"topic": "billing_dispute", "conversation_id": conversation_id, "fields": {"amount": -5}}
    async with nothing_stored(desk.app[DATABASE]):
        status, body = await _call(desk, "POST", "/api/appeals", ada, bad)
    assert status == 422, body
    assert body["error"] == "invalid_fields", body
    assert set(body["problems"]) == {"account", "amount"}

    good = {
        "topic": "billing_dispute",
        "conversation_id": conversation_id,
        "fields": {"account": "12345678", "amount": "19.90"},
        "summary": "Charged twice in November",
    }
    status, body = await _call(desk, "POST", "/api/appeals", ada, good)
    assert status == 201, body
    appeal = body["appeal"]
    assert parse_reference(appeal["reference"]) == appeal["reference"]
    assert (appeal["status"], appeal["stage"], appeal["queue"]) == ("awaiting", 0, "general")
    assert appeal["stage_name"] == "First line"
    assert appeal["fields"] == {"account": "12345678", "amount": 19.9}
    assert appeal["stage_due_at"] is not None and appeal["resolution_due_at"] is not None

    # The same conversation opens no second appeal: the first one comes back.
    status, again = await _call(desk, "POST", "/api/appeals", ada, good)
    assert (status, again["created"], again["appeal"]["id"]) == (200, False, appeal["id"])
    async with desk.app[DATABASE].read() as conn:
        count = len((await conn.execute(appeals.select())).all())
    assert count == 1
    await customer.close()
    await ada.close()


async def test_an_integrator_registers_once_per_idempotency_key(desk: RunningGateway) -> None:
    ada = await desk.operator("ada")
    customer, _conversation_id = await _served_conversation(desk, ada)
    api = await desk.operator("crm", role=Role.SUPERVISOR, state=None)
    detail = await ada.get("/api/conversations")
    customer_id = detail["conversations"][0]["customer"]["id"]
    body = {
        "topic": "billing_dispute",
        "customer_id": customer_id,
        "fields": {"account": "87654321"},
        "priority": "urgent",
    }
    status, refused = await _call(desk, "POST", "/api/appeals", api, body)
    assert (status, refused["error"]) == (422, "bad_field")  # a token must send a key

    keyed = {**body, "idempotency_key": "crm-ticket-4711"}
    first_status, first = await _call(desk, "POST", "/api/appeals", api, keyed)
    second_status, second = await _call(desk, "POST", "/api/appeals", api, keyed)
    assert (first_status, second_status) == (201, 200)
    assert first["appeal"]["id"] == second["appeal"]["id"]
    assert first["appeal"]["priority"] == "urgent"
    assert second["created"] is False

    # An operator cannot register an appeal for any customer they like.
    status, _ = await _call(desk, "POST", "/api/appeals", ada, keyed)
    assert status == 403
    await customer.close()
    for client in (ada, api):
        await client.close()


async def test_the_route_send_back_and_compare_and_set(desk: RunningGateway) -> None:
    ada = await desk.operator("ada")
    bob = await desk.operator("bob")
    eve = await desk.operator("eve")
    sam = await desk.operator("sam", role=Role.SUPERVISOR, state=None)
    customer, conversation_id = await _served_conversation(desk, ada)
    _, created = await _call(
        desk,
        "POST",
        "/api/appeals",
        ada,
        {"topic": "billing_dispute", "conversation_id": conversation_id,
         "fields": {"account": "12345678"}},
    )  # fmt: skip
    appeal = created["appeal"]
    path = f"/api/appeals/{appeal['id']}"

    # Bob works in billing, not in the first line: the appeal is not his to see yet.
    assert (await _call(desk, "GET", path, bob))[0] == 404
    assert (await _call(desk, "GET", f"/api/appeals/by-reference/{appeal['reference']}", eve))[
        0
    ] == 404

    async def act(who: Any, action: str, version: int, **extra: Any) -> tuple[int, Any]:
        return await _call(
            desk, "POST", f"{path}/actions", who,
            {"action": action, "expected_version": version, **extra},
        )  # fmt: skip

    status, taken = await act(ada, "take", appeal["version"])
    assert status == 200, taken
    taken = taken["appeal"]
    assert (taken["status"], taken["owner_id"]) == ("in_progress", ada.user_id)  # type: ignore[attr-defined]
    # The first line may not resolve: refused, nothing changed.
    status, refused = await act(ada, "resolve", taken["version"])
    assert (status, refused["error"]) == (409, "transition_forbidden")
    # A change made against an old version is refused.
    status, stale = await act(ada, "advance", appeal["version"])
    assert (status, stale["error"]) == (409, "version_conflict")
    status, advanced = await act(ada, "advance", taken["version"])
    assert status == 200
    advanced = advanced["appeal"]
    assert (advanced["status"], advanced["stage"], advanced["queue"]) == ("awaiting", 1, "billing")
    assert advanced["owner_id"] is None
    # Ada no longer owns it; she may still read it (she worked on it) but not act.
    assert (await act(ada, "take", advanced["version"]))[0] == 403
    assert (await _call(desk, "GET", path, ada))[0] == 200

    status, bobs = await act(bob, "take", advanced["version"])
    assert status == 200
    bobs = bobs["appeal"]
    async with nothing_stored(desk.app[DATABASE]):
        status, no_reason = await act(bob, "send_back", bobs["version"], reason="   ")
    assert (status, no_reason["error"]) == (422, "reason_required")
    status, back = await act(
        bob, "send_back", bobs["version"], reason="The account number is a mobile number"
    )
    assert status == 200
    back = back["appeal"]
    assert (back["status"], back["stage"], back["queue"]) == ("awaiting", 0, "general")
    assert back["returned_reason"] == "The account number is a mobile number"

    # The history says who did what, when and why.
    history = back["history"]
    assert _worked(h["action"] for h in history) == [
        "register",
        "take",
        "advance",
        "take",
        "send_back",
    ]
    assert history[-1]["actor"] == "api:bob"
    assert history[-1]["reason"] == "The account number is a mobile number"

    # A supervisor reassigns and changes the priority; the resolution deadline moves.
    status, assigned = await act(sam, "take", back["version"], owner_id=bob.user_id)  # type: ignore[attr-defined]
    assert status == 200
    before = assigned["appeal"]
    status, urgent = await _call(
        desk, "PATCH", path, sam, {"expected_version": before["version"], "priority": "urgent"}
    )
    assert status == 200, urgent
    assert urgent["appeal"]["resolution_due_at"] < before["resolution_due_at"]
    status, _ = await _call(
        desk, "PATCH", path, bob, {"expected_version": urgent["appeal"]["version"],
                                   "priority": "low"},
    )  # fmt: skip
    assert status == 403  # only a supervisor changes the priority
    await customer.close()
    for client in (ada, bob, eve, sam):
        await client.close()


async def test_pending_customer_pauses_the_clock_and_is_recorded(desk: RunningGateway) -> None:
    ada = await desk.operator("ada")
    customer, conversation_id = await _served_conversation(desk, ada)
    _, created = await _call(
        desk, "POST", "/api/appeals", ada,
        {"topic": "billing_dispute", "conversation_id": conversation_id,
         "fields": {"account": "12345678"}},
    )  # fmt: skip
    appeal = created["appeal"]
    path = f"/api/appeals/{appeal['id']}/actions"
    _, taken = await _call(
        desk, "POST", path, ada, {"action": "take", "expected_version": appeal["version"]}
    )
    status, paused = await _call(
        desk, "POST", path, ada,
        {"action": "wait_customer", "expected_version": taken["appeal"]["version"],
         "reason": "Asked for a copy of the bill"},
    )  # fmt: skip
    assert status == 200, paused
    paused = paused["appeal"]
    assert paused["status"] == "pending_customer" and paused["paused_at"] is not None
    assert paused["late"] is False
    status, resumed = await _call(
        desk, "POST", path, ada, {"action": "resume", "expected_version": paused["version"]}
    )
    assert status == 200
    resumed = resumed["appeal"]
    assert resumed["status"] == "in_progress" and resumed["paused_at"] is None
    (pause,) = resumed["pauses"]
    assert pause["reason"] == "Asked for a copy of the bill"
    assert pause["ended_by"] == "api:ada" and pause["ended_at"] is not None
    assert resumed["resolution_due_at"] >= appeal["resolution_due_at"]
    async with desk.app[DATABASE].read() as conn:
        assert len((await conn.execute(appeal_pauses.select())).all()) == 1
        actions = [r.action for r in (await conn.execute(appeal_history.select())).all()]
    assert _worked(actions) == ["register", "take", "wait_customer", "resume"]
    await customer.close()
    await ada.close()


async def test_a_conversation_is_closed_with_a_known_wrap_up_code(desk: RunningGateway) -> None:
    ada = await desk.operator("ada")
    customer, conversation_id = await _served_conversation(desk, ada)
    topics = await ada.get("/api/appeal-topics?language=ru")
    assert topics["dispositions"] == [
        {"code": "solved", "label": "Решено сразу"},
        {"code": "appeal_opened", "label": "Appeal opened"},
    ]
    assert [t["name"] for t in topics["topics"]] == ["billing_dispute"]
    path = f"/api/conversations/{conversation_id}/resolve"
    async with nothing_stored(desk.app[DATABASE]):
        status, refused = await _call(desk, "POST", path, ada, {"disposition": "lost"})
    assert status == 422 and "solved" in refused["reason"]
    result = await ada.act(
        {"type": "resolve", "conversation_id": conversation_id, "disposition": "solved"}
    )
    assert result["ok"], result
    async with desk.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(routing_events.select().where(routing_events.c.kind == "resolved"))
        ).all()
    assert [r.detail for r in rows] == [{"disposition": "solved"}]
    await customer.close()
    await ada.close()


async def test_files_are_attached_and_served_to_those_who_see_the_appeal(
    desk: RunningGateway,
) -> None:
    ada = await desk.operator("ada")
    eve = await desk.operator("eve")
    customer, conversation_id = await _served_conversation(desk, ada)
    _, created = await _call(
        desk, "POST", "/api/appeals", ada,
        {"topic": "billing_dispute", "conversation_id": conversation_id,
         "fields": {"account": "12345678"}},
    )  # fmt: skip
    appeal = created["appeal"]
    form = aiohttp.FormData()
    form.add_field(
        "file", b"%PDF-1.4 bill", filename='../Счёт "ноябрь".pdf', content_type="application/pdf"
    )
    url = f"{desk.base}/api/appeals/{appeal['id']}/attachments"
    async with desk.http.post(url, headers=ada.headers, data=form) as resp:
        assert resp.status == 201, await resp.text()
    async with desk.http.post(url, headers=ada.headers, json={"message_id": 10**12}) as resp:
        assert resp.status == 422
    detail = (await ada.get(f"/api/appeals/{appeal['id']}"))["appeal"]
    (attached,) = detail["attachments"]
    assert attached["filename"] == "Счёт _ноябрь_.pdf"
    assert (attached["content_type"], attached["size"]) == ("application/pdf", 13)
    assert _worked(h["action"] for h in detail["history"])[-1] == "attach"
    async with desk.http.get(f"{desk.base}{attached['url']}", headers=ada.headers) as resp:
        assert resp.status == 200
        assert await resp.read() == b"%PDF-1.4 bill"
        assert resp.headers["Content-Disposition"].startswith("attachment;")
    async with desk.http.get(f"{desk.base}{attached['url']}", headers=eve.headers) as resp:
        assert resp.status == 404  # not an appeal eve may see
    await customer.close()
    for client in (ada, eve):
        await client.close()


async def test_an_optional_field_is_cleared_with_null_and_a_required_one_is_not(
    desk: RunningGateway,
) -> None:
    ada = await desk.operator("ada")
    customer, conversation_id = await _served_conversation(desk, ada)
    _, created = await _call(
        desk, "POST", "/api/appeals", ada,
        {"topic": "billing_dispute", "conversation_id": conversation_id,
         "fields": {"account": "12345678", "amount": 5}},
    )  # fmt: skip
    appeal = created["appeal"]
    path = f"/api/appeals/{appeal['id']}"
    _, taken = await _call(
        desk, "POST", f"{path}/actions", ada, {"action": "take", "expected_version": 1}
    )
    version = taken["appeal"]["version"]
    async with nothing_stored(desk.app[DATABASE]):
        status, refused = await _call(
            desk, "PATCH", path, ada, {"expected_version": version, "fields": {"account": None}}
        )
    assert (status, refused["problems"]) == (422, {"account": "required"})
    status, cleared = await _call(
        desk, "PATCH", path, ada, {"expected_version": version, "fields": {"amount": None}}
    )
    assert status == 200, cleared
    assert cleared["appeal"]["fields"] == {"account": "12345678"}
    assert cleared["appeal"]["history"][-1]["detail"]["fields"] == {"amount": None}
    await customer.close()
    await ada.close()
