"""Files customers sent, kept in the database (one copy per content) and served to staff.

Why the database: every instance can serve every file, backups take them along, and the size
limit keeps the tables sane; a deployment that needs large files puts them in object storage
behind the same two calls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.model import utcnow
from gateway.storage.database import Database
from gateway.storage.schema import attachment_files


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: int
    content_type: str
    size: int
    data: bytes


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
