"""The Twilio Messaging channel (SMS and WhatsApp): the webhooks Twilio calls, and the senders.

Inbound: verify the signature against the configured public URL, parse, store once per
MessageSid, answer Twilio with empty TwiML. STOP and START change the identity's opt-out.
Status callbacks move a reply's status forward only (they can arrive out of order).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from channels.common import WebhookError
from channels.placeholders import twilio_offline_reason
from channels.twilio.media import TwilioMediaFetcher
from channels.twilio.messaging import (
    OptChange,
    opt_change,
    parse_inbound,
    parse_status,
)
from channels.twilio.sender import STATUS_PATH, TwilioApi, TwilioSender
from channels.twilio.webhooks import refuse, verified_form
from gateway.broker import BrokerUnavailable
from gateway.channel_intake import accept_from_channel
from gateway.keys import BROKER, MEDIA_SOURCES, OUTBOUND, SENDERS, SETTINGS
from gateway.media import MediaSource
from gateway.model import Channel

log = structlog.get_logger()

INBOUND_PATH = "/webhooks/twilio/messaging"
# The REST client, for the app's life (the voice channel updates live calls with it).
TWILIO = web.AppKey("twilio_api", TwilioApi)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
CHANNELS = (Channel.SMS.value, Channel.WHATSAPP.value)


def _twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def inbound(request: web.Request) -> web.Response:
    app = request.app
    try:
        form = await verified_form(request)
        message = parse_inbound(form, app[SETTINGS].twilio.default_region)
    except WebhookError as exc:
        return refuse(request, exc)
    channel = message.channel.value
    accepted = await accept_from_channel(app, message, f"twilio:{message.provider_message_id}")
    change = opt_change(message.text)
    if change is not None:
        await app[OUTBOUND].set_opted_out(channel, message.sender, change == OptChange.OUT)
        log.info("twilio.opt", channel=channel, change=change.value)
    log.info(
        "twilio.inbound.accepted",
        channel=channel,
        message_id=accepted.message_id,
        conversation_id=accepted.conversation_id,
        duplicate=not accepted.created,
    )
    return _twiml()


async def status_callback(request: web.Request) -> web.Response:
    app = request.app
    try:
        report = parse_status(await verified_form(request))
    except WebhookError as exc:
        return refuse(request, exc)
    if report.status is None:
        # Answered 200 all the same: Twilio would retry or alert on an error for a value it
        # documents (or adds later), and nothing here can change that.
        log.warning("twilio.status.ignored", sid=report.message_sid, status=report.raw_status)
        return _twiml()
    change = await app[OUTBOUND].status_from_provider(
        CHANNELS, report.message_sid, report.status, report.error, report.error_code
    )
    log.info(
        "twilio.status",
        sid=report.message_sid,
        status=report.raw_status,
        error_code=report.error_code,
        applied=change is not None,
    )
    if change is not None and change.author_user_id is not None:
        frame: dict[str, Any] = {
            "type": "message_status",
            "conversation_id": change.conversation_id,
            "message_id": change.message_id,
            "status": change.status,
        }
        if change.reason:
            frame["reason"] = change.reason
        if change.error_code:
            frame["error_code"] = change.error_code
        # If the broker is away, the console reads the status from the store on reconnect.
        with contextlib.suppress(BrokerUnavailable):
            await app[BROKER].publish_to_operator(change.author_user_id, frame)
    return _twiml()


async def twilio_api(app: web.Application) -> AsyncIterator[None]:
    """The Twilio client, one sender per channel and the media fetcher, for the app's life."""
    settings = app[SETTINGS].twilio
    offline = twilio_offline_reason(app[SETTINGS])
    if offline is not None:  # nothing calls Twilio at start-up; say why it cannot work for real
        log.warning(
            "twilio.not_connected",
            reason=offline,
            hint="webhooks still take simulated messages and calls; replies will fail",
        )
    api = TwilioApi(settings)
    app[TWILIO] = api
    public_url = app[SETTINGS].http.public_url
    for channel in (Channel.SMS, Channel.WHATSAPP):
        app[SENDERS].append(TwilioSender(channel, api, public_url))
    fetcher = TwilioMediaFetcher(settings)
    app[MEDIA_SOURCES].append(
        MediaSource(fetcher, settings.retry_delays_seconds, settings.max_media_bytes)
    )
    yield
    await api.close()
    await fetcher.close()


def add_routes(app: web.Application) -> None:
    """Register the webhooks and the senders when the channel is configured."""
    if not app[SETTINGS].twilio.enabled:
        return
    app.router.add_post(INBOUND_PATH, inbound)
    app.router.add_post(STATUS_PATH, status_callback)
    app.cleanup_ctx.append(twilio_api)
