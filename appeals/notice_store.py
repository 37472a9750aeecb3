"""Notices to the customer in the store: the one row per appeal and event, the message each
step sends (with its outbox row), moving on to the next identity when a message did not reach
the customer, and the call-back task when no identity is left.

Why each step is one transaction: the notice row, its message, its outbox row and its history
row commit together. The notice's unique key makes a second start of the same notice (an
event delivered twice, two instances) fail as a whole, so nothing is sent twice; moving on is
a compare-and-set on the notice's ``attempt``, so two tickers move it once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from appeals.alerts_store import alert_json
from appeals.model import Status
from appeals.store import (
    CALLBACK_DONE,
    CALLBACK_KIND,
    CALLBACK_STANDS,
    Actor,
    Appeal,
    AppealStore,
    appeal_of_row,
)
from gateway.errors import Refused
from gateway.model import Channel, ConversationStatus, MessageStatus
from gateway.storage.database import Database
from gateway.storage.schema import (
    appeal_alerts,
    appeal_conversations,
    appeal_notices,
    appeals,
    conversations,
    customers,
    identities,
    messages,
)
from gateway.storage.system_messages import tell_customer

MAX_ERROR_CHARS = 300
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# A call-back task stands until an operator marks it done or its appeal is closed or cancelled.
_FINISHED = (Status.CLOSED.value, Status.CANCELLED.value)
# Final states of a message that did not reach the customer.
NOT_REACHED = (MessageStatus.FAILED.value, MessageStatus.UNDELIVERED.value)


class NoticeState(StrEnum):
    SENT = "sent"  # a message is on its way; its delivery status says how far it got
    CALLBACK = "callback"  # no identity reached the customer: an operator calls them back


@dataclass(frozen=True, slots=True)
class Reach:
    """One step of a notice's chain: an identity of the customer and its channel."""

    identity_id: int
    channel: str

    def as_json(self) -> dict[str, Any]:
        return {"identity_id": self.identity_id, "channel": self.channel}

    @classmethod
    def from_json(cls, data: Any) -> Reach:
        return cls(int(data["identity_id"]), str(data["channel"]))


@dataclass(frozen=True, slots=True)
class Identity:
    """A customer's identity as a notice sees it."""

    id: int
    channel: str
    opted_out: bool
    unreachable: bool

    @property
    def reach(self) -> Reach:
        return Reach(self.id, self.channel)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a notice goes to: the identity of the appeal's conversation (None without one),
    whether that conversation is still open, the customer's identities (newest first) and
    name."""

    own: Identity | None
    conversation_open: bool
    identities: tuple[Identity, ...]
    name: str | None


@dataclass(frozen=True, slots=True)
class Unreached:
    """A notice whose latest message did not reach the customer."""

    id: int
    appeal_id: int
    event: str
    chain: tuple[Reach, ...]
    attempt: int
    message_id: int
    channel: str | None
    text: str
    status: str  # the message's status ("failed", "undelivered", or "queued" on web chat)
    error: str | None


# A call-back task's notice: the one of its appeal that turned into it (in the transaction that
# wrote the task, so at the same instant; a second task of the same appeal at that instant
# would break the alerts' unique key).
def _notice_of_task() -> Any:
    return and_(
        appeal_notices.c.appeal_id == appeal_alerts.c.appeal_id,
        appeal_notices.c.state == NoticeState.CALLBACK.value,
        appeal_notices.c.updated_at == appeal_alerts.c.created_at,
    )


# Call-back tasks with their appeal, customer and notice.
_TASKS = (
    select(
        appeal_alerts,
        appeals.c.reference,
        appeals.c.topic,
        appeals.c.status,
        appeals.c.owner_id,
        appeals.c.customer_id,
        appeals.c.fields,
        customers.c.display_name.label("customer_name"),
        appeal_notices.c.event,
        appeal_notices.c.chain,
        appeal_notices.c.error,
    )
    .join(appeals, appeals.c.id == appeal_alerts.c.appeal_id)
    .join(customers, customers.c.id == appeals.c.customer_id)
    .outerjoin(appeal_notices, _notice_of_task())
    .where(appeal_alerts.c.kind == CALLBACK_KIND)
)


def _task_json(row: Any) -> dict[str, Any]:
    """A call-back task: the alert's keys (``notified_at``: when it was done), the customer,
    the notice that reached them nowhere and the appeal's fields (to find a phone number)."""
    return alert_json(row) | {
        "customer_id": row.customer_id,
        "customer_name": row.customer_name,
        "event": row.event,
        "tried": [str(step.get("channel")) for step in row.chain or [] if isinstance(step, dict)],
        "error": row.error,
        "fields": row.fields or {},
    }


