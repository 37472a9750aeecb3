"""The admin's simulator, pure: a call's events as the page sends them (keys, words, silence, a
lookup's answer, a recording), checked before the engine sees them, and a step as the admin
hears and reads it. Nothing is stored and nobody is called; a lookup waits for the admin."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, NoReturn

from ivr.actions import (
    Action,
    AppealAnswer,
    AppealOutcome,
    AppealStatus,
    Ask,
    AskKind,
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
)
from ivr.model import (
    ATTRIBUTE,
    AppealNode,
    AppealStatusNode,
    GatherNode,
    LookupNode,
    Menu,
    MenuNode,
    VoicemailNode,
)
from ivr.text import buttons, numbered, parse_reply

MAX_RECORDING = 3600  # seconds, as a voicemail node's max_length_seconds


class SimulationError(ValueError):
    """Input the simulator cannot use, with the API's error code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _bad(code: str, reason: str) -> NoReturn:
    raise SimulationError(code, reason)


_EVENT_NAMES: dict[type[Any], str] = {
    Digits: "digits",
    Text: "text",
    Timeout: "timeout",
    LookupResult: "lookup",
    RecordingDone: "recording",
    AppealAnswer: "appeal",
}
# What each kind of waiting node does something with; anything else is refused (the engine
# would ignore it, and a simulator that says nothing helps nobody).
_ACCEPTS: dict[type[Any], tuple[type[Any], ...]] = {
    MenuNode: (Digits, Text, Timeout),
    GatherNode: (Digits, Text, Timeout),
    LookupNode: (LookupResult, Timeout),
    VoicemailNode: (RecordingDone, Text, Timeout),
    AppealStatusNode: (Digits, Text, Timeout, AppealAnswer),
    AppealNode: (AppealAnswer,),
}
_WAITING: dict[type[Any], str] = {
    MenuNode: "answer",
    GatherNode: "digits",
    LookupNode: "lookup",
    VoicemailNode: "recording",
    AppealStatusNode: "digits",
    AppealNode: "appeal",
}
_DIGITS = re.compile(r"[0-9*#]{1,64}")
_EVENT_FORMS = (
    '{"digits": "1"}, {"text": "sales"}, {"timeout": true}, '
    '{"lookup": {"ok": true, "data": {...}}}, {"recording": {"url", "duration_seconds"}} '
    'or {"appeal": {"outcome": "found", "text": "..."}}'
)
# What the simulator says for the appeals desk when the admin gives no text.
_APPEAL_TEXTS = {
    AppealOutcome.FOUND: "[the status of the caller's appeal]",
    AppealOutcome.NOT_FOUND: "[no appeal of the caller with this number]",
    AppealOutcome.LIMITED: "[too many numbers that found nothing: try again later]",
    AppealOutcome.OPENED: "[appeal 123-456-789 registered]",
    AppealOutcome.FAILED: "",
}


def _bad_event(reason: str) -> NoReturn:
    raise SimulationError("bad_event", reason)


def parse_event(raw: Any) -> Event:
    """The simulator's event JSON as an engine event; a 422 that says what is wrong."""
    if not isinstance(raw, dict) or len(raw) != 1:
        _bad_event(f"'event' is one of {_EVENT_FORMS}")
    ((name, value),) = raw.items()
    match name:
        case "digits":
            if not isinstance(value, str) or not _DIGITS.fullmatch(value):
                _bad_event("'digits' are 1 to 64 of the keys 0-9, * and #")
            return Digits(value)
        case "text":
            if not isinstance(value, str) or not value.strip() or len(value) > 1000:
                _bad_event("'text' is a non-empty text of at most 1000 characters")
            return parse_reply(value)  # as a texting customer's reply is read
        case "timeout":
            if value is not True:
                _bad_event("'timeout' must be true")
            return Timeout()
        case "lookup":
            if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
                _bad_event('\'lookup\' is {"ok": true, "data": {...}} or {"ok": false}')
            data = value.get("data")
            if data is not None and not isinstance(data, dict):
                _bad_event("'lookup.data' must be a JSON object (the external system's answer)")
            return LookupResult(value["ok"], data if value["ok"] else None)
        case "recording":
            return _recording(value)
        case "appeal":
            return _appeal(value)
    _bad_event(f"unknown event {name!r}: one of {_EVENT_FORMS}")


