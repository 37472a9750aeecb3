"""Tables of versions of an admin's document (routing, appeal topics): the newest row is the one
in force, a file's content is imported once, and every new version is written with its audit
entry against the version its author saw.

Why shared: each configuration an admin edits live needs the same four things (the newest id,
one version, the history, a compare-and-set insert serialised across writers), and getting the
serialisation right once is better than twice. A table used here has the columns ``id``,
``document``, ``source``, ``file_hash``, ``created_by`` and ``created_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict
from gateway.storage.database import Database


class VersionedTable:
    """One table of versions; ``lock`` is the PostgreSQL advisory lock that serialises its
    writers (SQLite has one writer anyway)."""

    def __init__(self, db: Database, table: Table, lock: int) -> None:
        self.db = db
        self.table = table
        self.lock = lock

    async def latest_id(self) -> int | None:
        """The version in force (cheap: asked before each use)."""
        async with self.db.read() as conn:
            value = (await conn.execute(select(func.max(self.table.c.id)))).scalar()
        return int(value) if value is not None else None

    async def row(self, version: int | None = None) -> Any:
        """One version's row, or the newest one's; None when there is none."""
        query = select(self.table)
        query = (
            query.where(self.table.c.id == version)
            if version is not None
            else query.order_by(self.table.c.id.desc()).limit(1)
        )
        async with self.db.read() as conn:
            return (await conn.execute(query)).first()

    async def rows(self, limit: int = 100) -> list[Any]:
        """The newest versions first."""
        async with self.db.read() as conn:
            query = select(self.table).order_by(self.table.c.id.desc()).limit(limit)
            return list((await conn.execute(query)).all())

    async def last_file_hash(self) -> str | None:
        """The hash of the content last imported from a file."""
        async with self.db.read() as conn:
            value = (
                await conn.execute(
                    select(self.table.c.file_hash)
                    .where(self.table.c.source == "file")
                    .order_by(self.table.c.id.desc())
                    .limit(1)
                )
            ).scalar()
        return str(value) if value is not None else None

    async def insert(
        self,
        values: dict[str, Any],
        *,
        expected_version: int | None,
        conflict: Callable[[int | None], Conflict],
        audit: Callable[[AsyncConnection, int, int | None], Any],
        now: datetime,
    ) -> int:
        """Insert a version (``values`` besides ``created_at``) and, in the same transaction,
        call ``audit(conn, new_id, previous_id)``. With ``expected_version``, raise
        ``conflict(current)`` instead when another version came in between."""
        async with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({self.lock})"))
            current = (await conn.execute(select(func.max(self.table.c.id)))).scalar()
            if expected_version is not None and current != expected_version:
                raise conflict(current)
            new_id = int(
                (
                    await conn.execute(
                        self.table.insert()
                        .values(**values, created_at=now)
                        .returning(self.table.c.id)
                    )
                ).scalar_one()
            )
            await audit(conn, new_id, current)
        return new_id
