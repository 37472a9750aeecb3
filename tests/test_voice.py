"""Phone calls through the IVR: whole calls simulated with signed Twilio Voice webhooks against
a running gateway, a local Twilio REST fake (calls, recordings) and a local order system."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from gateway.keys import DATABASE, IVR_SESSIONS
from gateway.model import Role
from gateway.storage.database import Database
from gateway.storage.schema import conversations, ivr_sessions, messages, routing_events
from tests.conftest import RunningGateway
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, signed
from tests.support import free_port, make_settings, rabbitmqctl, wait_for

CALLER = "+15557654321"
OUR_NUMBER = "+15550001111"
CALL_SID = "CA" + "1" * 32

MENU = """
id: main
languages: [en, es]
voice: {en: Polly.Joanna, es: Polly.Lupe}
start: office-hours
hours:
  always:
    timezone: UTC
    weekly: {mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00",
             fri: "00:00-24:00", sat: "00:00-24:00", sun: "00:00-24:00"}
  never: {timezone: UTC, weekly: {}}
nodes:
  office-hours: {kind: hours, calendar: %(calendar)s, open: main, closed: closed}
  closed:
    kind: hangup
    prompt: {en: We are closed., es: Estamos cerrados.}
  main:
    kind: menu
    prompt:
      en: For billing, press 1. For your order, press 2. To leave a message, press 3.
      es: Para facturación, oprima 1. Para su pedido, oprima 2. Para un mensaje, oprima 3.
    timeout_seconds: 5
    retries: 1
    options:
      - {key: 1, label: {en: Billing, es: Facturación}, words: {en: [billing], es: [factura]},
         next: billing}
      - {key: 2, label: {en: Order, es: Pedido}, next: order}
      - {key: 3, label: {en: Message, es: Mensaje}, next: message}
      - {key: 9, label: Español, next: to-spanish}
  to-spanish: {kind: set, language: es, next: main}
  billing:
    kind: queue
    prompt: {en: Please hold., es: "Por favor, espere."}
    topic: billing
  order:
    kind: gather
    prompt: {en: Enter your order number., es: Marque su número de pedido.}
    min_digits: 6
    max_digits: 8
    into: order_number
    next: lookup
  lookup:
    kind: lookup
    url: "%(orders)s/orders/{order_number}"
    timeout_seconds: 1
    into: {order_status: status}
    next: status
    fallback: unknown
  status:
    kind: say
    prompt:
      en: "Order {order_number} is {order_status}."
      es: "El pedido {order_number} está {order_status}."
    next: bye
  unknown:
    kind: say
    prompt: {en: We could not find that order., es: No encontramos ese pedido.}
    next: billing
  message:
    kind: voicemail
    prompt: {en: Leave a message after the tone., es: Deje su mensaje después del tono.}
    transcribe: true
    next: bye
  bye:
    kind: hangup
    prompt: {en: Goodbye., es: Adiós.}
"""

ROUTING = """
skills: {billing: Billing}
operators:
  ada: {skills: {billing: 3}, phone: "+15550002001"}
queues:
  everyone: {description: Anyone}
rules:
  - name: all
    steps: [{queue: everyone, timeout_seconds: 600}]
    final: {action: overflow, queue: everyone}
