"""Status questions about appeals from every channel, against a real gateway: SMS, WhatsApp and
web chat (answered by the appeals service), Telegram (a command, and the menu's button), an
email whose subject names the appeal, and a phone call through the IVR. For each: the asker's
own appeal (the right answer, in their language), someone else's number and a wrong check
digit (one and the same answer, byte for byte), and the rate limit after five misses. And the
menus' ``appeal`` node opening an appeal for a caller, once however often Twilio re-posts."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiosmtplib
import pytest
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from appeals import texts
from appeals.live import TOPICS
from appeals.numbers import format_reference, spoken
from appeals.status import CLOSE_REASON, MAX_MISSES, customer_for, handle_inbound
from appeals.store import APPEAL_STORE, Actor, Appeal
from appeals.views import plan_of
from channels.email.adapter import SMTP_SERVER
from gateway.keys import DATABASE
from gateway.model import utcnow
from gateway.storage.schema import (
    appeal_lookups,
    appeals,
    conversations,
    identities,
    messages,
    offers,
    routing_events,
)
from tests.conftest import RunningGateway
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, text_update
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, message_sid, signed, sms_params
from tests.support import free_port, make_settings, wait_for

CUSTOMER = "+15557654321"  # SMS, WhatsApp and the phone: one number, one customer
OTHER = "+15559990000"  # someone else, with an appeal of their own
OUR_NUMBER = "+15550001111"
CHAT = 4242
MAIL = "lena@example.org"
SECRET = "s3cret-token-for-the-webhook_0123"

ROUTING = """
skills: {support: First line}
operators:
  ada: {skills: {support: 1}}
queues:
  general: {target: {skills: {support: 1}}}
rules:
  - name: all
    steps: [{queue: general, timeout_seconds: 600}]
    final: {action: voicemail}
"""

TOPICS_FILE = """
topics:
  billing_dispute:
    title: {en: Billing dispute, ru: Спор по счёту, es: Disputa de factura, de: Rechnungsstreit}
    category: complaint
    notify_on: []  # only the answers are sent here (notices: tests/test_appeals_notices.py)
    route:
      - {name: First line, queue: general, max: 4h, may_resolve: true}
      - {name: Billing, queue: general, max: 8h, may_resolve: true}
  callback:
    title: {en: Call back, es: Devolución de llamada}
    category: request
    notify_on: []
    route:
      - {name: First line, queue: general, max: 2h, may_resolve: true}
"""

MENU = """
id: desk
languages: [en, es]
start: main
fallback: agent
nodes:
  main:
    kind: menu
    prompt: {en: To check an appeal press 1. For a call back press 2., es: Solicitud 1. Llamada 2.}
    text: {en: "How can we help?", es: "¿Cómo podemos ayudarle?"}
    options:
      - {key: 1, label: {en: Check an appeal, es: Consultar}, next: check}
      - {key: 2, label: {en: Call me back, es: Llámenme}, next: open}
      - {key: 0, label: {en: Operator, es: Operador}, next: agent}
  check:
    kind: appeal_status
    prompt: {en: Enter your appeal number then the pound key., es: Marque su número.}
    text: {en: Please reply with your appeal number., es: Responda con su número.}
    max_tries: 9
    next: bye
    fallback: agent
  open:
    kind: appeal
    topic: callback
    priority: high
    summary: "Call back {caller}"
    next: bye
    fallback: agent
  bye:
    kind: hangup
    prompt: {en: Goodbye., es: Adiós.}
  agent:
    kind: queue
    prompt: {en: Please hold., es: Espere.}
"""


# -- the gateway and its providers -----------------------------------------------------------------


class Relay:
    """Where the gateway's email replies go."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        body = parsed.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        self.received.append(body.get_content().strip())
        return "250 OK"


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    relay = Relay()
    relay.server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(relay), "127.0.0.1", 0
    )
    yield relay
    relay.server.close()
    await relay.server.wait_closed()


