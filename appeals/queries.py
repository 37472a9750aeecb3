"""Recognising "what is the status of my appeal?" in whatever a customer sends.

Why pure and strict: the same question arrives as a Telegram command (``/status 123456789``,
``/status@DemoBot 123-456-789``), as words on SMS, WhatsApp or web chat ("status 123 456 789",
"статус 123456789", "estado 123456789", "Stand meines Anliegens 123456789"), as a message that
is only a reference number, or as an email whose subject carries the number of an appeal
("Re: Appeal 123-456-789 registered"). A message that merely contains some number (a phone
number, a 6-digit order, an amount) is a message for the team, never a status question, so
the words around the number must be the question's words and nothing else.

A number of 9 digits with a wrong check digit is still a question with a number: it finds
nothing, exactly like someone else's number, so nobody learns which numbers exist.
"""

# ruff: noqa: RUF001 (the words are in the languages customers write, Cyrillic too)

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from appeals.numbers import find_reference, parse_reference

# How far a subject question's body may go: a short line ("Any news?") asks about the
# appeal; a longer mail is a message for whoever handles it.
SHORT_BODY = 160


class QueryKind(StrEnum):
    COMMAND = "command"  # /status, /статус, /estado (Telegram, also typed elsewhere)
    WORDS = "words"  # "status 123 456 789", "what is the status of my appeal 123456789?"
    NUMBER = "number"  # only a reference number, maybe with its label ("Appeal 123-456-789")
    SUBJECT = "subject"  # an email whose subject names the appeal


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """A status question. ``number``: the 9 digits given (None: asked without a number);
    ``reference``: the same when its check digit is right (None: it can find nothing).
    ``pure``: the message is the question and nothing else (so no operator needs to see it).
    ``language``: the language the question's words are in, when they tell."""

    kind: QueryKind
    number: str | None
    reference: str | None
    pure: bool
    language: str | None = None

    @property
    def has_number(self) -> bool:
        return self.number is not None


# -- vocabulary ------------------------------------------------------------------------------

# The word that asks, per language ("status" is also German).
_ASK_WORDS = {
    "en": ("status", "state"),
    "ru": ("статус", "состояние"),
    "es": ("estado",),
    "de": ("stand", "bearbeitungsstand", "sachstand"),
}
# Words between the asking word and the number: "of my appeal", "обращения №", "de mi
# solicitud", "meines Anliegens Nr.".
_FILLER = {
    "en": "of|my|the|appeal|request|complaint|case|ticket|number|no|nr|for|on|about",
    "ru": "моего|моей|мое|моё|обращения|обращение|заявки|заявка|жалобы|номер|по|№",
    "es": "de|del|la|el|mi|solicitud|reclamacion|reclamación|caso|numero|número|nº|no|n",
    "de": "meines|meiner|mein|des|der|die|zum|zu|anliegens|anliegen|vorgangs|vorgang|antrags"
    "|antrag|nummer|nr|von|fur|für",
}
# Labels a bare number may carry: "Appeal 123-456-789", "Обращение №123456789".
_LABELS = {
    "en": "my|appeal|request|complaint|case|ticket|number|no|nr",
    "ru": "мое|моё|обращение|обращения|заявка|номер|№",
    "es": "mi|solicitud|reclamacion|reclamación|caso|numero|número|nº|no|n",
    "de": "mein|anliegen|vorgang|vorgangsnummer|antrag|nummer|nr",
}
# Openings of a question: "what is the", "¿cuál es el", "wie ist der", "какой".
_OPENINGS = (
    r"what\s+is\s+the|what'?s\s+the|whats\s+the|check(?:\s+the)?|show(?:\s+me)?(?:\s+the)?"
    r"|какой|каков|узнать|проверить|покажите"
    r"|cual\s+es\s+el|cuál\s+es\s+el|consultar(?:\s+el)?|ver(?:\s+el)?"
    r"|wie\s+ist\s+der(?:\s+aktuelle)?|was\s+ist\s+der(?:\s+aktuelle)?"
)
_GREETINGS = (
    r"hi|hello|hey|good\s+(?:morning|afternoon|evening)"
    r"|привет|здравствуйте|добрый\s+день"
    r"|hola|buenos\s+d[ií]as|buenas\s+tardes"
    r"|hallo|guten\s+tag|guten\s+morgen|moin"
)
_PLEASE = r"please|pls|thanks|thank\s+you|пожалуйста|спасибо|por\s+favor|gracias|bitte|danke"
# Words of an email body that ask about the appeal named in the subject.
_NEWS_WORDS = re.compile(
    r"\b(status|state|news|update|updates|progress|статус|состояние|новости|новое|estado"
    r"|novedades|noticias|stand|neuigkeiten|neues)\b",
    re.IGNORECASE,
)
# Words that name an appeal next to a number in a subject ("Appeal 123-456-780").
_SUBJECT_LABEL = (
    r"appeal|request|complaint|case|ticket|обращение|обращения|обращению|заявка|заявки"
    r"|solicitud|reclamaci[oó]n|caso|anliegen|anliegens|vorgang|vorgangs|antrag"
)

