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
    Float,
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

# -- appeals (appeals/, docs/appeals.md) ---------------------------------------------------------

# A registered request, complaint or incident: its number, topic, where it is on its topic's
# route, who owns it, the topic's fields, and its deadlines. Every change is a compare-and-set on
# ``version`` with an appeal_history row and an outbox row in the same transaction.
appeals = Table(
    "appeals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reference", String(16), nullable=False, unique=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("topic", String(64), nullable=False),
    Column("category", String(20), nullable=False),
    Column("priority", String(10), nullable=False),
    Column("status", String(24), nullable=False),
    Column("stage", Integer, nullable=False, default=0),
    Column("queue", String(64), nullable=False),
    Column("owner_id", Id, ForeignKey("users.id"), nullable=True, index=True),
    Column("fields", JSON, nullable=False, default=dict),
    Column("summary", String(500), nullable=False, default=""),
    Column("language", String(8), nullable=False, default="en"),
    Column("channel", String(20), nullable=True),  # where it was opened
    # The conversation that opened it: one new appeal per conversation at most.
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=True, unique=True),
    # An integrator's key: the same key twice is the same appeal.
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("created_by", Id, ForeignKey("users.id"), nullable=True),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # The stage's clock: since when, the warning instant, the deadline, and when each passed.
    Column("stage_since", Stamp, nullable=False),
    Column("stage_warn_at", Stamp, nullable=True),
    Column("stage_due_at", Stamp, nullable=True),
    Column("stage_warned_at", Stamp, nullable=True),
    Column("stage_breached_at", Stamp, nullable=True),
    # Set when the appeal was sent back to this stage: what the previous owner asked for.
    Column("returned_reason", String(1000), nullable=True),
    # SLA: first human answer to the customer, and resolution (business time, paused while
    # pending customer or third party: the business seconds left are kept while paused).
    Column("first_response_at", Stamp, nullable=True),
    Column("first_response_warn_at", Stamp, nullable=True),
    Column("first_response_due_at", Stamp, nullable=True),
    Column("first_response_warned_at", Stamp, nullable=True),
    Column("first_response_breached_at", Stamp, nullable=True),
    Column("resolution_warn_at", Stamp, nullable=True),
    Column("resolution_due_at", Stamp, nullable=True),
    Column("resolution_warned_at", Stamp, nullable=True),
    Column("resolution_breached_at", Stamp, nullable=True),
    Column("paused_at", Stamp, nullable=True),
    Column("first_response_left", Float, nullable=True),
    Column("resolution_left", Float, nullable=True),
    Column("resolved_at", Stamp, nullable=True),
    Column("closed_at", Stamp, nullable=True),
    # On a stage that offers its appeals: the operator it is offered to, until when, and who
    # declined or missed it at this stage (user ids; cleared when the stage changes).
    Column("offered_to", Id, ForeignKey("users.id"), nullable=True),
    Column("offer_expires_at", Stamp, nullable=True),
    Column("offer_passed", JSON, nullable=True),
    Index("ix_appeals_status_queue", "status", "queue"),
    Index("ix_appeals_stage_due", "stage_due_at"),
)

# Every conversation an appeal gathered (on any channel).
appeal_conversations = Table(
    "appeal_conversations",
    metadata,
    Column("appeal_id", Id, ForeignKey("appeals.id"), primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), primary_key=True, index=True),
    Column("linked_by", Id, ForeignKey("users.id"), nullable=True),
    Column("linked_at", Stamp, nullable=False),
)

# What happened to an appeal: who, when, what, why, from which channel. Rows are only added.
appeal_history = Table(
    "appeal_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("appeal_id", Id, ForeignKey("appeals.id"), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("actor_id", Id, ForeignKey("users.id"), nullable=True),
    Column("actor", String(100), nullable=False),  # a username, "customer", "system", "api:<name>"
    Column("action", String(40), nullable=False),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=True),
    Column("stage", Integer, nullable=True),
    Column("queue", String(64), nullable=True),
    Column("reason", String(1000), nullable=True),
    Column("channel", String(20), nullable=True),
    Column("detail", JSON, nullable=False, default=dict),
    Index("ix_appeal_history_appeal", "appeal_id", "id"),
)

