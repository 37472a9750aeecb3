"""The topics file (config/topics.yaml): what a customer can appeal about, the form of each
topic, the stages an appeal moves through with a deadline at each, the SLA targets per
priority, the business calendars they count in, and which changes the customer is told of.

Why its own model: topics are configured by admins like routing and IVR menus, so the whole
document is checked before it is used and every mistake names the file, the line and the key,
e.g. ``config/topics.yaml: line 14: topics.billing_dispute.route[1].queue: unknown queue
'bilIing'``. A stage's queue must be one of routing's queues; the caller passes their names,
so this stays a pure function of its inputs.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    field_serializer,
)

from appeals.fields import (
    LANGUAGE_PATTERN,
    NAME_PATTERN,
    AddressField,
    ChoiceField,
    DateField,
    FieldDefinition,
    FieldType,
    NumberField,
    PhoneField,
    TextField,
    duplicate_names,
)
from appeals.model import Category, Dispatch, Priority, RouteStage, TimeoutAction
from gateway.errors import ConfigError
from ivr.hours import Calendar
from ivr.loader import NotYaml, SourceMap, compose

MAX_DURATION = 366 * 86_400  # a stage or an SLA target longer than a year is a typo
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_SECONDS = re.compile(r"\d+(\.\d+)?")
PLACEHOLDERS = ("reference", "topic", "status", "stage", "customer")
QUEUE_PATTERN = r"^\S(.*\S)?$"  # routing's queue names: any text without outer spaces


class NoticeEvent(StrEnum):
    """What can happen to an appeal that its customer may be told of (``notify_on``)."""

    REGISTERED = "registered"
    IN_PROGRESS = "in_progress"
    PENDING_CUSTOMER = "pending_customer"
    PENDING_THIRD_PARTY = "pending_third_party"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    STAGE_CHANGED = "stage_changed"


# -- durations and templates -----------------------------------------------------------------


def parse_duration(value: Any) -> float:
    """Seconds from ``30m``, ``4h``, ``1h30m``, ``90s`` or a number of seconds."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        if _SECONDS.fullmatch(text):
            seconds = float(text)
        elif text and match is not None:
            hours, minutes, secs = (int(part or 0) for part in match.groups())
            seconds = float(hours * 3600 + minutes * 60 + secs)
    if seconds is None:
        raise ValueError(f"{value!r} is not a duration like 30m, 4h, 1h30m or a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be longer than 0 seconds")
    if seconds > MAX_DURATION:
        raise ValueError(f"must be at most {MAX_DURATION // 3600}h")
    return seconds


def format_duration(seconds: float) -> str | float:
    """How an admin would write it (``1h30m``); a fraction of a second stays a number."""
    if not float(seconds).is_integer():
        return seconds
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def check_template(text: str) -> str:
    """A notice's wording: only the known placeholders, written ``{reference}``."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write {{{{ or }}}} for a brace") from None
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} (use {known})")
        if spec or conversion:
            raise ValueError(f"write the placeholder {{{name}}} without a format")
    return text


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, when_used="json"),
]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Language = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Template = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(check_template)
]
Channel = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,19}$")]


# -- the model ---------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicSettings(_Model):
    warn_share: float = Field(0.8, gt=0, lt=1)  # warn at this share of a stage's / SLA's time
    reopen_hours: float = Field(168, ge=0, le=8784)  # a reply this soon after resolution reopens
    notice_channels: tuple[Channel, ...] = ("telegram", "whatsapp", "sms", "email")
    callback_queue: str | None = None  # omitted: the first stage's queue of the topic
    # Wrap-up codes an operator may give when closing a conversation: code -> label per language.
    dispositions: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")], dict[Language, Title]
    ] = {}


class StageConfig(_Model):
    name: Title
    queue: Annotated[str, StringConstraints(pattern=QUEUE_PATTERN)]  # one of routing's
    max: Duration
    may_resolve: bool = False
    on_timeout: TimeoutAction = TimeoutAction.WARN
    dispatch: Dispatch = Dispatch.PICK  # offer: the gateway offers its appeals one by one

    def as_stage(self) -> RouteStage:
        return RouteStage(
            self.name, self.queue, self.max, self.may_resolve, self.on_timeout, self.dispatch
        )


class Sla(_Model):
    """Targets per priority, in the topic calendar's open time; a priority left out has none."""

    first_response: dict[Priority, Duration] = {}
    resolution: dict[Priority, Duration] = {}


