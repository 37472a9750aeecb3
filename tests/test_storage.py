"""The store on both supported databases: SQLite (embedded) and PostgreSQL (the local server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from channels.registry import CHANNELS
from gateway.model import Channel, InboundMessage, OperatorState, Role, utcnow
from gateway.storage.conversations import ConversationStore
from gateway.storage.database import Database
from gateway.storage.intake import accept_inbound
from gateway.storage.migrate import upgrade_async
from gateway.storage.routing_rules import RuleStore
from gateway.storage.routing_state import RoutingState
from gateway.storage.schema import conversations, messages, outbox
from gateway.storage.users import UserExists, UserStore
from routing.escalation import Placement
from routing.strategy import Media, WaitingContact
from tests.support import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        urls: AsyncIterator[str] | None = None
        url = f"sqlite+aiosqlite:///{tmp_path}/store.sqlite3"
    else:
        urls = postgres_database()
        url = await urls.__anext__()
    await upgrade_async(url)
    db = Database(url)
    yield db
    await db.dispose()
    if urls is not None:
        await urls.aclose()


def _message(
    text: str, sender: str = "v_customer-aaaaaaaaaaaa", provider_id: str = ""
) -> InboundMessage:
    return InboundMessage(
        channel=Channel.WEBCHAT,
        sender=sender,
        text=text,
        provider_message_id=provider_id or uuid.uuid4().hex,
    )


async def _count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_intake_stores_message_and_outbox_once(db: Database) -> None:
    first = await accept_inbound(db, _message("hi"), dedupe_key="k1", queue="general")
    again = await accept_inbound(db, _message("hi"), dedupe_key="k1", queue="general")
    assert first.created and not again.created
    assert again.message_id == first.message_id
    assert await _count(db, messages) == 1
    assert await _count(db, outbox) == 1


async def test_concurrent_duplicates_store_one_message(db: Database) -> None:
    results = await asyncio.gather(
        *(accept_inbound(db, _message("same"), dedupe_key="dup", queue="general") for _ in range(8))
    )
    assert len({r.message_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await _count(db, messages) == 1


async def test_conversation_threading_and_resolution(db: Database) -> None:
    a = await accept_inbound(db, _message("one"), dedupe_key="a", queue="general")
    b = await accept_inbound(db, _message("two"), dedupe_key="b", queue="general")
    other = await accept_inbound(
        db, _message("x", sender="v_someone-else-bbbbbbbb"), dedupe_key="c", queue="general"
    )
    assert a.conversation_id == b.conversation_id != other.conversation_id
    assert a.customer_id == b.customer_id != other.customer_id
    store = ConversationStore(db)
    assert await store.resolve(a.conversation_id, None)
    assert not await store.resolve(a.conversation_id, None)
    c = await accept_inbound(db, _message("three"), dedupe_key="d", queue="general")
    assert c.conversation_id != a.conversation_id and c.customer_id == a.customer_id
    history = await store.messages(a.conversation_id)
    assert [m.text for m in history] == ["one", "two"]
    assert history[0].created_at.tzinfo is not None


async def _waiting(db: Database) -> list[WaitingContact]:
    """The waiting line, once every new contact has been put on the one rule's first step."""
    rules = RuleStore(db, CHANNELS.media_of)
    first = Placement("default", 0, "general", 0)
    await rules.place([(u.conversation_id, first) for u in await rules.unrouted()])
    return [item.contact for item in await rules.in_line(affinity_seconds=0, cooldown_seconds=60)]


async def test_offer_accept_decline_are_compare_and_set(db: Database) -> None:
    users = UserStore(db)
    ada = await users.add("ada", "password-ada", Role.OPERATOR)
    grace = await users.add("grace", "password-grace", Role.OPERATOR)
    with pytest.raises(UserExists):
        await users.add("ada", "another-one", Role.OPERATOR)
    state = RoutingState(db)
    for user in (ada, grace):
        await state.connected(user.id, "i1")
        await state.set_state(user.id, OperatorState.AVAILABLE)
    accepted = await accept_inbound(db, _message("help"), dedupe_key="h", queue="general")
    (waiting,) = await _waiting(db)
    assert waiting.conversation_id == accepted.conversation_id

    expires = utcnow() + timedelta(seconds=30)
    offer_id = await state.create_offer(accepted.conversation_id, ada.id, expires)
    assert offer_id is not None
    assert await state.create_offer(accepted.conversation_id, grace.id, expires) is None
    assert (await state.accept(offer_id, grace.id)).reason == "not_found"
    assert await state.decline(offer_id, ada.id) == accepted.conversation_id
    assert await state.decline(offer_id, ada.id) is None
    (again,) = await _waiting(db)
    assert again.cooling_down == frozenset({ada.id})  # out for the policy's cool-down

    offer2 = await state.create_offer(accepted.conversation_id, grace.id, expires)
    assert offer2 is not None
    won = await asyncio.gather(state.accept(offer2, grace.id), state.accept(offer2, grace.id))
    assert sorted(r.ok for r in won) == [False, True]
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(conversations.c.status, conversations.c.operator_id).where(
                    conversations.c.id == accepted.conversation_id
                )
            )
        ).one()
    assert (row.status, row.operator_id) == ("assigned", grace.id)
    operators = {
        op.operator_id: op for op in await RuleStore(db, CHANNELS.media_of).available_operators()
    }
    assert operators[grace.id].load == {Media.CHAT: 1} and operators[ada.id].load == {}

    # A supervisor closing a conversation still on offer ends the offer as well.
    other = await accept_inbound(
        db, _message("on offer", sender="v_on-offer-cccccccccccc"), dedupe_key="o", queue="general"
    )
    pending = await state.create_offer(other.conversation_id, ada.id, expires)
    assert pending is not None
    assert await ConversationStore(db).resolve(other.conversation_id, None)
    assert await state.pending_offers(ada.id) == []
    assert (await state.accept(pending, ada.id)).reason == "offer_revoked"


