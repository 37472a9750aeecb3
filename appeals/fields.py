"""The form of an appeal's topic: which fields an operator (or an integrator) fills in, and
the check of what they entered.

Why its own pure module: the same definitions are read from the topics file (an admin writes
them, so a bad one must be a clear configuration error) and used on every appeal created or
changed through any door (console, API, IVR), so a value is normalized once and stored the
same way whoever typed it: numbers as numbers, phones in E.164, dates as ``yyyy-mm-dd``.
Every wrong field gets its own message, so a form can show each one beside its input.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)

from gateway.errors import Refused

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"  # a field's (and a topic's) name
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"  # en, ru, pt-BR
ADDRESS_MAX = 500
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Characters a value may not hold: controls other than tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_GROUPING = re.compile(r"[\s\u00a0\u202f\u2009_']")  # 1 000 000, 1'000, 1_000

Language = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Labels = dict[Language, Label]  # per language, e.g. {en: Account number, ru: Номер счёта}


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    CHOICE = "choice"
    DATE = "date"
    PHONE = "phone"
    ADDRESS = "address"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Field(_Model):
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
    label: Labels = {}
    required: bool = False


class TextField(_Field):
    """Free text, at most ``max_length`` characters; with ``pattern``, the whole (trimmed)
    value must match that regular expression."""

    type: Literal["text"]
    max_length: int = Field(1000, ge=1, le=10_000)
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class NumberField(_Field):
    """A number between ``min`` and ``max`` (each optional); ``integer``: whole numbers only."""

    type: Literal["number"]
    min: int | float | None = None
    max: int | float | None = None
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> NumberField:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({_number(self.min)}) is above max ({_number(self.max)})")
        return self


class Choice(_Model):
    """One value of a choice, with optional labels per language (``tariff`` or
    ``{value: tariff, label: {en: Tariff, ru: Тариф}}``)."""

    value: Annotated[str, StringConstraints(pattern=r"^\S(.{0,98}\S)?$")]
    label: Labels = {}

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"value": value} if isinstance(value, str) else value

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Without labels, a choice is written as its value alone: [tariff, unknown_service].
        return self.value if not self.label else handler(self)


class ChoiceField(_Field):
    type: Literal["choice"]
    choices: tuple[Choice, ...] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _distinct(cls, value: tuple[Choice, ...]) -> tuple[Choice, ...]:
        seen: set[str] = set()
        for choice in value:
            if choice.value.casefold() in seen:
                raise ValueError(f"{choice.value!r} is listed twice")
            seen.add(choice.value.casefold())
        return value

    def values(self) -> list[str]:
        return [c.value for c in self.choices]


class DateField(_Field):
    """A calendar day (``yyyy-mm-dd``), from ``min`` to ``max`` (each optional)."""

    type: Literal["date"]
    min: date | None = None
    max: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateField:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is after max ({self.max})")
        return self


class PhoneField(_Field):
    """A phone number, stored in E.164. With ``region`` (ISO 3166 code such as ``DE``), a
    national number (``030 1234567``) is read as that country's."""

    type: Literal["phone"]
    region: str | None = None

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region code such as US, DE or RU")
        return value


class AddressField(_Field):
    """A postal address as one text (lines allowed), at most 500 characters."""

    type: Literal["address"]


FieldDefinition = Annotated[
    TextField | NumberField | ChoiceField | DateField | PhoneField | AddressField,
    Field(discriminator="type"),
]


class FieldErrors(Refused):
    """Values a form does not take: one message per field name (``problems``)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        summary = "; ".join(f"{name}: {message}" for name, message in self.problems.items())
        super().__init__(422, "invalid_fields", summary)

    @property
    def detail(self) -> dict[str, str]:
        return self.problems

    def as_json(self) -> dict[str, Any]:
        """The HTTP answer's body: the code, the reason, and each field's problem."""
        return {"error": self.code, "reason": self.reason, "problems": self.problems}


# -- checking one value ----------------------------------------------------------------------


class _Wrong(ValueError):
    """A value a field does not take; the message is the field's problem."""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _clean_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Wrong("must be text")
    text = unicodedata.normalize("NFC", str(value).replace("\r\n", "\n").replace("\r", "\n"))
    if _CONTROL.search(text):
        raise _Wrong("must not contain control characters")
    return text.strip()


def _text(field: TextField, value: Any) -> str:
    text = _clean_text(value)
    if len(text) > field.max_length:
        raise _Wrong(f"must be at most {field.max_length} characters")
    if field.pattern is not None and re.fullmatch(field.pattern, text) is None:
        raise _Wrong(f"must match the pattern {field.pattern}")
    return text