"""


@pytest.fixture
async def fake_twilio(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeTwilio:
    fake = FakeTwilio()
    fake.server = await aiohttp_server(fake.app())
    return fake


@pytest.fixture
async def orders(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> str:
    """A customer's order system the menu looks orders up in."""

    async def order(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        if number == "999999":
            await asyncio.sleep(3)  # slower than the lookup's timeout
        if number == "404404":
            return web.json_response({"error": "no such order"}, status=404)
        return web.json_response({"status": "shipped", "number": number})

    app = web.Application()
    app.router.add_get("/orders/{number}", order)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


class Phone:
    """Twilio's side of one call: signed webhooks, and the TwiML that comes back."""

    def __init__(self, gateway: RunningGateway, call_sid: str = CALL_SID) -> None:
        self.gateway = gateway
        self.sid = call_sid
        self.next_url: str | None = None

    def params(self, **extra: str) -> list[tuple[str, str]]:
        base = {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": CALLER,
            "To": OUR_NUMBER,
            "CallStatus": "in-progress",
        }
        return list({**base, **extra}.items())

    async def post(self, url: str, token: str = AUTH_TOKEN, **extra: str) -> tuple[int, str]:
        request = signed(url, self.params(**extra), token)
        async with self.gateway.http.post(
            url, data=request["data"], headers=request["headers"]
        ) as resp:
            return resp.status, await resp.text()

    async def twiml(self, url: str, **extra: str) -> ElementTree.Element:
        status, body = await self.post(url, **extra)
        assert status == 200, body
        assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>'), body
        return ElementTree.fromstring(body)  # noqa: S314 (our own gateway's answer)

    async def call(self) -> ElementTree.Element:
        return await self.twiml(f"{self.gateway.base}/webhooks/twilio/voice", CallStatus="ringing")

    async def press(self, response: ElementTree.Element, digits: str) -> ElementTree.Element:
        gather = response.find("Gather")
        assert gather is not None, ElementTree.tostring(response)
        return await self.twiml(gather.attrib["action"], Digits=digits)

    async def silence(self, response: ElementTree.Element) -> ElementTree.Element:
        redirect = response.find("Redirect")
        assert redirect is not None, ElementTree.tostring(response)
        return await self.twiml(redirect.text or "")

    async def follow(self, response: ElementTree.Element, **extra: str) -> ElementTree.Element:
        redirect = response.find("Redirect")
        assert redirect is not None, ElementTree.tostring(response)
        return await self.twiml(redirect.text or "", **extra)


def heard(response: ElementTree.Element) -> list[str]:
    """Every sentence said, in order (inside Gathers too)."""
    return [say.text or "" for say in response.iter("Say")]


async def _start(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake: FakeTwilio,
    orders: str,
    calendar: str = "always",
    port: int | None = None,
    routing: str = ROUTING,
    menu: str = MENU,
) -> RunningGateway:
    menus = tmp_path / "ivr"
    menus.mkdir(exist_ok=True)
    (menus / "main.yaml").write_text(menu % {"calendar": calendar, "orders": orders})
    rules = tmp_path / "routing.yaml"
    rules.write_text(textwrap.dedent(routing))
    port = port or free_port()
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": fake.base_url,
            "retry_delays_seconds": [0.2],
        },
        routing={"rules_file": str(rules)},
        ivr={"directory": str(menus), "channels": {"voice": "main"}},
    )
    return await start_gateway(settings, port=port)


@pytest.fixture
async def voice(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    orders: str,
) -> RunningGateway:
    return await _start(start_gateway, tmp_path, fake_twilio, orders)


async def test_the_greeting_is_exact_twiml(voice: RunningGateway) -> None:
    phone = Phone(voice)
    status, body = await phone.post(f"{voice.base}/webhooks/twilio/voice", CallStatus="ringing")
    assert status == 200
    async with voice.app[DATABASE].read() as conn:
        session_id = (await conn.execute(select(ivr_sessions.c.id))).scalar_one()
    base = f"{voice.base}/webhooks/twilio/voice"
    assert body == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Gather action="{base}/answer?session={session_id}&amp;step=2" '
        'actionOnEmptyResult="false" '
        'hints="billing" input="dtmf speech" language="en-US" method="POST" numDigits="1" '
        'speechTimeout="auto" timeout="5">'
        '<Say language="en-US" voice="Polly.Joanna">For billing, press 1. For your order, '
        "press 2. To leave a message, press 3.</Say></Gather>"
        f'<Redirect method="POST">{base}/silence?session={session_id}&amp;step=2</Redirect>'
        "</Response>"
    )


async def test_an_order_is_looked_up_while_the_caller_waits(voice: RunningGateway) -> None:
    phone = Phone(voice)
    menu = await phone.call()
    gather = await phone.press(menu, "2")
    assert heard(gather) == ["Enter your order number."]
    assert gather.find("Gather").attrib["finishOnKey"] == "#"  # type: ignore[union-attr]
    done = await phone.press(gather, "123456")
    assert heard(done) == ["Order 123456 is shipped.", "Goodbye."]
    assert [child.tag for child in done] == ["Say", "Say", "Hangup"]


