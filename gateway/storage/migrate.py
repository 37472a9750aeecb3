"""Run the Alembic migrations from code (the CLI's ``migrate`` and start-up use this)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (blocking; call it off the event loop)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # env.py runs its own event loop, so it needs a thread of its own.
    await asyncio.to_thread(upgrade, url, revision)


def head_revision() -> str | None:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _sqlite_file_missing(url: str) -> bool:
    from sqlalchemy.engine import make_url

    if not url.startswith("sqlite"):
        return False
    database = make_url(url).database
    return bool(database) and database != ":memory:" and not Path(str(database)).exists()


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    if _sqlite_file_missing(url):
        return None  # not even created: reading it would create an empty file
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
