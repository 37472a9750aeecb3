"""What every Twilio webhook (messaging, status, voice) does first: read the form and check
``X-Twilio-Signature`` against the configured public URL, never the request's Host header."""

from __future__ import annotations

import structlog
from aiohttp import web
from multidict import MultiDict

from channels.common import WebhookError
from channels.twilio.messaging import SIGNATURE_HEADER, verify
from gateway.keys import METRICS, SETTINGS

log = structlog.get_logger()


def refuse(request: web.Request, exc: WebhookError) -> web.Response:
    request.app[METRICS].rejected.labels("twilio", exc.code).inc()
    log.warning("twilio.webhook.rejected", path=request.path, code=exc.code, reason=exc.reason)
    return web.json_response({"error": exc.code, "reason": exc.reason}, status=exc.status)


async def verified_form(request: web.Request) -> MultiDict[str]:
    """The webhook's fields (blank values kept: they are signed too), or a WebhookError."""
    settings = request.app[SETTINGS]
    if request.content_type != "application/x-www-form-urlencoded":
        raise WebhookError(415, "bad_request", "Twilio webhooks are form-encoded")
    form = await request.post()
    fields: MultiDict[str] = MultiDict((k, v) for k, v in form.items() if isinstance(v, str))
    if len(fields) != len(form):
        raise WebhookError(400, "bad_request", "file uploads are not Twilio webhooks")
    url = settings.http.public_url.rstrip("/") + request.rel_url.path_qs
    token = settings.twilio.auth_token
    if token is None:
        raise WebhookError(403, "forbidden", "Twilio is not configured")
    verify(token.get_secret_value(), url, fields, request.headers.get(SIGNATURE_HEADER))
    return fields
