"""The store's side of sending replies on provider channels (SMS, WhatsApp, email, Telegram):
what to send to whom, and the delivery status that comes back.

Why here and not in the broker: a reply's status (queued, sent, delivered, undelivered, failed)
is what the operator sees and what decides whether a redelivered job is sent again; it has to
survive restarts and be the same on every instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from gateway.events import outbound_event
from gateway.logs import CONVERSATION_ID_HEADER
from gateway.message_status import advance
from gateway.model import STATUS_RANK, ConversationStatus, Direction, MessageStatus, utcnow
from gateway.storage.database import Database
from gateway.storage.schema import conversations, identities, messages, outbox

MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class OutboundJob:
    """One reply to send, with everything a channel needs to address it."""

    message_id: int
    conversation_id: int
    channel: str
    identity_id: int
    address: str
    text: str
    attachments: list[dict[str, Any]]
    status: str
    external_id: str | None
    attempts: int
    author_user_id: int | None
    opted_out: bool
    unreachable: bool
    attributes: dict[str, str]  # the conversation's (e.g. ``via``: the number they wrote to)
    last_inbound: dict[str, Any]  # the customer's latest message's provider data (threading)
    buttons: tuple[tuple[str, str], ...] = ()  # quick replies (label, value): an IVR menu

    @property
    def already_sent(self) -> bool:
        """The provider has it already (a redelivered job must not send it twice)."""
        return self.external_id is not None or STATUS_RANK[MessageStatus(self.status)] >= 2


@dataclass(frozen=True, slots=True)
class StatusChange:
    message_id: int
    conversation_id: int
    author_user_id: int | None
    status: str
    reason: str | None = None  # why, for a failure (the provider's error code and text)
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class ReachabilityChange:
    """The customer's identity became (un)reachable; the operators of its open conversations."""

    identity_id: int
    channel: str
    address: str
    reachable: bool
    conversations: tuple[tuple[int, int], ...]  # (conversation id, operator id)


class OutboundStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def job(self, message_id: int) -> OutboundJob | None:
        query = (
            select(
                messages.c.id,
                messages.c.conversation_id,
                messages.c.channel,
                messages.c.text,
                messages.c.attachments,
                messages.c.raw,
                messages.c.status,
                messages.c.external_id,
                messages.c.attempts,
                messages.c.author_user_id,
                identities.c.id.label("identity_id"),
                identities.c.address,
                identities.c.opted_out_at,
                identities.c.unreachable_at,
                conversations.c.attributes,
            )
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .join(
                identities,
                identities.c.id
                == func.coalesce(messages.c.identity_id, conversations.c.identity_id),
            )
            .where(messages.c.id == message_id, messages.c.direction == Direction.OUT.value)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            last = (
                await conn.execute(
                    select(messages.c.raw)
                    .where(
                        messages.c.conversation_id == row.conversation_id,
                        messages.c.direction == Direction.IN.value,
                        messages.c.channel == row.channel,
                    )
                    .order_by(messages.c.id.desc())
                    .limit(1)
                )
            ).scalar()
        return OutboundJob(
            row.id,
            row.conversation_id,
            row.channel,
            row.identity_id,
            row.address,
            row.text,
            list(row.attachments or []),
            row.status,
            row.external_id,
            row.attempts,
            row.author_user_id,
            row.opted_out_at is not None,
            row.unreachable_at is not None,
            dict(row.attributes or {}),
            dict(last or {}),
            _buttons(row.raw),
        )

    async def count_attempt(self, message_id: int) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(messages)
                .where(messages.c.id == message_id)
                .values(attempts=messages.c.attempts + 1)
            )

    async def sent(self, message_id: int, external_id: str) -> bool:
        """The provider took it: keep its id (for status callbacks) and mark it sent, unless a
        callback got there first with a later state."""
        async with self.db.write() as conn:
            done = await conn.execute(
                update(messages)
                .where(
                    messages.c.id == message_id,
                    messages.c.status == MessageStatus.QUEUED.value,
                )
                .values(status=MessageStatus.SENT.value, external_id=external_id, error=None)
            )
            if done.rowcount != 1:
                await conn.execute(
                    update(messages)
                    .where(messages.c.id == message_id, messages.c.external_id.is_(None))
                    .values(external_id=external_id)
                )
        return bool(done.rowcount == 1)

    async def failed(self, message_id: int, status: MessageStatus, error: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(messages)
                .where(
                    messages.c.id == message_id,
                    messages.c.status == MessageStatus.QUEUED.value,
                )
                .values(status=status.value, error=error[:MAX_ERROR_CHARS])
            )

    async def status_from_provider(
        self,
        channels: tuple[str, ...],
        external_id: str,
        status: MessageStatus,
        error: str | None = None,
        error_code: str | None = None,
    ) -> StatusChange | None:
        """A delivery report: applied only if it moves the message forward (reports arrive
        out of order; see gateway/message_status.py for which change is allowed)."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(
                        messages.c.id,
                        messages.c.conversation_id,
                        messages.c.status,
                        messages.c.author_user_id,
                    ).where(
                        messages.c.external_id == external_id,
                        messages.c.channel.in_(channels),
                        messages.c.direction == Direction.OUT.value,
                    )
                )
            ).first()
            if row is None:
                return None
            new = advance(MessageStatus(row.status), status)
            if new is None:
                return None
            reason = (error or None) and error[:MAX_ERROR_CHARS]
            done = await conn.execute(
                update(messages)
                .where(messages.c.id == row.id, messages.c.status == row.status)
                .values(status=new.value, error=reason)
            )
            if done.rowcount != 1:
                return None  # another report changed it meanwhile
        return StatusChange(
            row.id, row.conversation_id, row.author_user_id, new.value, reason, error_code
        )

    async def resend(self, message_id: int, operator_id: int | None) -> bool:
        """Queue a failed or undelivered reply again (the operator pressed Resend). Only the
        conversation's operator, or anyone when ``operator_id`` is None (a supervisor)."""
        now = utcnow()
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(messages.c.conversation_id, messages.c.channel, messages.c.status)
                    .join(conversations, conversations.c.id == messages.c.conversation_id)
                    .where(
                        messages.c.id == message_id,
                        messages.c.direction == Direction.OUT.value,
                        *(
                            [conversations.c.operator_id == operator_id]
                            if operator_id is not None
                            else []
                        ),
                    )
                )
            ).first()
            finals = (MessageStatus.FAILED.value, MessageStatus.UNDELIVERED.value)
            if row is None or row.status not in finals:
                return False
            await conn.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status.in_(finals))
                .values(status=MessageStatus.QUEUED.value, attempts=0, error=None, external_id=None)
            )
            await conn.execute(
                outbox.insert().values(
                    routing_key=outbound_event(row.channel),
                    payload={
                        "conversation_id": row.conversation_id,
                        "message_id": message_id,
                        "operator_id": operator_id,
                        "resend": True,
                    },
                    headers={CONVERSATION_ID_HEADER: str(row.conversation_id)},
                    created_at=now,
                )
            )
        return True

    async def set_opted_out(self, channel: str, address: str, opted_out: bool) -> bool:
        """SMS STOP / START: nothing is sent to an opted-out identity."""
        async with self.db.write() as conn:
            done = await conn.execute(
                update(identities)
                .where(identities.c.channel == channel, identities.c.address == address)
                .values(opted_out_at=utcnow() if opted_out else None)
            )
        return bool(done.rowcount == 1)

    async def set_reachable(
        self, channel: str, address: str, reachable: bool, at: datetime
    ) -> ReachabilityChange | None:
        """The customer blocked the bot (or started it again): nothing is sent to them while
        they are unreachable, as after a refused send. Returns what changed (None when nothing
        did: a repeated report, or a customer who never wrote)."""
        async with self.db.write() as conn:
            identity_id = (
                await conn.execute(
                    select(identities.c.id).where(
                        identities.c.channel == channel, identities.c.address == address
                    )
                )
            ).scalar()
            if identity_id is None:
                return None
            done = await conn.execute(
                update(identities)
                .where(
                    identities.c.id == identity_id,
                    identities.c.unreachable_at.is_not(None)
                    if reachable
                    else identities.c.unreachable_at.is_(None),
                )
                .values(unreachable_at=None if reachable else at)
            )
            if done.rowcount != 1:
                return None
            rows = (
                await conn.execute(
                    select(conversations.c.id, conversations.c.operator_id).where(
                        conversations.c.identity_id == identity_id,
                        conversations.c.status != ConversationStatus.CLOSED.value,
                        conversations.c.operator_id.is_not(None),
                    )
                )
            ).all()
        return ReachabilityChange(
            identity_id, channel, address, reachable, tuple((r.id, r.operator_id) for r in rows)
        )

    async def set_unreachable(self, identity_id: int) -> None:
        """The provider says this customer cannot be reached (a Telegram bot was blocked)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(identities)
                .where(identities.c.id == identity_id)
                .values(unreachable_at=utcnow())
            )


def _buttons(raw: Any) -> tuple[tuple[str, str], ...]:
    buttons = raw.get("buttons") if isinstance(raw, dict) else None
    if not isinstance(buttons, list):
        return ()
    return tuple(
        (str(b.get("label", "")), str(b.get("value", ""))) for b in buttons if isinstance(b, dict)
    )


async def mark_bounced(
    db: Database, channel: str, external_ids: tuple[str, ...], error: str
) -> StatusChange | None:
    """A bounce names one of our sent replies by its provider id (for email, its Message-ID):
    the reply failed, with the bounce's reason. None if no reply of ours has that id, or it had
    failed already (a second bounce for the same reply changes nothing)."""
    if not external_ids:
        return None
    finals = (MessageStatus.FAILED.value, MessageStatus.UNDELIVERED.value)
    async with db.write() as conn:
        row = (
            await conn.execute(
                select(
                    messages.c.id,
                    messages.c.conversation_id,
                    messages.c.status,
                    messages.c.author_user_id,
                )
                .where(
                    messages.c.external_id.in_(external_ids),
                    messages.c.channel == channel,
                    messages.c.direction == Direction.OUT.value,
                )
                .limit(1)
            )
        ).first()
        if row is None or row.status in finals:
            return None
        done = await conn.execute(
            update(messages)
            .where(messages.c.id == row.id, messages.c.status == row.status)
            .values(status=MessageStatus.FAILED.value, error=error[:MAX_ERROR_CHARS])
        )
    if done.rowcount != 1:
        return None
    return StatusChange(row.id, row.conversation_id, row.author_user_id, MessageStatus.FAILED.value)
