"""The supervisor page in real Chromium: why each waiting contact is not on offer, assigning
one to an operator, and contacts closed by a rule's final action with their reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from gateway.keys import USERS
from gateway.model import Role
from tests.browsers import shot
from tests.conftest import RunningGateway
from tests.support import ORIGIN, free_port, make_settings, served_at, wait_for
from tests.test_supervisor_line import RULES

pytestmark = pytest.mark.browser


@pytest.fixture
async def live_gateway(start_gateway, tmp_path: Path) -> RunningGateway:  # type: ignore[no-untyped-def]
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    rules = tmp_path / "routing.json"
    rules.write_text(json.dumps(RULES))
    settings = make_settings(
        tmp_path,
        **served_at(port),
        webchat={"allowed_origins": [origin, ORIGIN]},
        routing={"rules_file": str(rules)},
    )
    return await start_gateway(settings, port=port)  # type: ignore[no-any-return]


async def test_supervisor_sees_why_and_assigns(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    await live_gateway.app[USERS].add("sam", "sam-password", Role.SUPERVISOR, "Sam Supervisor")
    ada = await live_gateway.operator("ada")  # available, answers nothing
    first = await live_gateway.customer()
    await first.say("first one")
    await wait_for(lambda: ada.offers)
    second = await live_gateway.customer()
    await second.say("second one")
    closed = await live_gateway.customer(topic="closed")
    await closed.say("anyone selling?")

    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await page.goto(f"{live_gateway.base}/console")
    await page.get_by_test_id("login-username").fill("sam")
    await page.get_by_test_id("login-password").fill("sam-password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("state-current")).to_be_visible()
    await page.goto(f"{live_gateway.base}/supervisor")

    everyone = page.locator('[data-testid="sv-queue"][data-queue="everyone"]')
    await expect(everyone.get_by_test_id("sv-waiting")).to_have_text("1")
    await expect(everyone.get_by_test_id("sv-waiting-media")).to_have_text("chat 1")
    # The contact waiting in "everyone" (the one for sales waits for nobody, with its own reason).
    holdup = page.locator('tr.sv-contacts[data-queue="everyone"]').get_by_test_id("sv-holdup")
    await expect(holdup).to_have_attribute("data-holdup", "pending_offer_limit")
    await expect(holdup).to_contain_text("has an offer to answer first")
    sales = page.locator('[data-testid="sv-queue"][data-queue="sales"]')
    await expect(sales.get_by_test_id("sv-final")).to_have_text("1")
    await expect(page.get_by_test_id("sv-final-close")).to_contain_text(
        "notice: All our agents are busy."
    )
    operators = page.get_by_test_id("sv-operator")
    await expect(operators).to_have_count(1)  # Ada; Sam only watches
    await shot(page, "12-supervisor-why-waiting")

    waiting = (
        page.locator('tr.sv-contacts[data-queue="everyone"]')
        .get_by_test_id("sv-contact")
        .filter(has=page.get_by_test_id("sv-holdup"))
    )
    await waiting.get_by_test_id("sv-assign-operator").select_option(label="Ada")
    await waiting.get_by_test_id("sv-assign").click()
    await expect(page.get_by_test_id("sv-notice")).to_contain_text("offered to Ada")
    await wait_for(lambda: len(ada.offers) == 2)
    for client in (first, second, closed, ada):
        await client.close()
