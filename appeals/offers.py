"""The gateway offers appeals like contacts, on the stages that say ``dispatch: offer``.

A tick of the appeals ticker (appeals/service.py), on every instance, given ``now``:

1. Offers not answered by their ``offer_expires_at`` end: the operator missed it and is not
   offered it again at this stage.
2. Awaiting appeals of offering stages, most urgent first (late, nearly late, the nearest
   deadline; then the higher priority), are each offered to one operator
   (appeals/dispatch.py: available and heard of lately, in the stage's queue, with room for
   an appeal, no other appeal offer waiting, and not among those who passed on it). The
   offer lasts ``routing.offer_timeout_seconds``; the operator's consoles get
   ``{"type": "appeal_offer", "appeal": {...}, "expires_at"}``.

The operator answers with ``take`` (POST /api/appeals/{id}/actions) or declines
(POST /api/appeals/{id}/decline). Whenever an offer ends without their taking it (missed,
taken by someone else, escalated, cancelled), the ``appeal.changed`` event names them
(``offer_revoked_to``) and their consoles get
``{"type": "appeal_offer_revoked", "appeal_id", "reference", "reason"}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from appeals.dispatch import Worker, choose, offered
from appeals.live import TOPICS
from appeals.model import Dispatch
from appeals.offer_store import OfferResult, OfferStore
from appeals.pushes import publish
from appeals.routes import names_of
from appeals.service import on_event, on_tick
from appeals.store import APPEAL_STORE, Appeal
from appeals.topics import TopicsConfig
from appeals.views import PRIORITIES, appeal_json, plan_of, urgency
from gateway.events import Event
from gateway.keys import CHANNELS, RELAY, SETTINGS
from routing.config import RoutingConfig
from routing.live import LIVE_ROUTING

log = structlog.get_logger()

# Why an offer ended, as the revoke push says it, by the action that ended it.
_REVOKE_REASONS = {"offer_missed": "missed", "take": "taken"}


def offering_stages(config: TopicsConfig) -> dict[str, frozenset[int]]:
    """Topic -> the indexes of its stages that offer their appeals."""
    out = {}
    for name, topic in config.topics.items():
        stages = frozenset(i for i, s in enumerate(topic.route) if s.dispatch == Dispatch.OFFER)
        if stages:
            out[name] = stages
    return out


def offer_order(appeals: list[Appeal], now: datetime) -> list[Appeal]:
    """Most urgent first: late, nearly late, the nearest deadline; then the higher priority."""
    rank = {p: i for i, p in enumerate(PRIORITIES)}
    return sorted(appeals, key=lambda a: (*urgency(a, now), -rank.get(a.priority, 0), a.id))


async def _offer_frame(
    app: web.Application, config: TopicsConfig, appeal: Appeal, now: datetime
) -> dict[str, Any]:
    topic = config.topic(appeal.topic)
    plan = plan_of(config, topic, appeal.topic) if topic is not None else None
    users, customers = await names_of(app, [appeal])  # who the customer is, on the card
    expires = appeal.offer_expires_at
    return {
        "type": "appeal_offer",
        "appeal": appeal_json(appeal, topic, plan, now, users, customers),
        "expires_at": expires.isoformat() if expires is not None else None,
    }


async def _offer_one(
    app: web.Application,
    offers: OfferStore,
    routing: RoutingConfig,
    pool: dict[int, Worker],
    appeal: Appeal,
    now: datetime,
) -> int | None:
    """Offer ``appeal`` to the best operator of ``pool`` who can still take an offer; whom
    it was offered to, or None."""
    expires = now + timedelta(seconds=app[SETTINGS].routing.offer_timeout_seconds)
    passed = set(appeal.offer_passed or ())
    while True:
        chosen = choose(pool.values(), config=routing, queue=appeal.queue, passed=passed)
        if chosen is None:
            return None
        result = await offers.offer(appeal, chosen, config=routing, expires_at=expires, now=now)
        if result == OfferResult.OFFERED:
            pool[chosen.user_id] = offered(chosen)
            return chosen.user_id
        if result == OfferResult.APPEAL_MOVED:
            return None
        # Another instance gave them an offer meanwhile: someone else, or nobody this time.
        passed.add(chosen.user_id)


async def dispatch_offers(app: web.Application, now: datetime) -> None:
    """End the offers that expired, then offer the awaiting appeals of offering stages (a
    tick)."""
    offers = OfferStore(app[APPEAL_STORE])
    ended = 0
    for appeal in await offers.expired(now):
        if await offers.expire(appeal, now):
            ended += 1
            log.info("appeals.offer.missed", appeal_id=appeal.id, operator_id=appeal.offered_to)
    config = await app[TOPICS].current()
    stages = offering_stages(config)
    waiting = [a for a in await offers.awaiting(list(stages)) if a.stage in stages.get(a.topic, ())]
    made = 0
    if waiting:
        routing = await app[LIVE_ROUTING].current()
        settings = app[SETTINGS].routing
        seen_after = now - timedelta(seconds=settings.operator_stale_seconds)
        workers = await offers.available_workers(routing, app[CHANNELS].media_of, seen_after)
        pool = {w.user_id: w for w in workers}
        for appeal in offer_order(waiting, now) if pool else []:
            operator_id = await _offer_one(app, offers, routing, pool, appeal, now)
            if operator_id is None:
                continue
            made += 1
            log.info("appeals.offer.made", appeal_id=appeal.id, operator_id=operator_id)
            current = await app[APPEAL_STORE].get(appeal.id)
            if current is not None and current.offered_to == operator_id:  # not answered yet
                await publish(app, [operator_id], await _offer_frame(app, config, current, now))
    if ended or made:
        app[RELAY].nudge()


async def push_revoked(app: web.Application, _key: str, payload: dict[str, Any]) -> None:
    """``appeal.changed`` that ended someone's offer: tell their consoles."""
    operator_id = payload.get("offer_revoked_to")
    if not isinstance(operator_id, int):
        return
    action = str(payload.get("action", ""))
    frame = {
        "type": "appeal_offer_revoked",
        "appeal_id": payload.get("appeal_id"),
        "reference": payload.get("reference"),
        "reason": _REVOKE_REASONS.get(action, action),
    }
    await publish(app, [operator_id], frame)
    log.info("appeals.offer.revoked", appeal_id=payload.get("appeal_id"), operator_id=operator_id)


def setup(app: web.Application) -> None:
    on_tick(app, dispatch_offers)
    on_event(app, Event.APPEAL_CHANGED, push_revoked)
