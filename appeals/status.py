"""Status questions about appeals, from any channel: a Telegram command or button, words or a
bare number on SMS, WhatsApp and web chat, an email subject, and the phone menu's
``appeal_status`` node; and appeals opened by an IVR or text menu's ``appeal`` node.

Why one desk: whatever the channel, the answer must be the same and must give nothing away.
Only the asker's own appeals are found (the customer behind the identity that asks); an
unknown number, someone else's and a wrong check digit all get exactly the same "not found".
Misses are counted per asker (``channel:address``) in ``appeal_lookups``, so every instance
counts the same rows: after :data:`MAX_MISSES` misses within :data:`WINDOW`, every question
from that asker gets the rate-limited answer, even with a right number, until the oldest miss
leaves the window.

A text answer goes out like any message of the gateway (``tell_customer``: the channel's
normal outbound path, and operators see it in the conversation), with a dedupe key per
question so an event handled twice answers once. A conversation the question alone opened,
still without an operator, is closed with the close reason ``appeal_status``, so no operator
is offered a pure status question.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from appeals import texts
from appeals.fields import validate_fields
from appeals.live import TOPICS, LiveTopics
from appeals.model import Priority
from appeals.numbers import parse_reference
from appeals.queries import QueryKind, StatusQuery, status_query
from appeals.store import APPEAL_STORE, Actor, Appeal, AppealStore
from appeals.views import plan_of
from gateway.channel_intake import MENUS
from gateway.events import Event, conversation_ref
from gateway.keys import DATABASE, RELAY
from gateway.menus.appeal_desk import APPEAL_DESK, MenuCaller
from gateway.model import Channel, ConversationStatus, Direction, utcnow
from gateway.storage.customers import phone_customer
from gateway.storage.database import Database
from gateway.storage.routing_state import emit, record_event
from gateway.storage.schema import (
    appeal_lookups,
    conversations,
    customers,
    identities,
    messages,
)
from gateway.storage.system_messages import tell_customer
from ivr.actions import AppealAnswer, AppealOutcome, AppealStatus, OpenAppeal

log = structlog.get_logger()

MAX_MISSES = 5  # numbers that found nothing, per asker, within the window
WINDOW = timedelta(minutes=15)
CLOSE_REASON = "appeal_status"  # a conversation that was only a status question
# Conversations a status question is answered in: not while the customer is with an operator
# (the operator answers), and not in a menu (the text menus ask the desk themselves).
ANSWERED_IN = (ConversationStatus.WAITING.value, ConversationStatus.OFFERED.value)
CLOSABLE = (ConversationStatus.WAITING.value, ConversationStatus.MENU.value)


class Outcome(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    LIMITED = "limited"
    ASK_NUMBER = "ask_number"  # a question without any number: "which one?"


@dataclass(frozen=True, slots=True)
class StatusReply:
    """The answer to one question: the outcome, what to write and what to say on the phone,
    and the appeal when it was found (the asker's own)."""

    outcome: Outcome
    written: str
    spoken: str
    appeal: Appeal | None = None


def _answer_key(message_id: int) -> str:
    """The dedupe key of the answer to one question: one answer per question, ever."""
    return f"appeal-status:{message_id}"


def asker_of(channel: str, address: str) -> str:
    return f"{channel}:{address}"[:340]


async def misses(conn: AsyncConnection, asker: str, now: datetime) -> int:
    """Numbers that found nothing for this asker within the window."""
    found = await conn.execute(
        select(func.count())
        .select_from(appeal_lookups)
        .where(appeal_lookups.c.asker == asker, appeal_lookups.c.created_at > now - WINDOW)
    )
    return int(found.scalar_one())


async def _count_miss(conn: AsyncConnection, asker: str, now: datetime) -> None:
    await conn.execute(
        delete(appeal_lookups).where(
            appeal_lookups.c.asker == asker, appeal_lookups.c.created_at <= now - WINDOW
        )
    )
    await conn.execute(appeal_lookups.insert().values(asker=asker, created_at=now))


class StatusDesk:
    """Answers status questions (and opens appeals for the menus): implements the menus'
    :class:`gateway.menus.appeal_desk.AppealDesk`."""

    def __init__(
        self,
        db: Database,
        store: AppealStore,
        topics: LiveTopics,
        nudge: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.store = store
        self.topics = topics
        self.nudge = nudge

    # -- the answer ---------------------------------------------------------------------------

    async def _own(self, customer_id: int | None, query: StatusQuery) -> Appeal | None:
        if customer_id is None or query.reference is None:
            return None
        appeal = await self.store.by_reference(query.reference)
        return appeal if appeal is not None and appeal.customer_id == customer_id else None

    async def _language(self, customer_id: int | None, language: str | None) -> str:
        """The asker's language when the question does not tell: their newest appeal's."""
        if language:
            return texts.language_of(language)
        if customer_id is not None:
            own = await self.store.of_customer(customer_id, limit=1)
            if own:
                return texts.language_of(own[0].language)
        return texts.DEFAULT_LANGUAGE

    async def _found(self, appeal: Appeal, language: str) -> StatusReply:
        config = await self.topics.current()
        topic = config.topic(appeal.topic)
        title = topic.title_in(language, appeal.language) if topic is not None else appeal.topic
        stages = topic.route if topic is not None else ()
        stage = stages[appeal.stage].name if 0 <= appeal.stage < len(stages) else None
        args = (language, appeal.reference, title, appeal.status, stage, appeal.updated_at)
        return StatusReply(
            Outcome.FOUND,
            texts.status_answer(*args, for_voice=False),
            texts.status_answer(*args, for_voice=True),
            appeal,
        )

    async def prepare(
        self, customer_id: int | None, query: StatusQuery, language: str | None
    ) -> StatusReply:
        """The answer as if the asker were not rate-limited (reads only); :meth:`settle`
        decides in the writing transaction."""
        if not query.has_number:
            lang = await self._language(customer_id, language)
            said = texts.ask_number(lang)
            return StatusReply(Outcome.ASK_NUMBER, said, said)
        appeal = await self._own(customer_id, query)
        if appeal is not None:
            return await self._found(appeal, texts.language_of(language or appeal.language))
        lang = await self._language(customer_id, language)
        said = texts.not_found(lang)
        return StatusReply(Outcome.NOT_FOUND, said, said)

    @staticmethod
    async def settle(
        conn: AsyncConnection, asker: str, reply: StatusReply, language: str, now: datetime
    ) -> StatusReply:
        """In the caller's transaction: the rate-limited answer when the asker missed too
        often lately (whatever the number), else the reply, with a miss counted."""
        if reply.outcome == Outcome.ASK_NUMBER:
            return reply
        if await misses(conn, asker, now) >= MAX_MISSES:
            said = texts.rate_limited(language)
            return StatusReply(Outcome.LIMITED, said, said)
        if reply.outcome == Outcome.NOT_FOUND:
            await _count_miss(conn, asker, now)
        return reply

    async def answer(
        self,
        channel: str,
        address: str,
        customer_id: int | None,
        query: StatusQuery,
        language: str | None,
        *,
        for_voice: bool = False,
    ) -> str:
        """The text for one status question from ``channel:address``, the identity of the
        customer ``customer_id`` (None: nobody known, nothing is found); a miss is counted."""
        reply = await self.reply(channel, address, customer_id, query, language)
        return reply.spoken if for_voice else reply.written

    async def reply(
        self,
        channel: str,
        address: str,
        customer_id: int | None,
        query: StatusQuery,
        language: str | None,
    ) -> StatusReply:
        prepared = await self.prepare(customer_id, query, language)
        lang = await self._language(customer_id, language)
        async with self.db.write() as conn:
            return await self.settle(conn, asker_of(channel, address), prepared, lang, utcnow())

    # -- a customer's message -------------------------------------------------------------------

    async def answer_message(
        self, message_id: int, language: str | None, *, numbers_expected: bool = False
    ) -> bool:
        """Answer a stored inbound message if it is a status question (True), in its
        conversation, and close the conversation if the question alone opened it. Safe to
        call twice for one message: the second call answers nothing again."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        messages.c.text,
                        messages.c.raw,
                        messages.c.attachments,
                        messages.c.direction,
                        messages.c.conversation_id,
                        conversations.c.status,
                        conversations.c.operator_id,
                        conversations.c.customer_id,
                        conversations.c.channel,
                        conversations.c.attributes,
                        identities.c.address,
                    )
                    .join(conversations, conversations.c.id == messages.c.conversation_id)
                    .join(identities, identities.c.id == conversations.c.identity_id)
                    .where(messages.c.id == message_id)
                )
            ).first()
            if row is None or row.direction != Direction.IN.value:
                return False
            answered = (
                await conn.execute(
                    select(messages.c.id).where(messages.c.dedupe_key == _answer_key(message_id))
                )
            ).first()
            if answered is not None:  # the event came again: answered once already
                return True
            total = (
                await conn.execute(
                    select(func.count())
                    .select_from(messages)
                    .where(messages.c.conversation_id == row.conversation_id)
                )
            ).scalar_one()
        if row.status not in (*ANSWERED_IN, ConversationStatus.MENU.value):
            return False  # with an operator (who answers), or closed
        raw = row.raw if isinstance(row.raw, dict) else {}
        subject = raw.get("subject") if row.channel == Channel.EMAIL.value else None
        query = status_query(
            row.text or "",
            subject if isinstance(subject, str) else None,
            attachments=bool(row.attachments),
        )
        if query is None or (numbers_expected and query.kind == QueryKind.NUMBER):
            return False
        attributes = row.attributes if isinstance(row.attributes, dict) else {}
        spoken_in = query.language or language or attributes.get("language") or None
        prepared = await self.prepare(row.customer_id, query, spoken_in)
        lang = await self._language(row.customer_id, spoken_in)
        # A question with a number (or the explicit command) is answered in full: nobody needs
        # to see it. One without a number ("the status of my appeal?") may need a person.
        explicit = query.has_number or query.kind == QueryKind.COMMAND
        alone = total == 1 and query.pure and explicit and row.operator_id is None
        now = utcnow()
        try:
            async with self.db.write() as conn:
                reply = await self.settle(
                    conn, asker_of(row.channel, row.address), prepared, lang, now
                )
                await tell_customer(
                    conn,
                    row.conversation_id,
                    row.channel,
                    reply.written,
                    now,
                    dedupe_key=_answer_key(message_id),
                )
                closed = alone and await self._close(conn, row.conversation_id, now)
        except IntegrityError:  # answered already (the event came twice)
            log.info("appeals.status.duplicate", message_id=message_id)
            return True
        self.nudge()
        log.info(
            "appeals.status.answered",
            message_id=message_id,
            conversation_id=row.conversation_id,
            outcome=reply.outcome.value,
            how=query.kind.value,
            closed=closed,
        )
        return True

    @staticmethod
    async def _close(conn: AsyncConnection, conversation_id: int, now: datetime) -> bool:
        """Close a conversation that was only the status question (as a routing rule's final
        notice closes one), if nobody took it meanwhile; the router forgets it on
        ``conversation.closed``."""
        done = await conn.execute(
            update(conversations)
            .where(
                conversations.c.id == conversation_id,
                conversations.c.status.in_(CLOSABLE),
                conversations.c.operator_id.is_(None),
            )
            .values(
                status=ConversationStatus.CLOSED.value, closed_at=now, close_reason=CLOSE_REASON
            )
        )
        if done.rowcount != 1:
            return False
        await record_event(conn, conversation_id, CLOSE_REASON, None)
        await emit(conn, Event.CLOSED, conversation_ref(conversation_id))
        return True

    # -- the menus' desk ------------------------------------------------------------------------

    async def _caller_customer(self, caller: MenuCaller, *, create: bool) -> int | None:
        """The customer in the menu: the conversation's on text channels; on the phone the
        one with this number (on any phone channel), created when ``create``."""
        if caller.conversation_id is not None:
            async with self.db.read() as conn:
                found = (
                    await conn.execute(
                        select(conversations.c.customer_id).where(
                            conversations.c.id == caller.conversation_id
                        )
                    )
                ).scalar()
            return int(found) if found is not None else None
        return await customer_for(self.db, caller.channel, caller.address, create=create)

    async def status(self, caller: MenuCaller, action: AppealStatus) -> AppealAnswer:
        digits = action.reference_digits
        query = StatusQuery(QueryKind.NUMBER, digits, parse_reference(digits), pure=True)
        try:
            customer_id = await self._caller_customer(caller, create=False)
            reply = await self.reply(
                caller.channel, caller.address, customer_id, query, action.language
            )
        except Exception:  # the menu must go on: its fallback
            log.exception("appeals.status.menu_failed", node=action.node)
            return AppealAnswer(AppealOutcome.FAILED)
        outcome = {
            Outcome.FOUND: AppealOutcome.FOUND,
            Outcome.NOT_FOUND: AppealOutcome.NOT_FOUND,
            Outcome.LIMITED: AppealOutcome.LIMITED,
        }.get(reply.outcome, AppealOutcome.FAILED)
        kept = {"appeal_status": reply.appeal.status} if reply.appeal is not None else {}
        log.info("appeals.status.menu", node=action.node, outcome=outcome.value)
        return AppealAnswer(outcome, reply.spoken, reply.written, kept)

    async def open(self, caller: MenuCaller, action: OpenAppeal) -> AppealAnswer:
        config = await self.topics.current()
        topic = config.topic(action.topic)
        if topic is None:
            log.error("appeals.menu.unknown_topic", topic=action.topic, node=action.node)
            return AppealAnswer(AppealOutcome.FAILED)
        language = texts.language_of(action.language)
        try:
            values = validate_fields(topic.fields, dict(action.fields or {}))
            customer_id = await self._caller_customer(caller, create=True)
            if customer_id is None:
                return AppealAnswer(AppealOutcome.FAILED)
            key = (
                f"ivr:{caller.call_sid}:{action.node}"
                if caller.conversation_id is None and caller.call_sid
                else None
            )
            appeal, created = await self.store.create(
                plan=plan_of(config, topic, action.topic),
                customer_id=customer_id,
                priority=Priority(action.priority) if action.priority else topic.priority,
                fields=values,
                summary=(action.summary or "")[:500],
                language=action.language,
                channel=caller.channel,
                conversation_id=caller.conversation_id,
                idempotency_key=key,
                actor=Actor.customer(caller.channel),
                now=utcnow(),
            )
        except Exception:  # refused fields, the store away: the menu's fallback
            log.exception("appeals.menu.open_failed", topic=action.topic, node=action.node)
            return AppealAnswer(AppealOutcome.FAILED)
        if created:
            self.nudge()
        title = topic.title_in(language, action.language)
        log.info("appeals.menu.opened", appeal_id=appeal.id, created=created, node=action.node)
        return AppealAnswer(
            AppealOutcome.OPENED,
            texts.registered(language, appeal.reference, title, for_voice=True),
            texts.registered(language, appeal.reference, title),
            {"appeal_reference": appeal.reference},
        )

    async def answer_text(
        self,
        caller: MenuCaller,
        message_id: int,
        text: str,
        language: str | None,
        *,
        numbers_expected: bool,
    ) -> bool:
        if status_query(text) is None:  # most messages: no need to read anything
            return False
        try:
            return await self.answer_message(
                message_id, language, numbers_expected=numbers_expected
            )
        except Exception:  # the message is stored: the menu takes it as usual
            log.exception("appeals.status.text_failed", message_id=message_id)
            return False


async def customer_for(db: Database, channel: str, address: str, *, create: bool) -> int | None:
    """The customer behind ``channel:address`` (for a phone number, whoever has it on any
    phone channel); when ``create``, a new customer for an address never heard of before."""
    for _ in range(2):
        async with db.read() as conn:
            known = await _identity_customer(conn, channel, address)
        if known is not None or not create:
            return known
        with contextlib.suppress(IntegrityError):  # created meanwhile: read it again
            async with db.write() as conn:
                return await _new_identity(conn, channel, address)
    return None


async def _identity_customer(conn: AsyncConnection, channel: str, address: str) -> int | None:
    found = (
        await conn.execute(
            select(identities.c.customer_id).where(
                identities.c.channel == channel, identities.c.address == address
            )
        )
    ).scalar()
    if found is not None:
        return int(found)
    return await phone_customer(conn, channel, address)


async def _new_identity(conn: AsyncConnection, channel: str, address: str) -> int:
    """The customer of a caller the gateway has never heard of (as intake would make them)."""
    now = utcnow()
    owner = await phone_customer(conn, channel, address)
    if owner is None:
        owner = int(
            (
                await conn.execute(
                    customers.insert()
                    .values(display_name=address, created_at=now)
                    .returning(customers.c.id)
                )
            ).scalar_one()
        )
    await conn.execute(
        identities.insert().values(
            customer_id=owner, channel=channel, address=address, created_at=now
        )
    )
    return owner


# -- wiring ------------------------------------------------------------------------------------


async def handle_inbound(app: web.Application, payload: dict[str, Any]) -> bool:
    """A customer's message (the ``conversation.message`` event, or the message in it): True
    when it was a status question and was answered. Messages on channels with a text menu
    are the menu's to give to the desk (gateway/menus/text_menus.py), so each message is
    looked at once."""
    message = payload.get("message") if isinstance(payload.get("message"), dict) else payload
    assert isinstance(message, dict)
    if payload.get("direction", message.get("direction")) != Direction.IN.value:
        return False
    channel = str(message.get("channel") or "")
    menus = app.get(MENUS)
    if channel == Channel.VOICE.value or (menus is not None and menus.menu_id(channel)):
        return False
    raw_id = payload.get("message_id", message.get("id"))
    if not isinstance(raw_id, int):
        return False
    return await app[STATUS_DESK].answer_message(raw_id, None)


async def on_message(app: web.Application, _key: str, payload: dict[str, Any]) -> None:
    """The appeals service's handler for ``conversation.message``."""
    await handle_inbound(app, payload)


STATUS_DESK = web.AppKey("appeal_status_desk", StatusDesk)


async def status_desk(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context (after the store and the topics): the desk, for the service and, as
    their appeals desk, for the IVR and text menus."""

    def nudge() -> None:  # the relay starts after the stores
        relay = app.get(RELAY)
        if relay is not None:
            relay.nudge()

    desk = StatusDesk(app[DATABASE], app[APPEAL_STORE], app[TOPICS], nudge)
    app[STATUS_DESK] = desk
    app[APPEAL_DESK] = desk
    yield
