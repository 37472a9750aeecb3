"""The IVR menu model and loader: shapes, line numbers, business hours."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import TypeAdapter

from ivr.hours import Calendar, Status, status
from ivr.loader import LoadedMenu, load_menu, parse_menu
from ivr.model import (
    GatherNode,
    HoursNode,
    LookupNode,
    Menu,
    MenuNode,
    Node,
    NodeKind,
    Problem,
    QueueNode,
    normalize,
    text_in,
)
from ivr.validate import validate
from routing.config import load_routing

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "config" / "ivr" / "main.yaml"

BASE = """\
id: shapes
languages: [en]
start: top
nodes:
  top:
    kind: menu
    prompt: Press 1 to say hello.
    options:
      - {key: 1, next: hello}
  hello:
    kind: hangup
    prompt: Hello and goodbye.
"""


CALENDAR = "hours:\n  office:\n    timezone: UTC\n    weekly: {}\nnodes:"


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the text")


def loaded(text: str) -> LoadedMenu:
    result = parse_menu(text, "shapes.yaml")
    assert isinstance(result, LoadedMenu), result
    return result


def test_the_demo_menu_loads_and_validates_clean_against_the_demo_routing() -> None:
    result = load_menu(DEMO)
    assert isinstance(result, LoadedMenu), result
    routing = load_routing(ROOT / "config" / "routing.yaml")
    assert validate(result, queues=set(routing.queues), skills=set(routing.skills)) == []
    menu = result.menu
    assert menu.languages == ("en", "es") and menu.default_language == "en"
    main = menu.nodes["main"]
    assert isinstance(main, MenuNode)
    assert [o.key for o in main.options] == ["1", "2", "3", "4", "5", "0", "9", "8"]
    gather = menu.nodes["order-number"]
    assert isinstance(gather, GatherNode)
    assert (gather.min_digits, gather.max_digits, gather.into) == (6, 8, "order_number")
    lookup = menu.nodes["order-lookup"]
    assert isinstance(lookup, LookupNode) and lookup.fallback == "order-unknown"
    support = menu.nodes["support"]
    assert isinstance(support, QueueNode) and support.priority == 5 and support.topic == "tech"
    assert isinstance(menu.nodes["office-hours"], HoursNode)
    # Every queue, topic and skill the menu hands to routing is one routing knows.
    queue_nodes = [n for n in menu.nodes.values() if isinstance(n, QueueNode)]
    assert {n.queue for n in queue_nodes if n.queue} <= set(routing.queues)
    assert {s for n in queue_nodes for s in n.skills or ()} <= set(routing.skills)
    routed_topics = {r.when["topic"] for r in routing.rules if "topic" in r.when}
    assert routed_topics <= {n.topic for n in queue_nodes}


def test_source_map_points_at_keys_and_list_items() -> None:
    result = loaded(BASE)
    assert result.line("top") == line_of(BASE, "  top:")
    assert result.line("top", "options", 0) == line_of(BASE, "{key: 1")
    assert result.line("hello", "prompt") == line_of(BASE, "Hello and goodbye")
    # A field that is not in the file: the line of its node.
    assert result.line("hello", "next") == line_of(BASE, "  hello:")
    assert result.line(None, "start") == line_of(BASE, "start: top")


def test_the_version_follows_the_content() -> None:
    a, b = loaded(BASE).menu, loaded(BASE).menu
    c = loaded(BASE.replace("Hello and goodbye.", "Bye.")).menu
    assert a.version == b.version and a.version != c.version and len(a.version) == 16


@pytest.mark.parametrize(
    ("change", "node", "needle", "expected"),
    [
        (
            ("kind: hangup", "kind: hang-up"),
            "hello",
            "  hello:",
            "unknown node kind 'hang-up' (one of: menu, say, play, gather, set, hours, lookup,",
        ),
        (("    kind: hangup\n", ""), "hello", "  hello:", "a node needs a 'kind'"),
        (
            ("    prompt: Hello and goodbye.", "    promt: Hello and goodbye."),
            "hello",
            "promt:",
            "unknown field 'promt' (a hangup takes: prompt, text)",
        ),
        (
            ("{key: 1, next: hello}", "{key: 1, nxt: hello}"),
            "top",
            "{key: 1",
            "options[0]: unknown field 'nxt'",
        ),
        (
            ("{key: 1, next: hello}", "{key: 1}"),
            "top",
            "{key: 1",
            "options[0]: missing field 'next'",
        ),
        (
            ("    prompt: Press 1", "    retries: lots\n    prompt: Press 1"),
            "top",
            "retries: lots",
            "retries: Input should be a valid integer",
        ),
        (
            ("    prompt: Hello and goodbye.", "    prompt: [Hello, goodbye]"),
            "hello",
            "prompt: [Hello",
            "prompt: a prompt is a text, or a mapping of language to text",
        ),
        (
            ("{key: 1, next: hello}", "{key: 1, words: [yes, no], next: hello}"),
            "top",
            "{key: 1",
            "options[0].words: words are a list of texts, or a mapping of language to a list of "
            'texts (quote words YAML reads as something else, such as "no" or "on")',
        ),
        (
            ("start: top", "start: top\nlanguage: en"),
            None,
            "language: en",
            "unknown field 'language' (a menu takes: id, description, languages, voice, start,",
        ),
        (("start: top\n", ""), None, "id: shapes", "missing field 'start'"),
        (
            ("    prompt: Hello and goodbye.", "    prompt: {no: Hei og ha det.}"),
            "hello",
            "prompt: {no:",
            "YAML reads the key 'no' as true or false: quote it",
        ),
        (
            (
                "  hello:\n    kind: hangup\n    prompt: Hello and goodbye.",
                "  hello:\n    kind: play\n    url: ftp://x.example/a.mp3\n"
                "    text: Hi\n    next: top",
            ),
            "hello",
            "url: ftp:",
            "url: 'ftp://x.example/a.mp3' is not an http(s) URL",
        ),
        (
            ("nodes:", "hours:\n  office: {timezone: Mars/Olympus}\nnodes:"),
            None,
            "timezone: Mars",
            "hours.office.timezone: unknown time zone 'Mars/Olympus' (use an IANA name",
        ),
        (
            (
                "nodes:",
                "hours:\n  office:\n    timezone: UTC\n    weekly: {mon: 18:00-08:00}\nnodes:",
            ),
            None,
            "weekly:",
            "'18:00-08:00': the end must be after the start (split a range over midnight",
        ),
        (
            ("nodes:", CALENDAR.format("{mon: [9-5]}")),
            None,
            "weekly:",
            "'9-5' is not a time range like 08:00-18:00",
        ),
        (
            ("nodes:", CALENDAR.format("{monday: [09:00-17:00]}")),
            None,
            "weekly:",
            "hours.office.weekly.monday (the key): Input should be 'mon', 'tue', 'wed', 'thu',",
        ),
    ],
)
def test_shape_problems_name_the_node_and_line(
    change: tuple[str, str], node: str | None, needle: str, expected: str
) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    result = parse_menu(text, "shapes.yaml")
    assert isinstance(result, list), "a broken menu must not load"
    line = line_of(text, needle)
    matching = [p for p in result if expected in p.message]
    assert matching, [str(p) for p in result]
    assert matching[0] == Problem("shapes.yaml", node, line, matching[0].message)


DUPLICATES = """\
id: dup
languages: [en]
start: top
nodes:
  top:
    kind: menu
    prompt: Press 1.
    options: [{key: 1, next: bye}]
  top:
    kind: hangup
  bye:
    kind: hangup
    prompt: Hello.
    prompt: Goodbye.
