"""The IVR on text channels: an engine step as a message, and a customer's reply as an event.

Why: SMS, WhatsApp, Telegram and web chat run the same menu as the phone line, but "press 1"
means nothing in a chat. Text channels show each Say's ``written`` text (a menu's spoken prompt
is replaced by its options), a recording's fallback text, and the menu's choices either as a
numbered list (``numbered``: SMS, WhatsApp) or as buttons (``buttons``: Telegram inline
keyboards, web chat quick replies). ``parse_reply`` turns what the customer sends back into the
event the engine expects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.engine import (
    Ask,
    AskKind,
    Choice,
    Digits,
    Event,
    Play,
    Say,
    Step,
    Text,
    Transfer,
)
from ivr.model import BACK_KEY


@dataclass(frozen=True, slots=True)
class _Words:
    reply: str  # "Reply 1 for Sales, 2 for Support or 3 for Billing."
    for_: str
    or_: str
    back: str
    back_button: str
    choose: str  # the text above buttons when the menu has no text of its own
    call: str


# The few words the renderer adds around the menu's own texts; other languages use English.
VOCABULARY: dict[str, _Words] = {
    "en": _Words(
        "Reply", "for", "or", "Reply * to go back.", "Back", "Please choose:",
        "Please call us at {target}.",
    ),
    "es": _Words(
        "Responda", "para", "o", "Responda * para volver.", "Volver", "Elija una opción:",
        "Llámenos al {target}.",
    ),
    "de": _Words(
        "Antworten Sie", "für", "oder", "Antworten Sie * für zurück.", "Zurück",
        "Bitte wählen Sie:", "Bitte rufen Sie uns unter {target} an.",
    ),
}  # fmt: skip

_REPLY_DIGITS = re.compile(r"[0-9*#]+")
_EDGES = " \t\r\n.,;:!?()[]\"'"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    value: str  # what the button sends back; parse_reply understands it


@dataclass(frozen=True, slots=True)
class Buttons:
    """A message with buttons: ``text`` above, ``buttons`` in menu order (empty when the step
    asks for no choice)."""

    text: str
    buttons: tuple[Button, ...]


def _vocabulary(language: str) -> _Words:
    return VOCABULARY.get(language, VOCABULARY["en"])


def _lines(step: Step, words: _Words) -> list[str]:
    """What the step says, as text: written Says, recordings' fallback texts, transfers."""
    lines: list[str] = []
    for action in step.actions:
        if isinstance(action, Say) and action.written:
            lines.append(action.written)
        elif isinstance(action, Play) and action.fallback_text:
            lines.append(action.fallback_text)
        elif isinstance(action, Transfer) and action.target.startswith("+"):
            lines.append(words.call.format(target=action.target))
    return lines


def _ask(step: Step) -> Ask | None:
    return next((a for a in step.actions if isinstance(a, Ask)), None)


def _choice_text(choice: Choice, words: _Words) -> str:
    reply = choice.reply if choice.key is not None else f'"{choice.reply}"'
    return f"{reply} {words.for_} {choice.label}"


def numbered(step: Step, language: str | None = None) -> str:
    """The step as one message for SMS or WhatsApp: its texts, then "Reply 1 for Sales, 2 for
    Support or 0 for Operator." (and how to go back). Empty when there is nothing to say."""
    words = _vocabulary(language or step.state.language)
    lines = _lines(step, words)
    ask = _ask(step)
    if ask is not None and ask.kind == AskKind.MENU and ask.choices:
        items = [_choice_text(c, words) for c in ask.choices]
        listed = items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {words.or_} {items[-1]}"
        lines.append(f"{words.reply} {listed}.")
    if ask is not None and ask.back:
        lines.append(words.back)
    return "\n".join(lines)


def buttons(step: Step, language: str | None = None) -> Buttons:
    """The step as a text with buttons (Telegram inline keyboard, web chat quick replies)."""
    words = _vocabulary(language or step.state.language)
    ask = _ask(step)
    found: list[Button] = []
    if ask is not None and ask.kind == AskKind.MENU:
        found = [Button(c.label, c.reply) for c in ask.choices]
    if ask is not None and ask.back:
        found.append(Button(words.back_button, BACK_KEY))
    text = "\n".join(_lines(step, words))
    if not text and found:
        text = words.choose
    return Buttons(text, tuple(found))


def parse_reply(text: str) -> Event:
    """A customer's reply as an engine event: only digits, '*' and '#' (spaces and dashes
    allowed, as in "123 456") are keys pressed; anything else is words to match."""
    compact = re.sub(r"[\s-]+", "", text.strip(_EDGES))
    if _REPLY_DIGITS.fullmatch(compact):
        return Digits(compact)
    return Text(text.strip())
