"""The same IVR menu walked over SMS (numbered text), Telegram (inline buttons) and web chat
(quick replies), against the local Twilio and Telegram fakes and a running gateway."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from gateway.keys import DATABASE
from gateway.model import Role
from gateway.settings import Settings
from gateway.storage.schema import conversations, routing_events
from tests.conftest import RunningGateway
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, text_update
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, message_sid, signed, sms_params
from tests.support import free_port, make_settings, wait_for

MENU = """
id: text
languages: [en]
start: main
nodes:
  main:
    kind: menu
    prompt: Press 1 for billing, 2 to check an order, 3 to leave a message.
    text: How can we help?
    retries: 1
    options:
      - {key: 1, label: Billing, words: [billing, invoice], next: billing}
      - {key: 2, label: Order status, words: [order], next: order}
      - {key: 3, label: Leave a message, next: message}
  billing:
    kind: queue
    prompt: Please hold.
    text: An agent will be with you shortly.
    topic: billing
  order:
    kind: gather
    prompt: Enter your order number.
    text: Please reply with your order number.
    min_digits: 6
    max_digits: 8
    into: order_number
    next: bye
  message:
    kind: voicemail
    prompt: Leave a message after the tone.
    text: Please write your message.
    next: bye
  bye:
    kind: hangup
    prompt: Thank you. Goodbye.
