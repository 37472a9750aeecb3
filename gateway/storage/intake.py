"""Durable intake: message, customer, conversation and outbox row in one transaction.

Why one transaction: the sender's acknowledgement promises the message is safe. Once this
commits, the outbox relay will publish it to RabbitMQ however long the broker is away, and the
dedupe key turns any retry of the same provider or client message id into a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.events import Event, media_event
from gateway.logs import CONVERSATION_ID_HEADER
from gateway.model import (
    ConversationStatus,
    Direction,
    InboundMessage,
    MessageStatus,
    utcnow,
)
from gateway.storage.customers import PHONE_CHANNELS, phone_customer
from gateway.storage.database import Database
from gateway.storage.schema import (
    conversations,
    customers,
    identities,
    messages,
    outbox,
    routing_events,
)


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: int
    conversation_id: int
    customer_id: int
    created: bool


@dataclass(eq=False, slots=True)
class IntakeItem:
    message: InboundMessage
    dedupe_key: str
    queue: str
    headers: dict[str, Any] = field(default_factory=dict)
    opens_in_menu: bool = False

    @property
    def sender(self) -> tuple[str, str]:
        return (self.message.channel.value, self.message.sender)


def message_json(
    message_id: int,
    conversation_id: int,
    direction: str,
    author: str,
    text: str,
    at: datetime,
    status: str,
    attachments: list[dict[str, Any]] | None = None,
    channel: str | None = None,
    buttons: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A message as every client sees it (docs/protocol.md); carried in events, so that
    consumers need not read it back."""
    return {
        **({"channel": channel} if channel else {}),
        **({"buttons": buttons} if buttons else {}),
        "id": message_id,
        "seq": message_id,
        "conversation_id": conversation_id,
        "direction": direction,
        "author": author,
        "text": text,
        "created_at": at.isoformat(),
        "status": status,
        "attachments": [
            public_attachment(message_id, i, a) for i, a in enumerate(attachments or [])
        ],
    }


def attachment_url(message_id: int, index: int) -> str:
    return f"/api/messages/{message_id}/attachments/{index}"


def public_attachment(message_id: int, index: int, stored: dict[str, Any]) -> dict[str, Any]:
    """An attachment as clients see it: a download URL of ours once the file is kept (the
    provider's URL needs our credentials, so it is never handed out), else why not."""
    kept = stored.get("file_id") is not None
    state = "kept" if kept else "pending" if stored.get("pending") else "not_kept"
    public = {
        "content_type": stored.get("content_type") or "application/octet-stream",
        "filename": stored.get("filename"),
        "size": stored.get("size"),
        "state": state,
        "url": attachment_url(message_id, index) if kept else None,
    }
    if stored.get("error"):
        public["reason"] = stored["error"]
    return public


def attachments_json(message: InboundMessage) -> list[dict[str, Any]]:
    """Attachments as stored with the message (``pending`` until a fetcher brings them in)."""
    return [
        {
            "url": a.url,
            "content_type": a.content_type,
            "filename": a.filename,
            "size": a.size,
            "file_id": a.file_id,
            "fetch": a.fetch,
            "pending": a.fetch is not None and a.file_id is None,
            **({"error": a.error} if a.error else {}),
        }
        for a in message.attachments
    ]


def media_jobs(message_id: int, conversation_id: int, message: InboundMessage) -> list[Any]:
    """One outbox row per attachment a fetcher has to bring in, written with the message so a
    crash can delay a file but never forget it."""
    return [
        (
            media_event(a.fetch),
            {"message_id": message_id, "conversation_id": conversation_id, "index": i},
        )
        for i, a in enumerate(message.attachments)
        if a.fetch is not None and a.file_id is None
    ]


