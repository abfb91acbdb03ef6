"""Open time added to an instant in a schedule (SLA due times in business hours): the due
instant is never inside closed hours, grows with the time added, and counts exactly the
open minutes `is_open` sees, across daylight-saving changes and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.platform.schedules import WeeklyHours

WARSAW_OFFICE = WeeklyHours.build(
    "Europe/Warsaw",
    {day: [["09:00", "13:00"], ["14:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    [{"date": "2026-12-24", "name": "Wigilia"}, {"date": "2026-12-25", "name": "Christmas"}],
)
# Hours across the small hours, where daylight-saving changes happen.
NIGHT_SHIFT = WeeklyHours.build(
    "America/New_York",
    {day: [["00:00", "03:30"], ["22:00", "24:00"]] for day in ("sat", "sun", "mon")},
)
ALWAYS = WeeklyHours.build(
    "UTC", {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
)
SCHEDULES = st.sampled_from([WARSAW_OFFICE, NIGHT_SHIFT, ALWAYS])
# Minute-aligned instants over several years of daylight-saving changes.
INSTANTS = st.integers(0, 6 * 365 * 24 * 60).map(
    lambda minutes: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
)
MINUTE = timedelta(minutes=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def open_minutes(hours: WeeklyHours, start: datetime, end: datetime) -> int:
    """Counted the slow way: one `is_open` per minute."""
    count, at = 0, start
    while at < end:
        count += hours.is_open(at)
        at += MINUTE
    return count


def test_a_friday_afternoon_mail_is_due_on_monday_morning() -> None:
    # Fri 2026-12-04 17:00 Warsaw (16:00 UTC): 1 h left on Friday, 3 h on Monday.
    due = WARSAW_OFFICE.add_open_time(utc(2026, 12, 4, 16, 0), 4 * 3600)
    assert due == utc(2026, 12, 7, 11, 0)  # Mon 12:00 in Warsaw


def test_a_mail_at_night_starts_counting_when_the_office_opens() -> None:
    due = WARSAW_OFFICE.add_open_time(utc(2026, 12, 8, 2, 0), 30 * 60)
    assert due == utc(2026, 12, 8, 8, 30)  # Tue 09:30 in Warsaw


def test_the_lunch_break_and_holidays_do_not_count() -> None:
    # Wed 23 Dec 12:00 Warsaw; 24 and 25 Dec are holidays, then the weekend.
    due = WARSAW_OFFICE.add_open_time(utc(2026, 12, 23, 11, 0), 6 * 3600)
    assert due == utc(2026, 12, 28, 9, 0)  # 1 h before lunch, 4 h after, Mon 10:00


def test_time_running_out_at_closing_time_is_due_at_closing_time() -> None:
    due = WARSAW_OFFICE.add_open_time(utc(2026, 12, 7, 16, 0), 3600)  # Mon 17:00
    assert due == utc(2026, 12, 7, 17, 0)  # 18:00: closing time, not Tuesday 09:00


def test_summer_time_moves_the_hours_with_the_local_clock() -> None:
    due = WARSAW_OFFICE.add_open_time(utc(2026, 7, 6, 6, 0), 3600)  # Mon 08:00 CEST
    assert due == utc(2026, 7, 6, 8, 0)  # 10:00 CEST


def test_a_schedule_that_is_never_open_makes_nothing_due() -> None:
    assert WeeklyHours.build("UTC", {}).add_open_time(utc(2026, 1, 1), 60) is None


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ALWAYS.add_open_time(datetime(2026, 1, 1), 60)  # naive: the point of the test


def test_the_spring_forward_hour_does_not_exist_and_is_not_counted() -> None:
    # New York, 8 Mar 2026: 02:00 EST jumps to 03:00 EDT. Open 00:00-03:30 that Sunday
    # is 2.5 hours long.
    spans = NIGHT_SHIFT.open_spans(date(2026, 3, 8))
    assert spans[0] == (utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 7, 30))


def test_the_fall_back_hour_happens_twice_and_counts_twice() -> None:
    # New York, 1 Nov 2026: 02:00 EDT goes back to 01:00 EST; 00:00-03:30 is 4.5 hours.
    spans = NIGHT_SHIFT.open_spans(date(2026, 11, 1))
    assert spans[0] == (utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 8, 30))


@settings(max_examples=150, deadline=None)
@given(SCHEDULES, INSTANTS, st.integers(1, 3 * 24 * 60))
def test_the_due_time_is_never_inside_closed_hours(
    hours: WeeklyHours, start: datetime, minutes: int
) -> None:
    due = hours.add_open_time(start, minutes * 60)
    assert due is not None
    # Open at the due instant, or due exactly as it closes (open the minute before).
    assert hours.is_open(due) or hours.is_open(due - MINUTE)
    assert due >= start + timedelta(minutes=minutes)  # open time never outruns real time


@settings(max_examples=60, deadline=None)
@given(SCHEDULES, INSTANTS, st.integers(1, 2 * 24 * 60))
def test_the_due_time_counts_exactly_the_open_minutes(
    hours: WeeklyHours, start: datetime, minutes: int
) -> None:
    due = hours.add_open_time(start, minutes * 60)
    assert due is not None
    assert open_minutes(hours, start, due) == minutes


@settings(max_examples=150, deadline=None)
@given(SCHEDULES, INSTANTS, st.integers(0, 5 * 24 * 3600), st.integers(0, 5 * 24 * 3600))
def test_more_open_time_is_never_due_earlier(
    hours: WeeklyHours, start: datetime, first: int, second: int
) -> None:
    shorter, longer = sorted((first, second))
    early, late = hours.add_open_time(start, shorter), hours.add_open_time(start, longer)
    assert early is not None and late is not None
    assert early <= late


@settings(max_examples=100, deadline=None)
@given(SCHEDULES, st.dates(date(2024, 1, 1), date(2030, 12, 31)))
def test_open_spans_are_exactly_the_open_minutes_of_the_day(hours: WeeklyHours, day: date) -> None:
    for begin, end in hours.open_spans(day):
        assert begin.astimezone(hours.zone).date() == day
        assert hours.is_open(begin) and hours.is_open(end - MINUTE)
        assert (
            not hours.is_open(begin - MINUTE)
            or (begin - MINUTE).astimezone(hours.zone).date() != day
        )
