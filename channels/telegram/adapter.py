"""The Telegram channel: the webhook Telegram calls (or, in development, long polling), and the
sender for replies.

Every update is stored once (deduplicated on update_id), whichever way it arrived. Telegram
retries a webhook call that fails, so the answer is 200 for anything stored or deliberately
ignored, 403 for a wrong secret and 400 for what is not an update at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from aiohttp import web
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ExtBot

from channels.common import WebhookError
from channels.placeholders import telegram_offline_reason
from channels.telegram.media import TelegramFileFetcher
from channels.telegram.sender import TelegramSender, make_bot
from channels.telegram.updates import (
    ALLOWED_UPDATES,
    SECRET_HEADER,
    Ignored,
    Inbound,
    MemberChange,
    Parsed,
    check_secret,
    parse_update,
)
from gateway.broker import BrokerUnavailable
from gateway.channel_intake import accept_from_channel
from gateway.keys import BROKER, CUSTOMERS, MEDIA_SOURCES, METRICS, OUTBOUND, SENDERS, SETTINGS
from gateway.media import MediaSource
from gateway.model import Channel, utcnow
from gateway.storage.customers import Actor

log = structlog.get_logger()

WEBHOOK_PATH = "/webhooks/telegram"
BOT = web.AppKey("telegram_bot", ExtBot)


async def store(app: web.Application, update: Parsed) -> bool:
    """Act on a parsed update, once per update_id; True when it changed something."""
    if isinstance(update, Ignored):
        log.info(
            "telegram.update.ignored", update_id=update.update_id, kind=update.kind, why=update.why
        )
        return False
    if isinstance(update, MemberChange):
        await member_change(app, update)
        return True
    await store_message(app, update)
    return True


async def member_change(app: web.Application, change: MemberChange) -> None:
    """The customer blocked the bot, or started it again: they are unreachable (as after a
    refused send) or reachable again, and the operators of their open conversations are told."""
    at = datetime.fromtimestamp(change.date, UTC) if change.date > 0 else utcnow()
    changed = await app[OUTBOUND].set_reachable(
        Channel.TELEGRAM.value, change.chat_id, change.reachable, at
    )
    log.info(
        "telegram.member.changed",
        update_id=change.update_id,
        reachable=change.reachable,
        applied=changed is not None,
    )
    if changed is None:
        return
    for conversation_id, operator_id in changed.conversations:
        frame = {
            "type": "identity_status",
            "conversation_id": conversation_id,
            "identity_id": changed.identity_id,
            "channel": changed.channel,
            "address": changed.address,
            "unreachable": not changed.reachable,
            "reason": "the customer started the bot again"
            if changed.reachable
            else "the customer blocked the bot",
        }
        # If the broker is away, the console reads the identity from the store when it opens.
        with contextlib.suppress(BrokerUnavailable):
            await app[BROKER].publish_to_operator(operator_id, frame)


async def store_message(app: web.Application, inbound: Inbound) -> None:
    message = inbound.message
    accepted = await accept_from_channel(app, message, f"telegram:{inbound.update_id}")
    log.info(
        "telegram.inbound.accepted",
        update_id=inbound.update_id,
        message_id=accepted.message_id,
        conversation_id=accepted.conversation_id,
        duplicate=not accepted.created,
    )
    phone = message.attributes.get("phone")
    if phone and accepted.created:
        # The customer shared their number: they are whoever already writes from it.
        linked = await app[CUSTOMERS].link_phone(
            "telegram", message.sender, phone, Actor(None, "telegram shared contact")
        )
        log.info("telegram.contact.shared", linked=linked)
    if inbound.callback_query_id and accepted.created:
        # Stops the spinner on the customer's button; failing that changes nothing stored.
        with contextlib.suppress(TelegramError):
            await app[BOT].answer_callback_query(inbound.callback_query_id)


async def webhook(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS].telegram
    try:
        assert settings.webhook_secret is not None
        check_secret(settings.webhook_secret.get_secret_value(), request.headers.get(SECRET_HEADER))
        update = parse_update(await request.read(), settings.default_region)
    except WebhookError as exc:
        app[METRICS].rejected.labels("telegram", exc.code).inc()
        log.warning("telegram.webhook.rejected", code=exc.code, reason=exc.reason)
        return web.json_response({"error": exc.code, "reason": exc.reason}, status=exc.status)
    # 200 for every well-formed update, handled or not: Telegram retries anything else.
    return web.json_response({"ok": True, "stored": await store(app, update)})


FIRST_RETRY_SECONDS = 1.0
LAST_RETRY_SECONDS = 30.0


async def poll(app: web.Application, bot: ExtBot[object]) -> None:
    """Long polling: ask Telegram for updates and store them like webhook calls. The offset
    acknowledges an update only after it is stored, so a crash re-reads, never loses. Telegram
    or the store failing is logged and retried with a growing pause; polling never stops."""
    settings = app[SETTINGS].telegram
    offset: int | None = None
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            updates = await bot.get_updates(
                offset=offset,
                timeout=settings.polling_timeout_seconds,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        except TelegramError as exc:
            log.warning("telegram.poll.failed", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_SECONDS)
            continue
        try:
            offset = await _store_updates(app, updates, offset)
        except Exception as exc:  # the store is away: the same updates are read again later
            log.error(
                "telegram.poll.store_failed", error=repr(exc)[:300], offset=offset, retry_in=delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_SECONDS)
            continue
        delay = FIRST_RETRY_SECONDS


async def _store_updates(
    app: web.Application, updates: tuple[Update, ...], offset: int | None
) -> int | None:
    """Store polled updates in order; the offset past the last one stored."""
    region = app[SETTINGS].telegram.default_region
    for update in updates:
        body = json.dumps(update.to_dict()).encode()
        try:
            inbound = parse_update(body, region)
        except WebhookError as exc:
            log.warning("telegram.poll.rejected", update_id=update.update_id, reason=exc.reason)
            inbound = None
        if inbound is not None:
            await store(app, inbound)
        offset = update.update_id + 1
    return offset


async def _connect(app: web.Application, bot: ExtBot[object]) -> asyncio.Task[None] | None:
    """Check the token, then start polling or register the webhook; the polling task."""
    settings = app[SETTINGS].telegram
    try:
        await bot.initialize()
        if settings.mode == "polling":
            await bot.delete_webhook()
            return asyncio.create_task(poll(app, bot), name="telegram-poll")
        assert settings.webhook_secret is not None
        await bot.set_webhook(
            url=app[SETTINGS].http.public_url.rstrip("/") + WEBHOOK_PATH,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=list(ALLOWED_UPDATES),
        )
    except TelegramError as exc:
        # Telegram away at start-up: replies still queue and retry; say what to fix.
        log.warning(
            "telegram.unreachable",
            error=str(exc),
            mode=settings.mode,
            hint="replies wait and are retried; updates arrive once Telegram is reachable",
        )
    return None


async def telegram_bot(app: web.Application) -> AsyncIterator[None]:
    """The bot for the app's life: its sender, and the poller or the webhook registration."""
    settings = app[SETTINGS].telegram
    bot = make_bot(settings)
    app[BOT] = bot
    app[SENDERS].append(TelegramSender(bot))
    app[MEDIA_SOURCES].append(
        MediaSource(
            TelegramFileFetcher(bot), settings.retry_delays_seconds, settings.max_media_bytes
        )
    )
    task: asyncio.Task[None] | None = None
    offline = telegram_offline_reason(app[SETTINGS])
    if offline is not None:
        log.warning(
            "telegram.not_connected",
            reason=offline,
            mode=settings.mode,
            hint="no call to Telegram at start-up; the webhook still takes simulated updates",
        )
    else:
        task = await _connect(app, bot)
    yield
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with contextlib.suppress(Exception):
        await bot.shutdown()


def add_routes(app: web.Application) -> None:
    settings = app[SETTINGS].telegram
    if not settings.enabled:
        return
    if settings.mode == "webhook":
        app.router.add_post(WEBHOOK_PATH, webhook)
    app.cleanup_ctx.append(telegram_bot)
