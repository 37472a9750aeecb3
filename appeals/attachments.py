"""Files attached to an appeal: a file the customer sent in one of their conversations, or one
a member of staff uploads (a scan, a letter from a third party), kept once in the gateway's file
store and served only to those who may see the appeal.

Why its own module: attaching is not a change of the appeal's state (no version moves), but
it is part of the appeal's record, so each file gets a history row and an ``appeal.changed``
event like every other change.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from sqlalchemy import select

from appeals.routes import actor_of, endpoint, visible_appeal
from appeals.store import APPEAL_STORE, Actor, Appeal, AppealStore, load_appeal, write_history
from gateway.auth import Principal
from gateway.http import body_id, fail, json_body, path_id
from gateway.keys import FILES, RELAY
from gateway.model import utcnow
from gateway.storage.schema import appeal_attachments, conversations, messages

MAX_UPLOAD = 10 * 1024 * 1024
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/]')
DEFAULT_TYPE = "application/octet-stream"


def safe_filename(name: str | None) -> str:
    """A file name fit for a header and a list: no path, no quotes, no control characters.
    Browsers send UTF-8 names with quotes as ``%22``, other clients percent-encode them all."""
    text = unquote(name or "")
    base = re.split(r"[/\\]", text)[-1]
    cleaned = _UNSAFE.sub("_", base.strip())[-200:].strip(". ")
    return cleaned or "file"


async def attach(
    store: AppealStore,
    appeal: Appeal,
    file_id: int,
    filename: str,
    actor: Actor,
    now: datetime,
    message_id: int | None = None,
) -> int:
    """Attach a kept file, with its history row and event; the attachment's id."""
    async with store.db.write() as conn:
        attachment_id = (
            await conn.execute(
                appeal_attachments.insert()
                .values(
                    appeal_id=appeal.id,
                    file_id=file_id,
                    filename=filename,
                    message_id=message_id,
                    added_by=actor.user_id,
                    created_at=now,
                )
                .returning(appeal_attachments.c.id)
            )
        ).scalar_one()
        current = await load_appeal(conn, appeal.id)
        await write_history(
            conn, current, "attach", actor, now, from_status=current.status, reason=None,
            detail={"attachment_id": int(attachment_id), "filename": filename},
        )  # fmt: skip
    return int(attachment_id)


async def _from_message(
    request: web.Request, appeal: Appeal, data: dict[str, Any]
) -> tuple[int, str, int]:
    """A file the customer sent in one of their own conversations (kept by the gateway)."""
    message_id = body_id(data, "message_id")
    index = data.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        fail(422, "bad_field", "'index' must be the attachment's position (0 or more)")
    async with request.app[APPEAL_STORE].db.read() as conn:
        row = (
            await conn.execute(
                select(messages.c.attachments, conversations.c.customer_id)
                .join(conversations, conversations.c.id == messages.c.conversation_id)
                .where(messages.c.id == message_id)
            )
        ).first()
    attachments = list(row.attachments or []) if row is not None else []
    if row is None or row.customer_id != appeal.customer_id or index >= len(attachments):
        fail(422, "bad_field", "no such file in a conversation of this appeal's customer")
    stored = attachments[index]
    file_id = stored.get("file_id")
    if not isinstance(file_id, int):
        fail(422, "not_kept", "this file was not kept, so it cannot be attached")
    return file_id, safe_filename(stored.get("filename")), message_id


async def add_attachment(request: web.Request, principal: Principal) -> web.Response:
    appeal = await visible_appeal(request, principal)
    message_id: int | None = None
    if request.content_type.startswith("multipart/"):
        file_id, filename = await _upload(request)
    else:
        data = await json_body(request)
        file_id, filename, message_id = await _from_message(request, appeal, data)
    attachment_id = await attach(
        request.app[APPEAL_STORE],
        appeal,
        file_id,
        filename,
        actor_of(principal),
        utcnow(),
        message_id=message_id,
    )
    request.app[RELAY].nudge()
    return web.json_response({"attachment_id": attachment_id}, status=201)


async def _upload(request: web.Request) -> tuple[int, str]:
    """The one ``file`` part of a multipart upload, at most MAX_UPLOAD bytes."""
    if request.content_length is not None and request.content_length > MAX_UPLOAD + 64 * 1024:
        fail(413, "too_large", f"a file may be at most {MAX_UPLOAD // (1024 * 1024)} MB")
    reader = await request.multipart()
    async for part in reader:
        if getattr(part, "name", None) != "file":
            continue
        data = bytearray()
        while chunk := await part.read_chunk(65_536):  # type: ignore[union-attr]
            data += chunk
            if len(data) > MAX_UPLOAD:
                fail(413, "too_large", f"a file may be at most {MAX_UPLOAD // (1024 * 1024)} MB")
        if not data:
            fail(422, "bad_field", "the file is empty")
        content_type = part.headers.get("Content-Type", DEFAULT_TYPE)  # type: ignore[union-attr]
        file_id = await request.app[FILES].keep(bytes(data), content_type)
        return file_id, safe_filename(getattr(part, "filename", None))
    fail(422, "bad_field", "send the file as the multipart part named 'file'")


async def download(request: web.Request, principal: Principal) -> web.StreamResponse:
    appeal = await visible_appeal(request, principal)
    attachment_id = path_id(request, "attachment_id")
    async with request.app[APPEAL_STORE].db.read() as conn:
        row = (
            await conn.execute(
                select(appeal_attachments).where(
                    appeal_attachments.c.id == attachment_id,
                    appeal_attachments.c.appeal_id == appeal.id,
                )
            )
        ).first()
    stored = await request.app[FILES].get(row.file_id) if row is not None else None
    if row is None or stored is None:
        fail(404, "not_found", "no such file on this appeal")
    return web.Response(
        body=stored.data,
        content_type=stored.content_type if "/" in stored.content_type else DEFAULT_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{row.filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/appeals/{id}/attachments", endpoint(add_attachment))
    app.router.add_get("/api/appeals/{id}/attachments/{attachment_id}", endpoint(download))