async def accept_inbound(
    db: Database,
    message: InboundMessage,
    *,
    dedupe_key: str,
    queue: str,
    headers: dict[str, Any] | None = None,
    opens_in_menu: bool = False,
) -> Accepted:
    """Store one message durably (with its outbox row) unless ``dedupe_key`` was seen already.

    The unique dedupe key is what guarantees one row when two copies race into the write; the
    loser of such a race finds the winner's row on its second try.
    """
    item = IntakeItem(message, dedupe_key, queue, headers or {}, opens_in_menu)
    for attempt in (1, 2):
        try:
            async with db.write() as conn:
                (result,) = await write_batch(conn, [item])
            return result
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def write_batch(conn: AsyncConnection, batch: list[IntakeItem]) -> list[Accepted]:
    """Store a batch of inbound messages in the caller's transaction; one result per item,
    in order (``created`` False for a duplicate, also of an earlier item in the same batch)."""
    now = utcnow()
    keys = list({r.dedupe_key for r in batch})
    known: dict[str, Accepted] = {
        row.dedupe_key: Accepted(row.id, row.conversation_id, row.customer_id, created=False)
        for row in await conn.execute(
            select(
                messages.c.dedupe_key,
                messages.c.id,
                messages.c.conversation_id,
                conversations.c.customer_id,
            )
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(messages.c.dedupe_key.in_(keys))
        )
    }
    fresh: list[IntakeItem] = []
    fresh_ids: set[int] = set()
    claimed: set[str] = set()
    for request in batch:
        if request.dedupe_key not in known and request.dedupe_key not in claimed:
            claimed.add(request.dedupe_key)
            fresh.append(request)
            fresh_ids.add(id(request))
    threads = await _threads(conn, fresh, now)

    if fresh:
        ids = (
            (
                await conn.execute(
                    messages.insert().returning(messages.c.id, sort_by_parameter_order=True),
                    [
                        {
                            "conversation_id": threads[r.sender][1],
                            "direction": Direction.IN.value,
                            "channel": r.message.channel.value,
                            "dedupe_key": r.dedupe_key,
                            "author_user_id": None,
                            "text": r.message.text,
                            "attachments": attachments_json(r.message),
                            "raw": dict(r.message.raw),
                            "status": MessageStatus.RECEIVED.value,
                            "received_at": r.message.received_at,
                            "created_at": now,
                        }
                        for r in fresh
                    ],
                )
            )
            .scalars()
            .all()
        )
        rows = []
        for request, message_id in zip(fresh, ids, strict=True):
            customer_id, conversation_id, new = threads[request.sender]
            known[request.dedupe_key] = Accepted(
                message_id, conversation_id, customer_id, created=True
            )
            rows.append(
                {
                    "routing_key": Event.MESSAGE,
                    "payload": {
                        "conversation_id": conversation_id,
                        "message_id": message_id,
                        "direction": Direction.IN.value,
                        "new_conversation": new,
                        "message": message_json(
                            message_id,
                            conversation_id,
                            Direction.IN.value,
                            "customer",
                            request.message.text,
                            now,
                            MessageStatus.RECEIVED.value,
                            attachments_json(request.message),
                            request.message.channel.value,
                        ),
                    },
                    "headers": {**request.headers, CONVERSATION_ID_HEADER: str(conversation_id)},
                    "created_at": now,
                }
            )
            rows.extend(
                {
                    "routing_key": key,
                    "payload": payload,
                    "headers": {**request.headers, CONVERSATION_ID_HEADER: str(conversation_id)},
                    "created_at": now,
                }
                for key, payload in media_jobs(message_id, conversation_id, request.message)
            )
        await conn.execute(outbox.insert(), rows)
    results = []
    for request in batch:
        result = known[request.dedupe_key]
        # A second copy inside the same batch is a duplicate of the first.
        if result.created and id(request) not in fresh_ids:
            result = Accepted(result.message_id, result.conversation_id, result.customer_id, False)
        results.append(result)
    return results


async def _reopen(
    conn: AsyncConnection, items: list[IntakeItem], found: dict[tuple[str, str], Any], now: Any
) -> dict[tuple[str, str], tuple[int, int, bool]]:
    """Reopen the closed conversations that messages continue (their thread), when the
    conversation is the sender's own; it waits for an operator again, its history intact."""
    wanted = {
        r.sender: r.message.thread
        for r in items
        if r.message.thread is not None and r.sender in found
    }
    if not wanted:
        return {}
    closed = {
        row.id: row
        for row in await conn.execute(
            select(
                conversations.c.id, conversations.c.identity_id, conversations.c.customer_id
            ).where(
                conversations.c.id.in_(list(wanted.values())),
                conversations.c.status == ConversationStatus.CLOSED.value,
            )
        )
    }
    reopened: dict[tuple[str, str], tuple[int, int, bool]] = {}
    for sender, conversation_id in wanted.items():
        row = closed.get(conversation_id)
        if row is None or row.identity_id != found[sender].id:
            continue
        await conn.execute(
            conversations.update()
            .where(conversations.c.id == conversation_id)
            .values(
                status=ConversationStatus.WAITING.value,
                operator_id=None,
                waiting_since=now,
                closed_at=None,
                rule=None,
                step=0,
                step_since=None,
                reopened_at=now,
            )
        )
        await conn.execute(
            routing_events.insert().values(
                conversation_id=conversation_id,
                kind="reopened",
                operator_id=None,
                detail={"channel": sender[0]},
                created_at=now,
            )
        )
        reopened[sender] = (row.customer_id, conversation_id, True)
    return reopened


