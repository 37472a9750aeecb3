"""An admin works on the demo IVR menu in real Chromium: sees its diagram, simulates a call with
the keypad and with words, finds a mistake by its line, publishes the fix, and rolls back.

Screenshots are kept in tests/artifacts/ (20-ivr-diagram, 21-ivr-simulator, 22-ivr-problem) for
a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from gateway.keys import USERS
from gateway.menus.ivr_menus import LIVE_MENUS
from gateway.model import Role
from tests.browsers import shot
from tests.conftest import RunningGateway
from tests.support import free_port, make_settings, served_at

pytestmark = pytest.mark.browser

CONFIG = Path(__file__).parent.parent / "config"
MAIN = (CONFIG / "ivr" / "main.yaml").read_text(encoding="utf-8")


@pytest.fixture
async def live_gateway(start_gateway, tmp_path: Path) -> RunningGateway:  # type: ignore[no-untyped-def]
    port = free_port()
    settings = make_settings(
        tmp_path,
        **served_at(port),
        ivr={"directory": str(CONFIG / "ivr")},
        routing={"rules_file": str(CONFIG / "routing.yaml")},
    )
    return await start_gateway(settings, port=port)  # type: ignore[no-any-return]


async def _selected_line(page: Page) -> int:
    return int(
        await page.get_by_test_id("ivr-editor").evaluate(
            "(t) => t.value.slice(0, t.selectionStart).split('\\n').length"
        )
    )


def _node(page: Page, node_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-testid="ivr-node"][data-node="{node_id}"]')


async def _start_call(page: Page) -> None:
    await page.get_by_test_id("ivr-sim-start").click()
    await expect(page.get_by_test_id("ivr-sim-status")).to_contain_text("Waiting at menu 'main'")


async def test_admin_draws_simulates_fixes_publishes_and_rolls_back(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    base = live_gateway.base
    await live_gateway.app[USERS].add("alex", "alex-demo-pass", Role.ADMIN, "Alex Admin")
    await live_gateway.app[USERS].add("olga", "olga-password", Role.OPERATOR, "Olga")
    # The office is in New York; the time picker reads the browser's clock.
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, timezone_id="America/New_York"
    )
    page = await context.new_page()
    errors: list[str] = []  # script errors (4xx answers the page shows are expected)
    page.on("pageerror", lambda error: errors.append(str(error)))

    await page.goto(f"{base}/admin/ivr")
    await expect(page.get_by_test_id("ivr-notice")).to_contain_text("Sign in on the console")
    await expect(page.get_by_test_id("ivr-workspace")).to_be_hidden()

    # An operator is not let in.
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-username").fill("olga")
    await page.get_by_test_id("login-password").fill("olga-password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("state-current")).to_be_visible()
    await page.goto(f"{base}/admin/ivr")
    await expect(page.get_by_test_id("ivr-notice")).to_have_text("This page is for admins.")
    await page.goto(f"{base}/console")
    await page.get_by_test_id("logout").click()
    await page.get_by_test_id("login-username").fill("alex")
    await page.get_by_test_id("login-password").fill("alex-demo-pass")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("state-current")).to_be_visible()
    await page.goto(f"{base}/admin/ivr")

    # The diagram of main: a box per node, labelled arrows, the start marked.
    await expect(page.get_by_test_id("ivr-menu")).to_have_count(1)
    await expect(page.get_by_test_id("ivr-node")).to_have_count(18)
    await expect(_node(page, "office-hours")).to_contain_text("start")
    await expect(_node(page, "main")).to_contain_text("How can we help you?")
    labels = page.get_by_test_id("ivr-edge-label")
    for text in ("1 Sales", "open", "closed", "found", "failed", "0 Operator · exhausted"):
        await expect(labels.filter(has_text=text).first).to_be_visible()
    assert await page.locator("path.ivr-edge").count() >= 20
    await expect(page.get_by_test_id("ivr-version")).to_have_count(1)
    await expect(page.get_by_test_id("ivr-editor")).to_have_value(MAIN)
    # A click on a box finds its node in the YAML.
    await _node(page, "order-lookup").click()
    assert await _selected_line(page) == MAIN.splitlines().index("  order-lookup:") + 1
    await shot(page, "20-ivr-diagram")

    # A call on a Wednesday morning: the keypad, then the lookup answered by the admin.
    await page.get_by_test_id("ivr-sim-at").fill("2026-03-04T10:00")
    await _start_call(page)
    heard = page.get_by_test_id("ivr-heard")
    await expect(heard).to_contain_text("say: Thank you for calling Demo Telecom.")
    await expect(heard).to_contain_text("ask: menu (keys 1,2,3,4,5,0,9)")
    await expect(_node(page, "main")).to_have_attribute("data-current", "true")
    texting = page.get_by_test_id("ivr-texting-text")
    await expect(texting).to_contain_text("Reply 1 for Sales, 2 for Order support")
    await page.get_by_test_id("ivr-key-2").click()
    await expect(_node(page, "order-number")).to_have_attribute("data-current", "true")
    await expect(_node(page, "main")).not_to_have_attribute("data-current", "true")
    for key in "123456":
        await page.get_by_test_id(f"ivr-key-{key}").click()
    await expect(page.get_by_test_id("ivr-sim-digits")).to_contain_text("Entered: 123456")
    await page.get_by_test_id("ivr-key-pound").click()
    await expect(page.get_by_test_id("ivr-sim-lookup")).to_be_visible()
    await expect(page.get_by_test_id("ivr-sim-lookup-url")).to_have_text(
        "GET https://orders.demo-telecom.example/api/orders/123456/status"
    )
    await expect(_node(page, "order-lookup")).to_have_attribute("data-current", "true")
    await page.get_by_test_id("ivr-sim-lookup-json").fill('{"status": "on its way"}')
    await page.get_by_test_id("ivr-sim-lookup-ok").click()
    await expect(heard).to_contain_text("Order 123456 has the status: on its way.")
    await expect(heard).to_contain_text('enqueue {"channel": "voice"')
    await expect(page.get_by_test_id("ivr-sim-status")).to_contain_text(
        "The call has ended at queue 'support'"
    )
    await expect(_node(page, "support")).to_have_attribute("data-current", "true")
    await expect(page.get_by_test_id("ivr-key-1")).to_be_disabled()
    await shot(page, "21-ivr-simulator")

    # Checking an appeal: the keypad, then the appeals desk answered by the admin.
    await _start_call(page)
    await page.get_by_test_id("ivr-key-5").click()
    await expect(_node(page, "check-appeal")).to_have_attribute("data-current", "true")
    for key in "482139070":
        await page.get_by_test_id(f"ivr-key-{key}").click()
    await expect(page.get_by_test_id("ivr-sim-appeal")).to_be_visible()
    await expect(page.get_by_test_id("ivr-sim-appeal-what")).to_have_text(
        "status of appeal 482139070"
    )
    await page.get_by_test_id("ivr-sim-appeal-not_found").click()
    await expect(heard).to_contain_text("no appeal of the caller with this number")
    await expect(page.get_by_test_id("ivr-sim-appeal")).to_be_hidden()
    await expect(page.get_by_test_id("ivr-sim-status")).to_contain_text("Waiting at appeal_status")

    # Words, and a texting customer's button.
    await _start_call(page)
    await page.get_by_test_id("ivr-sim-text").fill("my bill please")
    await page.get_by_test_id("ivr-sim-send").click()
    await expect(_node(page, "billing")).to_have_attribute("data-current", "true")
    await expect(heard).to_contain_text("Connecting you with our billing team.")
    await _start_call(page)
    await page.get_by_test_id("ivr-texting-button").filter(has_text="Español").click()
    await expect(heard).to_contain_text("Para ventas, oprima 1.")
    # At night the office is closed: the call goes to the voicemail.
    await page.get_by_test_id("ivr-sim-at").fill("2026-03-04T23:00")
    await page.get_by_test_id("ivr-sim-start").click()
    await expect(_node(page, "voicemail")).to_have_attribute("data-current", "true")
    await page.get_by_test_id("ivr-sim-record").click()
    await expect(heard).to_contain_text("hangup")
    await page.get_by_test_id("ivr-sim-at").fill("2026-03-04T10:00")

    # A mistake: the problem names its line, and a click on it goes there.
    editor = page.get_by_test_id("ivr-editor")
    broken = MAIN.replace("        next: billing\n", "        next: bilings\n", 1)
    wrong_line = broken.splitlines().index("        next: bilings") + 1
    await editor.fill(broken)
    await page.get_by_test_id("ivr-validate").click()
    # The unknown node, and the billing node no path leads to any more.
    await expect(page.get_by_test_id("ivr-problem")).to_have_count(2)
    problem = page.get_by_test_id("ivr-problem").filter(has_text="unknown node 'bilings'")
    await expect(problem).to_contain_text(f"line {wrong_line}")
    unreachable = page.get_by_test_id("ivr-problem").filter(has_text="no path leads here")
    await expect(unreachable).to_contain_text("billing")
    # The boxes of the nodes with problems are marked in the diagram.
    await expect(_node(page, "main")).to_have_class(re.compile(r"\bhas-problem\b"))
    await expect(_node(page, "sales")).not_to_have_class(re.compile(r"\bhas-problem\b"))
    await expect(page.get_by_test_id("ivr-editor-base")).to_have_attribute("data-changed", "true")
    await editor.evaluate("(t) => t.setSelectionRange(0, 0)")
    await problem.click()
    assert await _selected_line(page) == wrong_line
    await page.get_by_test_id("ivr-publish").click()
    await expect(page.get_by_test_id("ivr-status")).to_contain_text("nothing was changed")
    await expect(page.get_by_test_id("ivr-version")).to_have_count(1)
    await shot(page, "22-ivr-problem")

    # Fixed and changed: validate draws the draft, publish puts it in force.
    fixed = MAIN.replace("Thank you for calling Demo Telecom.", "Welcome to Demo Telecom!", 1)
    await editor.fill(fixed)
    await page.get_by_test_id("ivr-validate").click()
    await expect(page.get_by_test_id("ivr-problem")).to_have_count(0)
    await expect(page.get_by_test_id("ivr-diagram-caption")).to_contain_text("Draft")
    await expect(_node(page, "welcome")).to_contain_text("Welcome to Demo Telecom!")
    await page.get_by_test_id("ivr-publish").click()
    await expect(page.get_by_test_id("ivr-status")).to_contain_text("Published version #")
    await expect(page.get_by_test_id("ivr-version")).to_have_count(2)
    await expect(page.get_by_test_id("ivr-diagram-caption")).to_contain_text("in force")
    await _start_call(page)
    await expect(heard).to_contain_text("say: Welcome to Demo Telecom!")
    live = await live_gateway.app[LIVE_MENUS].get("main")
    assert live is not None and live.stored.source_text == fixed

    # Roll back to the file's version: a new version with the old text.
    await page.get_by_test_id("ivr-rollback").last.click()
    await expect(page.get_by_test_id("ivr-status")).to_contain_text("Rolled back")
    await expect(page.get_by_test_id("ivr-version")).to_have_count(3)
    await expect(editor).to_have_value(MAIN)
    await _start_call(page)
    await expect(heard).to_contain_text("say: Thank you for calling Demo Telecom.")
    assert not errors, errors
