"""Appeal offers in the operator console, in real Chromium.

Billing offers its appeals (``dispatch: offer``). The gateway's offer tick is called with the
instant wanted (its own ticker waits 5 minutes here), never slept for. Bob, a billing operator,
sees a late, high-priority appeal offered to him with its countdown, takes it from the keyboard
and it opens as his. A second one, sent back by the lead stage with a reason, is offered while
his phone-sized console shows that appeal: it is still there after a reload, and he declines
it. A third one runs out: its card goes and he is told he missed it. Screenshots at 1366x900
and 390x844 are kept in tests/artifacts/.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from appeals.live import TOPICS
from appeals.model import Priority
from appeals.numbers import format_reference
from appeals.offers import dispatch_offers
from appeals.routes import APPEAL_STORE
from appeals.store import Actor, Appeal
from appeals.views import plan_of
from gateway.keys import DATABASE, USERS
from gateway.model import Role, utcnow
from gateway.storage.schema import customers
from tests.browsers import ARTIFACTS, console_page, no_sideways_scroll
from tests.conftest import RunningGateway
from tests.support import Operator, free_port, make_settings, served_at

pytestmark = pytest.mark.browser

WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 120.0  # seconds an operator has to answer an appeal offer

RULES: dict[str, Any] = {
    "skills": {"billing": "Bills and payments"},
    "operators": {"bob": {"skills": {"billing": 1}}},
    "queues": {"billing": {"target": {"skills": {"billing": 1}}}, "billing_lead": {}},
    "rules": [
        {
            "name": "all",
            "steps": [{"queue": "billing", "timeout_seconds": 600}],
            "final": {"action": "overflow", "queue": "billing"},
        }
    ],
}

TOPICS_YAML = """
topics:
  billing_dispute:
    title: {en: Billing dispute}
    category: complaint
    route:
      - {name: Billing, queue: billing, max: 8h, may_resolve: true, dispatch: offer}
      - {name: Billing lead, queue: billing_lead, max: 8h, may_resolve: true}
"""

RETURNED = "The refund needs the March bill: ask the customer for it first."


@pytest.fixture
async def live_gateway(start_gateway, tmp_path: Path) -> RunningGateway:  # type: ignore[no-untyped-def]
    port = free_port()
    rules = tmp_path / "routing.json"
    rules.write_text(json.dumps(RULES))
    topics = tmp_path / "topics.yaml"
    topics.write_text(TOPICS_YAML)
    settings = make_settings(
        tmp_path,
        **served_at(port),
        routing={
            "rules_file": str(rules),
            "offer_timeout_seconds": TIMEOUT,
            "operator_stale_seconds": 600,
        },
        appeals={"topics_file": str(topics), "tick_seconds": 300},
    )
    return await start_gateway(settings, port=port)  # type: ignore[no-any-return]


async def shot(page: Page, name: str) -> None:
    """A screenshot in tests/artifacts/ with the cards' arrival animation finished."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(
        path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled"
    )


async def register(
    gateway: RunningGateway, customer: str, *, priority: Priority = Priority.NORMAL, at: datetime
) -> Appeal:
    async with gateway.app[DATABASE].write() as conn:
        customer_id = (
            await conn.execute(
                customers.insert()
                .values(display_name=customer, created_at=utcnow())
                .returning(customers.c.id)
            )
        ).scalar_one()
    config = await gateway.app[TOPICS].current()
    topic = config.topic("billing_dispute")
    assert topic is not None
    appeal, created = await gateway.app[APPEAL_STORE].create(
        plan=plan_of(config, topic, "billing_dispute"),
        customer_id=customer_id,
        priority=priority,
        fields={},
        summary="",
        language="en",
        channel=None,
        conversation_id=None,
        idempotency_key=None,
        actor=Actor.system(),
        now=at,
    )
    assert created
    return appeal


