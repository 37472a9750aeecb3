"""Twilio Messaging webhooks (SMS and WhatsApp) as pure functions: verify, parse, normalize.

Sans-I/O: the adapter hands over the URL Twilio called (built from the configured public URL,
never from the request's Host header), the form fields and the signature header, and gets back
an :class:`InboundMessage` or a precise error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from twilio.request_validator import RequestValidator

from channels.common import WebhookError, normalize_number
from gateway.model import Attachment, Channel, InboundMessage, MessageStatus

SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_MEDIA = 10
WHATSAPP_PREFIX = "whatsapp:"

# Twilio's standard opt-out and opt-in keywords (matched on the whole message, any case).
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})

# Twilio's documented MessageStatus values, as ours. "accepted", "scheduled", "queued" and
# "sending" are stages before "sent"; "partially_delivered" (some parts or recipients have it)
# is not yet "delivered"; "failed" never left Twilio, "canceled" was a scheduled message called
# off; None: inbound only ("receiving", "received"), never a report on one of our replies.
PROVIDER_STATUS: dict[str, MessageStatus | None] = {
    "accepted": MessageStatus.QUEUED,
    "scheduled": MessageStatus.QUEUED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "partially_delivered": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
    "receiving": None,
    "received": None,
}

# What the most frequent delivery error codes mean (twilio.com/docs/api/errors), for the
# operator when the callback carries only the code.
ERROR_TEXTS: dict[str, str] = {
    "21610": "the customer unsubscribed (STOP)",
    "21614": "not a mobile number",
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
    "63016": "outside the WhatsApp 24-hour window (a template is needed)",
}


class OptChange(StrEnum):
    OUT = "opt_out"
    IN = "opt_in"


Form = Mapping[str, str]


def verify(token: str, url: str, form: Form, signature: str | None) -> None:
    """Raise a 403 WebhookError unless ``signature`` is Twilio's for this URL and form (every
    value of repeated fields counts; the URL is tried with and without its port)."""
    if not signature:
        raise WebhookError(403, "forbidden", f"missing {SIGNATURE_HEADER}")
    if not RequestValidator(token).validate(url, form, signature):
        raise WebhookError(403, "forbidden", f"{SIGNATURE_HEADER} does not match")


def _address(raw: str, default_region: str) -> tuple[Channel, str]:
    if raw.startswith(WHATSAPP_PREFIX):
        return Channel.WHATSAPP, normalize_number(raw[len(WHATSAPP_PREFIX) :], default_region)
    return Channel.SMS, normalize_number(raw, default_region)


def _required(form: Form, key: str) -> str:
    value = form.get(key)
    if not value:
        raise WebhookError(400, "bad_request", f"missing field {key}")
    return value


def _media(form: Form) -> tuple[Attachment, ...]:
    try:
        count = int(form.get("NumMedia", "0") or "0")
    except ValueError:
        raise WebhookError(400, "bad_request", "NumMedia is not a number") from None
    if not 0 <= count <= MAX_MEDIA:
        raise WebhookError(400, "bad_request", f"NumMedia must be 0 to {MAX_MEDIA}")
    media = []
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        if not url or not url.startswith("https://"):
            raise WebhookError(400, "bad_request", f"MediaUrl{i} is missing or not https")
        content_type = form.get(f"MediaContentType{i}") or "application/octet-stream"
        media.append(Attachment(url, content_type, fetch="twilio"))
    return tuple(media)


def parse_inbound(form: Form, default_region: str) -> InboundMessage:
    """An incoming SMS or WhatsApp message. The customer's number (E.164) is the identity;
    the number or messaging service they wrote to is kept for the reply."""
    sid = _required(form, "MessageSid")
    if not (sid.startswith(("SM", "MM")) and 30 <= len(sid) <= 40):
        raise WebhookError(400, "bad_request", "MessageSid is not a Twilio message id")
    channel, sender = _address(_required(form, "From"), default_region)
    to_raw = _required(form, "To")
    to_channel, to = _address(to_raw, default_region)
    if to_channel != channel:
        raise WebhookError(400, "bad_request", "From and To are on different channels")
    body = form.get("Body", "")
    media = _media(form)
    if not body and not media:
        raise WebhookError(400, "bad_request", "a message needs a Body or media")
    raw = {
        "MessageSid": sid,
        "To": to,
        "MessagingServiceSid": form.get("MessagingServiceSid"),
        "AccountSid": form.get("AccountSid"),
    }
    return InboundMessage(
        channel=channel,
        sender=sender,
        text=body,
        provider_message_id=sid,
        sender_name=form.get("ProfileName") or sender,
        attachments=media,
        raw={k: v for k, v in raw.items() if v},
        attributes={"via": to},
    )


def opt_change(text: str) -> OptChange | None:
    word = text.strip().upper()
    if word in OPT_OUT_WORDS:
        return OptChange.OUT
    if word in OPT_IN_WORDS:
        return OptChange.IN
    return None


@dataclass(frozen=True, slots=True)
class StatusReport:
    message_sid: str
    raw_status: str
    status: MessageStatus | None  # None: a value that says nothing about one of our replies
    error_code: str | None = None
    error: str | None = None  # what the operator is shown: code and description


def parse_status(form: Form) -> StatusReport:
    """A status callback for a reply we sent. Only a missing MessageSid or MessageStatus is an
    error; a status value Twilio adds later is reported as None (logged and ignored)."""
    sid = _required(form, "MessageSid")
    raw_status = _required(form, "MessageStatus").strip().lower()
    code = (form.get("ErrorCode") or "").strip() or None
    text = (form.get("ErrorMessage") or "").strip() or (ERROR_TEXTS.get(code) if code else None)
    error = None
    if code:
        error = f"Twilio error {code}" + (f": {text}" if text else "")
    elif text:
        error = f"Twilio: {text}"
    return StatusReport(sid, raw_status[:40], PROVIDER_STATUS.get(raw_status), code, error)


def reply_address(channel: str, address: str) -> str:
    return f"{WHATSAPP_PREFIX}{address}" if channel == Channel.WHATSAPP.value else address
