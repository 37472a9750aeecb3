"""A contact is never dropped while operators are free: with the clock under the test's control,
two operators both let an email's offer run out; after the cool-down it is offered to them again,
and the rule's final action ("all our agents are busy") never runs while they have room."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import select

import gateway.model
from channels.email.adapter import SMTP_SERVER
from gateway.keys import DATABASE
from gateway.settings import Settings
from gateway.storage.schema import conversations, routing_events
from routing.service import ROUTER
from tests.conftest import RunningGateway
from tests.support import Operator, free_port, make_settings, wait_for

OFFER_SECONDS = 30
COOLDOWN_SECONDS = 120
STEP_SECONDS = 90  # runs out while both operators are still in their cool-down

RULES: dict[str, Any] = {
    "policy": {"decline_cooldown_seconds": COOLDOWN_SECONDS, "affinity_seconds": 0},
    "queues": {"everyone": {}},
    "rules": [
        {
            "name": "mail",
            "steps": [{"queue": "everyone", "timeout_seconds": STEP_SECONDS}],
            "final": {"action": "notice", "text": "Sorry, all our agents are busy."},
        }
    ],
}


class Clock:
    """The gateway's clock, moved forward by the test: every module's ``utcnow`` reads it."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()
    real: Callable[[], datetime] = gateway.model.utcnow
    for name, module in list(sys.modules.items()):
        ours = name.split(".")[0] in ("gateway", "routing", "channels", "ivr")
        if ours and getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", clock.now)
    yield clock


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    rules = tmp_path / "routing.json"
    rules.write_text(json.dumps(RULES))
    return make_settings(
        tmp_path,
        routing={
            "rules_file": str(rules),
            "offer_timeout_seconds": OFFER_SECONDS,
            "away_after_missed": 10,
            # Presence is refreshed in real time; the test's jumps must not look like a crash.
            "operator_stale_seconds": 3600,
        },
        email={"enabled": True, "port": 0, "relay_port": free_port(), "auth_username": None},
    )


async def _offer(operator: Operator, seen: int) -> dict[str, Any]:
    offers = await wait_for(lambda: len(operator.offers) > seen and list(operator.offers.values()))
    return dict(offers[-1])


async def _ticks(gateway: RunningGateway, count: int) -> None:
    """Wait until the router has started ``count`` timer passes from now on."""
    router = gateway.app[ROUTER]
    for _ in range(count):
        mark = time.monotonic()
        await wait_for(lambda mark=mark: router._last_tick > mark)


async def _status(gateway: RunningGateway, conversation_id: int) -> str:
    async with gateway.app[DATABASE].read() as conn:
        return str(
            (
                await conn.execute(
                    select(conversations.c.status).where(conversations.c.id == conversation_id)
                )
            ).scalar_one()
        )


async def test_missed_offers_come_back_after_the_cool_down(
    clock: Clock, gateway: RunningGateway
) -> None:
    ada = await gateway.operator("ada")
    grace = await gateway.operator("grace")
    mail = (
        "From: Lena <lena@example.org>\r\nTo: support@support.example.com\r\n"
        "Subject: Refund\r\nMessage-ID: <refund@example.org>\r\n\r\nWhere is my refund?\r\n"
    )
    port = int(gateway.app[SMTP_SERVER].sockets[0].getsockname()[1])
    await aiosmtplib.send(
        mail.encode(),
        sender="lena@example.org",
        recipients=["support@support.example.com"],
        hostname="127.0.0.1",
        port=port,
        start_tls=False,
    )

    def offered_to() -> tuple[Operator, dict[str, Any]] | None:
        for op in (ada, grace):
            for offer in op.offers.values():
                if offer["id"] not in op.revoked:
                    return op, offer
        return None

    first_to, first = await wait_for(offered_to)
    conversation_id = first["conversation_id"]
    clock.advance(OFFER_SECONDS + 1)  # nobody answers: the offer runs out
    await wait_for(lambda: first["id"] in first_to.revoked)
    second_to, second = await wait_for(offered_to)
    assert second_to is not first_to  # the one who missed it is in cool-down
    clock.advance(OFFER_SECONDS + 1)  # the other one misses it too
    await wait_for(lambda: second["id"] in second_to.revoked)

    # Past the step's timeout, both still in cool-down but available with room for email:
    # the final action waits (ticks pass and the contact is still waiting)...
    clock.advance(STEP_SECONDS - 2 * OFFER_SECONDS + 10)
    await _ticks(gateway, 2)
    assert await _status(gateway, conversation_id) == "waiting"
    # ...and once the first one's cool-down is over it is offered to them again.
    clock.advance(COOLDOWN_SECONDS - STEP_SECONDS + 20)
    third_to, third = await wait_for(offered_to, timeout=15)
    assert third["conversation_id"] == conversation_id
    assert third_to is first_to  # longest idle of the two, and out of cool-down first
    assert await _status(gateway, conversation_id) == "offered"
    accepted = await third_to.act({"type": "accept", "offer_id": third["id"]})
    assert accepted["ok"], accepted
    async with gateway.app[DATABASE].read() as conn:
        kinds = (
            (
                await conn.execute(
                    select(routing_events.c.kind).where(
                        routing_events.c.conversation_id == conversation_id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert "final" not in kinds
    assert await _status(gateway, conversation_id) == "assigned"
    for op in (ada, grace):
        await op.close()
