"""The supervisor's live view: a page and the JSON it polls (supervisor role or above)."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import require
from gateway.http import fail
from gateway.keys import DATABASE, ROUTING_STATE, SETTINGS
from gateway.model import Role
from gateway.pages import page
from gateway.storage.overview import Overview
from gateway.waiting import wait_estimate


async def overview(request: web.Request) -> web.Response:
    await require(request, Role.SUPERVISOR)
    threshold = request.app[SETTINGS].routing.service_level_seconds
    return web.json_response(await Overview(request.app[DATABASE]).snapshot(threshold))


async def conversation_wait(request: web.Request) -> web.Response:
    await require(request, Role.SUPERVISOR)
    try:
        conversation_id = int(request.match_info["id"])
    except ValueError:
        fail(422, "bad_field", "'id' must be an integer")
    return web.json_response(await wait_estimate(request.app[ROUTING_STATE], conversation_id))


async def supervisor_page(_request: web.Request) -> web.StreamResponse:
    return page("supervisor.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/supervisor/overview", overview)
    app.router.add_get("/supervisor", supervisor_page)
    app.router.add_get("/api/conversations/{id}/wait", conversation_wait)
