"""The migrations create exactly the tables in gateway/storage/schema.py, on SQLite and
PostgreSQL, and every one of them can be undone and redone."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.storage.migrate import alembic_config, upgrade
from gateway.storage.schema import metadata
from tests.support import postgres_database


def _differences(url: str) -> list[Any]:
    async def compare() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()

    return asyncio.run(compare())


def _round_trip(url: str) -> None:
    upgrade(url)
    assert _differences(url) == []
    command.downgrade(alembic_config(url), "base")
    upgrade(url)
    assert _differences(url) == []


def test_sqlite_migrations_match_the_schema_and_undo(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3")


async def test_postgres_migrations_match_the_schema_and_undo() -> None:
    databases = postgres_database()
    url = await databases.__anext__()
    try:
        await asyncio.to_thread(_round_trip, url)
    finally:
        await databases.aclose()


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_upgrading_from_an_older_revision_keeps_conversations(
    tmp_path: Path, revision: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.sqlite3"
    upgrade(url, revision)
    with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
        raw.execute(
            "INSERT INTO customers (id, display_name, created_at) VALUES (1, 'x', '2026-01-01')"
        )
        raw.execute(
            "INSERT INTO identities (id, customer_id, channel, address, created_at)"
            " VALUES (1, 1, 'webchat', 'v1', '2026-01-01')"
        )
        raw.execute(
            "INSERT INTO conversations (id, customer_id, identity_id, channel, status, queue,"
            " priority, created_at)"
            " VALUES (1, 1, 1, 'webchat', 'waiting', 'general', 0, '2026-01-01')"
        )
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
        row = raw.execute("SELECT status, queue, rule, step FROM conversations").fetchone()
    assert row == ("waiting", "general", None, 0)
