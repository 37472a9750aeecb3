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
from xml.etree import ElementTree

import aiohttp
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from gateway.errors import GatewayError
from gateway.settings import Settings


class SimulationError(GatewayError):
    """The channel is not configured, or the input makes no sense for it."""


@dataclass(frozen=True, slots=True)
class Webhook:
    path: str
    body: bytes
    headers: dict[str, str]


def _twilio_signed(settings: Settings, path: str, params: list[tuple[str, str]]) -> Webhook:
    """A form as Twilio posts it to ``public_url`` + ``path``, with its signature."""
    twilio = settings.twilio
    if not twilio.enabled or twilio.auth_token is None:
        raise SimulationError("Twilio is not configured (twilio.account_sid and auth_token)")
    url = settings.http.public_url.rstrip("/") + path
    signature = RequestValidator(twilio.auth_token.get_secret_value()).compute_signature(
        url, MultiDict(params)
    )
    return Webhook(
        path,
        urlencode(params).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


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
    return _twilio_signed(settings, "/webhooks/twilio/messaging", params)


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


VOICE_PATH = "/webhooks/twilio/voice"
KEYS = frozenset("0123456789*#")


def heard(xml: str) -> tuple[list[str], str | None, str | None]:
    """What a caller would live through in one TwiML answer, line by line; the URL the call
    posts its answer to (a Gather's or a Record's action), and where it goes next on its own
    (a Redirect)."""
    root = ElementTree.fromstring(xml)  # noqa: S314 (the gateway's own answer)
    lines: list[str] = []
    answer_to: str | None = None

    def walk(element: ElementTree.Element) -> None:
        nonlocal answer_to
        for child in element:
            match child.tag:
                case "Say":
                    lines.append(f"hears: {child.text or ''}")
                case "Play":
                    lines.append(f"hears a recording: {child.text or ''}")
                case "Gather":
                    walk(child)
                    answer_to = child.attrib.get("action")
                    words = " or words" if "speech" in child.attrib.get("input", "") else ""
                    lines.append(f"is asked for keys{words}")
                case "Record":
                    answer_to = child.attrib.get("action")
                    lines.append("is recorded (after the tone)")
                case "Dial":
                    walk(child)
                case "Number" | "Sip" | "Client":
                    lines.append(f"is put through to {child.text or ''}")
                case "Hangup":
                    lines.append("hears the line go dead (hang-up)")

    walk(root)
    redirect = root.find("Redirect")
    return lines, answer_to, redirect.text if redirect is not None else None


async def call(
    settings: Settings, base_url: str, answers: list[str], caller: str, called: str
) -> list[str]:
    """Walk the voice menu as a caller who gives ``answers`` in turn (keys, words, or "-" for
    silence); a transcript. A caller handed to routing hears one round of the hold loop and
    stays in line (an operator can take the call in the console)."""
    sid = "CA" + secrets.token_hex(16)
    base = {"CallSid": sid, "AccountSid": settings.twilio.account_sid or "", "From": caller,
            "To": called, "Direction": "inbound"}  # fmt: skip
    public = settings.http.public_url.rstrip("/")
    transcript: list[str] = []

    async def post(http: aiohttp.ClientSession, path: str, **extra: str) -> str:
        webhook = _twilio_signed(settings, path, list({**base, **extra}.items()))
        async with http.post(
            base_url.rstrip("/") + path, data=webhook.body, headers=webhook.headers
        ) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise SimulationError(f"the gateway answered {resp.status}: {body[:200]}")
            return body

    async with aiohttp.ClientSession() as http:
        lines, answer_to, then = heard(await post(http, VOICE_PATH, CallStatus="ringing"))
        transcript += lines
        for answer in answers:
            if answer_to is None:
                break
            transcript.append(f"answers: {answer}")
            path = answer_to.removeprefix(public)
            if answer == "-" and then is not None:
                path, fields = then.removeprefix(public), {}
            elif set(answer) <= KEYS:
                fields = {"Digits": answer}
            else:
                fields = {"SpeechResult": answer, "Confidence": "0.9"}
            lines, answer_to, then = heard(
                await post(http, path, CallStatus="in-progress", **fields)
            )
            transcript += lines
        if answer_to is None and then is not None and "/hold" in then:
            transcript.append("waits in line:")
            lines, _, _ = heard(
                await post(http, then.removeprefix(public), CallStatus="in-progress")
            )
            transcript += lines
    return transcript