async def act(
    gateway: RunningGateway, who: Operator, appeal_id: int, action: str, **extra: Any
) -> dict[str, Any]:
    current = (await who.get(f"/api/appeals/{appeal_id}"))["appeal"]
    async with gateway.http.post(
        f"{gateway.base}/api/appeals/{appeal_id}/actions",
        json={"action": action, "expected_version": current["version"], **extra},
        headers=who.headers,
    ) as resp:
        assert resp.status == 200, await resp.text()
        return dict((await resp.json())["appeal"])


async def test_an_operator_takes_declines_and_misses_appeal_offers(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    gw, base = live_gateway, live_gateway.base
    bob_user = await gw.app[USERS].add("bob", "bob-password", Role.OPERATOR, "Bob Billing")
    sam = await gw.operator("sam", role=Role.SUPERVISOR, state=None)
    store = gw.app[APPEAL_STORE]

    bob = await console_page(browser, base, "bob", WIDE)
    await bob.get_by_test_id("state-available").click()
    await expect(bob.get_by_test_id("state-current")).to_have_text("Available")
    cards = bob.get_by_test_id("appeal-offer")

    # A late, high-priority appeal is offered to him: everything to decide on in one card.
    now = utcnow()
    first = await register(gw, "Pat Doe", priority=Priority.HIGH, at=now - timedelta(hours=9))
    number = format_reference(first.reference)
    to_take = bob.get_by_test_id("appeals-to-take").get_by_test_id("appeal-item")
    await expect(to_take).to_contain_text(number)  # awaiting in his stage, offered to nobody yet
    await dispatch_offers(gw.app, now)
    await expect(cards).to_have_count(1)
    card = cards.first
    await expect(card.get_by_test_id("appeal-offer-reference")).to_have_text(number)
    await expect(card.get_by_test_id("appeal-offer-topic")).to_have_text(
        "Billing dispute · Billing"
    )
    await expect(card.get_by_test_id("appeal-offer-customer")).to_have_text("Pat Doe")
    await expect(card.get_by_test_id("appeal-offer-priority")).to_have_text("High priority")
    await expect(card.get_by_test_id("appeal-due")).to_have_text(re.compile(r"^Late by 1 h"))
    countdown = card.get_by_test_id("appeal-offer-countdown")
    await expect(countdown).to_have_text(re.compile(r"^Take within 1m \d{1,2}s$"))
    await expect(countdown).to_have_attribute("role", "timer")
    await expect(card.get_by_test_id("appeal-offer-returned")).to_be_hidden()
    await expect(bob.get_by_test_id("appeal-offer-announcer")).to_contain_text(
        f"Appeal {number} offered to you: Billing dispute, Billing."
    )
    await expect(bob.locator("#offer-count")).to_have_text("1")
    await expect(bob).to_have_title(re.compile(r"^\(1\) "))
    # It stands among the offers, not once more in the stage list.
    await expect(to_take).to_have_count(0)
    await no_sideways_scroll(bob)
    await shot(bob, "appeal-offer-01-offered-1366")

    # He takes it from the keyboard; it opens as his and the card goes.
    take = card.get_by_test_id("appeal-offer-take")
    await expect(take).to_have_attribute("aria-label", f"Take appeal {number}, Billing dispute")
    await take.focus()
    await bob.keyboard.press("Enter")
    view = bob.get_by_test_id("appeal-view")
    await expect(view.get_by_test_id("appeal-reference")).to_have_text(number)
    await expect(view.get_by_test_id("appeal-status")).to_have_text("In progress")
    await expect(view.get_by_test_id("appeal-owner")).to_have_text("Bob Billing")
    await expect(cards).to_have_count(0)
    await expect(bob.get_by_test_id("appeals-mine").get_by_test_id("appeal-item")).to_contain_text(
        number
    )
    await expect(view.locator(".ap-titles h2")).to_be_focused()
    await shot(bob, "appeal-offer-02-taken-1366")
    taken = await store.get(first.id)
    assert taken is not None
    assert (taken.status, taken.owner_id, taken.offered_to) == ("in_progress", bob_user.id, None)

    # A second appeal comes back from the lead with a reason and is offered while his
    # phone-sized console shows the first one: the offers come up over it.
    second = await register(gw, "Lee Chen", at=utcnow())
    second_number = format_reference(second.reference)
    await act(gw, sam, second.id, "take")
    await act(gw, sam, second.id, "advance")
    await act(gw, sam, second.id, "take")
    await act(gw, sam, second.id, "send_back", reason=RETURNED)
    await bob.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await dispatch_offers(gw.app, utcnow())
    await expect(cards).to_have_count(1)
    await expect(cards.first.get_by_test_id("appeal-offer-reference")).to_have_text(second_number)
    await expect(cards.first).to_be_in_viewport()
    await expect(cards.first.get_by_test_id("appeal-offer-returned")).to_have_text(
        f"Sent back: {RETURNED}"
    )
    # The offer's push of the changed appeal (which names no customer) has come in by now.
    await expect(bob.get_by_test_id("appeals-to-take").get_by_test_id("appeal-item")).to_have_count(
        0
    )
    await expect(cards.first.get_by_test_id("appeal-offer-customer")).to_have_text("Lee Chen")
    await no_sideways_scroll(bob)
    await shot(bob, "appeal-offer-03-over-an-appeal-390")

    # A reload (a reconnect at its hardest): the offer still pending is shown again.
    await bob.reload()
    await expect(bob.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    await expect(cards).to_have_count(1)
    card = cards.first
    await expect(card.get_by_test_id("appeal-offer-reference")).to_have_text(second_number)
    await expect(card.get_by_test_id("appeal-offer-customer")).to_have_text("Lee Chen")
    await expect(card.get_by_test_id("appeal-offer-countdown")).to_have_text(
        re.compile(r"^Take within \dm \d{1,2}s$")
    )
    await expect(card.get_by_test_id("appeal-offer-returned")).to_have_text(
        f"Sent back: {RETURNED}"
    )
    await no_sideways_scroll(bob)
    await shot(bob, "appeal-offer-04-after-reload-390")

    # He declines it: the card goes, focus stays in the Offers section, the gateway knows.
    await card.get_by_test_id("appeal-offer-decline").click()
    await expect(cards).to_have_count(0)
    await expect(bob.locator("#offers-title")).to_be_focused()
    await expect(bob.get_by_test_id("appeal-offer-announcer")).to_contain_text(
        f"Declined appeal {second_number}"
    )
    # It waits in his stage's list still, for him or a colleague to take.
    await expect(to_take).to_contain_text(second_number)
    declined = await store.get(second.id)
    assert declined is not None
    assert (declined.offered_to, declined.offer_passed) == (None, [bob_user.id])

    # A third one is not answered in time: the tick after its time ends it, and he is told.
    third = await register(gw, "Max Weber", at=utcnow())
    third_number = format_reference(third.reference)
    offered_at = utcnow()
    await dispatch_offers(gw.app, offered_at)
    await expect(cards).to_have_count(1)
    await expect(cards.first.get_by_test_id("appeal-offer-reference")).to_have_text(third_number)
    await expect(cards.first.get_by_test_id("appeal-offer-returned")).to_be_hidden()
    await dispatch_offers(gw.app, offered_at + timedelta(seconds=TIMEOUT))
    await expect(cards).to_have_count(0)
    await expect(bob.get_by_test_id("toast")).to_have_text(f"You missed appeal {third_number}.")
    await expect(bob.locator("#offer-count")).to_be_hidden()
    await expect(to_take).to_have_count(2)
    missed = await store.get(third.id)
    assert missed is not None
    assert (missed.offered_to, missed.offer_passed) == (None, [bob_user.id])
    await no_sideways_scroll(bob)
    await shot(bob, "appeal-offer-05-missed-390")
    await bob.set_viewport_size(WIDE)  # type: ignore[arg-type]
    await no_sideways_scroll(bob)
    await shot(bob, "appeal-offer-06-missed-1366")
    await sam.close()