async def test_a_slow_order_system_takes_the_fallback(voice: RunningGateway) -> None:
    phone = Phone(voice)
    gather = await phone.press(await phone.call(), "2")
    fallback = await phone.press(gather, "999999")
    assert heard(fallback) == ["We could not find that order.", "Please hold."]
    assert fallback.find("Redirect").text.endswith("/hold?session=1")  # type: ignore[union-attr]


async def test_silence_invalid_keys_and_retries_exhausted(voice: RunningGateway) -> None:
    phone = Phone(voice)
    menu = await phone.call()
    again = await phone.silence(menu)
    assert heard(again)[0] == "Sorry, we did not get an answer."
    assert again.find("Gather") is not None
    last = await phone.press(again, "7")
    assert heard(last)[0] == "Sorry, that is not one of the choices."
    assert [child.tag for child in last][-1] == "Hangup"  # one retry, then goodbye
    async with voice.app[DATABASE].read() as conn:
        status = (await conn.execute(select(ivr_sessions.c.status))).scalar_one()
    assert status == "ended"


async def test_spanish_back_and_repeat(voice: RunningGateway) -> None:
    phone = Phone(voice)
    spanish = await phone.press(await phone.call(), "9")
    say = spanish.find("Gather/Say")
    assert say is not None
    assert (say.attrib["language"], say.attrib["voice"]) == ("es-US", "Polly.Lupe")
    assert say.text is not None and say.text.startswith("Para facturación")
    repeated = await phone.press(spanish, "#")
    assert heard(repeated) == heard(spanish)
    order = await phone.press(repeated, "2")
    assert heard(order) == ["Marque su número de pedido."]
    back = await phone.press(order, "*")
    assert heard(back) == heard(spanish)


async def test_closed_outside_business_hours(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    orders: str,
) -> None:
    gateway = await _start(start_gateway, tmp_path, fake_twilio, orders, calendar="never")
    closed = await Phone(gateway).call()
    assert heard(closed) == ["We are closed."]
    assert [child.tag for child in closed] == ["Say", "Hangup"]


async def _queued(voice: RunningGateway) -> tuple[Phone, ElementTree.Element]:
    phone = Phone(voice)
    hold_me = await phone.press(await phone.call(), "1")
    assert heard(hold_me) == ["Please hold."]
    return phone, await phone.follow(hold_me)


