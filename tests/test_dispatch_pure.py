"""The back-off between send attempts, with and without a provider's Retry-After."""

from __future__ import annotations

import pytest

from gateway.dispatch import retry_delay

DELAYS = (2.0, 10.0, 60.0)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (0, None, 2.0),
        (1, None, 10.0),
        (2, None, 60.0),
        (5, None, 60.0),  # past the list: the longest
        (0, 5.0, 10.0),  # the shortest delay that honours Retry-After
        (0, 10.0, 10.0),
        (2, 5.0, 60.0),  # never shorter than the attempt's own step
        (0, 3600.0, 60.0),  # longer than any: the longest configured
    ],
)
def test_retry_delay(attempt: int, retry_after: float | None, expected: float) -> None:
    assert retry_delay(DELAYS, attempt, retry_after) == expected
