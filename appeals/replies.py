"""What people writing to each other do to appeals: the customer's reply resumes or reopens
one, an operator's first answer meets the SLA's first response, and a resolved appeal closes
for good once the customer had their chance to come back.

- ``conversation.message`` from the customer, in a conversation an appeal gathered: an appeal
  pending the customer resumes (in progress again, its SLA clocks run on; the pause is closed
  as ended by the customer); an appeal resolved less than the topics' ``reopen_hours`` before
  the message reopens (awaiting at the same stage). Later than that, a closed matter stays
  closed and the message is just a new contact. Only a message written after the appeal went
  pending or was resolved counts (an event can be late or come twice). On channels without
  threads (SMS, WhatsApp, Telegram, web chat) a reply to the resolution notice opens a new
  conversation: when the customer's appeal resolved within the window had a notice reach that
  very identity, the new conversation joins the appeal and reopens it.
- ``outbound.<channel>`` with an operator (``operator_id`` set): the first human answer of the
  conversation's appeals. The gateway's own messages (menus, notices) have none and never count.
- a tick closes the appeals resolved longer ago than ``reopen_hours``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import exists, select

from appeals.alerts_store import AlertStore
from appeals.live import TOPICS
from appeals.model import Action, Status
from appeals.service import on_event, on_tick
from appeals.store import APPEAL_STORE, Actor, Appeal, AppealChanged
from appeals.topics import TopicsConfig
from appeals.views import plan_of
from gateway.errors import Refused
from gateway.events import Event, Family
from gateway.keys import RELAY, USERS
from gateway.storage.schema import appeal_notices, appeals, conversations

log = structlog.get_logger()

ATTEMPTS = 3  # re-reads of an appeal changed under a reply before giving up


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def reply_action(appeal: Appeal, at: datetime, reopen_window: timedelta) -> Action | None:
    """What the customer's message written at ``at`` does to ``appeal``, if anything."""
    if appeal.status == Status.PENDING_CUSTOMER:
        since = appeal.paused_at or appeal.updated_at
        return Action.RESUME if at > since else None
    resolved = appeal.resolved_at
    if appeal.status == Status.RESOLVED and resolved is not None:
        return Action.REOPEN if resolved < at <= resolved + reopen_window else None
    return None


def _nudge(app: web.Application) -> None:
    relay = app.get(RELAY)
    if relay is not None:
        relay.nudge()


async def _act(
    app: web.Application,
    config: TopicsConfig,
    appeal: Appeal,
    at: datetime,
    channel: str | None,
) -> Appeal | None:
    """Resume or reopen ``appeal`` for the customer's message, against the version read;
    read again when someone changed it meanwhile."""
    store = app[APPEAL_STORE]
    window = timedelta(hours=config.settings.reopen_hours)
    current: Appeal | None = appeal
    for _ in range(ATTEMPTS):
        if current is None:
            return None
        action = reply_action(current, at, window)
        topic = config.topic(current.topic)
        if action is None or topic is None:
            return None
        try:
            return await store.apply(
                current.id,
                current.version,
                action,
                plan=plan_of(config, topic, current.topic),
                actor=Actor.customer(channel),
                now=at,
            )
        except AppealChanged:
            current = await store.get(current.id)
        except Refused as exc:
            log.info("appeals.reply.refused", appeal_id=current.id, reason=exc.reason)
            return None
    return None


