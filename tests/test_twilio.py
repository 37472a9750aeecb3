"""SMS and WhatsApp through Twilio, against a local server that speaks Twilio's REST API:
signed webhooks in, replies out with retries, status callbacks, opt-outs, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect
from sqlalchemy import func, select

from channels.twilio.messaging import parse_status
from gateway.keys import DATABASE, USERS
from gateway.message_status import advance
from gateway.model import MessageStatus, Role
from gateway.settings import Settings
from gateway.storage.schema import audit_log, conversations, identities, messages
from tests.browsers import shot
from tests.conftest import RunningGateway
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SERVICE_SID,
    FakeTwilio,
    message_sid,
    signed,
    sms_params,
    status_params,
)
from tests.support import Operator, free_port, make_settings, served_at, wait_for

CUSTOMER = "+4915123456789"
OUR_NUMBER = "+15550001111"


@pytest.fixture
async def fake_twilio(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeTwilio:
    fake = FakeTwilio()
    fake.server = await aiohttp_server(fake.app())
    return fake


def _settings(tmp_path: Path, fake: FakeTwilio, port: int, **twilio: Any) -> Settings:
    base = f"http://127.0.0.1:{port}"
    return make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": base},
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": fake.base_url,
            "default_region": "DE",
            "retry_delays_seconds": [0.2, 0.2, 0.2],
            **twilio,
        },
    )


@pytest.fixture
async def sms_gateway(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
) -> RunningGateway:
    port = free_port()
    return await start_gateway(_settings(tmp_path, fake_twilio, port), port=port)


async def _webhook(
    gateway: RunningGateway,
    params: list[tuple[str, str]],
    path: str = "/webhooks/twilio/messaging",
    sign_url: str | None = None,
    token: str = AUTH_TOKEN,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    url = f"{gateway.settings.http.public_url}{path}"
    request = signed(sign_url or url, params, token)
    async with gateway.http.post(
        f"{gateway.base}{path}",
        data=request["data"],
        headers={**request["headers"], **(headers or {})},
    ) as resp:
        return resp.status, await resp.text()


async def _count(gateway: RunningGateway, table: Any) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _assigned(gateway: RunningGateway, text: str) -> tuple[Operator, int]:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    offer = await wait_for(lambda: next(iter(ada.offers.values()), None))
    if text not in ada.texts("in"):  # offered before auto-accept was on
        await ada.act({"type": "accept", "offer_id": offer["id"]})
    await wait_for(lambda: text in ada.texts("in"))
    conversation_id = next(iter(ada.offers.values()))["conversation_id"]
    return ada, conversation_id


async def _reply(operator: Operator, conversation_id: int, text: str) -> dict[str, Any]:
    result = await operator.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": f"r-{text[:20]}-x",
            "text": text,
        }
    )
    assert result["ok"], result
    return result["message"]  # type: ignore[no-any-return]


def _status_frames(operator: Operator, message_id: int) -> list[str]:
    return [
        f["status"]
        for f in operator.frames
        if f["type"] == "message_status" and f["message_id"] == message_id
    ]


async def test_sms_in_reply_out_and_status_callbacks(
    sms_gateway: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    sid = message_sid()
    status, body = await _webhook(
        sms_gateway, sms_params(sid, "0151 23456789", "My bill is wrong", to=OUR_NUMBER)
    )
    assert status == 200 and "<Response>" in body
    ada, conversation_id = await _assigned(sms_gateway, "My bill is wrong")
    async with sms_gateway.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(conversations.c.channel, identities.c.address).join(
                    identities, identities.c.id == conversations.c.identity_id
                )
            )
        ).one()
    assert (row.channel, row.address) == ("sms", CUSTOMER)  # national format, stored as E.164

    reply = await _reply(ada, conversation_id, "Let me look at it")
    await wait_for(lambda: len(fake_twilio.sent) == 1)
    sent = fake_twilio.sent[0]
    assert (sent["To"], sent["From"], sent["Body"]) == (CUSTOMER, OUR_NUMBER, "Let me look at it")
    assert (
        sent["StatusCallback"] == f"{sms_gateway.settings.http.public_url}/webhooks/twilio/status"
    )
    await wait_for(lambda: "sent" in _status_frames(ada, reply["id"]))

    # Callbacks out of order: delivered, then a late "sent"; delivered stays.
    for state in ("delivered", "sent", "queued"):
        status, _ = await _webhook(
            sms_gateway,
            [("MessageSid", sent["sid"]), ("MessageStatus", state), ("AccountSid", ACCOUNT_SID)],
            path="/webhooks/twilio/status",
        )
        assert status == 200
    async with sms_gateway.app[DATABASE].read() as conn:
        stored = (
            await conn.execute(select(messages.c.status).where(messages.c.id == reply["id"]))
        ).scalar_one()
    assert stored == "delivered"
    await wait_for(lambda: "delivered" in _status_frames(ada, reply["id"]))
    assert _status_frames(ada, reply["id"]).count("delivered") == 1


async def test_forged_missing_or_misaddressed_signatures_store_nothing(
    sms_gateway: RunningGateway,
) -> None:
    params = sms_params(message_sid(), CUSTOMER, "hello")
    assert (await _webhook(sms_gateway, params, token="not-the-token"))[0] == 403
    url = f"{sms_gateway.base}/webhooks/twilio/messaging"
    request = signed(url, params)
    async with sms_gateway.http.post(
        url, data=request["data"], headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as resp:
        assert resp.status == 403
    # Signed for another host, with that Host header: the public URL is what counts.
    evil = "http://evil.example/webhooks/twilio/messaging"
    assert (await _webhook(sms_gateway, params, sign_url=evil, headers={"Host": "evil.example"}))[
        0
    ] == 403
    # A changed field after signing.
    tampered = signed(f"{sms_gateway.settings.http.public_url}/webhooks/twilio/messaging", params)
    async with sms_gateway.http.post(
        url,
        data=tampered["data"].replace("hello", "hullo"),
        headers=tampered["headers"],
    ) as resp:
        assert resp.status == 403
    assert await _count(sms_gateway, messages) == 0


async def test_signature_with_and_without_the_port(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
) -> None:
    """Twilio may sign https://host/path or https://host:443/path for the same URL."""
    settings = _settings(tmp_path, fake_twilio, 0)
    settings = settings.model_copy(
        update={"http": settings.http.model_copy(update={"public_url": "https://gw.example.com"})}
    )
    gateway = await start_gateway(settings)
    path = "/webhooks/twilio/messaging"
    for n, url in enumerate((f"https://gw.example.com{path}", f"https://gw.example.com:443{path}")):
        params = sms_params(message_sid(), CUSTOMER, f"port test {n}")
        request = signed(url, params)
        async with gateway.http.post(
            f"{gateway.base}{path}", data=request["data"], headers=request["headers"]
        ) as resp:
            assert resp.status == 200, await resp.text()
    assert await _count(gateway, messages) == 2


