"""Notices to the customer about their appeal, against a gateway with a local Telegram Bot API
and a local Twilio: once per event, on the appeal's conversation first, then on the customer's
other channels in the topics' order (opted-out ones left out), a call-back task when no channel
reaches them, and in the appeal's language."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select, update

from appeals.notice_store import Identity, Reach, Recipient
from appeals.notices import (
    WEBCHAT_WAIT_SECONDS,
    build_chain,
    move_unreached,
    notice_event,
    notice_text,
    on_appeal_changed,
)
from appeals.numbers import format_reference
from appeals.service import HANDLERS
from appeals.store import Appeal
from appeals.topics import NoticeEvent, load_topics_text
from gateway.events import Event
from gateway.keys import DATABASE, INTAKE, OUTBOUND, RELAY, USERS
from gateway.model import Channel, InboundMessage, Role, utcnow
from gateway.storage.routing_state import emit
from gateway.storage.schema import (
    appeal_notices,
    conversations,
    customers,
    identities,
    messages,
)
from tests.conftest import RunningGateway
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, blocked
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.support import make_settings, wait_for

CHAT = 987654321
PHONE = "+4915123456789"
OUR_NUMBER = "+15550001111"

TOPICS = """
settings:
  notice_channels: [telegram, sms, whatsapp, email]
  callback_queue: general
topics:
  billing:
    title: {en: Billing dispute, ru: Спор по счёту}
    category: complaint
    route:
      - {name: First line, queue: general, max: 4h, may_resolve: true}
    notify_on: [registered, resolved]
    notices:
      resolved:
        ru: "Обращение {reference} ({topic}) решено. Спасибо, {customer}!"
"""


@pytest.fixture
async def fake_telegram(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeTelegram:
    fake = FakeTelegram()
    fake.server = await aiohttp_server(fake.app())
    return fake


@pytest.fixture
async def fake_twilio(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeTwilio:
    fake = FakeTwilio()
    fake.server = await aiohttp_server(fake.app())
    return fake


@pytest.fixture
async def gw(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
) -> RunningGateway:
    topics = tmp_path / "topics.yaml"
    topics.write_text(TOPICS, encoding="utf-8")
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0, "public_url": "https://gw.example.com"},
        telegram={
            "bot_token": BOT_TOKEN,
            "webhook_secret": "s3cret-token-for-the-webhook_0123",
            "api_base_url": fake_telegram.api_base_url,
            "retry_delays_seconds": [0.2],
        },
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": fake_twilio.base_url,
            "sms_from": OUR_NUMBER,
            "whatsapp_from": OUR_NUMBER,
            "default_region": "DE",
            "retry_delays_seconds": [0.2],
        },
        appeals={"topics_file": str(topics), "tick_seconds": 0.2},
    )
    return await start_gateway(settings)


class Supervisor:
    def __init__(self, gateway: RunningGateway, token: str) -> None:
        self.gateway = gateway
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        gateway = self.gateway
        async with gateway.http.request(
            method, f"{gateway.base}{path}", json=body, headers=self.headers
        ) as resp:
            assert resp.status == status, (path, resp.status, await resp.text())
            return await resp.json()

    async def appeal(self, appeal_id: int) -> dict[str, Any]:
        return dict((await self.call("GET", f"/api/appeals/{appeal_id}"))["appeal"])

    async def act(self, appeal: dict[str, Any], action: str) -> dict[str, Any]:
        body = {"action": action, "expected_version": appeal["version"]}
        answer = await self.call("POST", f"/api/appeals/{appeal['id']}/actions", body)
        return dict(answer["appeal"])


async def _supervisor(gateway: RunningGateway) -> Supervisor:
    users = gateway.app[USERS]
    user = await users.add("sue", "sue-password", Role.SUPERVISOR, "Sue")
    return Supervisor(gateway, await users.create_api_token(user, "test"))


async def _writes(gateway: RunningGateway, channel: Channel, sender: str, text: str) -> Any:
    """The customer writes on ``channel``: their identity and a conversation exist now."""
    return await gateway.app[INTAKE].accept(
        InboundMessage(
            channel=channel, sender=sender, text=text, provider_message_id=f"{channel}:{text}"
        ),
        dedupe_key=f"test:{channel}:{sender}:{text}",
        queue="general",
    )


async def _identity(gateway: RunningGateway, channel: str, address: str) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int(
            (
                await conn.execute(
                    select(identities.c.id).where(
                        identities.c.channel == channel, identities.c.address == address
                    )
                )
            ).scalar_one()
        )


async def _telegram_customer_with_phone(
    gateway: RunningGateway, sue: Supervisor, *phone_channels: Channel
) -> int:
    """A customer who wrote by SMS (and WhatsApp) from PHONE, and on Telegram, linked into one;
    the Telegram conversation's id."""
    for channel in phone_channels:
        phone = await _writes(gateway, channel, PHONE, f"hello by {channel}")
    telegram = await _writes(gateway, Channel.TELEGRAM, str(CHAT), "my bill is wrong")
    identity_id = await _identity(gateway, "telegram", str(CHAT))
    await sue.call(
        "POST", f"/api/customers/{phone.customer_id}/identities", {"identity_id": identity_id}
    )
    return int(telegram.conversation_id)


