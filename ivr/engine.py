"""The IVR engine: a pure state machine over a menu.

Why pure: a phone call is a series of webhooks that may land on any gateway instance, and a
text conversation may pause for hours. So the engine keeps nothing in memory; every call takes
the session :class:`State` (stored between webhooks as JSON) and an :class:`Event`, and
returns a :class:`Step`: the new state and the :data:`Action` list a renderer turns into TwiML
or into text messages. It does no I/O (an HTTP lookup, a recording or a question to the
appeals desk is an action whose result comes back as an event) and reads no clock (``now`` is
passed in, aware).

A step follows nodes that do not wait (say, play, set, hours) until a node waits for an answer
(menu, gather, appeal_status), for a result (lookup, voicemail, appeal, and appeal_status once
it has the number), or ends the session (queue, transfer, hangup); a runaway chain ends in a
safe hang-up after :data:`MAX_HOPS` nodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from ivr.actions import (
    Action,
    AppealAnswer,
    AppealOutcome,
    AppealStatus,
    Ask,
    AskKind,
    Choice,
    Digits,
    Enqueue,
    Event,
    Hangup,
    Lookup,
    LookupResult,
    OpenAppeal,
    Play,
    Record,
    RecordingDone,
    Say,
    State,
    Step,
    Text,
    Timeout,
    Transfer,
    frozen_mapping,
)
from ivr.hours import Status, status
from ivr.model import (
    BACK_KEY,
    REPEAT_KEY,
    AppealNode,
    AppealStatusNode,
    AskingNode,
    GatherNode,
    HangupNode,
    HoursNode,
    LookupNode,
    Menu,
    MenuNode,
    Option,
    PlayNode,
    QueueNode,
    SayNode,
    SetNode,
    TransferNode,
    VoicemailNode,
    all_words,
    normalize,
    text_in,
    words_in,
)

MAX_HOPS = 50  # nodes entered in one step before the engine gives up (ivr.validate agrees)
MAX_HISTORY = 16  # menus remembered for '*'
REFERENCE_DIGITS = 9  # an appeal's number (appeals/numbers.py)
TRIES_ATTRIBUTE = "appeal_tries"  # numbers that found nothing so far, at an appeal_status node

# Words that mean '*' and '#' on text and speech, when no option claims them.
BACK_WORDS = frozenset(normalize(w) for w in ("back", "previous", "atrás", "volver", "zurück"))
REPEAT_WORDS = frozenset(normalize(w) for w in ("repeat", "again", "repetir", "wiederholen"))

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


# -- running ------------------------------------------------------------------------------


class _Run:
    """The mutable scratchpad of one step; frozen into a State at the end."""

    def __init__(self, menu: Menu, state: State, now: datetime) -> None:
        self.menu = menu
        self.now = now
        self.language = state.language
        self.attributes = dict(state.attributes)
        self.history = list(state.history)
        self.actions: list[Action] = []
        self.hops = 0
        self.note: str | None = None

    def state(self, node: str, *, retries: int = 0, done: bool = False) -> State:
        return State(
            self.menu.id,
            self.menu.version,
            node,
            self.language,
            self.attributes,
            retries,
            tuple(self.history),
            done,
        )

    def step(self, state: State) -> Step:
        return Step(state, tuple(self.actions), self.note)

    def fill(self, template: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.attributes.get(m.group(1), ""), template)

    def text(self, prompt: str | dict[str, str] | None) -> str | None:
        found = text_in(prompt, self.language, self.menu.default_language)
        return None if found is None else self.fill(found)

    def say(
        self,
        prompt: str | dict[str, str] | None,
        written: str | dict[str, str] | None = None,
        *,
        show: bool = True,
    ) -> None:
        """Say ``prompt``; text channels show ``written`` if given, else the prompt (unless
        ``show`` is False)."""
        text = self.text(prompt)
        if text is None:
            return
        shown = self.text(written) if written is not None else (text if show else None)
        voice = self.menu.voice.get(self.language)
        self.actions.append(Say(text, self.language, voice, shown))

    def message(self, name: Literal["invalid", "timeout", "goodbye"], own: Any = None) -> None:
        text = self.text(own) or self.fill(self.menu.message(name, self.language))
        self.actions.append(Say(text, self.language, self.menu.voice.get(self.language), text))

    def stop(self, node: str, note: str) -> State:
        self.note = note
        self.actions.append(Hangup())
        return self.state(node, done=True)


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _checked(menu: Menu, state: State, now: datetime) -> State:
    """Refuse a naive clock or another menu's state; a language the menu dropped becomes
    the default one."""
    _aware(now)
    if state.menu_id != menu.id:
        raise ValueError(f"the state belongs to menu {state.menu_id!r}, not {menu.id!r}")
    if state.language not in menu.languages:
        return replace(state, language=menu.default_language)
    return state


def start(menu: Menu, now: datetime, attributes: Mapping[str, str] | None = None) -> Step:
    """A new session at the menu's start. ``attributes`` are what the channel knows (e.g.
    ``channel``, ``caller``); a ``language`` among the menu's languages is used from the start."""
    _aware(now)
    given = dict(attributes or {})
    language = given.get("language", "")
    if language not in menu.languages:
        language = menu.default_language
    given["language"] = language
    run = _Run(menu, State(menu.id, menu.version, menu.start, language, given), now)
    return run.step(_enter(run, menu.start))


