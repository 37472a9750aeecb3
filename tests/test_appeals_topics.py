"""Appeal topics and their forms, pure: every mistake in a topics file is named with the file,
the line and the key; every field type takes good values (in any script) normalized and
refuses bad ones with one clear message per field."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from appeals.fields import FieldDefinition, FieldErrors, validate_fields
from appeals.model import Category, Dispatch, Priority, RouteStage, TimeoutAction
from appeals.topics import (
    TopicsConfigError,
    changed_parts,
    format_duration,
    load_topics_file,
    load_topics_text,
    parse_duration,
    parse_topics,
)
from gateway.errors import ConfigError, Refused
from gateway.settings import load_settings
from routing.config import load_routing

ROOT = Path(__file__).resolve().parent.parent
QUEUES = {"general", "billing", "billing-experts", "tech"}

BASE = textwrap.dedent(
    """\
    calendars:
      office:
        timezone: Europe/Berlin
        weekly: {mon: "08:00-18:00", tue: "08:00-18:00"}
        holidays: ["2026-12-25"]
    settings:
      warn_share: 0.8
      callback_queue: general
      notice_channels: [telegram, sms]
    topics:
      billing_dispute:
        title: {en: Billing dispute, ru: Спор по счёту}
        category: complaint
        calendar: office
        fields:
          - {name: account, type: text, required: true, pattern: "^[0-9]{6,10}$"}
          - {name: amount, type: number, min: 0}
        route:
          - {name: First line, queue: general, max: 4h, may_resolve: true, on_timeout: warn}
          - {name: Billing, queue: billing, max: 16h, may_resolve: true, on_timeout: escalate}
          - {name: Billing lead, queue: billing-experts, max: 8h, may_resolve: true,
             on_timeout: notify}
        sla:
          first_response: {urgent: 15m, normal: 4h}
          resolution: {urgent: 8h, normal: 40h}
        notify_on: [registered, resolved]
        notices:
          registered:
            en: "We registered {reference} about {topic}."
            ru: "Обращение {reference} зарегистрировано."
      question:
        title: {en: A question}
        category: question
        route:
          - {name: First line, queue: general, max: 1h30m, may_resolve: true}
    """
)


def _line(text: str, snippet: str) -> int:
    """The 1-based line of the last line containing ``snippet``."""
    return [n for n, line in enumerate(text.splitlines(), 1) if snippet in line][-1]


def _problems(text: str, queues: set[str] | None = QUEUES) -> list[str]:
    with pytest.raises(TopicsConfigError) as err:
        load_topics_text(text, "config/topics.yaml", queues)
    assert isinstance(err.value, ConfigError)
    assert err.value.problems == [str(p) for p in err.value.located]
    return err.value.problems


def _changed(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# -- the file as a whole ---------------------------------------------------------------------


def test_the_base_file_loads_with_its_stages_targets_and_calendar() -> None:
    config = load_topics_text(BASE, "config/topics.yaml", QUEUES)
    topic = config.topic("billing_dispute")
    assert topic is not None and config.topic("nope") is None
    assert topic.category == Category.COMPLAINT and topic.priority == Priority.NORMAL
    assert topic.route_stages() == (
        RouteStage("First line", "general", 4 * 3600, True, TimeoutAction.WARN),
        RouteStage("Billing", "billing", 16 * 3600, True, TimeoutAction.ESCALATE),
        RouteStage("Billing lead", "billing-experts", 8 * 3600, True, TimeoutAction.NOTIFY),
    )
    assert topic.sla_seconds(Priority.URGENT) == (15 * 60, 8 * 3600)
    assert topic.sla_seconds(Priority.HIGH) == (None, None)  # no target for that priority
    calendar = topic.calendar_of(config)
    assert calendar is not None and calendar.timezone == "Europe/Berlin"
    question = config.topic("question")
    assert question is not None and question.calendar_of(config) is None  # around the clock
    assert question.route_stages()[0].max_seconds == 5400
    assert topic.title_in("de", "ru") == "Спор по счёту" and question.title_in("ru") == "A question"
    assert config.settings.warn_share == 0.8 and config.settings.reopen_hours == 168


def test_the_document_reads_back_as_written() -> None:
    config = load_topics_text(BASE, "config/topics.yaml", QUEUES)
    document = config.as_document()
    assert document == yaml.safe_load(yaml.safe_dump(document))  # plain data
    assert document["topics"]["billing_dispute"]["route"][0]["max"] == "4h"
    assert document["topics"]["question"]["route"][0]["max"] == "1h30m"
    assert document["calendars"]["office"]["weekly"]["mon"] == "08:00-18:00"
    assert document["calendars"]["office"]["holidays"] == ["2026-12-25"]
    assert "priority" not in document["topics"]["question"]  # defaults are left out
    assert parse_topics(document, "topics", QUEUES) == config


def test_the_demo_configuration_names_a_topics_file_that_loads() -> None:
    settings = load_settings(ROOT / "config" / "demo.yaml")
    assert settings.appeals.topics_file == "config/topics.yaml"
    assert settings.routing.rules_file is not None
    routing = load_routing(ROOT / settings.routing.rules_file)
    config, text = load_topics_file(ROOT / settings.appeals.topics_file, set(routing.queues))
    assert text.startswith("# Appeals for the demo")
    assert {"billing_dispute", "no_internet", "number_porting", "question"} <= set(config.topics)
    for name, topic in config.topics.items():
        assert {"en", "ru"} <= set(topic.title), name
        assert topic.route_stages()[-1].may_resolve, name
        assert all(stage.queue in routing.queues for stage in topic.route_stages()), name
    porting = config.topic("number_porting")
    assert porting is not None and porting.route_stages()[-1].queue == "porting"
    # Billing offers its billing disputes to its operators one at a time; the others list them.
    dispute = config.topic("billing_dispute")
    assert dispute is not None
    assert [s.dispatch for s in dispute.route_stages()] == [
        Dispatch.PICK,
        Dispatch.OFFER,
        Dispatch.PICK,
    ]


@pytest.mark.parametrize(
    ("old", "new", "at", "expected"),
    [
        (
            "queue: billing,",
            "queue: bilIing,",
            "queue: bilIing",
            "topics.billing_dispute.route[1].queue: unknown queue 'bilIing'",
        ),
        (
            "queue: billing-experts, max: 8h, may_resolve: true",
            "queue: billing-experts, max: 8h, may_resolve: false",
            "Billing lead",
            "topics.billing_dispute.route[2].may_resolve: the last stage must be allowed to "
            "resolve (may_resolve: true)",
        ),
        (
            "on_timeout: notify}",
            "on_timeout: escalate}",
            "on_timeout: escalate}",
            "topics.billing_dispute.route[2].on_timeout: the last stage cannot escalate",
        ),
        (
            "name: Billing, queue",
            "name: First line, queue",
            "queue: billing,",
            "topics.billing_dispute.route[1].name: 'First line' is used twice",
        ),
        (
            "calendar: office",
            "calendar: ofice",
            "calendar: ofice",
            "topics.billing_dispute.calendar: unknown calendar 'ofice' (calendars: office)",
        ),
        (
            'weekly: {mon: "08:00-18:00", tue: "08:00-18:00"}',
            "weekly: {}",
            "weekly: {}",
            "calendars.office.weekly: the calendar is never open",
        ),
        (
            "timezone: Europe/Berlin",
            "timezone: Europe/Berlln",
            "timezone:",
            "calendars.office.timezone: unknown time zone 'Europe/Berlln'",
        ),
        (
            '"08:00-18:00", tue',
            '"18:00-08:00", tue',
            "weekly:",
            "calendars.office.weekly.mon[0]: '18:00-08:00': the end must be after the start",
        ),
        (
            "max: 16h",
            "max: 16 hours",
            "max: 16 hours",
            "topics.billing_dispute.route[1].max: '16 hours' is not a duration like 30m, 4h, "
            "1h30m or a number of seconds",
        ),
        (
            "max: 16h",
            "max: 0",
            "max: 0",
            "topics.billing_dispute.route[1].max: must be longer than 0 seconds",
        ),
        (
            "max: 16h",
            "max: 9000h",
            "max: 9000h",
            "topics.billing_dispute.route[1].max: must be at most 8784h",
        ),
        (
            "about {topic}.",
            "about {topik}.",
            'en: "We registered',
            "topics.billing_dispute.notices.registered.en: unknown placeholder {topik} (use "
            "{reference}, {topic}, {status}, {stage}, {customer})",
        ),
        (
            "about {topic}.",
            "about {topic.",
            'en: "We registered',
            "topics.billing_dispute.notices.registered.en: not a valid template",
        ),
        (
            "Обращение {reference} зарегистрировано.",
            "Обращение {reference:>20} зарегистрировано.",
            'ru: "Обращение',
            "topics.billing_dispute.notices.registered.ru: write the placeholder {reference} "
            "without a format",
        ),
        (
            "notify_on: [registered, resolved]",
            "notify_on: [resolved]",
            "registered:",
            "topics.billing_dispute.notices.registered: a notice for 'registered', which is not "
            "in notify_on",
        ),
        (
            "notify_on: [registered, resolved]",
            "notify_on: [registered, resolved, registered]",
            "notify_on:",
            "topics.billing_dispute.notify_on[2]: 'registered' is listed twice",
        ),
        (
            "notify_on: [registered, resolved]",
            "notify_on: [registered, solved]",
            "notify_on:",
            "topics.billing_dispute.notify_on[1]: Input should be 'registered', 'in_progress'",
        ),
        (
            "{name: amount, type: number, min: 0}",
            "{name: account, type: number, min: 0}",
            "name: account, type: number",
            "topics.billing_dispute.fields[1].name: 'account' is used twice",
        ),
        (
            "{name: amount, type: number, min: 0}",
            "{name: amount, type: money, min: 0}",
            "type: money",
            "topics.billing_dispute.fields[1].type: unknown type 'money' (one of: text, number, "
            "choice, date, phone, address)",
        ),
        (
            "{name: amount, type: number, min: 0}",
            "{name: amount, min: 0}",
            "{name: amount, min: 0}",
            "topics.billing_dispute.fields[1]: a field needs a 'type' (one of: text, number",
        ),
        (
            "{name: amount, type: number, min: 0}",
            "{name: amount, type: number, min: 0, colour: red}",
            "colour: red",
            "topics.billing_dispute.fields[1]: unknown field 'colour' (it takes: name, label, "
            "required, type, min, max, integer)",
        ),
        (
            "{name: amount, type: number, min: 0}",
            "{name: amount, type: number, min: 10, max: 1}",
            "name: amount",
            "topics.billing_dispute.fields[1]: min (10) is above max (1)",
        ),
        (
            'pattern: "^[0-9]{6,10}$"',
            'pattern: "([0-9"',
            "pattern:",
            "topics.billing_dispute.fields[0].pattern: not a regular expression",
        ),
        (
            "{name: amount, type: number, min: 0}",
            "{name: Amount, type: number}",
            "name: Amount",
            "topics.billing_dispute.fields[1].name: 'Amount' is not a name",
        ),
        (
            "may_resolve: true, on_timeout: warn}",
            "may_resolve: true, on_timeout: warn, colour: red}",
            "colour: red",
            "topics.billing_dispute.route[0]: unknown field 'colour' (it takes: name, queue, "
            "max, may_resolve, on_timeout, dispatch)",
        ),
        (
            "on_timeout: warn}",
            "on_timeout: warn, dispatch: push}",
            "dispatch: push",
            "topics.billing_dispute.route[0].dispatch: Input should be 'pick' or 'offer'",
        ),
        (
            "queue: general, max: 4h",
            'queue: " ", max: 4h',
            'queue: " "',
            "topics.billing_dispute.route[0].queue: ' ' is not a queue name",
        ),
        (
            "on_timeout: warn}",
            "on_timeout: shout}",
            "on_timeout: shout",
            "topics.billing_dispute.route[0].on_timeout: Input should be 'warn', 'escalate' or "
            "'notify'",
        ),
        (
            "category: complaint",
            "category: grumble",
            "category: grumble",
            "topics.billing_dispute.category: Input should be 'complaint', 'request', "
            "'question' or 'incident'",
        ),
        (
            "    category: question\n",
            "",
            "  question:",
            "topics.question: missing field 'category'",
        ),
        (
            "  question:",
            "  A question:",
            "A question:",
            "topics.A question (the key): 'A question' is not a name",
        ),
        (
            "title: {en: A question}",
            "title: {English: A question}",
            "English",
            "topics.question.title.English (the key): 'English' is not a language code",
        ),
        (
            "title: {en: A question}",
            "title: {}",
            "title: {}",
            "topics.question.title: Dictionary should have at least 1 item",
        ),
        (
            "first_response: {urgent: 15m, normal: 4h}",
            "first_response: {urgent: 15m, normal: 48h}",
            "first_response:",
            "topics.billing_dispute.sla.first_response.normal: 48h is longer than the "
            "resolution target (40h)",
        ),
        (
            "first_response: {urgent: 15m, normal: 4h}",
            "first_response: {urgent: 15m, medium: 4h}",
            "first_response:",
            "topics.billing_dispute.sla.first_response.medium (the key): Input should be 'low'",
        ),
        (
            "callback_queue: general",
            "callback_queue: nowhere",
            "callback_queue:",
            "settings.callback_queue: unknown queue 'nowhere'",
        ),
        (
            "notice_channels: [telegram, sms]",
            "notice_channels: [telegram, sms, telegram]",
            "notice_channels:",
            "settings.notice_channels[2]: 'telegram' is listed twice",
        ),
        (
            "warn_share: 0.8",
            "warn_share: 1.5",
            "warn_share:",
            "settings.warn_share: Input should be less than 1",
        ),
        (
            "warn_share: 0.8",
            "warn_share: 0.8\n  colour: red",
            "colour: red",
            "settings: unknown field 'colour' (it takes: warn_share, reopen_hours, "
            "notice_channels, callback_queue, dispositions)",
        ),
        (
            "route:\n      - {name: First line, queue: general, max: 1h30m, may_resolve: true}",
            "route: []",
            "route: []",
            "topics.question.route: Tuple should have at least 1 item",
        ),
        (
            "  question:",
            "  billing_dispute:",
            "  billing_dispute:",  # the second one
            "topics: duplicate key 'billing_dispute' (first on line 11); YAML would keep only "
            "the last one",
        ),
    ],
)
def test_every_mistake_is_named_with_file_line_and_key(
    old: str, new: str, at: str, expected: str
) -> None:
    text = _changed(old, new)
    line = _line(text, at)
    wanted = f"config/topics.yaml: line {line}: {expected}"
    problems = _problems(text)
    assert any(p.startswith(wanted) for p in problems), problems


def test_the_brief_example_reads_as_promised() -> None:
    text = _changed("queue: billing,", "queue: bilIing,")
    assert _problems(text) == [
        f"config/topics.yaml: line {_line(text, 'bilIing')}: "
        "topics.billing_dispute.route[1].queue: unknown queue 'bilIing'"
    ]


def test_every_problem_of_a_file_is_listed_in_line_order() -> None:
    text = _changed("queue: billing,", "queue: bilIing,").replace("calendar: office", "calendar: x")
    problems = _problems(text)
    assert [p.split(": ")[2] for p in problems] == [
        "topics.billing_dispute.calendar",
        "topics.billing_dispute.route[1].queue",
    ]


def test_queues_are_checked_only_when_given() -> None:
    text = _changed("queue: billing,", "queue: bilIing,")
    assert load_topics_text(text, "topics", None).topic("billing_dispute") is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "config/topics.yaml: line 1: the file is empty"),
        ("topics: {a: [\n", "config/topics.yaml: line 2: not valid YAML"),
        ("- just\n- a list\n", "config/topics.yaml: line 1: the top level must be a mapping"),
        ("calendars: {}\n", "config/topics.yaml: line 1: missing field 'topics'"),
        (
            "topics: {}\nyes: 1\n",
            "config/topics.yaml: line 2: YAML reads the key 'yes' as true or false: quote it",
        ),
        ("topics: {}\nextra: 1\n", "config/topics.yaml: line 2: unknown field 'extra' (it takes: "),
        ("topics: &t {a: *t}\n", "config/topics.yaml: line 1: nested too deeply"),
        ("topics: {}\n\x07\n", "config/topics.yaml: line 1: not valid YAML"),
    ],
)
def test_text_that_is_not_a_topics_document(text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_file_that_expands_without_end_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    problems = _problems("\n".join([*lines, "topics: {}"]))
    assert "more than 100000 keys and items" in problems[0]


def test_a_document_without_lines_names_the_key() -> None:
    document = yaml.safe_load(_changed("queue: billing,", "queue: bilIing,"))
    with pytest.raises(TopicsConfigError) as err:
        parse_topics(document, "topics", QUEUES)
    assert err.value.problems == [
        "topics: topics.billing_dispute.route[1].queue: unknown queue 'bilIing'"
    ]
    with pytest.raises(TopicsConfigError, match="the top level must be a mapping"):
        parse_topics(["not", "a", "mapping"], "topics", QUEUES)


def test_files_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    with pytest.raises(TopicsConfigError, match=r"nope\.yaml: file not found"):
        load_topics_file(tmp_path / "nope.yaml", QUEUES)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("topics: {}  # caf\xe9".encode("latin-1"))
    with pytest.raises(TopicsConfigError, match=r"latin\.yaml: cannot read the file"):
        load_topics_file(latin, QUEUES)


@pytest.mark.parametrize(
    ("written", "seconds", "canonical"),
    [
        ("30m", 1800, "30m"),
        ("4h", 14400, "4h"),
        ("1h30m", 5400, "1h30m"),
        ("1H 30M", 5400, "1h30m"),
        ("90s", 90, "1m30s"),
        (3600, 3600, "1h"),
        ("45", 45, "45s"),
        (0.5, 0.5, 0.5),
    ],
)
def test_durations(written: Any, seconds: float, canonical: Any) -> None:
    assert parse_duration(written) == seconds
    assert format_duration(seconds) == canonical


@pytest.mark.parametrize("written", ["", "h", "4 hours", "1d", "-5", True, None, "1h-30m"])
def test_what_is_not_a_duration(written: Any) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(written)


def test_changed_parts_name_each_topic_and_section() -> None:
    before = load_topics_text(BASE, "a", QUEUES).as_document()
    after_text = _changed("max: 16h", "max: 12h").replace("warn_share: 0.8", "warn_share: 0.7")
    after = load_topics_text(after_text, "a", QUEUES).as_document()
    assert changed_parts(before, after) == ["settings", "topics.billing_dispute"]
    assert changed_parts({}, after) == [
        "calendars",
        "settings",
        *[f"topics.{t}" for t in after["topics"]],
    ]
    assert changed_parts(after, after) == []


# -- the form's fields -------------------------------------------------------------------------

FORM: list[FieldDefinition] = TypeAdapter(list[FieldDefinition]).validate_python(
    [
        {"name": "account", "type": "text", "required": True, "pattern": "^[0-9]{6,10}$"},
        {"name": "note", "type": "text", "max_length": 10},
        {"name": "amount", "type": "number", "min": 0},
        {"name": "months", "type": "number", "min": 1, "max": 12, "integer": True},
        {"name": "ratio", "type": "number", "max": 1},
        {
            "name": "reason",
            "type": "choice",
            "choices": [
                "double_charge",
                "unknown_service",
                {"value": "tariff", "label": {"en": "Wrong tariff", "ru": "Неверный тариф"}},
            ],
        },
        {"name": "period", "type": "date"},
        {"name": "since", "type": "date", "min": "2026-01-01", "max": "2026-12-31"},
        {"name": "phone", "type": "phone"},
        {"name": "home_phone", "type": "phone", "region": "DE"},
        {"name": "address", "type": "address"},
    ]
)


def _one(name: str, value: Any) -> Any:
    return validate_fields(FORM, {"account": "123456", name: value})[name]


def _refused(name: str, value: Any) -> str:
    with pytest.raises(FieldErrors) as err:
        validate_fields(FORM, {"account": "123456", name: value})
    assert list(err.value.problems) == [name]
    return err.value.problems[name]


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("account", " 0012345678 ", "0012345678"),
        ("account", 123456, "123456"),  # a number sent for a text field
        ("note", "Привет мир", "Привет мир"),  # Cyrillic
        ("note", "你好，世界！", "你好，世界！"),  # Chinese: 6 characters, 18 bytes  # noqa: RUF001
        ("note", "مرحبا بكم", "مرحبا بكم"),  # Arabic
        ("note", "Ünïcödé 👍", "Ünïcödé 👍"),
        ("note", "Cafe\u0301", "Café"),  # combining accent: NFC, one character
        ("note", "a\r\nb\tc", "a\nb\tc"),
        ("amount", 0, 0),
        ("amount", "12,50", 12.5),  # a decimal comma
        ("amount", "1 234.5", 1234.5),
        ("amount", "1\u00a0000", 1000),  # a no-break space between thousands
        ("amount", 99.99, 99.99),
        ("amount", "1e3", 1000.0),
        ("months", "12", 12),
        ("months", 6.0, 6),
        ("ratio", -3, -3),
        ("reason", "tariff", "tariff"),
        ("reason", " Double_Charge ", "double_charge"),
        ("reason", "неверный тариф", "tariff"),  # a label, in any language and case
        ("period", "2028-02-29", "2028-02-29"),
        ("period", date(2026, 3, 31), "2026-03-31"),
        ("since", "2026-01-01", "2026-01-01"),
        ("phone", "+1 (415) 555-0123", "+14155550123"),
        ("phone", "+7 495 123-45-67", "+74951234567"),
        ("home_phone", "030 1234567", "+49301234567"),
        ("home_phone", "+44 20 7946 0958", "+442079460958"),
        ("address", "  Hauptstraße 5,\n10115 Berlin  ", "Hauptstraße 5,\n10115 Berlin"),
        (
            "address",
            "г. Москва, ул. Тверская, д. 7, кв. 12",  # noqa: RUF001
            "г. Москва, ул. Тверская, д. 7, кв. 12",  # noqa: RUF001
        ),
    ],
)
def test_good_values_are_stored_normalized(name: str, value: Any, stored: Any) -> None:
    result = _one(name, value)
    assert result == stored and type(result) is type(stored)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("account", "12345", "must match the pattern ^[0-9]{6,10}$"),
        ("account", "123456 7", "must match the pattern ^[0-9]{6,10}$"),
        ("account", ["123456"], "must be text"),
        ("account", True, "must be text"),
        ("note", "12345678901", "must be at most 10 characters"),
        ("note", "你好，世界！你好，世界！", "must be at most 10 characters"),  # noqa: RUF001
        ("note", "bell\x07", "must not contain control characters"),
        ("note", "nul\x00", "must not contain control characters"),
        ("amount", -1, "must be a number of at least 0"),
        ("amount", "ten", "must be a number of at least 0"),
        ("amount", "1,2,3", "must be a number of at least 0"),
        ("amount", True, "must be a number of at least 0"),
        ("amount", "nan", "must be a number of at least 0"),
        ("amount", "1e999", "must be a number of at least 0"),
        ("amount", 10**400, "must be a number of at least 0"),
        ("amount", {"value": 1}, "must be a number of at least 0"),
        ("months", 13, "must be a whole number from 1 to 12"),
        ("months", 2.5, "must be a whole number from 1 to 12"),
        ("ratio", 1.5, "must be a number of at most 1"),
        ("reason", "refund", "must be one of: double_charge, unknown_service, tariff"),
        ("reason", 3, "must be one of: double_charge, unknown_service, tariff"),
        ("period", "2026-02-29", "must be a date like 2026-03-31"),
        ("period", "31.03.2026", "must be a date like 2026-03-31"),
        ("period", "20260331", "must be a date like 2026-03-31"),
        ("period", "2026-W13-2", "must be a date like 2026-03-31"),
        ("period", 20260331, "must be a date like 2026-03-31"),
        ("since", "2025-12-31", "must be a date from 2026-01-01 to 2026-12-31"),
        ("since", "2027-01-01", "must be a date from 2026-01-01 to 2026-12-31"),
        ("phone", "030 1234567", "must be a phone number in international format"),
        ("phone", "+1 555", "must be a phone number in international format"),
        ("phone", "call me", "must be a phone number in international format"),
        ("phone", 14155550123, "must be a phone number in international format"),
        ("phone", "+1" + "5" * 60, "must be a phone number in international format"),
        ("home_phone", "12", "must be a phone number (international, or national in DE)"),
        ("address", "x" * 501, "must be at most 500 characters"),
        ("address", 5, "must be text"),
    ],
)
def test_bad_values_are_refused_with_one_clear_message(name: str, value: Any, message: str) -> None:
    assert _refused(name, value).startswith(message)


def test_required_unknown_and_every_problem_at_once() -> None:
    with pytest.raises(FieldErrors) as err:
        validate_fields(FORM, {"amount": "-5", "reason": "refund", "colour": "red", "note": "   "})
    error = err.value
    assert isinstance(error, Refused) and (error.status, error.code) == (422, "invalid_fields")
    assert error.problems == {
        "colour": "unknown field (this form has: account, note, amount, months, ratio, reason, "
        "period, since, phone, home_phone, address)",
        "account": "required",
        "amount": "must be a number of at least 0",
        "reason": "must be one of: double_charge, unknown_service, tariff",
    }
    assert error.detail == error.problems
    assert error.as_json() == {
        "error": "invalid_fields",
        "reason": error.reason,
        "problems": error.problems,
    }
    assert "account: required" in error.reason


def test_empty_optional_fields_are_left_out() -> None:
    assert validate_fields(FORM, {"account": "123456", "note": " ", "amount": None}) == {
        "account": "123456"
    }


def test_a_partial_change_needs_only_the_fields_it_changes() -> None:
    assert validate_fields(FORM, {"amount": "7"}, partial=True) == {"amount": 7}
    with pytest.raises(FieldErrors) as err:
        validate_fields(FORM, {"account": ""}, partial=True)  # a required field emptied
    assert err.value.problems == {"account": "required"}


def test_values_must_be_an_object() -> None:
    with pytest.raises(FieldErrors) as err:
        validate_fields(FORM, ["123456"])
    assert err.value.problems == {"fields": "must be an object of field names and values"}


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"name": "x", "type": "choice", "choices": []}, "at least 1 item"),
        ({"name": "x", "type": "choice", "choices": ["a", "A"]}, "'A' is listed twice"),
        ({"name": "x", "type": "date", "min": "2026-02-01", "max": "2026-01-01"}, "is after max"),
        ({"name": "x", "type": "phone", "region": "XX"}, "'XX' is not a region code"),
        ({"name": "x", "type": "text", "max_length": 0}, "greater than or equal to 1"),
        ({"name": "x", "type": "address", "max_length": 80}, "Extra inputs are not permitted"),
    ],
)
def test_bad_field_definitions(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TypeAdapter(FieldDefinition).validate_python(definition)


def test_the_errors_sit_in_their_branches() -> None:
    assert isinstance(FieldErrors({"a": "required"}), Refused)
    assert isinstance(TopicsConfigError([]), ConfigError)
