"""The IVR admin API and page: read the menus in force and their history, validate and publish
YAML, roll back, draw each menu as a graph, and walk through a menu in a simulator.

Why here and not in gateway/admin.py: menus are YAML an admin writes (kept word for word, with
line numbers for every problem), not a JSON document, and they come with a diagram and a
simulator the routing admin has no use for. Every write goes through ``LiveMenus`` (validated
against the routing in force, stored as a new version, audited), so what an admin publishes here
is exactly what every instance plays next.

Why the simulator is safe: it runs the pure engine (ivr.engine) over a state the page keeps, so
nothing is stored and nobody is called. A lookup is not made: the simulator stops at it and the
admin answers it ("found" with some JSON, or "failed"), as the external system would.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from aiohttp import web

from gateway.auth import require
from gateway.http import body_id, fail, json_body, optional_body_id, path_id
from gateway.keys import USERS
from gateway.menus.ivr_menus import LIVE_MENUS, LiveMenus, MenuProblems
from gateway.model import Role
from gateway.pages import page
from gateway.storage.ivr import MenuVersion, MenuVersionConflict
from ivr.engine import advance, resume, start
from ivr.graph import menu_graph
from ivr.loader import LoadedMenu, parse_menu
from ivr.model import (
    Menu,
    Problem,
)
from ivr.simulation import (
    SimulationError,
    check_event,
    parse_at,
    parse_attributes,
    parse_event,
    parse_state,
    simulated,
)

MAX_BODY = 512 * 1024
MAX_SOURCE = 256 * 1024  # characters of YAML in one menu

_REFUSALS: dict[int, type[web.HTTPException]] = {
    409: web.HTTPConflict,
    422: web.HTTPUnprocessableEntity,
}


def _refuse(status: int, body: dict[str, Any]) -> NoReturn:
    """A 4xx with more than ``{"error", "reason"}`` (the problems, the current version)."""
    raise _REFUSALS[status](text=json.dumps(body), content_type="application/json")


def _problems(problems: list[Problem], error: str = "invalid_menu") -> NoReturn:
    count = len(problems)
    _refuse(
        422,
        {
            "ok": False,
            "error": error,
            "reason": f"{count} problem{'s' if count != 1 else ''}: {problems[0]}",
            "problems": [
                {"file": p.file, "node": p.node, "line": p.line, "message": p.message}
                for p in problems
            ],
        },
    )


def _source_text(data: dict[str, Any]) -> str:
    text = data.get("source_text")
    if not isinstance(text, str):
        fail(422, "bad_field", "'source_text' must be the menu's YAML as a string")
    if len(text) > MAX_SOURCE:
        fail(422, "too_long", f"'source_text' is longer than {MAX_SOURCE} characters")
    return text


def _id_mismatch(loaded: LoadedMenu, menu_id: str) -> NoReturn:
    problem = Problem(
        loaded.file,
        None,
        loaded.source.line(("id",)),
        f"id: the text is menu {loaded.menu.id!r}, but this is menu {menu_id!r}",
    )
    _problems([problem], "id_mismatch")


async def _live_menu(request: web.Request) -> tuple[str, LoadedMenu, MenuVersion]:
    menu_id = request.match_info["id"]
    live = await request.app[LIVE_MENUS].get(menu_id)
    if live is None:
        fail(404, "not_found", f"there is no menu {menu_id!r}")
    loaded = parse_menu(live.stored.source_text, menu_id)
    if isinstance(loaded, list):  # only validated menus are stored; never expected
        fail(404, "not_found", f"menu {menu_id!r} cannot be read")
    return menu_id, loaded, live.stored


async def _authors(request: web.Request) -> dict[int, str]:
    return {u.id: u.username for u in await request.app[USERS].list()}


def _with_author(version: MenuVersion, authors: dict[int, str]) -> dict[str, Any]:
    author = authors.get(version.created_by) if version.created_by is not None else None
    return {**version.as_json(), "author": author}


async def list_menus(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    menus = await request.app[LIVE_MENUS].all()
    out = [
        {
            "id": menu_id,
            "description": live.menu.description,
            "languages": list(live.menu.languages),
            "nodes": len(live.menu.nodes),
            "version": live.stored.as_json(),
        }
        for menu_id, live in sorted(menus.items())
    ]
    return web.json_response({"menus": out})


async def get_menu(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    menu_id, loaded, stored = await _live_menu(request)
    menu = loaded.menu
    return web.json_response(
        {
            "id": menu_id,
            "description": menu.description,
            "languages": list(menu.languages),
            "start": menu.start,
            "version": stored.as_json(with_text=True),
            "graph": menu_graph(menu, loaded.source),
        }
    )


async def menu_versions(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    menu_id = request.match_info["id"]
    listed = await request.app[LIVE_MENUS].store.versions(menu_id)
    if not listed:
        fail(404, "not_found", f"there is no menu {menu_id!r}")
    authors = await _authors(request)
    return web.json_response({"versions": [_with_author(v, authors) for v in listed]})


async def menu_version(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    menu_id, version_id = request.match_info["id"], path_id(request, "version_id")
    found = await request.app[LIVE_MENUS].store.get(version_id)
    if found is None or found.menu_id != menu_id:
        fail(404, "not_found", f"menu {menu_id!r} has no version {version_id}")
    return web.json_response(
        {**found.as_json(with_text=True), **_with_author(found, await _authors(request))}
    )


async def validate_menu(request: web.Request) -> web.Response:
    """A dry run: would this YAML go live? With the graph, so a draft can be drawn."""
    await require(request, Role.ADMIN)
    text = _source_text(await json_body(request, MAX_BODY))
    try:
        loaded = await request.app[LIVE_MENUS].check(text, "menu")
    except MenuProblems as exc:
        _problems(exc.problems)
    return web.json_response(
        {
            "ok": True,
            "menu_id": loaded.menu.id,
            "version": loaded.menu.version,
            "graph": menu_graph(loaded.menu, loaded.source),
        }
    )


async def publish_menu(request: web.Request) -> web.Response:
    principal = await require(request, Role.ADMIN)
    menu_id = request.match_info["id"]
    data = await json_body(request, MAX_BODY)
    text = _source_text(data)
    expected = optional_body_id(data, "expected_version")
    shaped = parse_menu(text, menu_id)
    if isinstance(shaped, list):
        _problems(shaped)
    if shaped.menu.id != menu_id:
        _id_mismatch(shaped, menu_id)
    try:
        published = await request.app[LIVE_MENUS].publish(
            text,
            actor_id=principal.user.id,
            actor=principal.user.username,
            expected=expected,
            menu_id=menu_id,
        )
    except MenuProblems as exc:
        _problems(exc.problems)
    except MenuVersionConflict as exc:
        _refuse(
            409,
            {
                "error": "version_conflict",
                "reason": f"{exc}, not {expected}: read it again and redo your change",
                "current": exc.current,
            },
        )
    return web.json_response(published.as_json(), status=201)


async def rollback_menu(request: web.Request) -> web.Response:
    """Publish an earlier version again, as a new version (the history stays whole)."""
    principal = await require(request, Role.ADMIN)
    menu_id = request.match_info["id"]
    version_id = body_id(await json_body(request), "version_id")
    try:
        published = await request.app[LIVE_MENUS].rollback(
            menu_id, version_id, actor_id=principal.user.id, actor=principal.user.username
        )
    except MenuProblems as exc:  # valid then, not now (routing lost a queue or a skill)
        _problems(exc.problems)
    if published is None:
        fail(404, "not_found", f"menu {menu_id!r} has no version {version_id}")
    return web.json_response(published.as_json())


async def _simulated_menu(request: web.Request, live: LiveMenus, draft: Any) -> Menu:
    menu_id = request.match_info["id"]
    if draft is None:
        found = await live.get(menu_id)
        if found is None:
            fail(404, "not_found", f"there is no menu {menu_id!r}")
        return found.menu
    if not isinstance(draft, str) or len(draft) > MAX_SOURCE:
        fail(422, "bad_field", f"'source_text' must be YAML of at most {MAX_SOURCE} characters")
    try:
        loaded = await live.check(draft, menu_id)
    except MenuProblems as exc:
        _problems(exc.problems)
    if loaded.menu.id != menu_id:
        _id_mismatch(loaded, menu_id)
    return loaded.menu


async def simulate(request: web.Request) -> web.Response:
    """One step of a simulated call: start (no state), answer (state and event) or hear the
    question again (state, no event). Nothing is stored; the page keeps the state."""
    await require(request, Role.ADMIN)
    data = await json_body(request, MAX_BODY)
    try:
        at = parse_at(data.get("at"))
    except SimulationError as exc:
        fail(422, exc.code, exc.reason)
    menu = await _simulated_menu(request, request.app[LIVE_MENUS], data.get("source_text"))
    raw_state, raw_event = data.get("state"), data.get("event")
    try:
        if raw_state is None:
            if raw_event is not None:
                fail(422, "bad_event", "start the call first: an event needs the state of a call")
            attributes = {"channel": "voice", **parse_attributes(data.get("attributes"))}
            step = start(menu, at, attributes)
        else:
            if data.get("attributes") is not None:
                fail(422, "bad_field", "'attributes' are given when a call starts, not later")
            state = parse_state(raw_state, menu)
            if raw_event is None:
                step = resume(menu, state, at)
            else:
                event = parse_event(raw_event)
                check_event(menu, state, event)
                step = advance(menu, state, event, at)
    except SimulationError as exc:
        fail(422, exc.code, exc.reason)
    except ValueError as exc:  # the engine refuses a state it cannot use
        fail(422, "bad_state", str(exc))
    return web.json_response({**simulated(menu, step), "at": at.isoformat()})


async def ivr_page(_request: web.Request) -> web.StreamResponse:
    return page("ivr.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/ivr/menus", list_menus)
    app.router.add_get("/api/admin/ivr/menus/{id}", get_menu)
    app.router.add_put("/api/admin/ivr/menus/{id}", publish_menu)
    app.router.add_get("/api/admin/ivr/menus/{id}/versions", menu_versions)
    app.router.add_get("/api/admin/ivr/menus/{id}/versions/{version_id}", menu_version)
    app.router.add_post("/api/admin/ivr/menus/{id}/rollback", rollback_menu)
    app.router.add_post("/api/admin/ivr/menus/{id}/simulate", simulate)
    app.router.add_post("/api/admin/ivr/validate", validate_menu)
    app.router.add_get("/admin/ivr", ivr_page)
