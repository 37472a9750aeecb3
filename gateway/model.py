"""The normalized model every channel speaks after verification and parsing.

Why: routing, storage and the console must not care whether a contact came by SMS or web chat.
Each adapter turns its provider's payload into an :class:`InboundMessage`; everything downstream
works on that alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    WEBCHAT = "webchat"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    TELEGRAM = "telegram"
    VOICE = "voice"


# Channels a reply can be sent on to any of the customer's identities (through a provider); web
# chat and voice reach a customer only inside their own live conversation.
REPLY_CHANNELS = frozenset(
    {Channel.SMS.value, Channel.WHATSAPP.value, Channel.EMAIL.value, Channel.TELEGRAM.value}
)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ConversationStatus(StrEnum):
    MENU = "menu"  # the customer is going through an IVR menu on a text channel: not routed yet
    WAITING = "waiting"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class OfferStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    def at_least(self, other: Role) -> bool:
        order = [Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN]
        return order.index(self) >= order.index(other)


class OperatorState(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


class MessageStatus(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"  # the provider could not deliver it (a final state)
    FAILED = "failed"  # never reached the provider: every retry failed, or refused outright


# How far along a reply is; a late callback for an earlier stage never moves it back.
STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.RECEIVED: 0,
    MessageStatus.QUEUED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.READ: 5,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a customer sent. ``url`` is where the provider has it (or a description of where);
    ``file_id`` names our stored copy once there is one; ``fetch`` names the fetcher that brings
    the file in after the message is stored (``twilio``, ``telegram``), when it is not yet ours."""

    url: str
    content_type: str = "application/octet-stream"
    filename: str | None = None
    size: int | None = None
    file_id: int | None = None
    fetch: str | None = None
    error: str | None = None  # why there is no stored copy


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a customer, whatever the channel.

    ``provider_message_id`` is the provider's own id (MessageSid, update_id, Message-ID, the web
    chat client id) and is what makes a redelivery a duplicate.
    """

    channel: Channel
    sender: str
    text: str
    provider_message_id: str
    sender_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    received_at: datetime = field(default_factory=utcnow)
    raw: Mapping[str, Any] = field(default_factory=dict)
    # What the channel knows about the contact for the routing rules (language, topic, tier,
    # IVR choice); kept on the conversation it opens.
    attributes: Mapping[str, str] = field(default_factory=dict)
    # The conversation this message continues, as the channel's threading established it for
    # this very sender (email: reply+token address, In-Reply-To); reopened if it was closed.
    thread: int | None = None
