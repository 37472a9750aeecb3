"""1,000 contacts across 5 skills to 20 operators with mixed skills, through the whole router
(store, RabbitMQ, operator sockets): every contact is assigned exactly once, to an operator who
has the skill its rule asks for, and nobody holds more than their capacity."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.keys import DATABASE, INTAKE, RELAY
from gateway.model import Channel, InboundMessage
from gateway.settings import Settings
from gateway.storage.schema import conversations, offers, routing_events, users
from tests.conftest import RunningGateway
from tests.support import Operator, make_settings, wait_for

SKILLS = [f"s{n}" for n in range(5)]
OPERATORS = 20
CONTACTS = 1000
CAPACITY = 60


def _skills_of(i: int) -> dict[str, int]:
    """Operator i: two or three skills at mixed levels; every skill has eight or more people."""
    picked = {SKILLS[i % 5]: 1 + i % 5, SKILLS[(i + 1) % 5]: 1 + (i * 3) % 5}
    if i % 2 == 0:
        picked[SKILLS[(i + 2) % 5]] = 2
    return picked


def _rules() -> dict[str, Any]:
    return {
        # Operators here take every offer at once (auto accept), as in a load test: let each
        # hold as many unanswered offers as chats. The one-offer-at-a-time default is proved
        # in test_holdups.py and test_offer_cooldown.py.
        "policy": {"max_pending_offers": {"chat": CAPACITY}},
        "skills": {s: f"Skill {s}" for s in SKILLS},
        "default_capacity": {"voice": 1, "chat": CAPACITY, "messaging": 3, "email": 5},
        "operators": {f"op{i:02d}": {"skills": _skills_of(i)} for i in range(OPERATORS)},
        "queues": {s: {"target": {"skills": {s: 1}}} for s in SKILLS},
        "rules": [
            *(
                {
                    "name": f"topic-{s}",
                    "when": {"topic": s},
                    "steps": [{"queue": s, "timeout_seconds": 3600}],
                    "final": {"action": "overflow", "queue": s},
                }
                for s in SKILLS
            ),
            {
                "name": "rest",
                "steps": [{"queue": SKILLS[0], "timeout_seconds": 3600}],
                "final": {"action": "overflow", "queue": SKILLS[0]},
            },
        ],
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    rules = tmp_path / "routing.yaml"
    rules.write_text(json.dumps(_rules()))
    return make_settings(tmp_path, routing={"rules_file": str(rules), "offer_timeout_seconds": 120})


async def test_a_thousand_contacts_five_skills_twenty_operators(gateway: RunningGateway) -> None:
    operators: list[Operator] = []
    for i in range(OPERATORS):
        operator = await gateway.operator(f"op{i:02d}")
        operator.auto_accept = True
        operators.append(operator)

    async def contact(n: int) -> None:
        message = InboundMessage(
            channel=Channel.WEBCHAT,
            sender=f"v_scale-{n:04d}-aaaaaaaaaaaa",
            text=f"contact {n}",
            provider_message_id=f"scale-{n}",
            attributes={"topic": SKILLS[n % 5]},
        )
        await gateway.app[INTAKE].accept(message, dedupe_key=f"scale:{n}", queue="general")

    for start in range(0, CONTACTS, 100):
        await asyncio.gather(*(contact(n) for n in range(start, start + 100)))
        gateway.app[RELAY].nudge()

    async def all_assigned() -> bool:
        async with gateway.app[DATABASE].read() as conn:
            n = (
                await conn.execute(
                    select(func.count())
                    .select_from(conversations)
                    .where(conversations.c.status == "assigned")
                )
            ).scalar_one()
        return bool(n == CONTACTS)

    await wait_for(all_assigned, timeout=120, interval=0.5)

    async with gateway.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(conversations.c.id, conversations.c.attributes, users.c.username).join(
                    users, users.c.id == conversations.c.operator_id
                )
            )
        ).all()
        assigned_events = Counter(
            r.conversation_id
            for r in await conn.execute(
                select(routing_events.c.conversation_id).where(routing_events.c.kind == "assigned")
            )
        )
        accepted = Counter(
            r.conversation_id
            for r in await conn.execute(
                select(offers.c.conversation_id).where(offers.c.status == "accepted")
            )
        )
    assert len(rows) == CONTACTS
    assert set(assigned_events.values()) == {1} and len(assigned_events) == CONTACTS
    assert set(accepted.values()) == {1} and len(accepted) == CONTACTS
    for row in rows:
        skill = row.attributes["topic"]
        profile = _skills_of(int(row.username[2:]))
        assert skill in profile, f"conversation {row.id} went to {row.username} without {skill}"
    load = Counter(row.username for row in rows)
    assert max(load.values()) <= CAPACITY
    # Each operator saw each of their conversations offered once.
    for operator in operators:
        ids = [o["conversation_id"] for o in operator.offers.values()]
        assert len(ids) == len(set(ids))
    for operator in operators:
        await operator.close()
