"""The planner's shortcuts (shared candidate lists, dropping full operators, stopping when
nobody has room) change nothing: on many random lines it plans exactly what the plain
definition of the strategy plans.

The plain definition is written out here from docs/routing.md, without the strategy's own
helpers (eligibility, skill score, aged priority), so a fault in one of them shows as a
difference instead of being shared by both sides."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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


def ref_priority(contact: WaitingContact, now: datetime | None, aging: float | None) -> float:
    """One priority point per ``aging`` seconds waited (whole periods only)."""
    if aging is None or now is None or contact.waiting_since is None:
        return contact.priority
    waited = (now - contact.waiting_since).total_seconds()
    periods = 0
    while (periods + 1) * aging <= waited:
        periods += 1
    return contact.priority + periods


def ref_score(skills: Mapping[str, int], contact: WaitingContact) -> int:
    """The operator's levels in the skills the contact needs, added up."""
    return sum(level for skill, level in skills.items() if skill in contact.skills)


def ref_eligible(
    op: OperatorSnapshot,
    caps: Mapping[Media, int],
    load: Mapping[Media, int],
    contact: WaitingContact,
    now: datetime | None,
) -> bool:
    """Did not decline it, not in wrap-up, speaks the language, has every skill at the level,
    and has room for its media (none for other media while on a voice call)."""
    if op.operator_id in contact.refused_by:
        return False
    if now is not None and op.wrapup_until is not None and now < op.wrapup_until:
        return False
    if contact.language is not None and contact.language not in op.languages:
        return False
    if contact.languages and not any(lang in op.languages for lang in contact.languages):
        return False
    for skill, level in contact.skills.items():
        if skill not in op.skills or op.skills[skill] < level:
            return False
    if contact.media != Media.VOICE and load.get(Media.VOICE, 0) > 0:
        return False
    return load.get(contact.media, 0) < caps.get(contact.media, 0)


def reference_plan(
    contacts: Iterable[WaitingContact],
    operators: Iterable[OperatorSnapshot],
    now: datetime | None,
    policy: Policy,
) -> list[PlannedOffer]:
    """The strategy as its docstring states it, one contact and one operator at a time."""
    pool: list[dict[str, Any]] = []
    for op in operators:
        caps = op.capacities if op.capacities is not None else {Media.CHAT: op.capacity}
        load = (
            dict(op.load) if op.load is not None else ({Media.CHAT: op.active} if op.active else {})
        )
        idle = op.idle_since.timestamp() if op.idle_since else float("-inf")
        last = op.last_offered_at.timestamp() if op.last_offered_at else idle
        pool.append({"op": op, "caps": caps, "load": load, "idle": idle, "last": last})

    def rank(entry: dict[str, Any], contact: WaitingContact) -> tuple[float, ...]:
        skill = -ref_score(entry["op"].skills, contact) if policy.prefer_skill_level else 0
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
            -ref_priority(c, now, policy.aging_seconds),
            c.waiting_since.timestamp() if c.waiting_since else float("-inf"),
            c.conversation_id,
        ),
    )
    plan, tick = [], 0.0
    for contact in ordered:
        candidates = [e for e in pool if ref_eligible(e["op"], e["caps"], e["load"], contact, now)]
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


@pytest.mark.parametrize("seed", range(100))
def test_the_helpers_agree_with_the_definition(seed: int) -> None:
    """The planner does not call every helper the router and the reports use: each one is
    held to the definition on its own, for every operator and contact of a random line."""
    contacts, operators, policy = random_case(seed)
    now = NOW if seed % 7 else None
    for contact in contacts:
        for aging in (None, 60.0, 600.0, policy.aging_seconds):
            assert effective_priority(contact, now, aging) == ref_priority(contact, now, aging)
        for op in operators:
            caps = op.capacities if op.capacities is not None else {Media.CHAT: op.capacity}
            load = op.load if op.load is not None else {Media.CHAT: op.active}
            assert eligible(op, contact, now) == ref_eligible(op, caps, load, contact, now), (
                op,
                contact,
            )
            assert skill_score(op, contact) == ref_score(op.skills, contact)
