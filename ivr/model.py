"""The IVR menu an admin writes in YAML (config/ivr/*.yaml), as one typed model.

Why one model for every channel: the same menu answers a phone call and an SMS, WhatsApp,
Telegram or web chat conversation, so the model says what to ask and where each answer leads,
not how a channel shows it. Prompts are per language; option labels and keywords let the text
channels show buttons and understand "sales" as well as "1".

Pydantic checks the shape (unknown kinds and fields are refused); ivr.validate checks the
meaning (references, reachability, loops, translations). ``Problem`` is how both report.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from ivr.hours import Calendar

ATTRIBUTE = re.compile(r"[a-z_][a-z0-9_]{0,63}")
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
LANGUAGE = re.compile(r"[a-z]{2,3}")
MENU_KEYS = frozenset("0123456789")
BACK_KEY = "*"
REPEAT_KEY = "#"

# Texts the engine needs when a menu does not give its own (``messages`` or a node's field).
BUILTIN_MESSAGES: dict[str, dict[str, str]] = {
    "invalid": {
        "en": "Sorry, that is not one of the choices.",
        "es": "Lo siento, esa no es una de las opciones.",
        "de": "Das ist leider keine der Möglichkeiten.",
    },
    "timeout": {
        "en": "Sorry, we did not get an answer.",
        "es": "Lo siento, no recibimos ninguna respuesta.",
        "de": "Wir haben leider keine Antwort erhalten.",
    },
    "goodbye": {
        "en": "Thank you for calling. Goodbye.",
        "es": "Gracias por su llamada. Adiós.",
        "de": "Vielen Dank für Ihren Anruf. Auf Wiederhören.",
    },
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a menu file, with where to look: file, node (None for the menu's
    own fields) and line (None when the file could not be read at all)."""

    file: str
    node: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        node = f" node {self.node!r}:" if self.node is not None else ""
        return f"{where}:{node} {self.message}"


def _scalar(value: Any) -> Any:
    # YAML reads 2024 or 1.5 as numbers; in a text field they are text.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _prompt(value: Any) -> str | dict[str, str]:
    value = _scalar(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        texts = {k: _scalar(v) for k, v in value.items()}
        if all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items()):
            return texts
    raise ValueError("a prompt is a text, or a mapping of language to text ({en: ..., es: ...})")


def _words(value: Any) -> tuple[str, ...] | dict[str, tuple[str, ...]]:
    def word_list(items: Any) -> tuple[str, ...]:
        items = _scalar(items)
        if isinstance(items, str):
            return (items,)
        if isinstance(items, list | tuple):
            words = [_scalar(i) for i in items]
            if all(isinstance(w, str) for w in words):
                return tuple(words)
        raise ValueError(
            "words are a list of texts, or a mapping of language to a list of texts "
            '(quote words YAML reads as something else, such as "no" or "on")'
        )

    if isinstance(value, dict):
        return {str(k): word_list(v) for k, v in value.items()}
    return word_list(value)


# A text per language ({en: ..., es: ...}), or one text for a menu with one language.
Prompt = Annotated[str | dict[str, str], BeforeValidator(_prompt)]
# Keywords per language, or one list for a menu with one language.
Words = Annotated[tuple[str, ...] | dict[str, tuple[str, ...]], BeforeValidator(_words)]


def text_in(prompt: str | dict[str, str] | None, language: str, default: str) -> str | None:
    """The prompt's text in ``language``, else in the menu's ``default`` language."""
    if prompt is None or isinstance(prompt, str):
        return prompt
    return prompt.get(language, prompt.get(default))


def words_in(words: tuple[str, ...] | dict[str, tuple[str, ...]], language: str) -> tuple[str, ...]:
    return words if isinstance(words, tuple) else words.get(language, ())


