"""Group commit for intake: many inbound messages stored in one transaction.

Why: every statement through the async drivers costs a round trip, and SQLite has one writer.
Storing messages one transaction at a time caps intake at a few hundred a second; storing
whatever is waiting as one batch (a few statements whatever its size) lifts that cap without
adding any delay when the gateway is quiet (a batch of one goes at once). The guarantees are
those of :func:`accept_inbound`: a message is acknowledged only after its batch committed, and
its dedupe key makes a retry a no-op. A batch that hits a conflict (another instance stored
the same message or created the same customer at the same moment) is redone one by one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from gateway.model import InboundMessage
from gateway.storage.database import Database
from gateway.storage.intake import Accepted, IntakeItem, accept_inbound, write_batch

log = structlog.get_logger()


@dataclass(eq=False)
class _Request:
    item: IntakeItem
    done: asyncio.Future[Accepted] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IntakeWriter:
    def __init__(self, db: Database, max_batch: int = 200) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: list[_Request] = []
        self._wake = asyncio.Event()

    async def accept(
        self,
        message: InboundMessage,
        *,
        dedupe_key: str,
        queue: str,
        headers: dict[str, Any] | None = None,
        opens_in_menu: bool = False,
    ) -> Accepted:
        """Store ``message`` with the next batch; returns once that batch has committed.
        ``opens_in_menu``: a conversation it opens starts in the IVR menu, not in routing."""
        request = _Request(IntakeItem(message, dedupe_key, queue, headers or {}, opens_in_menu))
        self._pending.append(request)
        self._wake.set()
        return await request.done

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = (
                    self._pending[: self.max_batch],
                    self._pending[self.max_batch :],
                )
                await self._store(batch)

    async def _store(self, batch: list[_Request]) -> None:
        try:
            async with self.db.write() as conn:
                results = await write_batch(conn, [r.item for r in batch])
        except IntegrityError:
            log.info("intake.batch.conflict", size=len(batch))
            await self._one_by_one(batch)
            return
        except Exception as exc:
            for request in batch:
                if not request.done.done():
                    request.done.set_exception(exc)
            return
        for request, result in zip(batch, results, strict=True):
            if not request.done.done():
                request.done.set_result(result)

    async def _one_by_one(self, batch: list[_Request]) -> None:
        for request in batch:
            try:
                item = request.item
                result = await accept_inbound(
                    self.db,
                    item.message,
                    dedupe_key=item.dedupe_key,
                    queue=item.queue,
                    headers=item.headers,
                    opens_in_menu=item.opens_in_menu,
                )
            except Exception as exc:
                if not request.done.done():
                    request.done.set_exception(exc)
                continue
            if not request.done.done():
                request.done.set_result(result)
