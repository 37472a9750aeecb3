"""Appeals as work in the shared capacity model, offered by the gateway like a contact: the
pure choice and capacity rules, then a real gateway whose dispatcher tick is called with the
instant wanted (its own ticker runs every 5 minutes here), never slept for.

The billing queue's operators have the ``billing`` skill; ``dan`` has none. ``fay`` may work
on one appeal at a time; everyone else has the default appeal capacity (5). Operators are
heard of for 2 minutes after their console last reported (``operator_stale_seconds``), so a
tick half a minute ahead, for an expired offer, still sees them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from appeals.dispatch import (
    DEFAULT_APPEAL_CAPACITY,
    Worker,
    appeal_capacity,
    at_capacity_reason,
    choose,
    offered,
    worker,
)
from appeals.live import TOPICS
from appeals.model import Dispatch, Priority
from appeals.offers import dispatch_offers, offer_order
from appeals.store import APPEAL_STORE, Actor, Appeal
from appeals.topics import parse_topics
from appeals.views import plan_of
from gateway.keys import DATABASE
from gateway.model import Role, utcnow
from gateway.settings import Settings
from gateway.storage.schema import appeals, conversations, customers, identities
from routing.config import parse_routing
from routing.strategy import Media
from tests.conftest import RunningGateway
from tests.support import Operator, make_settings, postgres_database, wait_for

ROUTING = """
skills: {billing: Bills}
operators:
  ann: {skills: {billing: 1}}
  ben: {skills: {billing: 1}}
  dan: {skills: {}}
  fay: {skills: {billing: 1}, capacity: {appeal: 1}}
queues:
  first_line: {}
  billing: {target: {skills: {billing: 1}}}
rules:
  - name: all
    steps: [{queue: first_line, timeout_seconds: 600}]
    final: {action: callback}
"""

TOPICS_YAML = """
topics:
  dispute:
    title: {en: Billing dispute}
    category: complaint
    notify_on: []  # these customers hear nothing (notices: tests/test_appeals_notices.py)
    route:
      - {name: Billing, queue: billing, max: 8h, may_resolve: false, dispatch: offer}
      - {name: Desk, queue: first_line, max: 8h, may_resolve: true}
  question:
    title: {en: A question}
    category: question
    notify_on: []
    route:
      - {name: Billing, queue: billing, max: 4h, may_resolve: true}
