"""Bad input gets a clear answer, stores nothing, and the process keeps serving."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from gateway.keys import DATABASE
from gateway.model import Role
from gateway.storage.schema import messages
from tests.conftest import RunningGateway
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    message_sid,
    signed,
    sms_params,
)
from tests.support import ORIGIN, free_port, make_settings, nothing_stored, wait_for

REPO = Path(__file__).resolve().parent.parent


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
    async with nothing_stored(gateway.app[DATABASE]):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await gateway.http.ws_connect(
                f"{gateway.base}/ws/webchat?token={token}", headers=headers
            )
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
    async with nothing_stored(gateway.app[DATABASE]):
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
    await _still_serving(gateway)


async def test_token_signed_by_another_gateway_is_refused(gateway: RunningGateway) -> None:
    from channels.webchat.tokens import issue_token, new_visitor_id

    forged = issue_token(b"another-gateway-secret-0123456789abcdef", new_visitor_id())
    async with nothing_stored(gateway.app[DATABASE]):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await gateway.http.ws_connect(
                f"{gateway.base}/ws/webchat?token={forged}", headers={"Origin": ORIGIN}
            )
        assert refused.value.status == 403


async def test_oversize_frame_closes_with_1009(gateway: RunningGateway) -> None:
    customer = await gateway.customer()
    assert customer.ws is not None
    limit = gateway.settings.webchat.max_frame_bytes
    async with nothing_stored(gateway.app[DATABASE]):
        await customer.ws.send_str(
            '{"type":"message","client_id":"abcdefgh","text":"' + "x" * limit + '"}'
        )
        await wait_for(lambda: customer.ws is not None and customer.ws.closed)
        assert customer.ws.close_code == 1009
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
    async with nothing_stored(gateway.app[DATABASE]):
        await customer.ws.send_str(raw)
        error = await wait_for(
            lambda: next((f for f in customer.frames if f["type"] == "error"), None)
        )
        assert error["code"] == code and error["reason"]
    assert not customer.ws.closed
    await customer.say("after the error the socket still works")
    assert await _stored(gateway) == 1
    await customer.close()


async def test_too_long_text_is_refused(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gateway = await start_gateway(make_settings(tmp_path, webchat={"max_text_chars": 10}))
    customer = await gateway.customer()
    async with nothing_stored(gateway.app[DATABASE]):
        await customer.send("x" * 11)
        error = await wait_for(
            lambda: next((f for f in customer.frames if f["type"] == "error"), None)
        )
        assert error["code"] == "too_long"
    await customer.close()


async def test_flood_closes_with_4429_and_stores_only_the_allowed(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The bucket barely refills during the test: exactly the burst gets through.
    burst = 5
    gateway = await start_gateway(
        make_settings(
            tmp_path,
            webchat={"allowed_origins": [ORIGIN], "rate_per_second": 0.001, "burst": burst},
        )
    )
    customer = await gateway.customer()
    assert customer.ws is not None
    allowed = [await customer.send(f"flood {i}") for i in range(burst)]
    await wait_for(lambda: all(c in customer.acks for c in allowed))
    async with nothing_stored(gateway.app[DATABASE]):
        refused = [await customer.send(f"one too many {i}") for i in range(3)]
        await wait_for(lambda: customer.ws is not None and customer.ws.closed)
        assert customer.ws.close_code == 4429
    assert await _stored(gateway) == burst
    assert not any(c in customer.acks for c in refused)
    async with gateway.app[DATABASE].read() as conn:
        texts = (await conn.execute(select(messages.c.text).order_by(messages.c.id))).scalars()
        assert list(texts) == [f"flood {i}" for i in range(burst)]
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
    async with nothing_stored(gateway.app[DATABASE]):
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

    database = gateway.app[DATABASE]
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    async with nothing_stored(database):
        async with gateway.http.get(f"{gateway.base}/api/conversations") as resp:
            assert resp.status == 401
        async with gateway.http.get(
            f"{gateway.base}/api/conversations", headers={"Authorization": "Bearer cgt_forged"}
        ) as resp:
            assert resp.status == 401
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with (
            nothing_stored(database),
            browser.post(
                f"{gateway.base}/api/login", json={"username": "ada", "password": "wrong"}
            ) as resp,
        ):
            assert resp.status == 401
        async with browser.post(
            f"{gateway.base}/api/login", json={"username": "ada", "password": "ada-password"}
        ) as resp:
            assert resp.status == 200
            csrf = (await resp.json())["csrf_token"]
            assert "HttpOnly" in resp.headers["Set-Cookie"]
            assert "SameSite=Strict" in resp.headers["Set-Cookie"]
        # The cookie alone is not enough for a state change.
        async with (
            nothing_stored(database),
            browser.post(f"{gateway.base}/api/operator/state", json={"state": "away"}) as resp,
        ):
            assert resp.status == 403
            assert (await resp.json())["error"] == "csrf"
        async with browser.post(
            f"{gateway.base}/api/operator/state",
            json={"state": "away"},
            headers={"X-CSRF-Token": csrf},
        ) as resp:
            assert resp.status == 200
        async with nothing_stored(database):
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

    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR)
    statuses = []
    async with nothing_stored(gateway.app[DATABASE]):
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


async def _admin(gateway: RunningGateway) -> dict[str, str]:
    from gateway.keys import USERS

    users = gateway.app[USERS]
    user = await users.add("root", "root-password", Role.ADMIN, "Root")
    return {"Authorization": f"Bearer {await users.create_api_token(user, 'test')}"}


async def test_a_body_over_the_limit_is_413_and_changes_nothing(gateway: RunningGateway) -> None:
    headers = await _admin(gateway)
    base = gateway.base
    async with nothing_stored(gateway.app[DATABASE]):
        # Over a handler's own limit (the JSON body of a sign-in or a visitor's session) ...
        for path, size in (("/api/login", 5_000), ("/api/webchat/session", 3_000)):
            body = '{"username": "' + "x" * size + '"}'
            async with gateway.http.post(
                f"{base}{path}",
                data=body,
                headers={"Content-Type": "application/json", "Origin": ORIGIN},
            ) as resp:
                assert resp.status == 413, path
                assert (await resp.json())["error"] == "too_large"
        # ... and over the server's limit for any request (1 MiB), with and without a length.
        huge = b'{"config": "' + b"x" * (1024 * 1024 + 10) + b'"}'

        async def chunks() -> Any:
            for start in range(0, len(huge), 65_536):
                yield huge[start : start + 65_536]

        for data in (huge, chunks()):
            async with gateway.http.put(
                f"{base}/api/admin/routing",
                data=data,
                headers={**headers, "Content-Type": "application/json"},
            ) as resp:
                assert resp.status == 413
                assert (await resp.json())["error"] == "too_large"
    await _still_serving(gateway)


# Not ids: too big for 64 bits, not positive, not integers at all.
BAD_PATH_IDS = [
    "99999999999999999999999",
    "9223372036854775808",
    "-1",
    "0",
    "1.5",
    "1e3",
    "true",
    "abc",
    "%201",
    "+1",
    "%EF%BC%91",  # a full-width digit one
    "%C2%B2",  # '²', a digit to str.isdigit()
]
BAD_JSON_IDS: list[Any] = [
    99999999999999999999999,
    2**63,
    -1,
    0,
    1.5,
    True,
    "12",
    " 1",
    "abc",
    [1],
    {"id": 1},
]


async def test_bad_ids_in_paths_are_not_found(gateway: RunningGateway) -> None:
    headers = await _admin(gateway)
    routes = [
        ("GET", "/api/conversations/{}"),
        ("POST", "/api/conversations/{}/messages"),
        ("POST", "/api/conversations/{}/resolve"),
        ("POST", "/api/conversations/{}/transfer"),
        ("POST", "/api/conversations/{}/send-back"),
        ("GET", "/api/conversations/{}/wait"),
        ("POST", "/api/messages/{}/resend"),
        ("POST", "/api/offers/{}/accept"),
        ("POST", "/api/offers/{}/decline"),
        ("POST", "/api/operators/{}/logout"),
        ("GET", "/api/customers/{}"),
        ("POST", "/api/customers/{}/identities"),
        ("DELETE", "/api/customers/{}/identities/1"),
        ("DELETE", "/api/customers/1/identities/{}"),
        ("POST", "/api/customer-links/{}/undo"),
        ("GET", "/api/messages/{}/attachments/0"),
        ("GET", "/api/messages/1/attachments/{}"),
        ("GET", "/api/admin/ivr/menus/main/versions/{}"),
    ]
    body = {
        "client_id": "client-0001",
        "text": "hi",
        "queue": "everyone",
        "reason": "why",
        "identity_id": 1,
    }
    wrong = []
    async with nothing_stored(gateway.app[DATABASE]):
        for method, template in routes:
            for bad in BAD_PATH_IDS:
                if template.endswith("attachments/{}") and bad == "0":
                    continue  # the first file of a message is number 0
                path = template.format(bad)
                async with gateway.http.request(
                    method, f"{gateway.base}{path}", json=body, headers=headers
                ) as resp:
                    answer = await resp.json()
                    if resp.status != 404 or answer["error"] != "not_found":
                        wrong.append((method, path, resp.status, answer))
    assert wrong == []
    await _still_serving(gateway)


async def test_bad_ids_in_queries_and_bodies_name_the_field(gateway: RunningGateway) -> None:
    headers = await _admin(gateway)
    queries = [
        ("GET", "/api/admin/audit?before={}", "before"),
        ("DELETE", "/api/admin/routing/skills/billing?version={}", "version"),
    ]
    bodies: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/customers/1/identities", {}, "identity_id"),
        ("POST", "/api/admin/routing/rollback", {}, "to_version"),
        ("PUT", "/api/admin/routing/rules", {"rules": []}, "version"),
        ("PUT", "/api/admin/routing/policy", {"policy": {}}, "version"),
        ("PUT", "/api/admin/routing", {"config": {}}, "version"),
        ("PUT", "/api/admin/routing/skills/billing", {"value": "Bills"}, "version"),
        ("PUT", "/api/admin/ivr/menus/main", {"source_text": "id: main"}, "expected_version"),
        ("POST", "/api/admin/ivr/menus/main/rollback", {}, "version_id"),
        (
            "POST",
            "/api/conversations/1/messages",
            {"client_id": "client-0001", "text": "hi"},
            "identity_id",
        ),
        ("POST", "/api/conversations/1/transfer", {}, "to_operator"),
    ]
    wrong = []
    async with nothing_stored(gateway.app[DATABASE]):
        for method, template, field in queries:
            for bad in BAD_PATH_IDS:
                async with gateway.http.request(
                    method, f"{gateway.base}{template.format(bad)}", headers=headers
                ) as resp:
                    answer = await resp.json()
                    if resp.status != 422 or f"'{field}'" not in answer["reason"]:
                        wrong.append((method, template, bad, resp.status, answer))
        for method, path, rest, field in bodies:
            for value in BAD_JSON_IDS:
                async with gateway.http.request(
                    method, f"{gateway.base}{path}", json={**rest, field: value}, headers=headers
                ) as resp:
                    answer = await resp.json()
                    if resp.status != 422 or f"'{field}'" not in answer["reason"]:
                        wrong.append((method, path, value, resp.status, answer))
    assert wrong == []
    await _still_serving(gateway)


async def test_bad_ids_in_operator_frames_get_an_error_and_the_socket_stays(
    gateway: RunningGateway,
) -> None:
    ada = await gateway.operator("ada", role=Role.SUPERVISOR)
    frames: list[tuple[dict[str, Any], str]] = [
        ({"type": "accept"}, "offer_id"),
        ({"type": "decline"}, "offer_id"),
        ({"type": "reply", "client_id": "client-0001", "text": "hi"}, "conversation_id"),
        (
            {"type": "reply", "conversation_id": 1, "client_id": "client-0001", "text": "hi"},
            "identity_id",
        ),
        ({"type": "transfer", "queue": "everyone"}, "conversation_id"),
        ({"type": "transfer", "conversation_id": 1}, "to_operator"),
        ({"type": "resolve"}, "conversation_id"),
        ({"type": "resend"}, "message_id"),
        ({"type": "send_back", "reason": "why"}, "conversation_id"),
    ]
    wrong = []
    async with nothing_stored(gateway.app[DATABASE]):
        for frame, field in frames:
            for value in BAD_JSON_IDS:
                result = await ada.act({**frame, field: value})
                if result["ok"] or result["error"] != "bad_field" or field not in result["reason"]:
                    wrong.append((frame, field, value, result))
    assert wrong == []
    assert ada.ws is not None and not ada.ws.closed
    assert (await ada.act({"type": "state", "state": "away"}))["ok"]
    await ada.close()


@pytest.mark.parametrize("after", [99999999999999999999999, 2**63, -1, 1.5, True, "3", None])
async def test_a_bad_resume_point_gets_an_error_and_the_socket_stays(
    gateway: RunningGateway, after: Any
) -> None:
    customer = await gateway.customer()
    assert customer.ws is not None
    async with nothing_stored(gateway.app[DATABASE]):
        await customer.ws.send_json({"type": "resume", "after": after})
        error = await wait_for(
            lambda: next((f for f in customer.frames if f["type"] == "error"), None)
        )
        assert error["code"] == "bad_frame" and "'after'" in error["reason"]
    assert not customer.ws.closed
    await customer.say("after the error the socket still works")
    await customer.close()


@pytest.fixture
async def twilio_gateway(
    start_gateway: Callable[..., Awaitable[RunningGateway]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    tmp_path: Path,
) -> RunningGateway:
    """SMS, WhatsApp and Voice (the demo menu) through Twilio."""
    fake = FakeTwilio()
    fake.server = await aiohttp_server(fake.app())
    port = free_port()
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": fake.base_url,
            "default_region": "DE",
        },
        routing={"rules_file": str(REPO / "config" / "routing.yaml")},
        ivr={"directory": str(REPO / "config" / "ivr"), "channels": {"voice": "main"}},
    )
    return await start_gateway(settings, port=port)


def _call_params() -> list[tuple[str, str]]:
    return [
        ("CallSid", "CA" + "c" * 32),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+4915123456789"),
        ("To", "+15550001111"),
        ("CallStatus", "ringing"),
        ("CallerName", "Zoë Müller"),
    ]


def _status_params() -> list[tuple[str, str]]:
    return [
        ("MessageSid", message_sid()),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "delivered"),
        ("To", "+4915123456789"),
        ("From", "+15550001111"),
        ("ErrorCode", "Ñ"),
    ]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/webhooks/twilio/messaging", lambda: sms_params(message_sid(), "+4915123456789", "café")),
        ("/webhooks/twilio/status", _status_params),
        ("/webhooks/twilio/voice", _call_params),
    ],
    ids=["sms", "status", "voice"],
)
async def test_a_twilio_body_that_is_not_utf8_is_refused(
    twilio_gateway: RunningGateway, path: str, params: Callable[[], list[tuple[str, str]]]
) -> None:
    gateway = twilio_gateway
    fields = params()
    request = signed(f"{gateway.settings.http.public_url}{path}", fields)
    # The same fields as Latin-1: percent-encoded, and as raw bytes on the wire.
    encoded = urlencode(fields, encoding="latin-1")
    raw = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in fields).encode("latin-1")
    assert raw != raw.decode("latin-1").encode("utf-8")
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        (encoded, request["headers"], 400),
        (raw, request["headers"], 400),
        (encoded, unsigned, 403),
        (raw, unsigned, 403),
        (raw, {**unsigned, "X-Twilio-Signature": "not-a-signature"}, 403),
    ]
    async with nothing_stored(gateway.app[DATABASE]):
        for body, headers, status in cases:
            async with gateway.http.post(
                f"{gateway.base}{path}", data=body, headers=headers
            ) as resp:
                assert resp.status == status, (body, headers, await resp.text())
                assert (await resp.json())["reason"]
    # The same request in UTF-8 goes through.
    async with gateway.http.post(
        f"{gateway.base}{path}", data=request["data"], headers=request["headers"]
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_found_by_the_property_based_run(gateway: RunningGateway) -> None:
    """Answers that were a 500 or not JSON: a menu with a control character, and the demo
    accounts of a gateway without a demo."""
    headers = await _admin(gateway)
    async with nothing_stored(gateway.app[DATABASE]):
        for method, path in (
            ("POST", "/api/admin/ivr/validate"),
            ("PUT", "/api/admin/ivr/menus/x"),
        ):
            async with gateway.http.request(
                method, f"{gateway.base}{path}", json={"source_text": "id: x\x14"}, headers=headers
            ) as resp:
                assert resp.status == 422, await resp.text()
                answer = await resp.json()
                assert answer["error"] == "invalid_menu" and "YAML" in answer["reason"]
        async with gateway.http.get(f"{gateway.base}/api/demo/logins") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == "not_found"


@pytest.mark.parametrize("session", ["99999999999999999999999", "-1", "0", "1.5", "abc"])
async def test_a_voice_webhook_for_an_impossible_session_is_refused(
    twilio_gateway: RunningGateway, session: str
) -> None:
    gateway = twilio_gateway
    path = f"/webhooks/twilio/voice/answer?session={session}"
    fields = [*_call_params(), ("Digits", "1")]
    request = signed(f"{gateway.settings.http.public_url}{path}", fields)
    async with (
        nothing_stored(gateway.app[DATABASE]),
        gateway.http.post(
            f"{gateway.base}{path}", data=request["data"], headers=request["headers"]
        ) as resp,
    ):
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["error"] == "bad_request"