@pytest.fixture
async def fakes(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[FakeTwilio, FakeTelegram]:
    twilio, telegram = FakeTwilio(), FakeTelegram()
    twilio.server = await aiohttp_server(twilio.app())
    telegram.server = await aiohttp_server(telegram.app())
    return twilio, telegram


@pytest.fixture
async def gw(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fakes: tuple[FakeTwilio, FakeTelegram],
    relay: Relay,
) -> RunningGateway:
    twilio, telegram = fakes
    (tmp_path / "routing.yaml").write_text(textwrap.dedent(ROUTING))
    (tmp_path / "topics.yaml").write_text(TOPICS_FILE)
    menus = tmp_path / "ivr"
    menus.mkdir()
    (menus / "desk.yaml").write_text(MENU)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    assert relay.server is not None
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": base},
        routing={"rules_file": str(tmp_path / "routing.yaml")},
        appeals={"topics_file": str(tmp_path / "topics.yaml")},
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": twilio.base_url,
            "sms_from": OUR_NUMBER,
            "whatsapp_from": f"whatsapp:{OUR_NUMBER}",
            "retry_delays_seconds": [0.2],
        },
        telegram={
            "bot_token": BOT_TOKEN,
            "webhook_secret": SECRET,
            "api_base_url": telegram.api_base_url,
        },
        email={
            "enabled": True,
            "port": 0,
            "relay_port": int(relay.server.sockets[0].getsockname()[1]),
            "retry_delays_seconds": [0.2],
            "auth_username": None,
        },
        ivr={"directory": str(menus), "channels": {"voice": "desk", "telegram": "desk"}},
    )
    return await start_gateway(settings, port=port)


async def appeal_for(
    gw: RunningGateway,
    channel: str,
    address: str,
    language: str = "en",
    topic: str = "billing_dispute",
) -> Appeal:
    """An appeal of the customer behind ``channel:address`` (made known if they are not)."""
    customer_id = await customer_for(gw.app[DATABASE], channel, address, create=True)
    assert customer_id is not None
    config = await gw.app[TOPICS].current()
    found = config.topic(topic)
    assert found is not None
    appeal, created = await gw.app[APPEAL_STORE].create(
        plan=plan_of(config, found, topic),
        customer_id=customer_id,
        priority=found.priority,
        fields={},
        summary="",
        language=language,
        channel=channel,
        conversation_id=None,
        idempotency_key=f"test-{channel}-{address}-{language}-{topic}-{utcnow().timestamp()}",
        actor=Actor.system(),
        now=utcnow(),
    )
    assert created
    return appeal


def wrong_digit(reference: str) -> str:
    """The same number with a wrong check digit."""
    return reference[:-1] + str((int(reference[-1]) + 1) % 10)


def dashed(number: str) -> str:
    return f"{number[:3]}-{number[3:6]}-{number[6:]}"


def answer(appeal: Appeal, language: str, title: str, *, voice: bool = False) -> str:
    return texts.status_answer(
        language, appeal.reference, title, appeal.status, "First line", appeal.updated_at, voice
    )


async def misses_of(gw: RunningGateway, asker: str) -> int:
    async with gw.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(appeal_lookups.c.id).where(appeal_lookups.c.asker == asker)
        )
        return len(rows.all())


# -- SMS and WhatsApp (the appeals service answers) ------------------------------------------------


async def _sms(
    gw: RunningGateway, text: str, sender: str = CUSTOMER, *, whatsapp: bool = False
) -> None:
    url = f"{gw.base}/webhooks/twilio/messaging"
    params = (
        sms_params(message_sid(), f"whatsapp:{sender}", text, to=f"whatsapp:{OUR_NUMBER}")
        if whatsapp
        else sms_params(message_sid(), sender, text)
    )
    request = signed(url, params)
    async with gw.http.post(url, data=request["data"], headers=request["headers"]) as resp:
        assert resp.status == 200, await resp.text()


async def _texted(
    gw: RunningGateway, twilio: FakeTwilio, text: str, *, whatsapp: bool = False
) -> str:
    before = len(twilio.sent)
    await _sms(gw, text, whatsapp=whatsapp)
    await wait_for(lambda: len(twilio.sent) > before)
    assert len(twilio.sent) == before + 1
    sent = twilio.sent[-1]
    assert sent["To"] == (f"whatsapp:{CUSTOMER}" if whatsapp else CUSTOMER)
    return str(sent["Body"])


