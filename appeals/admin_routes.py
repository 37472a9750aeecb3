"""The topics admin API: read the topics in force and their history, check a draft, publish
(YAML as written, or the same document as JSON) and roll back.

Why its own module: topics are written like the IVR menus (YAML with line numbers in every
problem, the text kept word for word) and versioned like routing (one document, compare-and-set
on its version). Every write goes through ``LiveTopics``: checked against the routing in force,
stored as a new version with its audit entry, and applied by every instance without a restart.
Invalid input or a version that moved: 422 or 409, and nothing is stored.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from aiohttp import web

from appeals.live import TOPICS
from appeals.topic_store import TopicsVersion, TopicsVersionConflict
from appeals.topics import TopicsConfig, TopicsConfigError, parse_topics
from gateway.auth import require
from gateway.http import body_id, fail, json_body, optional_body_id, path_id
from gateway.keys import USERS
from gateway.model import Role

MAX_BODY = 512 * 1024
MAX_SOURCE = 256 * 1024  # characters of YAML
DRAFT = "topics.yaml"  # how problems name a draft sent as YAML text
DRAFT_DOCUMENT = "topics"  # ... and one sent as a JSON document

_REFUSALS: dict[int, type[web.HTTPException]] = {
    409: web.HTTPConflict,
    422: web.HTTPUnprocessableEntity,
}


def _refuse(status: int, body: dict[str, Any]) -> NoReturn:
    """A 4xx with more than ``{"error", "reason"}`` (the problems, the current version)."""
    raise _REFUSALS[status](text=json.dumps(body), content_type="application/json")


def _problems_json(exc: TopicsConfigError) -> list[dict[str, Any]]:
    return [p.as_json() for p in exc.located]


def _invalid(exc: TopicsConfigError) -> NoReturn:
    count = len(exc.located)
    _refuse(
        422,
        {
            "ok": False,
            "error": "invalid_topics",
            "reason": f"{count} problem{'s' if count != 1 else ''}: {exc.problems[0]}",
            "problems": _problems_json(exc),
        },
    )


def _conflict(exc: TopicsVersionConflict, expected: int | None) -> NoReturn:
    _refuse(
        409,
        {
            "error": "version_conflict",
            "reason": f"{exc}, not {expected}: read them again and redo your change",
            "current": exc.current,
        },
    )


async def _parse(request: web.Request, data: dict[str, Any]) -> tuple[TopicsConfig, str | None]:
    """The draft in the body (``yaml`` or ``document``) checked against the routing in force,
    with its YAML text; TopicsConfigError lists its problems."""
    if ("yaml" in data) == ("document" in data):
        fail(
            422,
            "bad_field",
            "give either 'yaml' (the topics file's text) or 'document' (the same as JSON)",
        )
    live = request.app[TOPICS]
    if "document" in data:
        return await live.check_document(data["document"], DRAFT_DOCUMENT), None
    text = data["yaml"]
    if not isinstance(text, str):
        fail(422, "bad_field", "'yaml' must be the topics file's text, as a string")
    if len(text) > MAX_SOURCE:
        fail(422, "too_long", f"'yaml' is longer than {MAX_SOURCE} characters")
    return await live.check_text(text, DRAFT), text


def _state(config: TopicsConfig, stored: TopicsVersion | None) -> dict[str, Any]:
    version: dict[str, Any] = (
        stored.as_json()
        if stored is not None
        else {"version": None, "source": "default", "created_by": None, "created_at": None}
    )
    return {
        **version,
        "document": config.as_document(),
        "yaml": stored.source_text if stored is not None else "",
        "topics": config.summary(),
    }


async def _authors(request: web.Request) -> dict[int, str]:
    return {u.id: u.username for u in await request.app[USERS].list()}


def _with_author(version: TopicsVersion, authors: dict[int, str]) -> dict[str, Any]:
    author = authors.get(version.created_by) if version.created_by is not None else None
    return {**version.as_json(), "author": author}


async def get_topics(request: web.Request) -> web.Response:
    """The version in force: its document, its YAML text and its topics."""
    await require(request, Role.ADMIN)
    live = request.app[TOPICS]
    config = await live.current()
    return web.json_response(_state(config, live.stored))


async def put_topics(request: web.Request) -> web.Response:
    principal = await require(request, Role.ADMIN)
    data = await json_body(request, MAX_BODY)
    expected = optional_body_id(data, "expected_version")
    try:
        config, text = await _parse(request, data)
    except TopicsConfigError as exc:
        _invalid(exc)
    try:
        saved = await request.app[TOPICS].publish(
            config,
            text,
            actor_id=principal.user.id,
            actor=principal.user.username,
            expected_version=expected,
        )
    except TopicsVersionConflict as exc:
        _conflict(exc, expected)
    return web.json_response(_state(config, saved))


async def validate_topics(request: web.Request) -> web.Response:
    """A dry run: would this draft go live? Nothing is stored."""
    await require(request, Role.ADMIN)
    data = await json_body(request, MAX_BODY)
    try:
        config, _text = await _parse(request, data)
    except TopicsConfigError as exc:
        return web.json_response({"ok": False, "problems": _problems_json(exc), "topics": []})
    return web.json_response({"ok": True, "problems": [], "topics": config.summary()})


async def topics_versions(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    listed = await request.app[TOPICS].store.versions(limit=100)
    authors = await _authors(request)
    return web.json_response({"versions": [_with_author(v, authors) for v in listed]})


async def topics_version(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    version = path_id(request, "version")
    found = await request.app[TOPICS].store.get(version)
    if found is None:
        fail(404, "not_found", f"there is no topics version {version}")
    return web.json_response(
        {
            **_with_author(found, await _authors(request)),
            "document": found.document,
            "yaml": found.source_text,
        }
    )


async def rollback_topics(request: web.Request) -> web.Response:
    """Make an earlier version the one in force again (as a new version: history is kept)."""
    principal = await require(request, Role.ADMIN)
    data = await json_body(request)
    version = body_id(data, "version")
    expected = optional_body_id(data, "expected_version")
    live = request.app[TOPICS]
    try:
        saved = await live.rollback(
            version,
            actor_id=principal.user.id,
            actor=principal.user.username,
            expected_version=expected,
        )
    except TopicsConfigError as exc:  # valid then, not now (routing lost a queue)
        _invalid(exc)
    except TopicsVersionConflict as exc:
        _conflict(exc, expected)
    if saved is None:
        fail(404, "not_found", f"there is no topics version {version}")
    return web.json_response(_state(parse_topics(saved.document, DRAFT_DOCUMENT, None), saved))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/topics", get_topics)
    app.router.add_put("/api/admin/topics", put_topics)
    app.router.add_post("/api/admin/topics/validate", validate_topics)
    app.router.add_get("/api/admin/topics/versions", topics_versions)
    app.router.add_get("/api/admin/topics/versions/{version}", topics_version)
    app.router.add_post("/api/admin/topics/rollback", rollback_topics)
