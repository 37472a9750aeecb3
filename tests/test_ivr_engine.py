"""The IVR engine: every node kind, answers good and bad, silence, back and repeat, business
hours, lookups, recordings, language switches, and the session state surviving as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.engine import (
    MAX_HOPS,
    Action,
    Ask,
    AskKind,
    Choice,
    Digits,
    Enqueue,
    Event,
    Hangup,
    Lookup,
    LookupResult,
    Play,
    Record,
    RecordingDone,
    Say,
    State,
    Step,
    Text,
    Timeout,
    Transfer,
    advance,
    resume,
    start,
)
from ivr.loader import LoadedMenu, load_menu, parse_menu
from ivr.model import Menu
from ivr.validate import validate

BERLIN = ZoneInfo("Europe/Berlin")
OPEN = datetime(2026, 3, 9, 10, 0, tzinfo=BERLIN)  # a Monday morning
CLOSED = datetime(2026, 3, 9, 19, 0, tzinfo=BERLIN)
HOLIDAY = datetime(2026, 10, 3, 10, 0, tzinfo=BERLIN)

MENU = """\
id: test
languages: [en, de]
voice: {en: Polly.Joanna, de: Polly.Vicki}
start: hours
fallback: agent
hours:
  office:
    timezone: Europe/Berlin
    weekly: {mon: ["09:00-17:00"], tue: ["09:00-17:00"]}
    holidays: [2026-10-03, {date: 2026-12-24, name: Heiligabend}]
nodes:
  hours:
    kind: hours
    calendar: office
    open: hello
    closed: closed
    holiday: holiday
  hello:
    kind: say
    prompt: {en: "Hello {name}.", de: "Hallo {name}."}
    next: jingle
  jingle:
    kind: play
    url: https://cdn.example.com/jingle.mp3
    text: {en: Welcome!, de: Willkommen!}
    next: top
  top:
    kind: menu
    prompt: {en: "1 orders, 2 more, 3 German.", de: "1 Bestellungen, 2 mehr, 3 Deutsch."}
    text: {en: "What can we do for you?", de: "Was können wir für Sie tun?"}
    retries: 1
    timeout_seconds: 4
    options:
      - key: 1
        label: {en: Orders, de: Bestellungen}
        words: {en: [order, my order, orders], de: [bestellung]}
        next: order
      - key: 2
        label: {en: More, de: Mehr}
        words: {en: [more, other], de: [mehr]}
        next: more
      - key: 3
        label: Deutsch
        words: {en: [german], de: [deutsch]}
        announce: {language: de, text: Für Deutsch drücken Sie die 3.}
        next: german
      - words: {en: [goodbye, bye], de: [tschuss]}
        label: {en: Goodbye, de: Tschüss}
        next: bye
  more:
    kind: menu
    prompt: {en: "1 a person, 2 a message, 3 back to the start.", de: "1 Person, 2 Nachricht."}
    repeat: false
    retries: 0
    on_exhausted: bye
    options:
      - {key: 1, words: {en: [person], de: [person]}, next: transfer}
      - {key: 2, words: {en: [message], de: [nachricht]}, next: voicemail}
      - {key: 3, words: {en: [start], de: [anfang]}, next: top}
  german:
    kind: set
    language: de
    topic: german
    attributes: {segment: dach}
    next: top
  order:
    kind: gather
    prompt: {en: "Your order number?", de: "Ihre Bestellnummer?"}
    invalid: {en: That is no order number., de: Das ist keine Bestellnummer.}
    timeout: {en: "Still there?", de: "Noch da?"}
    min_digits: 4
    max_digits: 6
    pattern: "[1-9][0-9]*"
    into: order_number
    retries: 1
    on_exhausted: person
    next: lookup
  lookup:
    kind: lookup
    url: "https://api.example.com/orders/{order_number}?lang={language}"
    timeout_seconds: 2
    into: {order_status: order.status, eta: order.eta}
    next: status
    fallback: sorry
  status:
    kind: say
    prompt:
      en: "Order {order_number}: {order_status}, {eta}."
      de: "{order_number}: {order_status}."
    next: person
  sorry:
    kind: say
    prompt: {en: We cannot look it up now., de: Das geht gerade nicht.}
    next: person
  person:
    kind: queue
    prompt: {en: Please hold., de: Bitte warten Sie.}
    queue: tech
    topic: orders
    priority: 7
    skills: [tech, billing]
  agent:
    kind: queue
    topic: general
  transfer:
    kind: transfer
    prompt: {en: Connecting you., de: Wir verbinden.}
    target: "+4930123456"
  voicemail:
    kind: voicemail
    prompt: {en: Speak after the tone., de: Sprechen Sie nach dem Ton.}
    max_length_seconds: 60
    transcribe: true
    next: bye
  closed:
    kind: say
    prompt: {en: We are closed., de: Wir haben geschlossen.}
    next: voicemail
  holiday:
    kind: say
    prompt: {en: Happy holiday., de: Schönen Feiertag.}
    next: bye
  bye:
    kind: hangup
    prompt: {en: Goodbye., de: Auf Wiederhören.}
