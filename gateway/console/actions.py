"""What an operator can do, once, for both the websocket and the HTTP API.

Every action checks ownership in the store (not in the client): an operator can only accept
their own offers and answer or resolve their own conversations; supervisors can read and
resolve any.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web

from gateway.console.hub import OperatorHub
from gateway.errors import Refused
from gateway.metrics import Metrics
from gateway.model import ConversationStatus, OperatorState, Role, utcnow
from gateway.outbox import OutboxRelay
from gateway.settings import RoutingSettings
from gateway.storage.conversations import ConversationStore, ReplyTargetError
from gateway.storage.outbound import OutboundStore
from gateway.storage.routing_rules import RuleStore
from gateway.storage.routing_state import RoutingState
from gateway.storage.users import User, UserStore
from routing.escalation import as_waiting, operator_snapshot, previous, step_floor
from routing.live import LiveRouting
from routing.strategy import WaitingContact, qualifies

log = structlog.get_logger()

MAX_REPLY_CHARS = 4000
MAX_NOTE_CHARS = 500


class ActionError(Refused):
    """An operator's action that is refused (the HTTP status, a code, a reason)."""


AcceptHook = Callable[[dict[str, Any], User], Awaitable[dict[str, Any] | None]]
# The wrap-up codes an operator may give when closing a conversation (the appeals' topics
# document lists them); an empty answer means no codes are configured.
DispositionCodes = Callable[[], Awaitable[list[str]]]
MAX_DISPOSITION = 64


