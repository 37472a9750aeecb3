"""Browser sessions: sign-in only as JSON from our own pages, failed sign-ins limited (not
successful ones), and a signed-out or revoked session's open console sockets stop working."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from gateway.console.hub import CLOSE_SIGNED_OUT
from gateway.keys import USERS
from gateway.model import Role
from tests.conftest import RunningGateway
from tests.support import ORIGIN, SECRET, make_settings, wait_for

EVIL = "http://evil.example"


async def _login(
    browser: aiohttp.ClientSession, gateway: RunningGateway, username: str, **kwargs: Any
) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    kwargs.setdefault("json", {"username": username, "password": f"{username}-password"})
    async with browser.post(f"{gateway.base}/api/login", **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers


def _jar() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_sign_in_must_be_json_from_an_allowed_page(gateway: RunningGateway) -> None:
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    body = '{"username": "ada", "password": "ada-password"}'
    async with _jar() as browser:
        # What a cross-site HTML form can send without asking: refused, no cookie set.
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            status, answer, headers = await _login(
                browser,
                gateway,
                "ada",
                json=None,
                data=body,
                headers={"Content-Type": content_type, "Origin": EVIL},
            )
            assert (status, answer["error"]) == (415, "unsupported_media_type"), content_type
            assert "Set-Cookie" not in headers
        # JSON from a page that is not ours, or from an opaque origin: refused.
        for origin in (EVIL, "null"):
            status, answer, headers = await _login(
                browser, gateway, "ada", headers={"Origin": origin}
            )
            assert (status, answer["error"]) == (403, "origin"), origin
            assert "Set-Cookie" not in headers
        status, answer, _ = await _login(
            browser, gateway, "ada", headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert status == 403
        assert not browser.cookie_jar.filter_cookies(URL(gateway.base))
        # Our own page, and a non-browser client (no Origin at all), may sign in.
        status, answer, _ = await _login(browser, gateway, "ada", headers={"Origin": ORIGIN})
        assert status == 200, answer
        csrf = answer["csrf_token"]
        status, _, _ = await _login(browser, gateway, "ada")
        assert status == 200

        # A change with the cookie must come from our page too, even with the CSRF token.
        url = f"{gateway.base}/api/operator/state"
        async with browser.post(
            url, json={"state": "away"}, headers={"X-CSRF-Token": csrf, "Origin": EVIL}
        ) as resp:
            assert (resp.status, (await resp.json())["error"]) == (403, "origin")


async def test_bearer_clients_need_no_origin(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada", state=None)
    for headers in ({}, {"Origin": EVIL}):
        async with gateway.http.post(
            f"{gateway.base}/api/operator/state",
            json={"state": "away"},
            headers={**ada.headers, **headers},
        ) as resp:
            assert resp.status == 200, await resp.text()
    await ada.close()


# Refills slower than any test runs: what is limited does not depend on how fast argon2 is.
SLOW_REFILL = {
    "login_failures_per_account": 5,
    "login_account_refill_seconds": 3600,
    "login_failures_per_address": 10,
    "login_address_refill_seconds": 3600,
}


@pytest.fixture
async def limited(
    start_gateway: Callable[..., Awaitable[RunningGateway]], tmp_path: Path
) -> RunningGateway:
    security = {"secret_key": SECRET, "allowed_origins": [ORIGIN], **SLOW_REFILL}
    return await start_gateway(make_settings(tmp_path, security=security))


async def test_successful_sign_ins_from_one_address_are_not_limited(
    limited: RunningGateway,
) -> None:
    gateway = limited
    # More than the address allows failures: successes are not counted at all.
    for n in range(12):
        await gateway.app[USERS].add(f"staff{n}", f"staff{n}-password", Role.OPERATOR)
    async with _jar() as browser:
        for n in range(12):
            status, answer, _ = await _login(browser, gateway, f"staff{n}")
            assert status == 200, (n, answer)


async def test_failed_sign_ins_are_limited_per_account(limited: RunningGateway) -> None:
    gateway = limited
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    await gateway.app[USERS].add("bob", "bob-password", Role.OPERATOR)
    async with _jar() as browser:
        # Failures on one account with successes between: the success clears them.
        for _ in range(4):
            status, _, _ = await _login(
                browser, gateway, "ada", json={"username": "ada", "password": "x"}
            )
            assert status == 401
        assert (await _login(browser, gateway, "ada"))[0] == 200
        statuses = []
        for _ in range(7):
            status, answer, headers = await _login(
                browser, gateway, "ada", json={"username": "ADA", "password": "x"}
            )
            statuses.append(status)
        assert statuses == [401] * 5 + [429, 429]
        assert answer["error"] == "too_many_attempts"
        assert int(headers["Retry-After"]) >= 1
        # The right password waits too; another account from the same address does not.
        assert (await _login(browser, gateway, "ada"))[0] == 429
        assert (await _login(browser, gateway, "bob"))[0] == 200


async def test_failed_sign_ins_are_limited_per_address(limited: RunningGateway) -> None:
    gateway = limited
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    async with _jar() as browser:
        statuses = []
        for n in range(12):  # one guess each on many accounts, from one address
            status, _answer, headers = await _login(
                browser, gateway, "x", json={"username": f"user{n}", "password": "guess"}
            )
            statuses.append(status)
        assert statuses == [401] * 10 + [429, 429]
        assert int(headers["Retry-After"]) >= 1
        assert (await _login(browser, gateway, "ada"))[0] == 429


async def _console(
    gateway: RunningGateway, username: str
) -> tuple[aiohttp.ClientSession, str, aiohttp.ClientWebSocketResponse]:
    browser = _jar()
    status, answer, _ = await _login(browser, gateway, username, headers={"Origin": ORIGIN})
    assert status == 200, answer
    ws = await browser.ws_connect(
        f"{gateway.base.replace('http', 'ws', 1)}/ws/operator", headers={"Origin": ORIGIN}
    )
    while (await ws.receive_json(timeout=5))["type"] != "snapshot":
        pass
    return browser, answer["csrf_token"], ws


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    frames = []
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            frames.append(msg.json())
    return frames


async def test_signing_out_closes_that_sessions_sockets(gateway: RunningGateway) -> None:
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    browser, csrf, ws = await _console(gateway, "ada")
    other_browser, _, other_ws = await _console(gateway, "ada")  # another browser, same user
    async with browser.post(
        f"{gateway.base}/api/logout", headers={"X-CSRF-Token": csrf, "Origin": ORIGIN}
    ) as resp:
        assert resp.status == 200
    # An action sent right after signing out, before the socket closed: not done.
    await ws.send_json({"type": "state", "state": "available", "ref": "late"})
    frames = await asyncio.wait_for(_until_closed(ws), 10)
    assert ws.close_code == CLOSE_SIGNED_OUT
    results = [f for f in frames if f["type"] == "result"]
    assert all(not f["ok"] for f in results), results
    # Closed by the sign-out itself (pushed to every instance), not only by the late action.
    assert {"type": "logout", "reason": "signed out"} in frames, frames
    # The other browser's session is untouched and still works.
    await other_ws.send_json({"type": "state", "state": "away", "ref": "other"})
    while (frame := await other_ws.receive_json(timeout=5))["type"] != "result":
        pass
    assert frame["ok"], frame
    await other_ws.close()
    await browser.close()
    await other_browser.close()


async def test_a_session_ended_elsewhere_cannot_act(gateway: RunningGateway) -> None:
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    browser, _, ws = await _console(gateway, "ada")
    cookie = browser.cookie_jar.filter_cookies(URL(gateway.base))["cg_session"].value
    # Another instance ends the session (a sign-out there, or expiry): no push reaches us.
    await gateway.app[USERS].end_session(cookie)
    await ws.send_json({"type": "state", "state": "available", "ref": "after"})
    frames = await asyncio.wait_for(_until_closed(ws), 10)
    result = next(f for f in frames if f["type"] == "result")
    assert (result["ok"], result["error"]) == (False, "signed_out")
    assert ws.close_code == CLOSE_SIGNED_OUT
    await browser.close()


async def test_a_revoked_api_token_cannot_act_on_an_open_socket(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada", state=None)
    from gateway.keys import DATABASE
    from gateway.storage.schema import api_tokens

    async with gateway.app[DATABASE].write() as conn:
        await conn.execute(api_tokens.delete())
    refused = await ada.act({"type": "state", "state": "available"})
    assert (refused["ok"], refused["error"]) == (False, "signed_out")
    assert ada.ws is not None
    await wait_for(lambda: ada.ws.closed)  # type: ignore[union-attr]
    assert ada.ws.close_code == CLOSE_SIGNED_OUT


@pytest.mark.parametrize("origin", [None, EVIL])
async def test_the_console_socket_needs_our_page_for_a_cookie(
    gateway: RunningGateway, origin: str | None
) -> None:
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    async with _jar() as browser:
        assert (await _login(browser, gateway, "ada", headers={"Origin": ORIGIN}))[0] == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect(
                f"{gateway.base.replace('http', 'ws', 1)}/ws/operator",
                headers={"Origin": origin} if origin else {},
            )
        assert refused.value.status == 403
