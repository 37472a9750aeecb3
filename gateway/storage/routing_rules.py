"""What the router reads and writes to apply the routing rules: contacts not yet classified,
the waiting line across every queue, operators with their load per media, and the moves a
rule makes (first step, next step, final action, back one step).

Every move is a compare-and-set on (status, rule, step), so the same decision taken twice, by
two routers or a redelivered tick, moves a contact once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.events import Event, conversation_ref
from gateway.model import (
    Channel,
    ConversationStatus,
    Direction,
    OfferStatus,
    OperatorState,
    utcnow,
)
from gateway.storage.database import Database
from gateway.storage.routing_state import emit, record_event
from gateway.storage.schema import (
    conversations,
    messages,
    offers,
    operator_presence,
    routing_events,
    users,
)
from gateway.storage.system_messages import tell_customer
from routing.config import RoutingConfig
from routing.escalation import Placement, as_waiting, operator_snapshot, step_floor
from routing.strategy import Media, OperatorSnapshot, WaitingContact

# Offers closed because their operator passed the contact on: that operator is not offered it
# again (a missed or declined offer only keeps them out for the policy's cool-down).
PASSED_ON = ("transferred", "sent_back")


@dataclass(frozen=True, slots=True)
class Unrouted:
    conversation_id: int
    attributes: dict[str, str]
    text: str


@dataclass(frozen=True, slots=True)
class InLine:
    """A waiting contact and where its rule has put it."""

    contact: WaitingContact
    queue: str
    rule: str | None
    step: int
    step_since: datetime | None


@dataclass(frozen=True, slots=True)
class LineSnapshot:
    """What the strategy plans with: the waiting contacts with their step's requirements, and
    the available operators with their profiles, load and pending offers, at ``now``."""

    line: list[InLine]
    contacts: list[WaitingContact]
    operators: list[OperatorSnapshot]
    now: datetime


@dataclass(frozen=True, slots=True)
class Stepping:
    """A waiting contact's place in its rule, for the escalation timer."""

    conversation_id: int
    rule: str
    step: int
    step_since: datetime


@dataclass(frozen=True, slots=True)
class Place:
    status: str
    operator_id: int | None
    rule: str | None
    step: int


@dataclass(frozen=True, slots=True)
class OperatorLoad:
    operator_id: int
    username: str
    idle_since: datetime | None
    load: dict[Media, int]
    last_closed_at: datetime | None
    pending: dict[Media, int] = field(default_factory=dict)  # offers awaiting an answer


def final_reason(action: str, text: str | None) -> str:
    """What a conversation closed by a rule's final action keeps as its close reason."""
    return f"final_action:{action}" + (f" {text}" if text else "")[:580]


def _attributes(channel: str, stored: Any) -> dict[str, str]:
    found = {str(k): str(v) for k, v in (stored or {}).items() if v is not None}
    return {**found, "channel": channel}


