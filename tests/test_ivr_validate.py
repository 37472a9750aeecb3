"""The IVR validator: every kind of mistake, each named with file, node and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from ivr.engine import MAX_HOPS
from ivr.loader import LoadedMenu, parse_menu
from ivr.model import Problem
from ivr.validate import check_directory, check_menu_file, validate
from tests.support import write_config

ROOT = Path(__file__).parents[1]
QUEUES = {"billing", "tech", "sales", "everyone"}
SKILLS = {"billing", "tech", "sales"}

VALID = """\
id: shop
languages: [en, es]
voice: {en: Polly.Joanna, es: Polly.Lupe}
start: hours
hours:
  office:
    timezone: Europe/Madrid
    weekly:
      mon: ["09:00-18:00"]
nodes:
  hours:
    kind: hours
    calendar: office
    open: top
    closed: bye
  top:
    kind: menu
    prompt:
      en: Press 1 for orders, 2 for billing, 9 for Spanish.
      es: Oprima 1 para pedidos, 2 para facturas.
    options:
      - key: 1
        words:
          en: [order, orders]
          es: [pedido]
        label: {en: Orders, es: Pedidos}
        next: order
      - key: 2
        words:
          en: [billing]
          es: [factura]
        next: billing
      - key: 9
        label: Español
        next: spanish
      - key: 0
        words:
          en: [person]
          es: [persona]
        next: desk
    on_exhausted: billing
  spanish:
    kind: set
    language: es
    next: top
  order:
    kind: gather
    prompt:
      en: Your order number, please.
      es: Su número de pedido, por favor.
    min_digits: 4
    max_digits: 8
    pattern: "[0-9]+"
    into: order_number
    next: lookup
  lookup:
    kind: lookup
    url: https://api.example.com/orders/{order_number}
    into: {order_status: status}
    next: billing
    fallback: billing
  billing:
    kind: queue
    topic: billing
    queue: billing
    skills: [billing]
  desk:
    kind: transfer
    target: "+34910000000"
  bye:
    kind: hangup
    prompt:
      en: We are closed.
      es: Estamos cerrados.
