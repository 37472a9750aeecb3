"""Appeals' deadlines, SLA clocks, the customer's replies and the live pushes, against a real
gateway. The clock is the test's: the ticks are called with the instant wanted (the gateway's
own ticker runs every 5 minutes here, and the instants are years ahead of it), never slept for.

The topics count business time in an office calendar (Berlin, Monday to Friday 08:00-18:00)
with a holiday on Monday 9 June 2031, so an appeal registered on Friday 6 June at 16:00 with a
4 hour stage has 2 hours that Friday and is due on Tuesday at 10:00.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from appeals.alerts import AlertKind, Passed, on_stage_timeout
from appeals.alerts_store import AlertStore
from appeals.deadlines import check_deadlines, consequence, send_staff_alerts
from appeals.live import TOPICS
from appeals.model import Action, Priority, RouteStage, TimeoutAction
from appeals.replies import close_resolved, on_customer_message, on_operator_reply
from appeals.store import APPEAL_STORE, Actor, Appeal, AppealStore, Plan
from appeals.views import plan_of
from gateway.keys import DATABASE, USERS
from gateway.model import Role, utcnow
from gateway.settings import Settings
from gateway.storage.schema import (
    appeal_conversations,
    appeal_notices,
    conversations,
    identities,
    messages,
)
from gateway.storage.system_messages import tell_customer
from tests.conftest import RunningGateway
from tests.support import Operator, make_settings, postgres_database, wait_for

BERLIN = ZoneInfo("Europe/Berlin")

ROUTING = """
skills: {billing: Bills and payments}
languages: [en]
operators:
  ben: {skills: {billing: 2}, languages: [en]}
queues:
  first_line: {}
  second_line: {target: {skills: {billing: 1}}}
  leads: {target: {skills: {billing: 4}}}
rules:
  - name: everything
    steps: [{queue: first_line, timeout_seconds: 600}]
    final: {action: callback}
"""

TOPICS_YAML = """
calendars:
  office:
    timezone: Europe/Berlin
    weekly: {mon: "08:00-18:00", tue: "08:00-18:00", wed: "08:00-18:00",
             thu: "08:00-18:00", fri: "08:00-18:00"}
    holidays: ["2031-06-09"]
settings:
  warn_share: 0.8
  reopen_hours: 48
topics:
  inquiry:
    title: {en: Inquiry}
    category: question
    notify_on: []  # these customers hear nothing (notices: tests/test_appeals_notices.py)
    calendar: office
    route:
      - {name: Desk, queue: first_line, max: 4h, may_resolve: true, on_timeout: warn}
  dispute:
    title: {en: Billing dispute}
    category: complaint
    notify_on: []
    calendar: office
    route:
      - {name: First line, queue: first_line, max: 4h, may_resolve: true, on_timeout: escalate}
      - {name: Second line, queue: second_line, max: 2h, may_resolve: true, on_timeout: escalate}
      - {name: Leads, queue: leads, max: 6h, may_resolve: true, on_timeout: notify}
    sla:
      first_response: {high: 2h}
      resolution: {high: 16h}
  outage:
    title: {en: Outage}
    category: incident
    notify_on: []
    route:
      - {name: Field team, queue: first_line, max: 1h, may_resolve: true, on_timeout: warn}
"""


def berlin(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """An instant of June 2031 on the office's wall clock."""
    return datetime(2031, 6, day, hour, minute, second, tzinfo=BERLIN)


def appeals_settings(
    tmp_path: Path, appeals: dict[str, Any] | None = None, **overrides: Any
) -> Settings:
    """A gateway with the routing and topics above, whose own ticker runs every 5 minutes."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    topics = tmp_path / "topics.yaml"
    topics.write_text(TOPICS_YAML)
    return make_settings(
        tmp_path,
        routing={"rules_file": str(routing)},
        appeals={"topics_file": str(topics), "tick_seconds": 300, **(appeals or {})},
        **overrides,
    )


@pytest.fixture
async def gw(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> RunningGateway:
    return await start_gateway(appeals_settings(tmp_path))


# -- helpers -----------------------------------------------------------------------------------


async def plan(gateway: RunningGateway, topic: str) -> Plan:
    config = await gateway.app[TOPICS].current()
    found = config.topic(topic)
    assert found is not None
    return plan_of(config, found, topic)


async def conversation(gateway: RunningGateway) -> tuple[int, int]:
    """A new web chat customer's conversation: (customer id, conversation id)."""
    customer = await gateway.customer()
    ack = await customer.say("hello, about my bill")
    await customer.close()
    async with gateway.app[DATABASE].read() as conn:
        customer_id = (
            await conn.execute(
                select(conversations.c.customer_id).where(
                    conversations.c.id == ack["conversation_id"]
                )
            )
        ).scalar_one()
    return int(customer_id), int(ack["conversation_id"])


