"""Which of an appeal's deadlines have passed and not been handled yet, and what each one
calls for: pure, so the ticker, the store and the tests agree on one reading of the columns.

An appeal runs three clocks (appeals/store.py): its stage's (only while someone can work on
it: awaiting or in progress), and the SLA's first response and resolution (stopped while it
waits for the customer or a third party; the first response's once an operator answered).
Each has a warning instant (at the topic's warn share of its time) and a deadline; each passing
is handled once, marked in its ``*_warned_at`` / ``*_breached_at`` column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from appeals.model import OPEN_STATUSES, RouteStage, Status, TimeoutAction


class AlertKind(StrEnum):
    STAGE_WARNING = "stage_warning"
    STAGE_BREACH = "stage_breach"
    FIRST_RESPONSE_WARNING = "first_response_warning"
    FIRST_RESPONSE_BREACH = "first_response_breach"
    RESOLUTION_WARNING = "resolution_warning"
    RESOLUTION_BREACH = "resolution_breach"

    @property
    def clock(self) -> str:
        """``stage``, ``first_response`` or ``resolution``."""
        return self.value.rsplit("_", 1)[0]

    @property
    def breach(self) -> bool:
        return self.value.endswith("_breach")

    @property
    def due_column(self) -> str:
        """The appeal's column with the instant this alert is about."""
        return f"{self.clock}_{'due' if self.breach else 'warn'}_at"

    @property
    def mark_column(self) -> str:
        """The appeal's column that says it was handled (set once)."""
        return f"{self.clock}_{'breached' if self.breach else 'warned'}_at"

    @property
    def history_action(self) -> str:
        """The action of its history row: stage_warning, stage_breach, sla_warning, sla_breach."""
        clock = "stage" if self.clock == "stage" else "sla"
        return f"{clock}_{'breach' if self.breach else 'warning'}"


# The stage's clock runs only while someone can work on the appeal.
STAGE_RUNNING = frozenset({Status.AWAITING, Status.IN_PROGRESS})


@dataclass(frozen=True, slots=True)
class Passed:
    """A warning instant or deadline that has passed and was not handled yet."""

    kind: AlertKind
    due_at: datetime


def running(appeal: Any, kind: AlertKind) -> bool:
    """Whether the clock of ``kind`` runs for ``appeal`` (any object with the appeal's
    columns as attributes)."""
    status = Status(appeal.status)
    if status not in OPEN_STATUSES:
        return False
    if kind.clock == "stage":
        return status in STAGE_RUNNING
    if appeal.paused_at is not None:
        return False
    return kind.clock == "resolution" or appeal.first_response_at is None


def passed(appeal: Any, now: datetime) -> list[Passed]:
    """The appeal's passed and unhandled warnings and deadlines, in the order they are
    handled: per clock (stage, first response, resolution) the warning before the deadline."""
    out = []
    for kind in AlertKind:
        due = getattr(appeal, kind.due_column)
        if due is None or due > now or getattr(appeal, kind.mark_column) is not None:
            continue
        if running(appeal, kind):
            out.append(Passed(kind, due))
    return out


def on_stage_timeout(route: tuple[RouteStage, ...], stage: int) -> TimeoutAction:
    """What a missed stage deadline calls for: the stage's ``on_timeout``, except that the
    last stage cannot escalate and notifies the supervisors instead."""
    if stage >= len(route):
        return TimeoutAction.WARN
    action = route[stage].on_timeout
    if action == TimeoutAction.ESCALATE and stage + 1 >= len(route):
        return TimeoutAction.NOTIFY
    return action
