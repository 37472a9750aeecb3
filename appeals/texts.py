"""What customers read and hear about their appeals, per language: the names of the statuses,
the answer to "what is the status of my appeal", and the notices (registered, resolved).

Why one module: the same words answer a Telegram command, an SMS, an email, a web chat and a
phone call, and the notices reuse them, so a customer meets one vocabulary everywhere. English,
Russian, Spanish and German are built in; any other language reads English, and a regional
code reads its base language ("pt-BR" -> "pt", "de-AT" -> "de"). On the phone a reference is
spoken digit by digit and dates in full words. Pure: no clock, no I/O.

A topic's own notice wording (the topics file's ``notices``) is filled with :func:`render`,
which knows only its placeholders and never evaluates anything else in the text.
"""

# ruff: noqa: RUF001 (texts in Russian, Spanish and German)

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from appeals.numbers import format_reference, spoken

DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "ru", "es", "de")

# Statuses a customer sees, by the model's status values (appeals.model.Status).
STATUS_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "new": "received",
        "awaiting": "registered, waiting to be handled",
        "in_progress": "being handled",
        "pending_customer": "waiting for your answer",
        "pending_third_party": "waiting for an answer from a third party",
        "resolved": "resolved",
        "closed": "closed",
        "cancelled": "cancelled",
    },
    "ru": {
        "new": "получено",
        "awaiting": "зарегистрировано, ожидает обработки",
        "in_progress": "в работе",
        "pending_customer": "ожидает вашего ответа",
        "pending_third_party": "ожидает ответа третьей стороны",
        "resolved": "решено",
        "closed": "закрыто",
        "cancelled": "отменено",
    },
    "es": {
        "new": "recibida",
        "awaiting": "registrada, en espera de ser atendida",
        "in_progress": "en curso",
        "pending_customer": "a la espera de su respuesta",
        "pending_third_party": "a la espera de la respuesta de un tercero",
        "resolved": "resuelta",
        "closed": "cerrada",
        "cancelled": "cancelada",
    },
    "de": {
        "new": "eingegangen",
        "awaiting": "registriert, wartet auf Bearbeitung",
        "in_progress": "in Bearbeitung",
        "pending_customer": "wartet auf Ihre Antwort",
        "pending_third_party": "wartet auf die Antwort eines Dritten",
        "resolved": "gelöst",
        "closed": "abgeschlossen",
        "cancelled": "storniert",
    },
}

# Statuses at which the stage means nothing to the customer any more.
_FINISHED = frozenset({"resolved", "closed", "cancelled"})


@dataclass(frozen=True, slots=True)
class _Words:
    answer: str  # {reference} {topic} {status}
    stage: str  # {stage}
    updated: str  # {when}
    not_found: str
    rate_limited: str
    ask_number: str
    registered: str  # {reference} {topic}
    resolved: str  # {reference} {topic}
    changed: str  # {reference} {topic} {status}
    months: tuple[str, ...]  # short month names, for text
    months_spoken: tuple[str, ...]  # full month names, for the phone
    date: str  # {day} {month} {year}
    time: str  # {date} {hour}:{minute}
    time_spoken: str