async def _answered_notice(
    app: web.Application, conversation_id: int, at: datetime, window: timedelta
) -> Appeal | None:
    """The appeal a new conversation answers: the customer's newest appeal resolved within
    the reopen window whose notice reached this very identity (a reply to "your appeal is
    resolved; just reply if it does not help" on SMS, WhatsApp, Telegram or web chat, which
    carry no thread)."""
    async with app[APPEAL_STORE].db.read() as conn:
        row = (
            await conn.execute(
                select(conversations.c.identity_id, conversations.c.customer_id).where(
                    conversations.c.id == conversation_id
                )
            )
        ).first()
        if row is None:
            return None
        notified = exists().where(
            appeal_notices.c.appeal_id == appeals.c.id,
            appeal_notices.c.identity_id == row.identity_id,
        )
        found = (
            await conn.execute(
                select(appeals.c.id)
                .where(
                    appeals.c.customer_id == row.customer_id,
                    appeals.c.status == Status.RESOLVED.value,
                    appeals.c.resolved_at < at,
                    appeals.c.resolved_at >= at - window,
                    notified,
                )
                .order_by(appeals.c.resolved_at.desc())
                .limit(1)
            )
        ).scalar()
    return await app[APPEAL_STORE].get(int(found)) if found is not None else None


async def on_customer_message(app: web.Application, _key: str, payload: dict[str, Any]) -> None:
    """The customer wrote (``conversation.message``): resume or reopen the appeals the
    conversation is gathered into, as the message's time allows."""
    raw = payload.get("message")
    message: dict[str, Any] = raw if isinstance(raw, dict) else payload
    if (payload.get("direction") or message.get("direction")) != "in":
        return
    conversation_id = payload.get("conversation_id") or message.get("conversation_id")
    at = _instant(message.get("created_at"))
    if not isinstance(conversation_id, int) or at is None:
        return
    store = app[APPEAL_STORE]
    linked = await store.for_conversation(conversation_id)
    config = await app[TOPICS].current()
    channel = message.get("channel") if isinstance(message.get("channel"), str) else None
    if not linked and payload.get("new_conversation"):
        window = timedelta(hours=config.settings.reopen_hours)
        answered = await _answered_notice(app, conversation_id, at, window)
        if answered is not None:
            # The customer answers the notice on a channel without threads: a new
            # conversation, about that appeal.
            await store.link_conversation(answered.id, conversation_id, Actor.customer(channel), at)
            linked = [await store.get(answered.id) or answered]
    if not linked:
        return
    changed = False
    for appeal in linked:
        done = await _act(app, config, appeal, at, channel)
        if done is not None:
            changed = True
            log.info("appeals.customer_replied", appeal_id=done.id, status=done.status)
    if changed:
        _nudge(app)


async def on_operator_reply(app: web.Application, _key: str, payload: dict[str, Any]) -> None:
    """An operator's reply (not the gateway's own message, not a resend): the first human
    answer of the conversation's appeals that had none."""
    message = payload.get("message")
    if payload.get("operator_id") is None or not isinstance(message, dict):
        return
    conversation_id = payload.get("conversation_id")
    at = _instant(message.get("created_at"))
    if not isinstance(conversation_id, int) or at is None:
        return
    operator = await app[USERS].get(int(payload["operator_id"]))
    actor = Actor(operator.id, operator.username, message.get("channel")) if operator else None
    answered = await app[APPEAL_STORE].mark_first_response(conversation_id, at, actor)
    if answered:
        _nudge(app)
        log.info("appeals.first_response", appeal_ids=answered, conversation_id=conversation_id)


async def close_resolved(app: web.Application, now: datetime) -> None:
    """Close for good the appeals resolved longer ago than the reopening window (a tick)."""
    config = await app[TOPICS].current()
    cutoff = now - timedelta(hours=config.settings.reopen_hours)
    store = app[APPEAL_STORE]
    closed = 0
    for appeal in await AlertStore(store).resolved_before(cutoff):
        topic = config.topic(appeal.topic)
        if topic is None:
            continue
        try:
            await store.apply(
                appeal.id,
                appeal.version,
                Action.CLOSE,
                plan=plan_of(config, topic, appeal.topic),
                actor=Actor.system(),
                now=now,
            )
            closed += 1
        except (AppealChanged, Refused):
            continue  # reopened or closed meanwhile
    if closed:
        log.info("appeals.closed_after_window", count=closed)
        _nudge(app)


def setup(app: web.Application) -> None:
    on_event(app, Event.MESSAGE, on_customer_message)
    on_event(app, Family.OUTBOUND, on_operator_reply)
    on_tick(app, close_resolved)
