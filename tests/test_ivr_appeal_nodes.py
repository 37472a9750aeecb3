"""The two IVR node kinds for appeals: ``appeal_status`` (the caller types or keys an appeal's
number and hears its status) and ``appeal`` (the menu opens an appeal for the caller). Pure:
the model, the validator, the engine with the appeals desk's answers as events, the renderers,
the diagram and the simulator; and the driver taking the fallback when no desk runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import aiohttp
import pytest

from gateway.menus.appeal_desk import MenuCaller
from gateway.menus.ivr_driver import settle
from ivr import twiml
from ivr.actions import (
    Action,
    AppealAnswer,
    AppealOutcome,
    AppealStatus,
    Ask,
    AskKind,
    Digits,
    Enqueue,
    OpenAppeal,
    Say,
    State,
    Step,
    Text,
    Timeout,
)
from ivr.engine import TRIES_ATTRIBUTE, advance, resume, start
from ivr.graph import menu_graph
from ivr.loader import LoadedMenu, parse_menu
from ivr.model import AppealNode, AppealStatusNode, Menu, NodeKind
from ivr.simulation import SimulationError, check_event, heard, parse_event, simulated
from ivr.text import buttons, numbered, parse_reply
from ivr.validate import validate

NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
NUMBER = "482139070"

MENU = """\
id: appeals
languages: [en, es]
start: main
fallback: agent
nodes:
  main:
    kind: menu
    prompt: {en: For an appeal's status press 1. To complain press 2., es: Estado 1. Queja 2.}
    text: {en: "How can we help?", es: "¿Cómo podemos ayudarle?"}
    options:
      - {key: 1, label: {en: Check an appeal, es: Consultar}, next: check}
      - {key: 2, label: {en: Complain, es: Queja}, next: account}
  check:
    kind: appeal_status
    prompt: {en: Enter your appeal number and the pound key., es: Marque su número.}
    text: {en: Please reply with your appeal number., es: Responda con su número.}
    invalid: {en: An appeal number has 9 digits., es: Son 9 dígitos.}
    retries: 1
    max_tries: 2
    next: main
    fallback: agent
  account:
    kind: gather
    prompt: {en: Enter your account number., es: Su cuenta.}
    into: account
    min_digits: 6
    max_digits: 10
    next: complain
  complain:
    kind: appeal
    topic: billing_dispute
    priority: high
    prompt: {en: One moment., es: Un momento.}
    fields: {account: "{account}", channel_used: "{channel}"}
    summary: "Complaint from the phone menu, account {account}"
    next: bye
    fallback: agent
  bye:
    kind: hangup
    prompt: {en: Goodbye., es: Adiós.}
  agent:
    kind: queue
    prompt: {en: Please hold., es: Espere.}
"""


def loaded(text: str = MENU) -> LoadedMenu:
    result = parse_menu(text, "appeals.yaml")
    assert isinstance(result, LoadedMenu), result
    return result


@pytest.fixture
def menu() -> Menu:
    return loaded().menu


def said(actions: Sequence[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def at_check(menu: Menu) -> Step:
    step = advance(menu, start(menu, NOW, {"channel": "voice"}).state, Digits("1"), NOW)
    assert step.state.node == "check"
    return step


def asked(menu: Menu, number: str = NUMBER) -> Step:
    step = advance(menu, at_check(menu).state, Digits(number + "#"), NOW)
    assert step.actions[-1] == AppealStatus("check", number, "en")
    return step


# -- the model and the validator -------------------------------------------------------------


def test_the_nodes_load_with_their_defaults(menu: Menu) -> None:
    check, complain = menu.nodes["check"], menu.nodes["complain"]
    assert isinstance(check, AppealStatusNode) and isinstance(complain, AppealNode)
    assert (check.into, check.finish_on_key, check.retry, check.max_tries) == (
        "appeal_reference",
        "#",
        None,
        2,
    )
    assert complain.kind == NodeKind.APPEAL and complain.priority == "high"
    assert validate(loaded()) == []
    assert validate(loaded(), topics={"billing_dispute", "router"}) == []


CHECK_END = "    next: main\n    fallback: agent\n  account:"
FIELDS = 'fields: {account: "{account}", channel_used: "{channel}"}'
PROMPT = "prompt: {en: Enter your appeal number and the pound key., es: Marque su número.}"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            (CHECK_END, CHECK_END.replace("fallback", "retry: nowhere\n    fallback")),
            "check': retry: unknown node 'nowhere'",
        ),
        (
            ("    max_tries: 2\n", "    max_tries: 2\n    into: Appeal-Number\n"),
            "into: 'Appeal-Number' is not an attribute name",
        ),
        ((PROMPT, "prompt: {en: Enter your number.}"), "prompt: missing text for es"),
        (
            ("    max_tries: 2\n", "    max_tries: 0\n"),
            "max_tries: Input should be greater than or equal to 1",
        ),
        (
            ("    priority: high\n", "    priority: asap\n"),
            "priority: Input should be 'low', 'normal', 'high' or 'urgent'",
        ),
        (
            (FIELDS, 'fields: {Account: "{account}"}'),
            "fields.Account: 'Account' is not a field name",
        ),
        (
            (FIELDS, 'fields: {account: "{account"}'),
            "fields.account: use {attribute} with a lower-case attribute name",
        ),
        (("    fallback: agent\n  bye:", "  bye:"), "complain': missing field 'fallback'"),
        (
            ("prompt: {en: One moment., es: Un momento.}", "prompt: One moment."),
            "prompt: give the text per language",
        ),
    ],
)
def test_mistakes_in_the_nodes_are_reported(change: tuple[str, str], problem: str) -> None:
    old, new = change
    assert old in MENU
    result = parse_menu(MENU.replace(old, new), "appeals.yaml")
    problems = result if isinstance(result, list) else validate(result)
    assert any(problem in str(p) for p in problems), [str(p) for p in problems]


def test_an_unknown_topic_is_reported_only_when_the_topics_are_known() -> None:
    problems = validate(loaded(), topics={"router"})
    assert [str(p) for p in problems] == [
        "appeals.yaml:31: node 'complain': topic: unknown appeal topic 'billing_dispute' (router)"
    ]
    assert validate(loaded(), topics=None) == []


def test_opening_appeals_in_a_loop_that_never_waits_is_refused() -> None:
    looping = MENU.replace("    next: bye\n", "    next: again\n")
    looping += "  again:\n    kind: say\n    prompt: {en: A., es: B.}\n    next: complain\n"
    problems = [str(p) for p in validate(loaded(looping))]
    assert any("loop without ever waiting for the caller: complain → again" in p for p in problems)
    assert not any("'bye'" in p and "no path" not in p for p in problems)


def test_asking_for_a_number_again_after_a_miss_is_no_busy_loop() -> None:
    retry_here = MENU.replace(
        CHECK_END, CHECK_END.replace("fallback", "retry: check\n    fallback")
    )
    assert validate(loaded(retry_here)) == []


# -- asking for the number ----------------------------------------------------------------------


def test_the_node_asks_for_nine_digits_ended_by_the_pound_key(menu: Menu) -> None:
    step = at_check(menu)
    assert said(step.actions) == ["Enter your appeal number and the pound key."]
    ask = step.actions[-1]
    assert isinstance(ask, Ask) and ask.kind == AskKind.DIGITS and ask.node == "check"
    assert (ask.min_digits, ask.max_digits, ask.finish_on_key, ask.back) == (9, 9, "#", True)
    # Text channels show the text, not the spoken prompt.
    assert numbered(step) == "Please reply with your appeal number.\nReply * to go back."
    assert buttons(step).text == "Please reply with your appeal number."


@pytest.mark.parametrize(
    "answer",
    [
        Digits(f"{NUMBER}#"),
        Digits(NUMBER),
        parse_reply(f"{NUMBER[:3]}-{NUMBER[3:6]}-{NUMBER[6:]}"),
        parse_reply(f"{NUMBER[:3]} {NUMBER[3:6]} {NUMBER[6:]}"),
        Text(f"#{NUMBER}"),
        Text(f"№ {NUMBER[:3]}.{NUMBER[3:6]}.{NUMBER[6:]}"),
        Text(f"No. {NUMBER}"),
    ],
)
def test_the_number_keyed_or_typed_goes_to_the_appeals_desk(menu: Menu, answer: object) -> None:
    step = advance(menu, at_check(menu).state, answer, NOW)  # type: ignore[arg-type]
    assert step.actions == (AppealStatus("check", NUMBER, "en"),)
    assert step.state.node == "check" and not step.state.done
    assert step.state.attributes["appeal_reference"] == NUMBER


@pytest.mark.parametrize("answer", [Digits("12345#"), Digits("4821390701"), Text("my appeal")])
def test_anything_but_nine_digits_is_a_bad_answer(menu: Menu, answer: object) -> None:
    step = advance(menu, at_check(menu).state, answer, NOW)  # type: ignore[arg-type]
    assert said(step.actions) == [
        "An appeal number has 9 digits.",
        "Enter your appeal number and the pound key.",
    ]
    assert step.state.retries == 1
    spent = advance(menu, step.state, answer, NOW)  # type: ignore[arg-type]
    assert spent.state.done and isinstance(spent.actions[-1], Enqueue)  # the menu's fallback


def test_silence_and_going_back(menu: Menu) -> None:
    silent = advance(menu, at_check(menu).state, Timeout(), NOW)
    assert said(silent.actions)[0] == "Sorry, we did not get an answer."
    back = advance(menu, at_check(menu).state, Text("back"), NOW)
    assert back.state.node == "main"


# -- the desk's answers -------------------------------------------------------------------------


def test_a_found_appeal_is_said_and_the_menu_goes_on(menu: Menu) -> None:
    answer = AppealAnswer(
        AppealOutcome.FOUND,
        "Your appeal 4 8 2, 1 3 9, 0 7 0 is being handled.",
        "Your appeal 482-139-070 is being handled.",
        {"appeal_status": "in_progress"},
    )
    step = advance(menu, asked(menu).state, answer, NOW)
    say = step.actions[0]
    assert isinstance(say, Say)
    assert say.text == "Your appeal 4 8 2, 1 3 9, 0 7 0 is being handled."
    assert say.written == "Your appeal 482-139-070 is being handled."
    assert step.state.node == "main" and step.state.attributes["appeal_status"] == "in_progress"
    assert numbered(step).startswith("Your appeal 482-139-070 is being handled.\nHow can we help?")


def test_a_number_that_finds_nothing_is_asked_again_then_the_fallback(menu: Menu) -> None:
    missing = AppealAnswer(AppealOutcome.NOT_FOUND, "We found no appeal.", "We found no appeal.")
    first = advance(menu, asked(menu).state, missing, NOW)
    assert said(first.actions) == [
        "We found no appeal.",
        "Enter your appeal number and the pound key.",
    ]
    assert first.state.node == "check" and first.state.attributes[TRIES_ATTRIBUTE] == "1"
    again = advance(menu, first.state, Digits(NUMBER), NOW)
    second = advance(menu, again.state, missing, NOW)  # max_tries: 2
    assert said(second.actions) == ["We found no appeal.", "Please hold."]
    assert second.state.done and TRIES_ATTRIBUTE not in second.state.attributes
    assert "2 numbers found nothing" in (second.note or "")


def test_a_miss_leads_to_retry_when_the_node_names_one() -> None:
    text = MENU.replace(CHECK_END, CHECK_END.replace("fallback", "retry: main\n    fallback"))
    menu = loaded(text).menu
    missing = AppealAnswer(AppealOutcome.NOT_FOUND, "Nothing.", "Nothing.")
    step = advance(menu, asked(menu).state, missing, NOW)
    assert step.state.node == "main" and said(step.actions)[0] == "Nothing."
    back = advance(menu, step.state, Digits("1"), NOW)
    found = AppealAnswer(AppealOutcome.FOUND, "Found.", "Found.")
    done = advance(menu, advance(menu, back.state, Digits(NUMBER), NOW).state, found, NOW)
    assert TRIES_ATTRIBUTE not in done.state.attributes  # a hit starts the count again


@pytest.mark.parametrize("outcome", [AppealOutcome.LIMITED, AppealOutcome.FAILED])
def test_a_rate_limit_or_a_failure_takes_the_fallback_at_once(
    menu: Menu, outcome: AppealOutcome
) -> None:
    text = "Too many tries." if outcome == AppealOutcome.LIMITED else ""
    step = advance(menu, asked(menu).state, AppealAnswer(outcome, text, text), NOW)
    assert said(step.actions) == [*([text] if text else []), "Please hold."]
    assert step.state.done


def test_a_desk_answer_while_nothing_was_asked_changes_nothing_at_other_nodes(menu: Menu) -> None:
    main = start(menu, NOW).state
    step = advance(menu, main, AppealAnswer(AppealOutcome.FOUND, "x", "x"), NOW)
    assert step.actions == () and step.state == main and "ignored" in (step.note or "")


# -- opening an appeal --------------------------------------------------------------------------


def _at_complain(menu: Menu) -> Step:
    chose = advance(menu, start(menu, NOW, {"channel": "sms"}).state, Digits("2"), NOW)
    return advance(menu, chose.state, Digits("1234567"), NOW)


def test_the_appeal_node_asks_the_desk_with_fields_from_the_attributes(menu: Menu) -> None:
    step = _at_complain(menu)
    assert said(step.actions) == ["One moment."]
    assert step.actions[-1] == OpenAppeal(
        "complain",
        "billing_dispute",
        "en",
        "high",
        {"account": "1234567", "channel_used": "sms"},
        "Complaint from the phone menu, account 1234567",
    )
    assert step.state.node == "complain" and not step.state.done


def test_an_opened_appeal_is_said_and_kept_then_the_menu_goes_on(menu: Menu) -> None:
    opened = AppealAnswer(
        AppealOutcome.OPENED,
        "We registered your appeal 4 8 2, 1 3 9, 0 7 0.",
        "We registered your appeal 482-139-070.",
        {"appeal_reference": NUMBER},
    )
    step = advance(menu, _at_complain(menu).state, opened, NOW)
    assert said(step.actions) == ["We registered your appeal 4 8 2, 1 3 9, 0 7 0.", "Goodbye."]
    assert step.state.done and step.state.attributes["appeal_reference"] == NUMBER
    assert numbered(step) == "We registered your appeal 482-139-070.\nGoodbye."


def test_an_appeal_that_could_not_be_opened_takes_the_fallback(menu: Menu) -> None:
    step = advance(menu, _at_complain(menu).state, AppealAnswer(AppealOutcome.FAILED), NOW)
    assert said(step.actions) == ["Please hold."] and step.state.done
    ignored = advance(menu, _at_complain(menu).state, Digits("1"), NOW)
    assert ignored.actions == () and "ignored" in (ignored.note or "")


def test_a_session_coming_back_to_the_appeal_node_asks_the_desk_again(menu: Menu) -> None:
    state = _at_complain(menu).state
    again = resume(menu, State.from_json(state.to_json()), NOW)
    assert isinstance(again.actions[-1], OpenAppeal)


# -- renderers, diagram, simulator ------------------------------------------------------------


def test_twiml_gathers_nine_keys_and_never_renders_a_desk_action(menu: Menu) -> None:
    urls = twiml.VoiceUrls(
        "https://x/a", "https://x/s", "https://x/r", "https://x/e", "https://x/t"
    )
    xml = twiml.render(at_check(menu).actions, urls, {"en": "en-US"})
    assert 'finishOnKey="#"' in xml and 'numDigits="9"' in xml and 'input="dtmf"' in xml
    for action in (AppealStatus("check", NUMBER, "en"), OpenAppeal("c", "t", "en")):
        with pytest.raises(ValueError, match="appeal action"):
            twiml.render([action], urls, {})


def test_the_diagram_draws_both_nodes(menu: Menu) -> None:
    graph = menu_graph(menu, loaded().source)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["check"]["kind"] == "appeal_status"
    assert nodes["check"]["label"] == "appeal status by number into appeal_reference"
    assert nodes["complain"]["label"] == "open appeal billing_dispute · priority high"
    edges = {(e["from"], e["to"], e["label"], e["implicit"]) for e in graph["edges"]}
    assert {
        ("check", "main", "found", False),
        ("check", "agent", "failed", False),
        ("complain", "bye", "opened", False),
        ("complain", "agent", "failed", False),
        ("check", "agent", "exhausted", True),
    } <= edges


def test_the_simulator_stops_at_the_desk_until_the_admin_answers(menu: Menu) -> None:
    step = asked(menu)
    shown = simulated(menu, step)
    assert shown["waiting"] == "appeal"
    assert shown["appeal"] == {"action": "status", "number": NUMBER}
    assert shown["heard"] == [f"appeal status {NUMBER}"]
    event = parse_event({"appeal": {"outcome": "not_found"}})
    check_event(menu, step.state, event)
    after = simulated(menu, advance(menu, step.state, event, NOW))
    assert after["heard"][0] == "say: [no appeal of the caller with this number]"
    assert after["waiting"] == "digits"
    opened = simulated(menu, _at_complain(menu))
    assert opened["waiting"] == "appeal" and opened["appeal"]["topic"] == "billing_dispute"
    opening = _at_complain(menu).actions[-1]
    assert heard(opening, "en") == "open appeal billing_dispute (priority high)"
    with pytest.raises(SimulationError, match="send appeal, not digits"):
        check_event(menu, _at_complain(menu).state, Digits("1"))


@pytest.mark.parametrize(
    "raw",
    [{"appeal": {"outcome": "maybe"}}, {"appeal": {"outcome": ["found"]}}, {"appeal": "found"},
     {"appeal": {"outcome": "found", "text": 5}}],
)  # fmt: skip
def test_the_simulator_refuses_a_malformed_desk_answer(raw: object) -> None:
    with pytest.raises(SimulationError) as refused:
        parse_event(raw)
    assert refused.value.code == "bad_event"


# -- the driver --------------------------------------------------------------------------------


class _Desk:
    """An appeals desk that knows one appeal, as the appeals package answers."""

    def __init__(self) -> None:
        self.asked: list[tuple[MenuCaller, object]] = []

    async def status(self, caller: MenuCaller, action: AppealStatus) -> AppealAnswer:
        self.asked.append((caller, action))
        if action.reference_digits == NUMBER:
            return AppealAnswer(AppealOutcome.FOUND, "Spoken.", "Written.")
        return AppealAnswer(AppealOutcome.NOT_FOUND, "No.", "No.")

    async def open(self, caller: MenuCaller, action: OpenAppeal) -> AppealAnswer:
        raise RuntimeError("the store is away")

    async def answer_text(
        self,
        caller: MenuCaller,
        message_id: int,
        text: str,
        language: str | None,
        *,
        numbers_expected: bool,
    ) -> bool:
        return False


async def test_the_driver_answers_from_the_desk_and_fails_over_without_one(menu: Menu) -> None:
    caller = MenuCaller("voice", "+15557654321", call_sid="CA1")
    desk = _Desk()
    async with aiohttp.ClientSession() as http:
        found = await settle(menu, asked(menu), NOW, http, desk=desk, caller=caller)
        assert said(found.actions) == ["Spoken.", *said(start(menu, NOW).actions)]
        assert found.state.node == "main" and desk.asked[0][0] == caller
        no_desk = await settle(menu, asked(menu), NOW, http)
        assert no_desk.state.done and isinstance(no_desk.actions[-1], Enqueue)
        failing = await settle(menu, _at_complain(menu), NOW, http, desk=desk, caller=caller)
        assert failing.state.done and said(failing.actions) == ["One moment.", "Please hold."]
