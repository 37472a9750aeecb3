"""Health endpoints, metrics, graceful shutdown, and the widget's resume after a reload."""

from __future__ import annotations

import aiohttp

from tests.conftest import RunningGateway
from tests.support import wait_for


async def test_livez_readyz_metrics(gateway: RunningGateway) -> None:
    async with gateway.http.get(f"{gateway.base}/livez") as resp:
        assert resp.status == 200
    async with gateway.http.get(f"{gateway.base}/readyz") as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert body["checks"] == {
            "database": "ok",
            "broker": "ok",
            "consumers": "ok",
            "outbox_backlog": body["checks"]["outbox_backlog"],
        }
    customer = await gateway.customer()
    await customer.say("count me")
    await customer.ws.send_str("nonsense")  # type: ignore[union-attr]
    await wait_for(lambda: any(f["type"] == "error" for f in customer.frames))
    async with gateway.http.get(f"{gateway.base}/metrics") as resp:
        text = await resp.text()
    assert 'cg_inbound_messages_total{channel="webchat"} 1.0' in text
    assert 'cg_rejected_input_total{channel="webchat",reason="bad_json"} 1.0' in text
    assert "cg_outbox_backlog" in text
    await customer.close()


async def test_request_ids_and_json_errors(gateway: RunningGateway) -> None:
    async with gateway.http.get(
        f"{gateway.base}/api/conversations", headers={"x-request-id": "trace-me-123"}
    ) as resp:
        assert resp.status == 401
        assert resp.headers["x-request-id"] == "trace-me-123"
        assert (await resp.json())["error"] == "unauthenticated"
    async with gateway.http.get(f"{gateway.base}/api/conversations/abc", headers={}) as resp:
        assert resp.status == 401
    ada = await gateway.operator("ada", state=None)
    async with gateway.http.get(
        f"{gateway.base}/api/conversations/abc", headers=ada.headers
    ) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "not_found"
    async with gateway.http.post(
        f"{gateway.base}/api/operator/state", json={"state": "asleep"}, headers=ada.headers
    ) as resp:
        assert resp.status == 422
    await ada.close()


async def test_reload_resumes_the_same_conversation(gateway: RunningGateway) -> None:
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customer = await gateway.customer()
    await customer.say("first")
    await wait_for(lambda: "first" in ada.texts("in"))
    conversation_id = next(iter(ada.offers.values()))["conversation_id"]
    await ada.act(
        {
            "type": "reply",
            "conversation_id": conversation_id,
            "client_id": "reply-0001",
            "text": "hi",
        }
    )
    await wait_for(lambda: customer.received)
    await customer.close()

    # The visitor reloads the page: same token, resume from 0 shows the whole history once.
    again = type(customer)(gateway.http, gateway.base)
    again.token = customer.token
    await again.connect()
    assert again.ws is not None
    await again.ws.send_json({"type": "resume", "after": 0})
    await wait_for(lambda: len([f for f in again.frames if f["type"] == "message"]) == 2)
    history = [(f["direction"], f["text"]) for f in again.frames if f["type"] == "message"]
    assert history == [("in", "first"), ("out", "hi")]
    await again.say("second")
    await wait_for(lambda: "second" in ada.texts("in"))
    assert {m["conversation_id"] for m in ada.messages.values()} == {conversation_id}
    await again.close()
    await ada.close()


async def test_shutdown_closes_sockets_with_1001(start_gateway, settings) -> None:  # type: ignore[no-untyped-def]
    gateway: RunningGateway = await start_gateway(settings)
    customer = await gateway.customer()
    await customer.say("bye")
    await gateway.server.close()
    await wait_for(lambda: customer.ws is not None and customer.ws.closed)
    assert customer.ws is not None and customer.ws.close_code == aiohttp.WSCloseCode.GOING_AWAY


async def test_supervisor_sees_all_operators_only_their_own(gateway: RunningGateway) -> None:
    from gateway.model import Role

    ada = await gateway.operator("ada")
    ada.auto_accept = True
    customer = await gateway.customer()
    await customer.say("help")
    await wait_for(lambda: ada.messages)
    grace = await gateway.operator("grace")
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)
    for who, expected in ((ada, 1), (grace, 0), (sam, 1)):
        async with gateway.http.get(
            f"{gateway.base}/api/conversations", headers=who.headers
        ) as resp:
            assert len((await resp.json())["conversations"]) == expected
    for client in (customer, ada, grace, sam):
        await client.close()


async def test_server_heartbeat_drops_a_silent_client(start_gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support import ORIGIN, make_settings

    gateway: RunningGateway = await start_gateway(
        make_settings(tmp_path, webchat={"allowed_origins": [ORIGIN], "heartbeat_seconds": 0.3})
    )
    async with gateway.http.post(
        f"{gateway.base}/api/webchat/session", json={}, headers={"Origin": ORIGIN}
    ) as resp:
        token = (await resp.json())["token"]
    # A client that never answers pings (a laptop that went to sleep).
    ws = await gateway.http.ws_connect(
        f"{gateway.base}/ws/webchat?token={token}", headers={"Origin": ORIGIN}, autoping=False
    )
    kinds = []
    async for msg in ws:
        kinds.append(msg.type)
        if len(kinds) > 20:
            break
    assert aiohttp.WSMsgType.PING in kinds
    assert ws.closed
