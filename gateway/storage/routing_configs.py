"""Versions of the routing configuration, and the audit log of who changed what.

Why in the store and not only in the YAML file: every gateway instance must route by the same
rules, and an admin's change through the API must reach all of them without a restart. The file
stays the way to start (it is imported as a new version whenever its content changes); after
that the newest version wins, whichever way it came.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict
from gateway.model import utcnow
from gateway.storage.audit import record_audit
from gateway.storage.database import Database
from gateway.storage.schema import audit_log, routing_configs
from gateway.storage.versions import VersionedTable

_ADVISORY_LOCK = 0x43470001  # serialises config writers on PostgreSQL


class VersionConflict(Conflict):
    """Someone else saved a newer version since the one the change was made against."""

    def __init__(self, current: int | None) -> None:
        super().__init__(f"the routing configuration is now at version {current}")
        self.current = current


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    id: int
    document: dict[str, Any]
    source: str
    created_by: int | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.id,
            "source": self.source,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    actor_id: int | None
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor_id": self.actor_id,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
        }


def document_hash(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _version(row: Any) -> ConfigVersion:
    return ConfigVersion(row.id, row.document, row.source, row.created_by, row.created_at)


class RoutingConfigStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.versions_table = VersionedTable(db, routing_configs, _ADVISORY_LOCK)

    async def latest_id(self) -> int | None:
        """The version in force (cheap: the router asks before every pass)."""
        return await self.versions_table.latest_id()

    async def get(self, version: int | None = None) -> ConfigVersion | None:
        row = await self.versions_table.row(version)
        return _version(row) if row else None

    async def versions(self, limit: int = 100) -> list[ConfigVersion]:
        """The newest versions first (documents included)."""
        return [_version(r) for r in await self.versions_table.rows(limit)]

    async def save(
        self,
        document: dict[str, Any],
        *,
        actor_id: int | None,
        actor: str,
        action: str,
        target: str,
        detail: dict[str, Any],
        expected_version: int | None = None,
        source: str = "api",
        file_hash: str | None = None,
    ) -> ConfigVersion:
        """Store a new version and its audit entry in one transaction. With
        ``expected_version``, refuse (VersionConflict) if another version came in between."""
        now = utcnow()

        async def audit(conn: AsyncConnection, new_id: int, _previous: int | None) -> None:
            await record_audit(
                conn, actor_id, actor, action, target, {**detail, "version": new_id}, now
            )

        new_id = await self.versions_table.insert(
            {
                "document": document,
                "source": source,
                "file_hash": file_hash,
                "created_by": actor_id,
            },
            expected_version=expected_version,
            conflict=VersionConflict,
            audit=audit,
            now=now,
        )
        return ConfigVersion(new_id, document, source, actor_id, now)

    async def import_file(self, document: dict[str, Any], path: str) -> ConfigVersion | None:
        """Make the file's content the newest version unless this very content was the last
        one imported from a file (so restarts do not undo changes made through the API)."""
        digest = document_hash(document)
        if await self.versions_table.last_file_hash() == digest:
            return None
        return await self.save(
            document,
            actor_id=None,
            actor=f"file:{path}",
            action="routing.import",
            target=path,
            detail={},
            source="file",
            file_hash=digest,
        )

    async def audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_log.c.id < before)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AuditEntry(r.id, r.actor_id, r.actor, r.action, r.target, r.detail, r.created_at)
            for r in rows
        ]
