"""Business hours: is a queue's schedule open at a given instant? (F-RT-4)

A schedule is a time zone, weekly hours ("mon".."sun" → list of ["HH:MM", "HH:MM"]
intervals, end exclusive, "24:00" allowed as the end of the day) and holidays (dates on
which it is closed all day). Evaluated in the schedule's own zone, so daylight-saving
changes move the hours with the local clock, as people expect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_clock(value: str) -> int:
    """Minutes since midnight of "HH:MM"; "24:00" is 1440. Raises ValueError when malformed."""
    hours, sep, minutes = value.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"{value!r} is not HH:MM")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > 24 * 60:
        raise ValueError(f"{value!r} is not a time of day")
    return total


@dataclass(frozen=True)
class WeeklyHours:
    zone: ZoneInfo
    intervals: Mapping[str, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]

    @classmethod
    def build(
        cls,
        time_zone: str,
        hours: Mapping[str, Sequence[Sequence[str]]],
        holidays: Iterable[Mapping[str, str]] = (),
    ) -> WeeklyHours:
        intervals: dict[str, tuple[tuple[int, int], ...]] = {}
        for day in WEEKDAYS:
            spans = sorted(
                (parse_clock(start), parse_clock(end)) for start, end in hours.get(day, ())
            )
            if any(start >= end for start, end in spans):
                raise ValueError(f"{day}: an interval must end after it starts")
            if any(later[0] < earlier[1] for earlier, later in pairwise(spans)):
                raise ValueError(f"{day}: intervals overlap")
            intervals[day] = tuple(spans)
        return cls(
            ZoneInfo(time_zone),
            intervals,
            frozenset(date.fromisoformat(holiday["date"]) for holiday in holidays),
        )

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        day = WEEKDAYS[local.weekday()]
        return any(start <= minute < end for start, end in self.intervals.get(day, ()))
