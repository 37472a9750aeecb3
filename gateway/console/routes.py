"""The operator console's websocket and HTTP API (see docs/protocol.md)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from gateway.auth import Principal, authenticate, check_console_origin, require, still_valid
from gateway.console.actions import ActionError, ConsoleActions
from gateway.console.hub import OPERATOR_HUB, OperatorSocket
from gateway.http import fail, json_body, path_id
from gateway.ids import id_reason, parse_id
from gateway.keys import INSTANCE_ID, METRICS, ROUTING_STATE, SETTINGS, USERS
from gateway.model import Role
from gateway.storage.users import UserStore

log = structlog.get_logger()

ACTIONS = web.AppKey("console_actions", ConsoleActions)
MAX_OPERATOR_FRAME = 65_536


def _int(value: Any, name: str) -> int:
    found = parse_id(value)
    if found is None:
        raise ActionError(422, "bad_field", id_reason(name))
    return found


def _optional_id(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    return None if value is None else _int(value, name)


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ActionError(422, "bad_field", f"'{name}' must be a string")
    return value


def _disposition(data: dict[str, Any]) -> str | None:
    value = data.get("disposition")
    if value is not None and not isinstance(value, str):
        raise ActionError(422, "bad_field", "'disposition' must be a string")
    return value or None


async def _run(
    principal: Principal, actions: ConsoleActions, frame: dict[str, Any]
) -> dict[str, Any]:
    user = principal.user
    kind = frame.get("type")
    if kind == "state":
        return await actions.set_state(user, _str(frame, "state"))
    if kind == "accept":
        return await actions.accept(user, _int(frame.get("offer_id"), "offer_id"))
    if kind == "decline":
        return await actions.decline(user, _int(frame.get("offer_id"), "offer_id"))
    if kind == "reply":
        return await actions.reply(
            user,
            _int(frame.get("conversation_id"), "conversation_id"),
            _str(frame, "client_id"),
            _str(frame, "text"),
            _optional_id(frame, "identity_id"),
        )
    if kind == "transfer":
        conversation_id = _int(frame.get("conversation_id"), "conversation_id")
        return await _transfer(actions, principal, frame, conversation_id)
    if kind == "resolve":
        return await actions.resolve(
            user, _int(frame.get("conversation_id"), "conversation_id"), _disposition(frame)
        )
    if kind == "resend":
        return await actions.resend(user, _int(frame.get("message_id"), "message_id"))
    if kind == "send_back":
        return await actions.send_back(
            user, _int(frame.get("conversation_id"), "conversation_id"), _str(frame, "reason")
        )
    raise ActionError(400, "unknown_type", f"unknown frame type {kind!r}")


async def operator_socket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    principal = await authenticate(request)
    if principal is None:
        fail(401, "unauthenticated", "sign in, or send a bearer token")
    # A cookie rides along on cross-site requests: only our own pages may open this socket.
    if principal.via == "session":
        check_console_origin(request, required=True)
    ws = web.WebSocketResponse(
        heartbeat=app[SETTINGS].routing.operator_heartbeat_seconds,
        max_msg_size=MAX_OPERATOR_FRAME,
    )
    await ws.prepare(request)
    user = principal.user
    hub, actions, state = app[OPERATOR_HUB], app[ACTIONS], app[ROUTING_STATE]
    sock = OperatorSocket(ws, user.id, principal.session_id)
    structlog.contextvars.bind_contextvars(operator_id=user.id)
    current = await state.connected(user.id, app[INSTANCE_ID])
    await hub.attach(sock)
    app[METRICS].sockets.labels("operator").inc()
    log.info("operator.socket.open", state=current)
    try:
        await sock.send({"type": "hello", "user": user.as_json(), "state": current})
        await sock.send(await hub.snapshot(sock))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            await _handle(principal, actions, sock, msg.data, app[USERS])
    finally:
        await hub.detach(sock)
        app[METRICS].sockets.labels("operator").dec()
        if user.id not in hub.sockets and await state.disconnected(user.id, app[INSTANCE_ID]):
            app[ACTIONS].relay.nudge()
        log.info("operator.socket.closed", code=ws.close_code)
    return ws


async def _handle(
    principal: Principal,
    actions: ConsoleActions,
    sock: OperatorSocket,
    raw: str,
    users: UserStore,
) -> None:
    try:
        frame = json.loads(raw)
    except json.JSONDecodeError as exc:
        await sock.send(
            {"type": "error", "code": "bad_json", "reason": f"not valid JSON: {exc.msg}"}
        )
        return
    if not isinstance(frame, dict):
        await sock.send({"type": "error", "code": "bad_frame", "reason": "frame must be an object"})
        return
    if frame.get("type") == "ping":
        await sock.send({"type": "pong"})
        return
    ref = frame.get("ref")
    # Signed out, revoked or expired since the socket opened (here or on another instance):
    # nothing more is done in this session's name.
    if not await still_valid(users, principal):
        await sock.send(
            {
                "type": "result",
                "ref": ref,
                "ok": False,
                "error": "signed_out",
                "reason": "this session has ended; sign in again",
            }
        )
        await sock.sign_out("session ended")
        return
    try:
        result = await _run(principal, actions, frame)
    except ActionError as exc:
        await sock.send(
            {"type": "result", "ref": ref, "ok": False, "error": exc.code, "reason": exc.reason}
        )
        return
    except Exception:
        # A fault of ours must not cost the operator their socket.
        log.exception("operator.frame.failed", kind=frame.get("type"))
        await sock.send(
            {"type": "result", "ref": ref, "ok": False, "error": "internal", "reason": "try again"}
        )
        return
    await sock.send({"type": "result", "ref": ref, "ok": True, **result})


Action = Callable[
    [Principal, ConsoleActions, dict[str, Any], web.Request], Awaitable[dict[str, Any]]
]


def _endpoint(
    action: Action, status: int = 200, role: Role = Role.OPERATOR
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        principal = await require(request, role)
        data = await json_body(request) if request.method == "POST" else {}
        try:
            result = await action(principal, request.app[ACTIONS], data, request)
        except ActionError as exc:
            fail(exc.status, exc.code, exc.reason)
        return web.json_response(result, status=status)

    return handler


async def _transfer(
    actions: ConsoleActions, principal: Principal, data: dict[str, Any], conversation_id: int
) -> dict[str, Any]:
    to = data.get("to_operator")
    queue = data.get("queue")
    note = data.get("note", "")
    if queue is not None and not isinstance(queue, str):
        raise ActionError(422, "bad_field", "'queue' must be a string")
    if not isinstance(note, str):
        raise ActionError(422, "bad_field", "'note' must be a string")
    if to is None and queue is None:
        raise ActionError(422, "bad_field", "give 'to_operator' or 'queue'")
    target = None if to is None else _int(to, "to_operator")
    return await actions.transfer(principal.user, conversation_id, target, queue, note)


async def _list(
    p: Principal, a: ConsoleActions, _d: dict[str, Any], _r: web.Request
) -> dict[str, Any]:
    return {"conversations": await a.list(p.user)}


async def _detail(
    p: Principal, a: ConsoleActions, _d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return {"conversation": await a.detail(p.user, path_id(r))}


async def _reply(
    p: Principal, a: ConsoleActions, d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return await a.reply(
        p.user,
        path_id(r),
        _str(d, "client_id"),
        _str(d, "text"),
        _optional_id(d, "identity_id"),
    )


async def _resolve(
    p: Principal, a: ConsoleActions, d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return await a.resolve(p.user, path_id(r), _disposition(d))


async def _transfer_http(
    p: Principal, a: ConsoleActions, d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return await _transfer(a, p, d, path_id(r))


async def _send_back(
    p: Principal, a: ConsoleActions, d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return await a.send_back(p.user, path_id(r), _str(d, "reason"))


async def _resend(
    p: Principal, a: ConsoleActions, _d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return await a.resend(p.user, path_id(r))


async def _targets(
    p: Principal, a: ConsoleActions, _d: dict[str, Any], _r: web.Request
) -> dict[str, Any]:
    return await a.targets(p.user)


async def _accept(
    p: Principal, a: ConsoleActions, _d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return await a.accept(p.user, path_id(r))


async def _decline(
    p: Principal, a: ConsoleActions, _d: dict[str, Any], r: web.Request
) -> dict[str, Any]:
    return await a.decline(p.user, path_id(r))


async def _state(
    p: Principal, a: ConsoleActions, d: dict[str, Any], _r: web.Request
) -> dict[str, Any]:
    return await a.set_state(p.user, _str(d, "state"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ws/operator", operator_socket)
    app.router.add_get("/api/conversations", _endpoint(_list))
    app.router.add_get("/api/conversations/{id}", _endpoint(_detail))
    app.router.add_post("/api/conversations/{id}/messages", _endpoint(_reply, status=201))
    app.router.add_post("/api/conversations/{id}/resolve", _endpoint(_resolve))
    app.router.add_post("/api/conversations/{id}/transfer", _endpoint(_transfer_http))
    app.router.add_post("/api/conversations/{id}/send-back", _endpoint(_send_back))
    app.router.add_get("/api/transfer-targets", _endpoint(_targets))
    app.router.add_post("/api/messages/{id}/resend", _endpoint(_resend))
    app.router.add_post("/api/offers/{id}/accept", _endpoint(_accept))
    app.router.add_post("/api/offers/{id}/decline", _endpoint(_decline))
    app.router.add_post("/api/operator/state", _endpoint(_state))
