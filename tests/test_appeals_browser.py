"""Appeals in the console and on the supervisor page, in real Chromium.

An operator opens an appeal from a conversation (the server's message stands next to the bad
field, then the number is shown), takes it and passes it to the next stage; an operator of
that stage takes it and sends it back with a reason (the dialog refuses an empty one); the
first operator sees the reason on top of the appeal. A supervisor sees a late appeal first,
with its badge, and gives it to an operator. Neither page scrolls sideways on a phone.
Screenshots of each page at 1366x900 and 390x844 are kept in tests/artifacts/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, expect

from gateway.keys import USERS
from gateway.model import Role
from tests.browsers import console_page, no_sideways_scroll, shot
from tests.conftest import RunningGateway
from tests.support import ORIGIN, free_port, make_settings, served_at, wait_for

pytestmark = pytest.mark.browser

WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

RULES: dict[str, Any] = {
    "skills": {"front": "First line", "billing": "Bills and payments"},
    "operators": {"ada": {"skills": {"front": 1}}, "bob": {"skills": {"billing": 1}}},
    "queues": {
        "first_line": {"target": {"skills": {"front": 1}}},
        "billing": {"target": {"skills": {"billing": 1}}},
    },
    "rules": [
        {
            "name": "all",
            "steps": [{"queue": "first_line", "timeout_seconds": 600}],
            "final": {"action": "overflow", "queue": "first_line"},
        }
    ],
}

TOPICS = """
settings:
  dispositions:
    solved: {en: Solved on first contact}
    appeal: {en: Appeal opened}
topics:
  billing_dispute:
    title: {en: Billing dispute}
    category: complaint
    priority: normal
    fields:
      - {name: account, label: {en: Account number}, type: text, required: true,
         pattern: "^[0-9]{6,10}$"}
      - {name: amount, label: {en: Disputed amount}, type: number, min: 0}
      - name: reason
        label: {en: Reason}
        type: choice
        choices: [double_charge, unknown_service]
    route:
      - {name: First line, queue: first_line, max: 4h, may_resolve: true, on_timeout: warn}
      - {name: Billing, queue: billing, max: 16h, may_resolve: true, on_timeout: warn}
  outage:
    title: {en: No internet}
    category: incident
    priority: high
    fields:
      - {name: account, label: {en: Account number}, type: text, required: true}
    route:
      - {name: First line, queue: first_line, max: 1, may_resolve: true, on_timeout: warn}
