"""Messages from the gateway itself to a customer (a routing notice, an IVR menu), sent like an
operator's reply: stored with their outbox row in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.events import outbound_event
from gateway.logs import CONVERSATION_ID_HEADER
from gateway.model import Direction, MessageStatus
from gateway.storage.intake import message_json
from gateway.storage.schema import messages, outbox


async def tell_customer(
    conn: AsyncConnection,
    conversation_id: int,
    channel: str,
    text: str,
    now: datetime,
    buttons: Sequence[dict[str, str]] = (),
    dedupe_key: str | None = None,
    *,
    identity_id: int | None = None,
) -> int:
    """Store a message to the customer and its outbox row; its id. ``buttons`` (label and
    value each) become quick replies where the channel has them (Telegram, web chat).
    ``dedupe_key`` makes a second copy of the same answer fail with the unique key (an
    IntegrityError that rolls the caller's transaction back), so an event handled twice
    answers once. ``identity_id`` sends it to another of the customer's identities than the
    conversation's (``channel`` is that identity's), as an operator's reply on another
    channel."""
    raw = {"buttons": list(buttons)} if buttons else None
    message_id = (
        await conn.execute(
            messages.insert()
            .values(
                conversation_id=conversation_id,
                direction=Direction.OUT.value,
                channel=channel,
                identity_id=identity_id,
                dedupe_key=dedupe_key or f"system:{conversation_id}:{uuid.uuid4().hex}",
                author_user_id=None,
                text=text,
                attachments=[],
                raw=raw,
                status=MessageStatus.QUEUED.value,
                created_at=now,
            )
            .returning(messages.c.id)
        )
    ).scalar_one()
    await conn.execute(
        outbox.insert().values(
            routing_key=outbound_event(channel),
            payload={
                "conversation_id": conversation_id,
                "message_id": message_id,
                "operator_id": None,
                "message": message_json(
                    message_id,
                    conversation_id,
                    Direction.OUT.value,
                    "system",
                    text,
                    now,
                    MessageStatus.QUEUED.value,
                    channel=channel,
                    buttons=list(buttons),
                ),
            },
            headers={CONVERSATION_ID_HEADER: str(conversation_id)},
            created_at=now,
        )
    )
    return int(message_id)