def advance(menu: Menu, state: State, event: Event, now: datetime) -> Step:
    """What ``event`` does to the session in ``state``. A state from an older version of the
    menu continues at its node if that still exists, else starts over (keeping attributes)."""
    state = _checked(menu, state, now)
    if state.done:
        return Step(state, (), "the session is over")
    run = _Run(menu, state, now)
    node = menu.nodes.get(state.node)
    if node is None or (state.version != menu.version and not _waits(node)):
        run.note = f"the menu changed under the session (node {state.node!r}); starting over"
        run.history.clear()
        return run.step(_enter(run, menu.start))
    match node:
        case MenuNode():
            new = _on_menu(run, state, node, event)
        case GatherNode():
            new = _on_gather(run, state, node, event)
        case LookupNode():
            new = _on_lookup(run, state, node, event)
        case VoicemailNode():
            new = _on_voicemail(run, state, node, event)
        case AppealStatusNode():
            new = _on_appeal_status(run, state, node, event)
        case AppealNode():
            new = _on_appeal(run, state, node, event)
        case _:
            run.note = f"{type(event).__name__} ignored: node {state.node!r} waits for nothing"
            new = replace(state, version=menu.version)
    return run.step(new)


def resume(menu: Menu, state: State, now: datetime) -> Step:
    """The current node's question again (prompt and Ask, or the pending Lookup/Record),
    without counting a retry: for a customer who comes back, or after an ignored event."""
    state = _checked(menu, state, now)
    if state.done:
        return Step(state, (), "the session is over")
    run = _Run(menu, state, now)
    node = menu.nodes.get(state.node)
    if node is None or not _waits(node):
        run.history.clear()
        return run.step(_enter(run, menu.start))
    new = _enter(run, state.node, keep_history=True)
    if new.node == state.node and not new.done:
        new = replace(new, retries=state.retries)
    return run.step(new)


def _waits(node: object) -> bool:
    return isinstance(
        node, MenuNode | GatherNode | LookupNode | VoicemailNode | AppealStatusNode | AppealNode
    )