async def register(
    gateway: RunningGateway,
    topic: str,
    at: datetime,
    *,
    priority: Priority = Priority.NORMAL,
    with_conversation: bool = False,
) -> Appeal:
    customer_id, conversation_id = await conversation(gateway)
    appeal, created = await gateway.app[APPEAL_STORE].create(
        plan=await plan(gateway, topic),
        customer_id=customer_id,
        priority=priority,
        fields={},
        summary="",
        language="en",
        channel="webchat",
        conversation_id=conversation_id if with_conversation else None,
        idempotency_key=None,
        actor=Actor.system(),
        now=at,
    )
    assert created
    return appeal


async def act(
    gateway: RunningGateway,
    appeal: Appeal,
    action: Action,
    at: datetime,
    owner_id: int | None = None,
    reason: str | None = None,
) -> Appeal:
    store: AppealStore = gateway.app[APPEAL_STORE]
    current = await store.get(appeal.id)
    assert current is not None
    return await store.apply(
        appeal.id,
        current.version,
        action,
        plan=await plan(gateway, appeal.topic),
        actor=Actor(owner_id, "staff"),
        now=at,
        owner_id=owner_id,
        reason=reason,
    )


async def reload(gateway: RunningGateway, appeal: Appeal) -> Appeal:
    found = await gateway.app[APPEAL_STORE].get(appeal.id)
    assert found is not None
    return found


async def detail(gateway: RunningGateway, appeal: Appeal) -> dict[str, list[dict[str, Any]]]:
    return await gateway.app[APPEAL_STORE].detail(appeal.id)


async def history_actions(gateway: RunningGateway, appeal: Appeal) -> list[str]:
    return [h["action"] for h in (await detail(gateway, appeal))["history"]]


async def alert_kinds(gateway: RunningGateway, appeal: Appeal) -> list[str]:
    return [a["kind"] for a in (await detail(gateway, appeal))["alerts"]]


def customer_wrote(conversation_id: int, at: datetime, text: str = "here it is") -> dict[str, Any]:
    """A ``conversation.message`` payload as intake publishes it."""
    return {
        "conversation_id": conversation_id,
        "message_id": 1,
        "direction": "in",
        "new_conversation": False,
        "message": {
            "id": 1,
            "conversation_id": conversation_id,
            "direction": "in",
            "author": "customer",
            "text": text,
            "created_at": at.isoformat(),
            "channel": "webchat",
        },
    }


async def tick(gateway: RunningGateway, now: datetime) -> None:
    await check_deadlines(gateway.app, now)


# -- pure --------------------------------------------------------------------------------------


def test_the_last_stage_notifies_instead_of_escalating() -> None:
    route = (
        RouteStage("One", "a", 60, False, TimeoutAction.ESCALATE),
        RouteStage("Two", "b", 60, True, TimeoutAction.ESCALATE),
    )
    assert on_stage_timeout(route, 0) == TimeoutAction.ESCALATE
    assert on_stage_timeout(route, 1) == TimeoutAction.NOTIFY
    assert AlertKind.STAGE_WARNING.mark_column == "stage_warned_at"
    assert AlertKind.RESOLUTION_BREACH.due_column == "resolution_due_at"
    assert AlertKind.FIRST_RESPONSE_BREACH.history_action == "sla_breach"


async def test_a_missed_sla_target_is_told_to_the_supervisors_at_opening(
    gw: RunningGateway,
) -> None:
    """A resolution or first-response target missed at night (Friday 20:00) is held until the
    calendar opens (Monday 08:00, the 9th being a holiday: Tuesday); a warning only shows."""
    appeal = await register(gw, "dispute", berlin(6, 9))
    dispute = await plan(gw, "dispute")
    friday_night = berlin(6, 20)
    for kind in (AlertKind.RESOLUTION_BREACH, AlertKind.FIRST_RESPONSE_BREACH):
        action, notify_at = consequence(appeal, Passed(kind, friday_night), dispute, friday_night)
        assert (action, notify_at) == (TimeoutAction.NOTIFY, berlin(10, 8))
    warning = consequence(
        appeal, Passed(AlertKind.RESOLUTION_WARNING, friday_night), dispute, friday_night
    )
    assert warning == (TimeoutAction.WARN, None)


