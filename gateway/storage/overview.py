"""What a supervisor watches: the waiting line, service level and operators, from the store.

Why from the store: it is the one place that knows every contact's state across instances, so
any instance can answer, and the numbers agree with what the router acts on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from gateway.model import ConversationStatus, OfferStatus, OperatorState, Role, utcnow
from gateway.storage.database import Database
from gateway.storage.schema import conversations, offers, operator_presence, routing_events, users
from routing.strategy import Media

IN_LINE = (ConversationStatus.WAITING.value, ConversationStatus.OFFERED.value)
CONTACTS_PER_QUEUE = 25


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
    def __init__(self, db: Database, media_of: Callable[[str], Media]) -> None:
        self.db = db
        self.media_of = media_of  # the channel registry's: what kind of work a channel is

    async def snapshot(
        self,
        threshold_seconds: float,
        window: timedelta = timedelta(hours=24),
        queues: tuple[str, ...] = (),
        wrapup_seconds: float = 0,
    ) -> dict[str, Any]:
        """The line per queue (every configured queue, and any other that holds contacts)
        and the operators with what they are doing."""
        now = utcnow()
        since = now - window
        async with self.db.read() as conn:
            line = (
                await conn.execute(
                    select(
                        conversations.c.queue,
                        conversations.c.status,
                        conversations.c.channel,
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
                    .group_by(
                        conversations.c.queue, conversations.c.status, conversations.c.channel
                    )
                )
            ).all()
            waiting = (
                await conn.execute(
                    select(
                        conversations.c.id,
                        conversations.c.queue,
                        conversations.c.channel,
                        conversations.c.status,
                        conversations.c.priority,
                        conversations.c.waiting_since,
                        conversations.c.rule,
                        conversations.c.step,
                    )
                    .where(conversations.c.status.in_(IN_LINE))
                    .order_by(
                        conversations.c.priority.desc(),
                        conversations.c.waiting_since,
                        conversations.c.id,
                    )
                    .limit(2000)
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
            abandoned = {
                row.queue: row.n
                for row in await conn.execute(
                    select(conversations.c.queue, func.count().label("n"))
                    .join(routing_events, routing_events.c.conversation_id == conversations.c.id)
                    .where(
                        routing_events.c.kind == "abandoned",
                        routing_events.c.created_at >= since,
                    )
                    .group_by(conversations.c.queue)
                )
            }
            final_closes = (
                await conn.execute(
                    select(
                        conversations.c.id,
                        conversations.c.queue,
                        conversations.c.channel,
                        conversations.c.close_reason,
                        conversations.c.closed_at,
                    )
                    .where(
                        conversations.c.status == ConversationStatus.CLOSED.value,
                        conversations.c.close_reason.like("final_action:%"),
                        conversations.c.closed_at >= since,
                    )
                    .order_by(conversations.c.closed_at.desc())
                )
            ).all()
            in_menu = {
                row.channel: row.n
                for row in await conn.execute(
                    select(conversations.c.channel, func.count().label("n"))
                    .where(conversations.c.status == ConversationStatus.MENU.value)
                    .group_by(conversations.c.channel)
                )
            }
            load: dict[int, dict[str, int]] = {}
            for row in await conn.execute(
                select(conversations.c.operator_id, conversations.c.channel, func.count())
                .where(conversations.c.status == ConversationStatus.ASSIGNED.value)
                .group_by(conversations.c.operator_id, conversations.c.channel)
            ):
                media = self.media_of(row[1]).value
                mine = load.setdefault(row[0], {})
                mine[media] = mine.get(media, 0) + row[2]
            last_closed = {
                row[0]: row[1]
                for row in await conn.execute(
                    select(conversations.c.operator_id, func.max(conversations.c.closed_at))
                    .where(
                        conversations.c.status == ConversationStatus.CLOSED.value,
                        conversations.c.operator_id.is_not(None),
                    )
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
            roles = {
                row.id: row.role for row in await conn.execute(select(users.c.id, users.c.role))
            }
        # Operators, and staff of a higher role only while they take contacts: available
        # (routing offers them contacts), or holding conversations or offers. A supervisor
        # who signed in to watch is not an offline operator.
        staff = [
            s
            for s in staff
            if roles.get(s.id) == Role.OPERATOR.value
            or s.state == OperatorState.AVAILABLE.value
            or load.get(s.id)
            or pending.get(s.id)
        ]
        board = _queues(line, answered, now, threshold_seconds, queues, self.media_of)
        for q in board:
            q["contacts"] = []
            q["abandoned"] = abandoned.get(q["name"], 0)  # callers who hung up in line
            q["closed_by_final_action"] = 0  # closed by a rule's final action (24 h)
            q["final_closes"] = []  # the latest of them, with their reason
        by_name = {q["name"]: q for q in board}
        for row in final_closes:
            home = by_name.get(row.queue)
            if home is None:
                home = by_name[row.queue] = _queues(
                    [], [], now, threshold_seconds, (row.queue,), self.media_of
                )[0]
                home.update(contacts=[], abandoned=0, closed_by_final_action=0, final_closes=[])
                board.append(home)
            home["closed_by_final_action"] += 1
            if len(home["final_closes"]) < CONTACTS_PER_QUEUE:
                home["final_closes"].append(
                    {
                        "id": row.id,
                        "channel": row.channel,
                        "reason": row.close_reason,
                        "closed_at": row.closed_at.isoformat(),
                    }
                )
        board.sort(key=lambda q: q["name"])
        for row in waiting:
            listed = by_name[row.queue]["contacts"]
            if len(listed) < CONTACTS_PER_QUEUE:
                listed.append(
                    {
                        "id": row.id,
                        "channel": row.channel,
                        "media": self.media_of(row.channel).value,
                        "status": row.status,
                        "priority": row.priority,
                        "rule": row.rule,
                        "step": row.step,
                        "waited_seconds": _waited(row.waiting_since, now),
                    }
                )
        return {
            "at": now.isoformat(),
            "in_menu": in_menu,  # contacts still choosing in an IVR menu, per channel
            "queues": board,
            "operators": [
                {
                    "id": s.id,
                    "username": s.username,
                    "display_name": s.display_name,
                    "state": s.state,
                    "activity": _activity(
                        s.state, load.get(s.id), last_closed.get(s.id), wrapup_seconds, now
                    ),
                    "since": s.state_since.isoformat(),
                    "conversations": sum(load.get(s.id, {}).values()),
                    "by_media": load.get(s.id, {}),
                    "offers": pending.get(s.id, 0),
                }
                for s in staff
            ],
        }


def _waited(since: datetime | None, now: datetime) -> float:
    return round((now - since).total_seconds(), 1) if since is not None else 0.0


def _activity(
    state: str,
    load: dict[str, int] | None,
    last_closed: datetime | None,
    wrapup_seconds: float,
    now: datetime,
) -> str:
    """What an operator is doing: available, busy (with something), wrap_up, away, offline."""
    if state != OperatorState.AVAILABLE.value:
        return state
    if load:
        return "busy"
    if wrapup_seconds and last_closed and now - last_closed < timedelta(seconds=wrapup_seconds):
        return "wrap_up"
    return "available"


def _queues(
    line: Any,
    answered: Any,
    now: datetime,
    threshold_seconds: float,
    configured: tuple[str, ...],
    media_of: Callable[[str], Media],
) -> list[dict[str, Any]]:
    queues: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return queues.setdefault(
            name,
            {
                "name": name,
                "waiting": 0,
                "offered": 0,
                "assigned": 0,
                "longest_wait_seconds": 0.0,
                "waiting_by_media": {},
            },
        )

    for name in configured:
        entry(name)
    for row in line:
        q = entry(row.queue)
        q[row.status] += row.n
        in_line = row.status in IN_LINE
        if row.status == ConversationStatus.WAITING.value:  # the same rows as "waiting"
            media = media_of(row.channel).value
            q["waiting_by_media"][media] = q["waiting_by_media"].get(media, 0) + row.n
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
