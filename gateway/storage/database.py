"""The database handle: ``read()`` and ``write()`` transactions on SQLite or PostgreSQL.

SQLite is the embedded default. It allows one writer and many readers at once (WAL), so it gets
two pools: one writer connection whose transactions start with ``BEGIN IMMEDIATE`` (a writer
waits for the lock up front instead of failing half-way), and a few read-only connections, so
that reading a conversation never queues behind a burst of intake writes. PostgreSQL (asyncpg)
needs no such split.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_READERS = 4


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_engine(url: str, *, writer: bool, synchronous: str) -> AsyncEngine:
    pool = (
        {"pool_size": 1, "max_overflow": 0}
        if writer
        else {"pool_size": SQLITE_READERS, "max_overflow": 0}
    )
    engine = create_async_engine(url, pool_timeout=60, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (see _on_begin) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        if not writer:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def create_engine(
    url: str, *, pool_size: int = 10, sqlite_synchronous: str = "FULL"
) -> AsyncEngine:
    """A read-write engine (for migrations and tools; the gateway uses :class:`Database`)."""
    if not is_sqlite(url):
        return create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return _sqlite_engine(url, writer=True, synchronous=sqlite_synchronous)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.writer = create_engine(url, pool_size=pool_size, sqlite_synchronous=sqlite_synchronous)
        self.reader = (
            _sqlite_engine(url, writer=False, synchronous=sqlite_synchronous)
            if is_sqlite(url)
            else self.writer
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A consistent snapshot for reading; nothing written here is kept."""
        async with self.reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self, wait: float | None = None) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends and rolls back on an exception.

        ``wait``: give up with ``TimeoutError`` when the transaction has not started within that
        many seconds (on SQLite, the one writer connection is busy elsewhere). Once it has
        started, the block itself is not cut short."""
        async with asyncio.timeout(wait) as started_within:
            async with self.writer.begin() as conn:
                started_within.reschedule(None)
                yield conn

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
