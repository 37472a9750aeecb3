"""Live updates of appeals on the consoles: whenever an appeal changes, the people who work on
it see it at once, on whichever instance their browser is connected to.

Who hears of a change: the owner, the owner before (it left their list), every operator who
works in the appeal's queue (by the routing configuration in force, as routes.queues_of
reads it) or, for a call-back task that came or was done, in its queue, and every supervisor
and admin. Only users connected somewhere (presence not
offline) are published to; a push to a key nobody binds is dropped by the broker anyway.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import select

from appeals.live import TOPICS
from appeals.service import on_event
from appeals.store import APPEAL_STORE
from appeals.views import appeal_json, plan_of
from gateway.broker import BrokerUnavailable
from gateway.events import Event
from gateway.keys import BROKER, DATABASE, USERS
from gateway.model import OperatorState, Role, utcnow
from gateway.storage.schema import operator_presence
from gateway.storage.users import User
from routing.config import RoutingConfig, queue_admits
from routing.live import LIVE_ROUTING

log = structlog.get_logger()

PUSHED_FIELDS = ("appeal_id", "reference", "status", "stage", "queue", "owner_id", "action")


def works_in(config: RoutingConfig, user: User, queue: str) -> bool:
    """Whether ``user`` is in the pool of ``queue`` (skills and languages of their profile;
    a user without a profile has none)."""
    target = config.queues.get(queue)
    if target is None:
        return False
    profile = config.operators.get(user.username)
    skills = profile.skills if profile else {}
    languages = profile.languages if profile else ()
    return queue_admits(target, skills, languages)


def supervisors(users: Iterable[User]) -> set[int]:
    return {u.id for u in users if u.role.at_least(Role.SUPERVISOR)}


async def connected(app: web.Application, user_ids: Collection[int]) -> list[int]:
    """Those of ``user_ids`` with a console open on some instance, in id order."""
    if not user_ids:
        return []
    async with app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(operator_presence.c.user_id).where(
                    operator_presence.c.user_id.in_(list(user_ids)),
                    operator_presence.c.state != OperatorState.OFFLINE.value,
                )
            )
        ).all()
    return sorted(int(r.user_id) for r in rows)


async def publish(app: web.Application, user_ids: Iterable[int], frame: dict[str, Any]) -> int:
    """Publish ``frame`` to each user's consoles; how many were published to."""
    count = 0
    for user_id in user_ids:
        try:
            await app[BROKER].publish_to_operator(user_id, frame)
            count += 1
        except BrokerUnavailable as exc:
            log.warning("appeals.push.lost", user_id=user_id, error=str(exc))
    return count


async def recipients(app: web.Application, users: list[User], payload: dict[str, Any]) -> list[int]:
    config = await app[LIVE_ROUTING].current()
    # The appeal's queue, and the call-back queue when a call-back task came or went.
    queues = {str(payload.get(key)) for key in ("queue", "callback_queue") if payload.get(key)}
    wanted = supervisors(users) | {
        u.id for u in users if any(works_in(config, u, q) for q in queues)
    }
    for key in ("owner_id", "from_owner_id"):
        if isinstance(payload.get(key), int):
            wanted.add(int(payload[key]))
    return await connected(app, wanted)


async def push_change(app: web.Application, _key: str, payload: dict[str, Any]) -> None:
    """``appeal.changed``: push ``{"type": "appeal", appeal_id, reference, status, stage,
    queue, owner_id, action, appeal}`` (``appeal``: the appeal as the API lists it now)."""
    users = await app[USERS].list()
    frame: dict[str, Any] = {"type": "appeal", **{k: payload.get(k) for k in PUSHED_FIELDS}}
    appeal = await app[APPEAL_STORE].get(int(payload["appeal_id"]))
    if appeal is not None:
        config = await app[TOPICS].current()
        topic = config.topic(appeal.topic)
        plan = plan_of(config, topic, appeal.topic) if topic is not None else None
        names = {u.id: u.display_name for u in users}
        frame["appeal"] = appeal_json(appeal, topic, plan, utcnow(), names)
    sent = await publish(app, await recipients(app, users, payload), frame)
    log.debug("appeals.pushed", appeal_id=payload.get("appeal_id"), users=sent)


def setup(app: web.Application) -> None:
    on_event(app, Event.APPEAL_CHANGED, push_change)
