"""The Twilio Messaging channel (SMS and WhatsApp): the webhooks Twilio calls, and the senders.

Inbound: verify the signature against the configured public URL, parse, store once per
MessageSid, answer Twilio with empty TwiML. STOP and START change the identity's opt-out.
Status callbacks move a reply's status forward only (they can arrive out of order).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from multidict import MultiDict

from channels.common import WebhookError
from channels.twilio.media import TwilioMediaFetcher
from channels.twilio.messaging import (
    SIGNATURE_HEADER,
    OptChange,
    opt_change,
    parse_inbound,
    parse_status,
    verify,
)
from channels.twilio.sender import STATUS_PATH, TwilioApi, TwilioSender
from gateway.broker import BrokerUnavailable
from gateway.channel_intake import accept_from_channel
from gateway.keys import BROKER, MEDIA_SOURCES, METRICS, OUTBOUND, SENDERS, SETTINGS
from gateway.media import MediaSource
from gateway.model import Channel

log = structlog.get_logger()

INBOUND_PATH = "/webhooks/twilio/messaging"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
CHANNELS = (Channel.SMS.value, Channel.WHATSAPP.value)


def _twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def _refuse(request: web.Request, exc: WebhookError) -> web.Response:
    request.app[METRICS].rejected.labels("twilio", exc.code).inc()
    log.warning("twilio.webhook.rejected", code=exc.code, reason=exc.reason)
    return web.json_response({"error": exc.code, "reason": exc.reason}, status=exc.status)


async def _verified_form(request: web.Request) -> MultiDict[str]:
    settings = request.app[SETTINGS]
    if request.content_type != "application/x-www-form-urlencoded":
        raise WebhookError(415, "bad_request", "Twilio webhooks are form-encoded")
    form = await request.post()
    fields: MultiDict[str] = MultiDict((k, v) for k, v in form.items() if isinstance(v, str))
    if len(fields) != len(form):
        raise WebhookError(400, "bad_request", "file uploads are not Twilio webhooks")
    url = settings.http.public_url.rstrip("/") + request.rel_url.path_qs
    token = settings.twilio.auth_token
    assert token is not None
    verify(token.get_secret_value(), url, fields, request.headers.get(SIGNATURE_HEADER))
    return fields


async def inbound(request: web.Request) -> web.Response:
    app = request.app
    try:
        form = await _verified_form(request)
        message = parse_inbound(form, app[SETTINGS].twilio.default_region)
    except WebhookError as exc:
        return _refuse(request, exc)
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
        report = parse_status(await _verified_form(request))
    except WebhookError as exc:
        return _refuse(request, exc)
    change = await app[OUTBOUND].status_from_provider(
        CHANNELS, report.message_sid, report.status, report.error
    )
    log.info(
        "twilio.status",
        sid=report.message_sid,
        status=report.status.value,
        applied=change is not None,
    )
    if change is not None and change.author_user_id is not None:
        frame = {
            "type": "message_status",
            "conversation_id": change.conversation_id,
            "message_id": change.message_id,
            "status": change.status,
        }
        # If the broker is away, the console reads the status from the store on reconnect.
        with contextlib.suppress(BrokerUnavailable):
            await app[BROKER].publish_to_operator(change.author_user_id, frame)
    return _twiml()


async def twilio_api(app: web.Application) -> AsyncIterator[None]:
    """The Twilio client, one sender per channel and the media fetcher, for the app's life."""
    settings = app[SETTINGS].twilio
    api = TwilioApi(settings)
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
