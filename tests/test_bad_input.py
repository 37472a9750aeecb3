"""Bad input gets a clear answer, stores nothing, and the process keeps serving."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import func, select

from gateway.keys import DATABASE
from gateway.storage.schema import messages
from tests.conftest import RunningGateway
from tests.support import ORIGIN, make_settings, wait_for


async def _stored(gateway: RunningGateway) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


async def _still_serving(gateway: RunningGateway) -> None:
    async with gateway.http.get(f"{gateway.base}/livez") as resp:
        assert resp.status == 200
    customer = await gateway.customer()
    await customer.say("still alive")
    await customer.close()


async def _token(gateway: RunningGateway) -> str:
    async with gateway.http.post(
        f"{gateway.base}/api/webchat/session", json={}, headers={"Origin": ORIGIN}
    ) as resp:
        return str((await resp.json())["token"])


@pytest.mark.parametrize("origin", ["http://evil.example", None])
async def test_wrong_origin_is_refused(gateway: RunningGateway, origin: str | None) -> None:
    token = await _token(gateway)
    headers = {"Origin": origin} if origin else {}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.http.ws_connect(f"{gateway.base}/ws/webchat?token={token}", headers=headers)
    assert refused.value.status == 403
    async with gateway.http.post(
        f"{gateway.base}/api/webchat/session", json={}, headers=headers
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"] == "origin"
    await _still_serving(gateway)


@pytest.mark.parametrize(
    "token", ["", "garbage", "v_AAAAAAAAAAAAAAAAAAAAAAAA.forgedsignature", None]
)
async def test_forged_or_missing_token_is_refused(
    gateway: RunningGateway, token: str | None
) -> None:
    query = "" if token is None else f"?token={token}"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.http.ws_connect(
            f"{gateway.base}/ws/webchat{query}", headers={"Origin": ORIGIN}
        )
    assert refused.value.status == 403
    async with gateway.http.post(
        f"{gateway.base}/api/webchat/session",
        json={"token": token or "x"},
        headers={"Origin": ORIGIN},
    ) as resp:
        assert resp.status == 403
    assert await _stored(gateway) == 0
    await _still_serving(gateway)


async def test_token_signed_by_another_gateway_is_refused(gateway: RunningGateway) -> None:
    from channels.webchat.tokens import issue_token, new_visitor_id

    forged = issue_token(b"another-gateway-secret-0123456789abcdef", new_visitor_id())
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.http.ws_connect(
            f"{gateway.base}/ws/webchat?token={forged}", headers={"Origin": ORIGIN}
        )
    assert refused.value.status == 403


async def test_oversize_frame_closes_with_1009(gateway: RunningGateway) -> None:
    customer = await gateway.customer()
    assert customer.ws is not None
    limit = gateway.settings.webchat.max_frame_bytes
    await customer.ws.send_str(
        '{"type":"message","client_id":"abcdefgh","text":"' + "x" * limit + '"}'
    )
    await wait_for(lambda: customer.ws is not None and customer.ws.closed)
    assert customer.ws.close_code == 1009
    assert await _stored(gateway) == 0
    await _still_serving(gateway)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "message", "client_id": "short", "text": "hi"}', "bad_frame"),
        ('{"type": "message", "client_id": "abcdefgh1", "text": ""}', "bad_frame"),
        ('{"type": "message", "client_id": "abcdefgh1", "text": 42}', "bad_frame"),
        ('{"type": "resume", "after": -1}', "bad_frame"),
        ('{"type": "launch"}', "unknown_type"),
    ],
)
async def test_malformed_frames_get_an_error_frame(
    gateway: RunningGateway, raw: str, code: str
) -> None:
    customer = await gateway.customer()
    assert customer.ws is not None
    await customer.ws.send_str(raw)
    error = await wait_for(lambda: next((f for f in customer.frames if f["type"] == "error"), None))
    assert error["code"] == code and error["reason"]
    assert not customer.ws.closed
    await customer.say("after the error the socket still works")
    assert await _stored(gateway) == 1
    await customer.close()


async def test_too_long_text_is_refused(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gateway = await start_gateway(make_settings(tmp_path, webchat={"max_text_chars": 10}))
    customer = await gateway.customer()
    await customer.send("x" * 11)
    error = await wait_for(lambda: next((f for f in customer.frames if f["type"] == "error"), None))
    assert error["code"] == "too_long"
    assert await _stored(gateway) == 0
    await customer.close()


async def test_flood_closes_with_4429_and_stores_only_the_allowed(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gateway = await start_gateway(
        make_settings(
            tmp_path, webchat={"allowed_origins": [ORIGIN], "rate_per_second": 1, "burst": 5}
        )
    )
    customer = await gateway.customer()
    assert customer.ws is not None
    for i in range(40):
        if customer.ws.closed:
            break
        await customer.send(f"flood {i}")
    await wait_for(lambda: customer.ws is not None and customer.ws.closed)
    assert customer.ws.close_code == 4429
    assert await _stored(gateway) <= 5
    await _still_serving(gateway)


async def test_operator_cannot_touch_another_operators_conversation(
    gateway: RunningGateway,
) -> None:
    ada = await gateway.operator("ada")
    customer = await gateway.customer()
    await customer.say("for ada")
    (offer,) = (await wait_for(lambda: ada.offers)).values()
    assert (await ada.act({"type": "accept", "offer_id": offer["id"]}))["ok"]
    conversation_id = offer["conversation_id"]

    grace = await gateway.operator("grace", state="away")
    before = await _stored(gateway)
    answer = await grace.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "grace-0001",
            "text": "hi",
        }
    )
    assert not answer["ok"] and answer["error"] == "not_found"
    resolve = await grace.act({"type": "resolve", "conversation_id": conversation_id})
    assert not resolve["ok"]
    stolen = await grace.act({"type": "accept", "offer_id": offer["id"]})
    assert not stolen["ok"] and stolen["error"] == "not_found"
    for path, method in (
        (f"/api/conversations/{conversation_id}", "GET"),
        (f"/api/conversations/{conversation_id}/messages", "POST"),
        (f"/api/conversations/{conversation_id}/resolve", "POST"),
    ):
        async with gateway.http.request(
            method,
            f"{gateway.base}{path}",
            json={"client_id": "grace-0002", "text": "hi"},
            headers=grace.headers,
        ) as resp:
            assert resp.status == 404, path
            assert (await resp.json())["error"] == "not_found"
    assert await _stored(gateway) == before
    # Ada still owns it and can answer.
    async with gateway.http.post(
        f"{gateway.base}/api/conversations/{conversation_id}/messages",
        json={"client_id": "ada-00001", "text": "here I am"},
        headers=ada.headers,
    ) as resp:
        assert resp.status == 201
    for client in (customer, ada, grace):
        await client.close()


async def test_operator_api_needs_auth_and_csrf(gateway: RunningGateway) -> None:
    from gateway.keys import USERS
    from gateway.model import Role

    async with gateway.http.get(f"{gateway.base}/api/conversations") as resp:
        assert resp.status == 401
    async with gateway.http.get(
        f"{gateway.base}/api/conversations", headers={"Authorization": "Bearer cgt_forged"}
    ) as resp:
        assert resp.status == 401
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(
            f"{gateway.base}/api/login", json={"username": "ada", "password": "wrong"}
        ) as resp:
            assert resp.status == 401
        async with browser.post(
            f"{gateway.base}/api/login", json={"username": "ada", "password": "ada-password"}
        ) as resp:
            assert resp.status == 200
            csrf = (await resp.json())["csrf_token"]
            assert "HttpOnly" in resp.headers["Set-Cookie"]
            assert "SameSite=Strict" in resp.headers["Set-Cookie"]
        # The cookie alone is not enough for a state change.
        async with browser.post(
            f"{gateway.base}/api/operator/state", json={"state": "away"}
        ) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"] == "csrf"
        async with browser.post(
            f"{gateway.base}/api/operator/state",
            json={"state": "away"},
            headers={"X-CSRF-Token": csrf},
        ) as resp:
            assert resp.status == 200
        # A cross-site page cannot open the console socket with the cookie.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect(
                f"{gateway.base}/ws/operator", headers={"Origin": "http://evil.example"}
            )
        assert refused.value.status == 403
        async with browser.get(f"{gateway.base}/api/conversations") as resp:
            assert resp.status == 200
        async with browser.post(
            f"{gateway.base}/api/login",
            data="{broken",
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400


async def test_password_guessing_is_slowed_down(gateway: RunningGateway) -> None:
    from gateway.keys import USERS
    from gateway.model import Role

    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    statuses = []
    for _ in range(7):
        async with gateway.http.post(
            f"{gateway.base}/api/login", json={"username": "ada", "password": "guess"}
        ) as resp:
            statuses.append(resp.status)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    # Even the right password waits now: the limit is on the name, not on success.
    async with gateway.http.post(
        f"{gateway.base}/api/login", json={"username": "ada", "password": "ada-password"}
    ) as resp:
        assert resp.status == 429
        assert (await resp.json())["error"] == "too_many_attempts"