"""

TIMEOUT = 30.0


# -- the pure rules ------------------------------------------------------------------------------


def _routing(extra: str = "") -> Any:
    return parse_routing(yaml.safe_load(ROUTING + extra), "routing.yaml")


def test_appeal_capacity_comes_from_the_routing_and_is_not_the_routers() -> None:
    config = _routing()
    assert appeal_capacity(config, "ann") == DEFAULT_APPEAL_CAPACITY == 5
    assert appeal_capacity(config, "fay") == 1
    assert appeal_capacity(config, "nobody") == 5
    assert Media.APPEAL not in config.capacity_of("fay")
    assert Media.APPEAL not in config.capacity_of("ann")
    named = _routing("default_capacity: {voice: 1, chat: 2, appeal: 3}\n")
    assert appeal_capacity(named, "ann") == 3 and appeal_capacity(named, "fay") == 1
    assert named.capacity_of("ann") == {Media.VOICE: 1, Media.CHAT: 2}


def test_the_choice_skips_the_full_the_busy_on_a_call_and_who_passed() -> None:
    config = _routing()
    early = datetime(2030, 1, 1, tzinfo=UTC)
    ann = worker(config, 1, "ann", idle_since=early + timedelta(minutes=5))
    ben = worker(config, 2, "ben", idle_since=early + timedelta(minutes=1))
    dan = worker(config, 3, "dan", idle_since=early)
    fay = worker(config, 4, "fay", idle_since=early, in_progress=1)
    pool = [ann, ben, dan, fay]
    # dan is not in the queue, fay is full: ben has been idle the longest of the rest.
    assert choose(pool, config=config, queue="billing") == ben
    assert choose(pool, config=config, queue="billing", passed={2}) == ann
    assert choose(pool, config=config, queue="billing", passed={1, 2}) is None
    assert choose(pool, config=config, queue="first_line") == dan
    # One offer waiting is the limit; a call blocks appeal work like any other media.
    assert choose([offered(ben), ann], config=config, queue="billing") == ann
    on_call = Worker(2, "ben", 5, voice=1)
    assert on_call.room() == 0 and choose([on_call], config=config, queue="billing") is None
    assert "on a call" in (at_capacity_reason(on_call) or "")
    assert "1 at once" in (at_capacity_reason(fay) or "")
    assert at_capacity_reason(ann) is None
    # The least busy first when the policy says so; pending offers count as load there.
    least = _routing("policy: {choice: least_busy, max_pending_offers: {appeal: 2}}\n")
    busy_ben = worker(least, 2, "ben", idle_since=early, in_progress=2)
    assert choose([ann, busy_ben], config=least, queue="billing") == ann
    assert choose([offered(offered(ann)), busy_ben], config=least, queue="billing") == busy_ben


def test_stages_say_how_they_dispatch() -> None:
    config = parse_topics(yaml.safe_load(TOPICS_YAML), "topics.yaml", ["billing", "first_line"])
    dispute = config.topic("dispute")
    assert dispute is not None
    assert [s.dispatch for s in dispute.route_stages()] == [Dispatch.OFFER, Dispatch.PICK]


# -- against a gateway -----------------------------------------------------------------------


def offers_settings(tmp_path: Path, **overrides: Any) -> Settings:
    (tmp_path / "routing.yaml").write_text(ROUTING)
    (tmp_path / "topics.yaml").write_text(TOPICS_YAML)
    return make_settings(
        tmp_path,
        routing={
            "rules_file": str(tmp_path / "routing.yaml"),
            "offer_timeout_seconds": TIMEOUT,
            "operator_stale_seconds": 120,
        },
        appeals={"topics_file": str(tmp_path / "topics.yaml"), "tick_seconds": 300},
        **overrides,
    )


@pytest.fixture
async def gw(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> RunningGateway:
    return await start_gateway(offers_settings(tmp_path))


async def register(gateway: RunningGateway, topic: str, **extra: Any) -> Appeal:
    async with gateway.app[DATABASE].write() as conn:
        customer_id = (
            await conn.execute(
                customers.insert()
                .values(display_name="Pat", created_at=utcnow())
                .returning(customers.c.id)
            )
        ).scalar_one()
    config = await gateway.app[TOPICS].current()
    found = config.topic(topic)
    assert found is not None
    appeal, created = await gateway.app[APPEAL_STORE].create(
        plan=plan_of(config, found, topic),
        customer_id=customer_id,
        priority=extra.get("priority", Priority.NORMAL),
        fields={},
        summary="",
        language="en",
        channel=None,
        conversation_id=None,
        idempotency_key=None,
        actor=Actor.system(),
        now=extra.get("at", utcnow()),
    )
    assert created
    return appeal


async def reload(gateway: RunningGateway, appeal: Appeal) -> Appeal:
    found = await gateway.app[APPEAL_STORE].get(appeal.id)
    assert found is not None
    return found


async def history(gateway: RunningGateway, appeal: Appeal) -> list[dict[str, Any]]:
    return (await gateway.app[APPEAL_STORE].detail(appeal.id))["history"]


async def call(
    gateway: RunningGateway, method: str, path: str, who: Operator, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with gateway.http.request(
        method, f"{gateway.base}{path}", headers=who.headers, json=body
    ) as resp:
        return resp.status, await resp.json()


async def act(
    gateway: RunningGateway, who: Operator, appeal: Appeal, action: str, **extra: Any
) -> tuple[int, dict[str, Any]]:
    current = await reload(gateway, appeal)
    body = {"action": action, "expected_version": current.version, **extra}
    return await call(gateway, "POST", f"/api/appeals/{appeal.id}/actions", who, body)


def uid(operator: Operator) -> int:
    return int(operator.user_id)  # type: ignore[attr-defined]


def pushed(operator: Operator, kind: str) -> list[dict[str, Any]]:
    return [f for f in operator.frames if f["type"] == kind]


async def test_an_appeal_is_offered_to_an_available_operator_of_its_queue_with_room(
    gw: RunningGateway,
) -> None:
    ann = await gw.operator("ann", state="away")
    dan = await gw.operator("dan")  # available, but not in the billing queue
    fay = await gw.operator("fay")  # in the queue, with room for one appeal
    question = await register(gw, "question")
    status, body = await act(gw, fay, question, "take")
    assert status == 200, body  # fay is full now
    ben = await gw.operator("ben")  # idle for the shortest time, but the only one left
    dispute = await register(gw, "dispute")
    picked = await register(gw, "question")  # a stage that does not offer

    now = utcnow()
    await dispatch_offers(gw.app, now)
    offered_now = await reload(gw, dispute)
    assert offered_now.offered_to == uid(ben)
    assert offered_now.offer_expires_at == now + timedelta(seconds=TIMEOUT)
    assert offered_now.version == dispute.version, "an offer is no change to reload for"
    assert (await reload(gw, picked)).offered_to is None
    [frame] = await wait_for(lambda: pushed(ben, "appeal_offer"))
    assert frame["appeal"]["id"] == dispute.id
    assert frame["appeal"]["offered_to"] == uid(ben)
    assert frame["expires_at"] == offered_now.offer_expires_at.isoformat()
    [row] = [h for h in await history(gw, dispute) if h["action"] == "offered"]
    assert (row["actor"], row["detail"]["operator_id"]) == ("system", uid(ben))
    assert (row["from_status"], row["to_status"]) == ("awaiting", "awaiting")
    for other in (ann, dan, fay):
        assert pushed(other, "appeal_offer") == []

    # The appeal's JSON says so, and a tick again changes nothing.
    status, body = await call(gw, "GET", f"/api/appeals/{dispute.id}", ben)
    assert status == 200
    assert body["appeal"]["offered_to"] == uid(ben)
    assert body["appeal"]["offer_expires_at"] == offered_now.offer_expires_at.isoformat()
    await dispatch_offers(gw.app, now + timedelta(seconds=1))
    assert len([h for h in await history(gw, dispute) if h["action"] == "offered"]) == 1

    # Accepting is taking it: the offer ends, and nobody's offer is revoked.
    status, body = await act(gw, ben, dispute, "take")
    assert status == 200, body
    assert body["appeal"]["owner_id"] == uid(ben)
    assert body["appeal"]["offered_to"] is None and body["appeal"]["offer_expires_at"] is None
    [take] = [h for h in body["appeal"]["history"] if h["action"] == "take"]
    assert "offer_revoked_to" not in take["detail"]
    for client in (ann, dan, fay, ben):
        await client.close()


async def test_nobody_heard_of_lately_is_offered_anything(gw: RunningGateway) -> None:
    ben = await gw.operator("ben")
    dispute = await register(gw, "dispute")
    await dispatch_offers(gw.app, utcnow() + timedelta(minutes=3))  # past their last report
    assert (await reload(gw, dispute)).offered_to is None
    await ben.close()


async def test_a_decline_offers_it_to_the_next_and_never_again_to_them_at_this_stage(
    gw: RunningGateway,
) -> None:
    ann = await gw.operator("ann")
    ben = await gw.operator("ben")
    sam = await gw.operator("sam", role=Role.SUPERVISOR, state=None)
    dispute = await register(gw, "dispute")
    path = f"/api/appeals/{dispute.id}/decline"
    now = utcnow()

    await dispatch_offers(gw.app, now)
    assert (await reload(gw, dispute)).offered_to == uid(ann)  # idle the longest
    # Only the one it is offered to may decline it.
    for other in (ben, sam):
        status, body = await call(gw, "POST", path, other)
        assert (status, body["error"]) == (404, "not_found")
    status, body = await call(gw, "POST", path, ann)
    assert status == 200, body
    assert body["appeal"]["offered_to"] is None
    declined = await reload(gw, dispute)
    assert (declined.offer_passed, declined.version) == ([uid(ann)], dispute.version)
    [row] = [h for h in await history(gw, dispute) if h["action"] == "declined"]
    assert (row["actor"], row["actor_id"]) == ("api:ann", uid(ann))  # a token: the API
    assert (await call(gw, "POST", path, ann))[0] == 404  # nothing to decline any more

    await dispatch_offers(gw.app, now + timedelta(seconds=1))
    assert (await reload(gw, dispute)).offered_to == uid(ben)
    await wait_for(lambda: pushed(ben, "appeal_offer"))
    assert (await call(gw, "POST", path, ben))[0] == 200
    await dispatch_offers(gw.app, now + timedelta(seconds=2))
    after = await reload(gw, dispute)
    assert after.offered_to is None and after.offer_passed == [uid(ann), uid(ben)]

    # A new stage forgets who passed: a supervisor's escalation, then back by a send back.
    status, body = await act(gw, sam, dispute, "take", owner_id=uid(ann))
    assert status == 200, body
    status, body = await act(gw, ann, dispute, "advance")
    assert status == 200, body
    assert (await reload(gw, dispute)).offer_passed is None
    status, body = await act(gw, sam, dispute, "take", owner_id=uid(ben))
    assert status == 200, body
    status, body = await act(gw, ben, dispute, "send_back", reason="needs the bill")
    assert status == 200, body
    await dispatch_offers(gw.app, now + timedelta(seconds=3))
    assert (await reload(gw, dispute)).offered_to in (uid(ann), uid(ben))
    for client in (ann, ben, sam):
        await client.close()


async def test_who_released_an_appeal_is_not_offered_it_back(gw: RunningGateway) -> None:
    ann = await gw.operator("ann")
    ben = await gw.operator("ben")
    dispute = await register(gw, "dispute")
    now = utcnow()
    await dispatch_offers(gw.app, now)
    assert (await reload(gw, dispute)).offered_to == uid(ann)
    assert (await act(gw, ann, dispute, "take"))[0] == 200
    assert (await act(gw, ann, dispute, "release"))[0] == 200
    await dispatch_offers(gw.app, now + timedelta(seconds=1))
    after = await reload(gw, dispute)
    assert (after.offered_to, after.offer_passed) == (uid(ben), [uid(ann)])
    for client in (ann, ben):
        await client.close()


async def test_an_unanswered_offer_is_missed_revoked_and_offered_to_the_next(
    gw: RunningGateway,
) -> None:
    ann = await gw.operator("ann")
    ben = await gw.operator("ben")
    dispute = await register(gw, "dispute")
    now = utcnow()
    await dispatch_offers(gw.app, now)
    assert (await reload(gw, dispute)).offered_to == uid(ann)

    await dispatch_offers(gw.app, now + timedelta(seconds=TIMEOUT - 1))
    assert (await reload(gw, dispute)).offered_to == uid(ann)  # not yet
    await dispatch_offers(gw.app, now + timedelta(seconds=TIMEOUT))
    after = await reload(gw, dispute)
    assert (after.offered_to, after.offer_passed) == (uid(ben), [uid(ann)])
    [revoked] = await wait_for(lambda: pushed(ann, "appeal_offer_revoked"))
    assert revoked == {
        "type": "appeal_offer_revoked",
        "appeal_id": dispute.id,
        "reference": dispute.reference,
        "reason": "missed",
    }
    await wait_for(lambda: pushed(ben, "appeal_offer"))
    actions = [(h["action"], h["actor"]) for h in await history(gw, dispute)]
    assert actions[-3:] == [
        ("offered", "system"),
        ("offer_missed", "system"),
        ("offered", "system"),
    ]
    assert (await reload(gw, dispute)).version == dispute.version

    # Ben's offer ends when ann takes the appeal from the list: his console is told.
    status, body = await act(gw, ann, dispute, "take")
    assert status == 200, body
    assert body["appeal"]["offered_to"] is None
    [take] = [h for h in body["appeal"]["history"] if h["action"] == "take"]
    assert take["detail"]["offer_revoked_to"] == uid(ben)
    [taken] = await wait_for(lambda: pushed(ben, "appeal_offer_revoked"))
    assert (taken["appeal_id"], taken["reason"]) == (dispute.id, "taken")
    for client in (ann, ben):
        await client.close()


async def test_the_most_urgent_appeal_is_offered_first(gw: RunningGateway) -> None:
    ann = await gw.operator("ann")
    now = utcnow()
    # The same deadline: the higher priority first.
    normal = await register(gw, "dispute", at=now)
    urgent = await register(gw, "dispute", priority=Priority.URGENT, at=now)
    late = await register(gw, "dispute", at=now - timedelta(hours=9))
    assert [a.id for a in offer_order([normal, urgent, late], now)] == [
        late.id,
        urgent.id,
        normal.id,
    ]
    await dispatch_offers(gw.app, now)  # one offer at a time: the late one
    assert [(await reload(gw, a)).offered_to for a in (late, urgent, normal)] == [
        uid(ann),
        None,
        None,
    ]
    await ann.close()


async def test_an_operator_at_capacity_cannot_take_but_a_supervisor_can_assign(
    gw: RunningGateway,
) -> None:
    fay = await gw.operator("fay")
    sam = await gw.operator("sam", role=Role.SUPERVISOR, state=None)
    first, second = await register(gw, "question"), await register(gw, "question")
    assert (await act(gw, fay, first, "take"))[0] == 200

    status, body = await act(gw, fay, second, "take")
    assert (status, body["error"]) == (409, "at_capacity")
    assert "1 at once" in body["reason"], body
    assert (await reload(gw, second)).status == "awaiting"
    dispute = await register(gw, "dispute")
    await dispatch_offers(gw.app, utcnow())
    assert (await reload(gw, dispute)).offered_to is None  # full: offered to nobody

    # A supervisor may give her more than her capacity: their choice.
    status, body = await act(gw, sam, second, "take", owner_id=uid(fay))
    assert status == 200, body
    assert body["appeal"]["owner_id"] == uid(fay)

    # An appeal waiting for the customer is not work in progress.
    assert (await act(gw, fay, first, "wait_customer", reason="the bill"))[0] == 200
    assert (await act(gw, fay, second, "wait_customer", reason="the bill"))[0] == 200
    assert (await act(gw, fay, dispute, "take"))[0] == 200
    for client in (fay, sam):
        await client.close()


async def _on_a_call(gateway: RunningGateway, operator: Operator) -> int:
    """A phone call the operator is on (the conversation the voice channel would hold)."""
    now = utcnow()
    async with gateway.app[DATABASE].write() as conn:
        customer_id = (
            await conn.execute(customers.insert().values(created_at=now).returning(customers.c.id))
        ).scalar_one()
        identity_id = (
            await conn.execute(
                identities.insert()
                .values(customer_id=customer_id, channel="voice", address="+15557654321",
                        created_at=now)
                .returning(identities.c.id)
            )
        ).scalar_one()  # fmt: skip
        return int(
            (
                await conn.execute(
                    conversations.insert()
                    .values(
                        customer_id=customer_id,
                        identity_id=identity_id,
                        channel="voice",
                        status="assigned",
                        queue="first_line",
                        rule="all",
                        priority=0,
                        created_at=now,
                        operator_id=uid(operator),
                    )
                    .returning(conversations.c.id)
                )
            ).scalar_one()
        )


async def test_a_call_in_progress_blocks_appeal_work(gw: RunningGateway) -> None:
    ann = await gw.operator("ann")
    ben = await gw.operator("ben")
    call_id = await _on_a_call(gw, ann)
    dispute, question = await register(gw, "dispute"), await register(gw, "question")

    await dispatch_offers(gw.app, utcnow())
    assert (await reload(gw, dispute)).offered_to == uid(ben)  # ann is idle longer, on a call
    status, body = await act(gw, ann, question, "take")
    assert (status, body["error"]) == (409, "at_capacity")
    assert "on a call" in body["reason"]

    async with gw.app[DATABASE].write() as conn:
        await conn.execute(
            update(conversations).where(conversations.c.id == call_id).values(status="closed")
        )
    assert (await act(gw, ann, question, "take"))[0] == 200
    for client in (ann, ben):
        await client.close()


async def test_two_instances_ticking_at_once_on_postgresql_offer_once(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> None:
    databases = cast(AsyncGenerator[str, None], postgres_database())
    url = await databases.__anext__()
    started: list[RunningGateway] = []
    clients: list[Operator] = []
    try:
        settings = offers_settings(tmp_path, database={"url": url})
        started.append(await start_gateway(settings))
        started.append(await start_gateway(settings.model_copy(update={"instance_name": "second"})))
        first, second = started
        clients += [await first.operator("ann"), await first.operator("ben")]
        appeals = [await register(first, "dispute") for _ in range(3)]
        now = utcnow()
        await asyncio.gather(
            *(dispatch_offers(gw.app, now) for gw in (first, second, first, second))
        )
        offered_to = []
        for appeal in appeals:
            rows = [h for h in await history(first, appeal) if h["action"] == "offered"]
            offered_to += [(await reload(first, appeal)).offered_to]
            assert len(rows) <= 1, (appeal.id, rows)
        # Each operator holds one offer at most: two of the three appeals are offered.
        assert sorted(o for o in offered_to if o is not None) == sorted(map(uid, clients))
        assert offered_to.count(None) == 1
    finally:
        for client in clients:
            await client.close()
        for gateway in started:  # before their database goes
            await gateway.server.close()
        await databases.aclose()


async def test_the_same_tick_twice_at_once_offers_once(gw: RunningGateway) -> None:
    ann = await gw.operator("ann")
    ben = await gw.operator("ben")
    dispute = await register(gw, "dispute")
    now = utcnow()
    await asyncio.gather(dispatch_offers(gw.app, now), dispatch_offers(gw.app, now))
    rows = [h for h in await history(gw, dispute) if h["action"] == "offered"]
    assert len(rows) == 1, rows
    assert (await reload(gw, dispute)).offered_to == rows[0]["detail"]["operator_id"]
    for client in (ann, ben):
        await client.close()


async def test_a_take_made_while_an_offer_commits_ends_that_offer_on_postgresql(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> None:
    """Another instance's offer lands between the take's read and its write: the take must
    not leave the offer behind on an appeal in progress, and the operator is told."""
    databases = cast(AsyncGenerator[str, None], postgres_database())
    url = await databases.__anext__()
    gateway: RunningGateway | None = None
    clients: list[Operator] = []
    other = create_async_engine(url)
    try:
        gateway = await start_gateway(offers_settings(tmp_path, database={"url": url}))
        ann, ben = await gateway.operator("ann"), await gateway.operator("ben")
        clients += [ann, ben]
        appeal = await register(gateway, "dispute")
        async with other.connect() as conn:
            transaction = await conn.begin()
            await conn.execute(  # the other instance's offer, not committed yet
                update(appeals)
                .where(appeals.c.id == appeal.id)
                .values(offered_to=uid(ann), offer_expires_at=utcnow() + timedelta(minutes=1))
            )
            take = asyncio.ensure_future(act(gateway, ben, appeal, "take"))

            async def blocked() -> bool:
                await conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # a fresh view
                waiting = await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE 'UPDATE appeals%'"
                    )
                )
                return bool(waiting.scalar())

            await wait_for(blocked)  # the take read the appeal and waits to write it
            await transaction.commit()
        status, body = await take
        assert status == 200, body
        after = await reload(gateway, appeal)
        assert (after.status, after.owner_id) == ("in_progress", uid(ben))
        assert (after.offered_to, after.offer_expires_at) == (None, None)
        [row] = [h for h in await history(gateway, appeal) if h["action"] == "take"]
        assert row["detail"]["offer_revoked_to"] == uid(ann)
        [revoked] = await wait_for(lambda: pushed(ann, "appeal_offer_revoked"))
        assert (revoked["appeal_id"], revoked["reason"]) == (appeal.id, "taken")
    finally:
        await other.dispose()
        for client in clients:
            await client.close()
        if gateway is not None:
            await gateway.server.close()
        await databases.aclose()