async def _open_appeal(sue: Supervisor, **where: Any) -> dict[str, Any]:
    body = {"topic": "billing", "fields": {}, "idempotency_key": uuid.uuid4().hex, **where}
    answer = await sue.call("POST", "/api/appeals", body, status=201)
    return dict(answer["appeal"])


def _notices(appeal: dict[str, Any]) -> list[dict[str, Any]]:
    return list(appeal["notices"])


def _history(appeal: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [h for h in appeal["history"] if h["action"] == action]


async def _notice_where(
    sue: Supervisor, appeal_id: int, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        appeal = await sue.appeal(appeal_id)
        return appeal if appeal["notices"] and check(appeal) else None

    return dict(await wait_for(found, timeout=15))


# -- once ---------------------------------------------------------------------------------------


async def test_a_registered_notice_goes_once_on_the_conversations_channel(
    gw: RunningGateway, fake_telegram: FakeTelegram
) -> None:
    sue = await _supervisor(gw)
    conversation_id = int(
        (await _writes(gw, Channel.TELEGRAM, str(CHAT), "my bill is wrong")).conversation_id
    )
    opened = await _open_appeal(sue, conversation_id=conversation_id)
    await wait_for(lambda: fake_telegram.sent, timeout=15)
    shown = format_reference(opened["reference"])
    assert fake_telegram.sent == [
        {
            "chat_id": CHAT,
            "text": f"We registered your appeal {shown} about Billing dispute. "
            "Please quote this number when you contact us.",
        }
    ]
    # The same event again: redelivered by the broker, and handled by two instances at once.
    appeal = await sue.appeal(opened["id"])
    [register] = _history(appeal, "register")
    payload = {
        "appeal_id": appeal["id"],
        "reference": appeal["reference"],
        "action": "register",
        "status": register["to_status"],
        "from_status": None,
        "stage": 0,
        "queue": "general",
        "owner_id": None,
        "customer_id": appeal["customer_id"],
        "history_id": register["id"],
    }
    handled: list[dict[str, Any]] = []

    async def tap(_app: Any, _key: str, event: dict[str, Any]) -> None:
        handled.append(event)  # called after the notices' handler has handled the event

    gw.app[HANDLERS][Event.APPEAL_CHANGED].append(tap)
    async with gw.app[DATABASE].write() as conn:
        await emit(conn, Event.APPEAL_CHANGED, payload)
    gw.app[RELAY].nudge()
    await asyncio.gather(
        on_appeal_changed(gw.app, Event.APPEAL_CHANGED, dict(payload)),
        on_appeal_changed(gw.app, Event.APPEAL_CHANGED, dict(payload)),
    )
    await wait_for(lambda: payload in handled, timeout=15)
    appeal = await sue.appeal(opened["id"])
    [notice] = _notices(appeal)
    assert (notice["event"], notice["channel"], notice["state"]) == (
        "registered",
        "telegram",
        "sent",
    )
    assert notice["delivery"] == "sent"
    [sent] = _history(appeal, "notice")
    assert (sent["channel"], sent["detail"]["state"]) == ("telegram", "sent")
    assert sent["detail"]["conversation_id"] == conversation_id
    assert fake_telegram.send_calls == 1
    async with gw.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(func.count()).select_from(appeal_notices))).scalar()
        notice_messages = (
            await conn.execute(
                select(func.count())
                .select_from(messages)
                .where(messages.c.conversation_id == conversation_id, messages.c.direction == "out")
            )
        ).scalar()
    assert (rows, notice_messages) == (1, 1)


