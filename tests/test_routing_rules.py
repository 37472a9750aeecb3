"""The router applies the routing rules: contacts go to operators with the right skills and
language, widen to the next step when a step times out, and end with the rule's final action;
a change of rules applies without a restart."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from gateway.keys import DATABASE, ROUTING_CONFIGS
from gateway.settings import Settings
from gateway.storage.schema import conversations, routing_events
from routing.live import LIVE_ROUTING
from tests.conftest import RunningGateway
from tests.support import Customer, Operator, make_settings, wait_for

RULES: dict[str, Any] = {
    "skills": {"billing": "Bills", "tech": "Faults", "sales": "Contracts"},
    "languages": ["en", "de"],
    "operators": {
        "ada": {"skills": {"billing": 5}, "languages": ["en"]},
        "grace": {"skills": {"tech": 4}, "languages": ["en", "de"]},
    },
    "queues": {
        "billing": {"target": {"skills": {"billing": 1}}},
        "tech-de": {"target": {"skills": {"tech": 1}, "languages": ["de"]}},
        "sales": {"target": {"skills": {"sales": 1}}},
        "everyone": {},
    },
    "rules": [
        {
            "name": "billing-words",
            "when": {"keywords": ["invoice", "refund"]},
            "steps": [{"queue": "billing", "timeout_seconds": 600}],
            "final": {"action": "overflow", "queue": "everyone"},
        },
        {
            "name": "german-tech",
            "when": {"language": "de", "topic": "tech"},
            "steps": [{"queue": "tech-de", "timeout_seconds": 600}],
            "final": {"action": "voicemail"},
        },
        {
            "name": "sales-then-anyone",
            "when": {"topic": "sales"},
            "steps": [
                {"queue": "sales", "timeout_seconds": 1},
                {"queue": "everyone", "timeout_seconds": 600},
            ],
            "final": {"action": "callback"},
        },
        {
            "name": "closed",
            "when": {"topic": "closed"},
            "steps": [{"queue": "sales", "timeout_seconds": 1}],
            "final": {"action": "notice", "text": "We are closed today; we will write back."},
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
    rules = tmp_path / "routing.yaml"
    rules.write_text(json.dumps(RULES))
    return make_settings(tmp_path, routing={"rules_file": str(rules)})


async def _offered(operator: Operator, text: str) -> dict[str, Any]:
    return await wait_for(  # type: ignore[no-any-return]
        lambda: next((o for o in operator.offers.values() if o["preview"] == text), None)
    )


async def _events(gateway: RunningGateway, conversation_id: int) -> list[str]:
    async with gateway.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(routing_events.c.kind)
            .where(routing_events.c.conversation_id == conversation_id)
            .order_by(routing_events.c.id)
        )
        return [r.kind for r in rows]


async def test_skills_keywords_and_languages_pick_the_operator(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    grace = await gateway.operator("grace")
    billing = await gateway.customer()
    await billing.say("There is a mistake on my invoice")
    offer = await _offered(ada, "There is a mistake on my invoice")
    german = await gateway.customer(language="de-AT", topic="tech")
    await german.say("Mein Internet geht nicht")
    offer_de = await _offered(grace, "Mein Internet geht nicht")
    # Neither went to the operator without the skill (or the language).
    assert all(o["conversation_id"] != offer["conversation_id"] for o in grace.offers.values())
    assert all(o["conversation_id"] != offer_de["conversation_id"] for o in ada.offers.values())
    async with gateway.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(
                    conversations.c.rule, conversations.c.queue, conversations.c.attributes
                ).where(conversations.c.id == offer_de["conversation_id"])
            )
        ).one()
    assert (row.rule, row.queue) == ("german-tech", "tech-de")
    assert row.attributes == {"language": "de", "topic": "tech"}


async def test_a_step_that_times_out_widens_the_pool(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")  # no sales skill: not in the first step's pool
    customer = await gateway.customer(topic="sales")
    await customer.say("I want the fibre contract")
    offer = await _offered(ada, "I want the fibre contract")
    assert await _events(gateway, offer["conversation_id"]) == ["routed", "escalated", "offered"]


async def test_the_final_notice_tells_the_customer_and_closes(gateway: RunningGateway) -> None:
    customer = await gateway.customer(topic="closed")
    await customer.say("Anyone there?")
    told = await wait_for(lambda: next(iter(customer.received.values()), None))
    assert told["text"] == "We are closed today; we will write back."
    assert told["author"] == "system"
    conversation_id = told["conversation_id"]
    await wait_for(lambda: any(f["type"] == "closed" for f in customer.frames))
    assert await _events(gateway, conversation_id) == ["routed", "final"]


async def test_a_new_version_of_the_rules_applies_without_restart(
    gateway: RunningGateway,
) -> None:
    ada = await gateway.operator("ada")
    store = gateway.app[ROUTING_CONFIGS]
    before = await store.get()
    assert before is not None and before.source == "file"
    changed = json.loads(json.dumps(RULES))
    changed["operators"]["ada"]["skills"]["sales"] = 3
    changed["rules"][2]["steps"][0]["timeout_seconds"] = 600  # no escalation to help
    await store.save(
        changed, actor_id=None, actor="test", action="routing.replace", target="all", detail={}
    )
    customer = await gateway.customer(topic="sales")
    await customer.say("Upgrade please")
    offer = await _offered(ada, "Upgrade please")
    assert await _events(gateway, offer["conversation_id"]) == ["routed", "offered"]
    assert gateway.app[LIVE_ROUTING].version == before.id + 1


async def test_restarting_keeps_changes_unless_the_file_changed(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], settings: Settings
) -> None:
    first = await start_gateway(settings)
    store = first.app[ROUTING_CONFIGS]
    imported = await store.get()
    assert imported is not None
    saved = await store.save(
        imported.document, actor_id=None, actor="t", action="a", target="t", detail={}
    )
    await first.server.close()
    second = await start_gateway(settings)
    assert (await second.app[ROUTING_CONFIGS].get()).id == saved.id  # type: ignore[union-attr]
    await second.server.close()
    assert settings.routing.rules_file
    rules = json.loads(Path(settings.routing.rules_file).read_text())
    rules["skills"]["vip"] = "Very important"
    Path(settings.routing.rules_file).write_text(json.dumps(rules))
    third = await start_gateway(settings)
    latest = await third.app[ROUTING_CONFIGS].get()
    assert latest is not None and latest.id == saved.id + 1 and "vip" in latest.document["skills"]


@pytest.mark.parametrize(
    "attributes",
    [{"language": "<script>"}, {"topic": "Billing Dept"}, {"topic": "x" * 41}],
)
async def test_bad_contact_attributes_are_refused(
    gateway: RunningGateway, attributes: dict[str, str]
) -> None:
    customer = Customer(gateway.http, gateway.base, attributes)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await customer.connect()
    assert refused.value.status == 400
    async with gateway.app[DATABASE].read() as conn:
        assert (await conn.execute(select(conversations.c.id))).first() is None


async def test_send_back_to_the_previous_step_with_a_reason(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customer = await gateway.customer(topic="sales")
    await customer.say("Which contract suits me?")
    offer = await _offered(ada, "Which contract suits me?")  # after escalation to 'everyone'
    conversation_id = offer["conversation_id"]
    await wait_for(lambda: "Which contract suits me?" in ada.texts("in"))

    refused = await ada.act(
        {"type": "send_back", "conversation_id": conversation_id, "reason": "  "}
    )
    assert refused["error"] == "bad_field"
    moved = await ada.act(
        {
            "type": "send_back",
            "conversation_id": conversation_id,
            "reason": "needs someone who sells contracts",
        }
    )
    assert moved["ok"], moved
    assert moved["transfer"]["queue"] == "sales" and moved["transfer"]["step"] == 0
    closed = await wait_for(lambda: next((f for f in ada.frames if f["type"] == "closed"), None))
    assert closed["conversation_id"] == conversation_id
    again = await ada.act(
        {"type": "send_back", "conversation_id": conversation_id, "reason": "again"}
    )
    assert again["error"] == "not_found"

    # Nobody sells; the step times out again, and the pool widens to someone else than Ada.
    grace = await gateway.operator("grace")
    offer = await wait_for(lambda: next(iter(grace.offers.values()), None))
    assert offer["conversation_id"] == conversation_id
    kinds = await _events(gateway, conversation_id)
    assert kinds[-3:] == ["sent_back", "escalated", "offered"]
    # Grace is told why it came back, in the offer and in the conversation's timeline.
    assert offer["handover"]["kind"] == "sent_back"
    assert offer["handover"]["text"] == "needs someone who sells contracts"
    assert (await grace.act({"type": "accept", "offer_id": offer["id"]}))["ok"]
    seen = (await grace.get(f"/api/conversations/{conversation_id}"))["conversation"]
    assert [(h["kind"], h["from_name"], h["text"]) for h in seen["handovers"]] == [
        ("sent_back", "Ada", "needs someone who sells contracts")
    ]
    assert seen["can_send_back"] is True  # on 'everyone' again, after 'sales'


async def test_send_back_at_the_first_step_is_refused(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customer = await gateway.customer()
    await customer.say("my invoice again")
    offer = await _offered(ada, "my invoice again")
    await wait_for(lambda: "my invoice again" in ada.texts("in"))
    seen = (await ada.get(f"/api/conversations/{offer['conversation_id']}"))["conversation"]
    assert seen["can_send_back"] is False  # the console offers no "Send back" here
    assigned = next(f for f in ada.frames if f["type"] == "assigned")
    assert assigned["conversation"]["can_send_back"] is False
    # Refused for what it is, before anyone is asked for a reason.
    answer = await ada.act(
        {"type": "send_back", "conversation_id": offer["conversation_id"], "reason": ""}
    )
    assert answer["error"] == "first_step"
    async with gateway.http.get(
        f"{gateway.base}/api/transfer-targets", headers=ada.headers
    ) as resp:
        listed = await resp.json()
    assert {q["name"] for q in listed["queues"]} == {"billing", "tech-de", "sales", "everyone"}
    assert all(o["name"] != "Ada" for o in listed["operators"])
