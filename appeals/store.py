"""Appeals in the store: registering one, changing it by compare-and-set, and reading it back
with its history, notes, conversations, pauses, notices and alerts.

Why every change goes through :meth:`AppealStore.apply`: an appeal is worked on by several
people on several instances, so a change is only made against the version its author saw
(``UPDATE ... WHERE version = :expected``), with its history row and its ``appeal.changed``
outbox row in the same transaction. The pure model (appeals.model) says whether the change is
allowed; the clock module computes the deadlines in the topic's business time; this module
only reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from appeals.clock import add_business_seconds, business_seconds_between, warn_instant
from appeals.model import (
    OPEN_STATUSES,
    PAUSED_STATUSES,
    Action,
    AppealState,
    Priority,
    RouteStage,
    Status,
    transition,
)
from appeals.numbers import new_reference
from gateway.errors import Conflict
from gateway.events import Event
from gateway.storage.database import Database
from gateway.storage.routing_state import emit
from gateway.storage.schema import (
    appeal_alerts,
    appeal_attachments,
    appeal_conversations,
    appeal_history,
    appeal_notes,
    appeal_notices,
    appeal_pauses,
    appeals,
    attachment_files,
    conversations,
    messages,
    users,
)
from ivr.hours import Calendar

MAX_NOTE_CHARS = 10_000
# A call-back task is an appeal_alerts row of this kind; its ``action`` says whether it still
# stands ("callback") or an operator called the customer ("done"). See appeals/notice_store.py.
CALLBACK_KIND = "callback"
CALLBACK_STANDS = "callback"
CALLBACK_DONE = "done"
WARN_SHARE = 0.8


# How often a change is tried again when only an offer moved under it.
_OFFER_RETRIES = 5


class _OfferMoved(Exception):
    """An offer of the appeal was made or ended after it was read (the version did not move)."""


class AppealChanged(Conflict):
    """Someone changed the appeal after the version the change was made against."""

    def __init__(self, current: int | None) -> None:
        super().__init__(
            "the appeal was changed by someone else since you loaded it"
            + (f" (it is now at version {current})" if current is not None else "")
        )
        self.current = current


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a user (operator, supervisor, admin, or an integrator's token), the
    customer (on a channel), or the gateway itself."""

    user_id: int | None
    name: str
    channel: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(None, "system")

    @classmethod
    def customer(cls, channel: str | None) -> Actor:
        return cls(None, "customer", channel)


@dataclass(frozen=True, slots=True)
class Appeal:
    id: int
    reference: str
    customer_id: int
    topic: str
    category: str
    priority: str
    status: str
    stage: int
    queue: str
    owner_id: int | None
    fields: dict[str, Any]
    summary: str
    language: str
    channel: str | None
    conversation_id: int | None
    idempotency_key: str | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    version: int
    stage_since: datetime
    stage_warn_at: datetime | None
    stage_due_at: datetime | None
    stage_warned_at: datetime | None
    stage_breached_at: datetime | None
    returned_reason: str | None
    first_response_at: datetime | None
    first_response_warn_at: datetime | None
    first_response_due_at: datetime | None
    first_response_warned_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_warn_at: datetime | None
    resolution_due_at: datetime | None
    resolution_warned_at: datetime | None
    resolution_breached_at: datetime | None
    paused_at: datetime | None
    first_response_left: float | None
    resolution_left: float | None
    resolved_at: datetime | None
    closed_at: datetime | None
    # A pending offer (stages that offer their appeals) and who passed on it at this stage.
    offered_to: int | None
    offer_expires_at: datetime | None
    offer_passed: list[int] | None

    @property
    def state(self) -> AppealState:
        return AppealState(Status(self.status), self.stage, self.owner_id)

    def late(self, now: datetime) -> bool:
        """A deadline in force has passed (the stage's, or an SLA target not yet met)."""
        return any(d is not None and d <= now for d in self._deadlines())

    def nearly_late(self, now: datetime) -> bool:
        return any(w is not None and w <= now for w in self._warnings())

    def _deadlines(self) -> list[datetime | None]:
        if self.status not in OPEN_STATUSES:
            return []
        out: list[datetime | None] = [] if self.status in PAUSED_STATUSES else [self.stage_due_at]
        if self.paused_at is None:
            out.append(self.resolution_due_at)
            if self.first_response_at is None:
                out.append(self.first_response_due_at)
        return out

    def _warnings(self) -> list[datetime | None]:
        if self.status not in OPEN_STATUSES:
            return []
        out: list[datetime | None] = [] if self.status in PAUSED_STATUSES else [self.stage_warn_at]
        if self.paused_at is None:
            out.append(self.resolution_warn_at)
            if self.first_response_at is None:
                out.append(self.first_response_warn_at)
        return out


