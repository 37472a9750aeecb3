"""Durable intake: message, customer, conversation and outbox row in one transaction.

Why one transaction: the sender's acknowledgement promises the message is safe. Once this
commits, the outbox relay will publish it to RabbitMQ however long the broker is away, and the
dedupe key turns any retry of the same provider or client message id into a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.logs import CONVERSATION_ID_HEADER
from gateway.model import (
    ConversationStatus,
    Direction,
    InboundMessage,
    MessageStatus,
    utcnow,
)
from gateway.storage.database import Database
from gateway.storage.schema import conversations, customers, identities, messages, outbox

MESSAGE_EVENT = "conversation.message"


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: int
    conversation_id: int
    customer_id: int
    created: bool


async def _existing(conn: AsyncConnection, dedupe_key: str) -> Accepted | None:
    row = (
        await conn.execute(
            select(messages.c.id, messages.c.conversation_id, conversations.c.customer_id)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(messages.c.dedupe_key == dedupe_key)
        )
    ).first()
    if row is None:
        return None
    return Accepted(row.id, row.conversation_id, row.customer_id, created=False)


async def _thread(
    conn: AsyncConnection, message: InboundMessage, queue: str
) -> tuple[int, int, bool]:
    """(customer id, open conversation id, new?) for the sender, created on first contact."""
    open_conversation = (
        select(conversations.c.id)
        .where(
            conversations.c.identity_id == identities.c.id,
            conversations.c.status != ConversationStatus.CLOSED.value,
        )
        .order_by(conversations.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = (
        await conn.execute(
            select(
                identities.c.id, identities.c.customer_id, open_conversation.label("open")
            ).where(
                identities.c.channel == message.channel.value,
                identities.c.address == message.sender,
            )
        )
    ).first()
    now = utcnow()
    if row is not None and row.open is not None:
        return row.customer_id, row.open, False
    if row is None:
        customer_id = (
            await conn.execute(
                customers.insert()
                .values(display_name=message.sender_name, created_at=now)
                .returning(customers.c.id)
            )
        ).scalar_one()
        identity_id = (
            await conn.execute(
                identities.insert()
                .values(
                    customer_id=customer_id,
                    channel=message.channel.value,
                    address=message.sender,
                    created_at=now,
                )
                .returning(identities.c.id)
            )
        ).scalar_one()
    else:
        customer_id, identity_id = row.customer_id, row.id
    conversation_id = (
        await conn.execute(
            conversations.insert()
            .values(
                customer_id=customer_id,
                identity_id=identity_id,
                channel=message.channel.value,
                status=ConversationStatus.WAITING.value,
                queue=queue,
                priority=0,
                waiting_since=now,
                created_at=now,
            )
            .returning(conversations.c.id)
        )
    ).scalar_one()
    return customer_id, conversation_id, True


def message_json(
    message_id: int,
    conversation_id: int,
    direction: str,
    author: str,
    text: str,
    at: datetime,
    status: str,
) -> dict[str, Any]:
    """A message as every client sees it (docs/protocol.md); carried in events, so that
    consumers need not read it back."""
    return {
        "id": message_id,
        "seq": message_id,
        "conversation_id": conversation_id,
        "direction": direction,
        "author": author,
        "text": text,
        "created_at": at.isoformat(),
        "status": status,
    }


async def _accept_once(
    db: Database, message: InboundMessage, dedupe_key: str, queue: str, headers: dict[str, Any]
) -> Accepted:
    async with db.write() as conn:
        customer_id, conversation_id, new = await _thread(conn, message, queue)
        now = utcnow()
        message_id = (
            await conn.execute(
                messages.insert()
                .values(
                    conversation_id=conversation_id,
                    direction=Direction.IN.value,
                    channel=message.channel.value,
                    dedupe_key=dedupe_key,
                    text=message.text,
                    attachments=[
                        {
                            "url": a.url,
                            "content_type": a.content_type,
                            "filename": a.filename,
                            "size": a.size,
                        }
                        for a in message.attachments
                    ],
                    raw=dict(message.raw),
                    status=MessageStatus.RECEIVED.value,
                    received_at=message.received_at,
                    created_at=now,
                )
                .returning(messages.c.id)
            )
        ).scalar_one()
        await conn.execute(
            outbox.insert().values(
                routing_key=MESSAGE_EVENT,
                payload={
                    "conversation_id": conversation_id,
                    "message_id": message_id,
                    "direction": Direction.IN.value,
                    "new_conversation": new,
                    "message": message_json(
                        message_id,
                        conversation_id,
                        Direction.IN.value,
                        "customer",
                        message.text,
                        now,
                        MessageStatus.RECEIVED.value,
                    ),
                },
                headers={**headers, CONVERSATION_ID_HEADER: str(conversation_id)},
                created_at=now,
            )
        )
        return Accepted(message_id, conversation_id, customer_id, created=True)


async def accept_inbound(
    db: Database,
    message: InboundMessage,
    *,
    dedupe_key: str,
    queue: str,
    headers: dict[str, Any] | None = None,
) -> Accepted:
    """Store ``message`` durably (with its outbox row) unless ``dedupe_key`` was seen already.

    A retry is answered from a read-only look-up; the unique dedupe key is what really
    guarantees one row when two copies race into the write.
    """
    async with db.read() as conn:
        existing = await _existing(conn, dedupe_key)
    if existing is not None:
        return existing
    try:
        return await _accept_once(db, message, dedupe_key, queue, headers or {})
    except IntegrityError:
        # A concurrent writer stored the same message (or created the same identity) first.
        async with db.read() as conn:
            existing = await _existing(conn, dedupe_key)
        if existing is not None:
            return existing
        return await _accept_once(db, message, dedupe_key, queue, headers or {})