WORDS: dict[str, _Words] = {
    "en": _Words(
        answer="Your appeal {reference} ({topic}) is {status}.",
        stage=" Current stage: {stage}.",
        updated=" Last change: {when}.",
        not_found=(
            "We found no appeal of yours with this number. Please check the number; "
            "it has 9 digits, such as 123-456-789."
        ),
        rate_limited=(
            "Too many numbers that found nothing. Please try again in 15 minutes, or write "
            "to us and an operator will help you."
        ),
        ask_number="Please send your appeal number (9 digits), for example: status 123-456-789",
        registered="We registered your appeal {reference} about {topic}. "
        "Please quote this number when you contact us.",
        resolved="Your appeal {reference} about {topic} has been resolved. Thank you for your "
        "patience.",
        changed="Your appeal {reference} about {topic} is now {status}.",
        months=("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        months_spoken=("January", "February", "March", "April", "May", "June", "July",
                       "August", "September", "October", "November", "December"),
        date="{day} {month} {year}",
        time="{date}, {hour}:{minute} UTC",
        time_spoken="{date} at {hour}:{minute} UTC",
    ),
    "ru": _Words(
        answer="Ваше обращение {reference} ({topic}): {status}.",
        stage=" Текущий этап: {stage}.",
        updated=" Последнее изменение: {when}.",
        not_found=(
            "Мы не нашли вашего обращения с этим номером. Пожалуйста, проверьте номер: "
            "в нём 9 цифр, например 123-456-789."
        ),
        rate_limited=(
            "Слишком много номеров, по которым ничего не найдено. Попробуйте снова через "
            "15 минут или напишите нам, и оператор вам поможет."
        ),
        ask_number="Пожалуйста, пришлите номер обращения (9 цифр), например: статус 123-456-789",
        registered="Мы зарегистрировали ваше обращение {reference} по теме «{topic}». "
        "Пожалуйста, называйте этот номер, когда обращаетесь к нам.",
        resolved="Ваше обращение {reference} по теме «{topic}» решено. Спасибо за терпение.",
        changed="Ваше обращение {reference} по теме «{topic}»: {status}.",
        months=("янв.", "февр.", "мар.", "апр.", "мая", "июн.",
                "июл.", "авг.", "сент.", "окт.", "нояб.", "дек."),
        months_spoken=("января", "февраля", "марта", "апреля", "мая", "июня", "июля",
                       "августа", "сентября", "октября", "ноября", "декабря"),
        date="{day} {month} {year}",
        time="{date}, {hour}:{minute} UTC",
        time_spoken="{date} в {hour}:{minute} UTC",
    ),
    "es": _Words(
        answer="Su solicitud {reference} ({topic}) está {status}.",
        stage=" Etapa actual: {stage}.",
        updated=" Último cambio: {when}.",
        not_found=(
            "No encontramos ninguna solicitud suya con este número. Compruebe el número; "
            "tiene 9 dígitos, por ejemplo 123-456-789."
        ),
        rate_limited=(
            "Demasiados números sin resultado. Inténtelo de nuevo dentro de 15 minutos, o "
            "escríbanos y un operador le ayudará."
        ),
        ask_number="Envíenos el número de su solicitud (9 dígitos), por ejemplo: "
        "estado 123-456-789",
        registered="Hemos registrado su solicitud {reference} sobre {topic}. "
        "Indique este número cuando se ponga en contacto con nosotros.",
        resolved="Su solicitud {reference} sobre {topic} ha sido resuelta. Gracias por su "
        "paciencia.",
        changed="Su solicitud {reference} sobre {topic} está ahora {status}.",
        months=("ene", "feb", "mar", "abr", "may", "jun",
                "jul", "ago", "sept", "oct", "nov", "dic"),
        months_spoken=("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
                       "agosto", "septiembre", "octubre", "noviembre", "diciembre"),
        date="{day} {month} {year}",
        time="{date}, {hour}:{minute} UTC",
        time_spoken="{date} a las {hour}:{minute} UTC",
    ),
    "de": _Words(
        answer="Ihr Anliegen {reference} ({topic}): {status}.",
        stage=" Aktuelle Stufe: {stage}.",
        updated=" Letzte Änderung: {when}.",
        not_found=(
            "Wir haben kein Anliegen von Ihnen mit dieser Nummer gefunden. Bitte prüfen Sie "
            "die Nummer; sie hat 9 Ziffern, zum Beispiel 123-456-789."
        ),
        rate_limited=(
            "Zu viele Nummern ohne Ergebnis. Bitte versuchen Sie es in 15 Minuten erneut, "
            "oder schreiben Sie uns, dann hilft Ihnen ein Mitarbeiter."
        ),
        ask_number="Bitte senden Sie Ihre Vorgangsnummer (9 Ziffern), zum Beispiel: "
        "Status 123-456-789",
        registered="Wir haben Ihr Anliegen {reference} zum Thema {topic} registriert. "
        "Bitte nennen Sie diese Nummer, wenn Sie uns kontaktieren.",
        resolved="Ihr Anliegen {reference} zum Thema {topic} ist gelöst. Vielen Dank für Ihre "
        "Geduld.",
        changed="Ihr Anliegen {reference} zum Thema {topic}: {status}.",
        months=("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni",
                "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."),
        months_spoken=("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
                       "August", "September", "Oktober", "November", "Dezember"),
        date="{day}. {month} {year}",
        time="{date}, {hour}:{minute} UTC",
        time_spoken="{date} um {hour}:{minute} UTC",
    ),
}  # fmt: skip


def language_of(code: str | None) -> str:
    """The built-in language for a language code: "pt-BR" -> "pt" -> English, "de_AT" ->
    "de", "RU" -> "ru"; empty or unknown -> English."""
    base = re.split(r"[-_]", (code or "").strip().lower(), maxsplit=1)[0]
    return base if base in WORDS else DEFAULT_LANGUAGE


