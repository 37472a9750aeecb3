"""What a supervisor watches: the waiting line, service level and operators, from the store.

Why from the store: it is the one place that knows every contact's state across instances, so
any instance can answer, and the numbers agree with what the router acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from gateway.model import ConversationStatus, OfferStatus, utcnow
from gateway.storage.database import Database
from gateway.storage.schema import conversations, offers, operator_presence, routing_events, users


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    threshold_seconds: float
    answered: int
    within: int

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.within / self.answered, 1) if self.answered else None


def service_level(waits: list[float], threshold_seconds: float) -> ServiceLevel:
    """Share of answered contacts whose wait until an operator accepted was within the
    threshold (the usual "80 % in 20 s" measure)."""
    return ServiceLevel(
        threshold_seconds, len(waits), sum(1 for w in waits if w <= threshold_seconds)
    )


class Overview:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def snapshot(
        self, threshold_seconds: float, window: timedelta = timedelta(hours=24)
    ) -> dict[str, Any]:
        now = utcnow()
        since = now - window
        async with self.db.read() as conn:
            line = (
                await conn.execute(
                    select(
                        conversations.c.queue,
                        conversations.c.status,
                        func.count().label("n"),
                        func.min(conversations.c.waiting_since).label("oldest"),
                    )
                    .where(
                        conversations.c.status.in_(
                            [
                                ConversationStatus.WAITING.value,
                                ConversationStatus.OFFERED.value,
                                ConversationStatus.ASSIGNED.value,
                            ]
                        )
                    )
                    .group_by(conversations.c.queue, conversations.c.status)
                )
            ).all()
            answered = (
                await conn.execute(
                    select(
                        conversations.c.queue,
                        conversations.c.created_at,
                        func.min(routing_events.c.created_at).label("assigned_at"),
                    )
                    .join(routing_events, routing_events.c.conversation_id == conversations.c.id)
                    .where(routing_events.c.kind == "assigned", conversations.c.created_at >= since)
                    .group_by(conversations.c.id, conversations.c.queue, conversations.c.created_at)
                )
            ).all()
            load = {
                row.operator_id: row.n
                for row in await conn.execute(
                    select(conversations.c.operator_id, func.count().label("n"))
                    .where(conversations.c.status == ConversationStatus.ASSIGNED.value)
                    .group_by(conversations.c.operator_id)
                )
            }
            pending = {
                row.operator_id: row.n
                for row in await conn.execute(
                    select(offers.c.operator_id, func.count().label("n"))
                    .where(offers.c.status == OfferStatus.PENDING.value)
                    .group_by(offers.c.operator_id)
                )
            }
            staff = (
                await conn.execute(
                    select(
                        users.c.id,
                        users.c.username,
                        users.c.display_name,
                        operator_presence.c.state,
                        operator_presence.c.state_since,
                    )
                    .join(operator_presence, operator_presence.c.user_id == users.c.id)
                    .order_by(users.c.display_name)
                )
            ).all()
        return {
            "at": now.isoformat(),
            "queues": _queues(line, answered, now, threshold_seconds),
            "operators": [
                {
                    "id": s.id,
                    "username": s.username,
                    "display_name": s.display_name,
                    "state": s.state,
                    "since": s.state_since.isoformat(),
                    "conversations": load.get(s.id, 0),
                    "offers": pending.get(s.id, 0),
                }
                for s in staff
            ],
        }


def _queues(
    line: Any, answered: Any, now: datetime, threshold_seconds: float
) -> list[dict[str, Any]]:
    queues: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return queues.setdefault(
            name,
            {"name": name, "waiting": 0, "offered": 0, "assigned": 0, "longest_wait_seconds": 0.0},
        )

    for row in line:
        q = entry(row.queue)
        q[row.status] = row.n
        in_line = row.status in (ConversationStatus.WAITING.value, ConversationStatus.OFFERED.value)
        if in_line and row.oldest is not None:
            wait = (now - row.oldest).total_seconds()
            q["longest_wait_seconds"] = round(max(q["longest_wait_seconds"], wait), 1)
    waits: dict[str, list[float]] = {}
    for row in answered:
        waits.setdefault(row.queue, []).append((row.assigned_at - row.created_at).total_seconds())
    for name in waits:
        entry(name)
    for name, q in queues.items():
        level = service_level(waits.get(name, []), threshold_seconds)
        q["service_level"] = {
            "threshold_seconds": level.threshold_seconds,
            "answered": level.answered,
            "within": level.within,
            "percent": level.percent,
        }
    return sorted(queues.values(), key=lambda q: q["name"])
