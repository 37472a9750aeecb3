"""Replies to Telegram chats through python-telegram-bot, within Telegram's flood limits.

Why PTB's ExtBot with AIORateLimiter: Telegram allows about 30 messages a second per bot and
answers floods with 429; the limiter spaces our calls so that rarely happens, and a 429 that does
is a temporary failure retried after the time Telegram asks for.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from gateway.dispatch import PermanentFailure, TemporaryFailure
from gateway.model import MessageStatus
from gateway.settings import TelegramSettings
from gateway.storage.outbound import OutboundJob


def make_bot(settings: TelegramSettings) -> ExtBot[Any]:
    assert settings.bot_token is not None
    return ExtBot(
        settings.bot_token.get_secret_value(),
        base_url=settings.api_base_url,
        base_file_url=settings.api_base_url.replace("/bot", "/file/bot"),
        rate_limiter=AIORateLimiter(max_retries=0),
    )


def keyboard(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
    """A menu's choices as inline buttons, one per row; a press comes back as a callback
    query whose data is the choice's reply (Telegram allows 64 bytes of it)."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    label[:64], callback_data=value.encode()[:64].decode("utf-8", "ignore")
                )
            ]
            for label, value in buttons
        ]
    )


class TelegramSender:
    channel = "telegram"

    def __init__(self, bot: ExtBot[Any]) -> None:
        self.bot = bot

    async def send(self, job: OutboundJob) -> str:
        try:
            message = await self.bot.send_message(
                chat_id=int(job.address), text=job.text, reply_markup=keyboard(job.buttons)
            )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            raise TemporaryFailure(f"Telegram flood control: {exc.message}", seconds) from exc
        except Forbidden as exc:
            # The customer blocked the bot (or deleted the chat): nobody can reach them here.
            raise PermanentFailure(
                f"Telegram refused: {exc.message}", MessageStatus.UNDELIVERED, unreachable=True
            ) from exc
        except BadRequest as exc:
            raise PermanentFailure(f"Telegram refused the message: {exc.message}") from exc
        except NetworkError as exc:  # also TimedOut, and 5xx answers
            raise TemporaryFailure(f"Telegram unreachable: {exc.message}") from exc
        except TelegramError as exc:
            raise TemporaryFailure(f"Telegram error: {exc.message}") from exc
        return f"{job.address}:{message.message_id}"
