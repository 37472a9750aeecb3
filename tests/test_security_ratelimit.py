"""Web chat frame limits follow the visitor and the client address, not the socket: a visitor
with three tabs gets the limit once, not three times."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.keys import DATABASE
from gateway.ratelimit import FrameLimiter, KeyedBuckets
from gateway.storage.schema import messages
from tests.conftest import RunningGateway
from tests.support import ORIGIN, Customer, make_settings, wait_for

CLOSE_RATE_LIMITED = 4429


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # (visitor, address, time) -> allowed; visitor burst 3, address burst 5, 1 token/s each
        ([("a", "ip1", 0.0)] * 4, [True, True, True, False]),
        # three sockets of one visitor share the bucket: it is keyed by visitor only
        (
            [("a", "ip1", 0.0), ("a", "ip2", 0.0), ("a", "ip3", 0.0), ("a", "ip4", 0.0)],
            [True] * 3 + [False],
        ),
        # many visitors at one address share the address's bucket
        (
            [
                ("a", "ip", 0.0),
                ("b", "ip", 0.0),
                ("c", "ip", 0.0),
                ("d", "ip", 0.0),
                ("e", "ip", 0.0),
                ("f", "ip", 0.0),
            ],
            [True] * 5 + [False],
        ),
        # tokens come back with time
        ([("a", "ip", 0.0)] * 3 + [("a", "ip", 0.5), ("a", "ip", 1.0)], [True] * 3 + [False, True]),
    ],
)
def test_frame_limits_by_visitor_and_address(
    frames: list[tuple[str, str, float]], expected: list[bool]
) -> None:
    limiter = FrameLimiter(rate=1.0, burst=3, address_rate=1.0, address_burst=5)
    assert [limiter.allow(v, a, t) for v, a, t in frames] == expected


def test_keyed_buckets_stay_bounded_and_keep_the_limited() -> None:
    buckets = KeyedBuckets(rate=1.0, burst=1, max_keys=3)
    assert buckets.allow("flooder", 0.0) and not buckets.allow("flooder", 0.0)
    for n in range(10):
        assert buckets.allow(f"new{n}", 0.0)
    assert len(buckets.buckets) <= 3
    buckets = KeyedBuckets(rate=1.0, burst=2, max_keys=3)
    buckets.allow("flooder", 0.0)
    buckets.allow("flooder", 0.0)
    buckets.allow("idle", 0.0)
    buckets.allow("idle2", 0.0)
    assert buckets.allow("new", 10.0)  # idle buckets (full again) are forgotten first
    assert "flooder" not in buckets.buckets or buckets.allow("flooder", 10.0)


async def _stored(gateway: RunningGateway) -> int:
    async with gateway.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


@pytest.fixture
async def strict(
    start_gateway: Callable[..., Awaitable[RunningGateway]], tmp_path: Path
) -> RunningGateway:
    # Almost no refill: what passes does not depend on how fast the test runs.
    webchat = {
        "allowed_origins": [ORIGIN],
        "rate_per_second": 0.001,
        "burst": 5,
        "address_rate_per_second": 0.001,
        "address_burst": 8,
    }
    return await start_gateway(make_settings(tmp_path, webchat=webchat))


async def _tabs(gateway: RunningGateway, first: Customer, count: int) -> list[Customer]:
    tabs = [first]
    for _ in range(count - 1):
        tab = Customer(gateway.http, gateway.base)
        tab.token = first.token  # the same visitor in another tab
        await tab.connect()
        tabs.append(tab)
    return tabs


async def test_one_visitor_with_three_sockets_gets_the_limit_once(strict: RunningGateway) -> None:
    tabs = await _tabs(strict, await strict.customer(), 3)
    for i in range(3):
        for n, tab in enumerate(tabs):
            assert tab.ws is not None
            if not tab.ws.closed:
                await tab.send(f"tab {n} message {i}")
    await wait_for(lambda: any(t.ws is not None and t.ws.closed for t in tabs))
    closed = [t for t in tabs if t.ws is not None and t.ws.closed]
    assert {t.ws.close_code for t in closed if t.ws is not None} == {CLOSE_RATE_LIMITED}
    await wait_for(lambda: sum(len(t.acks) for t in tabs) == 5)
    assert await _stored(strict) == 5  # the visitor's burst, not three of them
    for tab in tabs:
        await tab.close()


async def test_visitors_at_one_address_share_its_limit(strict: RunningGateway) -> None:
    first, second = await strict.customer(), await strict.customer()
    for i in range(4):
        await first.say(f"first {i}")
    for i in range(5):  # within the visitor's burst of 5, beyond what the address has left
        assert second.ws is not None
        if second.ws.closed:
            break
        await second.send(f"second {i}")
    await wait_for(lambda: second.ws is not None and second.ws.closed)
    assert second.ws is not None and second.ws.close_code == CLOSE_RATE_LIMITED
    await wait_for(lambda: len(second.acks) == 4)
    assert await _stored(strict) == 8  # the address's burst
    await first.close()
    await second.close()