class RuleStore:
    def __init__(self, db: Database, media_of: Callable[[str], Media]) -> None:
        self.db = db
        self.media_of = media_of  # the channel registry's: what kind of work a channel is

    # -- reading -------------------------------------------------------------------------

    async def unrouted(self, limit: int = 500) -> list[Unrouted]:
        """Waiting contacts no rule has looked at yet, with their first message's text."""
        first_text = (
            select(messages.c.text)
            .where(
                messages.c.conversation_id == conversations.c.id,
                messages.c.direction == Direction.IN.value,
            )
            .order_by(messages.c.id)
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(
                conversations.c.id,
                conversations.c.channel,
                conversations.c.attributes,
                first_text.label("text"),
            )
            .where(
                conversations.c.status == ConversationStatus.WAITING.value,
                conversations.c.rule.is_(None),
            )
            .order_by(conversations.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [Unrouted(r.id, _attributes(r.channel, r.attributes), r.text or "") for r in rows]

    async def in_line(
        self,
        affinity_seconds: float,
        per_queue: int = 500,
        cooldown_seconds: float = 0,
        only: list[int] | None = None,
    ) -> list[InLine]:
        """The head of the waiting line of every queue (``per_queue`` most urgent each, so a
        long line in one queue never hides another queue's contacts), with who passed each
        contact on (for good), who missed or declined it within ``cooldown_seconds`` (out for
        now), and (for returning customers) the operator who served them last. ``only``: just
        these contacts."""
        now = utcnow()
        cooled_after = now - timedelta(seconds=cooldown_seconds)
        urgency = (
            conversations.c.priority.desc(),
            conversations.c.waiting_since,
            conversations.c.id,
        )
        ranked = (
            select(
                conversations.c.id,
                conversations.c.customer_id,
                conversations.c.channel,
                conversations.c.priority,
                conversations.c.waiting_since,
                conversations.c.queue,
                conversations.c.rule,
                conversations.c.step,
                conversations.c.step_since,
                conversations.c.reopened_at,
                func.row_number()
                .over(partition_by=conversations.c.queue, order_by=urgency)
                .label("place"),
            )
            .where(
                conversations.c.status == ConversationStatus.WAITING.value,
                conversations.c.rule.is_not(None),
                *([conversations.c.id.in_(only)] if only is not None else []),
            )
            .subquery()
        )
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ranked)
                    .where(ranked.c.place <= per_queue)
                    .order_by(ranked.c.priority.desc(), ranked.c.waiting_since, ranked.c.id)
                )
            ).all()
            ids = [r.id for r in rows]
            refused: dict[int, set[int]] = {i: set() for i in ids}
            cooling: dict[int, set[int]] = {i: set() for i in ids}
            reopened = {r.id: r.reopened_at for r in rows if r.reopened_at is not None}
            owner: dict[int, tuple[int, datetime]] = {}
            if ids:
                for offer in await conn.execute(
                    select(
                        offers.c.conversation_id,
                        offers.c.operator_id,
                        offers.c.created_at,
                        offers.c.decided_at,
                        offers.c.reason,
                    ).where(
                        offers.c.conversation_id.in_(ids),
                        offers.c.status.in_(
                            [OfferStatus.DECLINED.value, OfferStatus.EXPIRED.value]
                        ),
                    )
                ):
                    since_reopen = reopened.get(offer.conversation_id)
                    if since_reopen is not None and offer.created_at < since_reopen:
                        continue
                    if offer.reason in PASSED_ON:
                        refused[offer.conversation_id].add(offer.operator_id)
                    elif (offer.decided_at or offer.created_at) > cooled_after:
                        cooling[offer.conversation_id].add(offer.operator_id)
                if affinity_seconds > 0:
                    since = utcnow() - timedelta(seconds=affinity_seconds)
                    for last in await conn.execute(
                        select(
                            conversations.c.customer_id,
                            conversations.c.operator_id,
                            conversations.c.closed_at,
                        )
                        .where(
                            conversations.c.customer_id.in_({r.customer_id for r in rows}),
                            conversations.c.status == ConversationStatus.CLOSED.value,
                            conversations.c.operator_id.is_not(None),
                            conversations.c.closed_at >= since,
                        )
                        .order_by(conversations.c.closed_at)
                    ):
                        owner[last.customer_id] = (last.operator_id, last.closed_at)
        out = []
        for r in rows:
            preferred, until = None, None
            if r.customer_id in owner:
                preferred, closed_at = owner[r.customer_id]
                until = closed_at + timedelta(seconds=affinity_seconds)
            contact = WaitingContact(
                r.id,
                r.priority,
                r.waiting_since,
                frozenset(refused[r.id]),
                self.media_of(r.channel),
                preferred_operator=preferred,
                affinity_until=until,
                cooling_down=frozenset(cooling[r.id] - refused[r.id]),
            )
            out.append(InLine(contact, r.queue, r.rule, r.step, r.step_since))
        return out

    async def snapshot(
        self, config: RoutingConfig, only: list[int] | None = None, operators: bool = False
    ) -> LineSnapshot:
        """The line and the operators as the strategy sees them (the router plans with this,
        the supervisor view explains with it, and a final action waits on it)."""
        line = await self.in_line(
            config.policy.affinity_seconds,
            cooldown_seconds=config.policy.decline_cooldown_seconds,
            only=only,
        )
        contacts: list[WaitingContact] = []
        for item in line:
            contact = as_waiting(
                item.contact, config, item.queue, step_floor(config, item.rule, item.step)
            )
            if contact is not None:
                contacts.append(contact)
        available = []
        if line or operators:
            available = [
                operator_snapshot(
                    config,
                    op.operator_id,
                    op.username,
                    op.idle_since,
                    op.load,
                    op.last_closed_at,
                    op.pending,
                )
                for op in await self.available_operators()
            ]
        return LineSnapshot(line, contacts, available, utcnow())

    async def handovers(self, conversation_id: int) -> list[dict[str, Any]]:
        """The conversation's transfers and send-backs, oldest first, each with who passed it
        on and the note or reason they gave (the next operator's timeline shows them)."""
        found = await self._handovers([conversation_id])
        return found.get(conversation_id, [])

    async def latest_handovers(self, conversation_ids: list[int]) -> dict[int, dict[str, Any]]:
        """For each conversation passed on since it was last taken, that last handover (what
        an offer of it tells the next operator)."""
        latest: dict[int, dict[str, Any]] = {}
        for conversation_id, found in (await self._handovers(conversation_ids, True)).items():
            if found and found[-1]["kind"] != "assigned":
                latest[conversation_id] = found[-1]
        return latest

    async def _handovers(
        self, conversation_ids: list[int], with_assigned: bool = False
    ) -> dict[int, list[dict[str, Any]]]:
        if not conversation_ids:
            return {}
        kinds = ["transferred", "sent_back", *(["assigned"] if with_assigned else [])]
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        routing_events.c.conversation_id,
                        routing_events.c.kind,
                        routing_events.c.operator_id,
                        routing_events.c.detail,
                        routing_events.c.created_at,
                        users.c.display_name,
                    )
                    .outerjoin(users, users.c.id == routing_events.c.operator_id)
                    .where(
                        routing_events.c.conversation_id.in_(conversation_ids),
                        routing_events.c.kind.in_(kinds),
                    )
                    .order_by(routing_events.c.id)
                )
            ).all()
        out: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            detail = r.detail or {}
            text = detail.get("reason") if r.kind == "sent_back" else detail.get("note")
            out.setdefault(r.conversation_id, []).append(
                {
                    "kind": r.kind,
                    "at": r.created_at.isoformat(),
                    "from_operator": r.operator_id,
                    "from_name": r.display_name,
                    "queue": detail.get("queue"),
                    "text": text or "",
                }
            )
        return out

    async def place_of(self, conversation_id: int) -> Place | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        conversations.c.status,
                        conversations.c.operator_id,
                        conversations.c.rule,
                        conversations.c.step,
                    ).where(conversations.c.id == conversation_id)
                )
            ).first()
        return Place(row.status, row.operator_id, row.rule, row.step) if row else None

    async def stepping(self, since_before: datetime | None = None) -> list[Stepping]:
        """Waiting contacts on a rule step, optionally only those on it since before a time."""
        query = select(
            conversations.c.id,
            conversations.c.rule,
            conversations.c.step,
            conversations.c.step_since,
        ).where(
            conversations.c.status == ConversationStatus.WAITING.value,
            conversations.c.rule.is_not(None),
            conversations.c.step_since.is_not(None),
        )
        if since_before is not None:
            query = query.where(conversations.c.step_since <= since_before)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [Stepping(r.id, r.rule, r.step, r.step_since) for r in rows]

    async def available_operators(self) -> list[OperatorLoad]:
        """Available operators, with what they hold or are offered per media, and when they
        last finished a conversation (for wrap-up)."""
        busy = (ConversationStatus.ASSIGNED.value, ConversationStatus.OFFERED.value)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        operator_presence.c.user_id,
                        operator_presence.c.idle_since,
                        users.c.username,
                    )
                    .join(users, users.c.id == operator_presence.c.user_id)
                    .where(operator_presence.c.state == OperatorState.AVAILABLE.value)
                )
            ).all()
            ids = [r.user_id for r in rows]
            load: dict[int, dict[Media, int]] = {i: {} for i in ids}
            pending: dict[int, dict[Media, int]] = {i: {} for i in ids}
            closed: dict[int, datetime] = {}
            if ids:
                held = select(
                    conversations.c.operator_id.label("operator_id"),
                    conversations.c.channel,
                    literal(False).label("pending"),
                ).where(
                    conversations.c.status == ConversationStatus.ASSIGNED.value,
                    conversations.c.operator_id.in_(ids),
                )
                offered = (
                    select(
                        offers.c.operator_id.label("operator_id"),
                        conversations.c.channel,
                        literal(True).label("pending"),
                    )
                    .join(conversations, conversations.c.id == offers.c.conversation_id)
                    .where(
                        offers.c.status == OfferStatus.PENDING.value,
                        offers.c.operator_id.in_(ids),
                        conversations.c.status.in_(busy),
                    )
                )
                for row in await conn.execute(held.union_all(offered)):
                    media = self.media_of(row.channel)
                    mine = load[row.operator_id]
                    mine[media] = mine.get(media, 0) + 1
                    if row.pending:
                        waiting = pending[row.operator_id]
                        waiting[media] = waiting.get(media, 0) + 1
                for row in await conn.execute(
                    select(conversations.c.operator_id, func.max(conversations.c.closed_at))
                    .where(
                        conversations.c.operator_id.in_(ids),
                        conversations.c.status == ConversationStatus.CLOSED.value,
                    )
                    .group_by(conversations.c.operator_id)
                ):
                    if row[1] is not None:
                        closed[row[0]] = row[1]
        return [
            OperatorLoad(
                r.user_id,
                r.username,
                r.idle_since,
                load[r.user_id],
                closed.get(r.user_id),
                pending[r.user_id],
            )
            for r in rows
        ]

    # -- moves ---------------------------------------------------------------------------

    async def place(self, placements: list[tuple[int, Placement]]) -> int:
        """Put newly classified contacts on their rule's first step; how many were placed."""
        now = utcnow()
        placed = 0
        async with self.db.write() as conn:
            for conversation_id, p in placements:
                done = await conn.execute(
                    update(conversations)
                    .where(
                        conversations.c.id == conversation_id,
                        conversations.c.status == ConversationStatus.WAITING.value,
                        conversations.c.rule.is_(None),
                    )
                    .values(
                        rule=p.rule,
                        step=p.step,
                        queue=p.queue,
                        priority=conversations.c.priority + p.priority,
                        step_since=now,
                    )
                )
                if done.rowcount == 1:
                    placed += 1
                    await record_event(
                        conn, conversation_id, "routed", None, rule=p.rule, queue=p.queue
                    )
        return placed

    async def escalate(self, conversation_id: int, rule: str, step: int, to: Placement) -> bool:
        """Move a waiting contact from ``step`` to the next step of its rule."""
        async with self.db.write() as conn:
            moved = await self._move(conn, conversation_id, rule, step, to)
            if moved:
                await record_event(
                    conn, conversation_id, "escalated", None, step=to.step, queue=to.queue
                )
        return moved

    async def finish(
        self,
        conversation_id: int,
        rule: str,
        step: int,
        action: str,
        placement: Placement | None,
        text: str | None,
    ) -> bool:
        """Run a rule's final action: wait on in ``placement`` (overflow, voicemail, callback)
        or close (a notice); tell the customer ``text`` if there is one."""
        now = utcnow()
        async with self.db.write() as conn:
            if placement is not None:
                if not await self._move(conn, conversation_id, rule, step, placement):
                    return False
            else:
                closed = await conn.execute(
                    update(conversations)
                    .where(*self._at(conversation_id, rule, step))
                    .values(
                        status=ConversationStatus.CLOSED.value,
                        closed_at=now,
                        close_reason=final_reason(action, text),
                    )
                )
                if closed.rowcount != 1:
                    return False
            channel = (
                await conn.execute(
                    select(conversations.c.channel).where(conversations.c.id == conversation_id)
                )
            ).scalar_one()
            # A caller waiting on the line hears the text from the hold loop instead.
            if text and channel != Channel.VOICE.value:
                await tell_customer(conn, conversation_id, channel, text, now)
            await record_event(conn, conversation_id, "final", None, action=action, text=text or "")
            await emit(
                conn,
                Event.FINAL,
                {"conversation_id": conversation_id, "action": action, "channel": channel},
            )
            if placement is None:
                await emit(conn, Event.CLOSED, conversation_ref(conversation_id))
        return True

    async def send_back(
        self, conversation_id: int, operator_id: int, to: Placement, reason: str, by: int
    ) -> dict[str, Any] | None:
        """An operator hands an assigned conversation back to the previous step of its rule,
        with a reason; the transfer payload, or None when it is not theirs."""
        now = utcnow()
        async with self.db.write() as conn:
            moved = await conn.execute(
                update(conversations)
                .where(
                    conversations.c.id == conversation_id,
                    conversations.c.status == ConversationStatus.ASSIGNED.value,
                    conversations.c.operator_id == operator_id,
                    conversations.c.rule == to.rule,
                )
                .values(
                    status=ConversationStatus.WAITING.value,
                    operator_id=None,
                    queue=to.queue,
                    step=to.step,
                    step_since=now,
                    waiting_since=now,
                    priority=conversations.c.priority + 1,
                )
            )
            if moved.rowcount != 1:
                return None
            await conn.execute(
                offers.insert().values(
                    conversation_id=conversation_id,
                    operator_id=operator_id,
                    status=OfferStatus.DECLINED.value,
                    created_at=now,
                    expires_at=now,
                    decided_at=now,
                    reason="sent_back",
                )
            )
            payload = {
                "conversation_id": conversation_id,
                "from_operator": operator_id,
                "to_operator": None,
                "queue": to.queue,
                "step": to.step,
                "offer_id": None,
                "note": reason,
                "by": by,
            }
            await record_event(
                conn, conversation_id, "sent_back", operator_id, step=to.step, reason=reason
            )
            await emit(conn, Event.TRANSFER, payload)
        return payload

    async def unroute(self, conversation_id: int, rule: str) -> bool:
        """Forget a rule that no longer exists, so the contact is classified again."""
        async with self.db.write() as conn:
            done = await conn.execute(
                update(conversations)
                .where(
                    conversations.c.id == conversation_id,
                    conversations.c.status == ConversationStatus.WAITING.value,
                    conversations.c.rule == rule,
                )
                .values(rule=None, step=0, step_since=None)
            )
        return done.rowcount == 1

    @staticmethod
    def _at(conversation_id: int, rule: str, step: int) -> tuple[Any, ...]:
        return (
            conversations.c.id == conversation_id,
            conversations.c.status == ConversationStatus.WAITING.value,
            conversations.c.rule == rule,
            conversations.c.step == step,
        )

    async def _move(
        self, conn: AsyncConnection, conversation_id: int, rule: str, step: int, to: Placement
    ) -> bool:
        rule_now = self._at(conversation_id, rule, step)
        moved = await conn.execute(
            update(conversations)
            .where(and_(*rule_now))
            .values(
                step=to.step,
                queue=to.queue,
                step_since=utcnow(),
                priority=func.max(conversations.c.priority, to.priority)
                if conn.dialect.name == "sqlite"
                else func.greatest(conversations.c.priority, to.priority),
            )
        )
        return bool(moved.rowcount == 1)
