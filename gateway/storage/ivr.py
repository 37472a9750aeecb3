"""IVR menus (every published version) and IVR sessions (where each caller is), in the store.

Why in the store: every gateway instance must play the same menu, an admin's publish or
rollback must reach all of them at once, and a call's next webhook may land on another instance
or after a restart. Menus are kept as the YAML the admin wrote, so a version reads back exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from gateway.errors import Conflict
from gateway.model import utcnow
from gateway.storage.audit import record_audit
from gateway.storage.database import Database
from gateway.storage.schema import (
    ivr_menus,
    ivr_sessions,
    messages,
    routing_events,
    voice_replies,
)

_ADVISORY_LOCK = 0x43470002  # serialises menu publishers on PostgreSQL


class MenuVersionConflict(Conflict):
    def __init__(self, current: int | None) -> None:
        super().__init__(f"the menu is now at version {current}")
        self.current = current


@dataclass(frozen=True, slots=True)
class MenuVersion:
    id: int
    menu_id: str
    source_text: str
    version: str
    source: str
    created_by: int | None
    created_at: datetime

    def as_json(self, with_text: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "menu_id": self.menu_id,
            "version": self.version,
            "source": self.source,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }
        if with_text:
            out["source_text"] = self.source_text
        return out


def _menu_version(row: Any) -> MenuVersion:
    return MenuVersion(
        row.id,
        row.menu_id,
        row.source_text,
        row.version,
        row.source,
        row.created_by,
        row.created_at,
    )


def text_hash(source_text: str) -> str:
    return hashlib.sha256(source_text.encode()).hexdigest()


class IvrMenuStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def current(self) -> dict[str, MenuVersion]:
        """The version in force of every menu."""
        newest = select(func.max(ivr_menus.c.id)).group_by(ivr_menus.c.menu_id).scalar_subquery()
        async with self.db.read() as conn:
            rows = (await conn.execute(select(ivr_menus).where(ivr_menus.c.id.in_(newest)))).all()
        return {row.menu_id: _menu_version(row) for row in rows}

    async def newest_id(self) -> int | None:
        """Cheap change detection: the newest version id across menus."""
        async with self.db.read() as conn:
            value = (await conn.execute(select(func.max(ivr_menus.c.id)))).scalar()
        return int(value) if value is not None else None

    async def get(self, version_id: int) -> MenuVersion | None:
        async with self.db.read() as conn:
            query = select(ivr_menus).where(ivr_menus.c.id == version_id)
            row = (await conn.execute(query)).first()
        return _menu_version(row) if row else None

    async def versions(self, menu_id: str, limit: int = 100) -> list[MenuVersion]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ivr_menus)
                    .where(ivr_menus.c.menu_id == menu_id)
                    .order_by(ivr_menus.c.id.desc())
                    .limit(limit)
                )
            ).all()
        return [_menu_version(r) for r in rows]

    async def publish(
        self,
        menu_id: str,
        source_text: str,
        version: str,
        *,
        actor_id: int | None,
        actor: str,
        source: str = "api",
        expected: int | None = None,
        file_hash: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> MenuVersion:
        """Store a new version (already validated) with its audit entry. With ``expected``,
        refuse if the menu's version in force is no longer that one."""
        now = utcnow()
        async with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
            current = (
                await conn.execute(
                    select(func.max(ivr_menus.c.id)).where(ivr_menus.c.menu_id == menu_id)
                )
            ).scalar()
            if expected is not None and current != expected:
                raise MenuVersionConflict(current)
            new_id = (
                await conn.execute(
                    ivr_menus.insert()
                    .values(
                        menu_id=menu_id,
                        source_text=source_text,
                        version=version,
                        source=source,
                        file_hash=file_hash,
                        created_by=actor_id,
                        created_at=now,
                    )
                    .returning(ivr_menus.c.id)
                )
            ).scalar_one()
            await record_audit(
                conn,
                actor_id,
                actor,
                f"ivr.{source if source != 'api' else 'publish'}",
                f"ivr/{menu_id}",
                {**(detail or {}), "id": new_id, "version": version},
                now,
            )
        return MenuVersion(int(new_id), menu_id, source_text, version, source, actor_id, now)

    async def import_file(
        self, menu_id: str, source_text: str, version: str, path: str
    ) -> MenuVersion | None:
        """Publish a menu file's content unless this very content was the last one imported
        from a file (so restarts do not undo what admins published through the API)."""
        digest = text_hash(source_text)
        async with self.db.read() as conn:
            last_file = (
                await conn.execute(
                    select(ivr_menus.c.file_hash)
                    .where(ivr_menus.c.menu_id == menu_id, ivr_menus.c.source == "file")
                    .order_by(ivr_menus.c.id.desc())
                    .limit(1)
                )
            ).scalar()
        if last_file == digest:
            return None
        return await self.publish(
            menu_id,
            source_text,
            version,
            actor_id=None,
            actor=f"file:{path}",
            source="file",
            file_hash=digest,
        )


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    key: str | None
    channel: str
    address: str
    call_sid: str | None
    conversation_id: int | None
    state: str
    status: str
    revision: int
    updated_at: datetime
    created_at: datetime | None = None


class SessionConflict(Conflict):
    """Another webhook of the same session wrote first: read it again and redo the step."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a call was answered at one step of its menu (kept to answer a re-post alike)."""

    call_sid: str
    step: int
    twiml: str


