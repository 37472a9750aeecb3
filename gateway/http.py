"""HTTP conventions: JSON errors with a reason, request ids, and no stack traces for clients.

Why: bad input must get a clear 4xx that says what is wrong; an unexpected fault is logged with
its request id and answered with a plain 500 that leaks nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import structlog
from aiohttp import web

from gateway.ids import id_reason, parse_id
from gateway.logs import REQUEST_ID_HEADER

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge,
    422: web.HTTPUnprocessableEntity,
    429: web.HTTPTooManyRequests,
    503: web.HTTPServiceUnavailable,
}


def fail(status: int, error: str, reason: str) -> NoReturn:
    """Stop handling with a JSON error body ``{"error", "reason"}``."""
    body = json.dumps({"error": error, "reason": reason})
    exc_type = _STATUS[status]
    if exc_type is web.HTTPRequestEntityTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=0, actual_size=0, text=body, content_type="application/json"
        )
    raise exc_type(text=body, content_type="application/json")


async def json_body(request: web.Request, max_bytes: int = 65_536) -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says what is wrong with it."""
    if request.content_length is not None and request.content_length > max_bytes:
        fail(413, "too_large", f"body is larger than {max_bytes} bytes")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        fail(413, "too_large", f"body is larger than {max_bytes} bytes")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(400, "bad_json", f"body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        fail(422, "bad_body", "body must be a JSON object")
    return data


# Ids are stored in 64-bit signed columns; a larger number overflows the database driver.
def path_id(request: web.Request, name: str = "id", minimum: int = 1) -> int:
    """A path parameter naming a stored row; anything that cannot be one is not found."""
    found = parse_id(request.match_info[name], text=True, minimum=minimum)
    if found is None:
        fail(404, "not_found", f"there is no such {name} here")
    return found


def query_id(request: web.Request, name: str) -> int | None:
    """An optional id in the query string, or a 422 naming it."""
    if name not in request.query:
        return None
    found = parse_id(request.query[name], text=True)
    if found is None:
        fail(422, "bad_field", id_reason(name))
    return found


def body_id(data: dict[str, Any], name: str) -> int:
    """An id in a JSON body, or a 422 naming it."""
    found = parse_id(data.get(name))
    if found is None:
        fail(422, "bad_field", id_reason(name))
    return found


def optional_body_id(data: dict[str, Any], name: str) -> int | None:
    """An id in a JSON body that may be absent or null, or a 422 naming it."""
    return None if data.get(name) is None else body_id(data, name)


def require_str(data: dict[str, Any], key: str, max_len: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        fail(422, "bad_field", f"'{key}' must be a non-empty string")
    if len(value) > max_len:
        fail(422, "too_long", f"'{key}' is longer than {max_len} characters")
    return value


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = (
        incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    except Exception:
        log.exception("http.request.failed", path=request.path, method=request.method)
        body = json.dumps(
            {"error": "internal", "reason": "unexpected error", "request_id": request_id}
        )
        return web.Response(status=500, text=body, content_type="application/json")
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
