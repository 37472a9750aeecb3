"""Tables, as SQLAlchemy Core metadata (the migrations in migrations/ create exactly these).

Why Core and not the ORM: the hot paths are a handful of precise statements (insert-if-new,
compare-and-set on status) that read better as SQL than as unit-of-work magic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids that are still INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
Stamp = UtcDateTime()

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("display_name", String(200), nullable=True),
    Column("created_at", Stamp, nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("address", String(320), nullable=False),
    Column("created_at", Stamp, nullable=False),
    # Set when the customer opted out (SMS STOP) or cannot be reached (a bot blocked): nothing
    # is sent to this identity while set.
    Column("opted_out_at", Stamp, nullable=True),
    Column("unreachable_at", Stamp, nullable=True),
    UniqueConstraint("channel", "address"),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Stamp, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("identity_id", Id, ForeignKey("identities.id"), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("operator_id", Id, ForeignKey("users.id"), nullable=True, index=True),
    Column("waiting_since", Stamp, nullable=True),
    Column("created_at", Stamp, nullable=False),
    Column("closed_at", Stamp, nullable=True),
    # Routing: the rule that matched (NULL until the router has classified the contact), the
    # escalation step in force and since when, and the contact attributes the rule looked at.
    Column("rule", String(64), nullable=True),
    Column("step", Integer, nullable=False, default=0, server_default="0"),
    Column("step_since", Stamp, nullable=True),
    Column("attributes", JSON, nullable=True),
    # Set when the customer wrote into the conversation's thread after it was closed: offers
    # declined before then do not count against the operators any more.
    Column("reopened_at", Stamp, nullable=True),
    # Why the conversation was closed when no operator closed it (a routing rule's final
    # action: "final_action:notice" with what the customer was told).
    Column("close_reason", String(600), nullable=True),
    Index("ix_conversations_status_waiting", "status", "priority", "waiting_since"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("channel", String(20), nullable=False),
    # "webchat:<visitor>:<client id>", "op:<user>:<client id>": the key that makes a retry a no-op.
    Column("dedupe_key", String(400), nullable=False, unique=True),
    Column("author_user_id", Id, ForeignKey("users.id"), nullable=True),
    Column("text", Text, nullable=False),
    Column("attachments", JSON, nullable=False, default=list),
    Column("raw", JSON, nullable=True),
    Column("status", String(20), nullable=False),
    Column("received_at", Stamp, nullable=True),
    Column("created_at", Stamp, nullable=False),
    # Outbound only: the provider's id for it (for status callbacks), the send attempts made,
    # and why the last one failed.
    Column("external_id", String(200), nullable=True, index=True),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("error", String(300), nullable=True),
    # Outbound only, when the operator chose another of the customer's identities (channels)
    # than the conversation's own; NULL: the conversation's.
    Column("identity_id", Id, ForeignKey("identities.id"), nullable=True),
    Index("ix_messages_conversation", "conversation_id", "id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("routing_key", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("headers", JSON, nullable=False, default=dict),
    Column("created_at", Stamp, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("created_at", Stamp, nullable=False),
)

operator_presence = Table(
    "operator_presence",
    metadata,
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("instance_id", String(64), nullable=True),
    Column("last_seen_at", Stamp, nullable=True),
    Column("state_since", Stamp, nullable=False),
    Column("idle_since", Stamp, nullable=True),
    # Offers that timed out one after the other; reset by any answer.
    Column("missed_in_row", Integer, nullable=False, default=0, server_default="0"),
)

offers = Table(
    "offers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("operator_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
    Column("decided_at", Stamp, nullable=True),
    Column("reason", String(100), nullable=True),
    # When the offer was handed to RabbitMQ for the operator; NULL if the router that made it
    # died first, so the next router pushes it.
    Column("pushed_at", Stamp, nullable=True),
    Index("ix_offers_status_expires", "status", "expires_at"),
)

routing_events = Table(
    "routing_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("operator_id", Id, nullable=True),
    Column("detail", JSON, nullable=False, default=dict),
    Column("created_at", Stamp, nullable=False),
)

# Every version of the routing configuration (skills, operators, queues, rules); the newest
# one is in force. Versions come from the rules file at start-up or from the admin API.
routing_configs = Table(
    "routing_configs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("document", JSON, nullable=False),
    Column("source", String(20), nullable=False),  # "file" or "api"
    Column("file_hash", String(64), nullable=True),
    Column("created_by", Id, ForeignKey("users.id"), nullable=True),
    Column("created_at", Stamp, nullable=False),
)

# Who changed what, when: one row per admin change (before and after of what was touched).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("actor_id", Id, ForeignKey("users.id"), nullable=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
    Column("created_at", Stamp, nullable=False, index=True),
)

# Files customers sent (email attachments within the size limit), de-duplicated by content.
attachment_files = Table(
    "attachment_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("content_type", String(200), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

# Every published version of every IVR menu, as the admin wrote it (YAML); the newest version
# of a menu is in force. Versions come from config/ivr/ at start-up or from the admin API.
ivr_menus = Table(
    "ivr_menus",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("menu_id", String(64), nullable=False),
    Column("source_text", Text, nullable=False),
    Column("version", String(32), nullable=False),  # the menu's content hash
    Column("source", String(20), nullable=False),  # "file", "api" or "rollback"
    Column("file_hash", String(64), nullable=True),
    Column("created_by", Id, ForeignKey("users.id"), nullable=True),
    Column("created_at", Stamp, nullable=False),
    Index("ix_ivr_menus_menu", "menu_id", "id"),
)

# Where each caller or texting customer is in a menu (ivr.engine.State), kept between webhooks
# so a call survives a gateway restart. ``key`` identifies a live session ("voice:<CallSid>",
# "<channel>:<address>") and is cleared when the session ends; ``revision`` guards against two
# webhooks of one session writing at once.
ivr_sessions = Table(
    "ivr_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(250), nullable=True, unique=True),
    Column("channel", String(20), nullable=False),
    Column("address", String(200), nullable=False),
    Column("call_sid", String(64), nullable=True, index=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=True, index=True),
    Column("state", Text, nullable=False),
    Column("status", String(20), nullable=False),  # "menu", "queued", "ended"
    Column("revision", Integer, nullable=False, default=1),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

# The TwiML a call was answered with at each step of its menu, so that Twilio re-posting the
# same Gather or Record callback (it retries on a timeout) hears the same answer and the menu
# advances once. ``step`` is the session revision the callback's URL names.
voice_replies = Table(
    "voice_replies",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("session_id", Id, ForeignKey("ivr_sessions.id"), primary_key=True),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("twiml", Text, nullable=False),
    Column("created_at", Stamp, nullable=False),
)
