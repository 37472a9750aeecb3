"""The IVR on text channels: numbered messages, buttons, and replies back into events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.engine import (
    Ask,
    AskKind,
    Choice,
    Digits,
    Event,
    Hangup,
    Play,
    Say,
    State,
    Step,
    Text,
    Transfer,
    advance,
    start,
)
from ivr.loader import LoadedMenu, load_menu
from ivr.model import Menu
from ivr.text import Button, Buttons, buttons, numbered, parse_reply

DEMO = Path(__file__).parents[1] / "config" / "ivr" / "main.yaml"
OPEN = datetime(2026, 3, 10, 11, 0, tzinfo=ZoneInfo("America/New_York"))
CLOSED = datetime(2026, 3, 10, 23, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(scope="module")
def demo() -> Menu:
    loaded = load_menu(DEMO)
    assert isinstance(loaded, LoadedMenu), loaded
    return loaded.menu


def chat(menu: Menu, *replies: str, now: datetime = OPEN, language: str = "en") -> Step:
    """A text conversation: each reply parsed as a customer's message."""
    step = start(menu, now, {"channel": "sms", "language": language})
    for reply in replies:
        step = advance(menu, step.state, parse_reply(reply), now)
    return step


def test_the_main_menu_as_a_numbered_sms(demo: Menu) -> None:
    assert numbered(chat(demo)) == (
        "Thank you for calling Demo Telecom.\n"
        "How can we help you?\n"
        "Reply 1 for Sales, 2 for Order support, 3 for Billing, 4 for Leave a message, "
        "5 for Check an appeal, 0 for Operator or 9 for Español."
    )


def test_the_main_menu_in_spanish(demo: Menu) -> None:
    assert numbered(chat(demo, "9")) == (
        "¿Cómo podemos ayudarle?\n"
        "Responda 1 para Ventas, 2 para Ayuda con un pedido, 3 para Facturación, "
        "4 para Dejar un mensaje, 5 para Consultar una solicitud, 0 para Operador o 8 para "
        "English."
    )
    assert numbered(chat(demo, language="es")).startswith("Gracias por llamar a Demo Telecom.\n")


def test_a_question_for_digits_shows_its_written_text_and_the_way_back(demo: Menu) -> None:
    assert numbered(chat(demo, "support")) == (
        "Please reply with your order number (6 to 8 digits).\nReply * to go back."
    )
    assert numbered(chat(demo, "support", "12")) == (
        "Sorry, that is not an order number.\n"
        "Please reply with your order number (6 to 8 digits).\n"
        "Reply * to go back."
    )


def test_a_typed_order_number_reaches_the_lookup(demo: Menu) -> None:
    step = chat(demo, "2", "1234 567")
    assert step.state.node == "order-lookup"
    assert step.state.attributes["order_number"] == "1234567"
    assert numbered(step) == ""  # nothing to show while the lookup runs


def test_after_hours_a_text_customer_leaves_a_written_message(demo: Menu) -> None:
    step = chat(demo, now=CLOSED)
    assert numbered(step) == (
        "Our office is closed. We are open Monday to Friday from 8 a.m. to 8 p.m. and on "
        "Saturday from 9 a.m. to 2 p.m., Eastern Time.\n"
        "Please write your message and we will get back to you."
    )
    done = chat(demo, "My router is broken, please call me.", now=CLOSED)
    assert done.state.done and done.state.attributes["voicemail_text"] == (
        "My router is broken, please call me."
    )
    assert numbered(done) == "Thank you. We will get back to you as soon as we can. Goodbye."


def test_the_main_menu_as_buttons(demo: Menu) -> None:
    assert buttons(chat(demo)) == Buttons(
        "Thank you for calling Demo Telecom.\nHow can we help you?",
        (
            Button("Sales", "1"),
            Button("Order support", "2"),
            Button("Billing", "3"),
            Button("Leave a message", "4"),
            Button("Check an appeal", "5"),
            Button("Operator", "0"),
            Button("Español", "9"),
        ),
    )
    assert buttons(chat(demo, "support")) == Buttons(
        "Please reply with your order number (6 to 8 digits).", (Button("Back", "*"),)
    )
    assert buttons(chat(demo, "9", "2")).buttons == (Button("Volver", "*"),)


