"""Telegram, against a local server that speaks the Bot API: the webhook with its secret,
updates of every kind we take, replies with flood control and blocked bots, long polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect
from sqlalchemy import func, select

from channels.common import WebhookError
from channels.telegram.updates import (
    ALLOWED_UPDATES,
    Ignored,
    Inbound,
    MemberChange,
    Parsed,
    parse_update,
)
from gateway.keys import DATABASE, INTAKE, USERS
from gateway.model import Channel, InboundMessage, Role
from gateway.settings import Settings
from gateway.storage.schema import conversations, identities, messages
from tests.browsers import shot
from tests.conftest import RunningGateway
from tests.fakes.telegram import (
    BOT_TOKEN,
    SAMPLE_CHAT,
    FakeTelegram,
    blocked,
    every_update_kind,
    flood,
    member_update,
    message_variant,
    text_update,
)
from tests.support import Operator, free_port, make_settings, served_at, wait_for

SECRET = "s3cret-token-for-the-webhook_0123"
CHAT = 987654321


@pytest.fixture
async def fake_telegram(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeTelegram:
    fake = FakeTelegram()
    fake.server = await aiohttp_server(fake.app())
    return fake


def _settings(tmp_path: Path, fake: FakeTelegram, **telegram: Any) -> Settings:
    return make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0, "public_url": "https://gw.example.com"},
        telegram={
            "bot_token": BOT_TOKEN,
            "webhook_secret": SECRET,
            "api_base_url": fake.api_base_url,
            "default_region": "DE",
            "retry_delays_seconds": [0.2, 1.0],
            **telegram,
        },
    )


@pytest.fixture
async def tg_gateway(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_telegram: FakeTelegram,
) -> RunningGateway:
    return await start_gateway(_settings(tmp_path, fake_telegram))


async def _post(
    gateway: RunningGateway, update: Any, secret: str | None = SECRET
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    async with gateway.http.post(
        f"{gateway.base}/webhooks/telegram", data=body, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def _count(gateway: RunningGateway) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


async def _assigned(gateway: RunningGateway, text: str) -> tuple[Operator, int]:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    if text not in ada.texts("in"):
        await ada.act({"type": "accept", "offer_id": offer["id"]})
    await wait_for(lambda: text in ada.texts("in"))
    return ada, offer["conversation_id"]


def _statuses(operator: Operator, message_id: int) -> list[str]:
    return [
        f["status"]
        for f in operator.frames
        if f["type"] == "message_status" and f["message_id"] == message_id
    ]


async def _reply(operator: Operator, conversation_id: int, text: str) -> dict[str, Any]:
    answer = await operator.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": f"tg-{abs(hash(text))}",
            "text": text,
        }
    )
    assert answer["ok"], answer
    return answer["message"]  # type: ignore[no-any-return]


async def test_message_in_reply_out(
    tg_gateway: RunningGateway, fake_telegram: FakeTelegram
) -> None:
    assert fake_telegram.webhook["url"] == "https://gw.example.com/webhooks/telegram"
    assert fake_telegram.webhook["secret_token"] == SECRET
    assert fake_telegram.webhook["allowed_updates"] == [
        "message",
        "callback_query",
        "my_chat_member",
    ]
    status, body = await _post(tg_gateway, text_update(1, CHAT, "Mein Router blinkt"))
    assert (status, body["stored"]) == (200, True)
    ada, conversation_id = await _assigned(tg_gateway, "Mein Router blinkt")
    reply = await _reply(ada, conversation_id, "Bitte einmal neu starten")
    await wait_for(lambda: fake_telegram.sent)
    assert fake_telegram.sent == [{"chat_id": CHAT, "text": "Bitte einmal neu starten"}]
    await wait_for(lambda: "sent" in _statuses(ada, reply["id"]))
    async with tg_gateway.app[DATABASE].read() as conn:
        row = (await conn.execute(select(identities.c.channel, identities.c.address))).one()
        name = (await conn.execute(select(conversations.c.channel))).scalar_one()
    assert (row.channel, row.address, name) == ("telegram", str(CHAT), "telegram")


async def test_wrong_or_missing_secret_is_refused(tg_gateway: RunningGateway) -> None:
    assert (await _post(tg_gateway, text_update(2, CHAT, "x"), secret="wrong-secret-value-000"))[
        0
    ] == 403
    assert (await _post(tg_gateway, text_update(3, CHAT, "x"), secret=None))[0] == 403
    assert await _count(tg_gateway) == 0


async def test_the_same_update_twice_is_one_message(tg_gateway: RunningGateway) -> None:
    update = text_update(7, CHAT, "once")
    results = await asyncio.gather(*(_post(tg_gateway, update) for _ in range(3)))
    assert [status for status, _ in results] == [200, 200, 200]
    assert await _count(tg_gateway) == 1


async def test_photos_documents_contacts_and_buttons(
    tg_gateway: RunningGateway, fake_telegram: FakeTelegram
) -> None:
    photo = text_update(10, CHAT, "")
    del photo["message"]["text"]
    photo["message"]["caption"] = "the error screen"
    photo["message"]["photo"] = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60},
        {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960, "file_size": 99},
    ]
    document = text_update(11, CHAT, "")
    del document["message"]["text"]
    document["message"]["document"] = {
        "file_id": "doc1",
        "file_unique_id": "d1",
        "file_name": "invoice.pdf",
        "mime_type": "application/pdf",
    }
    contact = text_update(12, CHAT, "")
    del contact["message"]["text"]
    contact["message"]["contact"] = {"phone_number": "0151 23456789", "first_name": "Lena"}
    button = {
        "update_id": 13,
        "callback_query": {
            "id": "cbq-1",
            "from": {"id": CHAT, "is_bot": False, "first_name": "Lena"},
            "chat_instance": "ci",
            "data": "billing",
            "message": {
                "message_id": 5,
                "date": 1_700_000_000,
                "chat": {"id": CHAT, "type": "private"},
                "text": "What is it about?",
            },
        },
    }
    for update in (photo, document, contact, button):
        status, body = await _post(tg_gateway, update)
        assert (status, body["stored"]) == (200, True), body
    async with tg_gateway.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.text, messages.c.attachments).order_by(messages.c.id)
            )
        ).all()
        attributes = (await conn.execute(select(conversations.c.attributes))).scalar_one()
    assert [r.text for r in rows] == [
        "the error screen",
        "",
        "Shared a phone number: +4915123456789",
        "billing",
    ]
    assert rows[0].attachments[0]["url"] == "telegram-file:large"
    assert rows[1].attachments[0]["filename"] == "invoice.pdf"
    assert attributes is None  # the conversation opened with the photo: nothing to route on
    await wait_for(lambda: fake_telegram.answered == ["cbq-1"])


async def _settled_files(gateway: RunningGateway) -> list[dict[str, Any]] | None:
    async with gateway.app[DATABASE].read() as conn:
        stored = [
            a
            for (attachments,) in (await conn.execute(select(messages.c.attachments))).all()
            for a in attachments or []
        ]
    return None if any(a["pending"] for a in stored) else stored


async def test_photos_and_documents_are_fetched_through_the_bot_api(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_telegram: FakeTelegram,
) -> None:
    gateway = await start_gateway(_settings(tmp_path, fake_telegram, max_media_bytes=1000))
    fake_telegram.files = {"large": b"\xff\xd8 jpeg", "huge": b"x" * 1001}
    fake_telegram.file_fail_next = [flood(0)]  # the first getFile: flood control, retried
    photo = text_update(20, CHAT, "")
    del photo["message"]["text"]
    photo["message"]["photo"] = [
        {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960}
    ]
    for update_id, file_id in ((21, "huge"), (22, "deleted")):
        update = text_update(update_id, CHAT, f"file {file_id}")
        update["message"]["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": f"{file_id}.bin",
        }
        assert (await _post(gateway, update))[0] == 200
    assert (await _post(gateway, photo))[0] == 200
    stored = await wait_for(lambda: _settled_files(gateway), timeout=15)
    by_url = {a["url"]: a for a in stored}
    assert by_url["telegram-file:large"]["file_id"] is not None
    assert by_url["telegram-file:large"]["size"] == len(b"\xff\xd8 jpeg")
    assert "limit" in by_url["telegram-file:huge"]["error"]
    assert "no longer has" in by_url["telegram-file:deleted"]["error"]
    # The size getFile reported kept the big file from being downloaded at all.
    assert fake_telegram.downloads == ["documents/large.bin"]
    ada = await gateway.operator("ada")
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    await ada.act({"type": "accept", "offer_id": offer["id"]})
    detail = await ada.get(f"/api/conversations/{offer['conversation_id']}")
    (photo_message,) = [m for m in detail["conversation"]["messages"] if m["text"] == ""]
    url = photo_message["attachments"][0]["url"]
    async with gateway.http.get(f"{gateway.base}{url}", headers=ada.headers) as resp:
        assert resp.status == 200 and await resp.read() == b"\xff\xd8 jpeg"
        assert resp.headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (json.dumps({"update_id": "seven"}).encode(), 400),
        (json.dumps({"message": {"text": "no update_id"}}).encode(), 400),
        (b"\xff\xfe{}", 400),
    ],
)
async def test_malformed_updates_are_refused(
    tg_gateway: RunningGateway, body: bytes, status: int
) -> None:
    assert (await _post(tg_gateway, body))[0] == status
    assert await _count(tg_gateway) == 0


async def test_group_chats_and_stickers_are_ignored(tg_gateway: RunningGateway) -> None:
    group = text_update(20, -100123, "hi all")
    group["message"]["chat"]["type"] = "group"
    sticker = text_update(21, CHAT, "")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {
        "file_id": "st",
        "file_unique_id": "st",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    for update in (group, sticker):
        assert await _post(tg_gateway, update) == (200, {"ok": True, "stored": False})
    assert await _count(tg_gateway) == 0


async def test_a_blocked_bot_marks_the_customer_unreachable(
    tg_gateway: RunningGateway, fake_telegram: FakeTelegram
) -> None:
    await _post(tg_gateway, text_update(30, CHAT, "hello"))
    ada, conversation_id = await _assigned(tg_gateway, "hello")
    fake_telegram.fail_next = [blocked()]
    first = await _reply(ada, conversation_id, "hi, how can I help?")
    await wait_for(lambda: "undelivered" in _statuses(ada, first["id"]))
    second = await _reply(ada, conversation_id, "are you there?")
    await wait_for(lambda: "undelivered" in _statuses(ada, second["id"]))
    assert fake_telegram.send_calls == 1  # the second was not even tried
    async with tg_gateway.app[DATABASE].read() as conn:
        unreachable = (await conn.execute(select(identities.c.unreachable_at))).scalar_one()
    assert unreachable is not None


async def test_flood_control_is_waited_out_and_sent_once(
    tg_gateway: RunningGateway, fake_telegram: FakeTelegram
) -> None:
    await _post(tg_gateway, text_update(40, CHAT, "question"))
    ada, conversation_id = await _assigned(tg_gateway, "question")
    fake_telegram.fail_next = [flood(1)]
    reply = await _reply(ada, conversation_id, "answer")
    await wait_for(lambda: "sent" in _statuses(ada, reply["id"]))
    assert fake_telegram.sent == [{"chat_id": CHAT, "text": "answer"}]
    assert fake_telegram.send_calls == 2


async def test_long_polling_without_a_public_url(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.webhook = {"url": "https://old.example/webhooks/telegram"}
    fake_telegram.pending_updates = [text_update(50, CHAT, "polled"), text_update(51, CHAT, "too")]
    gateway = await start_gateway(
        _settings(tmp_path, fake_telegram, mode="polling", webhook_secret=None)
    )
    assert fake_telegram.webhook == {}
    await wait_for(lambda: _count(gateway), timeout=10)
    assert fake_telegram.update_requests[0]["allowed_updates"] == list(ALLOWED_UPDATES)
    assert "my_chat_member" in ALLOWED_UPDATES
    await wait_for(lambda: _two(gateway))
    async with gateway.http.post(f"{gateway.base}/webhooks/telegram", json={}) as resp:
        assert resp.status == 404  # no webhook in polling mode


async def _two(gateway: RunningGateway) -> bool:
    return await _count(gateway) == 2


async def test_a_shared_phone_number_links_to_the_customer_who_has_it(
    tg_gateway: RunningGateway,
) -> None:
    sms = InboundMessage(
        channel=Channel.SMS, sender="+4915123456789", text="by sms", provider_message_id="SMx"
    )
    await tg_gateway.app[INTAKE].accept(sms, dedupe_key="twilio:SMx", queue="general")
    await _post(tg_gateway, text_update(60, CHAT, "hello from telegram"))
    contact = text_update(61, CHAT, "")
    del contact["message"]["text"]
    contact["message"]["contact"] = {"phone_number": "+49 151 23456789", "first_name": "Lena"}
    assert (await _post(tg_gateway, contact))[0] == 200
    async with tg_gateway.app[DATABASE].read() as conn:
        owners = {
            r.channel: r.customer_id
            for r in await conn.execute(select(identities.c.channel, identities.c.customer_id))
        }
    assert owners["telegram"] == owners["sms"]


# ---- every kind of update, parsed (pure) and through the webhook ----------------------------

HANDLED_KINDS = {"message", "callback_query", "my_chat_member"}


def _parse(update: Any) -> Parsed:
    return parse_update(json.dumps(update).encode(), "DE")


def _meaning(parsed: Parsed) -> tuple[str, Any]:
    if isinstance(parsed, Inbound):
        return "inbound", parsed.message.text
    if isinstance(parsed, MemberChange):
        return "reachable", parsed.reachable
    assert isinstance(parsed, Ignored)
    return "ignored", parsed.kind


_EXPECTED_KIND: dict[str, tuple[str, Any]] = {
    "message": ("inbound", "/start hallo"),
    "callback_query": ("inbound", "billing"),
    "my_chat_member": ("reachable", False),
}


@pytest.mark.parametrize("kind", list(every_update_kind()))
def test_every_kind_of_update_is_understood_or_ignored(kind: str) -> None:
    update = every_update_kind()[kind]
    parsed = _parse(update)
    assert parsed.update_id == update["update_id"]
    assert _meaning(parsed) == _EXPECTED_KIND.get(kind, ("ignored", kind))
    if isinstance(parsed, Inbound):
        assert parsed.message.sender == str(SAMPLE_CHAT)
        assert parsed.message.sender_name == "Lena Schmidt"
    if isinstance(parsed, MemberChange):
        assert parsed.chat_id == str(SAMPLE_CHAT)


def _without_from(update: dict[str, Any]) -> dict[str, Any]:
    del update["message"]["from"]
    return update


_NEW_FIELDS = message_variant(
    90,
    text="Neue Felder",
    entities=[{"offset": 0, "length": 4, "type": "future_entity", "future": {"x": 1}}],
    future_message_field={"nested": [1, {"deeper": True}]},
    link_preview_options={"is_disabled": True},
)
_NEW_FIELDS["message"]["chat"] = {**_NEW_FIELDS["message"]["chat"], "future_chat_field": 7}
_NEW_FIELDS["future_update_field"] = {"anything": "at all"}

_FILE = {"file_id": "AwACAgIAAxk", "file_unique_id": "AgADx", "file_size": 4210}

VARIANTS: list[tuple[str, dict[str, Any], tuple[str, Any]]] = [
    (
        "sticker",
        message_variant(
            80,
            sticker={
                **_FILE,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "\U0001f600",
            },
        ),
        ("ignored", "message"),
    ),
    (
        "voice",
        message_variant(81, voice={**_FILE, "duration": 3, "mime_type": "audio/ogg"}),
        ("ignored", "message"),
    ),
    (
        "voice with a caption",
        message_variant(82, voice={**_FILE, "duration": 3}, caption="Hören Sie mich?"),
        ("inbound", "Hören Sie mich?"),
    ),
    (
        "video_note",
        message_variant(83, video_note={**_FILE, "length": 240, "duration": 5}),
        ("ignored", "message"),
    ),
    (
        "location",
        message_variant(84, location={"latitude": 52.5200, "longitude": 13.4050}),
        ("ignored", "message"),
    ),
    ("dice", message_variant(85, dice={"emoji": "\U0001f3b2", "value": 4}), ("ignored", "message")),
    (
        "story",
        message_variant(86, story={"chat": {"id": 42, "type": "private"}, "id": 7}),
        ("ignored", "message"),
    ),
    (
        "contact",
        message_variant(87, contact={"phone_number": "+49 151 23456789", "first_name": "Lena"}),
        ("inbound", "Shared a phone number: +4915123456789"),
    ),
    (
        "contact with a number that is none",
        message_variant(88, contact={"phone_number": "geheim", "first_name": "Lena"}),
        ("inbound", "Shared a contact: geheim"),
    ),
    (
        "no from",
        _without_from(message_variant(89, text="ohne Absender")),
        ("inbound", "ohne Absender"),
    ),
    ("new fields everywhere", _NEW_FIELDS, ("inbound", "Neue Felder")),
    (
        "callback_query without message",
        {
            "update_id": 91,
            "callback_query": {
                "id": "cbq-inline",
                "from": {"id": SAMPLE_CHAT, "is_bot": False, "first_name": "Lena"},
                "inline_message_id": "BAAAAJ2b",
                "chat_instance": "-742",
                "data": "billing",
            },
        },
        ("ignored", "callback_query"),
    ),
    (
        "callback_query on an inaccessible message",
        {
            "update_id": 92,
            "callback_query": {
                "id": "cbq-old",
                "from": {"id": SAMPLE_CHAT, "is_bot": False, "first_name": "Lena"},
                "message": {
                    "chat": {"id": SAMPLE_CHAT, "type": "private"},
                    "message_id": 5,
                    "date": 0,
                },
                "chat_instance": "-742",
                "data": "tech",
            },
        },
        ("inbound", "tech"),
    ),
    (
        "a message whose chat is not an object",
        {"update_id": 93, "message": {"chat": "nope"}},
        ("ignored", "message"),
    ),
    ("a null message", {"update_id": 94, "message": None}, ("ignored", "message")),
    ("nothing but update_id", {"update_id": 95}, ("ignored", "none")),
    ("unblocked", member_update(96, "kicked", "member"), ("reachable", True)),
    (
        "group chat",
        {
            "update_id": 97,
            "message": {
                **text_update(97, -100123, "hi all")["message"],
                "chat": {"id": -100123, "type": "group", "title": "G"},
            },
        },
        ("ignored", "message"),
    ),
]


@pytest.mark.parametrize(("name", "update", "expected"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_optional_missing_and_new_fields_are_tolerated(
    name: str, update: dict[str, Any], expected: tuple[str, Any]
) -> None:
    assert _meaning(_parse(update)) == expected


def test_a_bot_added_to_a_group_is_no_member_change() -> None:
    update = member_update(98, "left", "member", chat_id=-100123)
    update["my_chat_member"]["chat"] = {"id": -100123, "type": "group", "title": "G"}
    assert _meaning(_parse(update)) == ("ignored", "my_chat_member")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"update"',
        b'{"update_id": "7"}',
        b'{"update_id": true}',
        b'{"update_id": 7.5}',
        b"{}",
        b"\xff\xfe{}",
    ],
)
def test_only_what_is_not_an_update_at_all_is_refused(body: bytes) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_update(body, "DE")
    assert caught.value.status == 400


async def test_every_kind_and_variant_gets_200_once(tg_gateway: RunningGateway) -> None:
    updates = [*every_update_kind().values(), *(u for _, u, _ in VARIANTS)]
    inbound = sum(1 for u in updates if isinstance(_parse(u), Inbound))
    for update in updates * 2:  # Telegram's retries: the same update_id twice
        status, body = await _post(tg_gateway, update)
        assert status == 200, (update, body)
    assert await _count(tg_gateway) == inbound


def _identity_frames(operator: Operator) -> list[dict[str, Any]]:
    return [f for f in operator.frames if f["type"] == "identity_status"]


async def _unreachable_at(gateway: RunningGateway) -> Any:
    async with gateway.app[DATABASE].read() as conn:
        return (await conn.execute(select(identities.c.unreachable_at))).scalar_one()


async def test_blocking_the_bot_is_known_at_once_and_unblocking_undoes_it(
    tg_gateway: RunningGateway, fake_telegram: FakeTelegram
) -> None:
    await _post(tg_gateway, text_update(300, CHAT, "erst mal hallo"))
    ada, conversation_id = await _assigned(tg_gateway, "erst mal hallo")
    for _ in range(2):  # Telegram retries: told once
        assert (await _post(tg_gateway, member_update(301, "member", "kicked", CHAT)))[0] == 200
    frame = await wait_for(lambda: next(iter(_identity_frames(ada)), None))
    assert frame["conversation_id"] == conversation_id
    assert frame["unreachable"] is True and "blocked" in frame["reason"]
    assert await _unreachable_at(tg_gateway) is not None
    reply = await _reply(ada, conversation_id, "sind Sie noch da?")
    await wait_for(lambda: "undelivered" in _statuses(ada, reply["id"]))
    assert fake_telegram.send_calls == 0  # known before any send failed
    conversation = (await ada.get(f"/api/conversations/{conversation_id}"))["conversation"]
    detail = await ada.get(f"/api/customers/{conversation['customer']['id']}")
    assert [i["unreachable"] for i in detail["customer"]["identities"]] == [True]

    assert (await _post(tg_gateway, member_update(302, "kicked", "member", CHAT)))[0] == 200
    await wait_for(lambda: len(_identity_frames(ada)) == 2)
    assert [f["unreachable"] for f in _identity_frames(ada)] == [True, False]
    assert await _unreachable_at(tg_gateway) is None
    again = await _reply(ada, conversation_id, "willkommen zurück")
    await wait_for(lambda: "sent" in _statuses(ada, again["id"]))
    assert fake_telegram.sent[-1]["text"] == "willkommen zurück"


async def test_a_block_by_someone_who_never_wrote_changes_nothing(
    tg_gateway: RunningGateway,
) -> None:
    assert await _post(tg_gateway, member_update(310, "member", "kicked", 555)) == (
        200,
        {"ok": True, "stored": True},
    )
    assert await _count(tg_gateway) == 0


WRITE_A_REPLY = "Write a reply… (Enter sends, Shift+Enter for a new line)"


async def _operator_of_the_conversation(gateway: RunningGateway) -> int | None:
    async with gateway.app[DATABASE].read() as conn:
        return (await conn.execute(select(conversations.c.operator_id))).scalar_one_or_none()


WRITE_A_REPLY = "Write a reply… (Enter sends, Shift+Enter for a new line)"


@pytest.mark.browser
async def test_the_console_shows_that_the_customer_blocked_the_bot(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    browser: Browser,
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        **served_at(port),
        telegram={
            "bot_token": BOT_TOKEN,
            "webhook_secret": SECRET,
            "api_base_url": fake_telegram.api_base_url,
        },
    )
    gateway = await start_gateway(settings, port=port)
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await page.goto(f"{origin}/console")
    await page.get_by_test_id("login-username").fill("ada")
    await page.get_by_test_id("login-password").fill("ada-password")
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("state-available").click()
    await expect(page.get_by_test_id("state-current")).to_contain_text("vailable")

    assert (await _post(gateway, text_update(400, CHAT, "Ist mein Paket unterwegs?")))[0] == 200
    await page.get_by_test_id("offer").get_by_test_id("offer-accept").click()
    await wait_for(lambda: _operator_of_the_conversation(gateway))
    reply_input = page.get_by_test_id("reply-input")
    await expect(reply_input).to_have_attribute("placeholder", WRITE_A_REPLY)

    assert (await _post(gateway, member_update(401, "member", "kicked", CHAT)))[0] == 200
    await expect(page.get_by_test_id("toast")).to_contain_text("the customer blocked the bot")
    await expect(reply_input).to_have_attribute(
        "placeholder", f"Telegram {CHAT} (unreachable): replies here are not delivered"
    )
    await reply_input.fill("Ja, morgen")
    await page.get_by_test_id("reply-send").click()
    reply = page.locator('[data-testid="message"][data-direction="out"]')
    await expect(reply).to_have_attribute("data-status", "undelivered")
    await expect(reply).to_contain_text("cannot be reached")
    await shot(page, "14-console-telegram-blocked")
    assert fake_telegram.send_calls == 0

    assert (await _post(gateway, member_update(402, "kicked", "member", CHAT)))[0] == 200
    await expect(page.get_by_test_id("toast")).to_contain_text("started the bot again")
    await expect(reply_input).to_have_attribute("placeholder", WRITE_A_REPLY)