# -- stage deadlines ---------------------------------------------------------------------------


async def _warning_and_breach_once(gateway: RunningGateway) -> None:
    appeal = await register(gateway, "inquiry", berlin(6, 16))
    # 2 hours on Friday, nothing on the weekend and the holiday Monday, 2 on Tuesday.
    assert appeal.stage_due_at == berlin(10, 10)
    assert appeal.stage_warn_at == berlin(10, 9, 12)  # 80 % of 4 h: 3 h 12 min of office time

    for quiet in (berlin(7, 12), berlin(9, 12), berlin(10, 9, 11, 59)):
        await asyncio.gather(tick(gateway, quiet), tick(gateway, quiet))
        assert await alert_kinds(gateway, appeal) == [], quiet

    await asyncio.gather(tick(gateway, berlin(10, 9, 12)), tick(gateway, berlin(10, 9, 12)))
    await tick(gateway, berlin(10, 9, 30))
    assert await alert_kinds(gateway, appeal) == ["stage_warning"]
    assert (await history_actions(gateway, appeal)).count("stage_warning") == 1
    warned = await reload(gateway, appeal)
    assert warned.stage_warned_at == berlin(10, 9, 12)
    assert warned.stage_breached_at is None
    assert warned.version == appeal.version, "an alert is no change an operator must reload for"

    await asyncio.gather(tick(gateway, berlin(10, 10)), tick(gateway, berlin(10, 10)))
    await tick(gateway, berlin(10, 11))
    details = await detail(gateway, appeal)
    assert [(a["kind"], a["action"]) for a in details["alerts"]] == [
        ("stage_warning", "warn"),
        ("stage_breach", "warn"),
    ]
    breaches = [h for h in details["history"] if h["action"] == "stage_breach"]
    assert len(breaches) == 1 and breaches[0]["actor"] == "system"
    after = await reload(gateway, appeal)
    assert (after.stage, after.status, after.stage_breached_at) == (0, "awaiting", berlin(10, 10))


async def test_stage_warning_and_breach_across_a_weekend_and_a_holiday_once(
    gw: RunningGateway,
) -> None:
    await _warning_and_breach_once(gw)