# Nine digits, one space, dot or dash at most between two of them, not part of a longer
# number; an optional '#', '№' or "No." before.
_NUMBER = r"(?<![\d+])(?<!\d[ .\-])(?P<number>\d(?:[ .\-]?\d){8})(?![ .\-]?\d)"
_MARK = r"(?:(?:#|№|nº|no\.|nr\.)\s*)?"
_EDGE = r"[\s.,;:!?¿¡()\[\]\"'«»“”„-]*"
_EDGE_CHARS = " \t\r\n.,;:!?¿¡()[]\"'«»“”„-"


def _words(table: dict[str, str] | dict[str, tuple[str, ...]]) -> str:
    out: list[str] = []
    for value in table.values():
        out += value.split("|") if isinstance(value, str) else list(value)
    return "|".join(sorted({re.escape(w) for w in out}, key=len, reverse=True))


_ASK = _words(_ASK_WORDS)
_FILL = _words(_FILLER)
_LABEL = _words(_LABELS)

_COMMAND = re.compile(
    r"/(?P<command>status|статус|estado|stand)(?:@[a-z0-9_]{1,64})?(?![\w])(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)
_WORDS_FORM = re.compile(
    rf"{_EDGE}(?:(?:{_GREETINGS}){_EDGE})?(?:(?:{_OPENINGS})\s+)?(?P<ask>{_ASK})"
    rf"(?:{_EDGE}(?:{_FILL})(?![\w]))*{_EDGE}{_MARK}(?:{_NUMBER})?"
    rf"(?:{_EDGE}(?:{_PLEASE}))?{_EDGE}",
    re.IGNORECASE,
)
_NUMBER_FORM = re.compile(
    rf"{_EDGE}(?:(?:{_GREETINGS}){_EDGE})?(?:(?:{_LABEL})(?![\w]){_EDGE})*{_MARK}{_NUMBER}"
    rf"(?:{_EDGE}(?P<ask>{_ASK}))?(?:{_EDGE}(?:{_PLEASE}))?{_EDGE}",
    re.IGNORECASE,
)
_COMMAND_REST = re.compile(
    rf"{_EDGE}(?:(?:{_LABEL}|{_FILL})(?![\w]){_EDGE})*{_MARK}{_NUMBER}{_EDGE}", re.IGNORECASE
)
_ANY_NUMBER = re.compile(_NUMBER)
_APPEAL_WORD = re.compile(rf"(?<![\w])(?:{_SUBJECT_LABEL})(?![\w])", re.IGNORECASE)
_SUBJECT_NUMBER = re.compile(rf"(?:{_SUBJECT_LABEL})(?![\w])\s*{_MARK}{_NUMBER}", re.IGNORECASE)

_WORD_LANGUAGE = {w: lang for lang, words in _ASK_WORDS.items() for w in words if w != "status"}
_COMMAND_LANGUAGE = {"статус": "ru", "estado": "es", "stand": "de"}


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _query(kind: QueryKind, number: str | None, pure: bool, language: str | None) -> StatusQuery:
    digits = _digits(number) if number else None
    reference = parse_reference(digits) if digits else None
    return StatusQuery(kind, digits, reference, pure, language)


def _language_of(word: str | None, text: str) -> str | None:
    """The language the question is asked in, when its words tell ("status" does not: it is
    English and German alike)."""
    if word:
        found = _WORD_LANGUAGE.get(word.casefold())
        if found:
            return found
    if re.search(r"[а-яё]", text, re.IGNORECASE):
        return "ru"
    lowered = f" {text.casefold()} "
    if re.search(r"\b(mi|solicitud|de la|del|reclamaci[oó]n|cu[aá]l)\b", lowered):
        return "es"
    if re.search(r"\b(meines|meiner|anliegens?|vorgangs?|wie ist|stand)\b", lowered):
        return "de"
    return None


def _in_text(text: str, *, whole: bool) -> StatusQuery | None:
    command = _COMMAND.fullmatch(text.strip())
    if command is not None:
        rest = command.group("rest")
        number = _COMMAND_REST.fullmatch(rest)
        language = _COMMAND_LANGUAGE.get(command.group("command").casefold())
        if number is not None:
            return _query(QueryKind.COMMAND, number.group("number"), whole, language)
        loose = _ANY_NUMBER.search(rest)
        found = loose.group("number") if loose else None
        return _query(QueryKind.COMMAND, found, whole and not rest.strip(_EDGE_CHARS), language)
    asked = _WORDS_FORM.fullmatch(text)
    if asked is not None:
        # Without a number, "status please" may be about an order or a payment: only a
        # question that names an appeal ("the status of my appeal?") is one for us.
        if asked.group("number") is None and _APPEAL_WORD.search(text) is None:
            return None
        language = _language_of(asked.group("ask"), text)
        return _query(QueryKind.WORDS, asked.group("number"), whole, language)
    bare = _NUMBER_FORM.fullmatch(text)
    if bare is not None:
        language = _language_of(bare.group("ask"), text)
        return _query(QueryKind.NUMBER, bare.group("number"), whole, language)
    return None


def status_query(
    text: str, subject: str | None = None, *, attachments: bool = False
) -> StatusQuery | None:
    """The status question in a customer's message, or None when it is none.

    ``text`` is what the customer wrote (an email's new part, quotes removed); ``subject`` an
    email's subject; ``attachments`` whether files came with it (a message with files is never
    only a question)."""
    text = text.strip()
    found: StatusQuery | None = None
    if len(text) <= 500:
        found = _in_text(text, whole=not attachments)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if found is None and len(lines) > 1:  # "status 123456789" above a signature
            first = _in_text(lines[0], whole=False)
            found = first if first is not None and first.has_number else None
    if found is not None and found.has_number:
        return found
    # "status?" in the body of a reply: the subject names the appeal.
    named = _in_subject(subject, text) if subject and not attachments else None
    return named or found


def _in_subject(subject: str, body: str) -> StatusQuery | None:
    """An email about an appeal it names in its subject, whose own text is empty or a short
    question about it ("Any news?", "¿Novedades?")."""
    flat = " ".join(body.split())
    if len(flat) > SHORT_BODY:
        return None
    if flat and not (_NEWS_WORDS.search(flat) or flat.endswith("?")):
        return None
    language = _language_of(None, subject)
    reference = find_reference(subject)
    if reference is not None:
        return StatusQuery(QueryKind.SUBJECT, reference, reference, True, language)
    labelled = _SUBJECT_NUMBER.search(subject)
    if labelled is not None:
        return _query(QueryKind.SUBJECT, labelled.group("number"), True, language)
    return None