async def test_waiting_callers_hear_their_place_and_are_put_through(
    voice: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    phone, hold = await _queued(voice)
    assert heard(hold)[0] == "You are number 1 in line."
    assert heard(hold)[-1] == "To be called back instead, press 1."
    assert hold.find("Gather/Play") is not None
    again = await phone.follow(hold)  # the next round of the loop
    assert heard(again)[0] == "You are number 1 in line."

    ada = await voice.operator("ada")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    assert offer["channel"] == "voice"
    accepted = await ada.act({"type": "accept", "offer_id": offer["id"]})
    assert accepted["ok"] and accepted["call"] == {"connected": True, "to": "+15550002001"}
    (update,) = fake_twilio.call_updates
    assert update["sid"] == CALL_SID
    dial = ElementTree.fromstring(update["Twiml"]).find("Dial")  # noqa: S314 (ours)
    assert dial is not None and dial.findtext("Number") == "+15550002001"
    assert dial.attrib["action"].endswith("/after-dial?session=1")
    detail = await ada.get(f"/api/conversations/{offer['conversation_id']}")
    assert detail["conversation"]["messages"][0]["text"] == (
        "Phone call from +15557654321 (language: en, topic: billing)"
    )
    # A phone call is not answered in writing on the call itself.
    written = await ada.act(
        {
            "type": "reply",
            "conversation_id": offer["conversation_id"],
            "client_id": "typed-on-a-call",
            "text": "Hello?",
        }
    )
    assert not written["ok"] and written["error"] == "bad_identity", written
    # The operator did not pick up: the caller is told, the operator calls back.
    status, body = await phone.post(dial.attrib["action"], DialCallStatus="no-answer")
    assert status == 200 and "We could not reach the agent" in body


async def test_a_caller_can_ask_to_be_called_back(voice: RunningGateway) -> None:
    phone, hold = await _queued(voice)
    bye = await phone.press(hold, "1")
    assert heard(bye) == ["Thank you. We will call you back at this number. Goodbye."]
    async with voice.app[DATABASE].read() as conn:
        texts = (await conn.execute(select(messages.c.text).order_by(messages.c.id))).all()
        status = (await conn.execute(select(conversations.c.status))).scalar_one()
    assert [t.text for t in texts][-1] == "Please call me back at +15557654321"
    assert status == "waiting"  # still in routing: a callback for the next operator
    # The caller hanging up now does not make the callback an abandoned call.
    await phone.post(f"{voice.base}/webhooks/twilio/voice/status", CallStatus="completed")
    async with voice.app[DATABASE].read() as conn:
        assert (await conn.execute(select(conversations.c.status))).scalar_one() == "waiting"


async def test_hanging_up_while_waiting_is_an_abandoned_call(voice: RunningGateway) -> None:
    phone, _ = await _queued(voice)
    status, _ = await phone.post(
        f"{voice.base}/webhooks/twilio/voice/status", CallStatus="completed"
    )
    assert status == 200
    async with voice.app[DATABASE].read() as conn:
        assert (await conn.execute(select(conversations.c.status))).scalar_one() == "closed"
        kinds = (await conn.execute(select(routing_events.c.kind))).scalars().all()
    assert "abandoned" in kinds
    # The supervisor sees it in the queue's figures.
    sam = await voice.operator("sam", Role.SUPERVISOR, state=None)
    overview = await sam.get("/api/supervisor/overview")
    (everyone,) = [q for q in overview["queues"] if q["name"] == "everyone"]
    assert everyone["abandoned"] == 1


async def test_a_voicemail_with_its_recording_and_transcription(
    voice: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    phone = Phone(voice)
    record = await phone.press(await phone.call(), "3")
    assert heard(record) == ["Leave a message after the tone."]
    element = record.find("Record")
    assert element is not None and element.attrib["transcribe"] == "true"
    sid, url = fake_twilio.add_recording(b"RIFF fake wave")
    bye = await phone.twiml(
        element.attrib["action"], RecordingSid=sid, RecordingUrl=url, RecordingDuration="7"
    )
    assert heard(bye) == ["Goodbye."]
    # The recording is fetched and kept; the transcription arrives later and is added.
    status, _ = await phone.post(
        element.attrib["transcribeCallback"],
        RecordingSid=sid,
        TranscriptionText="Please call me about my bill.",
        TranscriptionStatus="completed",
    )
    assert status == 200

    async def stored() -> Any:
        async with voice.app[DATABASE].read() as conn:
            row = (await conn.execute(select(messages.c.text, messages.c.attachments))).one()
        kept = row.attachments and row.attachments[0].get("file_id")
        return row if kept and "bill" in row.text else None

    row = await wait_for(stored)
    assert row.text == "Voicemail (7 s)\n\nPlease call me about my bill."


async def test_forged_or_missing_signatures_change_nothing(voice: RunningGateway) -> None:
    phone = Phone(voice)
    url = f"{voice.base}/webhooks/twilio/voice"
    assert (await phone.post(url, token="not-the-token"))[0] == 403
    async with voice.http.post(url, data={"CallSid": CALL_SID}) as resp:
        assert resp.status == 403
    async with voice.app[DATABASE].read() as conn:
        assert (await conn.execute(select(ivr_sessions.c.id))).first() is None
    # A signed webhook for a session of another call is refused too.
    await phone.call()
    other = Phone(voice, "CA" + "2" * 32)
    status, _ = await other.post(f"{url}/answer?session=1", Digits="1")
    assert status == 404


async def test_a_call_survives_a_restart_in_the_middle_of_the_menu(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    orders: str,
) -> None:
    port = free_port()
    first = await _start(start_gateway, tmp_path, fake_twilio, orders, port=port)
    phone = Phone(first)
    gather = await phone.press(await phone.call(), "2")
    await first.server.close()
    second = await _start(start_gateway, tmp_path, fake_twilio, orders, port=port)
    phone.gateway = second
    done = await phone.press(gather, "654321")
    assert heard(done) == ["Order 654321 is shipped.", "Goodbye."]


async def test_the_store_away_still_answers_twiml_and_takes_a_message(
    voice: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    sessions = voice.app[IVR_SESSIONS]
    working = sessions.db
    sessions.db = Database("postgresql+asyncpg://cg@127.0.0.1:1/unreachable")
    try:
        phone = Phone(voice)
        apology = await phone.call()
        assert heard(apology) == [
            "We are sorry, we cannot take your call right now. Please leave a message after "
            "the tone, and we will call you back."
        ]
        record = apology.find("Record")
        assert record is not None and "fallback=1" in record.attrib["action"]
    finally:
        await sessions.db.dispose()
        sessions.db = working
    sid, url = fake_twilio.add_recording(b"RIFF message")
    for _ in range(2):  # the Record's action and its status callback: stored once
        bye = await phone.twiml(
            record.attrib["action"], RecordingSid=sid, RecordingUrl=url, RecordingDuration="4"
        )
        assert heard(bye) == ["Thank you for your message. Goodbye."]
    async with voice.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(messages.c.text, messages.c.raw))).all()
    assert [r.text for r in rows] == ["Voicemail (4 s)"]


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("", {"CallSid": "not-a-call"}),
        ("/answer?session=1", {"Digits": "12a"}),
        ("/answer?session=x", {"Digits": "1"}),
        ("/recording?session=1", {"RecordingSid": "RE1", "RecordingUrl": "https://x"}),
        ("/recording?session=1", {"RecordingSid": "RE" + "a" * 32, "RecordingUrl": "http://x"}),
    ],
)
async def test_malformed_webhooks_are_refused_and_change_nothing(
    voice: RunningGateway, path: str, fields: dict[str, str]
) -> None:
    phone = Phone(voice)
    menu = await phone.call()
    async with voice.app[DATABASE].read() as conn:
        before = (await conn.execute(select(ivr_sessions.c.state, ivr_sessions.c.revision))).one()
    status, body = await phone.post(f"{voice.base}/webhooks/twilio/voice{path}", **fields)
    assert status == 400, body
    async with voice.app[DATABASE].read() as conn:
        after = (await conn.execute(select(ivr_sessions.c.state, ivr_sessions.c.revision))).one()
    assert after == before
    assert menu.find("Gather") is not None


