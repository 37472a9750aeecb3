"""Pending-offer limits, cool-downs and the explanation of why a contact is still waiting:
plain tables over the strategy's own types, with a fixed clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from routing.holdups import Explanation, Holdup, explain, someone_could_take
from routing.strategy import Media, OperatorSnapshot, Policy, WaitingContact, plan_offers

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ONE_EACH = Policy(max_pending_offers=dict.fromkeys(Media, 1))
MEDIA_CAPS = {Media.VOICE: 1, Media.CHAT: 3, Media.MESSAGING: 3, Media.EMAIL: 5}


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(
    oid: int,
    idle: int = 0,
    skills: dict[str, int] | None = None,
    load: dict[Media, int] | None = None,
    pending: dict[Media, int] | None = None,
    wrapup_until: int | None = None,
) -> OperatorSnapshot:
    return OperatorSnapshot(
        oid,
        3,
        0,
        at(idle),
        skills or {},
        frozenset({"en"}),
        MEDIA_CAPS,
        load or {},
        at(wrapup_until) if wrapup_until is not None else None,
        pending=pending or {},
    )


def mail(
    cid: int,
    since: int = 0,
    skills: dict[str, int] | None = None,
    cooling: tuple[int, ...] = (),
    passed_on: tuple[int, ...] = (),
    media: Media = Media.EMAIL,
) -> WaitingContact:
    return WaitingContact(
        cid,
        0,
        at(since),
        frozenset(passed_on),
        media,
        skills or {},
        cooling_down=frozenset(cooling),
    )


@pytest.mark.parametrize(
    ("contacts", "operators", "policy", "expected"),
    [
        pytest.param(
            [mail(1), mail(2), mail(3)],
            [agent(7)],
            ONE_EACH,
            [(1, 7)],
            id="one-pending-offer-per-operator-not-five",
        ),
        pytest.param(
            [mail(1), mail(2), mail(3)],
            [agent(7), agent(8, idle=-10)],
            ONE_EACH,
            [(1, 8), (2, 7)],
            id="the-next-contact-goes-to-the-next-operator",
        ),
        pytest.param(
            [mail(1)],
            [agent(7, pending={Media.EMAIL: 1}, load={Media.EMAIL: 1})],
            ONE_EACH,
            [],
            id="an-unanswered-offer-holds-the-next",
        ),
        pytest.param(
            [mail(1, media=Media.CHAT)],
            [agent(7, pending={Media.EMAIL: 1}, load={Media.EMAIL: 1})],
            ONE_EACH,
            [(1, 7)],
            id="the-limit-is-per-media",
        ),
        pytest.param(
            [mail(1), mail(2)],
            [agent(7)],
            Policy(max_pending_offers={Media.EMAIL: 2}),
            [(1, 7), (2, 7)],
            id="a-higher-limit",
        ),
        pytest.param(
            [mail(1), mail(2), mail(3)],
            [agent(7)],
            Policy(),
            [(1, 7), (2, 7), (3, 7)],
            id="no-limit-up-to-capacity",
        ),
        pytest.param(
            [mail(1, cooling=(7,))],
            [agent(7, idle=-100), agent(8)],
            ONE_EACH,
            [(1, 8)],
            id="cool-down-skips-the-one-who-missed-it",
        ),
        pytest.param(
            [mail(1, cooling=(7, 8))],
            [agent(7), agent(8)],
            ONE_EACH,
            [],
            id="everyone-in-cool-down",
        ),
        pytest.param(
            [mail(1)],
            [agent(7, idle=-100), agent(8)],
            ONE_EACH,
            [(1, 7)],
            id="after-the-cool-down-longest-idle-first",
        ),
    ],
)
def test_pending_limits_and_cool_downs(
    contacts: list[WaitingContact],
    operators: list[OperatorSnapshot],
    policy: Policy,
    expected: list[tuple[int, int]],
) -> None:
    plan = plan_offers(contacts, operators, now=at(0), policy=policy)
    assert [(p.conversation_id, p.operator_id) for p in plan] == expected


FULL = {Media.EMAIL: 5}


@pytest.mark.parametrize(
    ("contact", "operators", "later", "expected"),
    [
        pytest.param(mail(1), [agent(7)], False, Explanation(Holdup.OFFER_NEXT), id="offer-next"),
        pytest.param(
            mail(1, skills={"billing": 3}),
            [agent(7)],
            False,
            Explanation(Holdup.NO_ELIGIBLE_OPERATOR),
            id="no-eligible-operator",
        ),
        pytest.param(
            mail(1, skills={"billing": 3}),
            [agent(7)],
            True,
            Explanation(Holdup.WAITING_FOR_NEXT_STEP),
            id="waiting-for-the-next-step",
        ),
        pytest.param(
            mail(1, passed_on=(7,)),
            [agent(7)],
            False,
            Explanation(Holdup.NO_ELIGIBLE_OPERATOR),
            id="the-one-who-passed-it-on-does-not-count",
        ),
        pytest.param(
            mail(1),
            [agent(7, load=FULL), agent(8, load=FULL)],
            False,
            Explanation(Holdup.ALL_AT_CAPACITY, {Holdup.ALL_AT_CAPACITY: 2}),
            id="all-at-capacity",
        ),
        pytest.param(
            mail(1, cooling=(7, 8)),
            [agent(7), agent(8)],
            False,
            Explanation(Holdup.ALL_IN_COOL_DOWN, {Holdup.ALL_IN_COOL_DOWN: 2}),
            id="all-in-cool-down",
        ),
        pytest.param(
            mail(1, cooling=(7,)),
            [agent(7), agent(8, load=FULL)],
            False,
            Explanation(
                Holdup.ALL_IN_COOL_DOWN, {Holdup.ALL_IN_COOL_DOWN: 1, Holdup.ALL_AT_CAPACITY: 1}
            ),
            id="mixed-names-the-soonest-over",
        ),
        pytest.param(
            mail(1),
            [agent(7, pending={Media.EMAIL: 1}, load={Media.EMAIL: 1})],
            False,
            Explanation(Holdup.PENDING_OFFER_LIMIT, {Holdup.PENDING_OFFER_LIMIT: 1}),
            id="pending-offer-limit",
        ),
        pytest.param(
            mail(1),
            [agent(7, wrapup_until=30)],
            False,
            Explanation(Holdup.ALL_IN_WRAP_UP, {Holdup.ALL_IN_WRAP_UP: 1}),
            id="all-in-wrap-up",
        ),
        pytest.param(
            mail(1),
            [],
            True,
            Explanation(Holdup.WAITING_FOR_NEXT_STEP),
            id="nobody-available",
        ),
    ],
)
def test_why_a_contact_waits(
    contact: WaitingContact,
    operators: list[OperatorSnapshot],
    later: bool,
    expected: Explanation,
) -> None:
    later_steps = frozenset({contact.conversation_id}) if later else frozenset()
    answers = explain([contact], operators, now=at(0), policy=ONE_EACH, later_steps=later_steps)
    assert answers == {contact.conversation_id: expected}


def test_a_contact_behind_others_is_held_by_the_room_they_took() -> None:
    answers = explain([mail(1), mail(2, since=5)], [agent(7)], now=at(0), policy=ONE_EACH)
    assert answers[1].holdup == Holdup.OFFER_NEXT
    assert answers[2].holdup == Holdup.PENDING_OFFER_LIMIT


@pytest.mark.parametrize(
    ("contact", "operators", "expected"),
    [
        pytest.param(mail(1), [agent(7)], True, id="free-operator"),
        pytest.param(mail(1, cooling=(7,)), [agent(7)], True, id="in-cool-down-still-counts"),
        pytest.param(mail(1), [agent(7, wrapup_until=30)], True, id="in-wrap-up-still-counts"),
        pytest.param(mail(1), [agent(7, load=FULL)], False, id="full"),
        pytest.param(mail(1, passed_on=(7,)), [agent(7)], False, id="passed-it-on"),
        pytest.param(mail(1, skills={"tech": 2}), [agent(7)], False, id="not-qualified"),
        pytest.param(mail(1), [], False, id="nobody-available"),
    ],
)
def test_a_rule_gives_up_only_when_nobody_could_take_the_contact(
    contact: WaitingContact, operators: list[OperatorSnapshot], expected: bool
) -> None:
    assert someone_could_take(contact, operators, at(0)) is expected


def test_explanations_do_not_change_the_operators() -> None:
    ops = [agent(7)]
    before = [replace(o) for o in ops]
    explain([mail(1)], ops, now=at(0), policy=ONE_EACH)
    assert ops == before
