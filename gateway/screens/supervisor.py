"""The supervisor's live view: a page and the JSON it polls (supervisor role or above)."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import require
from gateway.http import fail
from gateway.keys import CHANNELS, DATABASE, RELAY, ROUTING_STATE, SETTINGS, USERS
from gateway.model import Role
from gateway.pages import page
from gateway.storage.overview import Overview
from gateway.waiting import wait_estimate
from routing.live import LIVE_ROUTING


async def overview(request: web.Request) -> web.Response:
    await require(request, Role.SUPERVISOR)
    threshold = request.app[SETTINGS].routing.service_level_seconds
    config = await request.app[LIVE_ROUTING].current()
    snapshot = await Overview(request.app[DATABASE], request.app[CHANNELS].media_of).snapshot(
        threshold, queues=tuple(config.queues), wrapup_seconds=config.policy.wrapup_seconds
    )
    return web.json_response(snapshot)


async def conversation_wait(request: web.Request) -> web.Response:
    await require(request, Role.SUPERVISOR)
    try:
        conversation_id = int(request.match_info["id"])
    except ValueError:
        fail(422, "bad_field", "'id' must be an integer")
    return web.json_response(await wait_estimate(request.app[ROUTING_STATE], conversation_id))


async def force_logout(request: web.Request) -> web.Response:
    principal = await require(request, Role.SUPERVISOR)
    try:
        user_id = int(request.match_info["id"])
    except ValueError:
        fail(422, "bad_field", "'id' must be an integer")
    if not await request.app[ROUTING_STATE].force_offline(user_id, by=principal.user.id):
        fail(404, "not_found", "no operator with this id has signed in")
    await request.app[USERS].end_sessions(user_id)
    request.app[RELAY].nudge()
    return web.json_response({"operator_id": user_id, "state": "offline"})


async def supervisor_page(_request: web.Request) -> web.StreamResponse:
    return page("supervisor.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/supervisor/overview", overview)
    app.router.add_get("/supervisor", supervisor_page)
    app.router.add_get("/api/conversations/{id}/wait", conversation_wait)
    app.router.add_post("/api/operators/{id}/logout", force_logout)