@pytest.mark.parametrize(
    ("final", "expect_tags", "expect_heard"),
    [
        (
            '{action: callback, text: "All our agents are busy."}',
            ["Say", "Say", "Hangup"],
            [
                "All our agents are busy.",
                "Thank you. We will call you back at this number. Goodbye.",
            ],
        ),
        (
            "{action: voicemail}",
            ["Say", "Record", "Hangup"],
            # The rule's own text (routing's default for voicemail), then the tone.
            [
                "All our agents are busy. Leave us a message here and we will answer it as soon "
                "as we can."
            ],
        ),
        (
            '{action: notice, text: "Please call again tomorrow."}',
            ["Say", "Hangup"],
            ["Please call again tomorrow."],
        ),
    ],
)
async def test_a_rules_final_action_reaches_the_caller_on_hold(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    orders: str,
    final: str,
    expect_tags: list[str],
    expect_heard: list[str],
) -> None:
    # Nobody is available: the only step expires after a second and the final action runs.
    routing = ROUTING.replace("timeout_seconds: 600", "timeout_seconds: 1").replace(
        "{action: overflow, queue: everyone}", final
    )
    gateway = await _start(start_gateway, tmp_path, fake_twilio, orders, routing=routing)
    phone, hold = await _queued(gateway)
    assert heard(hold)[0] == "You are number 1 in line."

    async def finished() -> ElementTree.Element | None:
        response = await phone.follow(hold)
        return None if response.find("Gather/Play") is not None else response

    done = await wait_for(finished, timeout=15, interval=0.5)
    assert [child.tag for child in done] == expect_tags
    assert heard(done) == expect_heard
    if "Record" in expect_tags:
        record = done.find("Record")
        assert record is not None
        sid, url = fake_twilio.add_recording(b"RIFF after waiting")
        bye = await phone.twiml(
            record.attrib["action"], RecordingSid=sid, RecordingUrl=url, RecordingDuration="3"
        )
        assert heard(bye) == ["Thank you for your message. Goodbye."]
        async with gateway.app[DATABASE].read() as conn:
            texts = (await conn.execute(select(messages.c.text))).scalars().all()
        assert "Voicemail (3 s)" in texts