async def test_sms_status_by_words_in_the_customers_language_and_nothing_to_probe(
    gw: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    twilio, _ = fakes
    own = await appeal_for(gw, "sms", CUSTOMER)
    other = await appeal_for(gw, "sms", OTHER)

    said = await _texted(gw, twilio, f"статус {dashed(own.reference)}")
    assert said == answer(own, "ru", "Спор по счёту")
    assert said.startswith(f"Ваше обращение {format_reference(own.reference)} (Спор по счёту)")
    assert "зарегистрировано, ожидает обработки" in said

    # The question alone opened the conversation: it is closed, and no operator is offered it.
    async with gw.app[DATABASE].read() as conn:
        closed = (await conn.execute(select(conversations))).all()
        kinds = (await conn.execute(select(routing_events.c.kind))).scalars().all()
        offered = (await conn.execute(select(offers))).all()
    assert [(c.status, c.close_reason) for c in closed] == [("closed", CLOSE_REASON)]
    assert CLOSE_REASON in kinds and offered == []
    # The event arrives a second time (a redelivery): nothing is answered again.
    question = await _only_question(gw)
    event = {"message_id": question, "direction": "in", "message": {"channel": "sms"}}
    assert await handle_inbound(gw.app, event)
    assert await _outbound(gw) == 1 and len(twilio.sent) == 1

    someone_elses = await _texted(gw, twilio, f"status {other.reference}")
    wrong = await _texted(gw, twilio, f"status {wrong_digit(own.reference)}")
    assert someone_elses == wrong == texts.not_found("en")
    assert someone_elses.encode() == wrong.encode()
    assert await misses_of(gw, f"sms:{CUSTOMER}") == 2

    for _ in range(MAX_MISSES - 2):
        await _texted(gw, twilio, f"Status {wrong_digit(other.reference)}")
    limited = await _texted(gw, twilio, f"status {own.reference}")  # even the right number
    assert limited == texts.rate_limited("en")
    assert await misses_of(gw, f"sms:{CUSTOMER}") == MAX_MISSES  # a limited question counts none
    assert await _outbound(gw) == len(twilio.sent) == MAX_MISSES + 2  # one answer per question


async def _only_question(gw: RunningGateway) -> int:
    async with gw.app[DATABASE].read() as conn:
        return int(
            (await conn.execute(select(messages.c.id).where(messages.c.direction == "in")))
            .scalars()
            .one()
        )


async def _outbound(gw: RunningGateway) -> int:
    async with gw.app[DATABASE].read() as conn:
        rows = await conn.execute(select(messages.c.id).where(messages.c.direction == "out"))
        return len(rows.all())


async def test_whatsapp_bare_number_in_the_appeals_language(
    gw: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    twilio, _ = fakes
    own = await appeal_for(gw, "whatsapp", CUSTOMER, language="es")
    other = await appeal_for(gw, "sms", OTHER)

    said = await _texted(
        gw, twilio, f"{own.reference[:3]} {own.reference[3:6]} {own.reference[6:]}", whatsapp=True
    )
    assert said == answer(own, "es", "Disputa de factura")
    assert "registrada, en espera de ser atendida" in said

    someone_elses = await _texted(gw, twilio, f"#{other.reference}", whatsapp=True)
    wrong = await _texted(gw, twilio, dashed(wrong_digit(own.reference)), whatsapp=True)
    assert someone_elses.encode() == wrong.encode() == texts.not_found("es").encode()

    for _ in range(MAX_MISSES - 2):
        await _texted(gw, twilio, wrong_digit(other.reference), whatsapp=True)
    assert await _texted(gw, twilio, own.reference, whatsapp=True) == texts.rate_limited("es")
    # SMS from the same number is another asker: not limited.
    assert await _texted(gw, twilio, f"status {own.reference}") == answer(
        own, "es", "Disputa de factura"
    )


async def test_a_message_that_only_contains_a_number_goes_to_an_operator(
    gw: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    twilio, _ = fakes
    await appeal_for(gw, "sms", CUSTOMER)
    await _sms(gw, "My order 123456 has not arrived, call me at +1 555 123 4567")
    ada = await gw.operator("ada")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    assert offer["channel"] == "sms" and twilio.sent == []
    await ada.close()


async def test_status_without_an_appeal_number_reaches_a_person(
    gw: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    """ "status please" may be about an order: it goes to an operator unanswered. A question
    about an appeal without its number is asked for the number and stays for an operator too
    (the customer may not know it)."""
    twilio, _ = fakes
    await appeal_for(gw, "sms", CUSTOMER)
    ada = await gw.operator("ada")
    await _sms(gw, "status please")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    assert offer["channel"] == "sms" and twilio.sent == []
    await ada.close()
    visitor = await gw.customer(language="en")
    await visitor.say("What is the status of my appeal?")
    await wait_for(lambda: visitor.received)
    assert [m["text"] for m in visitor.received.values()] == [texts.ask_number("en")]
    async with gw.app[DATABASE].read() as conn:
        statuses = (await conn.execute(select(conversations.c.status))).scalars().all()
    assert "closed" not in statuses


# -- web chat --------------------------------------------------------------------------------------


async def test_web_chat_status_in_the_visitors_language(gw: RunningGateway) -> None:
    visitor = await gw.customer(language="de")
    await visitor.say("Hallo")
    async with gw.app[DATABASE].read() as conn:
        address = (await conn.execute(select(conversations.c.identity_id))).scalar_one()
    async with gw.app[DATABASE].read() as conn:
        visitor_id = (
            await conn.execute(select(identities.c.address).where(identities.c.id == address))
        ).scalar_one()
    own = await appeal_for(gw, "webchat", visitor_id, language="en")
    other = await appeal_for(gw, "sms", OTHER)

    async def asked(text: str) -> str:
        before = len(visitor.received)
        await visitor.say(text)
        await wait_for(lambda: len(visitor.received) > before)
        return str(list(visitor.received.values())[-1]["text"])

    said = await asked(f"Wie ist der Stand meines Anliegens {dashed(own.reference)}?")
    assert said == answer(own, "de", "Rechnungsstreit")
    assert said.startswith(f"Ihr Anliegen {format_reference(own.reference)} (Rechnungsstreit)")
    someone_elses = await asked(f"Status {other.reference}")
    wrong = await asked(f"Status {wrong_digit(own.reference)}")
    assert someone_elses.encode() == wrong.encode() == texts.not_found("de").encode()
    for _ in range(MAX_MISSES - 2):
        await asked(f"Status {wrong_digit(other.reference)}")
    assert await asked(f"Status {own.reference}") == texts.rate_limited("de")
    # The conversation had a message before the questions: it stays for an operator.
    async with gw.app[DATABASE].read() as conn:
        assert (await conn.execute(select(conversations.c.status))).scalar_one() == "waiting"
    await visitor.close()


# -- Telegram: a command, and the menu's button ----------------------------------------------------


async def _telegram(gw: RunningGateway, update: dict[str, Any]) -> None:
    async with gw.http.post(
        f"{gw.base}/webhooks/telegram",
        data=json.dumps(update),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200, await resp.text()


class Chat:
    def __init__(self, gw: RunningGateway, telegram: FakeTelegram) -> None:
        self.gw, self.telegram, self.update_id = gw, telegram, 100

    async def send(self, text: str) -> dict[str, Any]:
        self.update_id += 1
        return await self._sent(text_update(self.update_id, CHAT, text))

    async def tap(self, value: str) -> dict[str, Any]:
        self.update_id += 1
        press = {
            "update_id": self.update_id,
            "callback_query": {
                "id": f"cbq-{self.update_id}",
                "from": {"id": CHAT, "is_bot": False, "first_name": "Lena"},
                "chat_instance": "ci",
                "data": value,
                "message": {
                    "message_id": 5,
                    "date": 1_700_000_000,
                    "chat": {"id": CHAT, "type": "private"},
                    "text": "menu",
                },
            },
        }
        return await self._sent(press)

    async def _sent(self, update: dict[str, Any]) -> dict[str, Any]:
        before = len(self.telegram.sent)
        await _telegram(self.gw, update)
        await wait_for(lambda: len(self.telegram.sent) > before)
        assert len(self.telegram.sent) == before + 1
        return self.telegram.sent[-1]


async def test_telegram_command_is_answered_before_the_menu(
    gw: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    _, telegram = fakes
    own = await appeal_for(gw, "telegram", str(CHAT))
    other = await appeal_for(gw, "sms", OTHER)
    chat = Chat(gw, telegram)

    first = await chat.send(f"/status@DemoTelecomBot {dashed(own.reference)}")
    assert first["text"] == answer(own, "en", "Billing dispute")
    assert "reply_markup" not in first  # the menu stays out of it
    async with gw.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(select(conversations.c.status, conversations.c.close_reason))
        ).all()
    assert [tuple(r) for r in rows] == [("closed", CLOSE_REASON)]

    someone_elses = await chat.send(f"/status {other.reference}")
    wrong = await chat.send(f"/status {wrong_digit(own.reference)}")
    assert (
        someone_elses["text"].encode() == wrong["text"].encode() == texts.not_found("en").encode()
    )
    for _ in range(MAX_MISSES - 2):
        await chat.send(f"/статус {wrong_digit(other.reference)}")
    assert (await chat.send(f"/status {own.reference}"))["text"] == texts.rate_limited("en")


async def test_telegram_button_asks_for_the_number_and_answers_in_the_menu(
    gw: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    _, telegram = fakes
    own = await appeal_for(gw, "telegram", str(CHAT))
    other = await appeal_for(gw, "sms", OTHER)
    chat = Chat(gw, telegram)

    menu = await chat.send("hello")
    buttons = [b["text"] for (b,) in menu["reply_markup"]["inline_keyboard"]]
    assert buttons == ["Check an appeal", "Call me back", "Operator"]
    asked = await chat.tap("1")
    assert asked["text"] == "Please reply with your appeal number."

    ask_again = "Please reply with your appeal number."
    someone_elses = await chat.send(dashed(other.reference))
    wrong = await chat.send(wrong_digit(own.reference))
    assert someone_elses["text"] == wrong["text"] == f"{texts.not_found('en')}\n{ask_again}"
    found = await chat.send(f"{own.reference[:3]} {own.reference[3:6]} {own.reference[6:]}")
    assert found["text"] == f"{answer(own, 'en', 'Billing dispute')}\nGoodbye."

    # Five misses in the menu: the sixth number, even the right one, is refused for a while.
    await chat.send("hello again")
    await chat.tap("1")
    for _ in range(MAX_MISSES - 2):
        await chat.send(wrong_digit(other.reference))
    limited = await chat.send(own.reference)
    assert limited["text"] == f"{texts.rate_limited('en')}\nPlease hold."  # to an operator


# -- email -----------------------------------------------------------------------------------------


async def _mail(gw: RunningGateway, relay: Relay, subject: str, body: str = "") -> str:
    msg = EmailMessage()
    msg["From"] = f"Lena Schmidt <{MAIL}>"
    msg["To"] = "support@support.example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_sid()}@example.org>"
    msg.set_content(body or "\n")
    before = len(relay.received)
    port = int(gw.app[SMTP_SERVER].sockets[0].getsockname()[1])
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=port, start_tls=False)
    await wait_for(lambda: len(relay.received) > before)
    return relay.received[-1]


async def test_email_subject_names_the_appeal(gw: RunningGateway, relay: Relay) -> None:
    own = await appeal_for(gw, "email", MAIL, language="de")
    other = await appeal_for(gw, "sms", OTHER)

    said = await _mail(gw, relay, f"AW: Ihr Anliegen {own.reference}")
    assert said == answer(own, "de", "Rechnungsstreit")
    someone_elses = await _mail(
        gw, relay, f"Re: Appeal {dashed(other.reference)} registered", "Any news?"
    )
    wrong = await _mail(gw, relay, f"Re: Appeal {dashed(wrong_digit(own.reference))} registered")
    assert someone_elses.encode() == wrong.encode() == texts.not_found("de").encode()
    for _ in range(MAX_MISSES - 2):
        await _mail(gw, relay, f"Re: Appeal {wrong_digit(other.reference)}")
    assert await _mail(gw, relay, f"Re: Appeal {own.reference}") == texts.rate_limited("de")


# -- a phone call ----------------------------------------------------------------------------------


class Phone:
    """Twilio's side of one call: signed webhooks, and the TwiML that comes back."""

    def __init__(self, gw: RunningGateway, call_sid: str, caller: str = CUSTOMER) -> None:
        self.gw, self.sid, self.caller = gw, call_sid, caller

    async def twiml(self, url: str, **extra: str) -> ElementTree.Element:
        params = {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.caller,
            "To": OUR_NUMBER,
            "CallStatus": "in-progress",
            **extra,
        }
        request = signed(url, list(params.items()))
        async with self.gw.http.post(url, data=request["data"], headers=request["headers"]) as resp:
            body = await resp.text()
            assert resp.status == 200, body
        return ElementTree.fromstring(body)  # noqa: S314 (our own gateway's answer)

    async def call(self) -> ElementTree.Element:
        return await self.twiml(f"{self.gw.base}/webhooks/twilio/voice", CallStatus="ringing")

    async def press(self, response: ElementTree.Element, digits: str) -> ElementTree.Element:
        gather = response.find("Gather")
        assert gather is not None, ElementTree.tostring(response)
        return await self.twiml(gather.attrib["action"], Digits=digits)


def heard(response: ElementTree.Element) -> list[str]:
    return [say.text or "" for say in response.iter("Say")]


async def test_a_caller_hears_the_status_digit_by_digit(gw: RunningGateway) -> None:
    own = await appeal_for(gw, "sms", CUSTOMER)  # the same number on the phone: the same customer
    other = await appeal_for(gw, "sms", OTHER)
    phone = Phone(gw, "CA" + "1" * 32)
    asked = await phone.press(await phone.call(), "1")
    assert heard(asked) == ["Enter your appeal number then the pound key."]
    gather = asked.find("Gather")
    assert (
        gather is not None
        and gather.attrib["finishOnKey"] == "#"
        and gather.attrib["numDigits"] == "9"
    )

    prompt = "Enter your appeal number then the pound key."
    someone_elses = await phone.press(asked, other.reference + "#")
    wrong = await phone.press(someone_elses, wrong_digit(own.reference) + "#")
    assert heard(someone_elses) == heard(wrong) == [texts.not_found("en"), prompt]
    found = await phone.press(wrong, own.reference + "#")
    spoken_answer = answer(own, "en", "Billing dispute", voice=True)
    assert heard(found) == [spoken_answer, "Goodbye."]
    assert spoken(own.reference) in spoken_answer
    assert found.find("Hangup") is not None

    limited_call = Phone(gw, "CA" + "2" * 32)
    at = await limited_call.press(await limited_call.call(), "1")
    for _ in range(MAX_MISSES - 2):
        at = await limited_call.press(at, wrong_digit(other.reference) + "#")
    done = await limited_call.press(at, own.reference + "#")
    assert heard(done) == [texts.rate_limited("en"), "Please hold."]


async def test_a_caller_opens_an_appeal_once_and_hears_its_number(gw: RunningGateway) -> None:
    phone = Phone(gw, "CA" + "3" * 32, caller="+15551230000")
    menu = await phone.call()
    gather = menu.find("Gather")
    assert gather is not None
    opened = await phone.press(menu, "2")
    async with gw.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(appeals))).all()
    assert len(rows) == 1
    appeal = rows[0]
    assert (appeal.topic, appeal.priority, appeal.channel, appeal.status) == (
        "callback",
        "high",
        "voice",
        "awaiting",
    )
    assert appeal.summary == "Call back +15551230000"
    assert heard(opened) == [
        texts.registered("en", appeal.reference, "Call back", for_voice=True),
        "Goodbye.",
    ]
    # Twilio posts the same answer again: the same TwiML, and still one appeal.
    again = await phone.twiml(gather.attrib["action"], Digits="2")
    assert heard(again) == heard(opened)
    async with gw.app[DATABASE].read() as conn:
        assert len((await conn.execute(select(appeals.c.id))).all()) == 1
    # The caller is a customer now: their appeal is found by its number on a later call.
    later = Phone(gw, "CA" + "4" * 32, caller="+15551230000")
    found = await later.press(await later.press(await later.call(), "1"), appeal.reference)
    assert heard(found)[0].startswith(f"Your appeal {spoken(appeal.reference)} (Call back)")