async def test_the_same_message_twice_is_stored_once(sms_gateway: RunningGateway) -> None:
    params = sms_params(message_sid(), CUSTOMER, "only once")
    results = await asyncio.gather(*(_webhook(sms_gateway, params) for _ in range(3)))
    assert [status for status, _ in results] == [200, 200, 200]
    assert await _count(sms_gateway, messages) == 1


async def _download(gateway: RunningGateway, operator: Operator, url: str) -> tuple[int, bytes]:
    async with gateway.http.get(f"{gateway.base}{url}", headers=operator.headers) as resp:
        return resp.status, await resp.read()


def _attachment_frames(operator: Operator, message_id: int) -> list[dict[str, Any]]:
    return [
        f
        for f in operator.frames
        if f["type"] == "message_attachments" and f["message_id"] == message_id
    ]


async def test_mms_with_repeated_media_and_whatsapp(
    sms_gateway: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    sid = "MM" + "a" * 32
    photo = fake_twilio.add_media(sid, b"\xff\xd8 a jpeg", "image/jpeg")
    screenshot = fake_twilio.add_media(sid, b"\x89PNG a png", "image/png")
    params = [
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", f"whatsapp:{CUSTOMER}"),
        ("To", f"whatsapp:{OUR_NUMBER}"),
        ("Body", "see the photos"),
        ("ProfileName", "Maria"),
        ("NumMedia", "2"),
        ("MediaUrl0", photo),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", screenshot),
        ("MediaContentType1", "image/png"),
    ]
    # Maria writes first and has an operator when her files come in.
    hello = sms_params(message_sid(), f"whatsapp:{CUSTOMER}", "hi", to=f"whatsapp:{OUR_NUMBER}")
    assert (await _webhook(sms_gateway, hello))[0] == 200
    operator, conversation_id = await _assigned(sms_gateway, "hi")
    assert (await _webhook(sms_gateway, params))[0] == 200
    await wait_for(lambda: "see the photos" in operator.texts("in"))
    # The files are fetched with the account's credentials, kept, and announced to the console.
    message_id = next(m["id"] for m in operator.messages.values() if m["text"] == "see the photos")
    await wait_for(
        lambda: any(
            all(a["state"] == "kept" for a in f["attachments"])
            for f in _attachment_frames(operator, message_id)
        )
    )
    async with sms_gateway.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(messages.c.channel, messages.c.attachments).where(
                    messages.c.id == message_id
                )
            )
        ).one()
    assert row.channel == "whatsapp"
    assert [a["content_type"] for a in row.attachments] == ["image/jpeg", "image/png"]
    detail = await operator.get(f"/api/conversations/{conversation_id}")
    (message,) = [m for m in detail["conversation"]["messages"] if m["id"] == message_id]
    assert [a["url"] for a in message["attachments"]] == [
        f"/api/messages/{message_id}/attachments/0",
        f"/api/messages/{message_id}/attachments/1",
    ]
    assert await _download(sms_gateway, operator, message["attachments"][0]["url"]) == (
        200,
        b"\xff\xd8 a jpeg",
    )
    assert await _download(sms_gateway, operator, message["attachments"][1]["url"]) == (
        200,
        b"\x89PNG a png",
    )
    # The same webhook again (Twilio retrying) neither stores nor fetches anything twice.
    assert (await _webhook(sms_gateway, params))[0] == 200
    # A barrier, not a pause: a later message with a file of its own is fetched after anything
    # the retry could have set off, and then the count tells.
    later_sid = "MM" + "b" * 32
    receipt = fake_twilio.add_media(later_sid, b"\xff\xd8 a receipt", "image/jpeg")
    later = [
        *[
            (k, v)
            for k, v in params
            if not k.startswith(("Media", "NumMedia", "MessageSid", "Body"))
        ],
        ("MessageSid", later_sid),
        ("Body", "and the receipt"),
        ("NumMedia", "1"),
        ("MediaUrl0", receipt),
        ("MediaContentType0", "image/jpeg"),
    ]
    assert (await _webhook(sms_gateway, later))[0] == 200
    await wait_for(lambda: urlsplit(receipt).path in fake_twilio.media_requests)
    assert len(fake_twilio.media_requests) == 3, fake_twilio.media_requests
    await _reply(operator, conversation_id, "Thanks Maria")
    await wait_for(lambda: len(fake_twilio.sent) == 1)
    sent = fake_twilio.sent[0]
    assert (sent["To"], sent["From"]) == (f"whatsapp:{CUSTOMER}", f"whatsapp:{OUR_NUMBER}")


