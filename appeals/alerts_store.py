"""Deadline alerts in the store: recording a passed warning or deadline once, the escalations
and staff notices it still owes, and what the supervisors' overview reads.

Why a gate of two locks: the ticker runs on every instance, so two of them find the same
passed deadline at the same moment. The alert row goes in only if its key (appeal, kind,
stage, instant) is not there yet, and the appeal's ``*_warned_at`` / ``*_breached_at`` is set
only while still empty and while the deadline is still the one that was read; the history
row and the ``appeal.changed`` event follow in the same transaction, or nothing does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Insert

from appeals.alerts import STAGE_RUNNING, AlertKind, Passed
from appeals.model import OPEN_STATUSES, Status, TimeoutAction
from appeals.numbers import format_reference
from appeals.store import Actor, Appeal, AppealStore, appeal_of_row, write_history
from gateway.storage.schema import appeal_alerts, appeals

STAGE_KINDS = [k.value for k in AlertKind if k.clock == "stage"]
FIRST_RESPONSE_KINDS = [k.value for k in AlertKind if k.clock == "first_response"]
RESOLUTION_KINDS = [k.value for k in AlertKind if k.clock == "resolution"]
_OPEN = [s.value for s in OPEN_STATUSES]
_STAGE_RUNNING = [s.value for s in STAGE_RUNNING]


class _Lost(Exception):
    """Another instance handled this deadline first, or it moved: undo the alert row."""


def insert_if_absent(conn: AsyncConnection, values: dict[str, Any]) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` on PostgreSQL and SQLite."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(appeal_alerts)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(appeal_alerts.c.id)
    )


def _still_due(appeal: Appeal, passed: Passed) -> list[Any]:
    """The appeal row still shows this deadline unhandled, on a running clock."""
    kind = passed.kind
    out = [
        appeals.c.id == appeal.id,
        appeals.c[kind.due_column] == passed.due_at,
        appeals.c[kind.mark_column].is_(None),
    ]
    if kind.clock == "stage":
        return [*out, appeals.c.status.in_(_STAGE_RUNNING), appeals.c.stage == appeal.stage]
    out += [appeals.c.status.in_(_OPEN), appeals.c.paused_at.is_(None)]
    if kind.clock == "first_response":
        out.append(appeals.c.first_response_at.is_(None))
    return out


def alert_json(row: Any) -> dict[str, Any]:
    """An alert row joined with its appeal's reference, topic, status and owner."""
    return {
        "id": row.id,
        "appeal_id": row.appeal_id,
        "reference": row.reference,
        "reference_display": format_reference(row.reference),
        "topic": row.topic,
        "kind": row.kind,
        "stage": row.stage,
        "queue": row.queue,
        "due_at": row.due_at.isoformat(),
        "action": row.action,
        "created_at": row.created_at.isoformat(),
        "notify_at": row.notify_at.isoformat() if row.notify_at else None,
        "notified_at": row.notified_at.isoformat() if row.notified_at else None,
        "status": row.status,
        "owner_id": row.owner_id,
    }


_WITH_APPEAL = select(
    appeal_alerts,
    appeals.c.reference,
    appeals.c.topic,
    appeals.c.status,
    appeals.c.owner_id,
).join(appeals, appeals.c.id == appeal_alerts.c.appeal_id)


