"""What the IVR engine and its callers say to each other: the actions it asks for (say,
ask, record, look up, enqueue...), the events that answer them, and the session state that is
stored between webhooks.

Why a module of their own: renderers (TwiML, text, buttons) and the channel adapters use these
types without needing the engine's rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

STATE_FORMAT = 1


# -- what the engine asks its caller to do -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text``; text channels show ``written`` instead (None: show nothing, e.g. a
    menu's spoken prompt, which the numbered options replace)."""

    text: str
    language: str
    voice: str | None = None
    written: str | None = None


@dataclass(frozen=True, slots=True)
class Play:
    """Play a recording; text channels show ``fallback_text``."""

    url: str
    fallback_text: str
    language: str


class AskKind(StrEnum):
    MENU = "menu"
    DIGITS = "digits"


@dataclass(frozen=True, slots=True)
class Choice:
    """One menu option as channels show it: the key to press (None for a keyword-only
    option), its label, and the reply a button sends back (the key, else the first word)."""

    key: str | None
    label: str
    reply: str


@dataclass(frozen=True, slots=True)
class Ask:
    """Wait for an answer (after the Say actions before it). ``kind`` menu: one key or a
    keyword (``choices``; ``hints`` are the keywords, for speech recognition); digits: between
    ``min_digits`` and ``max_digits`` digits ended by ``finish_on_key``. ``back``: '*' leads
    to a previous menu; ``repeat``: '#' says the menu again."""

    kind: AskKind
    node: str
    language: str
    timeout_seconds: float
    choices: tuple[Choice, ...] = ()
    hints: tuple[str, ...] = ()
    min_digits: int = 1
    max_digits: int = 1
    finish_on_key: str = ""
    back: bool = False
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    """Record a message; the answer is a RecordingDone event (or Timeout: nothing recorded)."""

    node: str
    max_length_seconds: int
    timeout_seconds: float
    finish_on_key: str
    transcribe: bool


@dataclass(frozen=True, slots=True)
class Lookup:
    """Call an external HTTP API (JSON) and answer with a LookupResult event; a timeout or
    an error is ``LookupResult(ok=False)``."""

    node: str
    url: str
    method: Literal["GET", "POST"]
    timeout_seconds: float
    body: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AppealStatus:
    """Find the caller's appeal with this number and say its status; the answer is an
    AppealAnswer event (found, not_found, limited or failed)."""

    node: str
    reference_digits: str
    language: str


@dataclass(frozen=True, slots=True)
class OpenAppeal:
    """Open an appeal of ``topic`` for the caller; the answer is an AppealAnswer event
    (opened, with what to say, or failed). ``fields`` and ``summary`` are filled already."""

    node: str
    topic: str
    language: str
    priority: str | None = None
    fields: Mapping[str, str] | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Hand the contact to routing. ``queue`` None: the routing rules choose from the
    attributes. ``priority`` and ``skills`` are what the menu set (also in the attributes,
    as text: ``priority`` "5", ``skills`` "tech,billing")."""

    attributes: Mapping[str, str]
    queue: str | None = None
    priority: int | None = None
    skills: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transfer:
    """Connect the call to ``target``: an E.164 number or a sip: address."""

    target: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call (on text channels: the menu is over)."""


Action = (
    Say | Play | Ask | Record | Lookup | AppealStatus | OpenAppeal | Enqueue | Transfer | Hangup
)
# Actions the gateway answers before rendering (the engine does no I/O): the result goes back
# to the engine as an event in the same request.
Pending = Lookup | AppealStatus | OpenAppeal


# -- what happens to the engine ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Digits:
    """Keys pressed (DTMF), or a text reply of only digits, '*' and '#'."""

    digits: str


@dataclass(frozen=True, slots=True)
class Text:
    """Words typed or spoken (speech recognition); matched against keywords and keys."""

    text: str


@dataclass(frozen=True, slots=True)
class Timeout:
    """No answer in time (or nothing recorded)."""


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The external system's answer: ``ok`` with its JSON object, or a failure."""

    ok: bool
    data: Mapping[str, Any] | None = None


class AppealOutcome(StrEnum):
    FOUND = "found"  # the caller's appeal: its status is said
    NOT_FOUND = "not_found"  # unknown, someone else's, or a wrong check digit: one answer
    LIMITED = "limited"  # too many numbers that found nothing: try again later
    OPENED = "opened"  # a new appeal (or the one this choice opened before)
    FAILED = "failed"  # the appeals desk could not answer (not running, an error)


@dataclass(frozen=True, slots=True)
class AppealAnswer:
    """The appeals desk's answer to AppealStatus or OpenAppeal: the outcome, what to say on
    the phone (``spoken``) and on text channels (``written``), and attributes to keep (such as
    ``appeal_reference`` and ``appeal_status``)."""

    outcome: AppealOutcome
    spoken: str = ""
    written: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordingDone:
    url: str
    duration_seconds: float
    transcription: str | None = None


Event = Digits | Text | Timeout | LookupResult | RecordingDone | AppealAnswer


# -- the session --------------------------------------------------------------------------


def frozen_mapping(attributes: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(attributes))


@dataclass(frozen=True)
class State:
    """Where a session is: the node it waits at, its language and attributes, failed answers
    at this node, the menus it came through (for '*'), and whether it is over. Plain data, so
    it survives in a database between webhooks and across gateway restarts."""

    menu_id: str
    version: str
    node: str
    language: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0
    history: tuple[str, ...] = ()
    done: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", frozen_mapping(self.attributes))

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "menu_id": self.menu_id,
                "version": self.version,
                "node": self.node,
                "language": self.language,
                "attributes": dict(self.attributes),
                "retries": self.retries,
                "history": list(self.history),
                "done": self.done,
            },
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> State:
        """The state :meth:`to_json` wrote; ValueError for anything else."""
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("not an IVR session state")
        texts = ("menu_id", "version", "node", "language")
        attributes, history = data.get("attributes"), data.get("history")
        if (
            not all(isinstance(data.get(k), str) for k in texts)
            or not isinstance(attributes, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
            or not isinstance(history, list)
            or not all(isinstance(h, str) for h in history)
            or type(data.get("retries")) is not int
            or type(data.get("done")) is not bool
        ):
            raise ValueError("IVR session state has missing or mistyped fields")
        return cls(
            data["menu_id"],
            data["version"],
            data["node"],
            data["language"],
            attributes,
            data["retries"],
            tuple(history),
            data["done"],
        )


@dataclass(frozen=True, slots=True)
class Step:
    """The engine's answer: the state to store and the actions to render. ``note`` says why
    the engine did something unusual (an ignored event, a runaway chain), for the log."""

    state: State
    actions: tuple[Action, ...]
    note: str | None = None
