"""``contact-gateway simulate``: send a running gateway what a provider would, correctly signed,
so an admin can try a channel end to end without the provider.

The webhook is signed for ``http.public_url`` (the address the provider would call) and sent
to the gateway's own listening address, so it passes the same checks a real one does.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from gateway.settings import Settings


class SimulationError(Exception):
    """The channel is not configured, or the input makes no sense for it."""


@dataclass(frozen=True, slots=True)
class Webhook:
    path: str
    body: bytes
    headers: dict[str, str]


def twilio_webhook(settings: Settings, channel: str, sender: str, to: str, text: str) -> Webhook:
    twilio = settings.twilio
    if not twilio.enabled or twilio.auth_token is None:
        raise SimulationError("Twilio is not configured (twilio.account_sid and auth_token)")
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    sid = "SM" + secrets.token_hex(16)
    params = [
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("AccountSid", twilio.account_sid or ""),
        ("From", prefix + sender),
        ("To", prefix + to),
        ("Body", text),
        ("NumMedia", "0"),
    ]
    path = "/webhooks/twilio/messaging"
    url = settings.http.public_url.rstrip("/") + path
    signature = RequestValidator(twilio.auth_token.get_secret_value()).compute_signature(
        url, MultiDict(params)
    )
    return Webhook(
        path,
        urlencode(params).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def telegram_webhook(settings: Settings, chat_id: int, name: str, text: str) -> Webhook:
    telegram = settings.telegram
    if not telegram.enabled or telegram.mode != "webhook" or telegram.webhook_secret is None:
        raise SimulationError("Telegram is not configured in webhook mode (telegram.bot_token)")
    update: dict[str, Any] = {
        "update_id": int(time.time() * 1000) % 2_000_000_000,
        "message": {
            "message_id": secrets.randbelow(1_000_000),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": name},
            "from": {"id": chat_id, "is_bot": False, "first_name": name},
            "text": text,
        },
    }
    return Webhook(
        "/webhooks/telegram",
        json.dumps(update).encode(),
        {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": telegram.webhook_secret.get_secret_value(),
        },
    )


async def deliver(base_url: str, webhook: Webhook) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            base_url.rstrip("/") + webhook.path, data=webhook.body, headers=webhook.headers
        ) as resp,
    ):
        return resp.status, await resp.text()


async def send_email(settings: Settings, sender: str, subject: str, text: str) -> str:
    """Mail to the support address through the gateway's own SMTP server."""
    from email.message import EmailMessage
    from email.utils import make_msgid

    import aiosmtplib

    mail = settings.email
    if not mail.enabled:
        raise SimulationError("email is not enabled (email.enabled)")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.support_address
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="simulate.invalid")
    message.set_content(text)
    password = mail.auth_password.get_secret_value() if mail.auth_password else None
    _, answer = await aiosmtplib.send(
        message,
        hostname=mail.host,
        port=mail.port,
        username=mail.auth_username,
        password=password,
        start_tls=False,
    )
    return answer