"""

CUSTOMER = "+15557654321"
SECRET = "s3cret-token-for-the-webhook_0123"
CHAT = 4242


@pytest.fixture
async def fakes(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[FakeTwilio, FakeTelegram]:
    twilio, telegram = FakeTwilio(), FakeTelegram()
    twilio.server = await aiohttp_server(twilio.app())
    telegram.server = await aiohttp_server(telegram.app())
    return twilio, telegram


def _settings(tmp_path: Path, port: int, twilio: FakeTwilio, telegram: FakeTelegram) -> Settings:
    menus = tmp_path / "ivr"
    menus.mkdir()
    (menus / "text.yaml").write_text(MENU)
    base = f"http://127.0.0.1:{port}"
    return make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": base},
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": twilio.base_url,
            "sms_from": "+15550001111",
        },
        telegram={
            "bot_token": BOT_TOKEN,
            "webhook_secret": SECRET,
            "api_base_url": telegram.api_base_url,
        },
        ivr={
            "directory": str(menus),
            "channels": {"sms": "text", "telegram": "text", "webchat": "text"},
        },
    )


@pytest.fixture
async def gateway(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fakes: tuple[FakeTwilio, FakeTelegram],
) -> RunningGateway:
    port = free_port()
    return await start_gateway(_settings(tmp_path, port, *fakes), port=port)


async def _sms(gateway: RunningGateway, text: str) -> None:
    url = f"{gateway.base}/webhooks/twilio/messaging"
    request = signed(url, sms_params(message_sid(), CUSTOMER, text))
    async with gateway.http.post(url, data=request["data"], headers=request["headers"]) as resp:
        assert resp.status == 200


async def _telegram(gateway: RunningGateway, update: dict[str, Any]) -> None:
    async with gateway.http.post(
        f"{gateway.base}/webhooks/telegram",
        data=json.dumps(update),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200, await resp.text()


async def _status(gateway: RunningGateway, channel: str) -> str:
    async with gateway.app[DATABASE].read() as conn:
        return str(
            (
                await conn.execute(
                    select(conversations.c.status).where(conversations.c.channel == channel)
                )
            ).scalar_one()
        )


async def test_sms_walks_the_menu_as_numbered_text_then_reaches_an_operator(
    gateway: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    twilio, _ = fakes
    ada = await gateway.operator("ada")
    await _sms(gateway, "Hi, I have a question")
    await wait_for(lambda: len(twilio.sent) == 1)
    assert twilio.sent[0]["Body"] == (
        "How can we help?\nReply 1 for Billing, 2 for Order status or 3 for Leave a message."
    )
    assert twilio.sent[0]["To"] == CUSTOMER
    assert await _status(gateway, "sms") == "menu"
    assert not ada.offers  # nobody is offered a contact that is still choosing
    sam = await gateway.operator("sam", Role.SUPERVISOR, state=None)
    assert (await sam.get("/api/supervisor/overview"))["in_menu"] == {"sms": 1}
    await _sms(gateway, "it is about an invoice")
    await wait_for(lambda: len(twilio.sent) == 2)
    assert twilio.sent[1]["Body"] == "An agent will be with you shortly."
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    accepted = await ada.act({"type": "accept", "offer_id": offer["id"]})
    assert accepted["ok"], accepted
    detail = accepted["conversation"]
    assert [m["text"] for m in detail["messages"]] == [
        "Hi, I have a question",
        twilio.sent[0]["Body"],
        "it is about an invoice",
        "An agent will be with you shortly.",
    ]
    async with gateway.app[DATABASE].read() as conn:
        attributes = (await conn.execute(select(conversations.c.attributes))).scalar_one()
        kinds = (await conn.execute(select(routing_events.c.kind))).scalars().all()
    assert attributes["topic"] == "billing"
    assert "menu_done" in kinds


async def test_telegram_walks_the_menu_with_buttons_and_the_menu_can_end_it(
    gateway: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    _, telegram = fakes
    await _telegram(gateway, text_update(1, CHAT, "hello"))
    await wait_for(lambda: len(telegram.sent) == 1)
    first = telegram.sent[0]
    assert first["text"] == "How can we help?"
    keyboard = first["reply_markup"]["inline_keyboard"]
    assert [[b["text"], b["callback_data"]] for (b,) in keyboard] == [
        ["Billing", "1"],
        ["Order status", "2"],
        ["Leave a message", "3"],
    ]
    press = {
        "update_id": 2,
        "callback_query": {
            "id": "cbq-menu",
            "from": {"id": CHAT, "is_bot": False, "first_name": "Lena"},
            "chat_instance": "ci",
            "data": "2",
            "message": {
                "message_id": 5,
                "date": 1_700_000_000,
                "chat": {"id": CHAT, "type": "private"},
                "text": "How can we help?",
            },
        },
    }
    await _telegram(gateway, press)
    await wait_for(lambda: len(telegram.sent) == 2)
    assert telegram.sent[1]["text"] == "Please reply with your order number."
    back = [[{"text": "Back", "callback_data": "*"}]]  # '*' goes back to the menu
    assert telegram.sent[1]["reply_markup"] == {"inline_keyboard": back}
    await _telegram(gateway, text_update(3, CHAT, "123 456"))
    await wait_for(lambda: len(telegram.sent) == 3)
    assert telegram.sent[2]["text"] == "Thank you. Goodbye."
    assert await _status(gateway, "telegram") == "closed"  # nothing left for an operator
    # Writing again later starts the menu afresh in a new conversation.
    await _telegram(gateway, text_update(4, CHAT, "one more thing"))
    await wait_for(lambda: len(telegram.sent) == 4)
    assert telegram.sent[3]["text"] == "How can we help?"


async def test_web_chat_gets_quick_replies_and_a_written_message_reaches_an_operator(
    gateway: RunningGateway,
) -> None:
    visitor = await gateway.customer()
    await visitor.say("hello there")
    menu = await wait_for(lambda: next(iter(visitor.received.values()), None))
    assert menu["text"] == "How can we help?"
    assert [b["label"] for b in menu["buttons"]] == ["Billing", "Order status", "Leave a message"]
    await visitor.say(menu["buttons"][2]["value"])
    await wait_for(lambda: len(visitor.received) == 2)
    assert [m["text"] for m in visitor.received.values()][-1] == "Please write your message."
    await visitor.say("0151 2345678")  # only digits: still the message, not a key
    await wait_for(lambda: len(visitor.received) == 3)
    ada = await gateway.operator("ada")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    assert offer["preview"] == "0151 2345678"
    async with gateway.app[DATABASE].read() as conn:
        attributes = (await conn.execute(select(conversations.c.attributes))).scalar_one()
    assert attributes["kind"] == "voicemail"
    assert attributes["voicemail_text"] == "0151 2345678"


async def test_a_repeated_delivery_is_one_answer(
    gateway: RunningGateway, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    _, telegram = fakes
    await _telegram(gateway, text_update(10, CHAT, "hi"))
    await wait_for(lambda: len(telegram.sent) == 1)
    again = text_update(11, CHAT, "7")  # not a choice: the menu says so once
    await _telegram(gateway, again)
    await _telegram(gateway, again)
    await wait_for(lambda: len(telegram.sent) == 2)
    assert telegram.sent[1]["text"].startswith("Sorry, that is not one of the choices.")
    await _telegram(gateway, text_update(12, CHAT, "1"))
    await wait_for(lambda: len(telegram.sent) == 3)
    assert telegram.sent[2]["text"] == "An agent will be with you shortly."
    assert await _status(gateway, "telegram") == "waiting"
