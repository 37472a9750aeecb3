"""Files customers sent, kept in the database (one copy per content) and served to staff.

Why the database: every instance can serve every file, backups take them along, and the size
limit keeps the tables sane; a deployment that needs large files puts them in object storage
behind the same two calls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.model import utcnow
from gateway.storage.database import Database
from gateway.storage.intake import public_attachment
from gateway.storage.schema import attachment_files, conversations, messages


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: int
    content_type: str
    size: int
    data: bytes


@dataclass(frozen=True, slots=True)
class MessageFiles:
    """A message's attachments (as stored) and who may see them."""

    message_id: int
    conversation_id: int
    operator_id: int | None
    attachments: list[dict[str, Any]]

    def public(self) -> list[dict[str, Any]]:
        return [public_attachment(self.message_id, i, a) for i, a in enumerate(self.attachments)]


class FileStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def keep(self, data: bytes, content_type: str) -> int:
        """Store the file (or find the same content stored before); its id."""
        digest = hashlib.sha256(data).hexdigest()
        for _ in (1, 2):
            async with self.db.read() as conn:
                found = (
                    await conn.execute(
                        select(attachment_files.c.id).where(attachment_files.c.sha256 == digest)
                    )
                ).scalar()
            if found is not None:
                return int(found)
            try:
                async with self.db.write() as conn:
                    return int(
                        (
                            await conn.execute(
                                attachment_files.insert()
                                .values(
                                    sha256=digest,
                                    content_type=content_type[:200],
                                    size=len(data),
                                    data=data,
                                    created_at=utcnow(),
                                )
                                .returning(attachment_files.c.id)
                            )
                        ).scalar_one()
                    )
            except IntegrityError:
                continue  # stored by a concurrent message with the same file: read it
        raise AssertionError("unreachable")

    async def get(self, file_id: int) -> StoredFile | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(attachment_files).where(attachment_files.c.id == file_id))
            ).first()
        return StoredFile(row.id, row.content_type, row.size, row.data) if row else None

    async def of_message(self, message_id: int) -> MessageFiles | None:
        query = (
            select(
                messages.c.conversation_id,
                messages.c.attachments,
                conversations.c.operator_id,
            )
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(messages.c.id == message_id)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return MessageFiles(
            message_id, row.conversation_id, row.operator_id, list(row.attachments or [])
        )

    async def settle(
        self,
        message_id: int,
        index: int,
        *,
        file_id: int | None = None,
        size: int | None = None,
        error: str | None = None,
    ) -> MessageFiles | None:
        """Record the outcome of fetching attachment ``index`` (kept as ``file_id``, or not
        kept for ``error``); None if it was settled already (a redelivered job)."""
        query = (
            select(messages.c.conversation_id, messages.c.attachments, conversations.c.operator_id)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(messages.c.id == message_id)
            .with_for_update(of=messages)  # two attachments of one message settle in turn
        )
        async with self.db.write() as conn:
            row = (await conn.execute(query)).first()
            attachments = [dict(a) for a in (row.attachments or [])] if row else []
            if row is None or not 0 <= index < len(attachments):
                return None
            if not attachments[index].get("pending"):
                return None
            changed = {**attachments[index], "pending": False, "file_id": file_id}
            if size is not None:
                changed["size"] = size
            if error is not None:
                changed["error"] = error[:300]
            attachments[index] = changed
            await conn.execute(
                messages.update().where(messages.c.id == message_id).values(attachments=attachments)
            )
        return MessageFiles(message_id, row.conversation_id, row.operator_id, attachments)