def _identity(row: Any) -> Identity:
    return Identity(
        int(row.id), str(row.channel), row.opted_out_at is not None, row.unreachable_at is not None
    )


class NoticeStore:
    def __init__(self, db: Database, appeals: AppealStore) -> None:
        self.db = db
        self.appeals = appeals

    async def texts_for_callers(self, appeal: Appeal, now: datetime) -> int:
        """A caller's number can take text messages: give the customer an SMS identity for
        each number they called from that no one has as an SMS identity yet, so a notice
        reaches a caller in writing (a landline refuses it, and the chain moves on). How many
        were added."""
        added = 0
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(identities.c.address).where(
                        identities.c.customer_id == appeal.customer_id,
                        identities.c.channel == "voice",
                    )
                )
            ).all()
            for row in rows:
                number = str(row.address)
                if not _E164.fullmatch(number):
                    continue
                taken = (
                    await conn.execute(
                        select(identities.c.id).where(
                            identities.c.channel == "sms", identities.c.address == number
                        )
                    )
                ).first()
                if taken is not None:
                    continue
                await conn.execute(
                    identities.insert().values(
                        customer_id=appeal.customer_id,
                        channel="sms",
                        address=number,
                        created_at=now,
                    )
                )
                added += 1
        return added

    async def recipient(self, appeal: Appeal) -> Recipient:
        columns = (
            identities.c.id,
            identities.c.channel,
            identities.c.opted_out_at,
            identities.c.unreachable_at,
        )
        async with self.db.read() as conn:
            own = None
            conversation_open = False
            if appeal.conversation_id is not None:
                row = (
                    await conn.execute(
                        select(*columns, conversations.c.status)
                        .join(conversations, conversations.c.identity_id == identities.c.id)
                        .where(conversations.c.id == appeal.conversation_id)
                    )
                ).first()
                if row is not None:
                    own = _identity(row)
                    conversation_open = row.status != ConversationStatus.CLOSED.value
            rows = (
                await conn.execute(
                    select(*columns)
                    .where(identities.c.customer_id == appeal.customer_id)
                    .order_by(identities.c.id.desc())
                )
            ).all()
            name = (
                await conn.execute(
                    select(customers.c.display_name).where(customers.c.id == appeal.customer_id)
                )
            ).scalar()
        return Recipient(own, conversation_open, tuple(_identity(r) for r in rows), name)

    async def callbacks(
        self, queues: Sequence[str] | None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The call-back tasks that stand (not done, their appeal neither closed nor
        cancelled), newest first, in ``queues`` (None: all), shaped like the overview's alerts,
        with the customer, the notice that reached them nowhere (``event``, the channels
        ``tried``, the last ``error``) and the appeal's ``fields``."""
        query = (
            _TASKS.where(
                appeal_alerts.c.action == CALLBACK_STANDS, appeals.c.status.not_in(_FINISHED)
            )
            .order_by(appeal_alerts.c.id.desc())
            .limit(limit)
        )
        if queues is not None:
            query = query.where(appeal_alerts.c.queue.in_(list(queues)))
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_task_json(r) for r in rows]

    async def callback_done(
        self,
        task_id: int,
        queues: Sequence[str] | None,
        actor: Actor,
        note: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Mark the call-back task ``task_id`` done (``actor`` called the customer): a
        compare-and-set of its ``action`` from "callback" to "done" with ``notified_at`` = now,
        and a ``callback_done`` history row (``note`` as its reason) with its event, in one
        transaction. ``queues``: the queues the actor may do tasks of (None: every one).
        Raises Refused: 404 for an unknown task or one in another queue, 409 when it is done
        already (nothing changed either way). The task as it is now."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(appeal_alerts.c.queue).where(
                        appeal_alerts.c.id == task_id, appeal_alerts.c.kind == CALLBACK_KIND
                    )
                )
            ).first()
            if row is None or (queues is not None and row.queue not in queues):
                raise Refused(404, "not_found", "no call-back task of yours with this id")
            claimed = await conn.execute(
                update(appeal_alerts)
                .where(
                    appeal_alerts.c.id == task_id,
                    appeal_alerts.c.kind == CALLBACK_KIND,
                    appeal_alerts.c.action == CALLBACK_STANDS,
                )
                .values(action=CALLBACK_DONE, notified_at=now)
            )
            if claimed.rowcount != 1:
                raise Refused(409, "already_done", "this call-back task was marked done already")
            task = (await conn.execute(_TASKS.where(appeal_alerts.c.id == task_id))).one()
            appeal = appeal_of_row(
                (await conn.execute(select(appeals).where(appeals.c.id == task.appeal_id))).one()
            )
            await self.appeals.record(
                conn,
                appeal,
                "callback_done",
                actor,
                now,
                reason=note,
                detail={"task_id": task_id, "queue": task.queue, "event": task.event},
                event={"callback_queue": task.queue},
            )
        return _task_json(task)

    # -- starting a notice ------------------------------------------------------------------

    async def start(
        self,
        appeal: Appeal,
        key: str,
        event: str,
        chain: Sequence[Reach],
        text: str,
        callback_queue: str,
        now: datetime,
    ) -> bool:
        """Send the notice ``key`` of ``appeal`` on the first step of ``chain`` (or raise the
        call-back task if the chain is empty), unless it exists already. True if this call
        started it."""
        try:
            async with self.db.write() as conn:
                notice_id = (
                    await conn.execute(
                        appeal_notices.insert()
                        .values(
                            appeal_id=appeal.id,
                            key=key,
                            event=event,
                            chain=[r.as_json() for r in chain],
                            attempt=0,
                            state=NoticeState.SENT.value,
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(appeal_notices.c.id)
                    )
                ).scalar_one()
                if chain:
                    await self._send(conn, appeal, int(notice_id), event, 0, chain[0], text, now)
                else:
                    await self._callback(
                        conn, appeal, int(notice_id), event, (), None, callback_queue, now
                    )
        except IntegrityError:
            return False  # started already (the same event again, or another instance)
        return True

    async def _send(
        self,
        conn: AsyncConnection,
        appeal: Appeal,
        notice_id: int,
        event: str,
        attempt: int,
        reach: Reach,
        text: str,
        now: datetime,
    ) -> int:
        conversation_id, other_identity = await self._thread(conn, appeal, reach, now)
        message_id = await tell_customer(
            conn,
            conversation_id,
            reach.channel,
            text,
            now,
            identity_id=other_identity,
            dedupe_key=f"appeal-notice:{notice_id}:{attempt}",
        )
        await conn.execute(
            update(appeal_notices)
            .where(appeal_notices.c.id == notice_id)
            .values(
                attempt=attempt,
                channel=reach.channel,
                identity_id=reach.identity_id,
                message_id=message_id,
                state=NoticeState.SENT.value,
                updated_at=now,
            )
        )
        await self.appeals.record(
            conn,
            appeal,
            "notice",
            Actor(None, "system", reach.channel),
            now,
            detail={
                "event": event,
                "state": NoticeState.SENT.value,
                "notice_id": notice_id,
                "attempt": attempt,
                "identity_id": reach.identity_id,
                "conversation_id": conversation_id,
                "message_id": message_id,
            },
        )
        return message_id

    async def _thread(
        self, conn: AsyncConnection, appeal: Appeal, reach: Reach, now: datetime
    ) -> tuple[int, int | None]:
        """The conversation the notice's message is stored in, and the identity to address
        when it is not the conversation's own (None when it is).

        In order: a conversation the appeal gathered on that identity (the one that opened
        it first); the conversation that opened the appeal, written to on the other identity
        as an operator's reply on another channel is; else a conversation of the appeal's own
        on that identity, opened closed (nobody has to answer a notice, so nothing is routed)
        and gathered by the appeal, so that the customer's answer to it (an email reply
        continues its thread) counts for the appeal."""
        opening = conversations.c.id == (appeal.conversation_id or 0)
        found = (
            await conn.execute(
                select(conversations.c.id)
                .join(
                    appeal_conversations,
                    appeal_conversations.c.conversation_id == conversations.c.id,
                )
                .where(
                    appeal_conversations.c.appeal_id == appeal.id,
                    conversations.c.identity_id == reach.identity_id,
                )
                .order_by(opening.desc(), conversations.c.id.desc())
                .limit(1)
            )
        ).scalar()
        if found is not None:
            return int(found), None
        if appeal.conversation_id is not None:
            return appeal.conversation_id, reach.identity_id
        conversation_id = (
            await conn.execute(
                conversations.insert()
                .values(
                    customer_id=appeal.customer_id,
                    identity_id=reach.identity_id,
                    channel=reach.channel,
                    status=ConversationStatus.CLOSED.value,
                    queue=appeal.queue,
                    priority=0,
                    operator_id=None,
                    waiting_since=None,
                    created_at=now,
                    closed_at=now,
                    attributes={"language": appeal.language, "appeal": appeal.reference},
                    close_reason=f"appeal_notice:{appeal.reference}",
                )
                .returning(conversations.c.id)
            )
        ).scalar_one()
        await conn.execute(
            appeal_conversations.insert().values(
                appeal_id=appeal.id, conversation_id=conversation_id, linked_by=None, linked_at=now
            )
        )
        return int(conversation_id), None

    # -- when a message did not reach the customer --------------------------------------------

    async def unreached(
        self, now: datetime, webchat_wait: float, limit: int = 100
    ) -> list[Unreached]:
        """Notices whose latest message ended failed or undelivered, or, on web chat, was not
        taken by the visitor's page within ``webchat_wait`` seconds."""
        stale = now - timedelta(seconds=webchat_wait)
        query = (
            select(
                appeal_notices.c.id,
                appeal_notices.c.appeal_id,
                appeal_notices.c.event,
                appeal_notices.c.chain,
                appeal_notices.c.attempt,
                appeal_notices.c.message_id,
                appeal_notices.c.channel,
                messages.c.text,
                messages.c.status,
                messages.c.error,
            )
            .join(messages, messages.c.id == appeal_notices.c.message_id)
            .where(
                appeal_notices.c.state == NoticeState.SENT.value,
                or_(
                    messages.c.status.in_(NOT_REACHED),
                    and_(
                        messages.c.channel == Channel.WEBCHAT.value,
                        messages.c.status == MessageStatus.QUEUED.value,
                        messages.c.created_at <= stale,
                    ),
                ),
            )
            .order_by(appeal_notices.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Unreached(
                int(r.id),
                int(r.appeal_id),
                str(r.event),
                tuple(Reach.from_json(x) for x in r.chain or []),
                int(r.attempt),
                int(r.message_id),
                r.channel,
                str(r.text),
                str(r.status),
                r.error,
            )
            for r in rows
        ]

    async def move_on(
        self,
        appeal: Appeal,
        notice: Unreached,
        can_send: Collection[str],
        callback_queue: str,
        now: datetime,
    ) -> str | None:
        """Send the notice on the next step of its chain that can still reach the customer
        (not opted out or unreachable since, on a channel that sends here), or raise the
        call-back task when none is left: the channel sent on, or ``"callback"``. None (and
        nothing done) if another instance moved the notice first."""
        error = (
            notice.error
            or ("not taken by the visitor's page" if notice.status == MessageStatus.QUEUED else "")
            or notice.status
        )[:MAX_ERROR_CHARS]
        async with self.db.write() as conn:
            claimed = await conn.execute(
                update(appeal_notices)
                .where(
                    appeal_notices.c.id == notice.id,
                    appeal_notices.c.attempt == notice.attempt,
                    appeal_notices.c.message_id == notice.message_id,
                    appeal_notices.c.state == NoticeState.SENT.value,
                )
                .values(error=error, updated_at=now)
            )
            if claimed.rowcount != 1:
                return None
            await self.appeals.record(
                conn,
                appeal,
                "notice",
                Actor(None, "system", notice.channel),
                now,
                reason=error,
                detail={
                    "event": notice.event,
                    "state": notice.status,
                    "notice_id": notice.id,
                    "attempt": notice.attempt,
                    "message_id": notice.message_id,
                },
            )
            rest = notice.chain[notice.attempt + 1 :]
            usable = await self._usable(conn, rest, can_send)
            for offset, reach in enumerate(rest):
                if reach.identity_id in usable:
                    attempt = notice.attempt + 1 + offset
                    await self._send(
                        conn, appeal, notice.id, notice.event, attempt, reach, notice.text, now
                    )
                    return reach.channel
            await self._callback(
                conn, appeal, notice.id, notice.event, notice.chain, error, callback_queue, now
            )
        return NoticeState.CALLBACK.value

    @staticmethod
    async def _usable(
        conn: AsyncConnection, chain: Sequence[Reach], can_send: Collection[str]
    ) -> set[int]:
        """The identities of ``chain`` a message can go to now."""
        ids = [r.identity_id for r in chain if r.channel in can_send]
        if not ids:
            return set()
        rows = await conn.execute(
            select(identities.c.id).where(
                identities.c.id.in_(ids),
                identities.c.opted_out_at.is_(None),
                identities.c.unreachable_at.is_(None),
            )
        )
        return {int(r.id) for r in rows}

    async def _callback(
        self,
        conn: AsyncConnection,
        appeal: Appeal,
        notice_id: int,
        event: str,
        tried: Sequence[Reach],
        error: str | None,
        callback_queue: str,
        now: datetime,
    ) -> None:
        """No identity reached the customer: a call-back task for an operator of the
        call-back queue (an alert of kind ``callback``, shown in the supervisor's and the
        queue's lists; one per appeal while it stands) and its history row."""
        await conn.execute(
            update(appeal_notices)
            .where(appeal_notices.c.id == notice_id)
            .values(state=NoticeState.CALLBACK.value, error=error, updated_at=now)
        )
        # One standing task is one call to the customer: a second notice that reached nobody
        # (in the same tick, or before the call) joins it.
        standing = (
            await conn.execute(
                select(appeal_alerts.c.id).where(
                    appeal_alerts.c.appeal_id == appeal.id,
                    appeal_alerts.c.kind == CALLBACK_KIND,
                    appeal_alerts.c.action == CALLBACK_STANDS,
                )
            )
        ).first()
        if standing is None:
            await conn.execute(
                appeal_alerts.insert().values(
                    appeal_id=appeal.id,
                    kind=CALLBACK_KIND,
                    stage=appeal.stage,
                    queue=callback_queue,
                    due_at=now,
                    action=CALLBACK_STANDS,
                    created_at=now,
                )
            )
        await self.appeals.record(
            conn,
            appeal,
            "callback_needed",
            Actor.system(),
            now,
            reason=(
                f"the {event} notice reached the customer on no channel: please call them back"
            ),
            detail={
                "event": event,
                "notice_id": notice_id,
                "queue": callback_queue,
                "tried": [r.channel for r in tried],
            },
            # The call-back queue's operators hear of it too (appeals/pushes.py).
            event={"callback_queue": callback_queue},
        )