def _recording(value: Any) -> RecordingDone:
    if not isinstance(value, dict):
        _bad_event('\'recording\' is {"url": "https://...", "duration_seconds": 12}')
    url, seconds = value.get("url"), value.get("duration_seconds")
    transcription = value.get("transcription")
    if not isinstance(url, str) or not re.fullmatch(r"https?://\S{1,2000}", url):
        _bad_event("'recording.url' must be an http(s) URL")
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 <= seconds <= MAX_RECORDING  # also refuses NaN; JSON may carry Infinity
    ):
        _bad_event(
            f"'recording.duration_seconds' must be a number of seconds from 0 to {MAX_RECORDING}"
        )
    if transcription is not None and (
        not isinstance(transcription, str) or len(transcription) > 5000
    ):
        _bad_event("'recording.transcription' must be a text of at most 5000 characters")
    return RecordingDone(url, float(seconds), transcription)


def _appeal(value: Any) -> AppealAnswer:
    outcomes = ", ".join(o.value for o in AppealOutcome)
    outcome = value.get("outcome") if isinstance(value, dict) else None
    if not isinstance(outcome, str) or outcome not in {o.value for o in AppealOutcome}:
        _bad_event(f'\'appeal\' is {{"outcome": ..., "text"?: ...}}; outcomes: {outcomes}')
    text = value.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > 1000):
        _bad_event("'appeal.text' must be a text of at most 1000 characters")
    found = AppealOutcome(outcome)
    said = text if text is not None else _APPEAL_TEXTS[found]
    return AppealAnswer(found, said, said)