class Topic(_Model):
    title: dict[Language, Title] = Field(min_length=1)
    category: Category
    priority: Priority = Priority.NORMAL  # the default for a new appeal
    calendar: str | None = None  # omitted: deadlines run around the clock
    fields: tuple[FieldDefinition, ...] = ()
    route: tuple[StageConfig, ...] = Field(min_length=1)
    sla: Sla = Sla()
    notify_on: tuple[NoticeEvent, ...] = (NoticeEvent.REGISTERED, NoticeEvent.RESOLVED)
    notices: dict[NoticeEvent, dict[Language, Template]] = {}

    def route_stages(self) -> tuple[RouteStage, ...]:
        return tuple(stage.as_stage() for stage in self.route)

    def sla_seconds(self, priority: Priority) -> tuple[float | None, float | None]:
        """(first response, resolution) targets in seconds; None where there is none."""
        return self.sla.first_response.get(priority), self.sla.resolution.get(priority)

    def calendar_of(self, config: TopicsConfig) -> Calendar | None:
        """The business calendar deadlines count in (None: around the clock)."""
        return config.calendars.get(self.calendar) if self.calendar else None

    def title_in(self, *languages: str) -> str:
        """The title in the first of ``languages`` it has, else in its first language."""
        for language in languages:
            if language in self.title:
                return self.title[language]
        return next(iter(self.title.values()))


def _calendar_document(calendar: Calendar) -> dict[str, Any]:
    out: dict[str, Any] = {"timezone": calendar.timezone}
    if calendar.weekly:
        out["weekly"] = {
            str(day): str(ranges[0]) if len(ranges) == 1 else [str(r) for r in ranges]
            for day, ranges in calendar.weekly.items()
        }
    if calendar.holidays:
        out["holidays"] = [
            {"date": h.date.isoformat(), "name": h.name} if h.name else h.date.isoformat()
            for h in calendar.holidays
        ]
    return out


class TopicsConfig(_Model):
    calendars: dict[Name, Calendar] = {}
    settings: TopicSettings = TopicSettings()
    topics: dict[Name, Topic]

    def topic(self, name: str) -> Topic | None:
        return self.topics.get(name)

    @field_serializer("calendars", when_used="json")
    def _calendars(self, calendars: dict[str, Calendar]) -> dict[str, Any]:
        return {name: _calendar_document(c) for name, c in calendars.items()}

    def as_document(self) -> dict[str, Any]:
        """The configuration as plain data, as an admin would write it (defaults left out)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def summary(self, *languages: str) -> list[dict[str, Any]]:
        """One line per topic, for lists."""
        return [
            {
                "name": name,
                "title": topic.title_in(*languages),
                "category": topic.category.value,
                "priority": topic.priority.value,
                "calendar": topic.calendar,
                "stages": [stage.name for stage in topic.route],
                "fields": [field.name for field in topic.fields],
            }
            for name, topic in self.topics.items()
        ]


# -- problems ------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]
_FIELD_TYPES = ", ".join(FieldType)
_FIELD_MODELS: dict[str, type[BaseModel]] = {
    FieldType.TEXT: TextField,
    FieldType.NUMBER: NumberField,
    FieldType.CHOICE: ChoiceField,
    FieldType.DATE: DateField,
    FieldType.PHONE: PhoneField,
    FieldType.ADDRESS: AddressField,
}


@dataclass(frozen=True, slots=True)
class TopicProblem:
    """One mistake: the file (or version), the line when known, the key and what is wrong."""

    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        line = f"line {self.line}: " if self.line is not None else ""
        key = f"{self.key}: " if self.key else ""
        return f"{self.source}: {line}{key}{self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "key": self.key, "message": self.message, "text": str(self)}


class TopicsConfigError(ConfigError):
    """The topics document has mistakes; ``located`` keeps each one's line and key."""

    def __init__(self, problems: list[TopicProblem]) -> None:
        super().__init__([str(p) for p in problems])
        self.located = problems


