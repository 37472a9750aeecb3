"""The outbox relay against real SQLite and a real RabbitMQ: a database writer held for a long
time never silently stops it; the wait is reported and the outbox drains once the writer is free."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select
from structlog.testing import capture_logs

from gateway.broker import Broker
from gateway.metrics import Metrics
from gateway.model import utcnow
from gateway.outbox import OutboxRelay
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade_async
from gateway.storage.schema import outbox
from gateway.topology import Names
from tests.support import AMQP_URL, EventTap, delete_broker_objects, wait_for

ROUTING_KEY = "outbox.relay.test"


async def test_a_writer_held_too_long_is_reported_and_the_outbox_still_drains(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/relay.sqlite3"
    await upgrade_async(url)
    db = Database(url)
    prefix = f"cgtest.outbox.{uuid.uuid4().hex[:8]}"
    broker = Broker(AMQP_URL, Names(prefix), "test", publish_timeout=5.0)
    await broker.connect(attempts=5)
    tap = EventTap(prefix, ROUTING_KEY)
    await tap.start()
    metrics = Metrics()
    relay = OutboxRelay(
        db,
        broker,
        metrics.outbox_published,
        metrics.outbox_backlog,
        stalled=metrics.outbox_write_stalls,
        write_wait=0.2,
    )
    async with db.write() as conn:
        await conn.execute(
            insert(outbox),
            [
                {"routing_key": ROUTING_KEY, "payload": {"message_id": n}, "created_at": utcnow()}
                for n in (1, 2, 3)
            ],
        )

    # Something else holds the one writer connection (a long write, a stuck transaction).
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_writer() -> None:
        async with db.write():
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_writer())
    await held.wait()

    def stalls() -> float:
        return metrics.registry.get_sample_value("cg_outbox_write_stalls_total") or 0.0

    relay_task = asyncio.create_task(relay.run())
    try:
        with capture_logs() as logs:
            # The rows go out while the writer is held; deleting them has to wait ...
            async def published() -> bool:
                await tap.collect()
                return set(tap.message_ids()) >= {1, 2, 3}

            await wait_for(published)
            # ... and the wait is reported (log line and metric), more than once while it lasts.
            await wait_for(lambda: stalls() >= 2)
            stalled = [e for e in logs if e["event"] == "outbox.write.stalled"]
            assert stalled and stalled[0]["rows"] == 3
            assert await relay.pending() == 3
        # Once the writer is free, the relay's next try deletes the published rows.
        release.set()
        await holder

        async def drained() -> bool:
            return await relay.pending() == 0

        await wait_for(drained)
        assert not relay_task.done()
    finally:
        release.set()
        relay_task.cancel()
        await asyncio.gather(relay_task, holder, return_exceptions=True)
        await tap.close()
        await broker.close()
        await delete_broker_objects(prefix)
        await db.dispose()


async def test_a_bounded_write_gives_up_only_before_it_has_started(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/wait.sqlite3"
    await upgrade_async(url)
    db = Database(url)
    row = {"routing_key": ROUTING_KEY, "payload": {}, "created_at": utcnow()}
    try:
        held, release = asyncio.Event(), asyncio.Event()

        async def hold_the_writer() -> None:
            async with db.write():
                held.set()
                await release.wait()

        holder = asyncio.create_task(hold_the_writer())
        await held.wait()
        try:
            async with db.write(wait=0.1) as conn:
                await conn.execute(insert(outbox), [row])
            raise AssertionError("the write started while the writer was held")
        except TimeoutError:
            pass
        release.set()
        await holder
        # Started in time, the transaction runs to its end however long its block takes.
        async with db.write(wait=0.1) as conn:
            await asyncio.sleep(0.3)
            await conn.execute(insert(outbox), [row])
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == 1
    finally:
        await db.dispose()
