"""The admin API for routing: read and change skills, operators' profiles, queues, rules and the
choice policy; every change is validated as a whole, kept as a new version, written to the audit
log, and applied by every instance's router on its next pass (no restart).

Writes take an optional ``version`` (the one the admin's change was made against); if someone
else saved since, the answer is 409 and nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.auth import Principal, require
from gateway.http import body_id, fail, json_body, optional_body_id, query_id
from gateway.keys import ROUTING_CONFIGS, USERS
from gateway.model import Role
from gateway.storage.routing_configs import ConfigVersion, VersionConflict
from routing.config import RoutingConfigError, parse_routing
from routing.edits import (
    Edit,
    EditError,
    Section,
    delete_item,
    put_item,
    replace_all,
    replace_policy,
    replace_rules,
)
from routing.live import LIVE_ROUTING

MAX_BODY = 512 * 1024


async def _current(request: web.Request) -> tuple[int | None, dict[str, Any]]:
    stored = await request.app[ROUTING_CONFIGS].get()
    if stored is not None:
        return stored.id, stored.document
    return None, request.app[LIVE_ROUTING].fallback().as_document()


def _version_field(data: dict[str, Any]) -> int | None:
    """The version the admin's change was made against (optional)."""
    return optional_body_id(data, "version")


def _detail(edit: Edit) -> dict[str, Any]:
    if edit.action in ("routing.replace", "routing.rollback"):
        before, after = edit.before or {}, edit.after or {}
        changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
        return {"changed": changed}
    return {"before": edit.before, "after": edit.after}


def _version_json(version: ConfigVersion) -> dict[str, Any]:
    return {**version.as_json(), "config": version.document}


async def _save(
    request: web.Request, principal: Principal, edit: Edit, expected: int | None
) -> web.Response:
    try:
        config = parse_routing(edit.document, "routing")
    except RoutingConfigError as exc:
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"error": "invalid_config", "problems": exc.problems}),
            content_type="application/json",
        ) from None
    try:
        saved = await request.app[ROUTING_CONFIGS].save(
            config.as_document(),
            actor_id=principal.user.id,
            actor=principal.user.username,
            action=edit.action,
            target=edit.target,
            detail=_detail(edit),
            expected_version=expected,
        )
    except VersionConflict as exc:
        fail(409, "version_conflict", f"{exc}; read it again and redo your change")
    await request.app[LIVE_ROUTING].current()
    return web.json_response(_version_json(saved))


def _section(request: web.Request) -> Section:
    try:
        return Section(request.match_info["section"])
    except ValueError:
        fail(404, "not_found", "sections are skills, operators and queues")


async def get_routing(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    version, document = await _current(request)
    stored = await request.app[ROUTING_CONFIGS].get(version) if version else None
    if stored is None:
        return web.json_response({"version": None, "source": "default", "config": document})
    return web.json_response(_version_json(stored))


async def put_routing(request: web.Request) -> web.Response:
    principal = await require(request, Role.ADMIN)
    data = await json_body(request, MAX_BODY)
    expected = _version_field(data)
    _, document = await _current(request)
    try:
        edit = replace_all(document, data.get("config"))
    except EditError as exc:
        fail(422, "bad_field", str(exc))
    return await _save(request, principal, edit, expected)


async def validate_routing(request: web.Request) -> web.Response:
    """A dry run: would this configuration be accepted? Nothing is stored."""
    await require(request, Role.ADMIN)
    data = await json_body(request, MAX_BODY)
    try:
        parse_routing(data.get("config"), "routing")
    except RoutingConfigError as exc:
        return web.json_response({"ok": False, "problems": exc.problems})
    return web.json_response({"ok": True, "problems": []})


async def put_item_route(request: web.Request) -> web.Response:
    principal = await require(request, Role.ADMIN)
    section = _section(request)
    data = await json_body(request, MAX_BODY)
    expected = _version_field(data)
    _, document = await _current(request)
    try:
        edit = put_item(document, section, request.match_info["name"], data.get("value"))
    except EditError as exc:
        fail(422, "bad_field", str(exc))
    return await _save(request, principal, edit, expected)


async def delete_item_route(request: web.Request) -> web.Response:
    principal = await require(request, Role.ADMIN)
    section = _section(request)
    version = query_id(request, "version")
    _, document = await _current(request)
    try:
        edit = delete_item(document, section, request.match_info["name"])
    except KeyError as exc:
        fail(404, "not_found", str(exc.args[0]))
    return await _save(request, principal, edit, version)


async def _replace(
    request: web.Request, key: str, edit_with: Callable[[dict[str, Any], Any], Edit]
) -> web.Response:
    """Replace one top-level part of the configuration (the rules, the policy)."""
    principal = await require(request, Role.ADMIN)
    data = await json_body(request, MAX_BODY)
    expected = _version_field(data)
    _, document = await _current(request)
    try:
        edit = edit_with(document, data.get(key))
    except EditError as exc:
        fail(422, "bad_field", str(exc))
    return await _save(request, principal, edit, expected)


async def put_rules(request: web.Request) -> web.Response:
    return await _replace(request, "rules", replace_rules)


async def put_policy(request: web.Request) -> web.Response:
    return await _replace(request, "policy", replace_policy)


async def rollback(request: web.Request) -> web.Response:
    """Make an earlier version the one in force again (as a new version: history is kept)."""
    principal = await require(request, Role.ADMIN)
    data = await json_body(request)
    target = body_id(data, "to_version")
    old = await request.app[ROUTING_CONFIGS].get(target)
    if old is None:
        fail(404, "not_found", f"there is no version {target}")
    _, document = await _current(request)
    edit = Edit(old.document, "routing.rollback", f"version {target}", document, old.document)
    return await _save(request, principal, edit, _version_field(data))


async def versions(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    listed = await request.app[ROUTING_CONFIGS].versions(limit=100)
    return web.json_response({"versions": [v.as_json() for v in listed]})


async def audit(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    try:  # clamped, so any integer will do
        limit = min(500, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        fail(422, "bad_field", "'limit' must be an integer")
    before = query_id(request, "before")
    entries = await request.app[ROUTING_CONFIGS].audit(limit, before)
    return web.json_response({"entries": [e.as_json() for e in entries]})


async def operators(request: web.Request) -> web.Response:
    """Every staff account that can take contacts, with its routing profile."""
    await require(request, Role.ADMIN)
    config = await request.app[LIVE_ROUTING].current()
    out = []
    for user in await request.app[USERS].list():
        profile = config.operators.get(user.username)
        out.append(
            {
                **user.as_json(),
                "profile": profile.model_dump(mode="json") if profile else None,
                "capacity": {k.value: v for k, v in config.capacity_of(user.username).items()},
            }
        )
    return web.json_response({"operators": out})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/routing", get_routing)
    app.router.add_put("/api/admin/routing", put_routing)
    app.router.add_post("/api/admin/routing/validate", validate_routing)
    app.router.add_post("/api/admin/routing/rollback", rollback)
    app.router.add_get("/api/admin/routing/versions", versions)
    app.router.add_put("/api/admin/routing/rules", put_rules)
    app.router.add_put("/api/admin/routing/policy", put_policy)
    app.router.add_put("/api/admin/routing/{section}/{name}", put_item_route)
    app.router.add_delete("/api/admin/routing/{section}/{name}", delete_item_route)
    app.router.add_get("/api/admin/audit", audit)
    app.router.add_get("/api/admin/operators", operators)
