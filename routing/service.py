"""The router service: the single active consumer that turns events into offers.

Every gateway instance runs one; RabbitMQ's single-active-consumer queue lets exactly one of them
receive events while the others stand by, and hands over when it dies. The router keeps no state
of its own between events: it reads the waiting line and the operators from the store, asks the
pure strategy for offers, and makes each with a compare-and-set, so a takeover (or a redelivered
event) can never offer a contact twice. Timers arrive as ``router.tick`` events, which only the
active router receives.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aiohttp import web
from prometheus_client import Counter

from gateway.broker import Broker, BrokerUnavailable
from gateway.events import Event, conversation_id_of, operator_id_of
from gateway.logs import ids_from_headers
from gateway.model import ConversationStatus, utcnow
from gateway.settings import RoutingSettings
from gateway.storage.conversations import ConversationStore
from gateway.storage.routing_rules import OperatorLoad, RuleStore
from gateway.storage.routing_state import OfferView, RoutingState
from routing.config import RoutingConfig
from routing.escalation import FinalStep, classify, due, operator_snapshot
from routing.holdups import someone_could_take
from routing.live import LiveRouting
from routing.strategy import OperatorSnapshot, plan_offers

log = structlog.get_logger()

# An offer still unpublished this long after it was made lost its router on the way.
UNPUSHED_AFTER_SECONDS = 2.0


async def offer_frames(
    conversations: ConversationStore, offers: list[OfferView], rules: RuleStore | None = None
) -> list[tuple[OfferView, dict[str, Any]]]:
    """The ``offer`` frame for each offer (customer, channel, latest customer message, and
    the note or reason of whoever passed it on, when it was)."""
    cards = await conversations.summaries([o.conversation_id for o in offers])
    handed = await rules.latest_handovers([o.conversation_id for o in offers]) if rules else {}
    frames = []
    for offer in offers:
        if offer.conversation_id not in cards:
            continue
        conversation, preview = cards[offer.conversation_id]
        frames.append(
            (
                offer,
                {
                    "type": "offer",
                    "offer": {
                        "id": offer.id,
                        "conversation_id": offer.conversation_id,
                        "customer": conversation.as_json()["customer"],
                        "channel": conversation.channel,
                        "preview": preview[:280],
                        "expires_at": offer.expires_at.isoformat(),
                        **_handover_fields(handed.get(offer.conversation_id)),
                    },
                },
            )
        )
    return frames


def _handover_fields(handover: dict[str, Any] | None) -> dict[str, Any]:
    if handover is None:
        return {}
    # ``note`` is what older consoles show; ``handover`` says who passed it on and how.
    return {"note": handover["text"], "handover": handover}


class Router:
    def __init__(
        self,
        state: RoutingState,
        rules: RuleStore,
        live: LiveRouting,
        conversations: ConversationStore,
        broker: Broker,
        settings: RoutingSettings,
        offers_made: Counter,
    ) -> None:
        self.state = state
        self.rules = rules
        self.live = live
        self.conversations = conversations
        self.broker = broker
        self.settings = settings
        self.offers_made = offers_made
        self._last_tick = 0.0
        self._assignment_wanted = asyncio.Event()
        self.consumer_tag: str | None = None
        self.queue: AbstractQueue | None = None

    async def start(self) -> None:
        assert self.broker.connection is not None
        channel = await self.broker.connection.channel()
        await channel.set_qos(prefetch_count=32)
        self.queue = await channel.get_queue(self.broker.names.router_queue, ensure=True)
        self.consumer_tag = await self.queue.consume(self._on_message)

    async def stop(self) -> None:
        """Leave the single-active-consumer slot at once, so a standby takes over while this
        instance finishes shutting down."""
        if self.queue is not None and self.consumer_tag is not None:
            try:
                await self.queue.cancel(self.consumer_tag)
            except Exception as exc:  # the channel may be gone already
                log.info("router.stop.cancel_failed", error=str(exc))
            self.consumer_tag = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        ids = ids_from_headers(message.headers)
        with structlog.contextvars.bound_contextvars(**ids):
            try:
                payload = json.loads(message.body)
                await self.handle(message.routing_key or "", payload)
            except BrokerUnavailable as exc:
                log.warning("router.event.retry", key=message.routing_key, error=str(exc))
                await _settle(message, requeue=True)
                return
            except Exception:
                log.exception("router.event.failed", key=message.routing_key)
                await _settle(message, requeue=not message.redelivered)
                return
            await _settle(message, requeue=None)

    async def handle(self, key: str, payload: dict[str, Any]) -> None:
        if key == Event.ROUTER_TICK:
            if time.monotonic() - self._last_tick < self.settings.tick_seconds / 2:
                return
            self._last_tick = time.monotonic()
            await self.on_tick()
        elif key == Event.MESSAGE:
            if await self.on_message(payload) != ConversationStatus.WAITING.value:
                return  # forwarded to its operator, or already offered: nobody's line changed
        elif key == Event.TRANSFER:
            await self.on_transfer(payload)
        elif key == Event.ASSIGN:
            await self.on_supervisor_offer(payload)
        elif key == Event.LOGOUT:
            await self.broker.publish_to_operator(
                operator_id_of(payload),
                {"type": "logout", "reason": "signed out by a supervisor"},
            )
            return
        elif key == Event.OPERATOR_STATE and payload.get("state") != "available":
            await self._revoke(await self.state.revoke_for(operator_id_of(payload), "away"))
        self.request_assignment()

    def request_assignment(self) -> None:
        """Ask for an assignment pass. Many events between two passes share one pass."""
        self._assignment_wanted.set()

    async def run_assignments(self) -> None:
        """The one place offers are made, one pass at a time (runs for the life of the app)."""
        while True:
            await self._assignment_wanted.wait()
            self._assignment_wanted.clear()
            try:
                await self.assign()
            except Exception:
                # The store or the broker is away; the next event or tick tries again.
                log.exception("router.assign.failed")
                await asyncio.sleep(0.5)

    async def on_message(self, payload: dict[str, Any]) -> str | None:
        """Forward a message on an assigned conversation to its operator; the status."""
        conversation = await self.conversations.get(conversation_id_of(payload))
        if conversation is None:
            return None
        if conversation.status == ConversationStatus.ASSIGNED.value and conversation.operator_id:
            message = payload.get("message")
            if message is None:  # an event from before messages travelled in their events
                view = await self.conversations.message(int(payload["message_id"]))
                message = view.as_json() if view else None
            if message is not None:
                await self.broker.publish_to_operator(
                    conversation.operator_id,
                    {"type": "message", "conversation_id": conversation.id, "message": message},
                )
        return conversation.status

    async def on_transfer(self, payload: dict[str, Any]) -> None:
        """Tell the previous operator the conversation left them; offer it to the named one."""
        conversation_id = conversation_id_of(payload)
        await self.broker.publish_to_operator(
            int(payload["from_operator"]),
            {"type": "closed", "conversation_id": conversation_id, "reason": "transferred"},
        )
        if payload.get("offer_id") and payload.get("to_operator"):
            pending = [
                o
                for o in await self.state.pending_offers(int(payload["to_operator"]))
                if o.id == int(payload["offer_id"])
            ]
            for offer, frame in await offer_frames(self.conversations, pending, self.rules):
                frame["offer"]["note"] = payload.get("note", "")
                await self.broker.publish_to_operator(offer.operator_id, frame)
                await self.state.mark_pushed([offer.id])

    async def on_supervisor_offer(self, payload: dict[str, Any]) -> None:
        """A supervisor gave a contact to a named operator: take back the offer someone else
        had, and push the new one."""
        for gone in payload.get("revoked", []):
            await self.broker.publish_to_operator(
                int(gone["operator_id"]),
                {"type": "offer_revoked", "offer_id": gone["offer_id"], "reason": "reassigned"},
            )
        pending = [
            o
            for o in await self.state.pending_offers(int(payload["to_operator"]))
            if o.id == int(payload["offer_id"])
        ]
        if pending:
            await self.push(pending)

    async def on_tick(self) -> None:
        await self.escalate()
        # Offers a previous router committed but died before publishing (a takeover).
        lost = await self.state.unpushed(utcnow() - timedelta(seconds=UNPUSHED_AFTER_SECONDS))
        if lost:
            log.info("router.offer.repushed", offers=[o.id for o in lost])
            await self.push(lost)
        expired = await self.state.expire_due()
        await self._revoke(expired)
        for operator_id in await self.state.away_after_missed(
            expired, self.settings.away_after_missed
        ):
            log.info("router.operator.away", operator_id=operator_id, reason="missed_offers")
            await self.broker.publish_to_operator(
                operator_id, {"type": "state", "state": "away", "reason": "missed_offers"}
            )
        stale_before = utcnow() - timedelta(seconds=self.settings.operator_stale_seconds)
        for operator_id in await self.state.mark_stale_offline(stale_before):
            log.info("router.operator.stale", operator_id=operator_id)
            await self._revoke(await self.state.revoke_for(operator_id, "disconnected"))
        gone_before = utcnow() - timedelta(seconds=self.settings.reassign_after_seconds)
        for conversation_id, operator_id in await self.state.release_abandoned(gone_before):
            log.info(
                "router.conversation.released",
                conversation_id=conversation_id,
                operator_id=operator_id,
            )

    async def assign(self) -> None:
        config = await self.live.current()
        await self.classify(config)
        seen = await self.rules.snapshot(config)
        if not seen.contacts:
            return
        plan = plan_offers(
            seen.contacts, seen.operators, now=seen.now, policy=config.policy.as_policy()
        )
        if not plan:
            return
        expires = utcnow() + timedelta(seconds=self.settings.offer_timeout_seconds)
        made = await self.state.create_offers(
            [(p.conversation_id, p.operator_id) for p in plan], expires
        )
        self.offers_made.inc(len(made))
        for offer in made:
            log.info(
                "router.offer.made",
                conversation_id=offer.conversation_id,
                operator_id=offer.operator_id,
                offer_id=offer.id,
            )
        await self.push(made)

    async def push(self, offers: list[OfferView]) -> None:
        """Publish offers to their operators and record that they went out."""
        frames = await offer_frames(self.conversations, offers, self.rules)
        await asyncio.gather(
            *(self.broker.publish_to_operator(offer.operator_id, frame) for offer, frame in frames)
        )
        await self.state.mark_pushed([offer.id for offer, _ in frames])

    async def classify(self, config: RoutingConfig) -> None:
        """Give every new contact its rule's first step (the first rule that matches)."""
        unrouted = await self.rules.unrouted()
        if unrouted:
            placed = [(u.conversation_id, classify(config, u.attributes, u.text)) for u in unrouted]
            await self.rules.place(placed)
            for conversation_id, placement in placed:
                log.info(
                    "router.contact.routed",
                    conversation_id=conversation_id,
                    rule=placement.rule,
                    queue=placement.queue,
                )

    async def escalate(self) -> None:
        """Move contacts whose step timed out to the next step, or run the final action."""
        config = await self.live.current()
        now = utcnow()
        shortest = min((step.timeout_seconds for r in config.rules for step in r.steps), default=0)
        decisions = []
        for item in await self.rules.stepping(now - timedelta(seconds=shortest)):
            if config.rule(item.rule) is None:
                await self.rules.unroute(item.conversation_id, item.rule)
                continue
            decision = due(config, item.rule, item.step, item.step_since, now)
            if decision is not None:
                decisions.append((item, decision))
        finals = [item.conversation_id for item, d in decisions if isinstance(d, FinalStep)]
        held: set[int] = set()
        if finals:
            # No final action ("all our agents are busy") while someone who could take the
            # contact is available with room: it is offered to them again after a cool-down.
            seen = await self.rules.snapshot(config, only=finals)
            held = {
                c.conversation_id
                for c in seen.contacts
                if someone_could_take(c, seen.operators, seen.now)
            }
        for item, decision in decisions:
            conversation_id = item.conversation_id
            if conversation_id in held:
                continue
            if isinstance(decision, FinalStep):
                done = await self.rules.finish(
                    conversation_id,
                    item.rule,
                    item.step,
                    decision.final.action.value,
                    decision.placement,
                    decision.text,
                )
                if done:
                    log.info(
                        "router.contact.final",
                        conversation_id=conversation_id,
                        action=decision.final.action.value,
                    )
            elif await self.rules.escalate(conversation_id, item.rule, item.step, decision):
                log.info(
                    "router.contact.escalated",
                    conversation_id=conversation_id,
                    step=decision.step,
                    queue=decision.queue,
                )

    async def _revoke(self, offers: list[OfferView]) -> None:
        for offer in offers:
            log.info(
                "router.offer.closed",
                offer_id=offer.id,
                operator_id=offer.operator_id,
                status=offer.status,
            )
            await self.broker.publish_to_operator(
                offer.operator_id,
                {"type": "offer_revoked", "offer_id": offer.id, "reason": offer.status},
            )


def snapshot(config: RoutingConfig, op: OperatorLoad, now: datetime) -> OperatorSnapshot:
    """An available operator as the strategy sees them (see ``operator_snapshot``)."""
    return operator_snapshot(
        config, op.operator_id, op.username, op.idle_since, op.load, op.last_closed_at, op.pending
    )


async def _settle(message: AbstractIncomingMessage, requeue: bool | None) -> None:
    """Ack (requeue None) or reject; after a reconnect the old delivery tag may be gone, which
    is fine: the broker redelivers and handling is idempotent."""
    try:
        if requeue is None:
            await message.ack()
        else:
            await message.reject(requeue=requeue)
    except Exception as exc:
        log.info("router.settle.lost", error=str(exc))


ROUTER = web.AppKey("router", Router)