async def test_expired_offers_and_stale_operators(db: Database) -> None:
    users = UserStore(db)
    ada = await users.add("ada", "password-ada", Role.OPERATOR)
    state = RoutingState(db)
    await state.connected(ada.id, "i1")
    await state.set_state(ada.id, OperatorState.AVAILABLE)
    accepted = await accept_inbound(db, _message("late"), dedupe_key="l", queue="general")
    offer_id = await state.create_offer(
        accepted.conversation_id, ada.id, utcnow() - timedelta(seconds=1)
    )
    assert offer_id is not None
    (expired,) = await state.expire_due()
    assert expired.id == offer_id
    assert await state.away_after_missed([expired], limit=2) == []  # one miss: still available
    assert await state.away_after_missed([expired], limit=2) == [ada.id]  # two in a row: away
    assert await state.state_of(ada.id) == "away"
    await state.set_state(ada.id, OperatorState.AVAILABLE)
    assert (await state.accept(offer_id, ada.id)).reason == "offer_expired"
    assert [w.conversation_id for w in await _waiting(db)] == [accepted.conversation_id]
    assert await state.mark_stale_offline(utcnow() + timedelta(seconds=1)) == [ada.id]
    assert await state.state_of(ada.id) == "offline"

    # An offline operator's assigned conversation goes back to the front of the line.
    offer_id = await state.create_offer(
        accepted.conversation_id, ada.id, utcnow() + timedelta(seconds=30)
    )
    assert offer_id is not None and (await state.accept(offer_id, ada.id)).ok
    assert await state.release_abandoned(utcnow() - timedelta(hours=1)) == []
    released = await state.release_abandoned(utcnow() + timedelta(seconds=1))
    assert released == [(accepted.conversation_id, ada.id)]
    (waiting,) = await _waiting(db)
    assert waiting.conversation_id == accepted.conversation_id and waiting.priority == 1


async def test_sessions_and_tokens(db: Database) -> None:
    users = UserStore(db)
    sam = await users.add("sam", "password-sam", Role.SUPERVISOR, "Sam")
    assert await users.check_password("sam", "wrong") is None
    assert await users.check_password("nobody", "password-sam") is None
    assert (await users.check_password("sam", "password-sam")) == sam
    session = await users.create_session(sam, timedelta(hours=1))
    assert (await users.session(session.token)).user == sam  # type: ignore[union-attr]
    await users.end_session(session.token)
    assert await users.session(session.token) is None
    expired = await users.create_session(sam, timedelta(seconds=-1))
    assert await users.session(expired.token) is None
    token = await users.create_api_token(sam, "ci")
    assert await users.user_for_api_token(token) == sam
    assert await users.user_for_api_token(token + "x") is None


async def test_group_intake_batches_and_dedupes(db: Database) -> None:
    from gateway.storage.group_intake import IntakeWriter

    writer = IntakeWriter(db)
    runner = asyncio.create_task(writer.run())
    try:
        first = await writer.accept(_message("before"), dedupe_key="old", queue="general")
        senders = [f"v_batch-sender-{n:04d}-aaaa" for n in range(5)]
        results = await asyncio.gather(
            *(
                writer.accept(
                    _message(f"{s} {i}", sender=s), dedupe_key=f"{s}:{i}", queue="general"
                )
                for s in senders
                for i in range(3)
            ),
            writer.accept(_message("again"), dedupe_key="old", queue="general"),
            writer.accept(_message("twin"), dedupe_key="twin", queue="general"),
            writer.accept(_message("twin"), dedupe_key="twin", queue="general"),
        )
    finally:
        runner.cancel()
    *fresh, again, twin1, twin2 = results
    assert all(r.created for r in fresh) and len({r.message_id for r in fresh}) == 15
    assert not again.created and again.message_id == first.message_id
    assert twin1.message_id == twin2.message_id and [twin1.created, twin2.created] == [True, False]
    # One conversation per sender, shared by all of that sender's messages.
    by_sender: dict[int, set[int]] = {}
    for r in fresh:
        by_sender.setdefault(r.customer_id, set()).add(r.conversation_id)
    assert len(by_sender) == 5 and all(len(c) == 1 for c in by_sender.values())
    assert await _count(db, messages) == 1 + 15 + 1
    assert await _count(db, outbox) == 1 + 15 + 1
    history = await ConversationStore(db).messages(fresh[0].conversation_id)
    assert [m.text for m in history] == [f"{senders[0]} {i}" for i in range(3)]


async def test_a_long_line_in_one_queue_does_not_hide_another(db: Database) -> None:
    rules = RuleStore(db, CHANNELS.media_of)
    placed = []
    for n in range(6):
        accepted = await accept_inbound(
            db, _message(f"c{n}", sender=f"v_line-{n}-aaaaaaaaaaaa"), dedupe_key=f"l{n}", queue="q"
        )
        queue = "busy" if n < 5 else "quiet"
        placed.append((accepted.conversation_id, Placement("r", 0, queue, 0)))
    assert await rules.place(placed) == 6
    assert await rules.place(placed) == 0  # already placed: a second decision changes nothing
    line = await rules.in_line(affinity_seconds=0, per_queue=3)
    assert [item.queue for item in line] == ["busy", "busy", "busy", "quiet"]
    assert [item.contact.conversation_id for item in line[:3]] == [p[0] for p in placed[:3]]