def _words(language: str | None) -> _Words:
    return WORDS[language_of(language)]


def status_name(language: str | None, status: str) -> str:
    """The customer's name of a status ("waiting for your answer"); the raw value for a status
    this module does not know."""
    names = STATUS_NAMES[language_of(language)]
    return names.get(str(status), STATUS_NAMES[DEFAULT_LANGUAGE].get(str(status), str(status)))


def shown_reference(reference: str, *, for_voice: bool = False) -> str:
    """A reference as the customer reads it ("123-456-789") or hears it ("1 2 3, 4 5 6, 7 8
    9"). Anything that is not 9 digits is shown as given."""
    digits = re.sub(r"\D", "", reference)
    if len(digits) != 9:
        return reference
    try:
        return spoken(digits) if for_voice else format_reference(digits)
    except ValueError:  # a wrong check digit: shown all the same, grouped alike
        groups = (digits[:3], digits[3:6], digits[6:])
        return ", ".join(" ".join(g) for g in groups) if for_voice else "-".join(groups)


def format_when(language: str | None, at: datetime, *, for_voice: bool = False) -> str:
    """A moment in UTC, in the customer's language: "2 Dec 2026, 14:05 UTC" (on the phone:
    "2 December 2026 at 14:05 UTC"). ``at`` must be aware."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("format_when needs an aware datetime")
    words = _words(language)
    at = at.astimezone(UTC)
    months = words.months_spoken if for_voice else words.months
    date = words.date.format(day=at.day, month=months[at.month - 1], year=at.year)
    pattern = words.time_spoken if for_voice else words.time
    return pattern.format(date=date, hour=f"{at.hour:02d}", minute=f"{at.minute:02d}")


def status_answer(
    language: str | None,
    reference: str,
    topic_title: str,
    status: str,
    stage_name: str | None,
    updated_at: datetime,
    for_voice: bool,
) -> str:
    """The answer to a customer who asked about their appeal: number, topic, status, the stage
    while it is open, and when it last changed."""
    words = _words(language)
    text = words.answer.format(
        reference=shown_reference(reference, for_voice=for_voice),
        topic=topic_title,
        status=status_name(language, status),
    )
    if stage_name and str(status) not in _FINISHED:
        text += words.stage.format(stage=stage_name)
    return text + words.updated.format(when=format_when(language, updated_at, for_voice=for_voice))


def not_found(language: str | None) -> str:
    """The one answer for a number that finds nothing of the asker's: unknown, someone else's,
    or a wrong check digit alike."""
    return _words(language).not_found


def rate_limited(language: str | None) -> str:
    return _words(language).rate_limited


def ask_number(language: str | None) -> str:
    return _words(language).ask_number


def registered(
    language: str | None, reference: str, topic_title: str, *, for_voice: bool = False
) -> str:
    """The notice that an appeal was registered, with its number."""
    return _words(language).registered.format(
        reference=shown_reference(reference, for_voice=for_voice), topic=topic_title
    )


def resolved(
    language: str | None, reference: str, topic_title: str, *, for_voice: bool = False
) -> str:
    """The notice that an appeal was resolved."""
    return _words(language).resolved.format(
        reference=shown_reference(reference, for_voice=for_voice), topic=topic_title
    )


def changed(
    language: str | None,
    reference: str,
    topic_title: str,
    status: str,
    *,
    for_voice: bool = False,
) -> str:
    """A notice that an appeal reached ``status`` (e.g. "waiting for your answer")."""
    return _words(language).changed.format(
        reference=shown_reference(reference, for_voice=for_voice),
        topic=topic_title,
        status=status_name(language, status),
    )


# The placeholders a topic's own notice text may use.
PLACEHOLDERS = frozenset({"reference", "topic", "status", "stage", "customer"})
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")


def render(template: str, **values: object) -> str:
    """Fill ``{reference}``, ``{topic}``, ``{status}``, ``{stage}`` and ``{customer}`` in an
    admin's text. Only these names are replaced (a missing value by nothing); ``{{`` and
    ``}}`` are a brace, as the topics file's check says; every other brace stays as written,
    and no format specification or attribute is ever evaluated, so a text such as
    ``{reference.__class__}`` or ``{0}`` is just text."""
    unknown = set(values) - PLACEHOLDERS
    if unknown:
        raise ValueError(f"unknown placeholder values: {', '.join(sorted(unknown))}")
    filled: Mapping[str, object] = values

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]  # "{{" or "}}"
        if name not in PLACEHOLDERS:
            return match.group(0)
        value = filled.get(name)
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(fill, template)
