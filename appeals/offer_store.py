"""Offers of appeals in the store: who could take one (presence, load, calls), making an offer,
declining it, and letting it expire.

Why every step is a compare-and-set on the appeal row: the dispatcher ticks on every instance,
so two of them may choose an operator for the same appeal at the same moment. An offer is
made only while the appeal is still awaiting at the version read with no offer pending, and
only while the operator has fewer appeal offers waiting than the routing allows (their
presence row is locked while that is counted, so two instances cannot both give them one).
A decline or an expiry ends exactly the offer that was read. None of these moves the
appeal's version (nobody's edit is refused because of an offer); each writes a history row
and an ``appeal.changed`` event in the same transaction, like a recorded deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from appeals.dispatch import Worker, appeal_capacity, pending_limit, worker
from appeals.model import Status
from appeals.store import Actor, Appeal, AppealStore, appeal_of_row, write_history
from gateway.model import ConversationStatus, OperatorState
from gateway.storage.schema import appeals, conversations, operator_presence, users
from routing.config import RoutingConfig
from routing.strategy import Media

MediaOf = Callable[[str], Media]


class OfferResult(StrEnum):
    OFFERED = "offered"
    APPEAL_MOVED = "appeal_moved"  # taken, offered by another instance, moved on, or passed on
    OPERATOR_FULL = "operator_full"  # the operator's offers or capacity are used up meanwhile


class _PassedOn(Exception):
    """The operator declined or missed the appeal after it was read: undo the offer."""


class OfferStore:
    def __init__(self, store: AppealStore) -> None:
        self.store = store
        self.db = store.db

    # -- who could work on appeals ---------------------------------------------------------

    async def available_workers(
        self, config: RoutingConfig, media_of: MediaOf, seen_after: datetime
    ) -> list[Worker]:
        """Operators who are available and whose console was heard of after ``seen_after``,
        with their appeals in progress, pending appeal offers and calls."""
        query = (
            select(users.c.id, users.c.username, operator_presence.c.idle_since)
            .join(operator_presence, operator_presence.c.user_id == users.c.id)
            .where(
                operator_presence.c.state == OperatorState.AVAILABLE.value,
                operator_presence.c.last_seen_at >= seen_after,
            )
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            loads = await _loads(conn, [r.id for r in rows], media_of)
        return [
            worker(config, r.id, r.username, idle_since=r.idle_since, **loads.get(r.id, {}))
            for r in rows
        ]

    async def worker_of(
        self, config: RoutingConfig, media_of: MediaOf, user_id: int, username: str
    ) -> Worker:
        """One operator with their appeals in progress, pending appeal offers and calls."""
        async with self.db.read() as conn:
            loads = await _loads(conn, [user_id], media_of)
        return worker(config, user_id, username, **loads.get(user_id, {}))

    # -- what to offer -----------------------------------------------------------------------

    async def awaiting(self, topics: Sequence[str], limit: int = 500) -> list[Appeal]:
        """Appeals of ``topics`` awaiting an operator with no offer pending, oldest first."""
        if not topics:
            return []
        query = (
            select(appeals)
            .where(
                appeals.c.status == Status.AWAITING.value,
                appeals.c.offered_to.is_(None),
                appeals.c.topic.in_(list(topics)),
            )
            .order_by(appeals.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [appeal_of_row(r) for r in rows]

    async def expired(self, now: datetime, limit: int = 500) -> list[Appeal]:
        """Appeals whose offer was not answered in time."""
        query = (
            select(appeals)
            .where(appeals.c.offered_to.is_not(None), appeals.c.offer_expires_at <= now)
            .order_by(appeals.c.offer_expires_at)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [appeal_of_row(r) for r in rows]

    # -- changes ---------------------------------------------------------------------------

    async def offer(
        self,
        appeal: Appeal,
        operator: Worker,
        *,
        config: RoutingConfig,
        expires_at: datetime,
        now: datetime,
    ) -> OfferResult:
        """Offer ``appeal`` (as read) to ``operator`` until ``expires_at``."""
        try:
            return await self._offer(appeal, operator, config, expires_at, now)
        except _PassedOn:
            return OfferResult.APPEAL_MOVED

    async def _offer(
        self,
        appeal: Appeal,
        operator: Worker,
        config: RoutingConfig,
        expires_at: datetime,
        now: datetime,
    ) -> OfferResult:
        async with self.db.write() as conn:
            # One offer at a time per operator across instances: their presence row is the lock.
            await conn.execute(
                select(operator_presence.c.user_id)
                .where(operator_presence.c.user_id == operator.user_id)
                .with_for_update()
            )
            pending, in_progress = await _carried(conn, operator.user_id)
            if pending >= pending_limit(config) or pending + in_progress >= appeal_capacity(
                config, operator.username
            ):
                return OfferResult.OPERATOR_FULL
            passed = (
                await conn.execute(
                    update(appeals)
                    .where(
                        appeals.c.id == appeal.id,
                        appeals.c.version == appeal.version,
                        appeals.c.status == Status.AWAITING.value,
                        appeals.c.offered_to.is_(None),
                    )
                    .values(offered_to=operator.user_id, offer_expires_at=expires_at)
                    .returning(appeals.c.offer_passed)
                )
            ).first()
            if passed is None:
                return OfferResult.APPEAL_MOVED
            if operator.user_id in (passed.offer_passed or []):
                raise _PassedOn  # they declined it meanwhile (offered by another instance)
            fresh = await _fresh(conn, appeal.id)
            await write_history(
                conn,
                fresh,
                "offered",
                Actor.system(),
                now,
                from_status=fresh.status,
                reason=None,
                detail={"operator_id": operator.user_id, "expires_at": expires_at.isoformat()},
                event={"offered_to": operator.user_id},
            )
        return OfferResult.OFFERED

    async def decline(self, appeal_id: int, actor: Actor, now: datetime) -> Appeal | None:
        """The operator (``actor``) declines the appeal offered to them: the offer ends and
        they are not offered it again at this stage. None when no offer to them is pending."""
        assert actor.user_id is not None
        async with self.db.write() as conn:
            row = (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).first()
            if row is None or row.offered_to != actor.user_id:
                return None
            appeal = appeal_of_row(row)
            if not await _end_offer(conn, appeal):
                return None
            fresh = await _fresh(conn, appeal_id)
            await write_history(
                conn,
                fresh,
                "declined",
                actor,
                now,
                from_status=fresh.status,
                reason=None,
                detail={"operator_id": actor.user_id},
            )
        return fresh

    async def expire(self, appeal: Appeal, now: datetime) -> bool:
        """End an offer (as read) that was not answered in time: the operator missed it and is
        not offered it again at this stage. False when it ended otherwise meanwhile."""
        operator_id = appeal.offered_to
        if operator_id is None or appeal.offer_expires_at is None or appeal.offer_expires_at > now:
            return False
        async with self.db.write() as conn:
            if not await _end_offer(conn, appeal):
                return False
            fresh = await _fresh(conn, appeal.id)
            await write_history(
                conn,
                fresh,
                "offer_missed",
                Actor.system(),
                now,
                from_status=fresh.status,
                reason=None,
                detail={
                    "operator_id": operator_id,
                    "expires_at": appeal.offer_expires_at.isoformat(),
                },
                event={"offer_revoked_to": operator_id},
            )
        return True


async def _fresh(conn: AsyncConnection, appeal_id: int) -> Appeal:
    return appeal_of_row(
        (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).one()
    )


async def _end_offer(conn: AsyncConnection, appeal: Appeal) -> bool:
    """Clear the offer ``appeal`` was read with (exactly that one: operator and expiry) and
    remember its operator among those who passed on it at this stage."""
    assert appeal.offered_to is not None and appeal.offer_expires_at is not None
    passed = list(appeal.offer_passed or [])
    if appeal.offered_to not in passed:
        passed.append(appeal.offered_to)
    ended = await conn.execute(
        update(appeals)
        .where(
            appeals.c.id == appeal.id,
            appeals.c.offered_to == appeal.offered_to,
            appeals.c.offer_expires_at == appeal.offer_expires_at,
        )
        .values(offered_to=None, offer_expires_at=None, offer_passed=passed)
    )
    return ended.rowcount == 1


async def _carried(conn: AsyncConnection, user_id: int) -> tuple[int, int]:
    """(pending appeal offers, appeals in progress) of one operator, as committed now."""
    pending = (
        await conn.execute(
            select(func.count()).select_from(appeals).where(appeals.c.offered_to == user_id)
        )
    ).scalar_one()
    in_progress = (
        await conn.execute(
            select(func.count())
            .select_from(appeals)
            .where(appeals.c.owner_id == user_id, appeals.c.status == Status.IN_PROGRESS.value)
        )
    ).scalar_one()
    return int(pending), int(in_progress)


async def _loads(
    conn: AsyncConnection, ids: list[int], media_of: MediaOf
) -> dict[int, dict[str, Any]]:
    """Per operator: appeals in progress, pending appeal offers, calls in progress."""
    out: dict[int, dict[str, Any]] = {i: {} for i in ids}
    if not ids:
        return out
    owned = await conn.execute(
        select(appeals.c.owner_id, func.count())
        .where(appeals.c.owner_id.in_(ids), appeals.c.status == Status.IN_PROGRESS.value)
        .group_by(appeals.c.owner_id)
    )
    for user_id, count in owned:
        out[user_id]["in_progress"] = int(count)
    offered = await conn.execute(
        select(appeals.c.offered_to, func.count())
        .where(appeals.c.offered_to.in_(ids))
        .group_by(appeals.c.offered_to)
    )
    for user_id, count in offered:
        out[user_id]["pending_offers"] = int(count)
    held = await conn.execute(
        select(conversations.c.operator_id, conversations.c.channel, func.count())
        .where(
            conversations.c.operator_id.in_(ids),
            conversations.c.status == ConversationStatus.ASSIGNED.value,
        )
        .group_by(conversations.c.operator_id, conversations.c.channel)
    )
    for user_id, channel, count in held:
        if media_of(channel) == Media.VOICE:
            out[user_id]["voice"] = out[user_id].get("voice", 0) + int(count)
    return out
