"""Business time: deadlines and elapsed time counted only while a calendar is open.

Why its own module: a stage's "4 hours" and an SLA's "40 hours" mean open hours of the topic's
calendar (``ivr.hours.Calendar``: weekly ranges in an office's time zone, holidays), so the
deadline of an appeal registered on Friday evening falls on Monday, not on Saturday. It is easy
to get wrong around daylight saving time and ranges that end at 24:00, so it is pure arithmetic
on aware datetimes that tests pin to any instant. ``None`` as the calendar means around the
clock.

An instant is open exactly when ``ivr.hours.status`` says so: its local date is not a holiday
and its local wall-clock time falls in one of that weekday's ranges. The time is walked one
local day at a time (a day with a clock change is cut at the change), never minute by minute,
and never further than ``MAX_SPAN`` ahead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.hours import WEEKDAYS, Calendar

MAX_SPAN = timedelta(days=3660)  # no deadline or measured span reaches further than this
_TICK = timedelta(microseconds=1)


def add_business_seconds(cal: Calendar | None, start: datetime, seconds: float) -> datetime:
    """The earliest instant at which ``seconds`` of open time have passed since ``start``
    (counting begins at the next opening when ``start`` is closed; 0 seconds is ``start``).

    The answer is in ``start``'s time zone. A negative or non-finite duration, a calendar
    with no open hour in its week, or an answer beyond ``MAX_SPAN`` is a ValueError.
    """
    _aware(start, "start")
    remaining = _duration(seconds)
    if remaining == timedelta(0):
        return start
    origin = start.astimezone(UTC)  # arithmetic on UTC: a zone's datetimes subtract as wall time
    if cal is None:
        return (origin + remaining).astimezone(start.tzinfo)
    _require_open_hours(cal)
    for opened, closed in _open_intervals(cal, origin, origin + MAX_SPAN):
        if closed - opened >= remaining:
            return (opened + remaining).astimezone(start.tzinfo)
        remaining -= closed - opened
    raise _too_far(seconds)


def business_seconds_between(cal: Calendar | None, start: datetime, end: datetime) -> float:
    """Seconds of open time from ``start`` to ``end`` (negative when ``end`` is earlier).

    A span longer than ``MAX_SPAN`` is a ValueError; a calendar that is never open gives 0.
    """
    _aware(start, "start")
    _aware(end, "end")
    origin, until = start.astimezone(UTC), end.astimezone(UTC)
    if until < origin:
        return -business_seconds_between(cal, end, start)
    if until - origin > MAX_SPAN:
        raise ValueError(f"the span from {start} to {end} is longer than {MAX_SPAN.days} days")
    if cal is None:
        return (until - origin).total_seconds()
    total = timedelta(0)
    for opened, closed in _open_intervals(cal, origin, until):
        total += closed - opened
    return total.total_seconds()


def next_open(cal: Calendar | None, at: datetime) -> datetime:
    """``at`` itself when the calendar is open then, else the instant it next opens (in
    ``at``'s time zone). A calendar with no open hour in its week is a ValueError."""
    _aware(at, "at")
    if cal is None:
        return at
    _require_open_hours(cal)
    origin = at.astimezone(UTC)
    for opened, _closed in _open_intervals(cal, origin, origin + MAX_SPAN):
        return at if opened == origin else opened.astimezone(at.tzinfo)
    raise ValueError(f"the calendar is not open within {MAX_SPAN.days} days after {at}")


def warn_instant(
    cal: Calendar | None, start: datetime, seconds: float, share: float = 0.8
) -> datetime:
    """When ``share`` of a time limit of ``seconds`` (counted from ``start``) has passed: the
    instant of the early warning before a deadline."""
    if not math.isfinite(share) or not 0 <= share <= 1:
        raise ValueError(f"the warning share must be between 0 and 1, not {share}")
    return add_business_seconds(cal, start, _duration(seconds).total_seconds() * share)


def _open_intervals(
    cal: Calendar, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's open intervals [opened, closed) in UTC, in order, clipped to
    [start, end) (both UTC). Walks pieces of constant UTC offset no longer than a local day."""
    zone = ZoneInfo(cal.timezone)
    holidays = {h.date for h in cal.holidays}
    t = start
    while t < end:
        local = t.astimezone(zone)
        wall = local.replace(tzinfo=None)
        day = wall.date()
        piece_end = t + (datetime.combine(day + timedelta(days=1), time()) - wall)
        if (piece_end - _TICK).astimezone(zone).utcoffset() != local.utcoffset():
            piece_end = _offset_change(zone, t, piece_end - _TICK)
        piece_end = min(piece_end, end)
        # Within the piece the wall clock runs with UTC, so a wall time maps by a shift.
        for opened, closed in _day_ranges(cal, day, holidays):
            lo = max(t + (opened - wall), t)
            hi = min(t + (closed - wall), piece_end)
            if lo < hi:
                yield lo, hi
        t = piece_end


def _day_ranges(
    cal: Calendar, day: date, holidays: set[date]
) -> Iterator[tuple[datetime, datetime]]:
    """The open wall-clock ranges of a local date (naive datetimes, an end may be 24:00),
    in order, overlapping or touching ranges merged."""
    if day in holidays:
        return
    merged: list[tuple[int, int]] = []
    for r in sorted(cal.weekly.get(WEEKDAYS[day.weekday()], ()), key=lambda r: r.start):
        if merged and r.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], r.end))
        else:
            merged.append((r.start, r.end))
    midnight = datetime.combine(day, time())
    for first, last in merged:
        yield midnight + timedelta(minutes=first), midnight + timedelta(minutes=last)


def _offset_change(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first instant (to the microsecond) in (before, after] whose UTC offset differs
    from ``before``'s; ``after``'s does."""
    offset = before.astimezone(zone).utcoffset()
    lo, hi = before, after
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if mid.astimezone(zone).utcoffset() == offset:
            lo = mid
        else:
            hi = mid
    return hi


def _require_open_hours(cal: Calendar) -> None:
    if not any(cal.weekly.values()):
        raise ValueError(f"the calendar ({cal.timezone}) has no open hour on any weekday")


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _duration(seconds: float) -> timedelta:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, not {seconds}")
    if seconds > MAX_SPAN.total_seconds():
        raise _too_far(seconds)
    return timedelta(seconds=seconds)


def _too_far(seconds: float) -> ValueError:
    return ValueError(
        f"{seconds} seconds of open time do not fit in {MAX_SPAN.days} days of the calendar"
    )