"""


def test_duplicate_keys_are_problems_not_silently_dropped() -> None:
    assert parse_menu(DUPLICATES, "dup.yaml") == [
        Problem(
            "dup.yaml",
            "top",
            9,
            "duplicate key 'top' (first on line 5); YAML would keep only the last one",
        ),
        Problem(
            "dup.yaml",
            "bye",
            14,
            "duplicate key 'prompt' (first on line 13); YAML would keep only the last one",
        ),
    ]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("", 1, "the file is empty"),
        ("- just\n- a list\n", 1, "the top level must be a mapping"),
        ("id: x\nnodes: {a: [unclosed\n", 3, "not valid YAML"),
        ("id: x\n  bad indent: 1\n", 2, "not valid YAML: mapping values are not allowed here"),
    ],
)
def test_files_that_are_not_menus_are_problems(text: str, line: int, expected: str) -> None:
    result = parse_menu(text, "broken.yaml")
    assert isinstance(result, list) and len(result) == 1
    assert result[0].file == "broken.yaml" and result[0].line == line
    assert expected in result[0].message


def test_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    result = load_menu(tmp_path / "nope.yaml")
    assert isinstance(result, list) and "cannot read the file" in result[0].message
    assert str(result[0]).startswith(f"{tmp_path / 'nope.yaml'}: cannot read")


def test_problems_print_file_line_and_node() -> None:
    assert str(Problem("a.yaml", "main", 7, "x: bad")) == "a.yaml:7: node 'main': x: bad"
    assert str(Problem("a.yaml", None, 2, "start: bad")) == "a.yaml:2: start: bad"


@pytest.mark.parametrize(
    ("prompt", "language", "expected"),
    [
        ({"en": "Hi", "es": "Hola"}, "es", "Hola"),
        ({"en": "Hi", "es": "Hola"}, "de", "Hi"),  # the default language
        ("Hi", "es", "Hi"),
        (None, "en", None),
    ],
)
def test_text_in(prompt: str | dict[str, str] | None, language: str, expected: str | None) -> None:
    assert text_in(prompt, language, "en") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Español!", "espanol"), ("  Buzón  de   VOZ ", "buzon de voz"), ("*", "*"), ("ß", "ss")],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_every_node_kind_has_a_model() -> None:
    menu = Menu.model_validate(
        {
            "id": "all",
            "languages": ["en"],
            "start": "a",
            "hours": {"h": {"timezone": "UTC"}},
            "nodes": {
                "a": {"kind": "menu", "prompt": "p", "options": [{"key": "1", "next": "b"}]},
                "b": {"kind": "say", "prompt": "p", "next": "c"},
                "c": {"kind": "play", "url": "https://x.example/a.mp3", "text": "t", "next": "d"},
                "d": {"kind": "gather", "prompt": "p", "into": "x", "next": "e"},
                "e": {"kind": "set", "topic": "t", "next": "f"},
                "f": {"kind": "hours", "calendar": "h", "open": "g", "closed": "g"},
                "g": {"kind": "lookup", "url": "https://x.example", "next": "h", "fallback": "h"},
                "h": {"kind": "voicemail", "prompt": "p", "next": "i"},
                "i": {"kind": "queue"},
                "j": {"kind": "transfer", "target": "+15551234567"},
                "k": {"kind": "hangup"},
                "l": {"kind": "appeal_status", "prompt": "p", "next": "k", "fallback": "i"},
                "m": {"kind": "appeal", "topic": "billing", "next": "k", "fallback": "i"},
            },
        }
    )
    assert {n.kind for n in menu.nodes.values()} == set(NodeKind)


# -- business hours ------------------------------------------------------------------------

NEW_YORK = Calendar.model_validate(
    {
        "timezone": "America/New_York",
        "weekly": {
            "mon": ["08:00-12:00", "13:00-18:00"],
            "fri": "08:00-24:00",
            "sat": ["09:00-13:00"],
        },
        "holidays": [date(2026, 12, 25), {"date": "2026-07-03", "name": "Independence Day"}],
    }
)
NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 3, 2, 8, 0, tzinfo=NY), Status.OPEN),  # Monday, opening minute
        (datetime(2026, 3, 2, 7, 59, 59, tzinfo=NY), Status.CLOSED),
        (datetime(2026, 3, 2, 12, 30, tzinfo=NY), Status.CLOSED),  # lunch break
        (datetime(2026, 3, 2, 17, 59, tzinfo=NY), Status.OPEN),
        (datetime(2026, 3, 2, 18, 0, tzinfo=NY), Status.CLOSED),  # the end is not open
        (datetime(2026, 3, 3, 10, 0, tzinfo=NY), Status.CLOSED),  # Tuesday is not listed
        (datetime(2026, 3, 6, 23, 59, tzinfo=NY), Status.OPEN),  # Friday until 24:00
        (datetime(2026, 3, 8, 10, 0, tzinfo=NY), Status.CLOSED),  # Sunday
        (datetime(2026, 12, 25, 10, 0, tzinfo=NY), Status.HOLIDAY),  # a Friday, but Christmas
        (datetime(2026, 7, 3, 9, 0, tzinfo=NY), Status.HOLIDAY),
        # The same instants in UTC: 13:30 UTC is 08:30 in New York in winter (EST, -5) ...
        (datetime(2026, 3, 2, 13, 30, tzinfo=UTC), Status.OPEN),
        # ... and 12:30 UTC is 08:30 in summer (EDT, -4) but 07:30 in winter.
        (datetime(2026, 6, 1, 12, 30, tzinfo=UTC), Status.OPEN),
        (datetime(2026, 3, 2, 12, 30, tzinfo=UTC), Status.CLOSED),
        # Saturday 01:00 UTC is still Friday 20:00 in New York: open until midnight.
        (datetime(2026, 3, 7, 1, 0, tzinfo=UTC), Status.OPEN),
        # Christmas Day begins at 05:00 UTC in New York, not at midnight UTC: 04:00 UTC is
        # still Thursday evening there (closed, but no holiday).
        (datetime(2026, 12, 25, 4, 0, tzinfo=UTC), Status.CLOSED),
        (datetime(2026, 12, 25, 5, 0, tzinfo=UTC), Status.HOLIDAY),
        (datetime(2026, 3, 7, 9, 0, tzinfo=timezone(timedelta(hours=-5))), Status.OPEN),
    ],
)
def test_business_hours(now: datetime, expected: Status) -> None:
    assert status(NEW_YORK, now) == expected


def test_business_hours_need_an_aware_clock() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        status(NEW_YORK, datetime(2026, 3, 2, 10, 0))


def test_the_examples_in_the_admin_docs_have_the_right_shape() -> None:
    doc = (ROOT / "docs" / "ivr.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    nodes = TypeAdapter(Node)
    checked = 0
    for block in blocks:
        data = yaml.safe_load(block.replace("  ...\n", ""))
        assert isinstance(data, dict), block
        if "nodes" in data:
            Menu.model_validate(data)
        elif "hours" in data:
            for calendar in data["hours"].values():
                Calendar.model_validate(calendar)
        else:
            for node in data.values():
                nodes.validate_python(node)
        checked += 1
    assert checked >= 10