# -- the chain ------------------------------------------------------------------------------------


async def test_a_blocked_bot_falls_back_to_the_customers_phone(
    gw: RunningGateway, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    sue = await _supervisor(gw)
    conversation_id = await _telegram_customer_with_phone(gw, sue, Channel.SMS)
    fake_telegram.fail_next = [blocked()]
    opened = await _open_appeal(sue, conversation_id=conversation_id)
    appeal = await _notice_where(sue, opened["id"], lambda a: a["notices"][0]["channel"] == "sms")
    await wait_for(lambda: fake_twilio.sent, timeout=15)
    shown = format_reference(opened["reference"])
    [sms] = fake_twilio.sent
    assert (sms["To"], sms["From"]) == (PHONE, OUR_NUMBER)
    assert sms["Body"].startswith(f"We registered your appeal {shown} about Billing dispute.")
    assert fake_telegram.send_calls == 1 and fake_telegram.sent == []
    [notice] = _notices(appeal)
    assert [step["channel"] for step in notice["chain"]] == ["telegram", "sms"]
    assert (notice["state"], notice["attempt"]) == ("sent", 1)
    steps = [(h["channel"], h["detail"]["state"]) for h in _history(appeal, "notice")]
    assert steps == [("telegram", "sent"), ("telegram", "undelivered"), ("sms", "sent")]
    [moved] = [h for h in _history(appeal, "notice") if h["detail"]["state"] == "undelivered"]
    assert "blocked" in moved["reason"]
    # Written like an operator's reply on another channel: in the appeal's conversation, to
    # the phone identity.
    async with gw.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(
                    messages.c.conversation_id, messages.c.identity_id, messages.c.channel
                ).where(messages.c.channel == "sms", messages.c.direction == "out")
            )
        ).one()
    assert tuple(row) == (conversation_id, await _identity(gw, "sms", PHONE), "sms")


