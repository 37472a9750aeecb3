"""Telegram Bot API updates as pure functions: check the webhook secret, parse an update.

Sans-I/O: the adapter hands over the secret header and the JSON body; this returns the inbound
message (or None for updates a contact center has no use for) or a precise error. Parsing uses
python-telegram-bot's own types, so the field names and nesting are Telegram's.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from telegram import Update

from channels.common import WebhookError, normalize_number
from gateway.model import Attachment, Channel, InboundMessage

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_TEXT = 4096


def check_secret(expected: str, sent: str | None) -> None:
    """Constant-time comparison of the secret Telegram sends with every webhook call."""
    if not sent:
        raise WebhookError(403, "forbidden", f"missing {SECRET_HEADER}")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise WebhookError(403, "forbidden", f"{SECRET_HEADER} does not match")


@dataclass(frozen=True, slots=True)
class Inbound:
    update_id: int
    message: InboundMessage
    callback_query_id: str | None = None  # a button press, to be answered


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookError(400, "bad_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise WebhookError(400, "bad_request", "an update is an object with an integer update_id")
    return data


def parse_update(body: bytes, default_region: str) -> Inbound | None:
    """The customer's message in an update, or None for kinds that carry none (edits, a bot
    added to a group, ...). Only private chats are conversations."""
    data = _load(body)
    try:
        update = Update.de_json(data, None)
    except (KeyError, TypeError, ValueError) as exc:
        raise WebhookError(400, "bad_request", f"not a Telegram update: {exc}") from None
    if update is None:
        raise WebhookError(400, "bad_request", "not a Telegram update")
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat if query.message is not None else None
        if chat is None or chat.type != "private" or not query.data:
            return None
        user = query.from_user
        return Inbound(
            update.update_id,
            InboundMessage(
                channel=Channel.TELEGRAM,
                sender=str(chat.id),
                text=query.data[:MAX_TEXT],
                provider_message_id=f"callback:{query.id}",
                sender_name=user.full_name if user else None,
                raw={"update_id": update.update_id, "callback_data": query.data},
            ),
            callback_query_id=query.id,
        )
    message = update.message
    if message is None or message.chat.type != "private":
        return None
    text = message.text or message.caption or ""
    attachments: list[Attachment] = []
    attributes: dict[str, str] = {}
    if message.photo:
        biggest = max(message.photo, key=lambda p: p.width * p.height)
        attachments.append(
            Attachment(
                f"telegram-file:{biggest.file_id}",
                "image/jpeg",
                None,
                biggest.file_size,
                fetch="telegram",
            )
        )
    if message.document is not None:
        doc = message.document
        attachments.append(
            Attachment(
                f"telegram-file:{doc.file_id}",
                doc.mime_type or "application/octet-stream",
                doc.file_name,
                doc.file_size,
                fetch="telegram",
            )
        )
    if message.contact is not None:
        phone = normalize_number(message.contact.phone_number, default_region)
        attributes["phone"] = phone
        text = text or f"Shared a phone number: {phone}"
    if not text and not attachments:
        return None  # a sticker, a location...: nothing an operator can answer yet
    sender = message.from_user
    return Inbound(
        update.update_id,
        InboundMessage(
            channel=Channel.TELEGRAM,
            sender=str(message.chat.id),
            text=text[:MAX_TEXT],
            provider_message_id=str(message.message_id),
            sender_name=sender.full_name if sender else None,
            attachments=tuple(attachments),
            raw={"update_id": update.update_id, "message_id": message.message_id},
            attributes=attributes,
        ),
    )
