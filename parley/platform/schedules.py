"""Business hours: is a queue's schedule open at a given instant? (F-RT-4) And when will
so much open time have passed? (SLA due times of cases, F-CS-1)

A schedule is a time zone, weekly hours ("mon".."sun" → list of ["HH:MM", "HH:MM"]
intervals, end exclusive, "24:00" allowed as the end of the day) and holidays (dates on
which it is closed all day). Evaluated in the schedule's own zone, so daylight-saving
changes move the hours with the local clock, as people expect: `is_open`, `open_spans`
(a day's open hours as real instants) and `add_open_time` agree on every instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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

    def add_open_time(
        self, start: datetime, seconds: float, *, horizon_days: int = 3 * 366
    ) -> datetime | None:
        """The instant at which `seconds` of open time have passed since `start` (an
        aware datetime; the answer is in UTC). Closed hours, closed days and holidays
        do not count; a span ending exactly at closing time answers that closing
        instant. None when the schedule has no open time within `horizon_days` of
        `start` (it is never open): nothing can be due by it.

        Walked in real time, span by span, so a daylight-saving change that shortens
        or lengthens a day shortens or lengthens its open hours, exactly as `is_open`
        sees them."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        remaining = timedelta(seconds=max(0.0, seconds))
        start = start.astimezone(UTC)
        first_day = start.astimezone(self.zone).date()
        for offset in range(horizon_days + 1):
            for span_start, span_end in self.open_spans(first_day + timedelta(days=offset)):
                if span_end <= start:
                    continue
                begin = max(span_start, start)
                if remaining <= span_end - begin:
                    return begin + remaining
                remaining -= span_end - begin
        return None

    def open_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open instants of the local date `day`, as [start, end) spans in UTC, in
        order. Each piece of the day with one UTC offset is mapped with that offset, so
        a time that does not exist (spring forward) is never open and one that happens
        twice (fall back) is open both times, as `is_open` says."""
        spans = self.intervals.get(WEEKDAYS[day.weekday()], ())
        if not spans or day in self.holidays:
            return []
        midnight = datetime.combine(day, time())  # naive local wall clock
        found: list[tuple[datetime, datetime]] = []
        for piece_start, piece_end, utc_offset in self._constant_offset_pieces(day):
            wall_midnight_utc = (midnight - utc_offset).replace(tzinfo=UTC)
            for first_minute, end_minute in spans:
                begin = max(piece_start, wall_midnight_utc + timedelta(minutes=first_minute))
                end = min(piece_end, wall_midnight_utc + timedelta(minutes=end_minute))
                if begin < end:
                    found.append((begin, end))
        found.sort()
        merged: list[tuple[datetime, datetime]] = []
        for begin, end in found:
            if merged and begin <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((begin, end))
        return merged

    def _constant_offset_pieces(self, day: date) -> list[tuple[datetime, datetime, timedelta]]:
        """The local date `day` in UTC, cut where its UTC offset changes: (start, end,
        offset) pieces. Zones change offset at most once a day, found to the second."""
        day_start = _first_instant_of(day, self.zone)
        day_end = _first_instant_of(day + timedelta(days=1), self.zone)
        first, last = self._utc_offset(day_start), self._utc_offset(day_end - _SECOND)
        if first == last:
            return [(day_start, day_end, first)]
        # Whole seconds (transitions are): offset(low) == first, offset(high) != first.
        low, high = 0, int((day_end - day_start).total_seconds()) - 1
        while high - low > 1:
            middle = (low + high) // 2
            if self._utc_offset(day_start + timedelta(seconds=middle)) == first:
                low = middle
            else:
                high = middle
        change = day_start + timedelta(seconds=high)
        return [(day_start, change, first), (change, day_end, last)]

    def _utc_offset(self, instant: datetime) -> timedelta:
        return instant.astimezone(self.zone).utcoffset() or timedelta()


_SECOND = timedelta(seconds=1)


def _first_instant_of(day: date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) whose local date in `zone` is `day`. Midnight itself may
    not exist (a zone springing forward at 00:00): fold=0 then names the instant just
    after the gap, which is still the first of the day."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