_COLUMNS = [f.name for f in fields(Appeal)]


def appeal_of_row(row: Any) -> Appeal:
    mapping = row._mapping
    return Appeal(**{name: mapping[name] for name in _COLUMNS})


async def _at_version(
    conn: AsyncConnection, appeal_id: int, expected_version: int | None
) -> Appeal:
    """The appeal as it is in this transaction, if it is still at ``expected_version`` (None:
    any); :class:`AppealChanged` otherwise."""
    row = (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).first()
    if row is None:
        raise AppealChanged(None)
    current = appeal_of_row(row)
    if expected_version is not None and current.version != expected_version:
        raise AppealChanged(current.version)
    return current


async def _of_appeal(conn: AsyncConnection, table: Any, appeal_id: int) -> list[Any]:
    """The rows of one of an appeal's own tables (history, pauses, alerts), oldest first."""
    query = select(table).where(table.c.appeal_id == appeal_id).order_by(table.c.id)
    return list((await conn.execute(query)).all())


async def load_appeal(conn: AsyncConnection, appeal_id: int) -> Appeal:
    return appeal_of_row(
        (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).one()
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What the store needs to know of an appeal's topic to register and move it: its route,
    calendar, SLA targets per priority and warning share (from appeals.topics)."""

    topic: str
    category: str
    route: tuple[RouteStage, ...]
    calendar: Calendar | None
    sla: Callable[[Priority], tuple[float | None, float | None]]
    warn_share: float = WARN_SHARE


def _clock(
    plan: Plan, start: datetime, seconds: float | None
) -> tuple[datetime | None, datetime | None]:
    """(warning instant, deadline) for ``seconds`` of business time from ``start``."""
    if seconds is None:
        return None, None
    return (
        warn_instant(plan.calendar, start, seconds, plan.warn_share),
        add_business_seconds(plan.calendar, start, seconds),
    )


def _stage_clock(plan: Plan, stage: int, now: datetime) -> dict[str, Any]:
    warn, due = _clock(plan, now, plan.route[stage].max_seconds)
    return {
        "stage": stage,
        "queue": plan.route[stage].queue,
        "stage_since": now,
        "stage_warn_at": warn,
        "stage_due_at": due,
        "stage_warned_at": None,
        "stage_breached_at": None,
    }


def _left(plan: Plan, now: datetime, due: datetime | None) -> float | None:
    if due is None:
        return None
    return max(0.0, business_seconds_between(plan.calendar, now, due)) if due > now else 0.0


def _resumed(
    plan: Plan, now: datetime, left: float | None, target: float | None
) -> tuple[datetime | None, datetime | None]:
    """The warning and deadline of an SLA clock restarted at ``now`` with ``left`` business
    seconds to go (the warning keeps its share of the whole target)."""
    if left is None:
        return None, None
    due = add_business_seconds(plan.calendar, now, left)
    before_due = (1 - plan.warn_share) * (target if target is not None else left)
    warn = add_business_seconds(plan.calendar, now, max(0.0, left - before_due))
    return warn, due


def _offer_effects(
    current: Appeal, after: AppealState, action: Action, values: dict[str, Any]
) -> int | None:
    """The offer's part of a change (into ``values``): an appeal leaving its stage's list
    loses its pending offer, a new stage forgets who passed on it, and who released it is
    not offered it back at this stage. The operator whose offer ended without their taking
    it, or None."""
    if after.stage != current.stage:
        values["offer_passed"] = None
    elif action == Action.RELEASE and current.owner_id is not None:
        passed = list(current.offer_passed or [])
        if current.owner_id not in passed:
            passed.append(current.owner_id)
        values["offer_passed"] = passed
    offered = current.offered_to
    if offered is None or (after.status == Status.AWAITING and after.stage == current.stage):
        return None
    values.update(offered_to=None, offer_expires_at=None)
    return None if after.owner_id == offered and after.status == Status.IN_PROGRESS else offered


async def write_history(
    conn: AsyncConnection,
    appeal: Appeal,
    action: Action | str,
    actor: Actor,
    now: datetime,
    *,
    from_status: str | None,
    reason: str | None,
    detail: dict[str, Any],
    from_owner_id: int | None = None,
    event: dict[str, Any] | None = None,
) -> int:
    """The history row of a change and its ``appeal.changed`` event (same transaction);
    ``from_owner_id`` is who owned it before (their console drops it from their list);
    ``event`` adds keys to the event's payload."""
    history_id = (
        await conn.execute(
            appeal_history.insert()
            .values(
                appeal_id=appeal.id,
                created_at=now,
                actor_id=actor.user_id,
                actor=actor.name,
                action=str(action),
                from_status=from_status,
                to_status=appeal.status,
                stage=appeal.stage,
                queue=appeal.queue,
                reason=reason,
                channel=actor.channel,
                detail=detail,
            )
            .returning(appeal_history.c.id)
        )
    ).scalar_one()
    await emit(
        conn,
        Event.APPEAL_CHANGED,
        {
            "appeal_id": appeal.id,
            "reference": appeal.reference,
            "action": str(action),
            "status": appeal.status,
            "from_status": from_status,
            "stage": appeal.stage,
            "queue": appeal.queue,
            "owner_id": appeal.owner_id,
            "from_owner_id": from_owner_id,
            "customer_id": appeal.customer_id,
            "history_id": int(history_id),
            "actor": actor.name,
            "channel": actor.channel,
            **(event or {}),
        },
    )
    return int(history_id)


@dataclass(frozen=True, slots=True)
class _Registration:
    """What :meth:`AppealStore.create` registers."""

    plan: Plan
    customer_id: int
    priority: Priority
    fields: dict[str, Any]
    summary: str
    language: str
    channel: str | None
    conversation_id: int | None
    idempotency_key: str | None
    actor: Actor
    now: datetime


class AppealStore:
    def __init__(self, db: Database, reference: Callable[[], str] = new_reference) -> None:
        self.db = db
        self.new_reference = reference

    # -- reading ---------------------------------------------------------------------------

    async def get(self, appeal_id: int) -> Appeal | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).first()
        return appeal_of_row(row) if row else None

    async def by_reference(self, reference: str) -> Appeal | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(appeals).where(appeals.c.reference == reference))
            ).first()
        return appeal_of_row(row) if row else None

    async def of_customer(self, customer_id: int, limit: int = 100) -> list[Appeal]:
        return await self.search(customer_id=customer_id, limit=limit)

    async def for_conversation(self, conversation_id: int) -> list[Appeal]:
        """Appeals the conversation is linked to, newest first."""
        query = (
            select(appeals)
            .join(appeal_conversations, appeal_conversations.c.appeal_id == appeals.c.id)
            .where(appeal_conversations.c.conversation_id == conversation_id)
            .order_by(appeals.c.id.desc())
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [appeal_of_row(r) for r in rows]

    async def search(
        self,
        *,
        customer_id: int | None = None,
        queues: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        owner_id: int | None = None,
        visible_to: int | None = None,
        limit: int = 200,
    ) -> list[Appeal]:
        """Appeals matching every filter given, newest first. ``visible_to`` (an operator)
        keeps those they own, those in ``queues``, and those linked to a conversation of
        theirs; ``queues`` alone keeps appeals in those queues."""
        query = select(appeals)
        if customer_id is not None:
            query = query.where(appeals.c.customer_id == customer_id)
        if statuses:
            query = query.where(appeals.c.status.in_(list(statuses)))
        if owner_id is not None:
            query = query.where(appeals.c.owner_id == owner_id)
        if visible_to is not None:
            query = query.where(or_(*self._visible(visible_to, queues)))
        elif queues is not None:
            query = query.where(appeals.c.queue.in_(list(queues)))
        query = query.order_by(appeals.c.id.desc()).limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [appeal_of_row(r) for r in rows]

    @staticmethod
    def _visible(operator_id: int, queues: Sequence[str] | None) -> list[Any]:
        served = exists().where(
            appeal_conversations.c.appeal_id == appeals.c.id,
            appeal_conversations.c.conversation_id == conversations.c.id,
            conversations.c.operator_id == operator_id,
        )
        worked = exists().where(
            appeal_history.c.appeal_id == appeals.c.id, appeal_history.c.actor_id == operator_id
        )
        out = [appeals.c.owner_id == operator_id, served, worked]
        if queues:
            out.append(appeals.c.queue.in_(list(queues)))
            # A customer to call back in a queue of theirs (appeals/notice_store.py).
            out.append(
                exists().where(
                    appeal_alerts.c.appeal_id == appeals.c.id,
                    appeal_alerts.c.kind == CALLBACK_KIND,
                    appeal_alerts.c.action == CALLBACK_STANDS,
                    appeal_alerts.c.queue.in_(list(queues)),
                )
            )
        return out

    async def visible(self, appeal: Appeal, operator_id: int, queues: Sequence[str]) -> bool:
        """Whether an operator may see ``appeal`` (the same test as ``search(visible_to=)``)."""
        query = select(appeals.c.id).where(
            appeals.c.id == appeal.id, or_(*self._visible(operator_id, queues))
        )
        async with self.db.read() as conn:
            return (await conn.execute(query)).first() is not None

    async def detail(self, appeal_id: int) -> dict[str, list[dict[str, Any]]]:
        """History, notes, conversations, pauses, notices and alerts, oldest first."""
        async with self.db.read() as conn:
            history = await _of_appeal(conn, appeal_history, appeal_id)
            notes = (
                await conn.execute(
                    select(appeal_notes, users.c.display_name.label("author"))
                    .outerjoin(users, users.c.id == appeal_notes.c.author_id)
                    .where(appeal_notes.c.appeal_id == appeal_id)
                    .order_by(appeal_notes.c.id)
                )
            ).all()
            linked = (
                await conn.execute(
                    select(
                        conversations.c.id,
                        conversations.c.channel,
                        conversations.c.status,
                        conversations.c.created_at,
                        appeal_conversations.c.linked_at,
                    )
                    .join(
                        appeal_conversations,
                        appeal_conversations.c.conversation_id == conversations.c.id,
                    )
                    .where(appeal_conversations.c.appeal_id == appeal_id)
                    .order_by(conversations.c.id)
                )
            ).all()
            pauses = await _of_appeal(conn, appeal_pauses, appeal_id)
            notices = (
                await conn.execute(
                    select(
                        appeal_notices,
                        messages.c.status.label("delivery"),
                        messages.c.error.label("delivery_error"),
                    )
                    .outerjoin(messages, messages.c.id == appeal_notices.c.message_id)
                    .where(appeal_notices.c.appeal_id == appeal_id)
                    .order_by(appeal_notices.c.id)
                )
            ).all()
            files = (
                await conn.execute(
                    select(
                        appeal_attachments,
                        attachment_files.c.content_type,
                        attachment_files.c.size,
                    )
                    .join(attachment_files, attachment_files.c.id == appeal_attachments.c.file_id)
                    .where(appeal_attachments.c.appeal_id == appeal_id)
                    .order_by(appeal_attachments.c.id)
                )
            ).all()
            alerts = await _of_appeal(conn, appeal_alerts, appeal_id)
        return {
            "history": [
                {
                    "id": r.id,
                    "created_at": r.created_at.isoformat(),
                    "actor_id": r.actor_id,
                    "actor": r.actor,
                    "action": r.action,
                    "from_status": r.from_status,
                    "to_status": r.to_status,
                    "stage": r.stage,
                    "queue": r.queue,
                    "reason": r.reason,
                    "channel": r.channel,
                    "detail": r.detail or {},
                }
                for r in history
            ],
            "notes": [
                {
                    "id": r.id,
                    "author_id": r.author_id,
                    "author": r.author,
                    "text": r.text,
                    "created_at": r.created_at.isoformat(),
                }
                for r in notes
            ],
            "conversations": [
                {
                    "id": r.id,
                    "channel": r.channel,
                    "status": r.status,
                    "created_at": r.created_at.isoformat(),
                    "linked_at": r.linked_at.isoformat(),
                }
                for r in linked
            ],
            "pauses": [
                {
                    "kind": r.kind,
                    "reason": r.reason,
                    "started_at": r.started_at.isoformat(),
                    "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                    "ended_by": r.ended_by,
                }
                for r in pauses
            ],
            "notices": [
                {
                    "id": r.id,
                    "event": r.event,
                    "channel": r.channel,
                    "state": r.state,
                    # The message's own status (queued, sent, delivered, failed, undelivered).
                    "delivery": r.delivery,
                    "attempt": r.attempt,
                    "chain": r.chain,
                    "message_id": r.message_id,
                    "error": r.error or r.delivery_error,
                    "created_at": r.created_at.isoformat(),
                    "updated_at": r.updated_at.isoformat(),
                }
                for r in notices
            ],
            "attachments": [
                {
                    "id": r.id,
                    "filename": r.filename,
                    "content_type": r.content_type,
                    "size": r.size,
                    "message_id": r.message_id,
                    "added_by": r.added_by,
                    "created_at": r.created_at.isoformat(),
                    "url": f"/api/appeals/{appeal_id}/attachments/{r.id}",
                }
                for r in files
            ],
            "alerts": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "stage": r.stage,
                    "queue": r.queue,
                    "due_at": r.due_at.isoformat(),
                    "action": r.action,
                    "created_at": r.created_at.isoformat(),
                    "notified_at": r.notified_at.isoformat() if r.notified_at else None,
                }
                for r in alerts
            ],
        }

    # -- registering ----------------------------------------------------------------------

    async def create(
        self,
        *,
        plan: Plan,
        customer_id: int,
        priority: Priority,
        fields: dict[str, Any],
        summary: str,
        language: str,
        channel: str | None,
        conversation_id: int | None,
        idempotency_key: str | None,
        actor: Actor,
        now: datetime,
    ) -> tuple[Appeal, bool]:
        """Register an appeal in its route's first stage; ``(appeal, created)``. The same
        idempotency key, or a second appeal opened from the same conversation, gives back the
        appeal registered first (``created`` False) and changes nothing."""
        for _ in range(5):
            existing = await self._existing(idempotency_key, conversation_id)
            if existing is not None:
                return existing, False
            try:
                return await self._insert(
                    _Registration(
                        plan, customer_id, priority, fields, summary, language, channel,
                        conversation_id, idempotency_key, actor, now,
                    )
                ), True  # fmt: skip
            except IntegrityError:
                # Another request with the same key or conversation (or, once in a blue moon,
                # the same random number) won the race: look again.
                continue
        raise Conflict("the appeal could not be registered; try again")

    async def _existing(self, key: str | None, conversation_id: int | None) -> Appeal | None:
        conditions = []
        if key is not None:
            conditions.append(appeals.c.idempotency_key == key)
        if conversation_id is not None:
            conditions.append(appeals.c.conversation_id == conversation_id)
        if not conditions:
            return None
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(appeals).where(or_(*conditions)).order_by(appeals.c.id).limit(1)
                )
            ).first()
        return appeal_of_row(row) if row else None

    async def _insert(self, new: _Registration) -> Appeal:
        plan, priority, now, actor = new.plan, new.priority, new.now, new.actor
        conversation_id = new.conversation_id
        first_target, resolution_target = plan.sla(priority)
        fr_warn, fr_due = _clock(plan, now, first_target)
        res_warn, res_due = _clock(plan, now, resolution_target)
        state = transition(AppealState(Status.NEW, 0, None), Action.REGISTER, plan.route)
        async with self.db.write() as conn:
            answered_at = (
                await self._first_human_answer(conn, conversation_id, since=None)
                if conversation_id is not None
                else None
            )
            values: dict[str, Any] = {
                "reference": self.new_reference(),
                "customer_id": new.customer_id,
                "topic": plan.topic,
                "category": plan.category,
                "priority": priority.value,
                "status": state.status.value,
                "owner_id": None,
                "fields": new.fields,
                "summary": new.summary,
                "language": new.language,
                "channel": new.channel,
                "conversation_id": conversation_id,
                "idempotency_key": new.idempotency_key,
                "created_by": actor.user_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "returned_reason": None,
                "first_response_at": answered_at,
                "first_response_warn_at": fr_warn,
                "first_response_due_at": fr_due,
                "resolution_warn_at": res_warn,
                "resolution_due_at": res_due,
                **_stage_clock(plan, state.stage, now),
            }
            appeal_id = (
                await conn.execute(appeals.insert().values(**values).returning(appeals.c.id))
            ).scalar_one()
            if conversation_id is not None:
                await conn.execute(
                    appeal_conversations.insert().values(
                        appeal_id=appeal_id,
                        conversation_id=conversation_id,
                        linked_by=actor.user_id,
                        linked_at=now,
                    )
                )
            appeal = appeal_of_row(
                (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).one()
            )
            await write_history(
                conn,
                appeal,
                Action.REGISTER,
                actor,
                now,
                from_status=None,
                reason=None,
                detail={"topic": plan.topic, "priority": priority.value, "fields": new.fields},
            )
        return appeal

    @staticmethod
    async def _first_human_answer(
        conn: AsyncConnection, conversation_id: int, since: datetime | None
    ) -> datetime | None:
        """When an operator first wrote to the customer in the conversation (automatic and
        menu messages have no author and do not count)."""
        query = select(func.min(messages.c.created_at)).where(
            messages.c.conversation_id == conversation_id,
            messages.c.direction == "out",
            messages.c.author_user_id.is_not(None),
        )
        if since is not None:
            query = query.where(messages.c.created_at >= since)
        value = (await conn.execute(query)).scalar()
        return value if isinstance(value, datetime) else None

    # -- changing -------------------------------------------------------------------------

    async def apply(
        self,
        appeal_id: int,
        expected_version: int | None,
        action: Action,
        *,
        plan: Plan,
        actor: Actor,
        now: datetime,
        owner_id: int | None = None,
        reason: str | None = None,
    ) -> Appeal:
        """Make one change of the lifecycle (appeals.model), against ``expected_version``
        (None: whatever version is current, for the gateway's own changes). Raises the model's
        refusals, or :class:`AppealChanged` if the version moved.

        A pending offer ends with a change that takes the appeal out of its stage's list (a
        take, by whoever, an escalation, a cancel): the offer is part of the compare-and-set
        (an offer does not move the version), and the event names the operator it was
        offered to (``offer_revoked_to``) unless they took it themselves."""
        for _ in range(_OFFER_RETRIES):
            try:
                return await self._apply(
                    appeal_id, expected_version, action, plan, actor, now, owner_id, reason
                )
            except _OfferMoved:
                continue  # an offer was made or ended meanwhile: read the appeal again
        raise AppealChanged(None)

    async def _apply(
        self,
        appeal_id: int,
        expected_version: int | None,
        action: Action,
        plan: Plan,
        actor: Actor,
        now: datetime,
        owner_id: int | None,
        reason: str | None,
    ) -> Appeal:
        async with self.db.write() as conn:
            current = await _at_version(conn, appeal_id, expected_version)
            after = transition(current.state, action, plan.route, owner_id=owner_id, reason=reason)
            clean = reason.strip() if reason else None
            values = self._effects(current, after, action, plan, now, clean, actor)
            values.update(
                status=after.status.value,
                owner_id=after.owner_id,
                updated_at=now,
                version=current.version + 1,
            )
            revoked_to = _offer_effects(current, after, action, values)
            same_offer = (
                appeals.c.offered_to.is_(None)
                if current.offered_to is None
                else appeals.c.offered_to == current.offered_to
            )
            changed = await conn.execute(
                update(appeals)
                .where(appeals.c.id == appeal_id, appeals.c.version == current.version, same_offer)
                .values(**values)
            )
            if changed.rowcount != 1:
                version = (
                    await conn.execute(select(appeals.c.version).where(appeals.c.id == appeal_id))
                ).scalar()
                raise _OfferMoved if version == current.version else AppealChanged(None)
            await self._pauses(conn, current, after, action, clean, actor, now)
            appeal = appeal_of_row(
                (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).one()
            )
            await write_history(
                conn,
                appeal,
                action,
                actor,
                now,
                from_status=current.status,
                reason=clean,
                detail={"from_stage": current.stage, "owner_id": after.owner_id}
                | ({"from_owner_id": current.owner_id} if action == Action.REASSIGN else {})
                | ({"offer_revoked_to": revoked_to} if revoked_to is not None else {}),
                from_owner_id=current.owner_id,
                event={"offer_revoked_to": revoked_to} if revoked_to is not None else None,
            )
        return appeal

    def _effects(
        self,
        current: Appeal,
        after: AppealState,
        action: Action,
        plan: Plan,
        now: datetime,
        reason: str | None,
        actor: Actor,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if after.stage != current.stage or action == Action.REOPEN:
            values.update(_stage_clock(plan, after.stage, now))
            values["returned_reason"] = reason if action == Action.SEND_BACK else None
        if after.status in PAUSED_STATUSES and current.status not in PAUSED_STATUSES:
            values.update(
                paused_at=now,
                first_response_left=(
                    _left(plan, now, current.first_response_due_at)
                    if current.first_response_at is None
                    else None
                ),
                resolution_left=_left(plan, now, current.resolution_due_at),
            )
        if current.status in PAUSED_STATUSES and after.status not in PAUSED_STATUSES:
            first_target, resolution_target = plan.sla(Priority(current.priority))
            values.update(paused_at=None, first_response_left=None, resolution_left=None)
            if current.first_response_at is None and current.first_response_left is not None:
                warn, due = _resumed(plan, now, current.first_response_left, first_target)
                values.update(first_response_warn_at=warn, first_response_due_at=due)
            if current.resolution_left is not None:
                warn, due = _resumed(plan, now, current.resolution_left, resolution_target)
                values.update(resolution_warn_at=warn, resolution_due_at=due)
            # The stage's own clock does not count the pause either.
            if current.stage_due_at is not None and current.paused_at is not None:
                stage_left = _left(plan, current.paused_at, current.stage_due_at)
                stage = plan.route[min(current.stage, len(plan.route) - 1)]
                warn, due = _resumed(plan, now, stage_left, stage.max_seconds)
                values.update(stage_warn_at=warn, stage_due_at=due)
        if after.status == Status.RESOLVED:
            values["resolved_at"] = now
        if action == Action.REOPEN:
            values.update(resolved_at=None, closed_at=None)
        if after.status in (Status.CLOSED, Status.CANCELLED):
            values["closed_at"] = now
        return values

    @staticmethod
    async def _pauses(
        conn: AsyncConnection,
        current: Appeal,
        after: AppealState,
        action: Action,
        reason: str | None,
        actor: Actor,
        now: datetime,
    ) -> None:
        if current.status in PAUSED_STATUSES and after.status != current.status:
            await conn.execute(
                update(appeal_pauses)
                .where(appeal_pauses.c.appeal_id == current.id, appeal_pauses.c.ended_at.is_(None))
                .values(ended_at=now, ended_by=actor.name)
            )
        if after.status in PAUSED_STATUSES and after.status != current.status:
            kind = "customer" if after.status == Status.PENDING_CUSTOMER else "third_party"
            await conn.execute(
                appeal_pauses.insert().values(
                    appeal_id=current.id,
                    kind=kind,
                    reason=reason or action.value,
                    started_at=now,
                )
            )

    async def record(
        self,
        conn: AsyncConnection,
        appeal: Appeal,
        action: str,
        actor: Actor,
        now: datetime,
        *,
        reason: str | None = None,
        detail: dict[str, Any],
        event: dict[str, Any] | None = None,
    ) -> int:
        """A history row (with its ``appeal.changed`` event) for something that happened to the
        appeal without changing it: a notice to the customer, a call-back task. ``event`` adds
        keys to the event's payload."""
        return await write_history(
            conn,
            appeal,
            action,
            actor,
            now,
            from_status=appeal.status,
            reason=reason,
            detail=detail,
            event=event,
        )

    async def update_details(
        self,
        appeal_id: int,
        expected_version: int,
        *,
        plan: Plan,
        actor: Actor,
        now: datetime,
        fields: dict[str, Any] | None = None,
        priority: Priority | None = None,
        summary: str | None = None,
    ) -> Appeal:
        """Change the topic's fields, the priority (its SLA targets move by the difference)
        or the summary, against ``expected_version``, with a history row."""
        async with self.db.write() as conn:
            current = await _at_version(conn, appeal_id, expected_version)
            values: dict[str, Any] = {}
            detail: dict[str, Any] = {}
            if fields is not None and fields != current.fields:
                values["fields"] = fields
                detail["fields"] = {
                    k: v for k, v in fields.items() if current.fields.get(k) != v
                } | {k: None for k in current.fields if k not in fields}
            if summary is not None and summary != current.summary:
                values["summary"] = summary
                detail["summary"] = summary
            if priority is not None and priority.value != current.priority:
                values["priority"] = priority.value
                values.update(
                    self._reprioritized(current, Priority(current.priority), priority, plan, now)
                )
                detail["priority"] = {"from": current.priority, "to": priority.value}
            if not values:
                return current
            values.update(updated_at=now, version=current.version + 1)
            changed = await conn.execute(
                update(appeals)
                .where(appeals.c.id == appeal_id, appeals.c.version == current.version)
                .values(**values)
            )
            if changed.rowcount != 1:
                raise AppealChanged(None)
            appeal = appeal_of_row(
                (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).one()
            )
            await write_history(
                conn, appeal, "update", actor, now, from_status=current.status, reason=None,
                detail=detail,
            )  # fmt: skip
        return appeal

    @staticmethod
    def _reprioritized(
        current: Appeal, old: Priority, new: Priority, plan: Plan, now: datetime
    ) -> dict[str, Any]:
        """Move each SLA deadline not yet met by the difference between the two targets."""
        values: dict[str, Any] = {}
        old_targets, new_targets = plan.sla(old), plan.sla(new)
        names = (("first_response", 0), ("resolution", 1))
        for name, index in names:
            if name == "first_response" and current.first_response_at is not None:
                continue
            old_target, new_target = old_targets[index], new_targets[index]
            if new_target is None:
                values.update({f"{name}_warn_at": None, f"{name}_due_at": None})
                values[f"{name}_left"] = None
                continue
            if current.paused_at is not None:
                stored_left = getattr(current, f"{name}_left")
                left = (stored_left if stored_left is not None else new_target) + (
                    new_target - (old_target or 0) if old_target is not None else 0
                )
                values[f"{name}_left"] = max(0.0, left)
                continue
            due = getattr(current, f"{name}_due_at")
            if due is None or old_target is None:
                start_left = new_target
            else:
                start_left = (_left(plan, now, due) or 0.0) + (new_target - old_target)
            warn, new_due = _resumed(plan, now, max(0.0, start_left), new_target)
            values.update(
                {
                    f"{name}_warn_at": warn,
                    f"{name}_due_at": new_due,
                    f"{name}_warned_at": None,
                    f"{name}_breached_at": None,
                }
            )
        return values

    # -- notes, conversations, first response ------------------------------------------------

    async def add_note(self, appeal_id: int, author: Actor, text: str, now: datetime) -> int:
        async with self.db.write() as conn:
            note_id = (
                await conn.execute(
                    appeal_notes.insert()
                    .values(
                        appeal_id=appeal_id, author_id=author.user_id, text=text, created_at=now
                    )
                    .returning(appeal_notes.c.id)
                )
            ).scalar_one()
        return int(note_id)

    async def link_conversation(
        self, appeal_id: int, conversation_id: int, actor: Actor, now: datetime
    ) -> bool:
        """Gather a conversation into the appeal (False if it already was), with history."""
        async with self.db.write() as conn:
            already = (
                await conn.execute(
                    select(appeal_conversations.c.appeal_id).where(
                        appeal_conversations.c.appeal_id == appeal_id,
                        appeal_conversations.c.conversation_id == conversation_id,
                    )
                )
            ).first()
            if already is not None:
                return False
            await conn.execute(
                appeal_conversations.insert().values(
                    appeal_id=appeal_id,
                    conversation_id=conversation_id,
                    linked_by=actor.user_id,
                    linked_at=now,
                )
            )
            row = (await conn.execute(select(appeals).where(appeals.c.id == appeal_id))).one()
            appeal = appeal_of_row(row)
            await write_history(
                conn, appeal, "link", actor, now, from_status=appeal.status, reason=None,
                detail={"conversation_id": conversation_id},
            )  # fmt: skip
        return True

    async def mark_first_response(
        self, conversation_id: int, at: datetime, actor: Actor | None = None
    ) -> list[int]:
        """An operator answered the customer in ``conversation_id``: the appeals linked to it
        that waited for their first human answer have it now (their ids), each with a history
        row and its event (the pages show the first response met)."""
        linked = select(appeal_conversations.c.appeal_id).where(
            appeal_conversations.c.conversation_id == conversation_id
        )
        async with self.db.write() as conn:
            ids = [
                int(r.id)
                for r in (
                    await conn.execute(
                        select(appeals.c.id).where(
                            appeals.c.id.in_(linked),
                            appeals.c.first_response_at.is_(None),
                            appeals.c.created_at <= at,
                        )
                    )
                ).all()
            ]
            for appeal_id in ids:
                marked = await conn.execute(
                    update(appeals)
                    .where(appeals.c.id == appeal_id, appeals.c.first_response_at.is_(None))
                    .values(first_response_at=at)
                )
                if marked.rowcount != 1:
                    continue
                appeal = await load_appeal(conn, appeal_id)
                late = (
                    appeal.first_response_due_at is not None and at > appeal.first_response_due_at
                )
                await write_history(
                    conn, appeal, "first_response", actor or Actor.system(), at,
                    from_status=appeal.status, reason=None,
                    detail={"conversation_id": conversation_id, "late": late},
                )  # fmt: skip
        return ids

    async def due_for_ticker(self, now: datetime, limit: int = 200) -> list[Appeal]:
        """Open appeals with a warning or deadline that has passed and not been handled."""
        c = appeals.c

        def passed(at: Any, done: Any) -> Any:
            return and_(at <= now, done.is_(None))

        stage_running = c.status.in_([Status.AWAITING.value, Status.IN_PROGRESS.value])
        running = c.paused_at.is_(None)
        conditions = [
            and_(stage_running, passed(c.stage_warn_at, c.stage_warned_at)),
            and_(stage_running, passed(c.stage_due_at, c.stage_breached_at)),
            and_(
                running,
                c.first_response_at.is_(None),
                or_(
                    passed(c.first_response_warn_at, c.first_response_warned_at),
                    passed(c.first_response_due_at, c.first_response_breached_at),
                ),
            ),
            and_(
                running,
                or_(
                    passed(c.resolution_warn_at, c.resolution_warned_at),
                    passed(c.resolution_due_at, c.resolution_breached_at),
                ),
            ),
        ]
        query = (
            select(appeals)
            .where(appeals.c.status.in_([s.value for s in OPEN_STATUSES]), or_(*conditions))
            .order_by(appeals.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [appeal_of_row(r) for r in rows]


APPEAL_STORE = web.AppKey("appeal_store", AppealStore)