async def test_an_opted_out_number_is_left_out(
    gw: RunningGateway, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    sue = await _supervisor(gw)
    conversation_id = await _telegram_customer_with_phone(gw, sue, Channel.SMS, Channel.WHATSAPP)
    assert await gw.app[OUTBOUND].set_opted_out("sms", PHONE, True)  # the customer sent STOP
    fake_telegram.fail_next = [blocked()]
    opened = await _open_appeal(sue, conversation_id=conversation_id)
    appeal = await _notice_where(
        sue, opened["id"], lambda a: a["notices"][0]["channel"] == "whatsapp"
    )
    [notice] = _notices(appeal)
    assert [step["channel"] for step in notice["chain"]] == ["telegram", "whatsapp"]
    await wait_for(lambda: fake_twilio.sent, timeout=15)
    assert [m["To"] for m in fake_twilio.sent] == [f"whatsapp:{PHONE}"]


async def test_a_caller_gets_the_notice_by_text_message_on_the_number_they_called_from(
    gw: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    sue = await _supervisor(gw)
    call = await _writes(gw, Channel.VOICE, PHONE, "a call")
    opened = await _open_appeal(sue, conversation_id=call.conversation_id)
    appeal = await _notice_where(
        sue, opened["id"], lambda a: bool(a["notices"]) and a["notices"][0]["channel"] == "sms"
    )
    [notice] = _notices(appeal)
    assert [step["channel"] for step in notice["chain"]] == ["sms"]
    await wait_for(lambda: fake_twilio.sent, timeout=15)
    [sent] = fake_twilio.sent
    assert sent["To"] == PHONE and format_reference(opened["reference"]) in sent["Body"]
    # The number is the caller's SMS identity now (one, however many notices follow).
    assert await _identity(gw, "sms", PHONE)


async def test_no_channel_reaching_the_customer_makes_a_callback_task(
    gw: RunningGateway, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    sue = await _supervisor(gw)
    conversation_id = await _telegram_customer_with_phone(gw, sue, Channel.SMS)
    fake_telegram.fail_next = [blocked()]
    fake_twilio.fail_next = [400]  # refused for good: no retry
    opened = await _open_appeal(sue, conversation_id=conversation_id)
    appeal = await _notice_where(
        sue, opened["id"], lambda a: a["notices"][0]["state"] == "callback"
    )
    [notice] = _notices(appeal)
    assert (notice["channel"], notice["delivery"]) == ("sms", "failed")
    assert "Twilio 400" in notice["error"]
    [task] = _history(appeal, "callback_needed")
    assert task["actor"] == "system"
    assert task["detail"]["tried"] == ["telegram", "sms"]
    assert task["detail"]["queue"] == "general"
    [alert] = [a for a in appeal["alerts"] if a["kind"] == "callback"]
    assert (alert["queue"], alert["stage"]) == ("general", 0)
    # In the call-back queue's list and the supervisors' overview.
    [listed] = (await sue.call("GET", "/api/appeals/callbacks?queue=general"))["callbacks"]
    assert (listed["appeal_id"], listed["queue"]) == (opened["id"], "general")
    assert listed["reference_display"] == format_reference(opened["reference"])
    assert (await sue.call("GET", "/api/appeals/callbacks?queue=billing"))["callbacks"] == []
    overview = await sue.call("GET", "/api/appeals/overview")
    assert [t["appeal_id"] for t in overview["callbacks"]] == [opened["id"]]
    steps = [(h["channel"], h["detail"]["state"]) for h in _history(appeal, "notice")]
    assert steps == [
        ("telegram", "sent"),
        ("telegram", "undelivered"),
        ("sms", "sent"),
        ("sms", "failed"),
    ]


async def test_a_web_chat_visitor_is_told_while_there_and_called_back_when_gone(
    gw: RunningGateway,
) -> None:
    sue = await _supervisor(gw)
    visitor = await gw.customer()
    ack = await visitor.say("I was charged twice")
    opened = await _open_appeal(sue, conversation_id=ack["conversation_id"])
    shown = format_reference(opened["reference"])
    await wait_for(lambda: any(shown in m["text"] for m in visitor.received.values()))
    await visitor.close()
    appeal = await sue.act(await sue.appeal(opened["id"]), "take")
    await sue.act(appeal, "resolve")
    appeal = await _notice_where(sue, opened["id"], lambda a: len(a["notices"]) == 2)
    registered, resolved = _notices(appeal)
    assert (registered["channel"], registered["delivery"]) == ("webchat", "sent")
    assert (resolved["channel"], resolved["delivery"]) == ("webchat", "queued")
    # The page is gone and the customer has no other channel: once the wait is over, an
    # operator calls them back (the message stays for when they come back).
    await move_unreached(gw.app, utcnow() + timedelta(seconds=WEBCHAT_WAIT_SECONDS + 1))
    gw.app[RELAY].nudge()
    appeal = await sue.appeal(opened["id"])
    assert [n["state"] for n in _notices(appeal)] == ["sent", "callback"]
    [task] = _history(appeal, "callback_needed")
    assert task["detail"]["event"] == "resolved"
    assert [a["kind"] for a in appeal["alerts"]] == ["callback"]
    # A resolved appeal's call-back task stands until the appeal is closed.
    listed = (await sue.call("GET", "/api/appeals/callbacks"))["callbacks"]
    assert [(t["appeal_id"], t["status"]) for t in listed] == [(opened["id"], "resolved")]
    await sue.act(appeal, "close")
    assert (await sue.call("GET", "/api/appeals/callbacks"))["callbacks"] == []


# -- language, and an appeal without a conversation ---------------------------------------------


async def test_a_resolved_notice_in_russian_for_an_appeal_opened_by_an_integrator(
    gw: RunningGateway, fake_telegram: FakeTelegram
) -> None:
    sue = await _supervisor(gw)
    accepted = await _writes(gw, Channel.TELEGRAM, str(CHAT), "счёт неверный")
    async with gw.app[DATABASE].write() as conn:
        await conn.execute(update(customers).values(display_name="Лена"))
    opened = await _open_appeal(sue, customer_id=accepted.customer_id, language="ru")
    assert opened["conversation_id"] is None
    shown = format_reference(opened["reference"])
    await wait_for(lambda: len(fake_telegram.sent) == 1, timeout=15)
    assert fake_telegram.sent[0]["text"] == (
        f"Мы зарегистрировали ваше обращение {shown} по теме «Спор по счёту». "
        "Пожалуйста, называйте этот номер, когда обращаетесь к нам."
    )
    appeal = await sue.act(await sue.appeal(opened["id"]), "take")
    await sue.act(appeal, "resolve")
    await wait_for(lambda: len(fake_telegram.sent) == 2, timeout=15)
    assert fake_telegram.sent[1] == {
        "chat_id": CHAT,
        "text": f"Обращение {shown} (Спор по счёту) решено. Спасибо, Лена!",
    }
    appeal = await _notice_where(sue, opened["id"], lambda a: len(a["notices"]) == 2)
    assert [(n["event"], n["channel"]) for n in _notices(appeal)] == [
        ("registered", "telegram"),
        ("resolved", "telegram"),
    ]
    # Both went in one conversation of the appeal's own, opened closed (nothing to route) on
    # the customer's Telegram identity, and gathered by the appeal.
    [own] = appeal["conversations"]
    assert own["id"] != accepted.conversation_id
    assert (own["channel"], own["status"]) == ("telegram", "closed")
    async with gw.app[DATABASE].read() as conn:
        used = (
            (
                await conn.execute(
                    select(messages.c.conversation_id).where(messages.c.direction == "out")
                )
            )
            .scalars()
            .all()
        )
        opened_for_it = (
            await conn.execute(select(conversations.c.queue).where(conversations.c.id == own["id"]))
        ).scalar_one()
    assert used == [own["id"], own["id"]]
    assert opened_for_it == "general"


# -- pure parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        ({"action": "register", "status": "awaiting", "from_status": None}, "registered"),
        # Opened by the customer in a text menu: the menu told them the number already.
        (
            {"action": "register", "status": "awaiting", "actor": "customer", "channel": "sms"},
            None,
        ),
        # A caller heard it; they get it in writing too.
        (
            {"action": "register", "status": "awaiting", "actor": "customer", "channel": "voice"},
            "registered",
        ),
        (
            {"action": "register", "status": "awaiting", "actor": "ada", "channel": "console"},
            "registered",
        ),
        ({"action": "resolve", "status": "resolved", "from_status": "in_progress"}, "resolved"),
        ({"action": "take", "status": "in_progress", "from_status": "awaiting"}, "in_progress"),
        (
            {"action": "advance", "status": "awaiting", "from_status": "in_progress"},
            "stage_changed",
        ),
        ({"action": "release", "status": "awaiting", "from_status": "in_progress"}, None),
        ({"action": "reassign", "status": "in_progress", "from_status": "in_progress"}, None),
        ({"action": "notice", "status": "awaiting", "from_status": "awaiting"}, None),
    ],
)
def test_which_changes_are_notices(payload: dict[str, Any], event: str | None) -> None:
    found = notice_event(payload)
    assert (found.value if found else None) == event
    if found is not None:
        assert isinstance(found, NoticeEvent)


def test_the_chain_starts_with_the_conversation_and_follows_the_channel_order() -> None:
    def person(*found: Identity, own: Identity | None = None, open_: bool = True) -> Recipient:
        return Recipient(own, open_, found, None)

    telegram = Identity(1, "telegram", False, False)
    sms = Identity(2, "sms", False, False)
    old_email, new_email = Identity(3, "email", False, False), Identity(4, "email", False, False)
    stopped = Identity(5, "whatsapp", True, False)
    webchat = Identity(6, "webchat", False, False)
    everyone = (webchat, stopped, new_email, old_email, sms, telegram)  # newest first
    order = ("telegram", "whatsapp", "sms", "email")
    senders = {"telegram", "whatsapp", "sms", "email"}

    def channels(chain: tuple[Reach, ...]) -> list[tuple[str, int]]:
        return [(r.channel, r.identity_id) for r in chain]

    assert channels(build_chain(person(*everyone, own=sms), order, senders)) == [
        ("sms", 2), ("telegram", 1), ("email", 4), ("email", 3),
    ]  # fmt: skip
    # A visitor is reached on web chat only in their open conversation.
    assert channels(build_chain(person(*everyone, own=webchat), order, senders))[0] == (
        "webchat",
        6,
    )
    assert ("webchat", 6) not in channels(
        build_chain(person(*everyone, own=webchat, open_=False), order, senders)
    )
    # A channel this gateway does not send on, and one left out of the order, are skipped.
    assert channels(build_chain(person(*everyone, own=telegram), ("sms",), {"telegram"})) == [
        ("telegram", 1)
    ]
    blocked_bot = Identity(1, "telegram", False, True)
    assert channels(build_chain(person(sms, blocked_bot, own=blocked_bot), order, senders)) == [
        ("sms", 2)
    ]
    assert json.dumps([r.as_json() for r in build_chain(person(), order, senders)]) == "[]"


def test_the_wording_is_the_topics_in_the_appeals_language_else_the_built_in_one() -> None:
    config = load_topics_text(
        """
topics:
  outage:
    title: {en: No internet, de: Kein Internet}
    category: incident
    route:
      - {name: First line, queue: general, max: 30m, may_resolve: true}
      - {name: Engineers, queue: tech, max: 4h, may_resolve: true}
    notify_on: [registered, stage_changed, resolved]
    notices:
      registered: {en: "Appeal {reference} ({topic}) is in, {customer}."}
      stage_changed: {ru: "Обращение {reference}: {stage}, {status}."}
""",
        "topics.yaml",
        None,
    )
    topic = config.topic("outage")

    def appeal(language: str) -> Appeal:
        values: dict[str, Any] = {f.name: None for f in fields(Appeal)}
        values.update(reference="123456786", language=language, status="awaiting", stage=1)
        return Appeal(**values)

    registered, moved = NoticeEvent.REGISTERED, NoticeEvent.STAGE_CHANGED
    # A template in the appeal's language, its base language, else English.
    assert notice_text(topic, "outage", registered, appeal("de"), "Lena") == (
        "Appeal 123-456-786 (Kein Internet) is in, Lena."
    )
    assert notice_text(topic, "outage", moved, appeal("ru-RU"), None) == (
        "Обращение 123-456-786: Engineers, зарегистрировано, ожидает обработки."
    )
    # No template for the event: the built-in wording in the appeal's language.
    assert notice_text(topic, "outage", moved, appeal("de"), None) == (
        "Ihr Anliegen 123-456-786 zum Thema Kein Internet: registriert, wartet auf "
        "Bearbeitung. Aktuelle Stufe: Engineers."
    )
    assert notice_text(topic, "outage", NoticeEvent.RESOLVED, appeal("en"), None, "resolved") == (
        "Your appeal 123-456-786 about No internet has been resolved. Thank you for your patience."
    )
    # A topic no longer in the document: its name stands for its title.
    assert notice_text(None, "outage", registered, appeal("en"), None).startswith(
        "We registered your appeal 123-456-786 about outage."
    )
