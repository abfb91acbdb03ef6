"""Business hours in the schedule's own time zone, with holidays and closed days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.platform.schedules import WeeklyHours, parse_clock

WARSAW_OFFICE = WeeklyHours.build(
    "Europe/Warsaw",
    {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], "sat": [["10:00", "24:00"]]},
    [{"date": "2026-12-28", "name": "Office closed"}],
)


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        (datetime(2026, 12, 7, 7, 59, tzinfo=UTC), False),  # Mon 08:59 in Warsaw
        (datetime(2026, 12, 7, 8, 0, tzinfo=UTC), True),  # Mon 09:00
        (datetime(2026, 12, 7, 12, 30, tzinfo=UTC), False),  # lunch gap 13:30
        (datetime(2026, 12, 7, 16, 59, tzinfo=UTC), True),  # 17:59
        (datetime(2026, 12, 7, 17, 0, tzinfo=UTC), False),  # 18:00: end is exclusive
        (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), False),  # Sunday: closed all day
        (datetime(2026, 12, 12, 22, 59, tzinfo=UTC), True),  # Sat 23:59, "24:00" end
        (datetime(2026, 12, 28, 10, 0, tzinfo=UTC), False),  # a Monday, but a holiday
        (datetime(2026, 7, 6, 7, 30, tzinfo=UTC), True),  # summer time: Mon 09:30
    ],
)
def test_open_hours_follow_the_local_clock(utc: datetime, is_open: bool) -> None:
    assert WARSAW_OFFICE.is_open(utc) is is_open


@pytest.mark.parametrize("bad", ["9", "09:60", "25:00", "24:01", "ab:cd", "09:5"])
def test_malformed_times_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_clock(bad)


def test_overlapping_or_backwards_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        WeeklyHours.build("UTC", {"tue": [["09:00", "12:00"], ["11:00", "13:00"]]})
    with pytest.raises(ValueError, match="after it starts"):
        WeeklyHours.build("UTC", {"tue": [["12:00", "09:00"]]})