def all_words(words: tuple[str, ...] | dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    if isinstance(words, tuple):
        return words
    return tuple(w for group in words.values() for w in group)


def normalize(text: str) -> str:
    """Text as keywords are compared: case and accents folded, punctuation dropped, single
    spaces (so "Español!" and "espanol" match)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w*#]+", " ", plain).split())


class NodeKind(StrEnum):
    MENU = "menu"
    SAY = "say"
    PLAY = "play"
    GATHER = "gather"
    SET = "set"
    HOURS = "hours"
    LOOKUP = "lookup"
    VOICEMAIL = "voicemail"
    QUEUE = "queue"
    TRANSFER = "transfer"
    HANGUP = "hangup"
    APPEAL_STATUS = "appeal_status"
    APPEAL = "appeal"


# Nodes that wait for the caller (or end the session): a loop must pass through one of these.
WAITING_KINDS = frozenset(
    {NodeKind.MENU, NodeKind.GATHER, NodeKind.VOICEMAIL, NodeKind.APPEAL_STATUS}
)
TERMINAL_KINDS = frozenset({NodeKind.QUEUE, NodeKind.TRANSFER, NodeKind.HANGUP})

Link = tuple[tuple[str | int, ...], str]  # (where in the node, target node id)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class _Node(_Model):
    def links(self) -> tuple[Link, ...]:
        """The nodes this one can lead to, with the field that names each."""
        return ()


class AskingNode(_Node):
    """What every node that waits for an answer shares: how long to wait, how often to ask
    again, what to say after a bad or missing answer, where to go when patience runs out."""

    prompt: Prompt
    # What text channels show instead of the spoken prompt ("Reply with ..." rather than
    # "press ..."); a menu without it shows only its numbered options.
    text: Prompt | None = None
    timeout_seconds: float = Field(default=8, gt=0, le=300)
    retries: int = Field(default=3, ge=0, le=10)  # asks again this often after a bad answer
    invalid: Prompt | None = None
    timeout: Prompt | None = None
    on_exhausted: str | None = None  # default: the menu's fallback, else goodbye and hang up
    back: bool = True  # '*' returns to the previous menu

    def links(self) -> tuple[Link, ...]:
        return ((("on_exhausted",), self.on_exhausted),) if self.on_exhausted else ()


class Announce(_Model):
    """Said after the menu's prompt in another language and voice, to callers not already in
    that language ("Para español, oprima nueve")."""

    language: str
    text: str


class Option(_Model):
    key: str | None = None  # one digit 0-9
    words: Words = ()  # keywords that choose it on speech and text channels
    label: Prompt | None = None  # the button or list text on text channels
    announce: Announce | None = None
    next: str


class MenuNode(AskingNode):
    kind: Literal[NodeKind.MENU]
    options: tuple[Option, ...] = Field(min_length=1)
    repeat: bool = True  # '#' says the menu again

    def links(self) -> tuple[Link, ...]:
        return (
            *((("options", i, "next"), o.next) for i, o in enumerate(self.options)),
            *super().links(),
        )


class GatherNode(AskingNode):
    kind: Literal[NodeKind.GATHER]
    min_digits: int = Field(default=1, ge=1, le=64)
    max_digits: int = Field(default=20, ge=1, le=64)
    pattern: str | None = None  # a regular expression the whole answer must match
    finish_on_key: Literal["#", "*", ""] = "#"
    into: str  # the contact attribute that keeps the answer
    next: str

    def links(self) -> tuple[Link, ...]:
        return ((("next",), self.next), *super().links())


class SayNode(_Node):
    kind: Literal[NodeKind.SAY]
    prompt: Prompt
    text: Prompt | None = None
    next: str

    def links(self) -> tuple[Link, ...]:
        return ((("next",), self.next),)


class PlayNode(_Node):
    kind: Literal[NodeKind.PLAY]
    url: str
    text: Prompt  # what text channels show instead of the recording
    next: str

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if not re.fullmatch(r"https?://\S+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    def links(self) -> tuple[Link, ...]:
        return ((("next",), self.next),)


class SetNode(_Node):
    """Sets contact attributes for routing; ``language`` also switches the prompts."""

    kind: Literal[NodeKind.SET]
    language: str | None = None
    topic: str | None = None
    priority: int | None = Field(default=None, ge=0, le=100)
    skills: tuple[str, ...] | None = None
    attributes: dict[str, str] = {}
    next: str

    def links(self) -> tuple[Link, ...]:
        return ((("next",), self.next),)


class HoursNode(_Node):
    kind: Literal[NodeKind.HOURS]
    calendar: str
    open: str
    closed: str
    holiday: str | None = None  # default: the same as closed

    def links(self) -> tuple[Link, ...]:
        links: list[Link] = [(("open",), self.open), (("closed",), self.closed)]
        if self.holiday:
            links.append((("holiday",), self.holiday))
        return tuple(links)


class LookupNode(_Node):
    """Asks an external system (an HTTP JSON API) and keeps fields of its answer. ``url`` and
    ``body`` may name attributes as ``{order_number}``; ``into`` maps attribute ← field
    (dotted for nested fields). The engine does no I/O: it asks its caller to do it."""

    kind: Literal[NodeKind.LOOKUP]
    url: str
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, str] = {}  # sent as JSON with POST
    timeout_seconds: float = Field(default=3, gt=0, le=30)
    into: dict[str, str] = {}
    next: str
    fallback: str  # on a timeout, an error, or an answer without the fields

    def links(self) -> tuple[Link, ...]:
        return ((("next",), self.next), (("fallback",), self.fallback))


class AppealStatusNode(AskingNode):
    """Asks for an appeal's number (9 digits: keys on the phone, typed on text channels) and
    says its status. The engine does no I/O: it asks its caller (the appeals desk) for the
    answer, as for a lookup. A number that finds nothing (unknown, someone else's, a wrong
    check digit) is said so and leads to ``retry`` (default: this node asks again); after
    ``max_tries`` of them, or when the asker is rate-limited or the desk cannot answer, to
    ``fallback``."""

    kind: Literal[NodeKind.APPEAL_STATUS]
    finish_on_key: Literal["#", "*", ""] = "#"
    into: str = "appeal_reference"  # the attribute that keeps the number asked about
    max_tries: int = Field(default=3, ge=1, le=10)
    next: str  # after the status was said
    retry: str | None = None
    fallback: str

    def links(self) -> tuple[Link, ...]:
        links: list[Link] = [(("next",), self.next)]
        if self.retry:
            links.append((("retry",), self.retry))
        links.append((("fallback",), self.fallback))
        return (*links, *super().links())


class AppealNode(_Node):
    """Opens an appeal of ``topic`` (the topics file's name) for the caller or texter, with
    fields and a summary filled from attributes (``{account}``), and says its number (digit
    by digit on the phone). Like a lookup, the appeals desk does it and the menu goes on at
    ``next``, or at ``fallback`` when the appeal could not be opened."""

    kind: Literal[NodeKind.APPEAL]
    topic: str
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    prompt: Prompt | None = None  # said before the appeal is opened (optional)
    text: Prompt | None = None
    fields: dict[str, str] = {}  # the topic's field -> a text with {attributes}
    summary: str | None = None  # a text with {attributes}
    next: str
    fallback: str

    def links(self) -> tuple[Link, ...]:
        return ((("next",), self.next), (("fallback",), self.fallback))


class VoicemailNode(_Node):
    kind: Literal[NodeKind.VOICEMAIL]
    prompt: Prompt
    text: Prompt | None = None
    max_length_seconds: int = Field(default=120, ge=1, le=3600)
    timeout_seconds: float = Field(default=5, gt=0, le=60)  # silence that ends the recording
    finish_on_key: Literal["#", "*", ""] = "#"
    transcribe: bool = False
    next: str

    def links(self) -> tuple[Link, ...]:
        return ((("next",), self.next),)


class QueueNode(_Node):
    """Hands the contact to routing with its attributes; the routing rules pick the queue
    unless ``queue`` names one."""

    kind: Literal[NodeKind.QUEUE]
    prompt: Prompt | None = None
    text: Prompt | None = None
    queue: str | None = None
    topic: str | None = None
    priority: int | None = Field(default=None, ge=0, le=100)
    skills: tuple[str, ...] | None = None


class TransferNode(_Node):
    kind: Literal[NodeKind.TRANSFER]
    prompt: Prompt | None = None
    text: Prompt | None = None
    target: str  # E.164 (+15551234567) or a SIP address (sip:desk@pbx.example.com)


class HangupNode(_Node):
    kind: Literal[NodeKind.HANGUP]
    prompt: Prompt | None = None
    text: Prompt | None = None


Node = Annotated[
    MenuNode
    | GatherNode
    | SayNode
    | PlayNode
    | SetNode
    | HoursNode
    | LookupNode
    | VoicemailNode
    | QueueNode
    | TransferNode
    | HangupNode
    | AppealStatusNode
    | AppealNode,
    Field(discriminator="kind"),
]

NODE_MODELS: dict[NodeKind, type[_Node]] = {
    NodeKind.MENU: MenuNode,
    NodeKind.GATHER: GatherNode,
    NodeKind.SAY: SayNode,
    NodeKind.PLAY: PlayNode,
    NodeKind.SET: SetNode,
    NodeKind.HOURS: HoursNode,
    NodeKind.LOOKUP: LookupNode,
    NodeKind.VOICEMAIL: VoicemailNode,
    NodeKind.QUEUE: QueueNode,
    NodeKind.TRANSFER: TransferNode,
    NodeKind.HANGUP: HangupNode,
    NodeKind.APPEAL_STATUS: AppealStatusNode,
    NodeKind.APPEAL: AppealNode,
}


class Messages(_Model):
    """The menu's own texts for what the engine says by itself (else BUILTIN_MESSAGES)."""

    invalid: Prompt | None = None
    timeout: Prompt | None = None
    goodbye: Prompt | None = None


class Menu(_Model):
    id: str
    description: str = ""
    languages: tuple[str, ...] = Field(min_length=1)  # the first is the default
    voice: dict[str, str] = {}  # text-to-speech voice per language, e.g. Polly.Joanna
    start: str
    fallback: str | None = None  # where a caller goes when an answer node runs out of retries
    messages: Messages = Messages()
    hours: dict[str, Calendar] = {}
    nodes: dict[str, Node] = Field(min_length=1)

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @cached_property
    def version(self) -> str:
        """A short hash of the menu's content; a session remembers the version it ran on."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def message(self, name: Literal["invalid", "timeout", "goodbye"], language: str) -> str:
        """The menu's text for ``name`` in ``language``, else the built-in one, else English."""
        own = text_in(getattr(self.messages, name), language, self.default_language)
        builtin = BUILTIN_MESSAGES[name]
        return own or builtin.get(language) or builtin["en"]

    def links(self) -> tuple[tuple[str | None, tuple[str | int, ...], str], ...]:
        """Every reference to a node: (from node or None for the menu, field, target)."""
        out: list[tuple[str | None, tuple[str | int, ...], str]] = [(None, ("start",), self.start)]
        if self.fallback:
            out.append((None, ("fallback",), self.fallback))
        for node_id, node in self.nodes.items():
            out += [(node_id, field, target) for field, target in node.links()]
        return tuple(out)