async def test_media_fetch_retries_and_the_files_it_cannot_keep(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
) -> None:
    port = free_port()
    settings = _settings(tmp_path, fake_twilio, port, max_media_bytes=1000)
    gateway = await start_gateway(settings, port=port)
    sid = message_sid().replace("SM", "MM", 1)
    fake_twilio.media_fail_next = [503, 429]  # two temporary failures, whichever file they hit
    flaky = fake_twilio.add_media(sid, b"%PDF after a retry", "application/pdf")
    big = fake_twilio.add_media(sid, b"x" * 1001, "video/mp4")
    gone = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME0"
    params = sms_params(sid, CUSTOMER, "files", NumMedia="4")
    params = [p for p in params if p[0] != "NumMedia"] + [("NumMedia", "4")]
    for i, url in enumerate((flaky, big, gone, "https://media.example.net/a.png")):
        params += [(f"MediaUrl{i}", url), (f"MediaContentType{i}", "application/octet-stream")]
    assert (await _webhook(gateway, params))[0] == 200

    async def settled() -> list[dict[str, Any]] | None:
        async with gateway.app[DATABASE].read() as conn:
            stored = (await conn.execute(select(messages.c.attachments))).scalar_one()
        return None if any(a["pending"] for a in stored) else list(stored)

    stored = await wait_for(settled, timeout=15)
    assert stored[0]["file_id"] is not None and stored[0]["size"] == len(b"%PDF after a retry")
    assert [a["file_id"] for a in stored[1:]] == [None, None, None]
    assert "limit" in stored[1]["error"]
    assert "no longer has" in stored[2]["error"]
    assert "not a Twilio media URL" in stored[3]["error"]
    # Only Twilio's own URLs were asked for: three files, two of the tries answered 503/429.
    assert len(fake_twilio.media_requests) == 5
    assert not any("example.net" in r for r in fake_twilio.media_requests)
    ada, _ = await _assigned(gateway, "files")
    message_id = next(m["id"] for m in ada.messages.values() if m["text"] == "files")
    conversation_id = next(iter(ada.offers.values()))["conversation_id"]
    detail = await ada.get(f"/api/conversations/{conversation_id}")
    (message,) = [m for m in detail["conversation"]["messages"] if m["id"] == message_id]
    assert [a["state"] for a in message["attachments"]] == ["kept", *["not_kept"] * 3]
    status, body = await _download(gateway, ada, f"/api/messages/{message_id}/attachments/1")
    assert status == 404 and b"not kept" in body


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"NumMedia": "abc"}, "NumMedia"),
        ({"From": "not a number"}, "phone number"),
        ({"MessageSid": "XX123"}, "MessageSid"),
        ({"Body": "", "NumMedia": "0"}, "Body or media"),
        ({"NumMedia": "1", "MediaUrl0": "http://insecure.example/x"}, "https"),
        ({"To": f"whatsapp:{OUR_NUMBER}"}, "different channels"),
    ],
)
async def test_malformed_webhooks_are_refused(
    sms_gateway: RunningGateway, change: dict[str, str], reason: str
) -> None:
    params = dict(sms_params(message_sid(), CUSTOMER, "x"))
    params.update(change)
    status, body = await _webhook(sms_gateway, list(params.items()))
    assert status == 400 and reason in body
    assert await _count(sms_gateway, messages) == 0