def _enter(run: _Run, node_id: str, *, keep_history: bool = False) -> State:
    """Follow nodes from ``node_id`` until one waits or the session ends."""
    while True:
        run.hops += 1
        if run.hops > MAX_HOPS:
            return run.stop(node_id, f"more than {MAX_HOPS} nodes without waiting; hung up")
        node = run.menu.nodes.get(node_id)
        if node is None:
            return run.stop(node_id, f"unknown node {node_id!r}; hung up")
        match node:
            case SayNode():
                run.say(node.prompt, node.text)
                node_id = node.next
            case PlayNode():
                fallback = run.text(node.text) or ""
                run.actions.append(Play(node.url, fallback, run.language))
                node_id = node.next
            case SetNode():
                _set(run, node)
                node_id = node.next
            case HoursNode():
                node_id = _hours(run, node)
            case MenuNode():
                if node_id in run.history and not keep_history:
                    del run.history[run.history.index(node_id) :]
                _ask_menu(run, node_id, node)
                return run.state(node_id)
            case GatherNode() | AppealStatusNode():
                _ask_digits(run, node_id, node)
                return run.state(node_id)
            case AppealNode():
                return _open_appeal(run, node_id, node)
            case LookupNode():
                return _lookup(run, node_id, node)
            case VoicemailNode():
                run.say(node.prompt, node.text)
                run.actions.append(
                    Record(
                        node_id,
                        node.max_length_seconds,
                        node.timeout_seconds,
                        node.finish_on_key,
                        node.transcribe,
                    )
                )
                return run.state(node_id)
            case QueueNode():
                run.say(node.prompt, node.text)
                run.actions.append(_enqueue(run, node))
                return run.state(node_id, done=True)
            case TransferNode():
                run.say(node.prompt, node.text)
                run.actions.append(Transfer(node.target))
                return run.state(node_id, done=True)
            case HangupNode():
                run.say(node.prompt, node.text)
                run.actions.append(Hangup())
                return run.state(node_id, done=True)


def _set(run: _Run, node: SetNode) -> None:
    if node.language is not None and node.language in run.menu.languages:
        run.language = node.language
        run.attributes["language"] = node.language
    if node.topic is not None:
        run.attributes["topic"] = node.topic
    if node.priority is not None:
        run.attributes["priority"] = str(node.priority)
    if node.skills is not None:
        run.attributes["skills"] = ",".join(node.skills)
    run.attributes.update(node.attributes)


def _hours(run: _Run, node: HoursNode) -> str:
    calendar = run.menu.hours.get(node.calendar)
    if calendar is None:  # the validator refuses this; closed is the safe answer
        run.note = f"unknown calendar {node.calendar!r}; treated as closed"
        return node.closed
    found = status(calendar, run.now)
    if found == Status.OPEN:
        return node.open
    if found == Status.HOLIDAY and node.holiday:
        return node.holiday
    return node.closed


def _enqueue(run: _Run, node: QueueNode) -> Enqueue:
    if node.topic is not None:
        run.attributes["topic"] = node.topic
    if node.priority is not None:
        run.attributes["priority"] = str(node.priority)
    if node.skills is not None:
        run.attributes["skills"] = ",".join(node.skills)
    run.attributes["language"] = run.language
    raw_priority = run.attributes.get("priority", "")
    priority = int(raw_priority) if raw_priority.isdigit() else None
    skills = tuple(s for s in run.attributes.get("skills", "").split(",") if s)
    return Enqueue(frozen_mapping(run.attributes), node.queue, priority, skills)


def _lookup(run: _Run, node_id: str, node: LookupNode) -> State:
    missing = sorted(
        {name for name in _PLACEHOLDER.findall(node.url) if not run.attributes.get(name)}
    )
    if missing:
        run.note = f"lookup {node_id!r} skipped: no value for {', '.join(missing)}"
        return _enter(run, node.fallback)
    url = _PLACEHOLDER.sub(lambda m: quote(run.attributes[m.group(1)], safe=""), node.url)
    body = {k: run.fill(v) for k, v in node.body.items()} if node.method == "POST" else None
    run.actions.append(
        Lookup(
            node_id, url, node.method, node.timeout_seconds, frozen_mapping(body) if body else None
        )
    )
    return run.state(node_id)


# -- asking ------------------------------------------------------------------------------


