"""The routing strategy, table-driven with plain values and fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.strategy import OperatorSnapshot, PlannedOffer, WaitingContact, plan_offers

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
