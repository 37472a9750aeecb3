"""What every Twilio webhook (messaging, status, voice) does first: read the form and check
``X-Twilio-Signature`` against the configured public URL, never the request's Host header.

A body that is not UTF-8 (raw or percent-encoded) cannot be checked: Twilio signs the decoded
values. It is refused before anything is read from it: 403 without a signature of Twilio's shape,
400 with one."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl

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
    _check_utf8(await request.read(), request.headers.get(SIGNATURE_HEADER))
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


def _signed_looking(signature: str | None) -> bool:
    """Shaped like Twilio's signature: base64 of a 20-byte HMAC-SHA1."""
    try:
        return signature is not None and len(base64.b64decode(signature, validate=True)) == 20
    except (binascii.Error, ValueError):
        return False


def _check_utf8(raw: bytes, signature: str | None) -> None:
    try:
        parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        if not _signed_looking(signature):
            reason = f"missing or malformed {SIGNATURE_HEADER}"
            raise WebhookError(403, "forbidden", reason) from None
        raise WebhookError(400, "bad_request", "the body is not valid UTF-8") from None
