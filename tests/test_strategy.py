"""The routing strategy, table-driven with plain values and fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.strategy import (
    Choice,
    Media,
    OperatorSnapshot,
    PlannedOffer,
    Policy,
    Step,
    WaitingContact,
    current_step,
    effective_priority,
    free_for,
    plan_offers,
)

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def contact(
    cid: int, since: int, priority: int = 0, refused: tuple[int, ...] = ()
) -> WaitingContact:
    return WaitingContact(cid, priority, at(since), frozenset(refused))


def op(oid: int, active: int = 0, capacity: int = 3, idle: int = 0) -> OperatorSnapshot:
    return OperatorSnapshot(oid, capacity, active, at(idle))


@pytest.mark.parametrize(
    ("contacts", "operators", "expected"),
    [
        pytest.param([contact(1, 0)], [], [], id="no operators"),
        pytest.param([], [op(1)], [], id="no contacts"),
        pytest.param(
            [contact(1, 5), contact(2, 0)], [op(7, capacity=1)], [(2, 7)], id="oldest first"
        ),
        pytest.param(
            [contact(1, 0), contact(2, 5, priority=1)],
            [op(7, capacity=1)],
            [(2, 7)],
            id="priority beats age",
        ),
        pytest.param([contact(1, 0)], [op(7, active=3)], [], id="full operator gets nothing"),
        pytest.param(
            [contact(1, 0)], [op(7, idle=50), op(8, idle=10)], [(1, 8)], id="longest idle chosen"
        ),
        pytest.param(
            [contact(1, 0, refused=(8,))],
            [op(7, idle=50), op(8, idle=10)],
            [(1, 7)],
            id="refusers skipped",
        ),
        pytest.param([contact(1, 0, refused=(7,))], [op(7)], [], id="only the refuser: wait"),
        pytest.param(
            [contact(1, 0), contact(2, 1), contact(3, 2)],
            [op(7, idle=0), op(8, idle=1)],
            [(1, 7), (2, 8), (3, 7)],
            id="round the operators fairly",
        ),
        pytest.param(
            [contact(i, i) for i in range(10)],
            [op(7, capacity=2), op(8, capacity=1, active=0)],
            [(0, 7), (1, 8), (2, 7)],
            id="never beyond capacity",
        ),
        pytest.param(
            [contact(1, 0), contact(2, 0)], [op(7, capacity=1)], [(1, 7)], id="tie broken by id"
        ),
    ],
)
def test_plan_offers(
    contacts: list[WaitingContact],
    operators: list[OperatorSnapshot],
    expected: list[tuple[int, int]],
) -> None:
    assert plan_offers(contacts, operators) == [PlannedOffer(c, o) for c, o in expected]


# -- skills, media, affinity, aging, policies and escalation ---------------------------------

NOW = at(600)


def agent(
    oid: int,
    skills: dict[str, int] | None = None,
    languages: tuple[str, ...] = ("en",),
    capacities: dict[Media, int] | None = None,
    load: dict[Media, int] | None = None,
    idle: int = 0,
    wrapup_until: int | None = None,
    last_offered: int | None = None,
) -> OperatorSnapshot:
    caps = capacities or {Media.VOICE: 1, Media.CHAT: 3, Media.MESSAGING: 3, Media.EMAIL: 5}
    return OperatorSnapshot(
        oid,
        caps.get(Media.CHAT, 0),
        (load or {}).get(Media.CHAT, 0),
        at(idle),
        skills or {},
        frozenset(languages),
        caps,
        load or {},
        at(wrapup_until) if wrapup_until is not None else None,
        at(last_offered) if last_offered is not None else None,
    )


def need(
    cid: int,
    since: int = 0,
    media: Media = Media.CHAT,
    skills: dict[str, int] | None = None,
    language: str | None = None,
    priority: int = 0,
    preferred: int | None = None,
    affinity_until: int | None = None,
) -> WaitingContact:
    return WaitingContact(
        cid,
        priority,
        at(since),
        frozenset(),
        media,
        skills or {},
        language,
        preferred,
        at(affinity_until) if affinity_until is not None else None,
    )


@pytest.mark.parametrize(
    ("contacts", "operators", "policy", "expected"),
    [
        pytest.param(
            [need(1, skills={"billing": 3})],
            [agent(7, {"billing": 2}), agent(8, {"billing": 3})],
            Policy(),
            [(1, 8)],
            id="skill floor excludes level 2",
        ),
        pytest.param(
            [need(1, skills={"billing": 1})],
            [agent(7, {"billing": 2}, idle=0), agent(8, {"billing": 5}, idle=100)],
            Policy(),
            [(1, 8)],
            id="best skill level beats longest idle",
        ),
        pytest.param(
            [need(1, skills={"billing": 1})],
            [agent(7, {"billing": 2}, idle=0), agent(8, {"billing": 5}, idle=100)],
            Policy(prefer_skill_level=False),
            [(1, 7)],
            id="skill level preference can be turned off",
        ),
        pytest.param(
            [need(1, skills={"tv": 1})],
            [agent(7, {"billing": 5})],
            Policy(),
            [],
            id="no one has it",
        ),
        pytest.param(
            [need(1, language="de")],
            [agent(7, languages=("en",)), agent(8, languages=("en", "de"), idle=50)],
            Policy(),
            [(1, 8)],
            id="language",
        ),
        pytest.param(
            [need(1, media=Media.CHAT)],
            [agent(7, load={Media.VOICE: 1}), agent(8, idle=50)],
            Policy(),
            [(1, 8)],
            id="a voice call blocks chat",
        ),
        pytest.param(
            [need(1, media=Media.VOICE)],
            [agent(7, load={Media.CHAT: 2})],
            Policy(),
            [(1, 7)],
            id="chats do not block a call",
        ),
        pytest.param(
            [need(1, media=Media.VOICE), need(2, since=1, media=Media.VOICE)],
            [agent(7)],
            Policy(),
            [(1, 7)],
            id="one call at a time",
        ),
        pytest.param(
            [need(i, since=i, media=Media.EMAIL) for i in range(7)],
            [agent(7)],
            Policy(),
            [(i, 7) for i in range(5)],
            id="email capacity 5",
        ),
        pytest.param(
            [need(1)],
            [agent(7, wrapup_until=700), agent(8, idle=50)],
            Policy(),
            [(1, 8)],
            id="wrap-up",
        ),
        pytest.param(
            [need(1, preferred=8, affinity_until=900)],
            [agent(7, idle=0), agent(8, idle=50)],
            Policy(),
            [(1, 8)],
            id="affinity first",
        ),
        pytest.param(
            [need(1, preferred=8, affinity_until=500)],
            [agent(7, idle=0), agent(8, idle=50)],
            Policy(),
            [(1, 7)],
            id="affinity expired",
        ),
        pytest.param(
            [need(1, preferred=8, affinity_until=900)],
            [agent(7, idle=0), agent(8, load={Media.CHAT: 3})],
            Policy(),
            [(1, 7)],
            id="affinity owner busy: next best",
        ),
        pytest.param(
            [need(1, since=0, priority=0), need(2, since=590, priority=2)],
            [agent(7, capacities={Media.CHAT: 1})],
            Policy(aging_seconds=120),
            [(1, 7)],
            id="aging: 10 min at priority 0 beats fresh priority 2",
        ),
        pytest.param(
            [need(1, since=0, priority=0), need(2, since=590, priority=2)],
            [agent(7, capacities={Media.CHAT: 1})],
            Policy(),
            [(2, 7)],
            id="without aging priority wins",
        ),
        pytest.param(
            [need(1)],
            [agent(7, load={Media.CHAT: 2}, idle=0), agent(8, load={Media.CHAT: 1}, idle=50)],
            Policy(choice=Choice.LEAST_BUSY),
            [(1, 8)],
            id="least busy",
        ),
        pytest.param(
            [need(1)],
            [agent(7, idle=0, last_offered=300), agent(8, idle=50, last_offered=100)],
            Policy(choice=Choice.ROUND_ROBIN),
            [(1, 8)],
            id="round robin: least recently offered",
        ),
        pytest.param(
            [need(1)],
            [agent(7, idle=0, last_offered=300), agent(8, idle=50, last_offered=100)],
            Policy(choice=Choice.LONGEST_IDLE),
            [(1, 7)],
            id="longest idle",
        ),
    ],
)
def test_skills_media_affinity_aging(
    contacts: list[WaitingContact],
    operators: list[OperatorSnapshot],
    policy: Policy,
    expected: list[tuple[int, int]],
) -> None:
    assert plan_offers(contacts, operators, now=NOW, policy=policy) == [
        PlannedOffer(c, o) for c, o in expected
    ]


def test_no_starvation_with_aging() -> None:
    """A stream of high-priority contacts cannot keep a low-priority one waiting for ever."""
    low = need(1, since=0, priority=0)
    for minute in range(1, 30):
        now = at(minute * 60)
        highs = [need(100 + minute, since=minute * 60 - 1, priority=3)]
        plan = plan_offers(
            [low, *highs],
            [agent(7, capacities={Media.CHAT: 1})],
            now=now,
            policy=Policy(aging_seconds=60),
        )
        if plan[0].conversation_id == 1:
            assert minute <= 5
            return
    raise AssertionError("the low-priority contact starved")


def test_effective_priority_and_media_room() -> None:
    assert effective_priority(need(1, since=0, priority=1), at(250), 100) == 3
    assert effective_priority(need(1, since=0, priority=1), at(250), None) == 1
    assert free_for(agent(7, load={Media.VOICE: 1}), Media.EMAIL) == 0
    assert free_for(agent(7, load={Media.EMAIL: 2}), Media.EMAIL) == 3


@pytest.mark.parametrize(
    ("waited", "expected"),
    [(0, 0), (29.9, 0), (30, 1), (89, 1), (90, 2), (10_000, 2)],
)
def test_escalation_steps_widen_in_time(waited: float, expected: int) -> None:
    steps = [
        Step("billing-experts", min_level=4, timeout_seconds=30),
        Step("billing", min_level=2, timeout_seconds=60),
        Step("everyone"),
    ]
    assert current_step(steps, waited) == expected


def test_every_step_expired_means_final_action() -> None:
    steps = [Step("billing", timeout_seconds=30), Step("overflow", timeout_seconds=60)]
    assert current_step(steps, 89) == 1
    assert current_step(steps, 90) is None


def test_thousand_contacts_five_skills_twenty_operators() -> None:
    """Every contact is planned exactly once, always to an operator with the skill, in rounds
    where operators finish what they were given."""
    import random

    rng = random.Random(7)
    skills = ["billing", "tech", "sales", "moving", "tv"]
    operators = []
    for oid in range(20):
        mine = rng.sample(skills, k=rng.randint(1, 3))
        operators.append(agent(oid, {s: rng.randint(1, 5) for s in mine}, idle=oid))
    covered = {s for op in operators for s in op.skills}
    contacts = [
        need(cid, since=cid, skills={rng.choice(sorted(covered)): 1}) for cid in range(1000)
    ]
    waiting = {c.conversation_id: c for c in contacts}
    assigned: dict[int, int] = {}
    for _round in range(200):
        if not waiting:
            break
        plan = plan_offers(waiting.values(), operators, now=NOW)
        assert plan, "contacts left that nobody can take"
        for offer in plan:
            contact = waiting.pop(offer.conversation_id)
            assert offer.conversation_id not in assigned
            operator = next(op for op in operators if op.operator_id == offer.operator_id)
            assert all(operator.skills.get(s, 0) >= lvl for s, lvl in contact.skills.items())
            assigned[offer.conversation_id] = offer.operator_id
    assert len(assigned) == 1000 and not waiting


def test_queue_languages_need_one_of_them() -> None:
    contact = WaitingContact(1, 0, at(0), languages=frozenset({"de", "fr"}))
    operators = [agent(7, languages=("en",)), agent(8, languages=("fr",), idle=50)]
    assert [(p.conversation_id, p.operator_id) for p in plan_offers([contact], operators)] == [
        (1, 8)
    ]
    assert plan_offers([contact], [agent(7, languages=("en",))]) == []
