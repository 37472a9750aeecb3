"""What customers read and hear about their appeals (appeals/texts.py), and which messages are
status questions (appeals/queries.py): pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from appeals import texts
from appeals.numbers import format_reference, make_reference
from appeals.queries import QueryKind, StatusQuery, status_query

REF = make_reference("48213907")  # a valid reference
SHOWN = format_reference(REF)
SPACED = f"{REF[:3]} {REF[3:6]} {REF[6:]}"
WRONG = REF[:-1] + str((int(REF[-1]) + 1) % 10)  # the same number with a wrong check digit
AT = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
STATUSES = (
    "new",
    "awaiting",
    "in_progress",
    "pending_customer",
    "pending_third_party",
    "resolved",
    "closed",
    "cancelled",
)


# -- languages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("en", "en"),
        ("ru", "ru"),
        ("es", "es"),
        ("de", "de"),
        ("pt-BR", "en"),
        ("de-AT", "de"),
        ("es_MX", "es"),
        ("RU", "ru"),
        ("", "en"),
        (None, "en"),
        ("fr", "en"),
        ("zh-Hant-TW", "en"),
    ],
)
def test_a_language_code_reads_its_base_language_else_english(
    code: str | None, language: str
) -> None:
    assert texts.language_of(code) == language


def test_every_language_names_every_status_differently() -> None:
    for language in texts.LANGUAGES:
        names = [texts.status_name(language, s) for s in STATUSES]
        assert all(names) and len(set(names)) == len(STATUSES), language


@pytest.mark.parametrize(
    ("language", "status", "name"),
    [
        ("en", "awaiting", "registered, waiting to be handled"),
        ("en", "pending_customer", "waiting for your answer"),
        ("ru", "pending_customer", "ожидает вашего ответа"),
        ("es", "in_progress", "en curso"),
        ("de", "resolved", "gelöst"),
        ("pt", "closed", "closed"),
        ("en", "someday", "someday"),  # a status this module does not know: as it is
    ],
)
def test_status_names(language: str, status: str, name: str) -> None:
    assert texts.status_name(language, status) == name


# -- the status answer -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "status", "stage", "voice", "answer"),
    [
        (
            "en",
            "in_progress",
            "Billing",
            False,
            f"Your appeal {SHOWN} (Billing dispute) is being handled. Current stage: Billing. "
            "Last change: 2 Dec 2026, 14:05 UTC.",
        ),
        (
            "en",
            "awaiting",
            "First line",
            True,
            "Your appeal 4 8 2, 1 3 9, 0 7 "
            f"{REF[-1]} (Billing dispute) is registered, waiting to be handled. "
            "Current stage: First line. Last change: 2 December 2026 at 14:05 UTC.",
        ),
        (
            "ru",
            "pending_customer",
            "Биллинг",
            False,
            f"Ваше обращение {SHOWN} (Billing dispute): ожидает вашего ответа. "
            "Текущий этап: Биллинг. Последнее изменение: 2 дек. 2026, 14:05 UTC.",
        ),
        (
            "es",
            "resolved",
            "Facturación",  # a finished appeal: no stage
            False,
            f"Su solicitud {SHOWN} (Billing dispute) está resuelta. "
            "Último cambio: 2 dic 2026, 14:05 UTC.",
        ),
        (
            "de",
            "pending_third_party",
            None,
            True,
            f"Ihr Anliegen 4 8 2, 1 3 9, 0 7 {REF[-1]} (Billing dispute): wartet auf die Antwort "
            "eines Dritten. Letzte Änderung: 2. Dezember 2026 um 14:05 UTC.",
        ),
        (
            "pt-BR",
            "closed",
            "First line",
            False,
            f"Your appeal {SHOWN} (Billing dispute) is closed. Last change: 2 Dec 2026, 14:05 UTC.",
        ),
    ],
)
def test_the_status_answer(
    language: str, status: str, stage: str | None, voice: bool, answer: str
) -> None:
    assert texts.status_answer(language, REF, "Billing dispute", status, stage, AT, voice) == answer


def test_the_last_change_is_told_in_utc_whatever_zone_it_comes_in() -> None:
    berlin = AT.astimezone(timezone(timedelta(hours=1)))
    assert texts.format_when("en", berlin) == "2 Dec 2026, 14:05 UTC"
    assert texts.format_when("ru", datetime(2026, 5, 9, 8, 0, tzinfo=UTC), for_voice=True) == (
        "9 мая 2026 в 08:00 UTC"
    )
    with pytest.raises(ValueError, match="aware"):
        texts.format_when("en", datetime(2026, 1, 1))


def test_a_reference_is_shown_grouped_and_spoken_digit_by_digit() -> None:
    assert texts.shown_reference(REF) == SHOWN
    assert texts.shown_reference(SPACED, for_voice=True) == f"4 8 2, 1 3 9, 0 7 {REF[-1]}"
    assert texts.shown_reference(WRONG) == f"{WRONG[:3]}-{WRONG[3:6]}-{WRONG[6:]}"
    assert texts.shown_reference("12") == "12"


# -- notices and fixed answers ---------------------------------------------------------------


def test_notices_in_every_language_carry_the_number_and_topic() -> None:
    for language in texts.LANGUAGES:
        for notice in (texts.registered, texts.resolved):
            written = notice(language, REF, "Router")
            spoken = notice(language, REF, "Router", for_voice=True)
            assert SHOWN in written and "Router" in written
            assert "4 8 2, 1 3 9" in spoken and SHOWN not in spoken
        changed = texts.changed(language, REF, "Router", "pending_customer")
        assert texts.status_name(language, "pending_customer") in changed


def test_the_fixed_answers_exist_in_every_language_and_say_different_things() -> None:
    for language in texts.LANGUAGES:
        said = {
            texts.not_found(language),
            texts.rate_limited(language),
            texts.ask_number(language),
        }
        assert len(said) == 3 and all(s.strip() for s in said)
    assert texts.not_found("ru") != texts.not_found("en") == texts.not_found("it")
    assert texts.registered("en", REF, "Router") == (
        f"We registered your appeal {SHOWN} about Router. "
        "Please quote this number when you contact us."
    )


ALL = {"customer": "Ann", "topic": "T", "status": "s", "stage": "S", "reference": "1"}


@pytest.mark.parametrize(
    ("template", "values", "filled"),
    [
        ("Appeal {reference} about {topic}", ALL, "Appeal 1 about T"),
        ("{customer}, your {topic}: {status} ({stage})", ALL, "Ann, your T: s (S)"),
        ("{reference} and {unknown}", {"reference": "1"}, "1 and {unknown}"),
        ("{reference.__class__} {0} {topic!r}", ALL, "{reference.__class__} {0} {topic!r}"),
        # Doubled braces are a brace, as the topics file's check tells admins.
        ("{{reference}}", ALL, "{reference}"),
        ("{{{reference}}}", ALL, "{1}"),
        ("Price {{EUR}}", ALL, "Price {EUR}"),
        ("Dear {customer}", {}, "Dear "),
        ("{topic}", {"topic": "{reference}"}, "{reference}"),  # values are not filled again
    ],
)
def test_render_fills_only_its_placeholders(
    template: str, values: dict[str, str], filled: str
) -> None:
    assert texts.render(template, **values) == filled


def test_render_refuses_a_value_it_has_no_placeholder_for() -> None:
    with pytest.raises(ValueError, match="secret"):
        texts.render("{reference}", reference="1", secret="x")


# -- which messages ask about an appeal ------------------------------------------------------

C, W, N, S = QueryKind.COMMAND, QueryKind.WORDS, QueryKind.NUMBER, QueryKind.SUBJECT


@pytest.mark.parametrize(
    ("text", "kind", "number", "language"),
    [
        # Telegram commands (also typed on other channels)
        (f"/status {REF}", C, REF, None),
        (f"/status@DemoTelecomBot {SHOWN}", C, REF, None),
        (f"/status {SPACED}", C, REF, None),
        (f"/статус {REF}", C, REF, "ru"),
        (f"/estado №{SHOWN}", C, REF, "es"),
        (f"/STATUS  #{REF} ", C, REF, None),
        ("/status", C, None, None),
        ("/status@DemoTelecomBot", C, None, None),
        (f"/status {WRONG}", C, WRONG, None),
        # words, in four languages
        (f"status {SPACED}", W, REF, None),
        (f"Status {REF}", W, REF, None),
        (f"STATUS: {SHOWN}", W, REF, None),
        (f"статус {REF}", W, REF, "ru"),
        (f"Статус обращения №{SHOWN}", W, REF, "ru"),
        (f"Какой статус моего обращения {SHOWN}?", W, REF, "ru"),
        (f"Здравствуйте! Статус заявки {REF}, пожалуйста", W, REF, "ru"),
        (f"estado {REF}", W, REF, "es"),
        (f"¿Cuál es el estado de mi solicitud {SHOWN}?", W, REF, "es"),
        (f"Hola, estado de la reclamación nº {REF} por favor", W, REF, "es"),
        (f"Status {REF}", W, REF, None),
        (f"Stand {SHOWN}", W, REF, "de"),
        (f"Wie ist der aktuelle Stand meines Anliegens Nr. {REF}?", W, REF, "de"),
        (f"Hallo, Status von Vorgang {SHOWN} bitte", W, REF, "de"),
        (f"What is the status of my appeal {SHOWN}?", W, REF, None),
        (f"Hi! status of request #{REF}, thanks", W, REF, None),
        (f"check status {SHOWN}", W, REF, None),
        (f"status {WRONG}", W, WRONG, None),
        # without a number, only a question that names an appeal
        ("What is the status of my appeal?", W, None, None),
        ("статус моего обращения", W, None, "ru"),
        ("estado de mi solicitud", W, None, "es"),
        # a message that is only the number (with its label, or asking after it)
        (REF, N, REF, None),
        (SHOWN, N, REF, None),
        (SPACED, N, REF, None),
        (f"{REF[:3]}.{REF[3:6]}.{REF[6:]}", N, REF, None),
        (f"{REF[:2]} {REF[2:5]} {REF[5:]}", N, REF, None),  # any grouping
        (f" #{REF} ", N, REF, None),
        (f"№ {SHOWN}", N, REF, None),
        (f"No. {REF}", N, REF, None),
        (f"Appeal {SHOWN}", N, REF, None),
        (f"Обращение №{SHOWN}", N, REF, "ru"),
        (f"Solicitud {REF}", N, REF, "es"),
        (f"Anliegen {REF}", N, REF, "de"),
        (f"{SHOWN} status?", N, REF, None),
        (f"{SHOWN}.", N, REF, None),
        (WRONG, N, WRONG, None),
    ],
)
def test_status_questions(
    text: str, kind: QueryKind, number: str | None, language: str | None
) -> None:
    query = status_query(text)
    assert query is not None, text
    assert (query.kind, query.number, query.language) == (kind, number, language)
    assert query.reference == (number if number == REF else None)
    assert query.pure


@pytest.mark.parametrize(
    "text",
    [
        "Hello",
        "Thank you!",
        "My internet is down since yesterday",
        "My phone number is +34 612 345 678",
        "+34 612 345 678",
        "+7 912 345-67-89",
        "8 912 345 67 89",
        "Call me at +1 555 123 4567",
        "Order 123456",
        "My order 123456 has not arrived",
        f"Order {REF}",
        f"My order status {REF}?",
        f"status of my order {REF}",
        f"I paid 150.00 for order {REF[:6]}",
        "I was charged 1 234,56 EUR twice",
        "Invoice 2026-001234 is wrong",
        "12.03.2026",
        f"{REF}0",  # ten digits
        f"{REF[:8]}",  # eight digits
        f"My account number is {REF}",
        f"Status: my router {REF} is broken",
        "Мой заказ 123456 не пришёл",
        "Mi pedido 123456 no ha llegado",
        "Meine Bestellung 123456 ist nicht angekommen",
        "1",  # a menu answer
        "0",
        # "status" alone may be about an order or a payment: a message for the team
        "status",
        "Status?",
        "status please",
        "Статус?",
    ],
)
def test_other_messages_are_no_status_questions(text: str) -> None:
    assert status_query(text) is None


def test_a_question_above_a_signature_or_with_files_is_answered_but_not_only_a_question() -> None:
    signed = status_query(f"status {SHOWN}\n\n--\nAnna Schmidt\nSent from my phone")
    assert signed == StatusQuery(W, REF, REF, pure=False)
    with_file = status_query(f"/status {REF}", attachments=True)
    assert with_file is not None and not with_file.pure and with_file.reference == REF
    assert status_query("/status hello") == StatusQuery(C, None, None, pure=False)


@pytest.mark.parametrize(
    ("subject", "body", "number", "language"),
    [
        (f"Re: Appeal {SHOWN} registered", "", REF, None),
        (f"AW: Ihr Anliegen {REF}", "", REF, "de"),
        (f"AW: Ihr Anliegen {REF}", "Gibt es Neuigkeiten?", REF, "de"),
        (f"Re: Обращение №{SHOWN}", "Что нового?", REF, "ru"),
        (f"RE: Su solicitud {SHOWN} ha sido registrada", "¿Novedades?", REF, "es"),
        (f"Re: [#{REF}] Your appeal", "Any news on this one?", REF, None),
        (f"Fwd: Re: Appeal {SHOWN} registered", "status?", REF, None),
        (f"Re: Appeal {WRONG[:3]}-{WRONG[3:6]}-{WRONG[6:]} registered", "", WRONG, None),
    ],
)
def test_an_email_subject_naming_an_appeal_asks_about_it(
    subject: str, body: str, number: str, language: str | None
) -> None:
    query = status_query(body, subject)
    assert query is not None
    assert (query.kind, query.number, query.language, query.pure) == (S, number, language, True)
    assert query.reference == (number if number == REF else None)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (f"Re: Appeal {SHOWN} registered", "Yes, the router is a FritzBox 7590."),
        (f"Re: Appeal {SHOWN} registered", "Here are the photos you asked for. " * 8),
        ("Invoice 123456780", ""),  # a number that is no reference, without an appeal's word
        ("Re: Your order 123456 has shipped", ""),
    ],
)
def test_an_email_about_something_else_is_no_status_question(subject: str, body: str) -> None:
    assert status_query(body, subject) is None


def test_a_question_about_an_appeal_without_its_number_asks_for_the_number() -> None:
    asked = status_query("status of my appeal?", "Hello")
    assert asked == StatusQuery(W, None, None, pure=True)
    assert status_query("status?", "Hello") is None


def test_an_email_subject_with_files_is_a_message_for_the_team() -> None:
    assert status_query("Any news?", f"Re: Appeal {SHOWN}", attachments=True) is None


def test_the_body_asks_before_the_subject_does() -> None:
    other = make_reference("77700011")
    query = status_query(f"status {other}", f"Re: Appeal {SHOWN} registered")
    assert query is not None and query.kind == W and query.reference == other