async def test_stop_blocks_replies_until_start(
    sms_gateway: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    await _webhook(sms_gateway, sms_params(message_sid(), CUSTOMER, "hello there"))
    ada, conversation_id = await _assigned(sms_gateway, "hello there")
    await _webhook(sms_gateway, sms_params(message_sid(), CUSTOMER, "STOP"))
    blocked = await _reply(ada, conversation_id, "are you still there?")
    await wait_for(lambda: "failed" in _status_frames(ada, blocked["id"]))
    assert fake_twilio.sent == []
    reason = next(
        f["reason"]
        for f in ada.frames
        if f["type"] == "message_status" and f["message_id"] == blocked["id"]
    )
    assert "opted out" in reason
    await _webhook(sms_gateway, sms_params(message_sid(), CUSTOMER, "start"))
    await _reply(ada, conversation_id, "welcome back")
    await wait_for(lambda: [m["Body"] for m in fake_twilio.sent] == ["welcome back"])


async def test_rate_limits_and_outages_are_retried_and_sent_once(
    sms_gateway: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    await _webhook(sms_gateway, sms_params(message_sid(), CUSTOMER, "anyone?"))
    ada, conversation_id = await _assigned(sms_gateway, "anyone?")
    fake_twilio.fail_next = [429, 503]
    reply = await _reply(ada, conversation_id, "yes, here")
    await wait_for(lambda: "sent" in _status_frames(ada, reply["id"]))
    assert [m["Body"] for m in fake_twilio.sent] == ["yes, here"]
    assert fake_twilio.requests == 3
    async with sms_gateway.app[DATABASE].read() as conn:
        attempts = (
            await conn.execute(select(messages.c.attempts).where(messages.c.id == reply["id"]))
        ).scalar_one()
    assert attempts == 3


async def test_after_the_last_retry_the_reply_is_failed_and_can_be_resent(
    sms_gateway: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    await _webhook(sms_gateway, sms_params(message_sid(), CUSTOMER, "ping"))
    ada, conversation_id = await _assigned(sms_gateway, "ping")
    fake_twilio.fail_next = [500, 500, 500, 500]  # the first try and three retries
    reply = await _reply(ada, conversation_id, "pong")
    await wait_for(lambda: "failed" in _status_frames(ada, reply["id"]))
    assert fake_twilio.sent == [] and fake_twilio.requests == 4
    resent = await ada.act({"type": "resend", "message_id": reply["id"]})
    assert resent["ok"], resent
    await wait_for(lambda: [m["Body"] for m in fake_twilio.sent] == ["pong"])
    again = await ada.act({"type": "resend", "message_id": reply["id"]})
    assert again["error"] == "not_resendable"


async def test_a_messaging_service_sends_when_configured(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
) -> None:
    port = free_port()
    gateway = await start_gateway(
        _settings(tmp_path, fake_twilio, port, messaging_service_sid=SERVICE_SID), port=port
    )
    await _webhook(gateway, sms_params(message_sid(), CUSTOMER, "via service"))
    ada, conversation_id = await _assigned(gateway, "via service")
    await _reply(ada, conversation_id, "answered")
    await wait_for(lambda: len(fake_twilio.sent) == 1)
    assert fake_twilio.sent[0]["MessagingServiceSid"] == SERVICE_SID
    assert fake_twilio.sent[0]["From"] is None


async def _customer_of(gateway: RunningGateway, channel: str) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int(
            (
                await conn.execute(
                    select(identities.c.customer_id).where(identities.c.channel == channel)
                )
            ).scalar_one()
        )


async def test_one_number_on_sms_and_whatsapp_is_one_customer(sms_gateway: RunningGateway) -> None:
    await _webhook(sms_gateway, sms_params(message_sid(), "0151 23456789", "by sms"))
    whatsapp = [
        ("MessageSid", message_sid()),
        ("AccountSid", ACCOUNT_SID),
        ("From", f"whatsapp:{CUSTOMER}"),
        ("To", f"whatsapp:{OUR_NUMBER}"),
        ("Body", "by whatsapp"),
    ]
    assert (await _webhook(sms_gateway, whatsapp))[0] == 200
    assert await _customer_of(sms_gateway, "sms") == await _customer_of(sms_gateway, "whatsapp")


async def test_operators_link_unlink_and_undo_identities(sms_gateway: RunningGateway) -> None:
    web_customer = await sms_gateway.customer()
    await web_customer.say("I also sent you an SMS")
    await _webhook(sms_gateway, sms_params(message_sid(), CUSTOMER, "the SMS"))
    ada = await sms_gateway.operator("ada")
    web_id = await _customer_of(sms_gateway, "webchat")
    sms_id = await _customer_of(sms_gateway, "sms")
    assert web_id != sms_id
    async with sms_gateway.app[DATABASE].read() as conn:
        sms_identity = (
            await conn.execute(select(identities.c.id).where(identities.c.channel == "sms"))
        ).scalar_one()

    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with sms_gateway.http.request(
            method, f"{sms_gateway.base}{path}", json=body, headers=ada.headers
        ) as resp:
            return resp.status, await resp.json()

    # Both contacts are offered to ada, the only operator: she serves both customers.
    await wait_for(lambda: len(ada.offers) >= 2)
    # The identity is found by its address, in any usual form of the number.
    status, found = await call("GET", "/api/identities?channel=sms&address=%2B49%20151%2023456789")
    assert (status, found["identity"]["id"]) == (200, sms_identity), found
    for query, expected in (
        ("channel=fax&address=1", 422),
        ("channel=sms&address=not-a-number", 422),
        ("channel=sms&address=%2B15550000000", 404),
        ("channel=email&address=", 422),
    ):
        assert (await call("GET", f"/api/identities?{query}"))[0] == expected, query
    status, linked = await call(
        "POST", f"/api/customers/{web_id}/identities", {"identity_id": sms_identity}
    )
    assert status == 200, linked
    status, customer = await call("GET", f"/api/customers/{web_id}")
    assert {i["channel"] for i in customer["customer"]["identities"]} == {"webchat", "sms"}
    assert {c["channel"] for c in customer["customer"]["conversations"]} == {"webchat", "sms"}
    # Linking again, to nowhere, or with a bad body changes nothing.
    assert (
        await call("POST", f"/api/customers/{web_id}/identities", {"identity_id": sms_identity})
    )[0] == 409
    assert (await call("POST", "/api/customers/9999/identities", {"identity_id": 1}))[0] == 404
    assert (await call("POST", f"/api/customers/{web_id}/identities", {"identity_id": "x"}))[
        0
    ] == 422

    status, undone = await call("POST", f"/api/customer-links/{linked['undo_id']}/undo")
    assert status == 200, undone
    assert await _customer_of(sms_gateway, "sms") == sms_id
    assert (await call("POST", f"/api/customer-links/{linked['undo_id']}/undo"))[0] == 409

    await call("POST", f"/api/customers/{web_id}/identities", {"identity_id": sms_identity})
    status, unlinked = await call("DELETE", f"/api/customers/{web_id}/identities/{sms_identity}")
    assert status == 200, unlinked
    assert await _customer_of(sms_gateway, "sms") not in (web_id, sms_id)
    # It is no longer this customer's identity.
    assert (await call("DELETE", f"/api/customers/{web_id}/identities/{sms_identity}"))[0] == 404
    async with sms_gateway.app[DATABASE].read() as conn:
        actions = [
            r.action
            for r in await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))
        ]
    assert actions == ["customer.link", "customer.undo", "customer.link", "customer.unlink"]


async def test_an_operator_can_answer_on_another_of_the_customers_channels(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
) -> None:
    port = free_port()
    gateway = await start_gateway(
        _settings(tmp_path, fake_twilio, port, sms_from=OUR_NUMBER), port=port
    )
    visitor = await gateway.customer()
    await visitor.say("Text me the tracking link please")
    await _webhook(gateway, sms_params(message_sid(), "+4917000000001", "someone else"))
    await _webhook(gateway, sms_params(message_sid(), CUSTOMER, "my number"))
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    accepted: set[int] = set()

    async def has_the_web_chat() -> bool:
        for offer_id in set(ada.offers) - accepted - set(ada.revoked):
            accepted.add(offer_id)
            await ada.act({"type": "accept", "offer_id": offer_id})
        return "Text me the tracking link please" in ada.texts("in")

    await wait_for(has_the_web_chat)
    async with gateway.app[DATABASE].read() as conn:
        ids = {
            r.address: (r.id, r.channel)
            for r in await conn.execute(
                select(identities.c.address, identities.c.id, identities.c.channel)
            )
        }
        web_conversation = (
            await conn.execute(
                select(conversations.c.id).where(conversations.c.channel == "webchat")
            )
        ).scalar_one()
    web_identity = next(i for i, channel in ids.values() if channel == "webchat")
    ours, stranger = ids[CUSTOMER][0], ids["+4917000000001"][0]
    web_customer = await _customer_of(gateway, "webchat")

    async def serves_the_sms_customer() -> bool:  # offered or assigned to ada by now
        found = f"/api/identities?channel=sms&address=%2B{CUSTOMER[1:]}"
        async with gateway.http.get(f"{gateway.base}{found}", headers=ada.headers) as resp:
            return resp.status == 200

    await wait_for(serves_the_sms_customer)
    async with gateway.http.post(
        f"{gateway.base}/api/customers/{web_customer}/identities",
        json={"identity_id": ours},
        headers=ada.headers,
    ) as resp:
        assert resp.status == 200
    detail = await ada.get(f"/api/conversations/{web_conversation}")
    assert detail["conversation"]["identity_id"] == web_identity

    async def reply(identity_id: Any, client_id: str) -> dict[str, Any]:
        return await ada.act(
            {
                "type": "reply",
                "conversation_id": web_conversation,
                "client_id": client_id,
                "text": f"https://track.example/{client_id}",
                "identity_id": identity_id,
            }
        )

    before = await _count(gateway, messages)
    # Not the customer's, not an identity at all, not a number: refused, nothing stored.
    for bad, code in ((stranger, "bad_identity"), (99999, "bad_identity"), ("x", "bad_field")):
        result = await reply(bad, f"bad-target-{bad}")
        assert not result["ok"] and result["error"] == code, result
    assert await _count(gateway, messages) == before
    assert fake_twilio.sent == []

    result = await reply(ours, "sms-tracking-1")
    assert result["ok"], result
    assert result["message"]["channel"] == "sms"
    await wait_for(lambda: len(fake_twilio.sent) == 1)
    assert (fake_twilio.sent[0]["To"], fake_twilio.sent[0]["From"]) == (CUSTOMER, OUR_NUMBER)
    # The visitor's widget did not get the SMS; a plain reply still goes to the web chat.
    assert (await reply(None, "web-plain-1"))["ok"]
    await wait_for(lambda: visitor.received)
    assert [m["text"] for m in visitor.received.values()] == ["https://track.example/web-plain-1"]
    assert len(fake_twilio.sent) == 1


# ---- delivery reports: which one may change a reply's status (pure) -------------------------

# Every MessageStatus value Twilio documents (and one it may add), against every status a reply
# can have: the status stored afterwards, "-" for no change.
TRANSITIONS = r"""
reported \ stored   queued       sent         delivered  read  undelivered  failed
accepted             -            -            -          -     -            -
scheduled            -            -            -          -     -            -
queued               -            -            -          -     -            -
sending              -            -            -          -     -            -
sent                 sent         -            -          -     -            -
partially_delivered  sent         -            -          -     -            -
delivered            delivered    delivered    -          -     -            -
read                 read         read         read       -     -            -
undelivered          undelivered  undelivered  -          -     -            -
failed               failed       failed       -          -     -            -
canceled             failed       failed       -          -     -            -
receiving            -            -            -          -     -            -
received             -            -            -          -     -            -
some_future_status   -            -            -          -     -            -
"""


def _transitions() -> list[tuple[str, str, str | None]]:
    header, *rows = [line.split() for line in TRANSITIONS.strip().splitlines()]
    stored = header[3:]
    return [
        (row[0], current, None if after == "-" else after)
        for row in rows
        for current, after in zip(stored, row[1:], strict=True)
    ]


@pytest.mark.parametrize(("reported", "current", "after"), _transitions())
def test_a_reply_status_moves_forward_only_and_final_states_stay(
    reported: str, current: str, after: str | None
) -> None:
    report = parse_status(dict(status_params("SM" + "a" * 32, reported)))
    assert report.raw_status == reported
    new = None if report.status is None else advance(MessageStatus(current), report.status)
    assert (new.value if new else None) == after


def test_no_report_changes_a_received_message() -> None:
    assert all(advance(MessageStatus.RECEIVED, s) is None for s in MessageStatus)


@pytest.mark.parametrize(
    ("extra", "code", "error"),
    [
        ({"ErrorCode": "30003"}, "30003", "Twilio error 30003: unreachable destination handset"),
        (
            {"ErrorCode": "30007", "ErrorMessage": "Carrier violation"},
            "30007",
            "Twilio error 30007: Carrier violation",
        ),
        ({"ErrorCode": "39999"}, "39999", "Twilio error 39999"),
        ({"ErrorCode": ""}, None, None),
        ({}, None, None),
    ],
)
def test_a_failure_report_keeps_its_code_and_description(
    extra: dict[str, str], code: str | None, error: str | None
) -> None:
    report = parse_status(dict(status_params("SM" + "b" * 32, "undelivered", **extra)))
    assert (report.status, report.error_code, report.error) == (
        MessageStatus.UNDELIVERED,
        code,
        error,
    )


def _frames(operator: Operator, message_id: int) -> list[dict[str, Any]]:
    return [
        f
        for f in operator.frames
        if f["type"] == "message_status" and f["message_id"] == message_id
    ]


async def test_undelivered_is_final_and_the_operator_is_told_why(
    sms_gateway: RunningGateway, fake_twilio: FakeTwilio
) -> None:
    await _webhook(sms_gateway, sms_params(message_sid(), CUSTOMER, "hallo?"))
    ada, conversation_id = await _assigned(sms_gateway, "hallo?")
    reply = await _reply(ada, conversation_id, "Wir sind da")
    await wait_for(lambda: "sent" in _status_frames(ada, reply["id"]))
    sid = fake_twilio.sent[0]["sid"]
    for state, code in (("undelivered", "30003"), ("delivered", None), ("read", None)):
        status, body = await _webhook(
            sms_gateway, status_params(sid, state, error_code=code), path="/webhooks/twilio/status"
        )
        assert status == 200, body
    # A value Twilio adds later, or one about inbound messages: 200, and nothing changes.
    for state in ("some_future_status", "received"):
        status, _ = await _webhook(
            sms_gateway, status_params(sid, state), path="/webhooks/twilio/status"
        )
        assert status == 200
    async with sms_gateway.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(messages.c.status, messages.c.error).where(messages.c.id == reply["id"])
            )
        ).one()
    assert (row.status, row.error) == (
        "undelivered",
        "Twilio error 30003: unreachable destination handset",
    )
    frame = await wait_for(
        lambda: next((f for f in _frames(ada, reply["id"]) if f["status"] == "undelivered"), None)
    )
    assert frame["reason"] == "Twilio error 30003: unreachable destination handset"
    assert frame["error_code"] == "30003"
    assert [f["status"] for f in _frames(ada, reply["id"])] == ["sent", "undelivered"]


@pytest.mark.browser
async def test_the_console_shows_why_an_sms_was_not_delivered(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    browser: Browser,
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        **served_at(port),
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": fake_twilio.base_url,
            "default_region": "DE",
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

    status, _ = await _webhook(
        gateway, sms_params(message_sid(), CUSTOMER, "Wo bleibt mein Paket?")
    )
    assert status == 200
    await page.get_by_test_id("offer").get_by_test_id("offer-accept").click()
    await page.get_by_test_id("reply-input").fill("Es kommt morgen")
    await page.get_by_test_id("reply-send").click()
    reply = page.locator('[data-testid="message"][data-direction="out"]')
    await expect(reply).to_have_attribute("data-status", "sent")
    sid = fake_twilio.sent[0]["sid"]
    for state, code in (("undelivered", "30005"), ("delivered", None)):
        status, _ = await _webhook(
            gateway, status_params(sid, state, error_code=code), path="/webhooks/twilio/status"
        )
        assert status == 200
    await expect(reply).to_have_attribute("data-status", "undelivered")
    await expect(reply).to_contain_text("Twilio error 30005: unknown destination handset")
    await shot(page, "15-console-sms-undelivered")
