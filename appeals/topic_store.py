"""Versions of the topics document (table ``topic_configs``), each with the YAML it came from.

Why in the store and not only in config/topics.yaml: every gateway instance must route and
time appeals by the same topics, and an admin's change through the API must reach all of them
without a restart. The file stays the way to start: it is imported as a new version whenever
its text changes (so a restart does not undo changes made through the API); after that the
newest version wins, whichever way it came. Every version keeps the document (what the
gateway uses) and the YAML text (what the admin wrote, comments included), like IVR menus.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from gateway.errors import Conflict
from gateway.model import utcnow
from gateway.storage.audit import record_audit
from gateway.storage.database import Database
from gateway.storage.schema import topic_configs

_ADVISORY_LOCK = 0x43470003  # serialises topics writers on PostgreSQL
TARGET = "topics"  # the audit log's target of every change


class TopicsVersionConflict(Conflict):
    """Someone else saved a newer version since the one the change was made against."""

    def __init__(self, current: int | None) -> None:
        super().__init__(f"the topics are now at version {current}")
        self.current = current


@dataclass(frozen=True, slots=True)
class TopicsVersion:
    id: int
    document: dict[str, Any]
    source_text: str
    source: str  # "file", "api" or "rollback"
    created_by: int | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.id,
            "source": self.source,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def text_hash(source_text: str) -> str:
    return hashlib.sha256(source_text.encode()).hexdigest()


def _version(row: Any) -> TopicsVersion:
    return TopicsVersion(
        row.id, row.document, row.source_text or "", row.source, row.created_by, row.created_at
    )


class TopicConfigStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def latest_id(self) -> int | None:
        """The version in force (cheap: asked before the topics are used)."""
        async with self.db.read() as conn:
            value = (await conn.execute(select(func.max(topic_configs.c.id)))).scalar()
        return int(value) if value is not None else None

    async def get(self, version: int | None = None) -> TopicsVersion | None:
        """One version, or the newest one."""
        query = select(topic_configs)
        query = (
            query.where(topic_configs.c.id == version)
            if version is not None
            else query.order_by(topic_configs.c.id.desc()).limit(1)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        return _version(row) if row else None

    async def versions(self, limit: int = 100) -> list[TopicsVersion]:
        """The newest versions first."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(topic_configs).order_by(topic_configs.c.id.desc()).limit(limit)
                )
            ).all()
        return [_version(r) for r in rows]

    async def save(
        self,
        document: dict[str, Any],
        source_text: str,
        *,
        actor_id: int | None,
        actor: str,
        action: str,
        detail: dict[str, Any],
        expected_version: int | None = None,
        source: str = "api",
        file_hash: str | None = None,
    ) -> TopicsVersion:
        """Store a new version (already validated) and its audit entry in one transaction.
        With ``expected_version``, refuse (TopicsVersionConflict) if another version came in
        between."""
        now = utcnow()
        async with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
            current = (await conn.execute(select(func.max(topic_configs.c.id)))).scalar()
            if expected_version is not None and current != expected_version:
                raise TopicsVersionConflict(current)
            new_id = (
                await conn.execute(
                    topic_configs.insert()
                    .values(
                        document=document,
                        source_text=source_text,
                        source=source,
                        file_hash=file_hash,
                        created_by=actor_id,
                        created_at=now,
                    )
                    .returning(topic_configs.c.id)
                )
            ).scalar_one()
            await record_audit(
                conn,
                actor_id,
                actor,
                action,
                TARGET,
                {**detail, "version": new_id, "previous": current},
                now,
            )
        return TopicsVersion(int(new_id), document, source_text, source, actor_id, now)

    async def import_file(
        self, document: dict[str, Any], source_text: str, path: str
    ) -> TopicsVersion | None:
        """Make the file's content the newest version unless this very text was the last one
        imported from a file (so restarts do not undo changes made through the API)."""
        digest = text_hash(source_text)
        async with self.db.read() as conn:
            last_file = (
                await conn.execute(
                    select(topic_configs.c.file_hash)
                    .where(topic_configs.c.source == "file")
                    .order_by(topic_configs.c.id.desc())
                    .limit(1)
                )
            ).scalar()
        if last_file == digest:
            return None
        return await self.save(
            document,
            source_text,
            actor_id=None,
            actor=f"file:{path}",
            action="topics.import",
            detail={"path": path},
            source="file",
            file_hash=digest,
        )

    async def rollback(
        self,
        version: int,
        *,
        actor_id: int | None,
        actor: str,
        expected_version: int | None = None,
    ) -> TopicsVersion | None:
        """Store an earlier version's content again, as a new version (source "rollback", so
        history stays whole); None if there is no such version. The caller checks it first:
        routing may have changed since."""
        old = await self.get(version)
        if old is None:
            return None
        return await self.save(
            old.document,
            old.source_text,
            actor_id=actor_id,
            actor=actor,
            action="topics.rollback",
            detail={"to": version},
            expected_version=expected_version,
            source="rollback",
        )
