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

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict
from gateway.model import utcnow
from gateway.storage.audit import record_audit
from gateway.storage.database import Database
from gateway.storage.schema import topic_configs
from gateway.storage.versions import VersionedTable

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
        self.table = VersionedTable(db, topic_configs, _ADVISORY_LOCK)

    async def latest_id(self) -> int | None:
        """The version in force (cheap: asked before the topics are used)."""
        return await self.table.latest_id()

    async def get(self, version: int | None = None) -> TopicsVersion | None:
        """One version, or the newest one."""
        row = await self.table.row(version)
        return _version(row) if row else None

    async def versions(self, limit: int = 100) -> list[TopicsVersion]:
        """The newest versions first."""
        return [_version(r) for r in await self.table.rows(limit)]

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

        async def audit(conn: AsyncConnection, new_id: int, previous: int | None) -> None:
            await record_audit(
                conn,
                actor_id,
                actor,
                action,
                TARGET,
                {**detail, "version": new_id, "previous": previous},
                now,
            )

        new_id = await self.table.insert(
            {
                "document": document,
                "source_text": source_text,
                "source": source,
                "file_hash": file_hash,
                "created_by": actor_id,
            },
            expected_version=expected_version,
            conflict=TopicsVersionConflict,
            audit=audit,
            now=now,
        )
        return TopicsVersion(new_id, document, source_text, source, actor_id, now)

    async def import_file(
        self, document: dict[str, Any], source_text: str, path: str
    ) -> TopicsVersion | None:
        """Make the file's content the newest version unless this very text was the last one
        imported from a file (so restarts do not undo changes made through the API)."""
        digest = text_hash(source_text)
        if await self.table.last_file_hash() == digest:
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