@pytest.mark.slow
async def test_with_the_broker_down_a_call_goes_through_the_menu_into_the_line(
    voice: RunningGateway,
) -> None:
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        _, hold = await _queued(voice)  # the menu and the hand-over need only the store
        assert hold.find("Gather/Play") is not None
        assert heard(hold)[0] == "You are number 1 in line."
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")

    # Once the broker is back, the contact is offered like any other.
    async def ready() -> bool:
        async with voice.http.get(f"{voice.base}/readyz") as resp:
            return resp.status == 200

    await wait_for(ready, timeout=30)
    ada = await voice.operator("ada")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None), timeout=30)
    assert offer["channel"] == "voice"


async def _revision(gateway: RunningGateway) -> tuple[int, str]:
    async with gateway.app[DATABASE].read() as conn:
        row = (await conn.execute(select(ivr_sessions.c.revision, ivr_sessions.c.state))).one()
    return row.revision, row.state


async def test_a_replayed_callback_gets_the_same_twiml_and_advances_once(
    voice: RunningGateway,
) -> None:
    phone = Phone(voice)
    menu = await phone.call()
    # Twilio re-posts a Redirect or a Gather whose answer timed out, with the same parameters.
    silence = menu.find("Redirect").text or ""  # type: ignore[union-attr]
    quiet = [await phone.post(silence) for _ in range(2)]
    assert quiet[0] == quiet[1]
    again = ElementTree.fromstring(quiet[1][1])  # noqa: S314
    assert heard(again)[0] == "Sorry, we did not get an answer."
    assert again.find("Gather") is not None  # one retry is left: the silence counted once
    action = again.find("Gather").attrib["action"]  # type: ignore[union-attr]
    first = await phone.post(action, Digits="2")
    revision, state = await _revision(voice)
    second = await phone.post(action, Digits="2")
    assert first == second and first[0] == 200
    assert await _revision(voice) == (revision, state)  # the replay changed nothing
    order = ElementTree.fromstring(second[1])  # noqa: S314
    assert heard(order) == ["Enter your order number."]
    done = await phone.press(order, "123456")
    assert heard(done) == ["Order 123456 is shipped.", "Goodbye."]
    # A replayed choice that puts the caller in line: one contact, the same TwiML.
    other = Phone(voice, "CA" + "3" * 32)
    billing = (await other.call()).find("Gather").attrib["action"]  # type: ignore[union-attr]
    queued = [await other.post(billing, Digits="1") for _ in range(2)]
    assert queued[0] == queued[1]
    assert heard(ElementTree.fromstring(queued[1][1])) == ["Please hold."]  # noqa: S314
    async with voice.app[DATABASE].read() as conn:
        assert len((await conn.execute(select(conversations.c.id))).all()) == 1


async def test_a_replay_while_the_first_is_still_worked_on(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    """Both copies are inside the order lookup at once; the order system answers only when
    the second has arrived."""
    lookups: list[str] = []
    both_in = asyncio.Event()

    async def order(request: web.Request) -> web.Response:
        lookups.append(request.match_info["number"])
        if len(lookups) == 2:
            both_in.set()
        await both_in.wait()
        return web.json_response({"status": "shipped"})

    app = web.Application()
    app.router.add_get("/orders/{number}", order)
    orders = str((await aiohttp_server(app)).make_url("")).rstrip("/")
    patient = MENU.replace("timeout_seconds: 1\n    into:", "timeout_seconds: 30\n    into:")
    assert patient != MENU
    voice = await _start(start_gateway, tmp_path, fake_twilio, orders, menu=patient)
    phone = Phone(voice)
    gather = await phone.press(await phone.call(), "2")
    action = gather.find("Gather").attrib["action"]  # type: ignore[union-attr]
    revision, _ = await _revision(voice)
    first, second = await asyncio.gather(
        phone.post(action, Digits="123456"), phone.post(action, Digits="123456")
    )
    assert lookups == ["123456", "123456"]
    assert first == second and first[0] == 200, (first, second)
    assert heard(ElementTree.fromstring(first[1])) == [  # noqa: S314
        "Order 123456 is shipped.",
        "Goodbye.",
    ]
    assert (await _revision(voice))[0] == revision + 1  # the menu advanced once
