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
    assert states["sam"][0] == "away"
    for client in (first, second, ada, sam):
        await client.close()


async def _settled(fetch):  # type: ignore[no-untyped-def]
    data = await fetch()
    queues = data["queues"]
    if queues and queues[0]["waiting"] == 1 and queues[0]["assigned"] == 1:
        return data
    return None
