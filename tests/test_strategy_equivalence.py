"""The planner's shortcuts (shared candidate lists, dropping full operators, stopping when
nobody has room) change nothing: on many random lines it plans exactly what the plain
definition of the strategy plans."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from routing.strategy import (
    Choice,
    Media,
    OperatorSnapshot,
    PlannedOffer,
    Policy,
    WaitingContact,
    effective_priority,
    eligible,
    plan_offers,
    skill_score,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SKILLS = ["billing", "tech", "sales", "tv"]


def reference_plan(
    contacts: Iterable[WaitingContact],
    operators: Iterable[OperatorSnapshot],
    now: datetime | None,
    policy: Policy,
) -> list[PlannedOffer]:
    """The strategy as its docstring states it, one contact and one operator at a time."""
    pool = []
    for op in operators:
        caps = op.capacities if op.capacities is not None else {Media.CHAT: op.capacity}
        load = (
            dict(op.load) if op.load is not None else ({Media.CHAT: op.active} if op.active else {})
        )
        idle = op.idle_since.timestamp() if op.idle_since else float("-inf")
        last = op.last_offered_at.timestamp() if op.last_offered_at else idle
        pool.append({"op": op, "caps": caps, "load": load, "idle": idle, "last": last})

    def snapshot(entry: dict) -> OperatorSnapshot:  # type: ignore[type-arg]
        op = entry["op"]
        return OperatorSnapshot(
            op.operator_id, op.capacity, entry["load"].get(Media.CHAT, 0), op.idle_since,
            op.skills, op.languages, entry["caps"], dict(entry["load"]), op.wrapup_until,
            op.last_offered_at,
        )  # fmt: skip

    def rank(entry: dict, contact: WaitingContact) -> tuple[float, ...]:  # type: ignore[type-arg]
        skill = -skill_score(entry["op"], contact) if policy.prefer_skill_level else 0
        if policy.choice == Choice.LEAST_BUSY:
            total = sum(entry["caps"].values())
            busy = sum(entry["load"].values()) / total if total else 1.0
            key: tuple[float, ...] = (busy, entry["idle"])
        elif policy.choice == Choice.ROUND_ROBIN:
            key = (entry["last"],)
        else:
            key = (entry["idle"], entry["last"])
        return (skill, *key, entry["op"].operator_id)

    ordered = sorted(
        contacts,
        key=lambda c: (
            -effective_priority(c, now, policy.aging_seconds),
            c.waiting_since.timestamp() if c.waiting_since else float("-inf"),
            c.conversation_id,
        ),
    )
    plan, tick = [], 0.0
    for contact in ordered:
        candidates = [e for e in pool if eligible(snapshot(e), contact, now)]
        if not candidates:
            continue
        chosen = None
        if contact.preferred_operator is not None and (
            contact.affinity_until is None or now is None or contact.affinity_until > now
        ):
            chosen = next(
                (e for e in candidates if e["op"].operator_id == contact.preferred_operator), None
            )
        if chosen is None:
            chosen = min(candidates, key=lambda e: rank(e, contact))
        plan.append(PlannedOffer(contact.conversation_id, chosen["op"].operator_id))
        chosen["load"][contact.media] = chosen["load"].get(contact.media, 0) + 1
        tick += 1.0
        chosen["last"] = chosen["idle"] = 1e18 + tick
    return plan


def _moment(rng: random.Random, spread: int = 3600) -> datetime:
    return NOW - timedelta(seconds=rng.randint(0, spread))


def random_case(seed: int) -> tuple[list[WaitingContact], list[OperatorSnapshot], Policy]:
    rng = random.Random(seed)
    operators = []
    for oid in range(1, rng.randint(1, 12) + 1):
        caps = {m: rng.randint(0, 3) for m in Media} if rng.random() < 0.8 else None
        load = {m: rng.randint(0, 2) for m in rng.sample(list(Media), 2)} if caps else None
        operators.append(
            OperatorSnapshot(
                oid,
                rng.randint(1, 4),
                rng.randint(0, 2),
                _moment(rng) if rng.random() < 0.9 else None,
                {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(0, 3))},
                frozenset(rng.sample(["en", "de", "fr"], rng.randint(0, 2))),
                caps,
                load,
                NOW + timedelta(seconds=rng.choice([-30, 30])) if rng.random() < 0.2 else None,
                _moment(rng) if rng.random() < 0.3 else None,
            )
        )
    contacts = []
    for cid in range(1, rng.randint(0, 40) + 1):
        contacts.append(
            WaitingContact(
                cid,
                rng.randint(0, 3),
                _moment(rng) if rng.random() < 0.95 else None,
                frozenset(rng.sample(range(1, 13), rng.randint(0, 2))),
                rng.choice(list(Media)),
                {s: rng.randint(1, 4) for s in rng.sample(SKILLS, rng.randint(0, 2))},
                rng.choice([None, None, "en", "de"]),
                rng.randint(1, 12) if rng.random() < 0.2 else None,
                NOW + timedelta(seconds=rng.choice([-60, 60])) if rng.random() < 0.5 else None,
                frozenset(rng.sample(["en", "de", "fr"], rng.randint(0, 2))),
            )
        )
    policy = Policy(
        rng.choice(list(Choice)),
        rng.choice([None, 60.0, 600.0]),
        rng.random() < 0.8,
    )
    return contacts, operators, policy


@pytest.mark.parametrize("seed", range(400))
def test_the_planner_plans_what_the_definition_plans(seed: int) -> None:
    contacts, operators, policy = random_case(seed)
    now = NOW if seed % 7 else None
    assert plan_offers(contacts, operators, now=now, policy=policy) == reference_plan(
        contacts, operators, now, policy
    )