def location(path: Path_) -> str:
    """``topics.billing_dispute.route[1].queue`` for its path."""
    out = ""
    for part in path:
        if part == "[key]":  # pydantic's marker for a bad mapping key
            out += " (the key)"
        elif isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _without_tags(loc: Path_) -> Path_:
    """Drop the field type pydantic's tagged union puts after ``fields[i]``."""
    out: list[str | int] = []
    for part in loc:
        if (
            isinstance(part, str)
            and part in _FIELD_MODELS
            and len(out) >= 2
            and isinstance(out[-1], int)
            and out[-2] == "fields"
        ):
            continue
        out.append(part)
    return tuple(out)


def _model_at(path: Path_, raw: Any) -> type[BaseModel] | None:
    """The model that holds the keys at ``path`` (for 'unknown field, it takes: ...')."""
    match path:
        case ():
            return TopicsConfig
        case ("settings",):
            return TopicSettings
        case ("calendars", _):
            return Calendar
        case ("topics", _):
            return Topic
        case ("topics", _, "sla"):
            return Sla
        case ("topics", _, "route", int()):
            return StageConfig
        case ("topics", _, "fields", int()):
            kind = _lookup(raw, (*path, "type"))
            return _FIELD_MODELS.get(kind) if isinstance(kind, str) else None
    return None


def _lookup(raw: Any, path: Path_) -> Any:
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _relevant(errors: list[Any]) -> list[Any]:
    """Drop "too short" for a list whose items have errors of their own (it only counts the
    items that passed)."""
    locs = [tuple(e["loc"]) for e in errors]
    return [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(
            len(other) > len(e["loc"]) and other[: len(e["loc"])] == tuple(e["loc"])
            for other in locs
        )
    ]