async def test_two_instances_ticking_at_once_on_postgresql_record_each_deadline_once(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> None:
    databases = cast(AsyncGenerator[str, None], postgres_database())
    url = await databases.__anext__()
    started: list[RunningGateway] = []
    try:
        settings = appeals_settings(tmp_path, database={"url": url})
        started.append(await start_gateway(settings))
        started.append(await start_gateway(settings.model_copy(update={"instance_name": "second"})))
        first, second = started
        appeal = await register(first, "dispute", berlin(6, 16))
        due = berlin(10, 10)
        assert appeal.stage_due_at == due
        await asyncio.gather(
            check_deadlines(first.app, due),
            check_deadlines(second.app, due),
            check_deadlines(first.app, due),
            check_deadlines(second.app, due),
        )
        details = await detail(first, appeal)
        assert [a["kind"] for a in details["alerts"]] == ["stage_warning", "stage_breach"]
        actions = [h["action"] for h in details["history"]]
        assert actions.count("stage_warning") == 1 and actions.count("stage_breach") == 1
        assert actions.count("escalate") == 1, actions
        after = await reload(first, appeal)
        assert (after.stage, after.queue) == (1, "second_line")
    finally:
        for gateway in started:  # before their database goes
            await gateway.server.close()
        await databases.aclose()


async def test_a_deadline_read_before_the_appeal_moved_on_is_not_recorded_again(
    gw: RunningGateway,
) -> None:
    """One instance read the appeal in its first stage, then an operator advanced it and another
    instance recorded the resolution warning in the second stage: the late one records nothing
    (the alert's key names another stage, the appeal's mark says it is done)."""
    appeal = await register(gw, "dispute", berlin(3, 9), priority=Priority.HIGH)
    assert appeal.resolution_warn_at == berlin(4, 11, 48)  # 80 % of 16 office hours
    ben = await gw.app[USERS].add("ben", "ben-password", Role.OPERATOR)
    await act(gw, appeal, Action.TAKE, berlin(3, 9, 5), owner_id=ben.id)
    stale = await reload(gw, appeal)
    await act(gw, appeal, Action.ADVANCE, berlin(4, 11, 49), owner_id=ben.id)
    await tick(gw, berlin(4, 11, 50))
    assert stale.resolution_warn_at is not None
    recorded = await AlertStore(gw.app[APPEAL_STORE]).record(
        stale,
        Passed(AlertKind.RESOLUTION_WARNING, stale.resolution_warn_at),
        action=TimeoutAction.WARN,
        notify_at=None,
        now=berlin(4, 11, 50),
    )
    assert not recorded
    alerts = [a for a in (await detail(gw, appeal))["alerts"] if a["kind"] == "resolution_warning"]
    assert [a["stage"] for a in alerts] == [1]
    assert (await history_actions(gw, appeal)).count("sla_warning") == 2  # and first response's


async def test_escalate_moves_to_the_next_stage_with_a_fresh_clock_and_the_last_notifies_at_opening(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]],
    tmp_path: Path,
    relay: Relay,
) -> None:
    gateway = await start_gateway(
        appeals_settings(
            tmp_path,
            email={"enabled": True, "port": 0, "relay_port": relay.port},
            appeals={"staff_emails": ["leads@example.com", "ops@example.com"]},
        )
    )
    sue = await gateway.operator("sue", Role.SUPERVISOR, state=None)
    olga = await gateway.operator("olga", state=None)
    appeal = await register(gateway, "dispute", berlin(6, 16))

    await asyncio.gather(tick(gateway, berlin(10, 10)), tick(gateway, berlin(10, 10)))
    second = await reload(gateway, appeal)
    assert (second.stage, second.queue, second.status, second.owner_id) == (
        1,
        "second_line",
        "awaiting",
        None,
    )
    assert second.stage_since == berlin(10, 10)
    assert second.stage_due_at == berlin(10, 12)  # 2 h from the escalation, not from Friday
    assert second.stage_warned_at is None and second.stage_breached_at is None
    escalations = [
        h for h in (await detail(gateway, appeal))["history"] if h["action"] == "escalate"
    ]
    assert len(escalations) == 1 and escalations[0]["actor"] == "system"

    await tick(gateway, berlin(10, 12))
    last = await reload(gateway, appeal)
    assert (last.stage, last.queue, last.stage_due_at) == (2, "leads", berlin(10, 18))

    # The last stage's deadline passes at closing time: the supervisors hear of it at opening.
    await tick(gateway, berlin(10, 18))
    [notice] = [a for a in (await detail(gateway, appeal))["alerts"] if a["action"] == "notify"]
    assert notice["kind"] == "stage_breach" and notice["stage"] == 2
    assert (await reload(gateway, appeal)).stage == 2, "the last stage stays"
    for night in (berlin(10, 18), berlin(10, 23), berlin(11, 7, 59, 59)):
        await send_staff_alerts(gateway.app, night)
    [held] = await AlertStore(gateway.app[APPEAL_STORE]).due_notices(berlin(11, 8))
    assert held["notified_at"] is None
    assert datetime.fromisoformat(held["notify_at"]) == berlin(11, 8)  # Wednesday's opening

    await asyncio.gather(
        send_staff_alerts(gateway.app, berlin(11, 8)), send_staff_alerts(gateway.app, berlin(11, 8))
    )
    frame = await wait_for(lambda: [f for f in sue.frames if f["type"] == "appeal_alert"])
    assert len(frame) == 1
    assert frame[0]["alert"]["appeal_id"] == appeal.id
    assert frame[0]["alert"]["kind"] == "stage_breach"
    mail = await wait_for(lambda: relay.received)
    assert len(mail) == 1
    assert sorted(mail[0]["To"].addresses[i].addr_spec for i in range(2)) == [
        "leads@example.com",
        "ops@example.com",
    ]
    assert appeal.reference[:3] in mail[0]["Subject"]
    assert await AlertStore(gateway.app[APPEAL_STORE]).due_notices(berlin(12, 8)) == []
    await send_staff_alerts(gateway.app, berlin(12, 8))
    assert [f["type"] for f in olga.frames].count("appeal_alert") == 0, "operators are not told"
    assert len([f for f in sue.frames if f["type"] == "appeal_alert"]) == 1
    assert len(relay.received) == 1


# -- SLA ---------------------------------------------------------------------------------------