"""


@pytest.fixture
async def live_gateway(start_gateway, tmp_path: Path) -> RunningGateway:  # type: ignore[no-untyped-def]
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    rules = tmp_path / "routing.json"
    rules.write_text(json.dumps(RULES))
    topics = tmp_path / "topics.yaml"
    topics.write_text(TOPICS)
    settings = make_settings(
        tmp_path,
        **served_at(port),
        webchat={"allowed_origins": [origin, ORIGIN]},
        routing={"rules_file": str(rules)},
        appeals={"topics_file": str(topics), "tick_seconds": 0.5},
    )
    return await start_gateway(settings, port=port)  # type: ignore[no-any-return]


async def _fits(page: Page) -> None:
    """The console scrolls inside its panes: the page itself fits the window both ways."""
    await no_sideways_scroll(page)
    high, inner = await page.evaluate(
        "() => [document.scrollingElement.scrollHeight, window.innerHeight]"
    )
    assert high <= inner, f"the page is {high}px high in a {inner}px window"


async def test_an_appeal_goes_forward_and_back_and_a_supervisor_reassigns_the_late_one(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    base = live_gateway.base
    users = live_gateway.app[USERS]
    ada_user = await users.add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    await users.add("bob", "bob-password", Role.OPERATOR, "Bob Billing")
    sam = await live_gateway.operator("sam", role=Role.SUPERVISOR, state=None)

    # Ada answers a customer and opens an appeal from the conversation.
    ada = await console_page(browser, base, "ada", WIDE)
    await ada.get_by_test_id("state-available").click()
    await expect(ada.get_by_test_id("state-current")).to_contain_text("vailable")
    customer = await live_gateway.customer()
    await customer.say("You charged me twice for March!")
    await ada.get_by_test_id("offer").get_by_test_id("offer-accept").click()
    await expect(ada.get_by_test_id("message").filter(has_text="charged me twice")).to_be_visible()

    await ada.get_by_test_id("open-appeal").click()
    form = ada.get_by_test_id("appeal-create-dialog")
    await expect(form).to_be_visible()
    await form.get_by_test_id("appeal-topic").select_option("billing_dispute")
    await form.get_by_label("Account number").fill("12")
    await form.get_by_label("Disputed amount").fill("19.90")
    await form.get_by_label("Reason").select_option("double_charge")
    await form.get_by_test_id("ap-dialog-submit").click()
    # The server's message stands next to the field it is about.
    account = form.locator('[data-field="account"]')
    await expect(account.get_by_test_id("ap-field-error")).to_be_visible()
    await expect(account.get_by_test_id("ap-field-account")).to_have_attribute(
        "aria-invalid", "true"
    )
    amount = form.locator('[data-field="amount"]')
    await expect(amount.get_by_test_id("ap-field-error")).to_be_hidden()
    await shot(ada, "appeals-01-form-error")
    await form.get_by_label("Account number").fill("1234567")
    await form.get_by_test_id("ap-dialog-submit").click()
    number = form.get_by_test_id("appeal-created-reference")
    await expect(number).to_have_text(re.compile(r"^\d{3}-\d{3}-\d{3}$"))
    reference = await number.text_content()
    assert reference is not None
    await shot(ada, "appeals-02-registered")
    await form.get_by_test_id("appeal-created-open").click()

    view = ada.get_by_test_id("appeal-view")
    await expect(view.get_by_test_id("appeal-reference")).to_have_text(reference)
    await expect(view.get_by_test_id("appeal-status")).to_have_text("Awaiting")
    await view.get_by_test_id("appeal-action-take").click()
    await expect(view.get_by_test_id("appeal-status")).to_have_text("In progress")
    await expect(view.get_by_test_id("appeal-owner")).to_have_text("Ada Lovelace")
    advance = view.get_by_test_id("appeal-action-advance")
    await expect(advance).to_have_text("Advance to Billing")
    await shot(ada, "appeals-03-console-view-1366")
    await advance.click()
    await expect(view.get_by_test_id("appeal-stage")).to_contain_text("Billing")
    await expect(view.get_by_test_id("appeal-status")).to_have_text("Awaiting")
    await expect(view.get_by_test_id("appeal-action-take")).to_have_count(0)  # not her stage
    # Billing is not Ada's stage: her lists hold neither it nor anything else now.
    await expect(ada.get_by_test_id("appeals-mine").get_by_test_id("appeal-item")).to_have_count(0)
    await expect(ada.get_by_test_id("appeal-item")).to_have_count(0)
    await _fits(ada)
    # The conversation now shows its appeal instead of "Open appeal".
    await view.get_by_test_id("appeal-close").click()
    await expect(ada.get_by_test_id("conv-appeal-link")).to_have_text(reference)
    await expect(ada.get_by_test_id("open-appeal")).to_have_count(0)
    await ada.get_by_test_id("conv-appeal-link").click()  # and she keeps it open
    await expect(view.get_by_test_id("appeal-stage")).to_contain_text("Billing")

    # Bob works in billing: the appeal waits in his stage list; he takes it and sends it back.
    bob = await console_page(browser, base, "bob", PHONE)
    waiting = bob.get_by_test_id("appeals-to-take").get_by_test_id("appeal-item")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text(reference)
    await waiting.get_by_test_id("appeal-take").click()
    bobs = bob.get_by_test_id("appeal-view")
    await expect(bobs.get_by_test_id("appeal-status")).to_have_text("In progress")
    await _fits(bob)
    await shot(bob, "appeals-04-console-view-390")
    await bobs.get_by_test_id("appeal-action-send_back").click()
    dialog = bob.get_by_test_id("ap-reason-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_test_id("ap-reason")).to_be_focused()
    await dialog.get_by_test_id("ap-dialog-submit").click()  # no reason: refused
    await expect(dialog.get_by_test_id("ap-dialog-error")).to_have_text("Write a reason first.")
    await expect(dialog).to_be_visible()
    reason = "The account number belongs to another customer: ask the caller again."
    await dialog.get_by_test_id("ap-reason").fill(reason)

    # Just before Bob's send-back reaches the gateway, a supervisor raises the priority: his
    # version is stale, the appeal is read again, and he is told why.
    async def someone_else_first(route: Route) -> None:
        appeal = (await sam.get(f"/api/appeals/{appeal_id}"))["appeal"]
        async with live_gateway.http.patch(
            f"{base}/api/appeals/{appeal_id}",
            json={"expected_version": appeal["version"], "priority": "high"},
            headers=sam.headers,
        ) as resp:
            assert resp.status == 200, await resp.text()
        await route.continue_()

    appeal_id = await bobs.get_attribute("data-appeal-id")
    actions = f"{base}/api/appeals/{appeal_id}/actions"
    await bob.route(actions, someone_else_first)
    await dialog.get_by_test_id("ap-dialog-submit").click()
    await expect(dialog.get_by_test_id("ap-dialog-error")).to_contain_text(
        "Someone else changed this appeal"
    )
    await expect(bobs.get_by_test_id("appeal-notice")).to_contain_text("Someone else changed")
    await expect(bobs.locator(".ap-prio")).to_have_text("High")
    await bob.unroute(actions, someone_else_first)
    await dialog.get_by_test_id("ap-dialog-submit").click()  # again, on the fresh version
    await expect(dialog).to_have_count(0)
    await expect(bobs.get_by_test_id("appeal-status")).to_have_text("Awaiting")
    await expect(bobs.get_by_test_id("appeal-stage")).to_contain_text("First line")
    await no_sideways_scroll(bob)

    # Ada's open appeal shows Billing's reason on top as it happens, and it is back in her
    # list to take (pushed over her console's socket: nobody reloaded anything).
    returned = view.get_by_test_id("appeal-returned")
    await expect(returned).to_contain_text("Sent back by Billing")
    await expect(returned).to_contain_text(reason)
    await expect(view.get_by_test_id("appeal-stage")).to_contain_text("First line")
    back = ada.get_by_test_id("appeals-to-take").get_by_test_id("appeal-item")
    await expect(back).to_contain_text(reference)
    await expect(back.get_by_test_id("appeal-due")).to_contain_text("Due in")
    await shot(ada, "appeals-05-sent-back")

    # Resolving the conversation asks for a wrap-up code (the topics document lists them).
    await ada.get_by_test_id("appeal-close").click()
    await ada.get_by_test_id("resolve").click()
    wrap_up = ada.get_by_test_id("disposition-dialog")
    await expect(wrap_up.get_by_test_id("disposition")).to_be_focused()
    await wrap_up.get_by_test_id("ap-dialog-submit").click()
    await expect(wrap_up.get_by_test_id("ap-dialog-error")).to_have_text("Choose an outcome.")
    await wrap_up.get_by_test_id("disposition").select_option(label="Appeal opened")
    await wrap_up.get_by_test_id("ap-dialog-submit").click()
    await expect(ada.get_by_test_id("conversation")).to_have_count(0)

    # A second appeal of the same customer, whose first stage is over in a second: late.
    first = await sam.get(f"/api/appeals/by-reference/{reference.replace('-', '')}")
    async with live_gateway.http.post(
        f"{base}/api/appeals",
        json={
            "topic": "outage",
            "customer_id": first["appeal"]["customer_id"],
            "fields": {"account": "7654321"},
            "idempotency_key": "outage-1",
        },
        headers=sam.headers,
    ) as resp:
        assert resp.status == 201, await resp.text()
        late = (await resp.json())["appeal"]

    async def is_late() -> bool:
        return bool((await sam.get(f"/api/appeals/{late['id']}"))["appeal"]["late"])

    await wait_for(is_late)

    # The supervisor sees it first in the first-line queue, with its badge, and gives it to Ada.
    boss = await console_page(browser, base, "sam", WIDE)
    await boss.goto(f"{base}/supervisor")
    group = boss.locator('[data-testid="sv-appeal-group"][data-queue="first_line"]')
    rows = group.get_by_test_id("sv-appeal")
    await expect(rows).to_have_count(2)
    top = rows.first
    await expect(top).to_have_attribute("data-reference", late["reference"])
    await expect(top).to_have_attribute("data-deadline", "late")
    await expect(top.get_by_test_id("appeal-due")).to_contain_text("Late by")
    await expect(rows.nth(1)).to_have_attribute("data-reference", reference.replace("-", ""))
    # Above the lists: the numbers per queue, and the deadline the gateway saw pass.
    counts = boss.locator('[data-testid="sv-appeal-count"][data-queue="first_line"]')
    await expect(counts.get_by_test_id("sv-appeal-late-count")).to_have_text("1")
    alert = boss.get_by_test_id("sv-appeal-alert").filter(has_text=late["reference_display"])
    await expect(alert).to_contain_text("stage deadline passed")
    await boss.get_by_test_id("sv-appeals").scroll_into_view_if_needed()
    await shot(boss, "appeals-06-supervisor-1366")
    await top.get_by_test_id("sv-appeal-operator").select_option(label="Ada Lovelace")
    await top.get_by_test_id("sv-appeal-assign").click()
    await expect(boss.get_by_test_id("sv-appeals-notice")).to_contain_text("Ada Lovelace")
    changed = await sam.get(f"/api/appeals/{late['id']}")
    assert changed["appeal"]["owner_id"] == ada_user.id
    assert changed["appeal"]["status"] == "in_progress"
    await expect(
        boss.locator(
            f'[data-testid="sv-appeal"][data-reference="{late["reference"]}"]'
        ).get_by_test_id("sv-appeal-owner")
    ).to_have_text("Ada Lovelace")

    # Late only: the other one (due in hours) leaves the list, and comes back.
    await boss.get_by_test_id("sv-appeals-late").check()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-reference", late["reference"])
    await boss.get_by_test_id("sv-appeals-late").uncheck()
    await expect(rows).to_have_count(2)

    # The appeal view opens from the list in a dialog; Escape closes it again.
    await top.get_by_test_id("sv-appeal-open").click()
    opened = boss.get_by_test_id("sv-appeal-dialog")
    await expect(opened.get_by_test_id("appeal-reference")).to_have_text(late["reference_display"])
    await expect(opened.locator(".ap-titles h2")).to_be_focused()
    await boss.keyboard.press("Escape")
    await expect(opened).to_be_hidden()
    await expect(top.get_by_test_id("sv-appeal-open")).to_be_focused()  # back where it was

    # On a phone the supervisor page scrolls its tables inside their boxes, not sideways.
    await boss.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await expect(rows).to_have_count(2)
    await no_sideways_scroll(boss)
    await boss.get_by_test_id("sv-appeals").scroll_into_view_if_needed()
    await shot(boss, "appeals-07-supervisor-390")
    await customer.close()
    await sam.close()
