"""The event catalogue: every routing key the gateway publishes on ``<prefix>.events``, and the
shape of its payload, in one place.

Why: producers (the store's outbox rows, the instances' timers) and consumers (the router, the
delivery queues, the job workers) must agree on names and fields; a typo in a string literal
would route an event nowhere without a sound. Capabilities add their events here.

=========================  ==============================================  =====================
routing key                payload                                         consumed by
=========================  ==============================================  =====================
conversation.message       the stored message (``message_json``)           router
conversation.closed        ``{conversation_id}``                           router, web chat
routing.requeue            ``{conversation_id}``                           router
routing.transfer           ``{conversation_id, from, to_queue|to_operator,  router
                           reason}``
routing.accepted           ``{operator_id}``                               router
routing.assign             ``{conversation_id, operator_id, ...}``         router
routing.menu_done          ``{conversation_id}``                           router
routing.final              ``{conversation_id, action, ...}``              router
operator.state             ``{operator_id, state}``                        router
operator.logout            ``{operator_id, by}``                           router
router.tick                ``{}`` (short TTL)                              router
appeal.changed             ``{appeal_id, reference, action, status,         appeals service
                           from_status, stage, queue, owner_id,
                           from_owner_id, customer_id, history_id,
                           actor, channel, offered_to?,
                           offer_revoked_to?}``
outbound.<channel>         ``{message_id, conversation_id, ...}``          sender of <channel>
media.<provider>           ``{message_id, index, ...}``                    file fetcher
=========================  ==============================================  =====================
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Event(StrEnum):
    """Routing keys of single events."""

    MESSAGE = "conversation.message"
    CLOSED = "conversation.closed"
    REQUEUE = "routing.requeue"
    TRANSFER = "routing.transfer"
    # An operator answered their last pending offer: they may be offered the next contact now
    # (the pending-offer limit) rather than at the router's next tick.
    ACCEPTED = "routing.accepted"
    # A supervisor gave a waiting or offered contact to a named operator (as an offer).
    ASSIGN = "routing.assign"
    MENU_DONE = "routing.menu_done"  # wakes the router: a contact joined the line
    FINAL = "routing.final"
    OPERATOR_STATE = "operator.state"
    LOGOUT = "operator.logout"
    ROUTER_TICK = "router.tick"
    # An appeal was registered or changed (appeals/store.py): notices, pushes to its workers.
    APPEAL_CHANGED = "appeal.changed"


class Family(StrEnum):
    """Routing-key prefixes of job families: ``<family>.<channel or provider>``."""

    OUTBOUND = "outbound"  # replies to send on a channel
    MEDIA = "media"  # customers' files to fetch from a provider


# What the router's queue is bound to: new messages, requeues, presence changes, ticks.
ROUTER_BINDINGS = ("conversation.#", "routing.#", "operator.#", Event.ROUTER_TICK.value)

# Events only a capability's own queue hears (it binds them itself, see appeals/service.py).
CAPABILITY_EVENTS = frozenset({Event.APPEAL_CHANGED})


def outbound_event(channel: str) -> str:
    """The routing key of a reply to send on ``channel``."""
    return f"{Family.OUTBOUND}.{channel}"


def media_event(fetcher: str) -> str:
    """The routing key of a job that brings a customer's file in from the provider."""
    return f"{Family.MEDIA}.{fetcher}"


# -- payloads ------------------------------------------------------------------------------


def conversation_ref(conversation_id: int) -> dict[str, Any]:
    """The payload of ``conversation.closed``, ``routing.requeue`` and ``routing.menu_done``."""
    return {"conversation_id": conversation_id}


def operator_state(operator_id: int, state: str) -> dict[str, Any]:
    """The payload of ``operator.state``."""
    return {"operator_id": operator_id, "state": state}


def logout(operator_id: int, by: int | None) -> dict[str, Any]:
    """The payload of ``operator.logout``."""
    return {"operator_id": operator_id, "by": by}


def conversation_id_of(payload: dict[str, Any]) -> int:
    return int(payload["conversation_id"])


def operator_id_of(payload: dict[str, Any]) -> int:
    return int(payload["operator_id"])