async def test_sla_pauses_while_pending_the_customer_and_resumes_on_their_reply(
    gw: RunningGateway,
) -> None:
    appeal = await register(
        gw, "dispute", berlin(3, 9), priority=Priority.HIGH, with_conversation=True
    )
    assert appeal.first_response_due_at == berlin(3, 11)
    assert appeal.resolution_due_at == berlin(4, 15)  # 9 h on Tuesday, 7 on Wednesday
    ben = await gw.app[USERS].add("ben", "ben-password", Role.OPERATOR)
    await act(gw, appeal, Action.TAKE, berlin(3, 9, 5), owner_id=ben.id)

    await tick(gw, berlin(3, 11))  # nobody answered the customer in 2 hours
    assert await alert_kinds(gw, appeal) == ["first_response_warning", "first_response_breach"]
    assert (await history_actions(gw, appeal)).count("sla_breach") == 1

    await act(gw, appeal, Action.WAIT_CUSTOMER, berlin(3, 11, 30), reason="the bill's number")
    paused = await reload(gw, appeal)
    assert paused.resolution_left == 13.5 * 3600  # 11:30-18:00 and 08:00-15:00

    # Past the resolution deadline, the clock is stopped: nothing is late.
    await tick(gw, berlin(4, 16))
    assert "resolution_breach" not in await alert_kinds(gw, appeal)

    assert appeal.conversation_id is not None
    # A message written before the appeal went pending (delivered late) resumes nothing.
    await on_customer_message(
        gw.app, "conversation.message", customer_wrote(appeal.conversation_id, berlin(3, 11))
    )
    assert (await reload(gw, appeal)).status == "pending_customer"

    reply = customer_wrote(appeal.conversation_id, berlin(4, 10))
    await on_customer_message(gw.app, "conversation.message", reply)
    resumed = await reload(gw, appeal)
    assert (resumed.status, resumed.owner_id, resumed.paused_at) == ("in_progress", ben.id, None)
    # Paused 6.5 + 2 office hours: the deadline moves from Wednesday 15:00 by that much.
    assert resumed.resolution_due_at == berlin(5, 13, 30)
    [pause] = (await detail(gw, appeal))["pauses"]
    assert pause["ended_by"] == "customer"
    assert datetime.fromisoformat(pause["ended_at"]) == berlin(4, 10)
    [resume] = [h for h in (await detail(gw, appeal))["history"] if h["action"] == "resume"]
    assert (resume["actor"], resume["channel"]) == ("customer", "webchat")

    await on_customer_message(gw.app, "conversation.message", reply)  # the event again
    assert (await reload(gw, appeal)).version == resumed.version

    await tick(gw, berlin(5, 13, 30))
    assert (await alert_kinds(gw, appeal))[-1] == "resolution_breach"


async def test_the_customer_writing_resumes_the_appeal_end_to_end(gw: RunningGateway) -> None:
    ada = await gw.operator("ada")
    ada.auto_accept = True
    customer = await gw.customer()
    await customer.say("my bill is wrong")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    conversation_id = offer["conversation_id"]
    await wait_for(lambda: "my bill is wrong" in ada.texts("in"))
    async with gw.http.post(
        f"{gw.base}/api/appeals",
        json={"topic": "dispute", "conversation_id": conversation_id, "priority": "high"},
        headers=ada.headers,
    ) as resp:
        assert resp.status == 201, await resp.text()
        body = (await resp.json())["appeal"]
    for action in ({"action": "take"}, {"action": "wait_customer", "reason": "your bill number"}):
        async with gw.http.post(
            f"{gw.base}/api/appeals/{body['id']}/actions",
            json={**action, "expected_version": body["version"]},
            headers=ada.headers,
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = (await resp.json())["appeal"]
    assert body["status"] == "pending_customer"

    await customer.say("it is 4711")

    async def resumed() -> dict[str, Any] | None:
        got = await ada.get(f"/api/appeals/{body['id']}")
        return got["appeal"] if got["appeal"]["status"] == "in_progress" else None

    appeal = await wait_for(resumed)
    assert appeal["pauses"][0]["ended_by"] == "customer"
    await customer.close()


async def test_first_response_is_an_operators_reply_and_never_a_system_message(
    gw: RunningGateway,
) -> None:
    ada = await gw.operator("ada")
    ada.auto_accept = True
    customer = await gw.customer()
    await customer.say("nothing works")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    conversation_id = offer["conversation_id"]
    await wait_for(lambda: "nothing works" in ada.texts("in"))
    async with gw.http.post(
        f"{gw.base}/api/appeals",
        json={"topic": "dispute", "conversation_id": conversation_id, "priority": "high"},
        headers=ada.headers,
    ) as resp:
        assert resp.status == 201, await resp.text()
        appeal_id = (await resp.json())["appeal"]["id"]
    store: AppealStore = gw.app[APPEAL_STORE]

    # The gateway's own message to the customer (as a menu or a notice sends it).
    async with gw.app[DATABASE].write() as conn:
        await tell_customer(conn, conversation_id, "webchat", "We registered it.", utcnow())
    await wait_for(
        lambda: any(m["text"] == "We registered it." for m in customer.received.values())
    )
    await on_operator_reply(
        gw.app,
        "outbound.webchat",
        {
            "conversation_id": conversation_id,
            "message_id": 1,
            "operator_id": None,
            "message": {"created_at": utcnow().isoformat(), "author": "system"},
        },
    )
    found = await store.get(appeal_id)
    assert found is not None and found.first_response_at is None

    reply = await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "first-answer-1",
            "text": "On it",
        }
    )
    assert reply["ok"], reply

    async def answered() -> Appeal | None:
        got = await store.get(appeal_id)
        return got if got is not None and got.first_response_at is not None else None

    appeal = await wait_for(answered)
    async with gw.app[DATABASE].read() as conn:
        sent_at = (
            await conn.execute(
                select(messages.c.created_at).where(
                    messages.c.conversation_id == conversation_id, messages.c.text == "On it"
                )
            )
        ).scalar_one()
    assert appeal.first_response_at == sent_at
    assert appeal.first_response_due_at is not None
    marked = [h for h in (await detail(gw, appeal))["history"] if h["action"] == "first_response"]
    assert [(h["actor"], h["detail"]["late"]) for h in marked] == [("ada", False)]
    await tick(gw, appeal.first_response_due_at + timedelta(seconds=1))
    kinds = [a["kind"] for a in (await store.detail(appeal_id))["alerts"]]
    assert not [k for k in kinds if k.startswith("first_response")], kinds
    await customer.close()


