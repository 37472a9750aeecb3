"""The outbox relay: publishes committed outbox rows to RabbitMQ, then deletes them.

Why: intake commits the message and its outbox row together and answers at once; this relay
makes "stored" become "published" whenever the broker is reachable, with publisher confirms.
A row is deleted only after its confirm, so a crash between the two publishes it again: every
consumer is idempotent. On PostgreSQL several instances share the work (SKIP LOCKED); on SQLite
there is one instance by construction.

SQLite has one writer connection, so the delete after a publish waits for whoever holds it. That
wait is bounded: past ``write_wait`` seconds the relay logs ``outbox.write.stalled``, counts it
and asks again, so a writer held too long shows up in the logs and metrics instead of silently
stopping the relay, and the delete goes through as soon as the writer is free.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, select

from gateway.broker import Broker, BrokerUnavailable
from gateway.storage.database import Database
from gateway.storage.schema import outbox

log = structlog.get_logger()


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        published: Counter,
        backlog: Gauge,
        batch: int = 200,
        stalled: Counter | None = None,
        write_wait: float = 5.0,
    ) -> None:
        self.db = db
        self.broker = broker
        self.batch = batch
        self.published = published
        self.backlog = backlog
        self.stalled = stalled
        self.write_wait = write_wait
        self._wake = asyncio.Event()
        self._locking = not db.is_sqlite

    def nudge(self) -> None:
        """Something was just committed: publish it now rather than at the next poll."""
        self._wake.set()

    async def run(self, poll_seconds: float = 1.0, after: asyncio.Event | None = None) -> None:
        """Publish for ever; ``after`` holds the first publish back until the queues that
        consume the events are declared (on a first start, an event published before its
        queue exists would be dropped by the broker)."""
        if after is not None:
            await after.wait()
        delay = 0.2
        while True:
            try:
                count = await self.relay_once()
                delay = 0.2
            except BrokerUnavailable as exc:
                log.warning("outbox.publish.failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception:
                log.exception("outbox.relay.error")
                await asyncio.sleep(1.0)
                continue
            if count < self.batch:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives just as the event is set (CPython gh-86296), and
                # then shutdown would wait for this loop for ever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_seconds):
                        await self._wake.wait()
                self._wake.clear()

    async def relay_once(self) -> int:
        """Publish one batch; how many rows went out."""
        query = select(outbox).order_by(outbox.c.id).limit(self.batch)
        if self._locking:
            query = query.with_for_update(skip_locked=True)
            async with self.db.write() as conn:
                rows = (await conn.execute(query)).all()
                await self._publish(rows)
                await conn.execute(delete(outbox).where(outbox.c.id.in_([r.id for r in rows])))
        else:
            async with self.db.read() as conn:
                rows = (await conn.execute(query)).all()
            await self._publish(rows)
            if rows:
                await self._delete([r.id for r in rows])
        self.published.inc(len(rows))
        return len(rows)

    async def _delete(self, ids: list[int]) -> None:
        """Delete published rows (SQLite), waiting for the writer at most ``write_wait`` seconds
        at a time; once the transaction has started it runs to its end."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.db.write(wait=self.write_wait) as conn:
                    await conn.execute(delete(outbox).where(outbox.c.id.in_(ids)))
                return
            except TimeoutError:
                if self.stalled is not None:
                    self.stalled.inc()
                log.warning(
                    "outbox.write.stalled", rows=len(ids), waited=self.write_wait, attempt=attempt
                )

    async def _publish(self, rows: Sequence[Any]) -> None:
        """Publish every row and wait until each publish has settled (each is bounded by the
        broker's publish timeout), so no publish of this batch is still running when the next
        batch starts or, on PostgreSQL, when its transaction ends; then raise the first failure."""
        if not rows:
            return
        results = await asyncio.gather(
            *(
                self.broker.publish_event(row.routing_key, row.payload, headers=row.headers)
                for row in rows
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def pending(self) -> int:
        async with self.db.read() as conn:
            count = int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())
        self.backlog.set(count)
        return count

    async def flush(self, seconds: float) -> int:
        """Publish what is left (graceful shutdown); the rows still pending afterwards."""
        try:
            async with asyncio.timeout(seconds):
                while await self.relay_once() > 0:
                    pass
        except (BrokerUnavailable, TimeoutError) as exc:
            log.warning("outbox.flush.incomplete", error=str(exc))
        return await self.pending()