def _choices(run: _Run, node: MenuNode) -> tuple[Choice, ...]:
    out = []
    for option in node.options:
        if option.announce is not None and option.announce.language == run.language:
            continue  # "Para español..." is no choice for a caller already in Spanish
        words = words_in(option.words, run.language) or all_words(option.words)
        label = run.text(option.label) if option.label is not None else None
        label = label or (words[0] if words else option.key or "")
        reply = option.key or (words[0] if words else label)
        out.append(Choice(option.key, label, reply))
    return tuple(out)


def _ask_menu(run: _Run, node_id: str, node: MenuNode) -> None:
    run.say(node.prompt, node.text, show=False)
    for option in node.options:
        announce = option.announce
        if announce is not None and announce.language != run.language:
            voice = run.menu.voice.get(announce.language)
            run.actions.append(Say(announce.text, announce.language, voice, None))
    hints = tuple(dict.fromkeys(w for o in node.options for w in words_in(o.words, run.language)))
    run.actions.append(
        Ask(
            AskKind.MENU,
            node_id,
            run.language,
            node.timeout_seconds,
            choices=_choices(run, node),
            hints=hints,
            back=node.back and bool(run.history),
            repeat=node.repeat,
        )
    )


def _ask_digits(run: _Run, node_id: str, node: GatherNode | AppealStatusNode) -> None:
    run.say(node.prompt, node.text)
    if isinstance(node, GatherNode):
        low, high = node.min_digits, node.max_digits
    else:
        low = high = REFERENCE_DIGITS
    run.actions.append(
        Ask(
            AskKind.DIGITS,
            node_id,
            run.language,
            node.timeout_seconds,
            min_digits=low,
            max_digits=high,
            finish_on_key=node.finish_on_key,
            back=node.back and bool(run.history),
        )
    )


def _ask_again(
    run: _Run, state: State, node: MenuNode | GatherNode | AppealStatusNode, retries: int
) -> State:
    if isinstance(node, MenuNode):
        _ask_menu(run, state.node, node)
    else:
        _ask_digits(run, state.node, node)
    return run.state(state.node, retries=retries)


def _failed(
    run: _Run,
    state: State,
    node: MenuNode | GatherNode | AppealStatusNode,
    why: Literal["invalid", "timeout"],
) -> State:
    """A bad or missing answer: say so, then ask again or, out of retries, move on."""
    run.message(why, node.invalid if why == "invalid" else node.timeout)
    retries = state.retries + 1
    if retries <= node.retries:
        return _ask_again(run, state, node, retries)
    target = node.on_exhausted or run.menu.fallback
    if target is None:
        run.message("goodbye")
        run.actions.append(Hangup())
        return run.state(state.node, done=True)
    return _enter(run, target)


def _back(run: _Run, state: State, node: AskingNode) -> State | None:
    """'*': to the previous menu, if there is one and the node allows it."""
    if not node.back or not run.history:
        return None
    previous = run.history.pop()
    return _enter(run, previous, keep_history=True)


def _choose(run: _Run, state: State, node: MenuNode, option: Option) -> State:
    if not run.history or run.history[-1] != state.node:
        run.history.append(state.node)
        del run.history[:-MAX_HISTORY]
    return _enter(run, option.next)


def _match_words(run: _Run, node: MenuNode, text: str) -> list[Option]:
    """Options with a keyword in the text: the caller's language first, then any language."""
    said = f" {normalize(text)} "

    def says(words: tuple[str, ...]) -> bool:
        return any(f" {normalize(w)} " in said for w in words)

    found = [o for o in node.options if says(words_in(o.words, run.language))]
    return found or [o for o in node.options if says(all_words(o.words))]


