"""The web chat adapter: the session endpoint and the visitor websocket.

Order of checks on the socket: origin and token before the upgrade (HTTP 403), then per frame:
size (aiohttp closes with 1009), rate per visitor and per client address across all their
sockets (close 4429), shape (error frame, nothing stored). A
message is acknowledged only after :func:`accept_inbound` committed it.
"""

from __future__ import annotations

import time

import structlog
from aiohttp import WSMsgType, web

from channels.webchat.hub import WEBCHAT_HUB, VisitorSocket
from channels.webchat.protocol import (
    AskWait,
    FrameError,
    Ping,
    Resume,
    SendMessage,
    contact_attributes,
    parse_frame,
)
from channels.webchat.tokens import TokenError, issue_token, new_visitor_id, verify_token
from gateway.auth import origin_allowed
from gateway.channel_intake import accept_from_channel
from gateway.http import fail, json_body
from gateway.keys import CONVERSATIONS, METRICS, ROUTING_STATE, SETTINGS
from gateway.model import Channel, InboundMessage
from gateway.ratelimit import FrameLimiter
from gateway.waiting import wait_estimate

log = structlog.get_logger()

CLOSE_RATE_LIMITED = 4429
FRAME_LIMITER = web.AppKey("webchat_frame_limiter", FrameLimiter)


def _secret(request: web.Request) -> bytes:
    return request.app[SETTINGS].security.secret_key.get_secret_value().encode()


def _check_origin(request: web.Request) -> None:
    if not origin_allowed(request, request.app[SETTINGS].webchat.allowed_origins):
        request.app[METRICS].rejected.labels("webchat", "origin").inc()
        fail(403, "origin", "this site is not allowed to use the chat")


async def create_session(request: web.Request) -> web.Response:
    """Issue a visitor token, or confirm the one the widget already holds."""
    _check_origin(request)
    data = await json_body(request, 2048)
    old = data.get("token")
    if old is not None:
        try:
            visitor_id = verify_token(_secret(request), old if isinstance(old, str) else None)
        except TokenError as exc:
            request.app[METRICS].rejected.labels("webchat", "token").inc()
            fail(403, "forbidden", str(exc))
    else:
        visitor_id = new_visitor_id()
    token = issue_token(_secret(request), visitor_id)
    response = web.json_response({"token": token, "visitor_id": visitor_id})
    response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
    response.headers["Vary"] = "Origin"
    return response


async def session_preflight(request: web.Request) -> web.Response:
    _check_origin(request)
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": request.headers["Origin"],
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


async def visitor_socket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    settings = app[SETTINGS].webchat
    _check_origin(request)
    try:
        visitor_id = verify_token(_secret(request), request.query.get("token"))
    except TokenError as exc:
        app[METRICS].rejected.labels("webchat", "token").inc()
        fail(403, "forbidden", str(exc))

    try:
        attributes = contact_attributes(request.query)
    except ValueError as exc:
        fail(400, "bad_request", str(exc))

    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat_seconds, max_msg_size=settings.max_frame_bytes
    )
    await ws.prepare(request)
    hub = app[WEBCHAT_HUB]
    sock = VisitorSocket(ws, visitor_id, attributes)
    current = await app[CONVERSATIONS].open_for_identity(Channel.WEBCHAT.value, visitor_id)
    sock.conversation_id = current.id if current else None
    hub.attach(sock)
    app[METRICS].sockets.labels("webchat").inc()
    limiter, address = app[FRAME_LIMITER], request.remote or "unknown"
    structlog.contextvars.bind_contextvars(visitor_id=visitor_id)
    log.info("webchat.socket.open")
    try:
        await sock.send(
            {"type": "ready", "visitor_id": visitor_id, "conversation_id": sock.conversation_id}
        )
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await sock.send(
                        {"type": "error", "code": "bad_frame", "reason": "text frames only"}
                    )
                continue
            if not limiter.allow(visitor_id, address, time.monotonic()):
                app[METRICS].rejected.labels("webchat", "rate").inc()
                log.warning("webchat.inbound.rejected", reason="rate")
                await ws.close(code=CLOSE_RATE_LIMITED, message=b"too many messages")
                break
            await _handle_frame(request, sock, msg.data)
        if ws.exception() is not None:
            log.info("webchat.socket.error", error=str(ws.exception()))
    finally:
        hub.detach(sock)
        app[METRICS].sockets.labels("webchat").dec()
        log.info("webchat.socket.closed", code=ws.close_code)
    return ws


async def _handle_frame(request: web.Request, sock: VisitorSocket, raw: str) -> None:
    app = request.app
    settings = app[SETTINGS]
    try:
        frame = parse_frame(raw, settings.webchat.max_text_chars)
    except FrameError as exc:
        app[METRICS].rejected.labels("webchat", exc.code).inc()
        log.info("webchat.inbound.rejected", reason=exc.code)
        await sock.send({"type": "error", "code": exc.code, "reason": exc.reason})
        return
    if isinstance(frame, Ping):
        await sock.send({"type": "pong"})
    elif isinstance(frame, Resume):
        await app[WEBCHAT_HUB].replay(sock, frame.after)
    elif isinstance(frame, SendMessage):
        await _accept(request, sock, frame)
    elif isinstance(frame, AskWait):
        estimate = (
            await wait_estimate(app[ROUTING_STATE], sock.conversation_id)
            if sock.conversation_id is not None
            else {"in_line": False, "position": None, "expected_wait_seconds": None}
        )
        await sock.send({"type": "wait", **estimate})


async def _accept(request: web.Request, sock: VisitorSocket, frame: SendMessage) -> None:
    app = request.app
    message = InboundMessage(
        channel=Channel.WEBCHAT,
        sender=sock.visitor_id,
        sender_name=f"Web visitor {sock.visitor_id[2:8]}",
        text=frame.text,
        provider_message_id=frame.client_id,
        raw={
            "client_id": frame.client_id,
            "user_agent": request.headers.get("User-Agent", "")[:300],
        },
        attributes=sock.attributes,
    )
    accepted = await accept_from_channel(
        app, message, f"webchat:{sock.visitor_id}:{frame.client_id}"
    )
    app[WEBCHAT_HUB].joined(sock, accepted.conversation_id)
    sock.mark_seen(accepted.message_id)
    log.info(
        "webchat.inbound.accepted",
        message_id=accepted.message_id,
        conversation_id=accepted.conversation_id,
        duplicate=not accepted.created,
    )
    await sock.send(
        {
            "type": "ack",
            "client_id": frame.client_id,
            "id": accepted.message_id,
            "seq": accepted.message_id,
            "conversation_id": accepted.conversation_id,
        }
    )


def add_routes(app: web.Application) -> None:
    settings = app[SETTINGS].webchat
    app[FRAME_LIMITER] = FrameLimiter(
        settings.rate_per_second,
        settings.burst,
        settings.address_rate_per_second or 10 * settings.rate_per_second,
        settings.address_burst or 10 * settings.burst,
    )
    app.router.add_post("/api/webchat/session", create_session)
    app.router.add_route("OPTIONS", "/api/webchat/session", session_preflight)
    app.router.add_get("/ws/webchat", visitor_socket)