# -- reopening and closing ----------------------------------------------------------------------


async def test_the_customers_reply_reopens_within_the_window_and_not_after(
    gw: RunningGateway,
) -> None:
    appeal = await register(gw, "dispute", berlin(3, 9), with_conversation=True)
    assert appeal.conversation_id is not None
    ben = await gw.app[USERS].add("ben", "ben-password", Role.OPERATOR)
    await act(gw, appeal, Action.TAKE, berlin(3, 9, 5), owner_id=ben.id)
    await act(gw, appeal, Action.RESOLVE, berlin(3, 12), owner_id=ben.id)

    await on_customer_message(
        gw.app, "conversation.message", customer_wrote(appeal.conversation_id, berlin(4, 12))
    )
    reopened = await reload(gw, appeal)
    assert (reopened.status, reopened.stage, reopened.owner_id) == ("awaiting", 0, None)
    assert reopened.resolved_at is None and reopened.stage_since == berlin(4, 12)
    [entry] = [h for h in (await detail(gw, appeal))["history"] if h["action"] == "reopen"]
    assert entry["actor"] == "customer"

    await act(gw, appeal, Action.TAKE, berlin(4, 12, 5), owner_id=ben.id)
    await act(gw, appeal, Action.RESOLVE, berlin(4, 13), owner_id=ben.id)
    await close_resolved(gw.app, berlin(6, 12, 59))  # 47 h 59 min: still open to a reply
    assert (await reload(gw, appeal)).status == "resolved"

    late = berlin(6, 13, 0, 1)  # 48 h and a second after resolving
    await on_customer_message(
        gw.app, "conversation.message", customer_wrote(appeal.conversation_id, late)
    )
    assert (await reload(gw, appeal)).status == "resolved", "a closed matter stays closed"
    await asyncio.gather(close_resolved(gw.app, late), close_resolved(gw.app, late))
    closed = await reload(gw, appeal)
    assert (closed.status, closed.closed_at) == ("closed", late)
    closes = [h for h in (await detail(gw, appeal))["history"] if h["action"] == "close"]
    assert len(closes) == 1 and closes[0]["actor"] == "system"
    await on_customer_message(
        gw.app, "conversation.message", customer_wrote(appeal.conversation_id, late)
    )
    assert (await reload(gw, appeal)).status == "closed"