"""


def load(text: str) -> Menu:
    loaded = parse_menu(text, "test.yaml")
    assert isinstance(loaded, LoadedMenu), loaded
    return loaded.menu


@pytest.fixture(scope="module")
def menu() -> Menu:
    loaded = parse_menu(MENU, "test.yaml")
    assert isinstance(loaded, LoadedMenu), loaded
    assert validate(loaded) == [], "the engine's test menu must be a valid one"
    return loaded.menu


def play(
    menu: Menu,
    events: Sequence[Event],
    now: datetime = OPEN,
    attributes: dict[str, str] | None = None,
) -> list[Step]:
    """Start a session and feed it events, storing the state as JSON in between (as the
    gateway does between webhooks)."""
    steps = [start(menu, now, attributes)]
    for event in events:
        stored = State.from_json(steps[-1].state.to_json())
        steps.append(advance(menu, stored, event, now))
    return steps


def last(menu: Menu, *events: Event, now: datetime = OPEN, **attributes: str) -> Step:
    return play(menu, events, now, attributes or None)[-1]


def spoken(step: Step) -> list[str]:
    return [a.text for a in step.actions if isinstance(a, Say)]


def kinds(step: Step) -> list[str]:
    return [type(a).__name__ for a in step.actions]


def ask(step: Step) -> Ask:
    found = [a for a in step.actions if isinstance(a, Ask)]
    assert len(found) == 1, step.actions
    return found[0]


# -- every node kind ---------------------------------------------------------------------


def test_start_chains_hours_say_and_play_to_the_first_menu(menu: Menu) -> None:
    step = last(menu, name="Ada")
    assert step.actions == (
        Say("Hello Ada.", "en", "Polly.Joanna", "Hello Ada."),
        Play("https://cdn.example.com/jingle.mp3", "Welcome!", "en"),
        Say("1 orders, 2 more, 3 German.", "en", "Polly.Joanna", "What can we do for you?"),
        Say("Für Deutsch drücken Sie die 3.", "de", "Polly.Vicki", None),
        Ask(
            AskKind.MENU,
            "top",
            "en",
            4.0,
            choices=(
                Choice("1", "Orders", "1"),
                Choice("2", "More", "2"),
                Choice("3", "Deutsch", "3"),
                Choice(None, "Goodbye", "goodbye"),
            ),
            hints=("order", "my order", "orders", "more", "other", "german", "goodbye", "bye"),
            back=False,
            repeat=True,
        ),
    )
    assert step.state.node == "top" and not step.state.done and step.note is None
    assert dict(step.state.attributes) == {"name": "Ada", "language": "en"}


def test_a_missing_attribute_in_a_prompt_is_left_empty(menu: Menu) -> None:
    assert spoken(last(menu))[0] == "Hello ."


@pytest.mark.parametrize(
    ("events", "node", "actions", "done"),
    [
        ([Digits("1")], "order", ["Say", "Ask"], False),  # gather
        ([Digits("2")], "more", ["Say", "Ask"], False),  # another menu
        ([Digits("2"), Digits("1")], "transfer", ["Say", "Transfer"], True),
        ([Digits("2"), Digits("2")], "voicemail", ["Say", "Record"], False),
        ([Text("goodbye")], "bye", ["Say", "Hangup"], True),  # keyword-only option
        ([Digits("1"), Digits("4711")], "lookup", ["Lookup"], False),
        (
            [Digits("1"), Digits("4711"), LookupResult(True, {"order": {"status": "sent"}})],
            "person",  # the answer lacks ``eta``: sorry, then the queue
            ["Say", "Say", "Enqueue"],
            True,
        ),
    ],
)
def test_where_answers_lead(
    menu: Menu, events: list[Event], node: str, actions: list[str], done: bool
) -> None:
    step = last(menu, *events)
    assert (step.state.node, kinds(step), step.state.done) == (node, actions, done)


def test_transfer_voicemail_and_hangup_actions(menu: Menu) -> None:
    assert last(menu, Digits("2"), Digits("1")).actions[-1] == Transfer("+4930123456")
    record = last(menu, Digits("2"), Digits("2")).actions
    assert record == (
        Say("Speak after the tone.", "en", "Polly.Joanna", "Speak after the tone."),
        Record("voicemail", 60, 5.0, "#", True),
    )
    assert last(menu, Text("bye")).actions == (
        Say("Goodbye.", "en", "Polly.Joanna", "Goodbye."),
        Hangup(),
    )


def test_the_whole_order_path_to_a_queue(menu: Menu) -> None:
    steps = play(
        menu,
        [Digits("1"), Digits("4711#"), LookupResult(True, {"order": {"status": "sent", "eta": 2}})],
    )
    assert steps[2].actions == (
        Lookup("lookup", "https://api.example.com/orders/4711?lang=en", "GET", 2.0, None),
    )
    final = steps[3]
    assert spoken(final) == ["Order 4711: sent, 2.", "Please hold."]
    assert final.actions[-1] == Enqueue(
        {
            "language": "en",
            "order_number": "4711",
            "order_status": "sent",
            "eta": "2",
            "topic": "orders",
            "priority": "7",
            "skills": "tech,billing",
        },
        "tech",
        7,
        ("tech", "billing"),
    )
    assert final.state.done and final.state.node == "person"
    assert advance(menu, final.state, Digits("1"), OPEN) == Step(
        final.state, (), "the session is over"
    )


def test_a_menu_option_can_set_attributes_and_the_language(menu: Menu) -> None:
    step = last(menu, Digits("3"))
    assert step.state.language == "de" and step.state.node == "top"
    assert dict(step.state.attributes) == {"language": "de", "topic": "german", "segment": "dach"}
    assert spoken(step) == ["1 Bestellungen, 2 mehr, 3 Deutsch."]  # no German offer in German
    assert ask(step).choices[0] == Choice("1", "Bestellungen", "1")
    assert [c.key for c in ask(step).choices] == ["1", "2", None]
    assert ask(step).language == "de" and ask(step).hints == (
        "bestellung",
        "mehr",
        "deutsch",
        "tschuss",
    )
    # Later prompts, engine messages included, are German with the German voice.
    step = last(menu, Digits("3"), Digits("7"))
    assert step.actions[0] == Say(
        "Das ist leider keine der Möglichkeiten.",
        "de",
        "Polly.Vicki",
        "Das ist leider keine der Möglichkeiten.",
    )


def test_a_language_given_at_the_start_is_used(menu: Menu) -> None:
    assert last(menu, language="de").state.language == "de"
    assert spoken(last(menu, language="de"))[0] == "Hallo ."
    assert last(menu, language="fr").state.language == "en"


# -- business hours ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "first_words", "node"),
    [
        (OPEN, "Hello .", "top"),
        (datetime(2026, 3, 9, 8, 59, tzinfo=BERLIN), "We are closed.", "voicemail"),
        (CLOSED, "We are closed.", "voicemail"),
        (datetime(2026, 3, 11, 10, 0, tzinfo=BERLIN), "We are closed.", "voicemail"),  # Wed
        (HOLIDAY, "Happy holiday.", "bye"),
        (datetime(2026, 12, 24, 10, 0, tzinfo=BERLIN), "Happy holiday.", "bye"),
        # 08:30 UTC is 09:30 in Berlin in winter (open), 16:30 UTC 17:30 (closed) ...
        (datetime(2026, 3, 9, 8, 30, tzinfo=UTC), "Hello .", "top"),
        (datetime(2026, 3, 9, 16, 30, tzinfo=UTC), "We are closed.", "voicemail"),
        # ... but in summer (CEST, +2) 15:30 UTC is already 17:30: closed.
        (datetime(2026, 6, 1, 15, 30, tzinfo=UTC), "We are closed.", "voicemail"),
        (datetime(2026, 6, 1, 14, 59, tzinfo=UTC), "Hello .", "top"),
    ],
)
def test_business_hours_branch(menu: Menu, now: datetime, first_words: str, node: str) -> None:
    step = last(menu, now=now)
    assert spoken(step)[0] == first_words
    assert step.state.node == node


def test_the_engine_wants_an_aware_clock(menu: Menu) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        start(menu, datetime(2026, 3, 9, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        advance(menu, start(menu, OPEN).state, Digits("1"), datetime(2026, 3, 9, 10, 0))


# -- bad answers, silence, retries --------------------------------------------------------


def test_an_invalid_key_is_said_and_the_menu_asked_again(menu: Menu) -> None:
    step = last(menu, Digits("7"))
    assert spoken(step) == [
        "Sorry, that is not one of the choices.",
        "1 orders, 2 more, 3 German.",
        "Für Deutsch drücken Sie die 3.",
    ]
    assert step.state.node == "top" and step.state.retries == 1 and ask(step).node == "top"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # top allows 1 retry, then the menu's fallback: the agent queue.
        ([Digits("7"), Digits("8")], ["Sorry, that is not one of the choices."]),
        ([Timeout(), Timeout()], ["Sorry, we did not get an answer."]),
        ([Digits("7"), Timeout()], ["Sorry, we did not get an answer."]),
        ([Digits(""), Text("  ")], ["Sorry, we did not get an answer."]),  # empty: silence
    ],
)
def test_out_of_retries_a_menu_goes_to_the_fallback(
    menu: Menu, events: list[Event], expected: list[str]
) -> None:
    step = last(menu, *events)
    assert spoken(step) == expected
    assert step.state.done and step.state.node == "agent"
    enqueue = step.actions[-1]
    assert isinstance(enqueue, Enqueue) and enqueue.queue is None
    assert enqueue.attributes["topic"] == "general"


def test_a_good_answer_after_a_bad_one_resets_the_count(menu: Menu) -> None:
    step = last(menu, Digits("7"), Digits("1"))
    assert step.state.node == "order" and step.state.retries == 0


def test_on_exhausted_beats_the_fallback_and_zero_retries_means_one_try(menu: Menu) -> None:
    step = last(menu, Digits("2"), Digits("9"))
    assert spoken(step) == ["Sorry, that is not one of the choices.", "Goodbye."]
    assert step.state.done and step.state.node == "bye"


def test_without_fallback_the_engine_says_goodbye_and_hangs_up(menu: Menu) -> None:
    bare = load(
        MENU.replace("fallback: agent\n", "").replace(
            "  agent:\n    kind: queue\n    topic: general\n", ""
        )
    )
    step = last(bare, Timeout(), Timeout())
    assert spoken(step) == ["Sorry, we did not get an answer.", "Thank you for calling. Goodbye."]
    assert step.actions[-1] == Hangup() and step.state.done and step.state.node == "top"


@pytest.mark.parametrize(
    ("answers", "stored"),
    [
        ([Digits("4711")], "4711"),
        ([Digits("123456#")], "123456"),  # the finishing key is not part of the answer
        ([Text("47 11")], "4711"),  # typed with a space
        ([Text("47-11.")], "4711"),
        ([Digits("0471"), Digits("4711")], "4711"),  # the pattern refuses a leading 0
        ([Digits("471"), Digits("4711")], "4711"),  # too short
        ([Digits("4711111"), Digits("4711")], "4711"),  # too long
        ([Text("four"), Digits("4711")], "4711"),
        ([Timeout(), Digits("4711")], "4711"),
    ],
)
def test_gather_checks_and_stores_the_digits(menu: Menu, answers: list[Event], stored: str) -> None:
    step = last(menu, Digits("1"), *answers)
    assert step.state.node == "lookup"
    assert step.state.attributes["order_number"] == stored


@pytest.mark.parametrize(
    ("answers", "said"),
    [
        ([Digits("12")], ["That is no order number.", "Your order number?"]),
        ([Timeout()], ["Still there?", "Your order number?"]),
    ],
)
def test_gather_says_its_own_invalid_and_timeout_texts(
    menu: Menu, answers: list[Event], said: list[str]
) -> None:
    step = last(menu, Digits("1"), *answers)
    assert spoken(step) == said and step.state.retries == 1


def test_gather_out_of_retries_goes_to_on_exhausted(menu: Menu) -> None:
    step = last(menu, Digits("1"), Digits("12"), Timeout())
    assert spoken(step) == ["Still there?", "Please hold."]
    assert step.state.node == "person" and step.state.done
    assert "order_number" not in step.state.attributes


# -- back, repeat and words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "node", "retries", "history"),
    [
        ([Digits("2"), Digits("*")], "top", 0, ()),  # back to the previous menu
        ([Digits("2"), Text("back")], "top", 0, ()),
        ([Digits("1"), Digits("*")], "top", 0, ()),  # '*' in a gather goes back too
        ([Digits("1"), Text("zurück")], "top", 0, ()),
        ([Digits("*")], "top", 0, ()),  # no previous menu: the menu again
        ([Digits("7"), Digits("#")], "top", 1, ()),  # repeat keeps the count of bad answers
        ([Digits("7"), Text("repeat")], "top", 1, ()),
        ([Digits("2")], "more", 0, ("top",)),
        ([Digits("2"), Digits("3")], "top", 0, ()),  # back to top by an option: no loop
        ([Digits("3"), Digits("2")], "more", 0, ("top",)),
    ],
)
def test_back_and_repeat(
    menu: Menu, events: list[Event], node: str, retries: int, history: tuple[str, ...]
) -> None:
    step = last(menu, *events)
    assert (step.state.node, step.state.retries, step.state.history) == (node, retries, history)
    assert isinstance(step.actions[-1], Ask)


def test_back_is_offered_only_where_there_is_a_menu_to_go_back_to(menu: Menu) -> None:
    assert not ask(last(menu)).back
    assert ask(last(menu, Digits("2"))).back
    assert ask(last(menu, Digits("1"))).back  # gather
    assert not ask(last(menu, Digits("2"))).repeat  # ``more`` has repeat: false


def test_repeat_disabled_makes_hash_an_invalid_answer(menu: Menu) -> None:
    step = last(menu, Digits("2"), Digits("#"))
    assert spoken(step)[0] == "Sorry, that is not one of the choices."
    assert step.state.node == "bye" and step.state.done  # ``more`` has no retries


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("1", "order"),
        (" 2 ", "more"),
        ("Orders", "order"),
        ("I want to ask about my order please", "order"),
        ("Mehr", "more"),  # a German word works in an English session
        ("BESTELLUNG!", "order"),
        ("tschüss", "bye"),
        ("order and more", "top"),  # two options: ambiguous, asked again
        ("pizza", "top"),
        ("ordering", "top"),  # whole words only
    ],
)
def test_text_answers_match_keys_and_keywords(menu: Menu, text: str, node: str) -> None:
    assert last(menu, Text(text)).state.node == node


# -- lookups and recordings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "node", "said"),
    [
        (
            LookupResult(True, {"order": {"status": "sent", "eta": "Monday"}}),
            "person",
            "Order 4711: sent, Monday.",
        ),
        (LookupResult(False), "person", "We cannot look it up now."),
        (Timeout(), "person", "We cannot look it up now."),
        (LookupResult(True, None), "person", "We cannot look it up now."),
        (LookupResult(True, {"order": "sent"}), "person", "We cannot look it up now."),
        (
            LookupResult(True, {"order": {"status": ["a", "list"], "eta": 1}}),
            "person",
            "We cannot look it up now.",
        ),
        (
            LookupResult(True, {"order": {"status": True, "eta": 1.5}}),
            "person",
            "Order 4711: true, 1.5.",
        ),
    ],
)
def test_lookup_results(menu: Menu, result: Event, node: str, said: str) -> None:
    step = last(menu, Digits("1"), Digits("4711"), result)
    assert spoken(step)[0] == said and step.state.node == node


def test_a_lookup_without_its_attribute_falls_back_without_io(menu: Menu) -> None:
    broken = load(MENU.replace("orders/{order_number}", "orders/{account}"))
    step = last(broken, Digits("1"), Digits("4711"))
    assert not any(isinstance(a, Lookup) for a in step.actions)
    assert "We cannot look it up now." in spoken(step)
    assert step.note == "lookup 'lookup' skipped: no value for account"


def test_lookup_url_values_are_escaped_and_post_sends_a_body() -> None:
    posting = load(
        "id: p\nlanguages: [en]\nstart: l\nnodes:\n"
        "  l:\n    kind: lookup\n    url: https://api.example.com/c/{caller}\n    method: POST\n"
        "    body: {number: '{caller}', source: ivr}\n    next: h\n    fallback: h\n"
        "  h: {kind: hangup}\n"
    )
    step = start(posting, OPEN, {"caller": "+49 30/1?x"})
    assert step.actions == (
        Lookup(
            "l",
            "https://api.example.com/c/%2B49%2030%2F1%3Fx",
            "POST",
            3.0,
            {"number": "+49 30/1?x", "source": "ivr"},
        ),
    )


@pytest.mark.parametrize(
    ("event", "attributes"),
    [
        (
            RecordingDone("https://rec.example/1.wav", 12.4, "Call me back"),
            {
                "voicemail_url": "https://rec.example/1.wav",
                "voicemail_seconds": "12",
                "voicemail_transcription": "Call me back",
            },
        ),
        (
            RecordingDone("https://rec.example/2.wav", 3),
            {"voicemail_url": "https://rec.example/2.wav", "voicemail_seconds": "3"},
        ),
        (
            Text("Please call me back tomorrow."),
            {"voicemail_text": "Please call me back tomorrow."},
        ),
        (Timeout(), {}),
    ],
)
def test_voicemail_keeps_the_recording_and_moves_on(
    menu: Menu, event: Event, attributes: dict[str, str]
) -> None:
    step = last(menu, Digits("2"), Digits("2"), event)
    assert step.state.node == "bye" and step.state.done
    kept = {k: v for k, v in step.state.attributes.items() if k.startswith("voicemail")}
    assert kept == attributes


def test_closed_callers_leave_a_message(menu: Menu) -> None:
    step = last(menu, now=CLOSED)
    assert kinds(step) == ["Say", "Say", "Record"] and step.state.node == "voicemail"


# -- events that do not fit, and resuming ---------------------------------------------------


@pytest.mark.parametrize(
    ("events", "stray"),
    [
        ([], LookupResult(True, {})),
        ([], RecordingDone("https://rec.example/x.wav", 1)),
        ([Digits("1")], LookupResult(False)),
        ([Digits("1"), Digits("4711")], Digits("1")),
        ([Digits("2"), Digits("2")], Digits("5")),
    ],
)
def test_a_stray_event_changes_nothing(menu: Menu, events: list[Event], stray: Event) -> None:
    before = last(menu, *events)
    step = advance(menu, before.state, stray, OPEN)
    assert step.state == before.state and step.actions == ()
    assert step.note is not None and "ignored" in step.note


def test_resume_asks_again_without_counting(menu: Menu) -> None:
    before = last(menu, Digits("7"))
    again = resume(menu, before.state, OPEN)
    assert again.state == before.state
    assert spoken(again) == ["1 orders, 2 more, 3 German.", "Für Deutsch drücken Sie die 3."]
    pending = last(menu, Digits("1"), Digits("4711"))
    assert resume(menu, pending.state, OPEN).actions == pending.actions  # the Lookup again
    finished = last(menu, Text("bye"))
    assert resume(menu, finished.state, OPEN).actions == ()


# -- the state as JSON ---------------------------------------------------------------------


def test_state_survives_json_mid_menu(menu: Menu) -> None:
    middle = last(menu, Digits("3"), Digits("1"), Digits("12"))  # German, a bad order number
    state = middle.state
    assert (state.node, state.language, state.retries, state.history) == (
        "order",
        "de",
        1,
        ("top",),
    )
    raw = middle.state.to_json()
    assert isinstance(raw, str)
    copy = State.from_json(raw)
    assert copy == middle.state and copy.to_json() == raw
    assert (
        copy.history == ("top",) and copy.language == "de" and copy.attributes["segment"] == "dach"
    )
    # The copy goes on exactly as the original would.
    assert advance(menu, copy, Digits("*"), OPEN) == advance(menu, middle.state, Digits("*"), OPEN)
    with pytest.raises(TypeError):
        copy.attributes["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    "raw",
    [
        "[]",
        '{"format": 2}',
        '{"format": 1, "menu_id": "test"}',
        '{"format":1,"menu_id":"t","version":"v","node":"n","language":"en",'
        '"attributes":{"a":1},"retries":0,"history":[],"done":false}',
        '{"format":1,"menu_id":"t","version":"v","node":"n","language":"en",'
        '"attributes":{},"retries":"0","history":[],"done":false}',
        "not json",
    ],
)
def test_state_from_json_refuses_anything_else(raw: str) -> None:
    with pytest.raises(ValueError):
        State.from_json(raw)


def test_a_state_of_another_menu_is_refused(menu: Menu) -> None:
    other = load(MENU.replace("id: test", "id: other"))
    with pytest.raises(ValueError, match="belongs to menu 'test'"):
        advance(other, start(menu, OPEN).state, Digits("1"), OPEN)


def test_after_a_menu_change_a_session_goes_on_or_starts_over(menu: Menu) -> None:
    waiting = last(menu, Digits("2"))
    changed = load(MENU.replace("1 a person, 2 a message", "1 someone, 2 a message"))
    assert changed.version != menu.version
    step = advance(changed, waiting.state, Digits("1"), OPEN)
    assert step.state.node == "transfer" and step.state.version == changed.version
    removed = load(MENU.replace("next: more", "next: order").replace("  more:", "  gone:"))
    step = advance(removed, waiting.state, Digits("1"), OPEN)
    assert step.note is not None and "starting over" in step.note
    assert step.state.node == "top" and step.state.history == ()


# -- safety nets for menus the validator would refuse --------------------------------------


def test_a_runaway_chain_ends_in_a_hangup() -> None:
    looping = load(
        "id: loop\nlanguages: [en]\nstart: a\nnodes:\n"
        "  a: {kind: say, prompt: A, next: b}\n  b: {kind: set, topic: x, next: a}\n"
    )
    step = start(looping, OPEN)
    assert step.actions[-1] == Hangup() and step.state.done
    assert len(step.actions) == MAX_HOPS // 2 + 1  # every other hop says something
    assert step.note == f"more than {MAX_HOPS} nodes without waiting; hung up"


def test_an_unknown_node_ends_in_a_hangup() -> None:
    broken = load(
        "id: b\nlanguages: [en]\nstart: a\nnodes:\n  a: {kind: say, prompt: A, next: x}\n"
    )
    step = start(broken, OPEN)
    assert kinds(step) == ["Say", "Hangup"] and step.state.done
    assert step.note == "unknown node 'x'; hung up"


def test_the_demo_menu_runs(menu: Menu) -> None:
    demo = load_menu(Path(__file__).parents[1] / "config" / "ivr" / "main.yaml")
    assert isinstance(demo, LoadedMenu)
    new_york = ZoneInfo("America/New_York")
    weekday = datetime(2026, 3, 10, 11, 0, tzinfo=new_york)
    steps = play(demo.menu, [Digits("9"), Text("ayuda"), Digits("1234567"), Timeout()], weekday)
    assert steps[1].state.language == "es"
    assert steps[3].actions == (
        Lookup(
            "order-lookup",
            "https://orders.demo-telecom.example/api/orders/1234567/status",
            "GET",
            3.0,
            None,
        ),
    )
    final = steps[4]
    assert spoken(final)[0].startswith("En este momento no podemos consultar su pedido.")
    enqueue = final.actions[-1]
    assert isinstance(enqueue, Enqueue)
    assert (enqueue.attributes["topic"], enqueue.priority, enqueue.attributes["language"]) == (
        "tech",
        5,
        "es",
    )
    night = last(demo.menu, now=datetime(2026, 3, 10, 23, 0, tzinfo=new_york))
    assert night.state.node == "voicemail" and spoken(night)[0].startswith("Our office is closed.")
    holiday = last(demo.menu, now=datetime(2026, 12, 25, 11, 0, tzinfo=new_york))
    assert spoken(holiday)[0] == "Our office is closed today for the holiday."
    assert isinstance(holiday.actions[-1], Record)


def test_actions_are_frozen(menu: Menu) -> None:
    action: Action = start(menu, OPEN).actions[0]
    with pytest.raises(AttributeError):
        action.text = "changed"  # type: ignore[misc,union-attr]
