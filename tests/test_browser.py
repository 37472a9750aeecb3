"""A customer chats in the widget and an operator answers in the console, in real Chromium.

Screenshots of each step are kept in tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from playwright.async_api import Browser, Page, expect

from channels.email.adapter import SMTP_SERVER
from gateway.keys import ROUTING_CONFIGS, USERS
from gateway.model import Role
from routing.config import load_routing
from tests.browsers import shot
from tests.conftest import RunningGateway
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, message_sid, signed, sms_params
from tests.support import ORIGIN, free_port, make_settings, served_at, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture
async def live_gateway(start_gateway, tmp_path: Path) -> RunningGateway:  # type: ignore[no-untyped-def]
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        **served_at(port),
        # The page's own origin, plus the one the protocol-level test clients send.
        webchat={"allowed_origins": [origin, ORIGIN]},
    )
    return await start_gateway(settings, port=port)  # type: ignore[no-any-return]


async def _available_operator(browser: Browser, base: str, username: str) -> Page:
    """A console page signed in as ``username`` (password ``<username>-password``), available."""
    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(f"{username}-password")
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("state-available").click()
    await expect(page.get_by_test_id("state-current")).to_contain_text("vailable")
    return page


async def test_customer_chats_and_operator_answers(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    base = live_gateway.base
    await live_gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")

    operator = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await operator.goto(f"{base}/console")
    await operator.get_by_test_id("login-username").fill("ada")
    await operator.get_by_test_id("login-password").fill("wrong password")
    await operator.get_by_test_id("login-submit").click()
    await expect(operator.get_by_test_id("login-error")).not_to_be_empty()
    await operator.get_by_test_id("login-password").fill("ada-password")
    await operator.get_by_test_id("login-submit").click()
    await operator.get_by_test_id("state-available").click()
    await expect(operator.get_by_test_id("state-current")).to_contain_text("vailable")
    await shot(operator, "01-console-available")

    customer = await (await browser.new_context(viewport={"width": 1024, "height": 768})).new_page()
    await customer.goto(f"{base}/demo")
    await customer.get_by_test_id("cg-launcher").click()
    await customer.get_by_test_id("cg-input").fill("My router blinks red <b>help</b>")
    await customer.get_by_test_id("cg-send").click()
    sent = customer.get_by_test_id("cg-message").filter(has_text="My router blinks red")
    await expect(sent).to_have_attribute("data-status", "sent")
    await shot(customer, "02-widget-sent")

    offer = operator.get_by_test_id("offer")
    await expect(offer).to_contain_text("My router blinks red")
    await shot(operator, "03-console-offer")
    await offer.get_by_test_id("offer-accept").click()
    await expect(
        operator.get_by_test_id("message").filter(has_text="My router blinks red <b>help</b>")
    ).to_be_visible()
    await operator.get_by_test_id("reply-input").fill("Let me check <script>alert(1)</script>")
    await operator.get_by_test_id("reply-send").click()
    await shot(operator, "04-console-replied")

    reply = customer.locator('[data-testid="cg-message"][data-direction="out"]')
    await expect(reply).to_contain_text("Let me check <script>alert(1)</script>")
    # The operator sees that the reply reached the customer.
    answered = operator.get_by_test_id("message").filter(has_text="Let me check")
    await expect(answered).to_have_attribute("data-status", "sent")
    await shot(customer, "05-widget-reply")

    # The customer writes more; the operator sees it live.
    await customer.get_by_test_id("cg-input").fill("Thanks!")
    await customer.get_by_test_id("cg-send").click()
    await expect(operator.get_by_test_id("message").filter(has_text="Thanks!")).to_be_visible()

    # A reload continues the same conversation, history included.
    await customer.reload()
    await customer.get_by_test_id("cg-launcher").click()
    messages = customer.get_by_test_id("cg-message")
    await expect(messages).to_have_count(3)
    await expect(messages.nth(1)).to_contain_text("Let me check")
    await shot(customer, "06-widget-after-reload")

    await operator.get_by_test_id("resolve").click()
    await expect(operator.get_by_test_id("conversation")).to_have_count(0)
    await shot(operator, "07-console-resolved")
    await expect(customer.get_by_test_id("cg-status")).to_contain_text("closed")
    await shot(customer, "08-widget-closed")


async def test_supervisor_watches_queues_and_operators(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    users = live_gateway.app[USERS]
    await users.add("sam", "sam-password", Role.SUPERVISOR, "Sam Supervisor")
    # The demo's routing rules (several queues), as an admin would publish them.
    demo = load_routing(Path(__file__).parent.parent / "config" / "routing.yaml")
    await live_gateway.app[ROUTING_CONFIGS].save(
        demo.as_document(), actor_id=None, actor="test", action="routing.replace",
        target="routing", detail={},
    )  # fmt: skip
    ada = await live_gateway.operator("ada")  # available, over the API
    ada.auto_accept = True
    customers = [await live_gateway.customer() for _ in range(4)]
    for n, customer in enumerate(customers[:3]):
        await customer.say(f"customer {n} needs help")
        await wait_for(lambda n=n: f"customer {n} needs help" in ada.texts("in"))
    await customers[3].say("a question about my invoice")

    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await page.goto(f"{live_gateway.base}/supervisor")
    await expect(page.get_by_test_id("sv-notice")).to_contain_text("Sign in on the console")
    await page.goto(f"{live_gateway.base}/console")
    await page.get_by_test_id("login-username").fill("sam")
    await page.get_by_test_id("login-password").fill("sam-password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("state-current")).to_be_visible()
    await page.goto(f"{live_gateway.base}/supervisor")

    # Every configured queue is listed; Ada is full (three chats), the fourth contact waits
    # in the billing queue its words sent it to.
    queues = page.get_by_test_id("sv-queue")
    await expect(queues).to_have_count(len(demo.queues))
    billing = page.locator('[data-testid="sv-queue"][data-queue="billing"]')
    await expect(billing.get_by_test_id("sv-waiting")).to_have_text("1")
    await expect(billing.get_by_test_id("sv-waiting-media")).to_have_text("chat 1")
    await expect(page.get_by_test_id("sv-contact")).to_contain_text("billing-words step 1")
    everyone = page.locator('[data-testid="sv-queue"][data-queue="everyone"]')
    await expect(everyone.get_by_test_id("sv-waiting")).to_have_text("0")
    operator = page.locator('[data-testid="sv-operator"][data-username="ada"]')
    await expect(operator.get_by_test_id("sv-operator-state")).to_have_text("busy")
    await expect(operator.get_by_test_id("sv-operator-media")).to_have_text("chat 3")
    await shot(page, "09-supervisor")
    for client in (*customers, ada):
        await client.close()


async def test_operator_transfers_with_a_note_from_the_console(
    live_gateway: RunningGateway, browser: Browser
) -> None:
    base = live_gateway.base
    await live_gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    grace = await live_gateway.operator("grace")  # a protocol-level console, available

    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-username").fill("ada")
    await page.get_by_test_id("login-password").fill("ada-password")
    await page.get_by_test_id("login-submit").click()
    await grace.act({"type": "state", "state": "away"})  # so the contact goes to Ada
    await page.get_by_test_id("state-available").click()
    await expect(page.get_by_test_id("state-current")).to_contain_text("vailable")

    customer = await live_gateway.customer()
    await customer.say("I would like a new contract")
    # The offer's timer says what it counts down.
    await expect(page.get_by_test_id("offer-countdown")).to_contain_text("Accept within")
    await page.get_by_test_id("offer").get_by_test_id("offer-accept").click()
    await expect(
        page.get_by_test_id("message").filter(has_text="I would like a new contract")
    ).to_be_visible()

    # At the first step of its rule there is nothing to send it back to: the button says so
    # before anyone types a reason.
    send_back = page.get_by_test_id("send-back")
    await expect(send_back).to_be_disabled()
    await expect(send_back).to_have_attribute("title", re.compile("first step"))

    await page.get_by_test_id("transfer").click()
    dialog = page.get_by_test_id("move-dialog")
    await expect(dialog).to_be_visible()
    await page.get_by_test_id("move-target").select_option(label="Grace (away)")
    await page.get_by_test_id("move-text").fill("wants the family plan, verified")
    await shot(page, "10-console-transfer-dialog")
    await page.get_by_test_id("move-submit").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_test_id("conversation")).to_have_count(0)
    await expect(page.get_by_test_id("toast")).to_contain_text("passed on")
    await shot(page, "11-console-transferred")

    offer = await wait_for(lambda: next(iter(grace.offers.values()), None))
    assert offer["note"] == "wants the family plan, verified"
    assert offer["preview"] == "I would like a new contract"


async def test_a_failed_sms_reply_shows_and_can_be_resent(
    start_gateway,
    aiohttp_server,
    tmp_path: Path,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    fake = FakeTwilio()
    fake.server = await aiohttp_server(fake.app())
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    gateway = await start_gateway(
        make_settings(
            tmp_path,
            **served_at(port),
            twilio={
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "api_base_url": fake.base_url,
                "retry_delays_seconds": [0.1],
            },
        ),
        port=port,
    )
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    page = await _available_operator(browser, origin, "ada")

    request = signed(
        f"{origin}/webhooks/twilio/messaging",
        sms_params(message_sid(), "+15557654321", "Is my order on its way?"),
    )
    async with gateway.http.post(
        f"{origin}/webhooks/twilio/messaging", data=request["data"], headers=request["headers"]
    ) as resp:
        assert resp.status == 200
    await page.get_by_test_id("offer").get_by_test_id("offer-accept").click()
    fake.fail_next = [503, 503]  # the first try and the one retry
    await page.get_by_test_id("reply-input").fill("It left the warehouse today")
    await page.get_by_test_id("reply-send").click()
    reply = page.locator('[data-testid="message"][data-direction="out"]')
    await expect(reply).to_have_attribute("data-status", "failed")
    await expect(reply).to_contain_text("Twilio 503")
    await shot(page, "12-console-sms-failed")
    await reply.get_by_test_id("resend").click()
    await expect(reply).to_have_attribute("data-status", "sent")
    assert [m["Body"] for m in fake.sent] == ["It left the warehouse today"]
    await shot(page, "13-console-sms-resent")


async def test_an_email_with_attachments_in_the_console(
    start_gateway,
    tmp_path: Path,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    gateway = await start_gateway(
        make_settings(
            tmp_path,
            **served_at(port),
            email={"enabled": True, "port": 0, "max_attachment_bytes": 5_000},
        ),
        port=port,
    )
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    page = await _available_operator(browser, origin, "ada")

    mail = EmailMessage()
    mail["From"] = "Lena Schmidt <lena@example.org>"
    mail["To"] = "support@support.example.com"
    mail["Subject"] = "Photo of the error"
    mail.set_content("The screen shows this.")
    mail.add_attachment(b"\x89PNG fake", maintype="image", subtype="png", filename="error.png")
    mail.add_attachment(b"z" * 9_000, maintype="application", subtype="zip", filename="logs.zip")
    port_smtp = gateway.app[SMTP_SERVER].sockets[0].getsockname()[1]
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=port_smtp, start_tls=False)

    await page.get_by_test_id("offer").get_by_test_id("offer-accept").click()
    attachments = page.get_by_test_id("attachments")
    await expect(attachments.get_by_test_id("attachment-link")).to_have_text("error.png · 9 B")
    await expect(attachments).to_contain_text(
        "logs.zip · 9 KB (not kept: larger than the 5000 byte limit for files)"
    )
    await shot(page, "14-console-email-attachments")
    async with page.expect_download() as download:
        await attachments.get_by_test_id("attachment-link").click()
    assert (await download.value).suggested_filename == "error.png"


async def test_files_arrive_live_and_a_reply_can_go_to_another_channel(
    start_gateway,
    aiohttp_server,
    tmp_path: Path,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    fake = FakeTwilio()
    fake.server = await aiohttp_server(fake.app())
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    gateway = await start_gateway(
        make_settings(
            tmp_path,
            **served_at(port),
            twilio={
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "api_base_url": fake.base_url,
            },
        ),
        port=port,
    )
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    page = await _available_operator(browser, origin, "ada")

    async def webhook(params: list[tuple[str, str]]) -> None:
        request = signed(f"{origin}/webhooks/twilio/messaging", params)
        async with gateway.http.post(
            f"{origin}/webhooks/twilio/messaging", data=request["data"], headers=request["headers"]
        ) as resp:
            assert resp.status == 200

    customer = "+15557654321"
    # The same number on WhatsApp first, then by SMS: one customer with two identities.
    await webhook(
        [
            ("MessageSid", message_sid()),
            ("AccountSid", ACCOUNT_SID),
            ("From", f"whatsapp:{customer}"),
            ("To", "whatsapp:+15550001111"),
            ("Body", "hello from WhatsApp"),
        ]
    )
    await webhook(sms_params(message_sid(), customer, "The parcel arrived damaged"))
    offers = page.get_by_test_id("offer")
    # One unanswered offer per operator and media at a time: WhatsApp's first, then the SMS.
    await expect(offers).to_have_count(1)
    await offers.filter(has_text="hello from WhatsApp").get_by_test_id("offer-accept").click()
    await offers.filter(has_text="damaged").get_by_test_id("offer-accept").click()
    await expect(page.get_by_test_id("identities")).to_contain_text("WhatsApp +15557654321")

    # A photo sent into the open conversation is fetched and becomes a download, live.
    sid = message_sid().replace("SM", "MM", 1)
    photo = fake.add_media(sid, b"\xff\xd8 a photo", "image/jpeg")
    params = [p for p in sms_params(sid, customer, "photo attached") if p[0] != "NumMedia"]
    await webhook(
        [*params, ("NumMedia", "1"), ("MediaUrl0", photo), ("MediaContentType0", "image/jpeg")]
    )
    link = page.get_by_test_id("attachment-link")
    await expect(link).to_have_text("image/jpeg · 10 B")

    # The reply goes on WhatsApp because the operator chose it.
    via = page.get_by_test_id("reply-via")
    await expect(via).to_be_visible()
    whatsapp = via.locator("option", has_text="WhatsApp")
    await via.select_option(await whatsapp.get_attribute("value"))
    await page.get_by_test_id("reply-input").fill("Sorry! A replacement is on its way.")
    await page.get_by_test_id("reply-send").click()
    reply = page.locator('[data-testid="message"][data-direction="out"]')
    await expect(reply).to_contain_text("via WhatsApp")
    await expect(reply).to_have_attribute("data-status", "sent")
    await shot(page, "15-console-reply-on-another-channel")
    assert [(m["To"], m["Body"]) for m in fake.sent] == [
        (f"whatsapp:{customer}", "Sorry! A replacement is on its way.")
    ]

    # The operator unlinks the WhatsApp identity, undoes it, and links it again by its number.
    chips = page.get_by_test_id("identity")
    await chips.filter(has_text="WhatsApp").get_by_test_id("identity-unlink").click()
    await expect(chips).to_have_count(0)
    await expect(via).to_be_hidden()
    await page.get_by_test_id("identity-undo").click()
    await expect(chips).to_have_count(1)
    await chips.get_by_test_id("identity-unlink").click()
    await expect(chips).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept(f"whatsapp {customer}"))
    await page.get_by_test_id("identity-link").click()
    await expect(chips).to_have_text([f"WhatsApp {customer} Unlink"])
    await shot(page, "18-console-identities")


WIDGET_MENU = """
id: chat
languages: [en]
start: main
nodes:
  main:
    kind: menu
    prompt: Press 1 for billing or 2 for technical help.
    text: Hi! What is it about?
    options:
      - {key: 1, label: Billing, words: [billing], next: billing}
      - {key: 2, label: Technical help, words: [technical, router], next: tech}
  billing:
    {kind: queue, prompt: Please hold., text: A billing agent will answer you here., topic: billing}
  tech: {kind: queue, prompt: Please hold., text: A technician will answer you here., topic: tech}