class AlertStore:
    def __init__(self, store: AppealStore) -> None:
        self.store = store
        self.db = store.db

    async def record(
        self,
        appeal: Appeal,
        passed: Passed,
        *,
        action: TimeoutAction,
        notify_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Record a passed warning or deadline of ``appeal`` (as the ticker read it): the
        alert, the mark on the appeal, a history row and an ``appeal.changed`` event. False
        (and nothing written) when it was recorded already or no longer holds."""
        try:
            async with self.db.write() as conn:
                inserted = (
                    await conn.execute(
                        insert_if_absent(
                            conn,
                            {
                                "appeal_id": appeal.id,
                                "kind": passed.kind.value,
                                "stage": appeal.stage,
                                "queue": appeal.queue,
                                "due_at": passed.due_at,
                                "action": action.value,
                                "created_at": now,
                                "notify_at": notify_at,
                            },
                        )
                    )
                ).first()
                mark = update(appeals).where(*_still_due(appeal, passed))
                mark = mark.values({passed.kind.mark_column: now})
                if inserted is None:
                    # Recorded before: the appeal carries its mark too (else the ticker
                    # would find this deadline again and again).
                    await conn.execute(mark)
                    return False
                if (await conn.execute(mark)).rowcount != 1:
                    raise _Lost
                fresh = appeal_of_row(
                    (await conn.execute(select(appeals).where(appeals.c.id == appeal.id))).one()
                )
                await write_history(
                    conn,
                    fresh,
                    passed.kind.history_action,
                    Actor.system(),
                    now,
                    from_status=fresh.status,
                    reason=None,
                    detail={
                        "kind": passed.kind.value,
                        "due_at": passed.due_at.isoformat(),
                        "timeout_action": action.value,
                        **({"notify_at": notify_at.isoformat()} if notify_at else {}),
                    },
                    from_owner_id=fresh.owner_id,
                )
        except _Lost:
            return False
        return True

    # -- what recorded breaches still owe ------------------------------------------------

    async def owed_escalations(self, limit: int = 100) -> list[tuple[int, Appeal]]:
        """Appeals whose stage deadline was missed with ``escalate`` during their present stay
        in that stage, and that can still be escalated: (alert id, appeal)."""
        query = (
            select(appeals, appeal_alerts.c.id.label("alert_id"))
            .join(appeal_alerts, appeal_alerts.c.appeal_id == appeals.c.id)
            .where(
                appeal_alerts.c.kind == AlertKind.STAGE_BREACH.value,
                appeal_alerts.c.action == TimeoutAction.ESCALATE.value,
                appeal_alerts.c.stage == appeals.c.stage,
                appeal_alerts.c.created_at >= appeals.c.stage_since,
                appeals.c.status.in_(_STAGE_RUNNING),
            )
            .order_by(appeal_alerts.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(int(r.alert_id), appeal_of_row(r)) for r in rows]

    async def settle(self, alert_id: int, action: TimeoutAction) -> None:
        """Say what was done after all (an escalation the route no longer allows: warn)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(appeal_alerts).where(appeal_alerts.c.id == alert_id).values(action=action)
            )

    async def due_notices(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Staff notices whose hour has come and that were not sent yet, oldest first."""
        query = (
            _WITH_APPEAL.where(
                appeal_alerts.c.notify_at <= now, appeal_alerts.c.notified_at.is_(None)
            )
            .order_by(appeal_alerts.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [alert_json(r) for r in rows]

    async def claim_notice(self, alert_id: int, now: datetime) -> bool:
        """Take a notice to send (one instance does): False if another instance has it."""
        async with self.db.write() as conn:
            claimed = await conn.execute(
                update(appeal_alerts)
                .where(appeal_alerts.c.id == alert_id, appeal_alerts.c.notified_at.is_(None))
                .values(notified_at=now)
            )
        return claimed.rowcount == 1

    # -- closing for good ----------------------------------------------------------------

    async def resolved_before(self, cutoff: datetime, limit: int = 200) -> list[Appeal]:
        """Resolved appeals whose reopening window ended (resolved before ``cutoff``)."""
        query = (
            select(appeals)
            .where(appeals.c.status == Status.RESOLVED.value, appeals.c.resolved_at < cutoff)
            .order_by(appeals.c.resolved_at)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [appeal_of_row(r) for r in rows]

    # -- the supervisors' overview -------------------------------------------------------

    async def open_appeals(self) -> list[Appeal]:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(appeals).where(appeals.c.status.in_(_OPEN)))).all()
        return [appeal_of_row(r) for r in rows]

    async def open_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        """Alerts whose situation still stands, newest first: the appeal is open and, for a
        stage alert, still in that stay of the stage; for a first-response alert, still
        unanswered. A warning is left out once its clock's deadline has passed too."""
        stage = and_(
            appeal_alerts.c.kind.in_(STAGE_KINDS),
            appeal_alerts.c.stage == appeals.c.stage,
            appeal_alerts.c.created_at >= appeals.c.stage_since,
        )
        first_response = and_(
            appeal_alerts.c.kind.in_(FIRST_RESPONSE_KINDS), appeals.c.first_response_at.is_(None)
        )
        resolution = appeal_alerts.c.kind.in_(RESOLUTION_KINDS)
        query = (
            _WITH_APPEAL.where(appeals.c.status.in_(_OPEN), or_(stage, first_response, resolution))
            .order_by(appeal_alerts.c.id.desc())
            .limit(limit * 2)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        kinds = [AlertKind(r.kind) for r in rows]
        breached = {(r.appeal_id, k.clock) for r, k in zip(rows, kinds, strict=True) if k.breach}
        return [
            alert_json(r)
            for r, k in zip(rows, kinds, strict=True)
            if k.breach or (r.appeal_id, k.clock) not in breached
        ][:limit]