def parse_at(raw: Any) -> datetime:
    if raw is None:
        return datetime.now(UTC)
    if not isinstance(raw, str) or len(raw) > 40:
        _bad("bad_field", "'at' must be an ISO date and time, e.g. 2026-03-04T10:00:00-05:00")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        _bad("bad_field", f"'at' is not an ISO date and time: {raw!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        _bad("bad_field", "'at' needs a time zone (Z or an offset such as -05:00)")
    return at


def parse_attributes(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if (
        not isinstance(raw, dict)
        or len(raw) > 50
        or not all(isinstance(k, str) and ATTRIBUTE.fullmatch(k) for k in raw)
        or not all(isinstance(v, str) and len(v) <= 500 for v in raw.values())
    ):
        _bad(
            "bad_field",
            "'attributes' maps at most 50 attribute names (lower-case letters, digits, '_') "
            "to texts of at most 500 characters",
        )
    return dict(raw)


def parse_state(raw: Any, menu: Menu) -> State:
    if not isinstance(raw, str) or len(raw) > 65_536:
        _bad("bad_state", "'state' must be the state text the last answer gave")
    try:
        state = State.from_json(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        _bad("bad_state", f"'state' is not a session state: {exc}")
    if state.menu_id != menu.id:
        _bad("bad_state", f"the state belongs to menu {state.menu_id!r}, not {menu.id!r}")
    return state


def check_event(menu: Menu, state: State, event: Event) -> None:
    """Refuse an event the session cannot use now, with what it waits for instead."""
    if state.done:
        _bad_event("the call is over: start a new one")
    node = menu.nodes.get(state.node)
    accepts = _ACCEPTS.get(type(node))
    if node is None or accepts is None:
        return  # a state from another version: the engine starts over, and says so
    if not isinstance(event, accepts):
        wanted = ", ".join(_EVENT_NAMES[t] for t in accepts)
        _bad_event(
            f"the call waits at {node.kind.value} {state.node!r}: send {wanted}, "
            f"not {_EVENT_NAMES[type(event)]}"
        )


def heard(action: Action, language: str) -> str:
    """One action as the simulator lists it: what a caller hears, or what the gateway does."""
    match action:
        case Say(text=text, language=lang):
            return f"say: {text}" if lang == language else f"say ({lang}): {text}"
        case Play(url=url):
            return f"play: {url}"
        case Ask(kind=AskKind.MENU, choices=choices):
            keys = ",".join(c.key for c in choices if c.key is not None)
            return f"ask: menu (keys {keys})" if keys else "ask: menu (words only)"
        case Ask(min_digits=low, max_digits=high, finish_on_key=finish):
            end = f", end with {finish}" if finish else ""
            return f"ask: {low}-{high} digits{end}"
        case Record(max_length_seconds=seconds):
            return f"record (up to {seconds} s)"
        case Lookup(method=method, url=url):
            return f"lookup {method} {url}"
        case AppealStatus(reference_digits=digits):
            return f"appeal status {digits}"
        case OpenAppeal(topic=topic, priority=priority):
            return f"open appeal {topic}" + (f" (priority {priority})" if priority else "")
        case Enqueue(attributes=attributes, queue=queue):
            where = f" to queue {queue}" if queue else ""
            return f"enqueue{where} {json.dumps(dict(attributes), ensure_ascii=False)}"
        case Transfer(target=target):
            return f"transfer {target}"
        case Hangup():
            return "hangup"
    return type(action).__name__.lower()


def simulated(menu: Menu, step: Step) -> dict[str, Any]:
    """What the page shows after a step: what was heard, what a texting customer reads, where
    the call waits (and for what), and what routing would get."""
    state = step.state
    node = menu.nodes.get(state.node)
    ask = next((a for a in step.actions if isinstance(a, Ask)), None)
    lookup = next((a for a in step.actions if isinstance(a, Lookup)), None)
    enqueue = next((a for a in step.actions if isinstance(a, Enqueue)), None)
    appeal = next((a for a in step.actions if isinstance(a, AppealStatus | OpenAppeal)), None)
    shown = buttons(step)
    waiting = None if state.done else _WAITING.get(type(node))
    if appeal is not None and not state.done:
        waiting = "appeal"  # the appeals desk answers, not the caller
    return {
        "state": state.to_json(),
        "done": state.done,
        "node": state.node,
        "kind": node.kind.value if node is not None else None,
        "waiting": waiting,
        "language": state.language,
        "heard": [heard(a, state.language) for a in step.actions],
        "text": numbered(step),
        "buttons": [{"label": b.label, "value": b.value} for b in shown.buttons],
        "note": step.note,
        "attributes": dict(state.attributes),
        "ask": None
        if ask is None
        else {
            "kind": ask.kind.value,
            "keys": [c.key for c in ask.choices if c.key is not None],
            "min_digits": ask.min_digits,
            "max_digits": ask.max_digits,
            "finish_on_key": ask.finish_on_key,
            "timeout_seconds": ask.timeout_seconds,
            "back": ask.back,
            "repeat": ask.repeat,
        },
        "lookup": None
        if lookup is None
        else {
            "method": lookup.method,
            "url": lookup.url,
            "fields": sorted(node.into.values()) if isinstance(node, LookupNode) else [],
        },
        "appeal": None
        if appeal is None
        else (
            {"action": "status", "number": appeal.reference_digits}
            if isinstance(appeal, AppealStatus)
            else {
                "action": "open",
                "topic": appeal.topic,
                "priority": appeal.priority,
                "fields": dict(appeal.fields or {}),
                "summary": appeal.summary,
            }
        ),
        "routing": None
        if enqueue is None
        else {
            "queue": enqueue.queue,
            "priority": enqueue.priority,
            "skills": list(enqueue.skills),
            "attributes": dict(enqueue.attributes),
        },
    }
