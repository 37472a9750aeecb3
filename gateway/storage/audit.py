"""The audit log: who changed what and when (routing configuration, customer identities)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.schema import audit_log


async def record_audit(
    conn: AsyncConnection,
    actor_id: int | None,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any],
    now: datetime,
) -> int:
    """One entry, in the caller's transaction (so it exists exactly when the change does)."""
    return int(
        (
            await conn.execute(
                audit_log.insert()
                .values(
                    actor_id=actor_id,
                    actor=actor,
                    action=action,
                    target=target,
                    detail=detail,
                    created_at=now,
                )
                .returning(audit_log.c.id)
            )
        ).scalar_one()
    )
