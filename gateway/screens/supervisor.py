"""The supervisor's live view: a page and the JSON it polls (supervisor role or above)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.auth import require
from gateway.console.actions import ActionError
from gateway.console.routes import ACTIONS
from gateway.http import body_id, fail, json_body, path_id
from gateway.keys import CHANNELS, DATABASE, RELAY, ROUTING_STATE, RULES, SETTINGS, USERS
from gateway.model import Role
from gateway.pages import page
from gateway.storage.overview import Overview
from gateway.storage.routing_rules import RuleStore
from gateway.waiting import wait_estimate
from routing.config import RoutingConfig
from routing.escalation import as_waiting, has_later_step, step_floor
from routing.holdups import explain
from routing.live import LIVE_ROUTING
from routing.strategy import Media, WaitingContact, qualifies


async def overview(request: web.Request) -> web.Response:
    await require(request, Role.SUPERVISOR)
    threshold = request.app[SETTINGS].routing.service_level_seconds
    config = await request.app[LIVE_ROUTING].current()
    snapshot = await Overview(request.app[DATABASE], request.app[CHANNELS].media_of).snapshot(
        threshold, queues=tuple(config.queues), wrapup_seconds=config.policy.wrapup_seconds
    )
    await _explain(request.app[RULES], config, snapshot)
    return web.json_response(snapshot)


async def _explain(rules: RuleStore, config: RoutingConfig, snapshot: dict[str, Any]) -> None:
    """Give each waiting contact the reason it is not on offer and the available operators a
    supervisor may assign it to, from the same line and operators the router plans with."""
    seen = await rules.snapshot(config, operators=True)
    later = frozenset(
        item.contact.conversation_id
        for item in seen.line
        if has_later_step(config, item.rule, item.step)
    )
    why = explain(
        seen.contacts, seen.operators, now=seen.now, policy=config.policy.as_policy(),
        later_steps=later,
    )  # fmt: skip
    needs = {c.conversation_id: c for c in seen.contacts}
    names = {o["id"]: o["display_name"] for o in snapshot["operators"]}
    for queue in snapshot["queues"]:
        for contact in queue["contacts"]:
            need = needs.get(contact["id"])
            if need is None and contact["status"] == "offered":  # may be given to another
                need = as_waiting(
                    WaitingContact(contact["id"], 0, None, media=Media(contact["media"])),
                    config,
                    queue["name"],
                    step_floor(config, contact["rule"], contact["step"]),
                )
            answer = why.get(contact["id"])
            contact["holdup"] = answer.holdup.value if answer else None
            contact["held"] = {k.value: n for k, n in answer.held.items()} if answer else {}
            contact["eligible_operators"] = [
                {"id": op.operator_id, "name": names.get(op.operator_id, str(op.operator_id))}
                for op in seen.operators
                if need is not None
                and op.operator_id not in need.refused_by
                and qualifies(op, need)
            ]


async def assign(request: web.Request) -> web.Response:
    """``POST /api/supervisor/conversations/{id}/assign`` ``{"operator_id": n}``."""
    principal = await require(request, Role.SUPERVISOR)
    conversation_id = path_id(request)
    data = await json_body(request)
    operator_id = body_id(data, "operator_id")
    try:
        result = await request.app[ACTIONS].assign(principal.user, conversation_id, operator_id)
    except ActionError as exc:
        fail(exc.status, exc.code, exc.reason)
    return web.json_response(result)


async def conversation_wait(request: web.Request) -> web.Response:
    await require(request, Role.SUPERVISOR)
    conversation_id = path_id(request)
    return web.json_response(await wait_estimate(request.app[ROUTING_STATE], conversation_id))


async def force_logout(request: web.Request) -> web.Response:
    principal = await require(request, Role.SUPERVISOR)
    user_id = path_id(request)
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
    app.router.add_post("/api/supervisor/conversations/{id}/assign", assign)
