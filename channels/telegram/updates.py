"""Telegram Bot API updates as pure functions: check the webhook secret, parse an update.

Sans-I/O: the adapter hands over the secret header and the JSON body; this returns what the
update means to the gateway: a customer's message (:class:`Inbound`), the customer blocking or
unblocking the bot (:class:`MemberChange`), or an update of no use here (:class:`Ignored`).

Why a tolerant parser over the plain JSON and not the full Bot API types: Telegram adds update
kinds and fields with every Bot API version and makes required fields optional (a channel post
has no ``from``, a callback query's message may be missing). A strict parser answers those with
400, and Telegram retries a 400 for hours. So only what is well-formed at the top (a JSON object
with an integer ``update_id``) is required; everything the gateway does not read is ignored,
and what it reads is read leniently: a field of the wrong shape makes the update ignored, not
refused.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.common import WebhookError, normalize_number
from gateway.model import Attachment, Channel, InboundMessage

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_TEXT = 4096

# The update kinds the gateway subscribes to (setWebhook and getUpdates ``allowed_updates``).
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")

# A private chat's ``new_chat_member.status`` when the customer blocked the bot ("kicked") or
# started it again ("member").
BLOCKED_STATUSES = frozenset({"kicked"})
REACHABLE_STATUSES = frozenset({"member"})


def check_secret(expected: str, sent: str | None) -> None:
    """Constant-time comparison of the secret Telegram sends with every webhook call."""
    if not sent:
        raise WebhookError(403, "forbidden", f"missing {SECRET_HEADER}")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise WebhookError(403, "forbidden", f"{SECRET_HEADER} does not match")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A customer's message (or button press) in a private chat: stored once per update_id."""

    update_id: int
    message: InboundMessage
    callback_query_id: str | None = None  # a button press, to be answered


@dataclass(frozen=True, slots=True)
class MemberChange:
    """The customer blocked the bot (``reachable`` False) or started it again (True)."""

    update_id: int
    chat_id: str
    reachable: bool
    date: int  # Unix time of the change, as Telegram reports it


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed update the gateway has no use for; answered 200 so Telegram stops."""

    update_id: int
    kind: str
    why: str


Parsed = Inbound | MemberChange | Ignored


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookError(400, "bad_json", f"body is not valid JSON: {exc}") from None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise WebhookError(400, "bad_request", "an update is an object with an integer update_id")
    return data


def update_kind(data: Mapping[str, Any]) -> str:
    """The update's kind: its one field besides update_id (Telegram sends one; a field added
    to every update later must not hide a kind the gateway handles)."""
    handled = next((key for key in ALLOWED_UPDATES if key in data), None)
    return handled or next((key for key in data if key != "update_id"), "none")


def _obj(data: Any, key: str) -> dict[str, Any] | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else None


def _str(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _int(data: Any, key: str) -> int | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _private_chat(holder: Any) -> int | None:
    """The id of the holder's chat if it is a private chat (only those are conversations)."""
    chat = _obj(holder, "chat")
    chat_id = _int(chat, "id")
    if chat_id is None or _str(chat, "type") != "private":
        return None
    return chat_id


def _full_name(user: dict[str, Any] | None) -> str | None:
    first = _str(user, "first_name")
    if not first:
        return None
    last = _str(user, "last_name")
    return f"{first} {last}" if last else first


def parse_update(body: bytes, default_region: str) -> Parsed:
    """What an update means to the gateway; raises a 400 WebhookError only for a body that is
    not a JSON object with an integer update_id."""
    data = _load(body)
    update_id: int = data["update_id"]
    kind = update_kind(data)
    if kind == "message":
        return _message(update_id, data["message"], default_region)
    if kind == "callback_query":
        return _callback(update_id, data["callback_query"])
    if kind == "my_chat_member":
        return _member(update_id, data["my_chat_member"])
    return Ignored(update_id, kind, "a kind the gateway does not handle")


def _callback(update_id: int, query: Any) -> Parsed:
    query_id = _str(query, "id")
    data = _str(query, "data")
    # The message is missing when it is too old; an inaccessible one still names its chat.
    chat_id = _private_chat(_obj(query, "message"))
    if query_id is None or chat_id is None or not data:
        return Ignored(update_id, "callback_query", "no button data from a private chat")
    return Inbound(
        update_id,
        InboundMessage(
            channel=Channel.TELEGRAM,
            sender=str(chat_id),
            text=data[:MAX_TEXT],
            provider_message_id=f"callback:{query_id}",
            sender_name=_full_name(_obj(query, "from")),
            raw={"update_id": update_id, "callback_data": data},
        ),
        callback_query_id=query_id,
    )


def _member(update_id: int, change: Any) -> Parsed:
    chat_id = _private_chat(change)
    status = _str(_obj(change, "new_chat_member"), "status")
    if chat_id is None or status is None:
        return Ignored(update_id, "my_chat_member", "not a private chat")
    if status in BLOCKED_STATUSES:
        reachable = False
    elif status in REACHABLE_STATUSES:
        reachable = True
    else:
        return Ignored(update_id, "my_chat_member", f"status {status[:20]!r}")
    return MemberChange(update_id, str(chat_id), reachable, _int(change, "date") or 0)


def _file(data: Any, default_type: str) -> Attachment | None:
    file_id = _str(data, "file_id")
    if not file_id:
        return None
    return Attachment(
        f"telegram-file:{file_id}",
        _str(data, "mime_type") or default_type,
        _str(data, "file_name"),
        _int(data, "file_size"),
        fetch="telegram",
    )


def _photo(sizes: Any) -> Attachment | None:
    """The biggest size of a photo (Telegram sends several)."""
    if not isinstance(sizes, list):
        return None
    usable = [s for s in sizes if isinstance(s, dict) and _str(s, "file_id")]
    if not usable:
        return None
    biggest = max(usable, key=lambda s: (_int(s, "width") or 0) * (_int(s, "height") or 0))
    return _file({**biggest, "mime_type": "image/jpeg", "file_name": None}, "image/jpeg")


def _message(update_id: int, message: Any, default_region: str) -> Parsed:
    chat_id = _private_chat(message)
    message_id = _int(message, "message_id")
    if chat_id is None or message_id is None:
        return Ignored(update_id, "message", "not a message in a private chat")
    text = _str(message, "text") or _str(message, "caption") or ""
    attachments = [
        a
        for a in (
            _photo(message.get("photo")),
            _file(_obj(message, "document"), "application/octet-stream"),
        )
        if a is not None
    ]
    attributes: dict[str, str] = {}
    contact = _obj(message, "contact")
    shared = _str(contact, "phone_number")
    if shared:
        try:
            phone = normalize_number(shared, default_region)
        except WebhookError:
            text = text or f"Shared a contact: {shared[:40]}"
        else:
            attributes["phone"] = phone
            text = text or f"Shared a phone number: {phone}"
    if not text and not attachments:
        # A sticker, a voice note, a location, a dice...: nothing an operator can answer yet.
        return Ignored(update_id, "message", "no text or file the gateway keeps")
    return Inbound(
        update_id,
        InboundMessage(
            channel=Channel.TELEGRAM,
            sender=str(chat_id),
            text=text[:MAX_TEXT],
            provider_message_id=str(message_id),
            sender_name=_full_name(_obj(message, "from")),
            attachments=tuple(attachments),
            raw={"update_id": update_id, "message_id": message_id},
            attributes=attributes,
        ),
    )