@dataclass
class ConsoleActions:
    conversations: ConversationStore
    state: RoutingState
    hub: OperatorHub
    relay: OutboxRelay
    metrics: Metrics
    users: UserStore
    routing: RoutingSettings
    rules: RuleStore
    live: LiveRouting
    outbound: OutboundStore
    # Called after an operator took a conversation (a phone call is put through to them); what
    # a hook returns is added to the accept's result.
    accept_hooks: list[AcceptHook] = field(default_factory=list)
    disposition_codes: list[DispositionCodes] = field(default_factory=list)

    async def set_state(self, user: User, state: str) -> dict[str, Any]:
        if state not in (OperatorState.AVAILABLE.value, OperatorState.AWAY.value):
            raise ActionError(422, "bad_state", "state must be 'available' or 'away'")
        await self.state.set_state(user.id, OperatorState(state))
        self.relay.nudge()
        await self.hub.push(user.id, {"type": "state", "state": state})
        log.info("operator.state", operator_id=user.id, state=state)
        return {"state": state}

    async def accept(self, user: User, offer_id: int) -> dict[str, Any]:
        result = await self.state.accept(offer_id, user.id)
        if not result.ok or result.conversation_id is None:
            status = 404 if result.reason == "not_found" else 409
            raise ActionError(status, result.reason, "this offer can no longer be accepted")
        # The router learns at once that this operator may be offered the next contact.
        self.relay.nudge()
        conversation = await self.detail(user, result.conversation_id)
        # The operator's tabs on other instances learn it too (and drop the offer card).
        await self.hub.broadcast(user.id, {"type": "assigned", "conversation": conversation})
        log.info(
            "operator.offer.accepted", offer_id=offer_id, conversation_id=result.conversation_id
        )
        extra: dict[str, Any] = {}
        for hook in self.accept_hooks:
            try:
                extra.update(await hook(conversation, user) or {})
            except Exception:  # the conversation is the operator's either way
                log.exception("operator.accept.hook_failed", conversation_id=conversation["id"])
        return {"conversation": conversation, **extra}

    async def decline(self, user: User, offer_id: int) -> dict[str, Any]:
        conversation_id = await self.state.decline(offer_id, user.id)
        if conversation_id is None:
            raise ActionError(409, "not_pending", "this offer is not pending for you")
        self.relay.nudge()
        await self.hub.push(
            user.id, {"type": "offer_revoked", "offer_id": offer_id, "reason": "declined"}
        )
        log.info("operator.offer.declined", offer_id=offer_id, conversation_id=conversation_id)
        return {"conversation_id": conversation_id}

    async def reply(
        self,
        user: User,
        conversation_id: int,
        client_id: str,
        text: str,
        identity_id: int | None = None,
    ) -> dict[str, Any]:
        """Answer the customer: on the conversation's own channel, or on another of their
        identities (``identity_id``) when the operator chooses it."""
        if not text.strip():
            raise ActionError(422, "bad_field", "text must not be empty")
        if len(text) > MAX_REPLY_CHARS:
            raise ActionError(422, "too_long", f"text is longer than {MAX_REPLY_CHARS} characters")
        if not (8 <= len(client_id) <= 64):
            raise ActionError(422, "bad_field", "client_id must be 8-64 characters")
        try:
            stored = await self.conversations.add_reply(
                conversation_id, user.id, client_id, text, identity_id=identity_id
            )
        except ReplyTargetError as exc:
            raise ActionError(422, "bad_identity", exc.reason) from None
        if stored is None:
            raise ActionError(404, "not_found", "no open conversation of yours with this id")
        message, created = stored
        if created:
            self.metrics.outbound.labels(message.channel or "webchat").inc()
            self.relay.nudge()
        frame = {
            "type": "message",
            "conversation_id": conversation_id,
            "message": message.as_json(),
        }
        await self.hub.push(user.id, frame)
        return {"message": message.as_json()}

    async def resolve(
        self, user: User, conversation_id: int, disposition: str | None = None
    ) -> dict[str, Any]:
        """Close the conversation, with the operator's wrap-up code when one is given (it must
        be one of the configured codes; kept with the conversation's routing events)."""
        if disposition is not None:
            codes = [code for source in self.disposition_codes for code in await source()]
            if disposition not in codes:
                known = ", ".join(codes) if codes else "none are configured"
                raise ActionError(422, "bad_field", f"unknown disposition (known: {known})")
        owner = None if user.role.at_least(Role.SUPERVISOR) else user.id
        detail = {"disposition": disposition} if disposition is not None else {}
        if not await self.conversations.resolve(conversation_id, owner, detail=detail):
            raise ActionError(404, "not_found", "no open conversation of yours with this id")
        self.relay.nudge()
        await self.hub.push(user.id, {"type": "closed", "conversation_id": conversation_id})
        return {"conversation_id": conversation_id, "status": "closed", "disposition": disposition}

    async def transfer(
        self,
        user: User,
        conversation_id: int,
        to_operator: int | None,
        queue: str | None,
        note: str,
    ) -> dict[str, Any]:
        """Hand a conversation to a named operator (they get an offer) or back to the line.
        Operators move their own; supervisors move anyone's (a reassign)."""
        if len(note) > MAX_NOTE_CHARS:
            raise ActionError(422, "too_long", f"note is longer than {MAX_NOTE_CHARS} characters")
        if to_operator is not None and queue is not None:
            raise ActionError(422, "bad_field", "give either 'to_operator' or 'queue', not both")
        if queue is not None and queue not in (await self.live.current()).queues:
            raise ActionError(422, "unknown_queue", f"no queue {queue!r} is routed here")
        if to_operator is not None and await self.users.get(to_operator) is None:
            raise ActionError(422, "unknown_operator", f"no active staff member {to_operator}")
        owner = None if user.role.at_least(Role.SUPERVISOR) else user.id
        moved = await self.state.transfer(
            conversation_id,
            by=user.id,
            owner=owner,
            to_operator=to_operator,
            queue=queue,
            note=note,
            expires_at=utcnow() + timedelta(seconds=self.routing.offer_timeout_seconds),
        )
        if moved is None:
            raise ActionError(404, "not_found", "no conversation of yours to move with this id")
        self.relay.nudge()
        log.info("operator.conversation.transferred", **moved)
        return {"transfer": moved}

    async def send_back(self, user: User, conversation_id: int, reason: str) -> dict[str, Any]:
        """Hand an assigned conversation back to the previous step of its routing rule (for
        example from the tier-1 queue back to the experts), with the reason for the next one.
        Whether it can go back at all is answered first, before any reason is asked for."""
        place = await self.rules.place_of(conversation_id)
        if place is None or place.operator_id != user.id or place.status != "assigned":
            raise ActionError(404, "not_found", "no conversation of yours with this id")
        back = previous(await self.live.current(), place.rule, place.step)
        if back is None:
            raise ActionError(
                409, "first_step", "this conversation is at the first step of its rule"
            )
        reason = reason.strip()
        if not reason:
            raise ActionError(422, "bad_field", "say why the conversation goes back")
        if len(reason) > MAX_NOTE_CHARS:
            raise ActionError(422, "too_long", f"reason is longer than {MAX_NOTE_CHARS} characters")
        moved = await self.rules.send_back(conversation_id, user.id, back, reason, by=user.id)
        if moved is None:
            raise ActionError(409, "moved", "this conversation has just moved; look again")
        self.relay.nudge()
        log.info("operator.conversation.sent_back", **moved)
        return {"transfer": moved}

    async def assign(self, user: User, conversation_id: int, operator_id: int) -> dict[str, Any]:
        """A supervisor gives a contact to a named operator who qualifies for it: a waiting or
        offered one becomes an offer to them (someone else's pending offer is revoked first),
        an assigned one is transferred to them (also an offer)."""
        if not user.role.at_least(Role.SUPERVISOR):
            raise ActionError(403, "forbidden", "only a supervisor assigns contacts")
        target = await self.users.get(operator_id)
        if target is None:
            raise ActionError(422, "unknown_operator", f"no active staff member {operator_id}")
        conversation = await self.conversations.get(conversation_id)
        place = await self.rules.place_of(conversation_id)
        if conversation is None or place is None:
            raise ActionError(404, "not_found", "no conversation with this id")
        if place.status == ConversationStatus.ASSIGNED.value:
            return await self.transfer(user, conversation_id, operator_id, None, "")
        config = await self.live.current()
        need = as_waiting(
            WaitingContact(
                conversation_id, 0, None, media=self.rules.media_of(conversation.channel)
            ),
            config,
            conversation.queue,
            step_floor(config, place.rule, place.step),
        )
        profile = operator_snapshot(config, target.id, target.username, None, {}, None, {})
        if need is not None and not qualifies(profile, need):
            raise ActionError(
                422,
                "not_eligible",
                f"{target.display_name} lacks the skills or language queue {conversation.queue!r}"
                " needs at this step",
            )
        if place.status not in (ConversationStatus.WAITING.value, ConversationStatus.OFFERED.value):
            raise ActionError(409, "not_in_line", "this contact is not waiting or on offer")
        moved = await self.state.offer_to(
            conversation_id,
            operator_id,
            by=user.id,
            expires_at=utcnow() + timedelta(seconds=self.routing.offer_timeout_seconds),
        )
        if moved is None:
            raise ActionError(409, "moved", "this contact has just moved; look again")
        self.relay.nudge()
        log.info("supervisor.contact.offered", **moved)
        return {"assign": moved}

    async def can_send_back(self, conversation_id: int) -> bool:
        """The conversation's rule has a step before the current one to send it back to."""
        place = await self.rules.place_of(conversation_id)
        if place is None:
            return False
        return previous(await self.live.current(), place.rule, place.step) is not None

    async def resend(self, user: User, message_id: int) -> dict[str, Any]:
        """Send a failed or undelivered reply again (the operator's Resend)."""
        owner = None if user.role.at_least(Role.SUPERVISOR) else user.id
        if not await self.outbound.resend(message_id, owner):
            raise ActionError(
                409,
                "not_resendable",
                "only a failed or undelivered reply in one of your conversations can be resent",
            )
        self.relay.nudge()
        log.info("operator.message.resend", message_id=message_id)
        return {"message_id": message_id, "status": "queued"}

    async def targets(self, user: User) -> dict[str, Any]:
        """Where a conversation can be transferred: the queues and the colleagues."""
        config = await self.live.current()
        states = await self.state.states()
        staff = [
            {"id": u.id, "name": u.display_name, "state": states.get(u.id, "offline")}
            for u in await self.users.list()
            if u.id != user.id
        ]
        return {
            "queues": [
                {"name": name, "description": q.description} for name, q in config.queues.items()
            ],
            "operators": staff,
        }

    async def detail(self, user: User, conversation_id: int) -> dict[str, Any]:
        conversation = await self.conversations.get(conversation_id)
        allowed = conversation is not None and (
            conversation.operator_id == user.id or user.role.at_least(Role.SUPERVISOR)
        )
        if conversation is None or not allowed:
            raise ActionError(404, "not_found", "no conversation of yours with this id")
        history = await self.conversations.messages(conversation_id)
        return {
            **conversation.as_json(),
            "messages": [m.as_json() for m in history],
            "can_send_back": await self.can_send_back(conversation_id),
            # Transfer notes and send-back reasons, for whoever has the conversation now.
            "handovers": await self.rules.handovers(conversation_id),
        }

    async def list(self, user: User) -> list[dict[str, Any]]:
        owner = None if user.role.at_least(Role.SUPERVISOR) else user.id
        return [c.as_json() for c in await self.conversations.for_operator(owner)]


# What happens after an operator takes a conversation, per channel (voice: put the call through).
ACCEPT_HOOKS = web.AppKey("accept_hooks", list[AcceptHook])
# Where the wrap-up codes come from (appeals registers its topics document's list).
DISPOSITIONS = web.AppKey("dispositions", list[DispositionCodes])
