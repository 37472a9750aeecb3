"""Why a waiting contact is not being offered, and whether its rule may give up on it.

Why a module of its own: the supervisor's "why is this contact still waiting?" and the router's
"may the final action run?" must be answered from exactly the data the strategy plans with (the
same contacts, operators, policy and clock), so both are pure functions over the strategy's own
types, tested with plain tables, and never a second opinion computed some other way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from routing.strategy import (
    OperatorSnapshot,
    Planner,
    Policy,
    WaitingContact,
    free_for,
    order_contacts,
    qualifies,
)


class Holdup(StrEnum):
    """What a waiting contact is waiting for (the first that applies)."""

    OFFER_NEXT = "offer_next"  # an operator has room: the next pass offers it
    WAITING_FOR_NEXT_STEP = "waiting_for_next_step"  # nobody at this step; a later one widens
    NO_ELIGIBLE_OPERATOR = "no_eligible_operator"  # nobody available has what it needs
    ALL_IN_COOL_DOWN = "all_in_cool_down"  # every eligible one missed or declined it just now
    PENDING_OFFER_LIMIT = "pending_offer_limit"  # every eligible one has offers to answer first
    ALL_IN_WRAP_UP = "all_in_wrap_up"  # every eligible one is pausing after a conversation
    ALL_AT_CAPACITY = "all_at_capacity"  # every eligible one is full for this media


# When eligible operators are held back for different reasons, the one that clears soonest.
_PRECEDENCE = (
    Holdup.ALL_IN_COOL_DOWN,
    Holdup.PENDING_OFFER_LIMIT,
    Holdup.ALL_IN_WRAP_UP,
    Holdup.ALL_AT_CAPACITY,
)


@dataclass(frozen=True, slots=True)
class Explanation:
    """A contact's holdup, with how many eligible operators each kind of hold keeps back."""

    holdup: Holdup
    held: Mapping[Holdup, int] = field(default_factory=dict)


def explain(
    contacts: Iterable[WaitingContact],
    operators: Iterable[OperatorSnapshot],
    *,
    now: datetime | None,
    policy: Policy,
    later_steps: frozenset[int] = frozenset(),
) -> dict[int, Explanation]:
    """Why each waiting contact is not on offer, planned as the router plans: contacts in the
    strategy's order fill the operators up, so a contact behind others that took the last room
    is held by capacity. ``later_steps`` holds the contacts whose rule has a step after the
    current one (nobody eligible now may still mean someone eligible there)."""
    planner = Planner(operators, now=now, policy=policy)
    answers: dict[int, Explanation] = {}
    for contact in order_contacts(contacts, now, policy):
        if planner.decide(contact) is not None:
            answers[contact.conversation_id] = Explanation(Holdup.OFFER_NEXT)
            continue
        held: dict[Holdup, int] = {}
        for live in planner.pool:
            op = live.snapshot
            if op.operator_id in contact.refused_by or not qualifies(op, contact):
                continue
            if op.operator_id in contact.cooling_down:
                kind = Holdup.ALL_IN_COOL_DOWN
            elif live.room_for(contact.media) <= 0:
                kind = Holdup.ALL_AT_CAPACITY
            elif live.at_pending_limit(contact.media):
                kind = Holdup.PENDING_OFFER_LIMIT
            elif now is not None and op.wrapup_until is not None and op.wrapup_until > now:
                kind = Holdup.ALL_IN_WRAP_UP
            else:  # only affinity or ordering could leave one free; the next pass offers it
                kind = Holdup.OFFER_NEXT
            held[kind] = held.get(kind, 0) + 1
        if not held:
            none = (
                Holdup.WAITING_FOR_NEXT_STEP
                if contact.conversation_id in later_steps
                else Holdup.NO_ELIGIBLE_OPERATOR
            )
            answers[contact.conversation_id] = Explanation(none)
            continue
        holdup = next((h for h in _PRECEDENCE if h in held), Holdup.OFFER_NEXT)
        answers[contact.conversation_id] = Explanation(holdup, held)
    return answers


def someone_could_take(
    contact: WaitingContact, operators: Iterable[OperatorSnapshot], now: datetime | None
) -> bool:
    """An available operator who qualifies for ``contact`` has room for its media now (or will
    once their wrap-up or cool-down ends): then a rule must not give up on the contact and tell
    the customer that everyone is busy (FreeSWITCH's ``max-wait-time-with-no-agent``)."""
    return any(
        op.operator_id not in contact.refused_by
        and qualifies(op, contact)
        and free_for(op, contact.media) > 0
        for op in operators
    )