"""


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the text")


def problems_of(text: str) -> list[Problem]:
    loaded = parse_menu(text, "shop.yaml")
    if isinstance(loaded, list):
        return loaded
    return validate(loaded, queues=QUEUES, skills=SKILLS)


def test_the_base_menu_is_valid() -> None:
    assert problems_of(VALID) == []


def _edit(*pairs: tuple[str, str]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        for old, new in pairs:
            assert old in text, old
            text = text.replace(old, new, 1)
        return text

    return apply


# Each case: an edit of the (otherwise valid) menu, the node, the text on the problem's line,
# and the message.
CASES: list[tuple[str, Callable[[str], str], str | None, str, str]] = [
    (
        "unknown next",
        _edit(("    language: es\n    next: top", "    language: es\n    next: tpo")),
        "spanish",
        "next: tpo",
        "next: unknown node 'tpo'",
    ),
    (
        "unknown option target",
        _edit(("        next: order", "        next: ordr")),
        "top",
        "next: ordr",
        "options[0].next: unknown node 'ordr'",
    ),
    (
        "unknown start",
        _edit(("start: hours", "start: hour")),
        None,
        "start: hour",
        "start: unknown node 'hour'",
    ),
    (
        "unknown on_exhausted",
        _edit(("    on_exhausted: billing", "    on_exhausted: nobody")),
        "top",
        "on_exhausted: nobody",
        "on_exhausted: unknown node 'nobody'",
    ),
    (
        "unreachable",
        _edit(("    next: lookup", "    next: billing")),
        "lookup",
        "  lookup:",
        "no path leads here from the start node 'hours'",
    ),
    (
        "loop that never waits",
        _edit(
            ("    language: es\n    next: top", "    language: es\n    next: again"),
            (
                "  order:",
                "  again:\n    kind: hours\n    calendar: office\n"
                "    open: spanish\n    closed: spanish\n  order:",
            ),
        ),
        "spanish",
        "  spanish:",
        "these nodes loop without ever waiting for the caller: spanish → again → spanish",
    ),
    (
        "loop through a lookup",
        _edit(
            ("    next: billing\n    fallback: billing", "    next: lookup\n    fallback: billing")
        ),
        "lookup",
        "  lookup:",
        "these nodes loop without ever waiting for the caller: lookup → lookup",
    ),
    (
        "missing translation",
        _edit(("      es: Su número de pedido, por favor.\n", "")),
        "order",
        "    prompt:\n      en: Your order number",
        "prompt: missing text for es",
    ),
    (
        "plain text in a two-language menu",
        _edit(
            (
                "    prompt:\n      en: We are closed.\n      es: Estamos cerrados.",
                "    prompt: We are closed.",
            )
        ),
        "bye",
        "prompt: We are closed.",
        "prompt: give the text per language (en: ..., es: ...); a plain text only works",
    ),
    (
        "translation for a language the menu does not have",
        _edit(("      es: Estamos cerrados.", "      es: Estamos cerrados.\n      fr: Fermé.")),
        "bye",
        "fr: Fermé.",
        "prompt.fr: language 'fr' is not one of the menu's languages (en, es)",
    ),
    (
        "empty translation",
        _edit(("      es: Estamos cerrados.", "      es: ''")),
        "bye",
        "es: ''",
        "prompt.es: the text is empty",
    ),
    (
        "missing required prompt",
        _edit(
            (
                "    prompt:\n      en: Your order number, please.\n"
                "      es: Su número de pedido, por favor.\n",
                "",
            )
        ),
        "order",
        "  order:",
        "missing field 'prompt'",
    ),
    (
        "bad regex",
        _edit(('    pattern: "[0-9]+"', '    pattern: "[0-9+"')),
        "order",
        "pattern:",
        "pattern: not a valid regular expression: unterminated character set",
    ),
    (
        "min over max",
        _edit(("    min_digits: 4", "    min_digits: 9")),
        "order",
        "min_digits: 9",
        "min_digits: min_digits (9) is more than max_digits (8)",
    ),
    (
        "duplicate key",
        _edit(("      - key: 2", "      - key: 1")),
        "top",
        "- key: 1\n        words:\n          en: [billing]",
        "options[1].key: key '1' is used by options[0] already",
    ),
    (
        "duplicate keyword",
        _edit(("          es: [factura]", "          es: [Pedido]")),
        "top",
        "es: [Pedido]",
        "options[1].words.es: word 'Pedido' (es) is used by options[0] already",
    ),
    (
        "two-digit key",
        _edit(("      - key: 9", "      - key: 99")),
        "top",
        "key: 99",
        "options[2].key: '99' is not a key: use one digit 0-9",
    ),
    (
        "letter key",
        _edit(("      - key: 9", "      - key: a")),
        "top",
        "key: a",
        "options[2].key: 'a' is not a key: use one digit 0-9",
    ),
    (
        "star key while back is on",
        _edit(("      - key: 9", "      - key: '*'")),
        "top",
        "key: '*'",
        "options[2].key: key '*' goes back to the previous menu (set back: false to use it)",
    ),
    (
        "hash key while repeat is on",
        _edit(("      - key: 9", "      - key: '#'")),
        "top",
        "key: '#'",
        "options[2].key: key '#' repeats the menu (set repeat: false to use it)",
    ),
    (
        "option with neither key nor words",
        _edit(("      - key: 9\n", "      - \n")),
        "top",
        "label: Español",
        "options[2]: an option needs a key or words",
    ),
    (
        "one word list in a two-language menu",
        _edit(
            (
                "        words:\n          en: [billing]\n          es: [factura]",
                "        words: [billing]",
            )
        ),
        "top",
        "words: [billing]",
        "options[1].words: give the words per language ({en: [...], es: [...]})",
    ),
    (
        "unknown node kind",
        _edit(("    kind: transfer", "    kind: forward")),
        "desk",
        "  desk:",
        "unknown node kind 'forward' (one of: menu, say, play, gather, set, hours, lookup,",
    ),
    (
        "unknown field",
        _edit(('    target: "+34910000000"', '    target: "+34910000000"\n    timeout: 5')),
        "desk",
        "timeout: 5",
        "unknown field 'timeout' (a transfer takes: prompt, text, target)",
    ),
    (
        "unknown calendar",
        _edit(("    calendar: office", "    calendar: offices")),
        "hours",
        "calendar: offices",
        "calendar: unknown calendar 'offices' (office)",
    ),
    (
        "bad timezone",
        _edit(("    timezone: Europe/Madrid", "    timezone: Europe/Madird")),
        None,
        "timezone: Europe/Madird",
        "hours.office.timezone: unknown time zone 'Europe/Madird' (use an IANA name",
    ),
    (
        "transfer to a local number",
        _edit(('"+34910000000"', "'0910000000'")),
        "desk",
        "target:",
        "target: '0910000000' is neither an E.164 number (+15551234567) nor a SIP address",
    ),
    (
        "transfer to a web address",
        _edit(('"+34910000000"', "https://pbx.example")),
        "desk",
        "target:",
        "target: 'https://pbx.example' is neither an E.164 number",
    ),
    (
        "unknown routing queue",
        _edit(("    queue: billing", "    queue: bills")),
        "billing",
        "queue: bills",
        "queue: unknown routing queue 'bills'",
    ),
    (
        "unknown routing skill",
        _edit(("    skills: [billing]", "    skills: [billing, cooking]")),
        "billing",
        "skills: [billing, cooking]",
        "skills[1]: unknown skill 'cooking'",
    ),
    (
        "set with a language the menu does not have",
        _edit(("    language: es\n", "    language: fr\n")),
        "spanish",
        "language: fr",
        "language: language 'fr' is not one of the menu's languages (en, es)",
    ),
    (
        "set that sets nothing",
        _edit(("    language: es\n", "")),
        "spanish",
        "  spanish:",
        "sets nothing (give language, topic, priority, skills or attributes)",
    ),
    (
        "gather into a bad attribute name",
        _edit(("    into: order_number", "    into: Order-Number")),
        "order",
        "into: Order-Number",
        "into: 'Order-Number' is not an attribute name (lower-case letters, digits, '_')",
    ),
    (
        "lookup URL with a broken placeholder",
        _edit(("orders/{order_number}", "orders/{order_number")),
        "lookup",
        "url:",
        "url: use {attribute} with a lower-case attribute name; a brace is left over",
    ),
    (
        "lookup URL that is not http",
        _edit(("url: https://api.example.com", "url: ftp://api.example.com")),
        "lookup",
        "url:",
        "url: 'ftp://api.example.com/orders/{order_number}' is not an http(s) URL",
    ),
    (
        "language code",
        _edit(("languages: [en, es]", "languages: [en, es, English]")),
        None,
        "languages:",
        "languages[2]: 'English' is not a language code such as en",
    ),
    (
        "language twice",
        _edit(("languages: [en, es]", "languages: [en, es, en]")),
        None,
        "languages:",
        "languages[2]: 'en' is listed twice",
    ),
    (
        "no built-in texts for the language",
        _edit(
            ("languages: [en, es]", "languages: [en, es, fr]"),
            ("voice: {en: Polly.Joanna, es: Polly.Lupe}", "voice: {en: Polly.Joanna, fr: Lea}"),
        ),
        None,
        "languages:",
        "languages: there is no built-in 'invalid' text for fr: add messages.invalid",
    ),
    (
        "voice for an unknown language",
        _edit(
            ("voice: {en: Polly.Joanna, es: Polly.Lupe}", "voice: {en: Polly.Joanna, de: Vicki}")
        ),
        None,
        "voice:",
        "voice.de: language 'de' is not one of the menu's languages (en, es)",
    ),
    (
        "bad node id",
        _edit(("    closed: bye", "    closed: 'bye now'"), ("  bye:", "  'bye now':")),
        "bye now",
        "  'bye now':",
        "a node id uses letters, digits, '_', '.' and '-', starting with a letter or digit",
    ),
]


@pytest.mark.parametrize(
    ("change", "node", "needle", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_mistake_is_named_with_file_node_and_line(
    change: Callable[[str], str], node: str | None, needle: str, expected: str
) -> None:
    text = change(VALID)
    found = problems_of(text)
    # A needle may span lines (to tell equal lines apart): the problem is on its first line.
    line = text[: text.index(needle)].count("\n") + 1
    matching = [p for p in found if p.message.startswith(expected)]
    assert matching, "\n".join(str(p) for p in found)
    assert (matching[0].file, matching[0].node, matching[0].line) == ("shop.yaml", node, line)


def test_a_chain_longer_than_the_engine_follows_is_refused() -> None:
    says = "".join(
        f"  s{i}:\n    kind: say\n    prompt: Part {i}.\n    next: s{i + 1}\n" for i in range(60)
    )
    text = "id: long\nlanguages: [en]\nstart: s0\nnodes:\n" + says + "  s60:\n    kind: hangup\n"
    loaded = parse_menu(text, "long.yaml")
    assert isinstance(loaded, LoadedMenu)
    found = validate(loaded)
    assert [(p.node, p.line) for p in found] == [("s0", 5)]
    assert found[0].message == (
        f"a chain of 60 nodes that do not wait starts here; the engine follows at most "
        f"{MAX_HOPS - 1} in a row"
    )


def test_the_order_is_stable_and_by_line() -> None:
    text = _edit(
        ("    language: es\n    next: top", "    language: xx\n    next: tpo"),
        ('    pattern: "[0-9]+"', '    pattern: "("'),
        ("start: hours", "start: nowhere"),
    )(VALID)
    first, second = problems_of(text), problems_of(text)
    assert first == second
    assert [p.line for p in first] == sorted(p.line or 0 for p in first)
    assert len(first) >= 4


HEAD = "id: x\nlanguages: [en]\nstart: a\n"


@pytest.mark.parametrize(
    "text",
    [
        "id: x\nlanguages: []\nstart: a\nnodes: {}\n",
        "id: x\nlanguages: en\nstart: [a]\nnodes: {a: null}\n",
        "id: 5\nlanguages: [en]\nstart: a\nnodes: {a: {kind: menu, prompt: p, options: [7]}}\n",
        HEAD + "nodes: {a: {kind: menu, prompt: {en: [1]}, options: []}}",
        HEAD + "hours: {h: {timezone: 5, holidays: [nope]}}\nnodes: {}\n",
        "nodes:\n  a: &x {kind: say, prompt: p, next: a}\n  b: *x\n",
        HEAD + "nodes: {a: {kind: set, next: a}}\n",
    ],
)
def test_bad_input_gives_problems_never_an_exception(text: str) -> None:
    found = problems_of(text)
    assert found and all(isinstance(p, Problem) and p.file == "shop.yaml" for p in found)


def test_the_demo_menu_is_valid() -> None:
    result = check_menu_file(ROOT / "config" / "ivr" / "main.yaml", queues=QUEUES, skills=SKILLS)
    assert isinstance(result, LoadedMenu), "\n".join(str(p) for p in result)


def test_a_directory_of_menus(tmp_path: Path) -> None:
    good = VALID
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "b.yaml").write_text(good)  # the same id again
    (tmp_path / "c.yml").write_text(good.replace("id: shop", "id: other"))
    (tmp_path / "d.yaml").write_text(
        good.replace("id: shop", "id: broken").replace("closed: bye", "closed: by")
    )
    (tmp_path / "notes.txt").write_text("not a menu")
    menus, problems = check_directory(tmp_path, queues=QUEUES, skills=SKILLS)
    assert [m.menu.id for m in menus] == ["shop", "other"]
    assert problems[0] == Problem(
        str(tmp_path / "b.yaml"),
        None,
        1,
        f"id: menu id 'shop' is used by {tmp_path / 'a.yaml'} already",
    )
    assert {p.file for p in problems[1:]} == {str(tmp_path / "d.yaml")}
    missing = check_directory(tmp_path / "nope")
    assert missing[0] == [] and "cannot read the directory" in missing[1][0].message


def test_check_config_validates_the_menus_next_to_the_routing_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text((ROOT / "config" / "routing.yaml").read_text())
    (tmp_path / "ivr").mkdir()
    menu = tmp_path / "ivr" / "main.yaml"
    menu.write_text((ROOT / "config" / "ivr" / "main.yaml").read_text())
    config = write_config(tmp_path, routing={"rules_file": str(rules)})
    assert main(["--config", str(config), "check-config"]) == 0
    assert f"ivr:      {tmp_path / 'ivr'}: 1 menu (main)" in capsys.readouterr().out

    data = yaml.safe_load(rules.read_text())
    del data["queues"]["sales"]
    data["rules"] = [r for r in data["rules"] if "sales" not in str(r)]
    rules.write_text(yaml.safe_dump(data))
    text = menu.read_text()
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    expected = f"{menu}:{line_of(text, 'queue: sales')}: node 'sales': queue: unknown routing queue"
    assert "IVR menus are not valid:" in err and expected in err, err