def _number_rule(field: NumberField) -> str:
    kind = "a whole number" if field.integer else "a number"
    low, high = field.min, field.max
    if low is not None and high is not None:
        return f"must be {kind} from {_number(low)} to {_number(high)}"
    if low is not None:
        return f"must be {kind} of at least {_number(low)}"
    if high is not None:
        return f"must be {kind} of at most {_number(high)}"
    return f"must be {kind}"


def _to_number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    text = _GROUPING.sub("", value.strip())
    if "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")  # 12,50: a decimal comma
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
        raise ValueError(value)
    return int(text) if text.lstrip("+-").isdigit() else float(text)


def _numeric(field: NumberField, value: Any) -> float | int:
    try:
        number = _to_number(value)
        whole = math.isfinite(float(number)) and float(number).is_integer()
        if not math.isfinite(float(number)):
            raise ValueError(value)
    except (ValueError, OverflowError):  # not a number, or beyond what a float holds
        raise _Wrong(_number_rule(field)) from None
    if (
        (field.integer and not whole)
        or (field.min is not None and number < field.min)
        or (field.max is not None and number > field.max)
    ):
        raise _Wrong(_number_rule(field))
    return int(number) if whole and (field.integer or isinstance(number, int)) else number


def _choice(field: ChoiceField, value: Any) -> str:
    if isinstance(value, str):
        wanted = value.strip().casefold()
        for choice in field.choices:
            names = (choice.value, *choice.label.values())
            if any(wanted == name.casefold() for name in names):
                return choice.value
    raise _Wrong(f"must be one of: {', '.join(field.values())}")


def _date_rule(field: DateField) -> str:
    if field.min is not None and field.max is not None:
        return f"must be a date from {field.min} to {field.max}"
    if field.min is not None:
        return f"must be a date on or after {field.min}"
    if field.max is not None:
        return f"must be a date on or before {field.max}"
    return "must be a date like 2026-03-31"


def _date(field: DateField, value: Any) -> str:
    day: date | None = None
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            day = None
    if (
        day is None
        or (field.min is not None and day < field.min)
        or (field.max is not None and day > field.max)
    ):
        raise _Wrong(_date_rule(field))
    return day.isoformat()


def _phone(field: PhoneField, value: Any) -> str:
    rule = (
        f"must be a phone number (international, or national in {field.region})"
        if field.region
        else "must be a phone number in international format, like +14155550123"
    )
    if not isinstance(value, str) or len(value) > 40:
        raise _Wrong(rule)
    try:
        number = phonenumbers.parse(value, field.region)
    except phonenumbers.NumberParseException:
        raise _Wrong(rule) from None
    if not phonenumbers.is_valid_number(number):
        raise _Wrong(rule)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _address(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise _Wrong("must be text")
    text = _clean_text(value)
    if len(text) > ADDRESS_MAX:
        raise _Wrong(f"must be at most {ADDRESS_MAX} characters")
    return text


def normalized(field: FieldDefinition, value: Any) -> Any:
    """The value as it is stored, or ValueError with the field's problem."""
    match field:
        case TextField():
            return _text(field, value)
        case NumberField():
            return _numeric(field, value)
        case ChoiceField():
            return _choice(field, value)
        case DateField():
            return _date(field, value)
        case PhoneField():
            return _phone(field, value)
        case AddressField():
            return _address(value)
    raise TypeError(f"not a field definition: {field!r}")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_fields(
    definitions: Sequence[FieldDefinition], values: Any, *, partial: bool = False
) -> dict[str, Any]:
    """The values normalized (empty optional ones left out), or FieldErrors naming each
    wrong field. ``partial``: a change of some fields; missing ones are not required, but a
    required field given empty is."""
    if not isinstance(values, Mapping):
        raise FieldErrors({"fields": "must be an object of field names and values"})
    known = {d.name: d for d in definitions}
    problems: dict[str, str] = {}
    for name in values:
        if name not in known:
            listed = ", ".join(known) or "no fields"
            problems[str(name)] = f"unknown field (this form has: {listed})"
    out: dict[str, Any] = {}
    for definition in definitions:
        name = definition.name
        given = name in values
        if not given and partial:
            continue
        value = values.get(name)
        if _empty(value):
            if definition.required:
                problems[name] = "required"
            continue
        try:
            out[name] = normalized(definition, value)
        except ValueError as exc:
            problems[name] = str(exc)
    if problems:
        raise FieldErrors(problems)
    return out


def duplicate_names(definitions: Iterable[FieldDefinition]) -> list[int]:
    """The positions of fields whose name an earlier field already has."""
    seen: set[str] = set()
    out = []
    for index, definition in enumerate(definitions):
        if definition.name in seen:
            out.append(index)
        seen.add(definition.name)
    return out