@pytest.mark.parametrize(
    ("value", "node"),
    [("1", "sales"), ("2", "order-number"), ("3", "billing"), ("4", "voicemail"),
     ("0", "operator"), ("9", "main")],
)  # fmt: skip
def test_every_button_leads_where_its_label_says(demo: Menu, value: str, node: str) -> None:
    menu_step = chat(demo)
    assert value in [b.value for b in buttons(menu_step).buttons]
    step = advance(demo, menu_step.state, parse_reply(value), OPEN)
    assert step.state.node == node


def _step(*actions: Say | Play | Ask | Transfer | Hangup, history: tuple[str, ...] = ()) -> Step:
    state = State("m", "v", "n", "en", {}, 0, history, False)
    return Step(state, actions)


def test_menus_without_their_own_text_and_keyword_only_options() -> None:
    step = _step(
        Say("Press 1 for sales.", "en", None, None),
        Ask(
            AskKind.MENU,
            "n",
            "en",
            5,
            choices=(Choice("1", "Sales", "1"), Choice(None, "Agent", "agent")),
            back=True,
        ),
    )
    assert numbered(step) == 'Reply 1 for Sales or "agent" for Agent.\nReply * to go back.'
    assert buttons(step) == Buttons(
        "Please choose:", (Button("Sales", "1"), Button("Agent", "agent"), Button("Back", "*"))
    )
    assert numbered(step, "de") == (
        'Antworten Sie 1 für Sales oder "agent" für Agent.\nAntworten Sie * für zurück.'
    )
    assert numbered(step, "fr").startswith("Reply 1 for Sales")  # English for other languages


def test_recordings_transfers_and_single_choices() -> None:
    step = _step(
        Play("https://cdn.example.com/a.mp3", "Our prices changed in May.", "en"),
        Transfer("+15551234567"),
    )
    assert numbered(step) == "Our prices changed in May.\nPlease call us at +15551234567."
    assert numbered(_step(Transfer("sip:desk@pbx.example.com"))) == ""
    one = _step(Ask(AskKind.MENU, "n", "en", 5, choices=(Choice("1", "Yes", "1"),)))
    assert numbered(one) == "Reply 1 for Yes."
    assert buttons(_step(Hangup())) == Buttons("", ())


@pytest.mark.parametrize(
    ("reply", "event"),
    [
        ("1", Digits("1")),
        (" 2 ", Digits("2")),
        ("1.", Digits("1")),
        ("(3)", Digits("3")),
        ("*", Digits("*")),
        ("#", Digits("#")),
        ("123 456", Digits("123456")),
        ("123-456#", Digits("123456#")),
        ("sales", Text("sales")),
        ("Ventas", Text("Ventas")),
        ("  I need help with my bill ", Text("I need help with my bill")),
        ("1 please", Text("1 please")),
        ("", Text("")),
        ("?", Text("?")),
    ],
)
def test_parse_reply(reply: str, event: Event) -> None:
    assert parse_reply(reply) == event


@pytest.mark.parametrize(
    ("replies", "node"),
    [
        (["sales"], "sales"),
        (["Ventas"], "sales"),
        (["factura"], "billing"),
        (["I have a question about my invoice"], "billing"),
        (["0"], "operator"),
        (["2", "*"], "main"),
        (["2", "back"], "main"),
        (["#"], "main"),
        (["pizza"], "main"),
        (["9", "ayuda"], "order-number"),
    ],
)
def test_replies_drive_the_menu(demo: Menu, replies: list[str], node: str) -> None:
    assert chat(demo, *replies).state.node == node
