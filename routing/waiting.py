"""Queue position and expected wait, from live rates (pure).

Expected wait = contacts ahead (plus this one) / the rate at which the queue's contacts were
taken by operators over a recent window. With no contact taken in the window there is no honest
estimate, and the answer is None rather than a made-up number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def expected_wait_seconds(
    position: int, taken_at: Sequence[datetime], now: datetime, window: timedelta
) -> float | None:
    """Seconds until the contact at ``position`` (1 = next) is likely taken, or None."""
    if position < 1:
        return 0.0
    recent = [t for t in taken_at if now - window <= t <= now]
    if not recent:
        return None
    rate = len(recent) / window.total_seconds()
    return round(position / rate, 1)