# Staff-only notes on an appeal (never shown to the customer).
appeal_notes = Table(
    "appeal_notes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("appeal_id", Id, ForeignKey("appeals.id"), nullable=False, index=True),
    Column("author_id", Id, ForeignKey("users.id"), nullable=True),
    Column("text", Text, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

# Files attached to an appeal (stored once in attachment_files).
appeal_attachments = Table(
    "appeal_attachments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("appeal_id", Id, ForeignKey("appeals.id"), nullable=False, index=True),
    Column("file_id", Id, ForeignKey("attachment_files.id"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("added_by", Id, ForeignKey("users.id"), nullable=True),
    Column("created_at", Stamp, nullable=False),
)

# Warnings and breaches of stage deadlines and SLA targets, kept for the supervisor page and
# the reports. One row per appeal, kind, stage and deadline: the ticker on every instance may
# find the same one, the unique key keeps it once. Staff notices are held until ``notify_at``
# (the calendar's next opening) and marked when sent.
appeal_alerts = Table(
    "appeal_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("appeal_id", Id, ForeignKey("appeals.id"), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("queue", String(64), nullable=False),
    Column("due_at", Stamp, nullable=False),
    Column("action", String(20), nullable=True),  # what was done: warn, escalate, notify
    Column("created_at", Stamp, nullable=False),
    Column("notify_at", Stamp, nullable=True),
    Column("notified_at", Stamp, nullable=True),
    UniqueConstraint("appeal_id", "kind", "stage", "due_at"),
)

# Each time the SLA clocks stopped (pending customer or third party), why, and what ended it.
appeal_pauses = Table(
    "appeal_pauses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("appeal_id", Id, ForeignKey("appeals.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # "customer" or "third_party"
    Column("reason", String(1000), nullable=False),
    Column("started_at", Stamp, nullable=False),
    Column("ended_at", Stamp, nullable=True),
    Column("ended_by", String(100), nullable=True),
)

# Notices to the customer about their appeal: one per appeal and event (``key``), tried on the
# channels of its fallback chain in turn; ``attempt`` is the index in ``chain``.
appeal_notices = Table(
    "appeal_notices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("appeal_id", Id, ForeignKey("appeals.id"), nullable=False, index=True),
    Column("key", String(80), nullable=False),
    Column("event", String(40), nullable=False),
    Column("chain", JSON, nullable=False, default=list),
    Column("attempt", Integer, nullable=False, default=0),
    Column("channel", String(20), nullable=True),
    Column("identity_id", Id, ForeignKey("identities.id"), nullable=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=True, index=True),
    Column("state", String(20), nullable=False),
    Column("error", String(300), nullable=True),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    UniqueConstraint("appeal_id", "key"),
)

# Status queries by number that found nothing, per asker, for the rate limit (every instance
# counts the same rows).
appeal_lookups = Table(
    "appeal_lookups",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("asker", String(340), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Index("ix_appeal_lookups_asker", "asker", "created_at"),
)

# Every version of the topics document (topics, their fields, routes, SLA, calendars, notices);
# the newest is in force. Versions come from config/topics.yaml at start-up or the admin API.
topic_configs = Table(
    "topic_configs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("document", JSON, nullable=False),
    Column("source_text", Text, nullable=True),  # the YAML as the admin wrote it
    Column("source", String(20), nullable=False),  # "file", "api" or "rollback"
    Column("file_hash", String(64), nullable=True),
    Column("created_by", Id, ForeignKey("users.id"), nullable=True),
    Column("created_at", Stamp, nullable=False),
)
