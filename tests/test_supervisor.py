"""The supervisor's overview: who may see it and what it counts."""

from __future__ import annotations

from gateway.model import Role
from gateway.storage.overview import service_level
from tests.conftest import RunningGateway
from tests.support import wait_for


def test_service_level_share() -> None:
    level = service_level([5, 10, 61, 120, 30], threshold_seconds=60)
    assert (level.answered, level.within, level.percent) == (5, 3, 60.0)
    assert service_level([], 60).percent is None


async def test_overview_counts_the_line_and_the_operators(gateway: RunningGateway) -> None:
    url = f"{gateway.base}/api/supervisor/overview"
    async with gateway.http.get(url) as resp:
        assert resp.status == 401
    ada = await gateway.operator("ada")
    async with gateway.http.get(url, headers=ada.headers) as resp:
        assert resp.status == 403
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)

    ada.auto_accept = True
    first = await gateway.customer()
    await first.say("first customer")
    await wait_for(lambda: ada.messages)
    await ada.act({"type": "state", "state": "away"})
    second = await gateway.customer()
    await second.say("second customer, nobody available")

    async def overview() -> dict:  # type: ignore[type-arg]
        async with gateway.http.get(url, headers=sam.headers) as resp:
            assert resp.status == 200
            return await resp.json()  # type: ignore[no-any-return]

    data = await wait_for(lambda: _settled(overview))
    (queue,) = data["queues"]
    assert queue["name"] == "general"
    assert (queue["waiting"], queue["assigned"]) == (1, 1)
    assert queue["longest_wait_seconds"] >= 0
    assert queue["service_level"]["answered"] == 1
    assert queue["service_level"]["percent"] == 100.0
    states = {op["username"]: (op["state"], op["conversations"]) for op in data["operators"]}
    assert states["ada"] == ("away", 1)
    assert "sam" not in states  # a supervisor who only watches is not an operator
    for client in (first, second, ada, sam):
        await client.close()


async def _settled(fetch):  # type: ignore[no-untyped-def]
    data = await fetch()
    queues = data["queues"]
    if queues and queues[0]["waiting"] == 1 and queues[0]["assigned"] == 1:
        return data
    return None


def test_expected_wait_from_live_rates() -> None:
    from datetime import UTC, datetime, timedelta

    from routing.waiting import expected_wait_seconds

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    window = timedelta(minutes=10)
    taken = [now - timedelta(minutes=m) for m in (1, 2, 3, 4, 5, 6)]  # 6 in 10 min: 1 per 100 s
    assert expected_wait_seconds(1, taken, now, window) == 100.0
    assert expected_wait_seconds(3, taken, now, window) == 300.0
    assert expected_wait_seconds(3, [now - timedelta(hours=1)], now, window) is None
    assert expected_wait_seconds(2, [], now, window) is None


async def test_position_and_expected_wait(gateway: RunningGateway) -> None:
    sam = await gateway.operator("sam", role=Role.SUPERVISOR, state=None)
    ada = await gateway.operator("ada")
    ada.auto_accept = True
    served = await gateway.customer()
    await served.say("I am served")
    await wait_for(lambda: ada.messages)
    await ada.act({"type": "state", "state": "away"})
    waiting = [await gateway.customer() for _ in range(3)]
    acks = [await c.say(f"waiting {n}") for n, c in enumerate(waiting)]

    for n, ack in enumerate(acks):
        async with gateway.http.get(
            f"{gateway.base}/api/conversations/{ack['conversation_id']}/wait", headers=sam.headers
        ) as resp:
            body = await resp.json()
        assert body["in_line"] and body["position"] == n + 1
        # One contact taken in the last 15 minutes: one every 900 s.
        assert body["expected_wait_seconds"] == 900.0 * (n + 1)

    # The visitor can ask too.
    last = waiting[-1]
    assert last.ws is not None
    await last.ws.send_json({"type": "wait"})
    frame = await wait_for(lambda: next((f for f in last.frames if f["type"] == "wait"), None))
    assert frame["position"] == 3 and frame["expected_wait_seconds"] == 2700.0

    async with gateway.http.get(
        f"{gateway.base}/api/conversations/{acks[0]['conversation_id']}/wait", headers=ada.headers
    ) as resp:
        assert resp.status == 403
    for client in (served, *waiting, ada, sam):
        await client.close()
