"""Bringing customers' files in from the providers (Twilio media, Telegram files) after their
message is stored.

Why after, and through RabbitMQ: the webhook must answer quickly and store first; the fetch job
is written with the message (an outbox row), so a crash or a provider outage delays a file but
never forgets it. A provider's URL needs our credentials and may expire, so the file is kept in
the file store and staff download it from us. A file over the size limit, or one the provider
no longer has, is listed with the reason instead.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from gateway.broker import Broker, BrokerUnavailable
from gateway.errors import PermanentFailure
from gateway.jobs import JobError, JobWorker, TemporaryFailure
from gateway.storage.files import FileStore, MessageFiles
from gateway.topology import FETCHES

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str | None = None  # None: the type the provider announced with the message


class MediaFetcher(Protocol):
    """A provider's way in for files: the bytes behind an attachment's ``url``, at most
    ``limit`` bytes (raise :class:`JobError` when larger or gone, :class:`TemporaryFailure`
    when worth another try)."""

    name: str

    async def fetch(self, url: str, limit: int) -> Fetched: ...


@dataclass(frozen=True, slots=True)
class MediaSource:
    """A provider channel's fetcher with its limits (registered by the channel's adapter)."""

    fetcher: MediaFetcher
    delays: tuple[float, ...]
    limit: int


class TooLarge(PermanentFailure):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than the {limit} byte limit for files")


def file_frame(files: MessageFiles) -> dict[str, Any]:
    """Tells the console a message's files changed (one was kept, or given up)."""
    return {
        "type": "message_attachments",
        "conversation_id": files.conversation_id,
        "message_id": files.message_id,
        "attachments": files.public(),
    }


class MediaWorker(JobWorker):
    kind = FETCHES

    def __init__(
        self,
        fetcher: MediaFetcher,
        files: FileStore,
        broker: Broker,
        delays: tuple[float, ...],
        limit: int,
    ) -> None:
        super().__init__(fetcher.name, broker, delays)
        self.fetcher = fetcher
        self.files = files
        self.limit = limit

    async def handle(self, payload: dict[str, Any], attempt: int, headers: dict[str, str]) -> None:
        message_id, index = int(payload["message_id"]), int(payload["index"])
        current = await self.files.of_message(message_id)
        if current is None or not 0 <= index < len(current.attachments):
            log.warning("media.job.unknown", message_id=message_id, index=index)
            return
        attachment = current.attachments[index]
        if not attachment.get("pending"):
            log.info("media.job.duplicate", message_id=message_id, index=index)
            return
        try:
            fetched = await self.fetcher.fetch(str(attachment.get("url") or ""), self.limit)
        except TemporaryFailure as exc:
            if not self.out_of_retries(attempt):
                delay = await self.retry(payload, headers, attempt, exc.retry_after)
                log.warning("media.retry", message_id=message_id, delay=delay, reason=exc.reason)
                return
            await self._give_up(payload, message_id, index, exc.reason)
            return
        except JobError as exc:
            await self._give_up(payload, message_id, index, exc.reason)
            return
        if len(fetched.data) > self.limit:
            await self._give_up(payload, message_id, index, TooLarge(self.limit).reason)
            return
        content_type = fetched.content_type or attachment.get("content_type")
        file_id = await self.files.keep(fetched.data, content_type or "application/octet-stream")
        settled = await self.files.settle(
            message_id, index, file_id=file_id, size=len(fetched.data)
        )
        log.info("media.kept", message_id=message_id, index=index, file_id=file_id)
        await self._tell(settled)

    async def _give_up(
        self, payload: dict[str, Any], message_id: int, index: int, reason: str
    ) -> None:
        log.warning("media.not_kept", message_id=message_id, index=index, reason=reason)
        await self.keep_failed(payload, reason)
        await self._tell(await self.files.settle(message_id, index, error=reason))

    async def _tell(self, settled: MessageFiles | None) -> None:
        if settled is None or settled.operator_id is None:
            return  # nobody has the conversation open: they read the files with it
        with contextlib.suppress(BrokerUnavailable):
            await self.broker.publish_to_operator(settled.operator_id, file_frame(settled))