def _session(row: Any) -> Session:
    return Session(
        row.id,
        row.key,
        row.channel,
        row.address,
        row.call_sid,
        row.conversation_id,
        row.state,
        row.status,
        row.revision,
        row.updated_at,
        row.created_at,
    )


class IvrSessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def live(self, key: str) -> Session | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(ivr_sessions).where(ivr_sessions.c.key == key))
            ).first()
        return _session(row) if row else None

    async def by_call(self, call_sid: str) -> Session | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(ivr_sessions)
                    .where(ivr_sessions.c.call_sid == call_sid)
                    .order_by(ivr_sessions.c.id.desc())
                    .limit(1)
                )
            ).first()
        return _session(row) if row else None

    async def by_id(self, session_id: int) -> Session | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(ivr_sessions).where(ivr_sessions.c.id == session_id))
            ).first()
        return _session(row) if row else None

    async def begin(
        self,
        key: str,
        channel: str,
        address: str,
        state: str,
        status: str = "menu",
        call_sid: str | None = None,
    ) -> Session | None:
        """A new live session; None if one with this key exists already (a retried webhook)."""
        now = utcnow()
        async with self.db.write() as conn:
            found = (
                await conn.execute(select(ivr_sessions.c.id).where(ivr_sessions.c.key == key))
            ).first()
            if found is not None:
                return None
            new_id = (
                await conn.execute(
                    ivr_sessions.insert()
                    .values(
                        key=key,
                        channel=channel,
                        address=address,
                        call_sid=call_sid,
                        conversation_id=None,
                        state=state,
                        status=status,
                        revision=1,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(ivr_sessions.c.id)
                )
            ).scalar_one()
        return Session(
            int(new_id), key, channel, address, call_sid, None, state, status, 1, now, now
        )

    async def save(
        self,
        session: Session,
        state: str,
        *,
        status: str | None = None,
        conversation_id: int | None = None,
        reply: Reply | None = None,
    ) -> Session:
        """Write the session's next state if nobody wrote since ``session`` was read
        (SessionConflict otherwise). Ending it (status ``ended``) frees its key. ``reply``
        is kept with the state, in the same transaction: the answer to that step."""
        status = status or session.status
        key = None if status == "ended" else session.key
        now = utcnow()
        values: dict[str, Any] = {
            "state": state,
            "status": status,
            "key": key,
            "revision": session.revision + 1,
            "updated_at": now,
        }
        if conversation_id is not None:
            values["conversation_id"] = conversation_id
        try:
            async with self.db.write() as conn:
                result = await conn.execute(
                    update(ivr_sessions)
                    .where(
                        ivr_sessions.c.id == session.id,
                        ivr_sessions.c.revision == session.revision,
                    )
                    .values(**values)
                )
                if result.rowcount != 1:
                    raise SessionConflict(f"session {session.id} changed meanwhile")
                if reply is not None:
                    await conn.execute(
                        voice_replies.insert().values(
                            call_sid=reply.call_sid,
                            session_id=session.id,
                            step=reply.step,
                            twiml=reply.twiml,
                            created_at=now,
                        )
                    )
        except IntegrityError:  # this step was answered meanwhile: nothing was written
            raise SessionConflict(f"session {session.id} step answered meanwhile") from None
        return Session(
            session.id,
            key,
            session.channel,
            session.address,
            session.call_sid,
            conversation_id if conversation_id is not None else session.conversation_id,
            state,
            status,
            session.revision + 1,
            now,
            session.created_at,
        )

    async def replayed(self, call_sid: str, session_id: int, step: int) -> str | None:
        """The TwiML this step of the call was answered with, if it was."""
        async with self.db.read() as conn:
            return (
                await conn.execute(
                    select(voice_replies.c.twiml).where(
                        voice_replies.c.call_sid == call_sid,
                        voice_replies.c.session_id == session_id,
                        voice_replies.c.step == step,
                    )
                )
            ).scalar()

    async def of_conversation(self, conversation_id: int) -> Session | None:
        """The newest session that handed this conversation to routing."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(ivr_sessions)
                    .where(ivr_sessions.c.conversation_id == conversation_id)
                    .order_by(ivr_sessions.c.id.desc())
                    .limit(1)
                )
            ).first()
        return _session(row) if row else None

    async def transcribe(self, dedupe_key: str, transcription: str) -> int | None:
        """Put a voicemail's transcription into its message; the message id, or None."""
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(messages.c.id, messages.c.text, messages.c.raw).where(
                        messages.c.dedupe_key == dedupe_key
                    )
                )
            ).first()
            if row is None:
                return None
            raw = {**(row.raw or {}), "transcription": transcription}
            text_now = f"{row.text}\n\n{transcription}" if transcription else row.text
            await conn.execute(
                update(messages).where(messages.c.id == row.id).values(text=text_now, raw=raw)
            )
        return int(row.id)

    async def final_action(
        self, conversation_id: int, since: datetime | None
    ) -> tuple[str, str] | None:
        """The routing rule's final action (and its text) for a contact whose steps all
        expired since ``since``: what a caller waiting on the line is told and offered."""
        query = (
            select(routing_events.c.detail)
            .where(
                routing_events.c.conversation_id == conversation_id,
                routing_events.c.kind == "final",
            )
            .order_by(routing_events.c.id.desc())
            .limit(1)
        )
        if since is not None:
            query = query.where(routing_events.c.created_at >= since)
        async with self.db.read() as conn:
            detail = (await conn.execute(query)).scalar()
        if not isinstance(detail, dict):
            return None
        return str(detail.get("action", "")), str(detail.get("text") or "")