async def test_a_reply_to_the_resolution_notice_in_a_new_conversation_reopens(
    gw: RunningGateway,
) -> None:
    """SMS, WhatsApp, Telegram and web chat carry no thread: the customer's answer to "your
    appeal is resolved" starts a new conversation, which joins the appeal and reopens it when
    the notice reached that very identity within the window."""
    appeal = await register(gw, "dispute", berlin(3, 9), with_conversation=True)
    ben = await gw.app[USERS].add("ben", "ben-password", Role.OPERATOR)
    await act(gw, appeal, Action.TAKE, berlin(3, 9, 5), owner_id=ben.id)
    await act(gw, appeal, Action.RESOLVE, berlin(3, 12), owner_id=ben.id)
    other_customer, elsewhere = await conversation(gw)
    async with gw.app[DATABASE].write() as conn:
        first = (
            await conn.execute(
                select(conversations).where(conversations.c.id == appeal.conversation_id)
            )
        ).one()
        # The resolution notice went to the customer's identity (notices: test_appeals_notices).
        await conn.execute(
            appeal_notices.insert().values(
                appeal_id=appeal.id, key="resolved:1", event="resolved", chain=[], attempt=0,
                channel="webchat", identity_id=first.identity_id, state="sent",
                created_at=berlin(3, 12), updated_at=berlin(3, 12),
            )
        )  # fmt: skip
        again = (
            await conn.execute(
                conversations.insert()
                .values(
                    customer_id=first.customer_id, identity_id=first.identity_id,
                    channel="webchat", status="waiting", queue="general", priority=0,
                    created_at=berlin(4, 12), waiting_since=berlin(4, 12),
                )
                .returning(conversations.c.id)
            )
        ).scalar_one()  # fmt: skip
        # The same customer on a channel the notice did not reach.
        sms = (
            await conn.execute(
                identities.insert()
                .values(customer_id=first.customer_id, channel="sms", address="+15550007777",
                        created_at=berlin(3, 9))
                .returning(identities.c.id)
            )
        ).scalar_one()  # fmt: skip
        unrelated = (
            await conn.execute(
                conversations.insert()
                .values(
                    customer_id=first.customer_id, identity_id=sms, channel="sms",
                    status="waiting", queue="general", priority=0, created_at=berlin(4, 10),
                    waiting_since=berlin(4, 10),
                )
                .returning(conversations.c.id)
            )
        ).scalar_one()  # fmt: skip
    await on_customer_message(
        gw.app,
        "conversation.message",
        {**customer_wrote(unrelated, berlin(4, 10)), "new_conversation": True},
    )
    # Another customer's new conversation, and a message that is not a new conversation's
    # first, change nothing.
    await on_customer_message(
        gw.app,
        "conversation.message",
        {**customer_wrote(elsewhere, berlin(4, 11)), "new_conversation": True},
    )
    await on_customer_message(
        gw.app, "conversation.message", customer_wrote(again, berlin(4, 11, 30))
    )
    assert (await reload(gw, appeal)).status == "resolved"
    await on_customer_message(
        gw.app,
        "conversation.message",
        {**customer_wrote(again, berlin(4, 12)), "new_conversation": True},
    )
    reopened = await reload(gw, appeal)
    assert (reopened.status, reopened.stage_since) == ("awaiting", berlin(4, 12))
    async with gw.app[DATABASE].read() as conn:
        gathered = (
            (
                await conn.execute(
                    select(appeal_conversations.c.conversation_id).where(
                        appeal_conversations.c.appeal_id == appeal.id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted(gathered) == sorted([appeal.conversation_id, again])
    assert other_customer != first.customer_id


# -- restart -----------------------------------------------------------------------------------


async def test_a_gateway_restart_in_the_middle_of_a_stage_keeps_every_deadline(
    start_gateway: Callable[[Settings], Awaitable[RunningGateway]], tmp_path: Path
) -> None:
    settings = appeals_settings(tmp_path)
    before = await start_gateway(settings)
    inquiry = await register(before, "inquiry", berlin(6, 16))
    dispute = await register(before, "dispute", berlin(6, 16), priority=Priority.HIGH)
    await tick(before, berlin(10, 9, 30))  # the stage warnings (and the first response's)
    kept = [await reload(before, inquiry), await reload(before, dispute)]
    # This instance stops right after recording the dispute's breach, before escalating it.
    alerts = AlertStore(before.app[APPEAL_STORE])
    assert kept[1].stage_due_at is not None
    assert await alerts.record(
        kept[1],
        Passed(AlertKind.STAGE_BREACH, kept[1].stage_due_at),
        action=TimeoutAction.ESCALATE,
        notify_at=None,
        now=berlin(10, 10),
    )
    await before.http.close()
    await before.server.close()

    after = await start_gateway(settings)
    again = await reload(after, inquiry)
    assert again == kept[0], "every deadline and mark as it was"
    assert (await reload(after, dispute)).stage_due_at == kept[1].stage_due_at

    await asyncio.gather(tick(after, berlin(10, 10)), tick(after, berlin(10, 10)))
    assert await alert_kinds(after, inquiry) == ["stage_warning", "stage_breach"]
    moved = await reload(after, dispute)
    assert (moved.stage, moved.queue) == (1, "second_line"), "the owed escalation was made"
    actions = await history_actions(after, dispute)
    assert actions.count("stage_breach") == 1 and actions.count("escalate") == 1


# -- live pushes and the overview -------------------------------------------------------------


def appeal_frames(operator: Operator, appeal_id: int) -> list[dict[str, Any]]:
    return [f for f in operator.frames if f["type"] == "appeal" and f["appeal_id"] == appeal_id]


async def test_changes_are_pushed_to_the_owner_the_queue_and_the_supervisors(
    gw: RunningGateway,
) -> None:
    ben = await gw.operator("ben", state=None)  # works in every queue but leads
    olga = await gw.operator("olga", state=None)  # in first_line only (no billing skill)
    sue = await gw.operator("sue", Role.SUPERVISOR, state=None)
    appeal = await register(gw, "dispute", utcnow())
    for op in (ben, olga, sue):
        await wait_for(lambda op=op: appeal_frames(op, appeal.id))
    [first] = appeal_frames(olga, appeal.id)
    assert (first["action"], first["queue"], first["status"]) == (
        "register",
        "first_line",
        "awaiting",
    )
    assert first["appeal"]["reference"] == appeal.reference

    now = utcnow()
    await act(gw, appeal, Action.ESCALATE, now)  # to second_line: not olga's queue
    await wait_for(lambda: len(appeal_frames(ben, appeal.id)) == 2)
    await wait_for(lambda: len(appeal_frames(sue, appeal.id)) == 2)
    assert olga.user_id is not None  # type: ignore[attr-defined]
    await act(gw, appeal, Action.TAKE, now, owner_id=olga.user_id)  # type: ignore[attr-defined]
    await wait_for(lambda: len(appeal_frames(olga, appeal.id)) == 2)
    await act(gw, appeal, Action.REASSIGN, now, owner_id=ben.user_id)  # type: ignore[attr-defined]
    await wait_for(lambda: len(appeal_frames(olga, appeal.id)) == 3)  # as the owner before
    assert [f["action"] for f in appeal_frames(olga, appeal.id)] == ["register", "take", "reassign"]
    assert appeal_frames(olga, appeal.id)[-1]["owner_id"] == ben.user_id  # type: ignore[attr-defined]
    await wait_for(lambda: len(appeal_frames(sue, appeal.id)) == 4)


async def test_the_overview_counts_late_and_nearly_late_appeals_per_queue(
    gw: RunningGateway,
) -> None:
    sue = await gw.operator("sue", Role.SUPERVISOR, state=None)
    olga = await gw.operator("olga", state=None)
    now = utcnow()
    late = await register(gw, "outage", now - timedelta(hours=2))
    nearly = await register(gw, "outage", now - timedelta(minutes=50))
    await register(gw, "outage", now)
    waiting = await register(gw, "dispute", now)
    await act(gw, waiting, Action.TAKE, now, owner_id=olga.user_id)  # type: ignore[attr-defined]
    await act(gw, waiting, Action.WAIT_CUSTOMER, now, reason="the meter reading")
    await tick(gw, now)
    async with gw.http.get(f"{gw.base}/api/appeals/overview", headers=olga.headers) as resp:
        assert resp.status == 403
    body = await sue.get("/api/appeals/overview")
    queues = {q["queue"]: q for q in body["queues"]}
    assert set(queues) == {"first_line", "second_line", "leads"}
    first_line = queues["first_line"]
    assert (first_line["open"], first_line["awaiting"], first_line["in_progress"]) == (4, 3, 0)
    assert (first_line["pending"], first_line["pending_customer"]) == (1, 1)
    assert (first_line["late"], first_line["nearly_late"]) == (1, 1)
    assert queues["leads"]["open"] == 0
    shown = [(a["appeal_id"], a["kind"]) for a in body["alerts"]]
    assert (late.id, "stage_breach") in shown and (nearly.id, "stage_warning") in shown
    assert (late.id, "stage_warning") not in shown, "a warning gives way to its breach"
    assert [a["id"] for a in body["alerts"]] == sorted(
        (a["id"] for a in body["alerts"]), reverse=True
    )


# -- a relay for staff mail ------------------------------------------------------------------


class Relay:
    """An SMTP relay on loopback that keeps what it is given."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    relay = Relay()
    relay.server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(relay), "127.0.0.1", 0
    )
    yield relay
    relay.server.close()
    await relay.server.wait_closed()
