"""Reading conversations and writing operator replies and resolutions.

Replies follow the intake rule: the message and its outbox row commit together, so an
acknowledged reply reaches the customer's channel even if the broker or this process dies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import GatewayError
from gateway.events import Event, outbound_event
from gateway.logs import CONVERSATION_ID_HEADER
from gateway.model import (
    REPLY_CHANNELS,
    Channel,
    ConversationStatus,
    Direction,
    MessageStatus,
    OfferStatus,
    utcnow,
)
from gateway.storage.database import Database
from gateway.storage.intake import message_json
from gateway.storage.schema import (
    conversations,
    customers,
    identities,
    messages,
    offers,
    outbox,
    routing_events,
    users,
)


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    conversation_id: int
    direction: str
    author: str
    text: str
    created_at: datetime
    status: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    channel: str | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)  # a menu's quick replies

    def as_json(self) -> dict[str, Any]:
        return message_json(
            self.id,
            self.conversation_id,
            self.direction,
            self.author,
            self.text,
            self.created_at,
            self.status,
            self.attachments,
            self.channel,
            self.buttons,
        )


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: int
    customer_id: int
    customer_name: str
    channel: str
    address: str
    status: str
    queue: str
    operator_id: int | None
    created_at: datetime
    identity_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer": {"id": self.customer_id, "name": self.customer_name},
            "channel": self.channel,
            "identity_id": self.identity_id,
            "status": self.status,
            "queue": self.queue,
            "operator_id": self.operator_id,
            "created_at": self.created_at.isoformat(),
        }


_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.direction,
    messages.c.text,
    messages.c.created_at,
    messages.c.status,
    messages.c.attachments,
    messages.c.channel,
    messages.c.raw,
    users.c.display_name.label("operator_name"),
)


_MESSAGES_QUERY = select(*_MESSAGE_COLUMNS).outerjoin(
    users, users.c.id == messages.c.author_user_id
)


def _message(row: Any) -> MessageView:
    author = row.operator_name if row.direction == Direction.OUT.value else "customer"
    return MessageView(
        row.id,
        row.conversation_id,
        row.direction,
        author or "system",  # an outgoing message with no operator: the gateway's own
        row.text,
        row.created_at,
        row.status,
        list(row.attachments or []),
        row.channel,
        _buttons(row),
    )


def _buttons(row: Any) -> list[dict[str, str]]:
    """The quick replies of a message from the gateway (an IVR menu), if any."""
    if row.direction != Direction.OUT.value or not isinstance(row.raw, dict):
        return []
    buttons = row.raw.get("buttons")
    return list(buttons) if isinstance(buttons, list) else []


_CONVERSATION_QUERY = (
    select(
        conversations.c.id,
        conversations.c.customer_id,
        customers.c.display_name,
        conversations.c.channel,
        identities.c.address,
        conversations.c.status,
        conversations.c.queue,
        conversations.c.operator_id,
        conversations.c.created_at,
        conversations.c.identity_id,
    )
    .join(customers, customers.c.id == conversations.c.customer_id)
    .join(identities, identities.c.id == conversations.c.identity_id)
)


def _conversation(row: Any) -> ConversationView:
    name = row.display_name or f"{row.channel} customer #{row.customer_id}"
    return ConversationView(
        row.id,
        row.customer_id,
        name,
        row.channel,
        row.address,
        row.status,
        row.queue,
        row.operator_id,
        row.created_at,
        row.identity_id,
    )


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, conversation_id: int) -> ConversationView | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(_CONVERSATION_QUERY.where(conversations.c.id == conversation_id))
            ).first()
        return _conversation(row) if row else None

    async def for_operator(self, operator_id: int | None) -> list[ConversationView]:
        """Open conversations of one operator (``None``: every open assigned conversation)."""
        query = _CONVERSATION_QUERY.where(
            conversations.c.status == ConversationStatus.ASSIGNED.value
        )
        if operator_id is not None:
            query = query.where(conversations.c.operator_id == operator_id)
        async with self.db.read() as conn:
            rows = (await conn.execute(query.order_by(conversations.c.id))).all()
        return [_conversation(row) for row in rows]

    async def open_for_identity(self, channel: str, address: str) -> ConversationView | None:
        query = (
            _CONVERSATION_QUERY.where(
                identities.c.channel == channel,
                identities.c.address == address,
                conversations.c.status != ConversationStatus.CLOSED.value,
            )
            .order_by(conversations.c.id.desc())
            .limit(1)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        return _conversation(row) if row else None

    async def summaries(
        self, conversation_ids: list[int]
    ) -> dict[int, tuple[ConversationView, str]]:
        """Each conversation with the text of its latest customer message (for offer cards),
        in two queries whatever the number."""
        if not conversation_ids:
            return {}
        latest = (
            select(func.max(messages.c.id))
            .where(
                messages.c.conversation_id.in_(conversation_ids),
                messages.c.direction == Direction.IN.value,
            )
            .group_by(messages.c.conversation_id)
        )
        async with self.db.read() as conn:
            views = {
                row.id: _conversation(row)
                for row in await conn.execute(
                    _CONVERSATION_QUERY.where(conversations.c.id.in_(conversation_ids))
                )
            }
            previews = {
                row.conversation_id: row.text
                for row in await conn.execute(
                    select(messages.c.conversation_id, messages.c.text).where(
                        messages.c.id.in_(latest)
                    )
                )
            }
        return {cid: (view, previews.get(cid, "")) for cid, view in views.items()}

    async def messages(
        self, conversation_id: int, after: int = 0, limit: int = 1000
    ) -> list[MessageView]:
        query = (
            _MESSAGES_QUERY.where(
                messages.c.conversation_id == conversation_id, messages.c.id > after
            )
            .order_by(messages.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_message(row) for row in rows]

    async def message(self, message_id: int) -> MessageView | None:
        async with self.db.read() as conn:
            return await self._by_id(conn, message_id)

    async def add_reply(
        self,
        conversation_id: int,
        operator_id: int,
        client_id: str,
        text: str,
        headers: dict[str, Any] | None = None,
        identity_id: int | None = None,
    ) -> tuple[MessageView, bool] | None:
        """Store an operator's reply; (message, created) or None when not theirs to answer.

        ``identity_id`` sends it to another of the customer's identities (another channel)
        than the conversation's own; :class:`ReplyTargetError` if it is not the customer's or
        cannot be written to from here."""
        dedupe_key = f"op:{operator_id}:{client_id}"
        try:
            async with self.db.write() as conn:
                existing = await self._by_dedupe(conn, dedupe_key)
                if existing is not None:
                    return existing, False
                conv = (
                    await conn.execute(
                        select(
                            conversations.c.channel,
                            conversations.c.customer_id,
                            conversations.c.identity_id,
                        ).where(
                            conversations.c.id == conversation_id,
                            conversations.c.operator_id == operator_id,
                            conversations.c.status == ConversationStatus.ASSIGNED.value,
                        )
                    )
                ).first()
                if conv is None:
                    return None
                channel = conv.channel
                if identity_id is not None and identity_id != conv.identity_id:
                    channel = await _reply_channel(conn, conv.customer_id, identity_id)
                else:
                    identity_id = None
                    if channel == Channel.VOICE.value:
                        raise ReplyTargetError(
                            "a phone call is answered on the phone: call back, or write on "
                            "another of the customer's channels"
                        )
                now = utcnow()
                message_id = (
                    await conn.execute(
                        messages.insert()
                        .values(
                            conversation_id=conversation_id,
                            direction=Direction.OUT.value,
                            channel=channel,
                            identity_id=identity_id,
                            dedupe_key=dedupe_key,
                            author_user_id=operator_id,
                            text=text,
                            attachments=[],
                            status=MessageStatus.QUEUED.value,
                            created_at=now,
                        )
                        .returning(messages.c.id)
                    )
                ).scalar_one()
                view = await self._by_id(conn, message_id)
                assert view is not None
                await conn.execute(
                    outbox.insert().values(
                        routing_key=outbound_event(channel),
                        payload={
                            "conversation_id": conversation_id,
                            "message_id": message_id,
                            "operator_id": operator_id,
                            "message": view.as_json(),
                        },
                        headers={**(headers or {}), CONVERSATION_ID_HEADER: str(conversation_id)},
                        created_at=now,
                    )
                )
                return view, True
        except IntegrityError:
            async with self.db.read() as conn:
                again = await self._by_dedupe(conn, dedupe_key)
            return (again, False) if again else None

    async def mark_status(self, message_id: int, status: MessageStatus) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(messages).where(messages.c.id == message_id).values(status=status.value)
            )

    async def resolve(
        self,
        conversation_id: int,
        operator_id: int | None,
        kind: str = "resolved",
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Close an open conversation; ``operator_id`` None means any owner (supervisor, or
        the gateway itself: ``kind`` "abandoned" when a caller hung up while waiting).
        ``detail`` goes with the routing event (the operator's wrap-up code)."""
        now = utcnow()
        async with self.db.write() as conn:
            query = update(conversations).where(
                conversations.c.id == conversation_id,
                conversations.c.status != ConversationStatus.CLOSED.value,
            )
            if operator_id is not None:
                query = query.where(conversations.c.operator_id == operator_id)
            result = await conn.execute(
                query.values(status=ConversationStatus.CLOSED.value, closed_at=now)
            )
            if result.rowcount != 1:
                return False
            # A supervisor may close a conversation that is still on offer: the offer ends too.
            await conn.execute(
                update(offers)
                .where(
                    offers.c.conversation_id == conversation_id,
                    offers.c.status == OfferStatus.PENDING.value,
                )
                .values(status=OfferStatus.REVOKED.value, decided_at=now, reason="closed")
            )
            await conn.execute(
                routing_events.insert().values(
                    conversation_id=conversation_id,
                    kind=kind,
                    operator_id=operator_id,
                    detail=detail or {},
                    created_at=now,
                )
            )
            await conn.execute(
                outbox.insert().values(
                    routing_key=Event.CLOSED,
                    payload={"conversation_id": conversation_id},
                    headers={CONVERSATION_ID_HEADER: str(conversation_id)},
                    created_at=now,
                )
            )
        return True

    async def _by_dedupe(self, conn: AsyncConnection, dedupe_key: str) -> MessageView | None:
        return await _one_message(conn, messages.c.dedupe_key == dedupe_key)

    async def _by_id(self, conn: AsyncConnection, message_id: int) -> MessageView | None:
        return await _one_message(conn, messages.c.id == message_id)


class ReplyTargetError(GatewayError):
    """A reply addressed to an identity it cannot go to (not the customer's, no provider)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _reply_channel(conn: AsyncConnection, customer_id: int, identity_id: int) -> str:
    """The channel of one of the customer's identities that a reply can be sent to."""
    row = (
        await conn.execute(
            select(identities.c.channel).where(
                identities.c.id == identity_id, identities.c.customer_id == customer_id
            )
        )
    ).first()
    if row is None:
        raise ReplyTargetError("this identity is not the customer's")
    if row.channel not in REPLY_CHANNELS:
        raise ReplyTargetError(f"replies cannot be sent to a {row.channel} identity from here")
    return str(row.channel)


async def _one_message(conn: AsyncConnection, condition: Any) -> MessageView | None:
    row = (await conn.execute(_MESSAGES_QUERY.where(condition))).first()
    return _message(row) if row else None