"""


async def test_the_widget_shows_the_menu_as_quick_replies(
    start_gateway,
    tmp_path: Path,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    menus = tmp_path / "ivr"
    menus.mkdir()
    (menus / "chat.yaml").write_text(WIDGET_MENU)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    gateway = await start_gateway(
        make_settings(
            tmp_path,
            **served_at(port),
            webchat={"allowed_origins": [origin, ORIGIN]},
            ivr={"directory": str(menus), "channels": {"webchat": "chat"}},
        ),
        port=port,
    )
    await gateway.app[USERS].add("ada", "ada-password", Role.OPERATOR, "Ada Lovelace")
    operator = await _available_operator(browser, origin, "ada")
    customer = await (await browser.new_context(viewport={"width": 1024, "height": 768})).new_page()
    await customer.goto(f"{origin}/demo")
    await customer.get_by_test_id("cg-launcher").click()
    await customer.get_by_test_id("cg-input").fill("Hello")
    await customer.get_by_test_id("cg-send").click()
    choices = customer.get_by_test_id("cg-quick-reply")
    await expect(choices).to_have_text(["Billing", "Technical help"])
    await shot(customer, "16-widget-menu")
    await expect(operator.get_by_test_id("offer")).to_have_count(0)  # still choosing
    await choices.filter(has_text="Technical help").click()
    await expect(customer.get_by_test_id("cg-message").last).to_contain_text(
        "A technician will answer you here."
    )
    await expect(choices).to_have_count(0)  # answered: the choices are gone
    offer = operator.get_by_test_id("offer")
    await expect(offer).to_have_count(1)
    await offer.get_by_test_id("offer-accept").click()
    await expect(operator.get_by_test_id("message")).to_have_count(4)
    # The menu's messages are the gateway's, shown as such: never as the operator's own.
    automatic = operator.locator('[data-testid="message"][data-automatic="true"]')
    await expect(automatic).to_have_count(2)
    await expect(automatic.first.locator(".message-author")).to_have_text("Automatic message")
    await expect(operator.get_by_test_id("conversation-preview").first).to_contain_text(
        "Automatic: A technician will answer you here."
    )
    await shot(operator, "17-console-menu-messages")
    await shot(customer, "17-widget-after-menu")
    # A reload replays the exchange without offering the old choices again.
    await customer.reload()
    await customer.get_by_test_id("cg-launcher").click()
    await expect(customer.get_by_test_id("cg-message")).to_have_count(4)
    await expect(customer.get_by_test_id("cg-quick-reply")).to_have_count(0)
