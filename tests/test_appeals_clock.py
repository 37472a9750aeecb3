"""Business time: deadlines counted in a calendar's open hours, over weekends, holidays, lunch
breaks, ranges that end at midnight and clock changes, and always in agreement with
``ivr.hours.status`` about which instants are open."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appeals.clock import (
    MAX_SPAN,
    add_business_seconds,
    business_seconds_between,
    next_open,
    warn_instant,
)
from ivr.hours import Calendar, Status, status

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
EVERY_DAY = (*WORKDAYS, "sat", "sun")


def calendar(
    zone: str = "Europe/Berlin", days: tuple[str, ...] = WORKDAYS, *ranges: str, **extra: Any
) -> Calendar:
    return Calendar.model_validate(
        {
            "timezone": zone,
            "weekly": {day: list(ranges or ["08:00-18:00"]) for day in days},
            **extra,
        }
    )


# Mon-Fri 08:00-18:00 in Berlin, closed on Christmas Day (Friday 25 December 2026).
OFFICE = calendar(holidays=["2026-12-25"])
LUNCH = calendar("Europe/Berlin", WORKDAYS, "09:00-12:00", "13:00-17:00")
ALL_DAY = calendar("Europe/Berlin", EVERY_DAY, "00:00-24:00")


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=BERLIN)


def test_a_stage_deadline_over_a_holiday_and_a_weekend() -> None:
    # Registered on Thursday 24 December at 16:00 with a 14-hour stage: 2 hours on Thursday,
    # Friday is Christmas, then the weekend, 10 hours on Monday, 2 hours on Tuesday.
    registered = berlin(2026, 12, 24, 16, 0)
    deadline = add_business_seconds(OFFICE, registered, 14 * HOUR)
    assert deadline == berlin(2026, 12, 29, 10, 0)
    assert deadline.tzinfo is BERLIN
    assert business_seconds_between(OFFICE, registered, deadline) == 14 * HOUR
    # The warning at 80 %: 11 h 12 min of open time, late on Monday.
    assert warn_instant(OFFICE, registered, 14 * HOUR) == berlin(2026, 12, 28, 17, 12)
    assert warn_instant(OFFICE, registered, 14 * HOUR, share=0.5) == berlin(2026, 12, 28, 13, 0)
    assert warn_instant(OFFICE, registered, 14 * HOUR, share=1) == deadline
    # Without a calendar the same stage runs around the clock.
    assert add_business_seconds(None, registered, 14 * HOUR) == berlin(2026, 12, 25, 6, 0)
    assert warn_instant(None, registered, 10 * HOUR) == berlin(2026, 12, 25, 0, 0)


def test_the_deadline_is_the_earliest_instant_not_the_next_opening() -> None:
    # Eight hours from Monday 10:00 end at the close, 18:00, not at Tuesday's opening.
    assert add_business_seconds(OFFICE, berlin(2026, 12, 7, 10), 8 * HOUR) == berlin(
        2026, 12, 7, 18
    )
    assert business_seconds_between(OFFICE, berlin(2026, 12, 7, 18), berlin(2026, 12, 8, 8)) == 0


@pytest.mark.parametrize(
    ("start", "seconds", "expected"),
    [
        # Counting starts at the next opening: Saturday -> Monday 08:00.
        (berlin(2026, 12, 5, 10), HOUR, berlin(2026, 12, 7, 9)),
        # Friday evening -> Monday.
        (berlin(2026, 12, 4, 17, 30), HOUR, berlin(2026, 12, 7, 8, 30)),
        # Before opening on a workday.
        (berlin(2026, 12, 7, 6), 90, berlin(2026, 12, 7, 8, 1, 30)),
        # Fractions of a second are kept.
        (berlin(2026, 12, 7, 8), 0.25, berlin(2026, 12, 7, 8, 0, 0, 250000)),
        # Two working weeks.
        (berlin(2026, 11, 30, 8), 100 * HOUR, berlin(2026, 12, 11, 18)),
    ],
)
def test_start_outside_hours_and_long_durations(
    start: datetime, seconds: float, expected: datetime
) -> None:
    assert add_business_seconds(OFFICE, start, seconds) == expected


def test_a_lunch_break_is_not_counted() -> None:
    monday = berlin(2026, 12, 7, 11)
    assert add_business_seconds(LUNCH, monday, 2 * HOUR) == berlin(2026, 12, 7, 14)
    assert add_business_seconds(LUNCH, monday, HOUR) == berlin(2026, 12, 7, 12)
    assert next_open(LUNCH, berlin(2026, 12, 7, 12, 30)) == berlin(2026, 12, 7, 13)
    assert business_seconds_between(LUNCH, berlin(2026, 12, 7), berlin(2026, 12, 8)) == 7 * HOUR
    # Overlapping ranges count once.
    overlapping = calendar("Europe/Berlin", WORKDAYS, "08:00-12:00", "10:00-14:00", "14:00-15:00")
    assert business_seconds_between(overlapping, berlin(2026, 12, 7), berlin(2026, 12, 8)) == (
        7 * HOUR
    )
    assert add_business_seconds(overlapping, berlin(2026, 12, 7, 8), 6 * HOUR) == berlin(
        2026, 12, 7, 14
    )


def test_a_range_that_ends_at_midnight_runs_into_the_next_day() -> None:
    late = Calendar.model_validate(
        {"timezone": "Europe/Berlin", "weekly": {"fri": "20:00-24:00", "sat": "00:00-02:00"}}
    )
    friday = berlin(2026, 12, 4, 23)
    assert add_business_seconds(late, friday, HOUR) == berlin(2026, 12, 5, 0)
    assert add_business_seconds(late, friday, 2 * HOUR) == berlin(2026, 12, 5, 1)
    assert add_business_seconds(late, friday, 3 * HOUR) == berlin(2026, 12, 5, 2)
    assert add_business_seconds(late, friday, 4 * HOUR) == berlin(2026, 12, 11, 21)
    assert next_open(late, berlin(2026, 12, 5, 0)) == berlin(2026, 12, 5, 0)
    assert next_open(late, berlin(2026, 12, 5, 2)) == berlin(2026, 12, 11, 20)


def test_zero_seconds_and_next_open() -> None:
    saturday = berlin(2026, 12, 5, 10)
    assert add_business_seconds(OFFICE, saturday, 0) == saturday
    assert warn_instant(OFFICE, saturday, 0) == saturday
    assert next_open(OFFICE, saturday) == berlin(2026, 12, 7, 8)
    open_now = berlin(2026, 12, 7, 9, 15, 30, 5)
    assert next_open(OFFICE, open_now) is open_now
    assert next_open(None, saturday) is saturday
    # Christmas Eve after hours: the holiday and the weekend are skipped.
    assert next_open(OFFICE, berlin(2026, 12, 24, 18)) == berlin(2026, 12, 28, 8)
    # The answer is in the caller's time zone.
    assert next_open(OFFICE, saturday.astimezone(UTC)).tzinfo is UTC


def test_between_is_signed_and_zero_for_an_empty_span() -> None:
    a, b = berlin(2026, 12, 4, 17), berlin(2026, 12, 7, 9)
    assert business_seconds_between(OFFICE, a, b) == 2 * HOUR
    assert business_seconds_between(OFFICE, b, a) == -2 * HOUR
    assert business_seconds_between(OFFICE, a, a) == 0
    assert business_seconds_between(None, a, b) == (b - a).total_seconds()
    never = Calendar(timezone="UTC")
    assert business_seconds_between(never, a, b) == 0


# Clock changes in 2026: Berlin springs forward on 29 March (02:00 -> 03:00) and falls back on
# 25 October (03:00 -> 02:00); New York on 8 March and 1 November.
def test_a_day_has_23_or_25_hours_at_the_clock_changes() -> None:
    assert business_seconds_between(ALL_DAY, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * HOUR
    assert business_seconds_between(ALL_DAY, berlin(2026, 10, 25), berlin(2026, 10, 26)) == (
        25 * HOUR
    )
    # 24 hours of open time from Saturday noon end at Sunday 13:00 (summer time).
    assert add_business_seconds(ALL_DAY, berlin(2026, 3, 28, 12), 24 * HOUR) == berlin(
        2026, 3, 29, 13
    )
    assert add_business_seconds(None, berlin(2026, 3, 28, 12), 24 * HOUR) == berlin(2026, 3, 29, 13)
    assert add_business_seconds(ALL_DAY, berlin(2026, 10, 24, 12), 24 * HOUR) == berlin(
        2026, 10, 25, 11
    )
    # Around the clock, the same zone's datetimes are measured in real seconds, not wall time.
    assert business_seconds_between(None, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * HOUR


def test_office_hours_keep_their_wall_clock_across_a_change() -> None:
    # Friday 17:00 CET plus two hours: one on Friday, one from Monday 08:00 CEST.
    deadline = add_business_seconds(OFFICE, berlin(2026, 3, 27, 17), 2 * HOUR)
    assert deadline == berlin(2026, 3, 30, 9)
    assert deadline.utcoffset() == timedelta(hours=2)
    assert business_seconds_between(OFFICE, berlin(2026, 3, 23), berlin(2026, 4, 6)) == (100 * HOUR)
    new_york = calendar("America/New_York", WORKDAYS)
    friday = datetime(2026, 10, 30, 17, tzinfo=NEW_YORK)
    assert add_business_seconds(new_york, friday, 2 * HOUR) == datetime(
        2026, 11, 2, 9, tzinfo=NEW_YORK
    )
    assert add_business_seconds(new_york, friday, 2 * HOUR).utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    ("zone", "day", "ranges", "hours"),
    [
        # The skipped hour does not count; the repeated hour counts twice.
        ("Europe/Berlin", (2026, 3, 29), ("01:00-04:00",), 2),
        ("Europe/Berlin", (2026, 10, 25), ("01:00-04:00",), 4),
        ("Europe/Berlin", (2026, 3, 29), ("02:00-03:00",), 0),
        ("Europe/Berlin", (2026, 10, 25), ("02:00-03:00",), 2),
        ("Europe/Berlin", (2026, 10, 25), ("01:00-02:30",), 2),
        ("America/New_York", (2026, 3, 8), ("01:00-03:00",), 1),
        ("America/New_York", (2026, 11, 1), ("01:00-03:00",), 3),
        ("America/New_York", (2026, 11, 1), ("00:00-24:00",), 25),
        ("America/New_York", (2026, 3, 8), ("00:00-01:30", "02:30-24:00"), 22.5),
    ],
)
def test_clock_change_days_agree_with_the_hours_status(
    zone: str, day: tuple[int, int, int], ranges: tuple[str, ...], hours: float
) -> None:
    cal = calendar(zone, EVERY_DAY, *ranges)
    tz = ZoneInfo(zone)
    start = datetime(*day, tzinfo=tz) - timedelta(hours=3)
    end = datetime(*day, tzinfo=tz) + timedelta(days=1, hours=3)
    assert business_seconds_between(cal, datetime(*day, tzinfo=tz), end - timedelta(hours=3)) == (
        hours * HOUR
    )
    # Minute by minute over the day and its edges: open per status() exactly when next_open
    # answers the minute itself, and the open minutes add up to business_seconds_between.
    minutes = int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 60)
    first = start.astimezone(UTC)
    open_minutes = 0
    for n in range(minutes):
        at = first + timedelta(minutes=n)
        is_open = status(cal, at) is Status.OPEN
        open_minutes += is_open
        assert (next_open(cal, at) == at) is is_open, at
        if not is_open:
            assert status(cal, next_open(cal, at)) is Status.OPEN
            assert status(cal, next_open(cal, at) - timedelta(seconds=1)) is not Status.OPEN
    assert business_seconds_between(cal, start, end) == open_minutes * 60


@pytest.mark.parametrize(
    "cal",
    [
        OFFICE,
        LUNCH,
        ALL_DAY,
        calendar("America/New_York", EVERY_DAY, "01:00-03:00", "22:00-24:00"),
        calendar("Australia/Lord_Howe", WORKDAYS, "01:00-03:00"),  # 30-minute clock changes
    ],
)
def test_adding_and_measuring_are_inverse(cal: Calendar) -> None:
    rng = random.Random(11)
    zone = ZoneInfo(cal.timezone)
    for _ in range(300):
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(366 * 86400))
        start = start.astimezone(zone)
        seconds = rng.choice([1, 59.5, 3600, 4 * 3600, 40 * 3600, rng.randrange(300 * 3600)])
        end = add_business_seconds(cal, start, seconds)
        assert business_seconds_between(cal, start, end) == pytest.approx(seconds, abs=1e-6)
        # And it is the earliest such instant: just before, less time has passed.
        before = end.astimezone(UTC) - timedelta(milliseconds=1)
        assert business_seconds_between(cal, start, before) < seconds
        assert status(cal, before) is Status.OPEN


def test_ten_years_are_walked_a_day_at_a_time() -> None:
    start = berlin(2026, 1, 1)
    end = start + timedelta(days=3650)  # the same wall time ten years on
    assert business_seconds_between(ALL_DAY, start, end) == (
        (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
    )
    # 2000 working days of ten hours, about eight years.
    deadline = add_business_seconds(OFFICE, start, 20_000 * HOUR)
    assert business_seconds_between(OFFICE, start, deadline) == 20_000 * HOUR
    assert deadline.year == 2033


def test_impossible_durations_and_calendars_are_refused() -> None:
    monday = berlin(2026, 12, 7, 9)
    never = Calendar(timezone="Europe/Berlin")
    with pytest.raises(ValueError, match="no open hour on any weekday"):
        add_business_seconds(never, monday, 60)
    with pytest.raises(ValueError, match="no open hour on any weekday"):
        next_open(never, monday)
    with pytest.raises(ValueError, match="no open hour on any weekday"):
        warn_instant(never, monday, 60)
    for cal in (OFFICE, None):
        with pytest.raises(ValueError, match="do not fit in 3660 days"):
            add_business_seconds(cal, monday, 1e12)
    # Within the bound of seconds but not of the calendar's open time.
    with pytest.raises(ValueError, match="do not fit in 3660 days"):
        add_business_seconds(OFFICE, monday, MAX_SPAN.total_seconds() / 2)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number of seconds"):
            add_business_seconds(OFFICE, monday, bad)
    for share in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="warning share"):
            warn_instant(OFFICE, monday, 60, share)
    with pytest.raises(ValueError, match="longer than 3660 days"):
        business_seconds_between(OFFICE, monday, monday + timedelta(days=4000))


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 12, 7, 9)
    aware = berlin(2026, 12, 7, 9)
    for cal in (OFFICE, None):
        with pytest.raises(ValueError, match="start must be a timezone-aware"):
            add_business_seconds(cal, naive, 60)
        with pytest.raises(ValueError, match="at must be a timezone-aware"):
            next_open(cal, naive)
        with pytest.raises(ValueError, match="start must be a timezone-aware"):
            warn_instant(cal, naive, 60)
        with pytest.raises(ValueError, match="end must be a timezone-aware"):
            business_seconds_between(cal, aware, naive)
        with pytest.raises(ValueError, match="start must be a timezone-aware"):
            business_seconds_between(cal, naive, aware)
