"""The routing strategy as a pure function: waiting contacts + operators -> offers to make.

Why pure: every rule (order, eligibility, capacity, who refused) is tested with plain values and
a fixed clock, and the router service only feeds it snapshots from the store.

Order of contacts: higher priority first, then the longest waiting. Choice of operator: most
free capacity is not the rule; the one idle the longest (least recently offered) is, which
spreads work fairly. An operator who declined or missed a contact is not offered it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class WaitingContact:
    conversation_id: int
    priority: int
    waiting_since: datetime | None
    refused_by: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class OperatorSnapshot:
    operator_id: int
    capacity: int
    active: int
    idle_since: datetime | None

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.active)


@dataclass(frozen=True, slots=True)
class PlannedOffer:
    conversation_id: int
    operator_id: int


def _contact_order(contact: WaitingContact) -> tuple[int, float, int]:
    since = contact.waiting_since.timestamp() if contact.waiting_since else 0.0
    return (-contact.priority, since, contact.conversation_id)


def _operator_order(operator: OperatorSnapshot) -> tuple[float, int]:
    idle = operator.idle_since.timestamp() if operator.idle_since else 0.0
    return (idle, operator.operator_id)


def plan_offers(
    contacts: Iterable[WaitingContact], operators: Iterable[OperatorSnapshot]
) -> list[PlannedOffer]:
    """Offers to make now, at most one per contact, never beyond an operator's capacity."""
    free = {op.operator_id: op.free for op in operators if op.free > 0}
    ranked = sorted((op for op in operators if op.operator_id in free), key=_operator_order)
    plan: list[PlannedOffer] = []
    for contact in sorted(contacts, key=_contact_order):
        if not free:
            break
        for index, operator in enumerate(ranked):
            if operator.operator_id in contact.refused_by or free.get(operator.operator_id, 0) <= 0:
                continue
            plan.append(PlannedOffer(contact.conversation_id, operator.operator_id))
            free[operator.operator_id] -= 1
            # The operator just offered is now the most recently busy: move them to the back.
            ranked.append(ranked.pop(index))
            if free[operator.operator_id] == 0:
                del free[operator.operator_id]
            break
    return plan
