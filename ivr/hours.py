"""Business hours and holidays: is a calendar open at a given instant?

Why its own module: "are we open" decides what every caller hears first, and it is easy to get
wrong around time zones and daylight saving. A calendar is written in the office's local time
(an IANA zone such as ``America/New_York``); the instant to judge is passed in as an aware
datetime, so the answer is a pure function that tests can pin to any clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_RANGE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


class Weekday(StrEnum):
    """Weekdays as written in a calendar, in ``datetime.weekday()`` order."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenRange(_Model):
    """Open from ``start`` to ``end``, in minutes after local midnight (``end`` may be 1440,
    written ``24:00``). Written as ``"08:00-18:00"``."""

    start: int
    end: int

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _RANGE.fullmatch(value)
        if match is None:
            raise ValueError(f"{value!r} is not a time range like 08:00-18:00")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"{value!r} has a time that does not exist")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            raise ValueError(
                f"{value!r}: the end must be after the start "
                "(split a range over midnight into two days)"
            )
        return {"start": start, "end": end}

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )

    def contains(self, seconds_after_midnight: int) -> bool:
        return self.start * 60 <= seconds_after_midnight < self.end * 60


class Holiday(_Model):
    """A day the office is closed all day; the name is for people reading the file."""

    date: date
    name: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_date(cls, value: Any) -> Any:
        if isinstance(value, date | str):
            return {"date": value}
        return value


class Calendar(_Model):
    """Weekly opening hours in a time zone, and holidays. A weekday not listed is closed."""

    timezone: str
    weekly: dict[Weekday, tuple[OpenRange, ...]] = {}
    holidays: tuple[Holiday, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not known_timezone(value):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as America/New_York)"
            )
        return value

    @field_validator("weekly", mode="before")
    @classmethod
    def _single_range(cls, value: Any) -> Any:
        # ``mon: "08:00-18:00"`` is accepted as a one-range day.
        if isinstance(value, dict):
            return {day: [r] if isinstance(r, str) else r for day, r in value.items()}
        return value


def known_timezone(name: str) -> bool:
    """Whether the system's time zone database knows ``name``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def status(calendar: Calendar, now: datetime) -> Status:
    """Open, closed, or a holiday, at the instant ``now`` (which must be timezone-aware)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    local = now.astimezone(ZoneInfo(calendar.timezone))
    if any(h.date == local.date() for h in calendar.holidays):
        return Status.HOLIDAY
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    ranges = calendar.weekly.get(WEEKDAYS[local.weekday()], ())
    return Status.OPEN if any(r.contains(seconds) for r in ranges) else Status.CLOSED