def _on_menu(run: _Run, state: State, node: MenuNode, event: Event) -> State:
    answer: str | None = None
    match event:
        case Digits(digits=digits):
            answer = digits.strip()
        case Text(text=text):
            answer = text.strip()
        case Timeout():
            return _failed(run, state, node, "timeout")
        case _:
            run.note = f"{type(event).__name__} ignored at menu {state.node!r}"
            return state
    if not answer:
        return _failed(run, state, node, "timeout")
    folded = normalize(answer) if isinstance(event, Text) else answer
    by_key = next((o for o in node.options if o.key in (answer, folded)), None)
    if by_key is not None:
        return _choose(run, state, node, by_key)
    back = node.back and answer == BACK_KEY
    repeat = node.repeat and answer == REPEAT_KEY
    if isinstance(event, Text) and not back and not repeat:
        matches = _match_words(run, node, answer)
        if len(matches) == 1:
            return _choose(run, state, node, matches[0])
        # Built-in words count only when no option claims the text.
        back = node.back and not matches and folded in BACK_WORDS
        repeat = node.repeat and not matches and folded in REPEAT_WORDS
    if back:
        return _back(run, state, node) or _ask_again(run, state, node, state.retries)
    if repeat:
        return _ask_again(run, state, node, state.retries)
    return _failed(run, state, node, "invalid")


def _on_gather(run: _Run, state: State, node: GatherNode, event: Event) -> State:
    words = ""
    match event:
        case Digits(digits=digits):
            answer = digits.strip()
        case Text(text=text):
            answer, words = re.sub(r"[\s.-]+", "", text), normalize(text)
        case Timeout():
            return _failed(run, state, node, "timeout")
        case _:
            run.note = f"{type(event).__name__} ignored at gather {state.node!r}"
            return state
    if not answer:
        return _failed(run, state, node, "timeout")
    if answer == BACK_KEY or words in BACK_WORDS:
        back = _back(run, state, node)
        if back is not None:
            return back
    if node.finish_on_key and answer.endswith(node.finish_on_key):
        answer = answer[: -len(node.finish_on_key)]
    if (
        answer.isdigit()
        and answer.isascii()
        and node.min_digits <= len(answer) <= node.max_digits
        and (node.pattern is None or _fullmatch(node.pattern, answer))
    ):
        run.attributes[node.into] = answer
        return _enter(run, node.next)
    return _failed(run, state, node, "invalid")