async def _threads(
    conn: AsyncConnection, fresh: list[IntakeItem], now: Any
) -> dict[tuple[str, str], tuple[int, int, bool]]:
    """(customer id, open conversation id, new?) per sender, creating what is missing."""
    senders = list({r.sender: r for r in fresh}.values())
    if not senders:
        return {}
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
    found = {
        (row.channel, row.address): row
        for row in await conn.execute(
            select(
                identities.c.channel,
                identities.c.address,
                identities.c.id,
                identities.c.customer_id,
                open_conversation.label("open"),
            ).where(
                tuple_(identities.c.channel, identities.c.address).in_([r.sender for r in senders])
            )
        )
    }
    threads: dict[tuple[str, str], tuple[int, int, bool]] = {}
    unknown = [r for r in senders if r.sender not in found]
    identity_of: dict[tuple[str, str], tuple[int, int]] = {
        key: (row.customer_id, row.id) for key, row in found.items()
    }
    if unknown:
        # A phone number already known on another phone channel is the same customer, and so
        # are two new identities with one number in the same batch (SMS and WhatsApp).
        owners: dict[tuple[str, str], int] = {}
        for r in unknown:
            known_owner = await phone_customer(conn, *r.sender)
            if known_owner is not None:
                owners[r.sender] = known_owner
        person: dict[tuple[str, str], Any] = {}
        for r in unknown:
            if r.sender not in owners:
                key = ("phone", r.sender[1]) if r.sender[0] in PHONE_CHANNELS else r.sender
                person.setdefault(key, r)
        if person:
            created = (
                (
                    await conn.execute(
                        customers.insert().returning(customers.c.id, sort_by_parameter_order=True),
                        [
                            {"display_name": r.message.sender_name, "created_at": now}
                            for r in person.values()
                        ],
                    )
                )
                .scalars()
                .all()
            )
            new_customer = dict(zip(person, created, strict=True))
            for r in unknown:
                if r.sender not in owners:
                    key = ("phone", r.sender[1]) if r.sender[0] in PHONE_CHANNELS else r.sender
                    owners[r.sender] = new_customer[key]
        customer_ids = [owners[r.sender] for r in unknown]
        identity_ids = (
            (
                await conn.execute(
                    identities.insert().returning(identities.c.id, sort_by_parameter_order=True),
                    [
                        {
                            "customer_id": c,
                            "channel": r.sender[0],
                            "address": r.sender[1],
                            "created_at": now,
                        }
                        for r, c in zip(unknown, customer_ids, strict=True)
                    ],
                )
            )
            .scalars()
            .all()
        )
        for r, c, i in zip(unknown, customer_ids, identity_ids, strict=True):
            identity_of[r.sender] = (c, i)
    for key, row in found.items():
        if row.open is not None:
            threads[key] = (row.customer_id, row.open, False)
    threads.update(await _reopen(conn, [r for r in senders if r.sender not in threads], found, now))
    opening = [r for r in senders if r.sender not in threads]
    if opening:
        conversation_ids = (
            (
                await conn.execute(
                    conversations.insert().returning(
                        conversations.c.id, sort_by_parameter_order=True
                    ),
                    [
                        {
                            "customer_id": identity_of[r.sender][0],
                            "identity_id": identity_of[r.sender][1],
                            "channel": r.sender[0],
                            "status": (
                                ConversationStatus.MENU.value
                                if r.opens_in_menu
                                else ConversationStatus.WAITING.value
                            ),
                            "queue": r.queue,
                            "priority": 0,
                            "operator_id": None,
                            "waiting_since": now,
                            "created_at": now,
                            "closed_at": None,
                            "attributes": dict(r.message.attributes) or None,
                        }
                        for r in opening
                    ],
                )
            )
            .scalars()
            .all()
        )
        for r, conversation_id in zip(opening, conversation_ids, strict=True):
            threads[r.sender] = (identity_of[r.sender][0], conversation_id, True)
    return threads
