"""Routing state in the store: presence, offers and the conversation status machine.

Why in the store and not in RabbitMQ: a contact can wait or sit with an operator for hours, far
longer than a broker should hold an unacked delivery. Every transition is a compare-and-set on
the conversation's status, so two routers, two instances or two clicks can never both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.events import Event, conversation_ref, logout, operator_state
from gateway.logs import CONVERSATION_ID_HEADER
from gateway.model import ConversationStatus, OfferStatus, OperatorState, utcnow
from gateway.storage.database import Database
from gateway.storage.schema import (
    conversations,
    offers,
    operator_presence,
    outbox,
    routing_events,
)


@dataclass(frozen=True, slots=True)
class OfferView:
    id: int
    conversation_id: int
    operator_id: int
    status: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AcceptResult:
    ok: bool
    reason: str = ""
    conversation_id: int | None = None


async def record_event(
    conn: AsyncConnection, conversation_id: int, kind: str, operator_id: int | None, **detail: Any
) -> None:
    await conn.execute(
        routing_events.insert().values(
            conversation_id=conversation_id,
            kind=kind,
            operator_id=operator_id,
            detail=detail,
            created_at=utcnow(),
        )
    )


async def emit(conn: AsyncConnection, routing_key: str, payload: dict[str, Any]) -> None:
    headers = {}
    if "conversation_id" in payload:
        headers[CONVERSATION_ID_HEADER] = str(payload["conversation_id"])
    await conn.execute(
        outbox.insert().values(
            routing_key=routing_key, payload=payload, headers=headers, created_at=utcnow()
        )
    )


async def _back_to_waiting(
    conn: AsyncConnection, offer_id: int, conversation_id: int, status: OfferStatus, reason: str
) -> bool:
    """Close a pending offer and put its conversation back in the waiting line."""
    now = utcnow()
    closed = await conn.execute(
        update(offers)
        .where(offers.c.id == offer_id, offers.c.status == OfferStatus.PENDING.value)
        .values(status=status.value, decided_at=now, reason=reason)
    )
    if closed.rowcount != 1:
        return False
    await conn.execute(
        update(conversations)
        .where(
            conversations.c.id == conversation_id,
            conversations.c.status == ConversationStatus.OFFERED.value,
        )
        .values(status=ConversationStatus.WAITING.value, operator_id=None)
    )
    return True


async def _take_waiting(conn: AsyncConnection, conversation_id: int) -> bool:
    """Compare-and-set ``waiting → offered``: whether this transaction took the contact (a
    router, a supervisor or another instance may have moved it since it was read)."""
    taken = await conn.execute(
        update(conversations)
        .where(
            conversations.c.id == conversation_id,
            conversations.c.status == ConversationStatus.WAITING.value,
        )
        .values(status=ConversationStatus.OFFERED.value)
    )
    return bool(taken.rowcount == 1)


async def _insert_offer(
    conn: AsyncConnection,
    conversation_id: int,
    operator_id: int,
    expires_at: datetime,
    reason: str | None = None,
) -> int:
    """A pending offer row; the caller has already moved the conversation to 'offered'."""
    return int(
        (
            await conn.execute(
                offers.insert()
                .values(
                    conversation_id=conversation_id,
                    operator_id=operator_id,
                    status=OfferStatus.PENDING.value,
                    created_at=utcnow(),
                    expires_at=expires_at,
                    reason=reason,
                )
                .returning(offers.c.id)
            )
        ).scalar_one()
    )


async def _answered(conn: AsyncConnection, operator_id: int) -> None:
    """The operator answered an offer: their run of missed offers is over."""
    await conn.execute(
        update(operator_presence)
        .where(operator_presence.c.user_id == operator_id)
        .values(missed_in_row=0)
    )


class RoutingState:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- offers ----------------------------------------------------------------------------

    async def create_offer(
        self, conversation_id: int, operator_id: int, expires_at: datetime
    ) -> int | None:
        made = await self.create_offers([(conversation_id, operator_id)], expires_at)
        return made[0].id if made else None

    async def create_offers(
        self, planned: list[tuple[int, int]], expires_at: datetime
    ) -> list[OfferView]:
        """Make the planned (conversation, operator) offers in one transaction; each is a
        compare-and-set on the conversation, so only those still waiting are offered."""
        made: list[OfferView] = []
        async with self.db.write() as conn:
            for conversation_id, operator_id in planned:
                offer_id = await self._offer(conn, conversation_id, operator_id, expires_at)
                if offer_id is not None:
                    made.append(
                        OfferView(
                            offer_id,
                            conversation_id,
                            operator_id,
                            OfferStatus.PENDING.value,
                            expires_at,
                        )
                    )
        return made

    async def _offer(
        self, conn: AsyncConnection, conversation_id: int, operator_id: int, expires_at: datetime
    ) -> int | None:
        now = utcnow()
        if not await _take_waiting(conn, conversation_id):
            return None
        offer_id = await _insert_offer(conn, conversation_id, operator_id, expires_at)
        await conn.execute(
            update(operator_presence)
            .where(operator_presence.c.user_id == operator_id)
            .values(idle_since=now)
        )
        await record_event(conn, conversation_id, "offered", operator_id, offer_id=offer_id)
        return int(offer_id)

    async def mark_pushed(self, offer_ids: list[int]) -> None:
        if not offer_ids:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(offers).where(offers.c.id.in_(offer_ids)).values(pushed_at=utcnow())
            )

    async def unpushed(self, made_before: datetime) -> list[OfferView]:
        """Pending offers nobody was told about (their router died between committing and
        publishing them), made before ``made_before``."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(offers).where(
                        offers.c.status == OfferStatus.PENDING.value,
                        offers.c.pushed_at.is_(None),
                        offers.c.created_at < made_before,
                    )
                )
            ).all()
        return [
            OfferView(r.id, r.conversation_id, r.operator_id, r.status, r.expires_at) for r in rows
        ]

    async def pending_offers(self, operator_id: int) -> list[OfferView]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(offers).where(
                        offers.c.operator_id == operator_id,
                        offers.c.status == OfferStatus.PENDING.value,
                    )
                )
            ).all()
        return [
            OfferView(r.id, r.conversation_id, r.operator_id, r.status, r.expires_at) for r in rows
        ]

    async def accept(self, offer_id: int, operator_id: int) -> AcceptResult:
        now = utcnow()
        async with self.db.write() as conn:
            row = (await conn.execute(select(offers).where(offers.c.id == offer_id))).first()
            if row is None or row.operator_id != operator_id:
                return AcceptResult(False, "not_found")
            if row.status != OfferStatus.PENDING.value:
                return AcceptResult(False, f"offer_{row.status}")
            if row.expires_at <= now:
                return AcceptResult(False, "offer_expired")
            won = await conn.execute(
                update(offers)
                .where(offers.c.id == offer_id, offers.c.status == OfferStatus.PENDING.value)
                .values(status=OfferStatus.ACCEPTED.value, decided_at=now)
            )
            moved = await conn.execute(
                update(conversations)
                .where(
                    conversations.c.id == row.conversation_id,
                    conversations.c.status == ConversationStatus.OFFERED.value,
                )
                .values(status=ConversationStatus.ASSIGNED.value, operator_id=operator_id)
            )
            if won.rowcount != 1 or moved.rowcount != 1:
                await conn.rollback()
                return AcceptResult(False, "taken")
            await record_event(
                conn, row.conversation_id, "assigned", operator_id, offer_id=offer_id
            )
            left = (
                await conn.execute(
                    select(func.count())
                    .select_from(offers)
                    .where(
                        offers.c.operator_id == operator_id,
                        offers.c.status == OfferStatus.PENDING.value,
                    )
                )
            ).scalar_one()
            if not left:  # every offer answered: wake the router (else the next tick will)
                await emit(
                    conn,
                    Event.ACCEPTED,
                    {"conversation_id": row.conversation_id, "operator_id": operator_id},
                )
            await _answered(conn, operator_id)
        return AcceptResult(True, conversation_id=row.conversation_id)

    async def decline(self, offer_id: int, operator_id: int) -> int | None:
        """Refuse an offer; the conversation id, or None if it was not pending for them."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(offers.c.conversation_id).where(
                        offers.c.id == offer_id, offers.c.operator_id == operator_id
                    )
                )
            ).first()
            if row is None or not await _back_to_waiting(
                conn, offer_id, row.conversation_id, OfferStatus.DECLINED, "declined"
            ):
                return None
            await record_event(
                conn, row.conversation_id, "declined", operator_id, offer_id=offer_id
            )
            await emit(conn, Event.REQUEUE, conversation_ref(row.conversation_id))
            await _answered(conn, operator_id)
        return int(row.conversation_id)

    async def expire_due(self) -> list[OfferView]:
        """Time out every pending offer past its deadline; the offers that expired."""
        return await self._close_pending(
            and_(offers.c.status == OfferStatus.PENDING.value, offers.c.expires_at <= utcnow()),
            OfferStatus.EXPIRED,
            "timeout",
        )

    async def transfer(
        self,
        conversation_id: int,
        *,
        by: int,
        owner: int | None,
        to_operator: int | None,
        queue: str | None,
        note: str,
        expires_at: datetime,
    ) -> dict[str, Any] | None:
        """Move an assigned conversation: to a named operator (as an offer to them) or back to
        a queue's line (ahead of new contacts). ``owner`` None lets a supervisor move anyone's.
        The transfer as an event payload, or None when the conversation is not movable."""
        now = utcnow()
        async with self.db.write() as conn:
            condition = and_(
                conversations.c.id == conversation_id,
                conversations.c.status == ConversationStatus.ASSIGNED.value,
            )
            if owner is not None:
                condition = and_(condition, conversations.c.operator_id == owner)
            row = (
                await conn.execute(
                    select(conversations.c.operator_id, conversations.c.queue).where(condition)
                )
            ).first()
            if row is None or row.operator_id == to_operator:
                return None
            values: dict[str, Any] = {"operator_id": None, "waiting_since": now, "step_since": now}
            if to_operator is None:
                values.update(
                    status=ConversationStatus.WAITING.value,
                    queue=queue or row.queue,
                    priority=conversations.c.priority + 1,
                )
            else:
                values.update(status=ConversationStatus.OFFERED.value)
            moved = await conn.execute(update(conversations).where(condition).values(**values))
            if moved.rowcount != 1:
                return None
            # The one who passed it on is not offered it again (the strategy skips refusers).
            await conn.execute(
                offers.insert().values(
                    conversation_id=conversation_id,
                    operator_id=row.operator_id,
                    status=OfferStatus.DECLINED.value,
                    created_at=now,
                    expires_at=now,
                    decided_at=now,
                    reason="transferred",
                )
            )
            offer_id = None
            if to_operator is not None:
                offer_id = await _insert_offer(
                    conn, conversation_id, to_operator, expires_at, reason="transfer"
                )
            payload = {
                "conversation_id": conversation_id,
                "from_operator": row.operator_id,
                "to_operator": to_operator,
                "queue": None if to_operator else (queue or row.queue),
                "offer_id": offer_id,
                "note": note,
                "by": by,
            }
            detail = {k: v for k, v in payload.items() if k != "conversation_id"}
            await record_event(conn, conversation_id, "transferred", row.operator_id, **detail)
            await emit(conn, Event.TRANSFER, payload)
        return payload

    async def offer_to(
        self, conversation_id: int, operator_id: int, *, by: int, expires_at: datetime
    ) -> dict[str, Any] | None:
        """A supervisor gives a waiting or offered contact to ``operator_id`` as an offer (a
        pending offer to someone else is revoked first). Compare-and-set on the status and on
        the pending offer: the payload of the move, or None when the contact is neither
        waiting nor offered any more (or is already offered to that operator)."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(conversations.c.status).where(conversations.c.id == conversation_id)
                )
            ).first()
            if row is None:
                return None
            revoked: list[dict[str, int]] = []
            if row.status == ConversationStatus.OFFERED.value:
                pending = (
                    await conn.execute(
                        select(offers.c.id, offers.c.operator_id).where(
                            offers.c.conversation_id == conversation_id,
                            offers.c.status == OfferStatus.PENDING.value,
                        )
                    )
                ).all()
                if any(p.operator_id == operator_id for p in pending):
                    return None
                for p in pending:
                    if not await _back_to_waiting(
                        conn, p.id, conversation_id, OfferStatus.REVOKED, "reassigned"
                    ):
                        await conn.rollback()
                        return None
                    revoked.append({"offer_id": int(p.id), "operator_id": int(p.operator_id)})
            elif row.status != ConversationStatus.WAITING.value:
                return None
            if not await _take_waiting(conn, conversation_id):
                await conn.rollback()
                return None
            offer_id = await _insert_offer(
                conn, conversation_id, operator_id, expires_at, reason="supervisor"
            )
            payload = {
                "conversation_id": conversation_id,
                "to_operator": operator_id,
                "offer_id": offer_id,
                "revoked": revoked,
                "by": by,
            }
            await record_event(
                conn, conversation_id, "supervisor_offered", operator_id, offer_id=offer_id, by=by
            )
            await emit(conn, Event.ASSIGN, payload)
        return payload

    async def force_offline(self, user_id: int, by: int) -> bool:
        """A supervisor signs an operator out: offline now, and their sockets are told to close."""
        async with self.db.write() as conn:
            done = await conn.execute(
                update(operator_presence)
                .where(operator_presence.c.user_id == user_id)
                .values(state=OperatorState.OFFLINE.value, state_since=utcnow())
            )
            if done.rowcount != 1:
                return False
            await emit(conn, Event.OPERATOR_STATE, operator_state(user_id, "offline"))
            await emit(conn, Event.LOGOUT, logout(user_id, by))
        return True

    async def away_after_missed(self, missed: list[OfferView], limit: int) -> list[int]:
        """Count timed-out offers against their operators; set away (and return) those who
        have now missed ``limit`` in a row, so contacts stop going to an empty chair."""
        if not missed:
            return []
        gone: list[int] = []
        async with self.db.write() as conn:
            for operator_id in {offer.operator_id for offer in missed}:
                count = sum(1 for offer in missed if offer.operator_id == operator_id)
                row = (
                    await conn.execute(
                        update(operator_presence)
                        .where(operator_presence.c.user_id == operator_id)
                        .values(missed_in_row=operator_presence.c.missed_in_row + count)
                        .returning(operator_presence.c.missed_in_row, operator_presence.c.state)
                    )
                ).first()
                if row is None or row.missed_in_row < limit:
                    continue
                if row.state == OperatorState.AVAILABLE.value:
                    await conn.execute(
                        update(operator_presence)
                        .where(operator_presence.c.user_id == operator_id)
                        .values(
                            state=OperatorState.AWAY.value, state_since=utcnow(), missed_in_row=0
                        )
                    )
                    await emit(
                        conn,
                        Event.OPERATOR_STATE,
                        {**operator_state(operator_id, "away"), "reason": "missed_offers"},
                    )
                    gone.append(operator_id)
        return gone

    async def revoke_for(self, operator_id: int, reason: str) -> list[OfferView]:
        """Take back every pending offer of an operator who left or went away."""
        return await self._close_pending(
            and_(offers.c.status == OfferStatus.PENDING.value, offers.c.operator_id == operator_id),
            OfferStatus.REVOKED,
            reason,
        )

    async def _close_pending(
        self, condition: Any, status: OfferStatus, reason: str
    ) -> list[OfferView]:
        closed: list[OfferView] = []
        async with self.db.write() as conn:
            rows = (await conn.execute(select(offers).where(condition))).all()
            for r in rows:
                if await _back_to_waiting(conn, r.id, r.conversation_id, status, reason):
                    await record_event(
                        conn, r.conversation_id, status.value, r.operator_id, offer_id=r.id
                    )
                    closed.append(
                        OfferView(
                            r.id, r.conversation_id, r.operator_id, status.value, r.expires_at
                        )
                    )
        return closed

    # -- presence --------------------------------------------------------------------------

    async def connected(self, user_id: int, instance_id: str) -> str:
        """An operator's socket opened on ``instance_id``; their state ('away' after offline)."""
        now = utcnow()
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(operator_presence).where(operator_presence.c.user_id == user_id)
                )
            ).first()
            if row is None:
                await conn.execute(
                    operator_presence.insert().values(
                        user_id=user_id,
                        state=OperatorState.AWAY.value,
                        instance_id=instance_id,
                        last_seen_at=now,
                        state_since=now,
                        idle_since=now,
                    )
                )
                return OperatorState.AWAY.value
            state = (
                OperatorState.AWAY.value if row.state == OperatorState.OFFLINE.value else row.state
            )
            await conn.execute(
                update(operator_presence)
                .where(operator_presence.c.user_id == user_id)
                .values(
                    state=state,
                    instance_id=instance_id,
                    last_seen_at=now,
                    state_since=now if state != row.state else row.state_since,
                )
            )
            return str(state)

    async def set_state(self, user_id: int, state: OperatorState) -> None:
        now = utcnow()
        async with self.db.write() as conn:
            values: dict[str, Any] = {"state": state.value, "state_since": now, "last_seen_at": now}
            if state == OperatorState.AVAILABLE:
                values["idle_since"] = now
            await conn.execute(
                update(operator_presence)
                .where(operator_presence.c.user_id == user_id)
                .values(**values)
            )
            await emit(conn, Event.OPERATOR_STATE, operator_state(user_id, state.value))

    async def disconnected(self, user_id: int, instance_id: str) -> bool:
        """The operator's last socket on ``instance_id`` closed: offline, unless they have
        meanwhile connected to another instance. True when they went offline."""
        async with self.db.write() as conn:
            gone = await conn.execute(
                update(operator_presence)
                .where(
                    operator_presence.c.user_id == user_id,
                    operator_presence.c.instance_id == instance_id,
                )
                .values(state=OperatorState.OFFLINE.value, state_since=utcnow())
            )
            if gone.rowcount == 1:
                await emit(conn, Event.OPERATOR_STATE, operator_state(user_id, "offline"))
        return gone.rowcount == 1

    async def touch(self, user_ids: list[int], instance_id: str) -> None:
        if not user_ids:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(operator_presence)
                .where(operator_presence.c.user_id.in_(user_ids))
                .values(last_seen_at=utcnow(), instance_id=instance_id)
            )

    async def mark_stale_offline(self, seen_before: datetime) -> list[int]:
        """Operators whose instance stopped reporting them (it crashed): set them offline."""
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(operator_presence.c.user_id).where(
                        operator_presence.c.state != OperatorState.OFFLINE.value,
                        operator_presence.c.last_seen_at < seen_before,
                    )
                )
            ).all()
            ids = [r.user_id for r in rows]
            if ids:
                await conn.execute(
                    update(operator_presence)
                    .where(operator_presence.c.user_id.in_(ids))
                    .values(state=OperatorState.OFFLINE.value, state_since=utcnow())
                )
        return ids

    async def place_in_line(
        self, conversation_id: int, window: timedelta
    ) -> tuple[str, int, list[datetime]] | None:
        """(queue, position, when the queue's contacts were taken within ``window``) for a
        waiting or offered conversation; None when it is not in line."""
        async with self.db.read() as conn:
            me = (
                await conn.execute(
                    select(
                        conversations.c.queue,
                        conversations.c.priority,
                        conversations.c.waiting_since,
                        conversations.c.status,
                    ).where(conversations.c.id == conversation_id)
                )
            ).first()
            in_line = (ConversationStatus.WAITING.value, ConversationStatus.OFFERED.value)
            if me is None or me.status not in in_line:
                return None
            ahead = (
                await conn.execute(
                    select(func.count())
                    .select_from(conversations)
                    .where(
                        conversations.c.queue == me.queue,
                        conversations.c.status.in_(in_line),
                        conversations.c.id != conversation_id,
                        (conversations.c.priority > me.priority)
                        | (
                            (conversations.c.priority == me.priority)
                            & (
                                (conversations.c.waiting_since < me.waiting_since)
                                | (
                                    (conversations.c.waiting_since == me.waiting_since)
                                    & (conversations.c.id < conversation_id)
                                )
                            )
                        ),
                    )
                )
            ).scalar_one()
            taken = (
                (
                    await conn.execute(
                        select(routing_events.c.created_at)
                        .join(conversations, conversations.c.id == routing_events.c.conversation_id)
                        .where(
                            routing_events.c.kind == "assigned",
                            conversations.c.queue == me.queue,
                            routing_events.c.created_at >= utcnow() - window,
                        )
                    )
                )
                .scalars()
                .all()
            )
        return str(me.queue), int(ahead) + 1, list(taken)

    async def release_abandoned(self, offline_before: datetime) -> list[tuple[int, int]]:
        """Give back to routing the conversations of operators offline since before
        ``offline_before``; they go to the front of the line (their customer was already being
        served). The (conversation, operator) pairs released."""
        now = utcnow()
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(conversations.c.id, conversations.c.operator_id)
                    .join(
                        operator_presence,
                        operator_presence.c.user_id == conversations.c.operator_id,
                    )
                    .where(
                        conversations.c.status == ConversationStatus.ASSIGNED.value,
                        operator_presence.c.state == OperatorState.OFFLINE.value,
                        operator_presence.c.state_since < offline_before,
                    )
                )
            ).all()
            released = []
            for row in rows:
                moved = await conn.execute(
                    update(conversations)
                    .where(
                        conversations.c.id == row.id,
                        conversations.c.status == ConversationStatus.ASSIGNED.value,
                    )
                    .values(
                        status=ConversationStatus.WAITING.value,
                        operator_id=None,
                        waiting_since=now,
                        priority=conversations.c.priority + 1,
                    )
                )
                if moved.rowcount == 1:
                    await record_event(
                        conn, row.id, "released", row.operator_id, reason="operator_offline"
                    )
                    released.append((int(row.id), int(row.operator_id)))
        return released

    async def states(self) -> dict[int, str]:
        """Every known operator's presence state."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(operator_presence.c.user_id, operator_presence.c.state)
            )
            return {int(r.user_id): str(r.state) for r in rows}

    async def state_of(self, user_id: int) -> str:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(operator_presence.c.state).where(operator_presence.c.user_id == user_id)
                )
            ).first()
        return str(row.state) if row else OperatorState.OFFLINE.value