def _fullmatch(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:  # the validator refuses bad patterns; refuse the answer to be safe
        return False


def _field(data: Mapping[str, Any], path: str) -> str | None:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _on_lookup(run: _Run, state: State, node: LookupNode, event: Event) -> State:
    match event:
        case LookupResult(ok=True, data=data):
            answer: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
            found = {name: _field(answer, path) for name, path in node.into.items()}
            lacking = sorted(name for name, value in found.items() if value is None)
            if lacking:
                run.note = f"lookup {state.node!r}: the answer lacks {', '.join(lacking)}"
                return _enter(run, node.fallback)
            run.attributes.update({k: v for k, v in found.items() if v is not None})
            return _enter(run, node.next)
        case LookupResult() | Timeout():
            run.note = f"lookup {state.node!r} failed; fallback {node.fallback!r}"
            return _enter(run, node.fallback)
        case _:
            run.note = f"{type(event).__name__} ignored while lookup {state.node!r} runs"
            return state


def _on_voicemail(run: _Run, state: State, node: VoicemailNode, event: Event) -> State:
    match event:
        case RecordingDone(url=url, duration_seconds=seconds, transcription=transcription):
            run.attributes["voicemail_url"] = url
            run.attributes["voicemail_seconds"] = str(round(seconds))
            if transcription:
                run.attributes["voicemail_transcription"] = transcription
        case Text(text=text) if text.strip():
            run.attributes["voicemail_text"] = text.strip()  # a text channel's message
        case Timeout():
            pass  # nothing recorded; go on all the same
        case _:
            run.note = f"{type(event).__name__} ignored while recording at {state.node!r}"
            return state
    return _enter(run, node.next)


# -- appeals ------------------------------------------------------------------------------


def _typed_digits(event: Event) -> tuple[str, str] | None:
    """The keys or typed number of an answer ("123-456-789", "#123 456 789", "№123456789"),
    and its words (for "back"); None for an event that is no answer."""
    match event:
        case Digits(digits=digits):
            return digits.strip(), ""
        case Text(text=text):
            typed = re.sub(r"^\s*(?:#|№|n[or]\.?)\s*(?=\d)", "", text, flags=re.IGNORECASE)
            return re.sub(r"[\s.-]+", "", typed), normalize(text)
    return None


def _on_appeal_status(run: _Run, state: State, node: AppealStatusNode, event: Event) -> State:
    if isinstance(event, AppealAnswer):
        return _status_answered(run, state, node, event)
    if isinstance(event, Timeout):
        return _failed(run, state, node, "timeout")
    typed = _typed_digits(event)
    if typed is None:
        run.note = f"{type(event).__name__} ignored at appeal_status {state.node!r}"
        return state
    answer, words = typed
    if not answer:
        return _failed(run, state, node, "timeout")
    if answer == BACK_KEY or words in BACK_WORDS:
        back = _back(run, state, node)
        if back is not None:
            return back
    if node.finish_on_key and answer.endswith(node.finish_on_key):
        answer = answer[: -len(node.finish_on_key)]
    if not (answer.isdigit() and answer.isascii() and len(answer) == REFERENCE_DIGITS):
        return _failed(run, state, node, "invalid")
    run.attributes[node.into] = answer
    run.actions.append(AppealStatus(state.node, answer, run.language))
    return run.state(state.node, retries=state.retries)


def _say_answer(run: _Run, answer: AppealAnswer) -> None:
    if answer.spoken or answer.written:
        voice = run.menu.voice.get(run.language)
        spoken = answer.spoken or answer.written
        run.actions.append(Say(spoken, run.language, voice, answer.written or spoken))


def _status_answered(
    run: _Run, state: State, node: AppealStatusNode, answer: AppealAnswer
) -> State:
    _say_answer(run, answer)
    run.attributes.update(answer.attributes)
    if answer.outcome == AppealOutcome.FOUND:
        run.attributes.pop(TRIES_ATTRIBUTE, None)
        return _enter(run, node.next)
    if answer.outcome == AppealOutcome.NOT_FOUND:
        raw = run.attributes.get(TRIES_ATTRIBUTE, "0")
        tries = (int(raw) if raw.isdigit() else 0) + 1
        if tries < node.max_tries:
            run.attributes[TRIES_ATTRIBUTE] = str(tries)
            return _enter(run, node.retry or state.node)
        run.attributes.pop(TRIES_ATTRIBUTE, None)
        run.note = f"appeal_status {state.node!r}: {tries} numbers found nothing"
        return _enter(run, node.fallback)
    run.note = f"appeal_status {state.node!r}: {answer.outcome.value}; fallback"
    return _enter(run, node.fallback)


def _open_appeal(run: _Run, node_id: str, node: AppealNode) -> State:
    run.say(node.prompt, node.text)
    fields = {name: run.fill(template) for name, template in node.fields.items()}
    summary = run.fill(node.summary) if node.summary is not None else None
    run.actions.append(
        OpenAppeal(
            node_id,
            node.topic,
            run.language,
            node.priority,
            frozen_mapping(fields) if fields else None,
            summary,
        )
    )
    return run.state(node_id)


def _on_appeal(run: _Run, state: State, node: AppealNode, event: Event) -> State:
    match event:
        case AppealAnswer(outcome=AppealOutcome.OPENED):
            _say_answer(run, event)
            run.attributes.update(event.attributes)
            return _enter(run, node.next)
        case AppealAnswer() | Timeout():
            if isinstance(event, AppealAnswer):
                _say_answer(run, event)
            run.note = f"appeal {state.node!r} was not opened; fallback {node.fallback!r}"
            return _enter(run, node.fallback)
        case _:
            run.note = f"{type(event).__name__} ignored while appeal {state.node!r} opens"
            return state
