"""A waiting contact's place in line and expected wait, for the API and the channels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gateway.model import utcnow
from gateway.storage.routing_state import RoutingState
from routing.waiting import expected_wait_seconds

# How far back the rate of taken contacts is measured.
RATE_WINDOW = timedelta(minutes=15)


async def wait_estimate(state: RoutingState, conversation_id: int) -> dict[str, Any]:
    place = await state.place_in_line(conversation_id, RATE_WINDOW)
    if place is None:
        return {"in_line": False, "position": None, "expected_wait_seconds": None}
    queue, position, taken = place
    return {
        "in_line": True,
        "queue": queue,
        "position": position,
        "expected_wait_seconds": expected_wait_seconds(position, taken, utcnow(), RATE_WINDOW),
    }
