"""Call-back tasks on the pages, in real Chromium.

Three appeals of a web chat customer whose page is gone: their registered notices reach the
customer on no channel, so each is a call-back task in first_line. Ada (first_line) sees them
in her sidebar's *Call back* list with the number, topic, customer, why, how long ago and the
phone number of the appeal's form. She marks one done from the appeal view (a highlighted
line with Done), one from the sidebar on a phone-sized window (390 px, nothing runs off to the
side) with a note, and each leaves the list; the supervisor marks the third done on the
supervisor page. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from gateway.keys import DATABASE, USERS
from gateway.model import Role
from gateway.storage.schema import conversations
from tests.browsers import console_page, no_sideways_scroll, shot
from tests.conftest import RunningGateway
from tests.support import ORIGIN, Operator, free_port, make_settings, served_at, wait_for

pytestmark = pytest.mark.browser

WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

RULES: dict[str, Any] = {
    "skills": {"front": "First line"},
    "operators": {"ada": {"skills": {"front": 1}}},
    "queues": {"first_line": {"target": {"skills": {"front": 1}}}},
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
  callback_queue: first_line
topics:
  billing_dispute:
    title: {en: Billing dispute}
    category: complaint
    fields:
      - {name: contact_phone, label: {en: Phone to call back}, type: phone, region: DE}
    route:
      - {name: First line, queue: first_line, max: 4h, may_resolve: true}
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


async def _callback_tasks(gateway: RunningGateway, sam: Operator, count: int) -> list[Any]:
    """``count`` appeals of a web chat customer who left: one call-back task each."""
    visitor = await gateway.customer()
    ack = await visitor.say("You charged me twice")
    await visitor.close()
    async with gateway.app[DATABASE].read() as conn:
        customer_id = (
            await conn.execute(
                select(conversations.c.customer_id).where(
                    conversations.c.id == ack["conversation_id"]
                )
            )
        ).scalar_one()
    for _ in range(count):
        async with gateway.http.post(
            f"{gateway.base}/api/appeals",
            json={
                "topic": "billing_dispute",
                "customer_id": customer_id,
                "fields": {"contact_phone": "0151 23456789"},
                "idempotency_key": uuid.uuid4().hex,
            },
            headers=sam.headers,
        ) as resp:
            assert resp.status == 201, await resp.text()

    async def all_there() -> list[Any] | None:
        tasks = (await sam.get("/api/appeals/callbacks"))["callbacks"]
        return list(tasks) if len(tasks) == count else None

    found: list[Any] = await wait_for(all_there, timeout=15)
    return sorted(found, key=lambda t: t["id"])


async def _history_note(sam: Operator, appeal_id: int) -> tuple[str, str | None]:
    appeal = (await sam.get(f"/api/appeals/{appeal_id}"))["appeal"]
    [done] = [h for h in appeal["history"] if h["action"] == "callback_done"]
    return done["actor"], done["reason"]


async def test_an_operator_calls_customers_back_and_marks_the_tasks_done(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    base = live_gateway.base
    await live_gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    sam = await live_gateway.operator("sam", role=Role.SUPERVISOR, state=None)
    first, second, third = await _callback_tasks(live_gateway, sam, 3)

    ada = await console_page(browser, base, "ada", WIDE)
    items = ada.get_by_test_id("appeals-callbacks").get_by_test_id("appeal-callback-item")
    await expect(items).to_have_count(3)
    await expect(ada.get_by_test_id("appeals-callbacks-count")).to_have_text("3")
    item = items.filter(has_text=first["reference_display"])
    await expect(item).to_contain_text("Billing dispute")
    await expect(item).to_contain_text(first["customer_name"])
    await expect(item.get_by_test_id("appeal-callback-why")).to_have_text(
        "Not told that their appeal is registered: no channel to reach them on."
    )
    await expect(item).to_contain_text(re.compile(r"just now|\d+ s ago|\d+ min ago"))
    phone = item.get_by_test_id("callback-phones").get_by_role("link")
    await expect(phone).to_have_text("+4915123456789")
    await expect(phone).to_have_attribute("href", "tel:+4915123456789")
    await shot(ada, "callbacks-01-sidebar-1366")

    # The number opens the appeal: the task stands out on top, with the same Done.
    await item.get_by_test_id("appeal-callback-open").click()
    view = ada.get_by_test_id("appeal-view")
    await expect(view.get_by_test_id("appeal-reference")).to_have_text(first["reference_display"])
    line = view.get_by_test_id("appeal-callback")
    await expect(line).to_contain_text("Call the customer back")
    await expect(line.get_by_role("link")).to_have_text("+4915123456789")
    await shot(ada, "callbacks-02-view-1366")
    await line.get_by_test_id("appeal-callback-done").click()
    dialog = ada.get_by_test_id("ap-callback-dialog")
    await expect(dialog.get_by_test_id("ap-callback-note")).to_be_focused()
    await dialog.get_by_test_id("ap-dialog-submit").click()  # the note may stay empty
    await expect(dialog).to_have_count(0)
    await expect(line).to_have_count(0)
    await expect(view.get_by_test_id("appeal-history")).to_contain_text("called the customer back")
    await expect(items).to_have_count(2)
    assert await _history_note(sam, first["appeal_id"]) == ("ada", None)
    await view.get_by_test_id("appeal-close").click()

    # On a phone: the list fits; Done asks for a note in a dialog, and the task goes.
    await ada.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await no_sideways_scroll(ada)
    item = items.filter(has_text=second["reference_display"])
    await item.scroll_into_view_if_needed()
    await shot(ada, "callbacks-03-sidebar-390")
    await item.get_by_test_id("appeal-callback-done").click()
    await expect(dialog).to_be_visible()
    note = "Reached her on the phone: told her the number; she will send the bill."
    await dialog.get_by_test_id("ap-callback-note").fill(note)
    await no_sideways_scroll(ada)
    await shot(ada, "callbacks-04-done-dialog-390")
    await dialog.get_by_test_id("ap-dialog-submit").click()
    await expect(dialog).to_have_count(0)
    await expect(items).to_have_count(1)
    await expect(items).to_contain_text(third["reference_display"])
    assert await _history_note(sam, second["appeal_id"]) == ("ada", note)
    await no_sideways_scroll(ada)

    # The supervisor sees the one left, and marks it done there.
    boss = await console_page(browser, base, "sam", WIDE)
    await boss.goto(f"{base}/supervisor")
    listed = boss.get_by_test_id("sv-appeal-callback")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text(third["reference_display"])
    await expect(listed).to_contain_text("queue first_line")
    await boss.get_by_test_id("sv-appeal-callbacks").scroll_into_view_if_needed()
    await shot(boss, "callbacks-05-supervisor-1366")
    await listed.get_by_test_id("sv-callback-done").click()
    await boss.get_by_test_id("ap-callback-dialog").get_by_test_id("ap-dialog-submit").click()
    await expect(listed).to_have_count(0)
    await expect(boss.get_by_test_id("sv-appeals-notice")).to_contain_text("call-back done")
    assert await _history_note(sam, third["appeal_id"]) == ("sam", None)

    # Ada's list follows (pushed): nothing left to call, and the section's list is hidden.
    await expect(items).to_have_count(0)
    await expect(ada.get_by_test_id("appeals-callbacks")).to_be_hidden()
    await sam.close()
