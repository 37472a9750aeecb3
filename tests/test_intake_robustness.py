"""Intake that meets a store failure: a batch redone one by one after a conflict keeps what each
message asked for, and Telegram long polling outlives a store that fails for a moment.

Real storage only: the conflict is another instance's transaction on the same PostgreSQL, the
failure is the database refusing a write (a trigger), then accepting it again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select
from structlog.testing import capture_logs

from gateway.keys import DATABASE
from gateway.model import Channel, ConversationStatus, InboundMessage
from gateway.storage.database import Database
from gateway.storage.group_intake import IntakeWriter
from gateway.storage.intake import IntakeItem, write_batch
from gateway.storage.migrate import upgrade_async
from gateway.storage.schema import conversations, messages
from tests.conftest import RunningGateway
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, text_update
from tests.support import make_settings, postgres_database, wait_for

CHAT = 55501


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async for url in postgres_database():
        await upgrade_async(url)
        yield url


def _sms(sender: str, text: str, sid: str) -> InboundMessage:
    return InboundMessage(Channel.SMS, sender, text, sid)


async def _waiting_on_a_lock(url: str) -> bool:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    finally:
        await conn.close()
    return bool(waiting)


async def test_a_batch_redone_one_by_one_still_opens_in_the_menu(pg_url: str) -> None:
    db, other = Database(pg_url), Database(pg_url)
    writer = IntakeWriter(db)
    running = asyncio.create_task(writer.run())
    try:
        twice = _sms("+15557650001", "the same message", "SM-twice")
        fresh = _sms("+15557650002", "a new customer", "SM-fresh")
        async with other.write() as conn:
            # Another instance is storing the same message right now (not committed yet).
            await write_batch(conn, [IntakeItem(twice, "twilio:SM-twice", "general", {})])
            both = asyncio.gather(
                writer.accept(twice, dedupe_key="twilio:SM-twice", queue="general"),
                writer.accept(
                    fresh, dedupe_key="twilio:SM-fresh", queue="general", opens_in_menu=True
                ),
            )
            await wait_for(lambda: _waiting_on_a_lock(pg_url))  # our batch waits for theirs
        # Their commit makes our batch conflict; it is redone message by message.
        duplicate, accepted = await both
        assert not duplicate.created and accepted.created
        async with db.read() as conn:
            status = (
                await conn.execute(
                    select(conversations.c.status).where(
                        conversations.c.id == accepted.conversation_id
                    )
                )
            ).scalar_one()
        assert status == ConversationStatus.MENU.value
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await db.dispose()
        await other.dispose()


@pytest.fixture
async def fake_telegram(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeTelegram:
    fake = FakeTelegram()
    fake.server = await aiohttp_server(fake.app())
    return fake


async def _texts(gateway: RunningGateway) -> list[str]:
    async with gateway.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(messages.c.text).where(messages.c.channel == "telegram").order_by(messages.c.id)
        )
        return [row.text for row in rows]


async def test_polling_goes_on_after_the_store_failed(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_telegram: FakeTelegram,
) -> None:
    settings = make_settings(
        tmp_path,
        telegram={
            "bot_token": BOT_TOKEN,
            "mode": "polling",
            "api_base_url": fake_telegram.api_base_url,
            "polling_timeout_seconds": 1,
        },
    )
    gateway = await start_gateway(settings)
    db = gateway.app[DATABASE]
    async with db.write() as conn:  # the database refuses Telegram messages for a moment
        await conn.exec_driver_sql(
            "CREATE TRIGGER refuse_telegram BEFORE INSERT ON messages "
            "WHEN NEW.channel = 'telegram' BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    with capture_logs() as logs:
        fake_telegram.pending_updates.append(text_update(70, CHAT, "while the store fails"))
        await wait_for(
            lambda: any(e["event"] == "telegram.poll.store_failed" for e in logs), timeout=20
        )
    failed = next(e for e in logs if e["event"] == "telegram.poll.store_failed")
    assert failed["log_level"] == "error" and "disk says no" in failed["error"]
    assert failed["retry_in"] >= 1
    async with db.write() as conn:
        await conn.exec_driver_sql("DROP TRIGGER refuse_telegram")
    await wait_for(lambda: _texts(gateway), timeout=20)
    fake_telegram.pending_updates.append(text_update(71, CHAT, "and after it"))
    await wait_for(lambda: _two(gateway), timeout=20)
    assert await _texts(gateway) == ["while the store fails", "and after it"]
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(messages))).scalar() == 2


async def _two(gateway: RunningGateway) -> bool:
    return len(await _texts(gateway)) == 2
