"""Fetching the photos and documents customers send to the bot, through the Bot API
(``getFile``, then the file download URL), with python-telegram-bot.

The Bot API serves files up to 20 MB to bots; ``getFile`` tells the size first, so a file over
the limit is never downloaded.
"""

from __future__ import annotations

from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from gateway.jobs import JobError, TemporaryFailure
from gateway.media import Fetched, TooLarge

FILE_PREFIX = "telegram-file:"


class TelegramFileFetcher:
    name = "telegram"

    def __init__(self, bot: ExtBot[Any]) -> None:
        self.bot = bot

    async def fetch(self, url: str, limit: int) -> Fetched:
        if not url.startswith(FILE_PREFIX):
            raise JobError("not a Telegram file; not fetched")
        try:
            file = await self.bot.get_file(url.removeprefix(FILE_PREFIX))
            if file.file_size is not None and file.file_size > limit:
                raise TooLarge(limit)
            data = await file.download_as_bytearray()
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            raise TemporaryFailure(f"Telegram flood control: {exc.message}", seconds) from exc
        except BadRequest as exc:
            raise JobError(f"Telegram no longer has this file: {exc.message}") from exc
        except NetworkError as exc:  # also timeouts and 5xx answers
            raise TemporaryFailure(f"Telegram unreachable: {exc.message}") from exc
        except TelegramError as exc:
            raise TemporaryFailure(f"Telegram error: {exc.message}") from exc
        except RuntimeError as exc:  # PTB: the file has no path to download from
            raise JobError(f"Telegram gave no file path: {exc}") from exc
        if len(data) > limit:
            raise TooLarge(limit)
        return Fetched(bytes(data))