def _from_pydantic(error: Any, raw: Any) -> tuple[Path_, Path_, str]:
    """(where, the path its line is looked up by, the message in plain words)."""
    loc = _without_tags(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    name = str(loc[-1]) if loc else ""
    match error["type"]:
        case "extra_forbidden":
            model = _model_at(loc[:-1], raw)
            takes = f" (it takes: {', '.join(model.model_fields)})" if model else ""
            return loc[:-1], loc, f"unknown field {name!r}{takes}"
        case "missing":
            return loc[:-1], loc[:-1], f"missing field {name!r}"
        case "union_tag_invalid":
            tag = error["ctx"]["tag"]
            return (*loc, "type"), (*loc, "type"), f"unknown type {tag!r} (one of: {_FIELD_TYPES})"
        case "union_tag_not_found":
            return loc, loc, f"a field needs a 'type' (one of: {_FIELD_TYPES})"
        case "string_pattern_mismatch" if error["ctx"]["pattern"] == NAME_PATTERN:
            message = (
                f"{error['input']!r} is not a name: lower-case letters, digits and _, "
                "starting with a letter (at most 40)"
            )
        case "string_pattern_mismatch" if error["ctx"]["pattern"] == QUEUE_PATTERN:
            message = f"{error['input']!r} is not a queue name"
        case "string_pattern_mismatch" if error["ctx"]["pattern"] == LANGUAGE_PATTERN:
            message = f"{error['input']!r} is not a language code such as en, ru or pt-BR"
    return loc, loc, message


def _checks(config: TopicsConfig, queues: Collection[str] | None) -> list[tuple[Path_, str]]:
    """What the shape alone does not say: names that must exist, the route's last stage,
    targets that contradict each other."""
    problems: list[tuple[Path_, str]] = []

    def unknown_queue(queue: str | None) -> bool:
        return queues is not None and queue is not None and queue not in queues

    for name, calendar in config.calendars.items():
        if not any(calendar.weekly.values()):
            problems.append(
                (("calendars", name, "weekly"), "the calendar is never open: give it opening hours")
            )
    channels = config.settings.notice_channels
    for i, channel in enumerate(channels):
        if channel in channels[:i]:
            problems.append((("settings", "notice_channels", i), f"{channel!r} is listed twice"))
    if unknown_queue(config.settings.callback_queue):
        problems.append(
            (
                ("settings", "callback_queue"),
                f"unknown queue {config.settings.callback_queue!r}",
            )
        )
    for name, topic in config.topics.items():
        here: Path_ = ("topics", name)
        if topic.calendar is not None and topic.calendar not in config.calendars:
            known = ", ".join(config.calendars) or "the file has none"
            problems.append(
                ((*here, "calendar"), f"unknown calendar {topic.calendar!r} (calendars: {known})")
            )
        for i in duplicate_names(topic.fields):
            problems.append(
                ((*here, "fields", i, "name"), f"{topic.fields[i].name!r} is used twice")
            )
        last = len(topic.route) - 1
        for i, stage in enumerate(topic.route):
            if unknown_queue(stage.queue):
                problems.append(((*here, "route", i, "queue"), f"unknown queue {stage.queue!r}"))
            if any(other.name == stage.name for other in topic.route[:i]):
                problems.append(((*here, "route", i, "name"), f"{stage.name!r} is used twice"))
        final = topic.route[last]
        if not final.may_resolve:
            problems.append(
                (
                    (*here, "route", last, "may_resolve"),
                    "the last stage must be allowed to resolve (may_resolve: true), "
                    "or no appeal of this topic could be resolved",
                )
            )
        if final.on_timeout == TimeoutAction.ESCALATE:
            problems.append(
                (
                    (*here, "route", last, "on_timeout"),
                    "the last stage cannot escalate (no stage follows it): use warn or notify",
                )
            )
        for priority, first in topic.sla.first_response.items():
            whole = topic.sla.resolution.get(priority)
            if whole is not None and first > whole:
                problems.append(
                    (
                        (*here, "sla", "first_response", priority.value),
                        f"{format_duration(first)} is longer than the resolution target "
                        f"({format_duration(whole)})",
                    )
                )
        for i, event in enumerate(topic.notify_on):
            if event in topic.notify_on[:i]:
                problems.append(((*here, "notify_on", i), f"{event.value!r} is listed twice"))
        for event in topic.notices:
            if event not in topic.notify_on:
                problems.append(
                    (
                        (*here, "notices", event.value),
                        f"a notice for {event.value!r}, which is not in notify_on",
                    )
                )
    return problems


def _sorted(problems: list[TopicProblem]) -> list[TopicProblem]:
    return sorted(problems, key=lambda p: p.line if p.line is not None else 0)


def parse_topics(
    data: Any,
    source: str,
    queues: Collection[str] | None,
    lines: SourceMap | None = None,
) -> TopicsConfig:
    """Check already-loaded data; TopicsConfigError lists every problem (file, line, key).

    ``queues``: the names of routing's queues in force, which every stage must use (None:
    not checked, for a version that was checked when it was stored)."""

    def problem(where: Path_, line_of: Path_, message: str) -> TopicProblem:
        line = lines.line(line_of) if lines is not None else None
        return TopicProblem(source, line, location(where), message)

    if not isinstance(data, Mapping):
        raise TopicsConfigError(
            [problem((), (), "the top level must be a mapping (calendars, settings, topics)")]
        )
    try:
        config = TopicsConfig.model_validate(data)
    except ValidationError as exc:
        raise TopicsConfigError(
            _sorted(
                [problem(*_from_pydantic(e, data)) for e in _relevant(exc.errors())],
            )
        ) from None
    checked = [problem(where, where, message) for where, message in _checks(config, queues)]
    if checked:
        raise TopicsConfigError(_sorted(checked))
    return config


def load_topics_text(text: str, source: str, queues: Collection[str] | None) -> TopicsConfig:
    """The topics document in YAML ``text``; every problem with its line."""
    try:
        composed = compose(text)
    except NotYaml as exc:
        raise TopicsConfigError([TopicProblem(source, exc.line, "", exc.reason)]) from None
    found = [
        TopicProblem(source, p.line, location(p.path), p.message) for p in composed.key_problems
    ]
    try:
        config = parse_topics(composed.data, source, queues, composed.source)
    except TopicsConfigError as exc:
        found += exc.located
    if found:
        raise TopicsConfigError(_sorted(found))
    return config


def load_topics_file(path: str | Path, queues: Collection[str] | None) -> tuple[TopicsConfig, str]:
    """The topics file and its text (kept as the admin wrote it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopicsConfigError([TopicProblem(str(path), None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TopicsConfigError(
            [TopicProblem(str(path), None, "", f"cannot read the file: {exc}")]
        ) from None
    return load_topics_text(text, str(path), queues), text


def changed_parts(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What a new document changes, for the audit log: ``calendars``, ``settings`` and
    ``topics.<name>`` for each topic added, removed or changed."""
    changed = sorted(
        key for key in {*before, *after} if key != "topics" and before.get(key) != after.get(key)
    )
    old, new = before.get("topics") or {}, after.get("topics") or {}
    changed += sorted(f"topics.{name}" for name in {*old, *new} if old.get(name) != new.get(name))
    return changed
