"""The customer behind a conversation, across channels: read it, link an identity to it,
unlink one, undo a link (every change is in the audit log); and the files customers sent.

Supervisors and admins reach every customer; an operator only the customers they serve (a
conversation assigned or offered to them). Anything else answers 404, as for an id that does
not exist, and changes nothing (see gateway/storage/customers.py)."""

from __future__ import annotations

from aiohttp import web

from channels.common import WebhookError, normalize_number
from gateway.auth import Principal, require
from gateway.http import body_id, fail, json_body, path_id
from gateway.keys import CHANNELS, CUSTOMERS, FILES, SETTINGS
from gateway.model import Role
from gateway.storage.customers import Actor, LinkError

DEFAULT_TYPE = "application/octet-stream"


def _id(request: web.Request, name: str, minimum: int = 1) -> int:
    return path_id(request, name, minimum)


def _viewer(principal: Principal) -> int | None:
    """Whose customers the caller may see: None for supervisors and admins (everyone's)."""
    return None if principal.user.role.at_least(Role.SUPERVISOR) else principal.user.id


async def get_customer(request: web.Request) -> web.Response:
    principal = await require(request, Role.OPERATOR)
    customer = await request.app[CUSTOMERS].get(_id(request, "id"), _viewer(principal))
    if customer is None:
        fail(404, "not_found", "no customer with this id")
    return web.json_response({"customer": customer})


async def link(request: web.Request) -> web.Response:
    principal = await require(request, Role.OPERATOR)
    data = await json_body(request)
    identity_id = body_id(data, "identity_id")
    actor = Actor(principal.user.id, principal.user.username)
    try:
        audit_id = await request.app[CUSTOMERS].link(
            identity_id, _id(request, "id"), actor, _viewer(principal)
        )
    except LinkError as exc:
        fail(exc.status, exc.code, exc.reason)
    return web.json_response({"linked": identity_id, "undo_id": audit_id})


async def unlink(request: web.Request) -> web.Response:
    principal = await require(request, Role.OPERATOR)
    identity_id = _id(request, "identity_id")
    try:
        audit_id = await request.app[CUSTOMERS].unlink(
            identity_id,
            Actor(principal.user.id, principal.user.username),
            customer_id=_id(request, "id"),
            viewer=_viewer(principal),
        )
    except LinkError as exc:
        fail(exc.status, exc.code, exc.reason)
    return web.json_response({"unlinked": identity_id, "undo_id": audit_id})


async def undo(request: web.Request) -> web.Response:
    principal = await require(request, Role.OPERATOR)
    try:
        audit_id = await request.app[CUSTOMERS].undo(
            _id(request, "id"),
            Actor(principal.user.id, principal.user.username),
            _viewer(principal),
        )
    except LinkError as exc:
        fail(exc.status, exc.code, exc.reason)
    return web.json_response({"undone": _id(request, "id"), "undo_id": audit_id})


async def attachment(request: web.Request) -> web.Response:
    """A file a customer sent, to the operator who has the conversation and to supervisors.
    Always a download (never rendered as a page of ours), its type not to be second-guessed."""
    principal = await require(request, Role.OPERATOR)
    files = request.app[FILES]
    found = await files.of_message(_id(request, "id"))
    index = _id(request, "index", minimum=0)
    allowed = found is not None and (
        found.operator_id == principal.user.id or principal.user.role.at_least(Role.SUPERVISOR)
    )
    if found is None or not allowed or not 0 <= index < len(found.attachments):
        fail(404, "not_found", "no such file in a conversation of yours")
    file_id = found.attachments[index].get("file_id")
    stored = await files.get(file_id) if isinstance(file_id, int) else None
    if stored is None:
        fail(404, "not_found", "this file was not kept")
    return web.Response(
        body=stored.data,
        content_type=stored.content_type if "/" in stored.content_type else DEFAULT_TYPE,
        headers={
            "Content-Disposition": "attachment",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


async def find_identity(request: web.Request) -> web.Response:
    """An identity by channel and address (a phone number in any usual form), to link it."""
    principal = await require(request, Role.OPERATOR)
    channel = request.query.get("channel", "")
    address = request.query.get("address", "").strip()
    channels = request.app[CHANNELS]
    if channel not in channels:
        fail(422, "bad_field", f"'channel' must be one of {', '.join(sorted(channels.names))}")
    if not address or len(address) > 200:
        fail(422, "bad_field", "'address' must be 1 to 200 characters")
    if channels[channel].phone:
        try:
            address = normalize_number(address, request.app[SETTINGS].twilio.default_region)
        except WebhookError as exc:
            fail(422, "bad_field", exc.reason)
    elif channel == "email":
        address = address.lower()
    found = await request.app[CUSTOMERS].find_identity(channel, address, _viewer(principal))
    if found is None:
        fail(404, "not_found", f"nobody has written from {address} on {channel}")
    return web.json_response({"identity": found})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/customers/{id}", get_customer)
    app.router.add_get("/api/identities", find_identity)
    app.router.add_post("/api/customers/{id}/identities", link)
    app.router.add_delete("/api/customers/{id}/identities/{identity_id}", unlink)
    app.router.add_post("/api/customer-links/{id}/undo", undo)
    app.router.add_get("/api/messages/{id}/attachments/{index}", attachment)
