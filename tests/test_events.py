"""The event catalogue: names, job families, and the router's bindings cover its events."""

from __future__ import annotations

import re

import pytest

from gateway.events import (
    CAPABILITY_EVENTS,
    ROUTER_BINDINGS,
    Event,
    conversation_id_of,
    conversation_ref,
    logout,
    media_event,
    operator_id_of,
    operator_state,
    outbound_event,
)


def _bound(key: str) -> bool:
    """Whether a topic binding of the router's queue matches ``key`` (``#`` = any words)."""
    for binding in ROUTER_BINDINGS:
        pattern = re.escape(binding).replace(r"\#", ".*").replace(r"\*", "[^.]+")
        if re.fullmatch(pattern, key):
            return True
    return False


@pytest.mark.parametrize("event", [e for e in Event if e not in CAPABILITY_EVENTS])
def test_the_router_hears_every_single_event(event: Event) -> None:
    assert _bound(event.value)


@pytest.mark.parametrize("event", sorted(CAPABILITY_EVENTS))
def test_capability_events_do_not_reach_the_router(event: Event) -> None:
    assert not _bound(event.value)


@pytest.mark.parametrize("key", [outbound_event("sms"), media_event("twilio")])
def test_jobs_do_not_reach_the_router(key: str) -> None:
    assert not _bound(key)


def test_job_keys() -> None:
    assert outbound_event("email") == "outbound.email"
    assert media_event("telegram") == "media.telegram"


def test_payloads_round_trip() -> None:
    assert conversation_id_of(conversation_ref(7)) == 7
    assert operator_id_of(operator_state(3, "away")) == 3
    assert operator_state(3, "away") == {"operator_id": 3, "state": "away"}
    assert logout(3, 1) == {"operator_id": 3, "by": 1}
    assert conversation_id_of({"conversation_id": "12"}) == 12
