"""Pure arithmetic of an agent's day: state intervals clipped to a period, handle times,
the break budget and team averages. No I/O; the service feeds it rows.

Definitions the desktop shows, stated once here:

- *Time per state* sums the agent's AgentStateLog intervals that overlap the period,
  clipped to it; an interval still open counts up to the period's end. Offline time is
  not counted: it is not time at work.
- *Handled* counts interactions the agent answered whose `ended_at` falls in the period;
  *AHT* (average handle time) is the mean of `ended_at - answered_at` over them, so it
  covers the conversation itself, not the wrap-up after it.
- *Break time* is not-ready time under the admin's non-productive reason codes (lunch,
  break…). Not-ready under productive codes (training, meeting) and under the reasons
  the system sets itself (`login`, `missed`, `supervisor`) is not a break the agent took,
  even when an admin has defined a code of that name (to give it a label, say).
- The *team average* divides the team's handled count by the team members who were at
  work (in any state but offline) during the period, so absent colleagues do not pull it
  down; the team's AHT is the mean over all the team's handled interactions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from parley.platform.agents import LOGIN_REASON, MISSED_REASON, SUPERVISOR_REASON

OFFLINE = "offline"
NOT_READY = "not_ready"
# Not-ready reasons the state machine sets on its own: never a break the agent took.
SYSTEM_REASONS = frozenset({LOGIN_REASON, MISSED_REASON, SUPERVISOR_REASON})


@dataclass(frozen=True, slots=True)
class Interval:
    """One AgentStateLog row; `ended_at` is None while the interval lasts."""

    state: str
    reason: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class Handled:
    """One interaction an agent answered and finished."""

    agent_id: int
    channel: str
    answered_at: datetime
    ended_at: datetime

    @property
    def handle_seconds(self) -> float:
        return max(0.0, (self.ended_at - self.answered_at).total_seconds())


@dataclass(frozen=True, slots=True)
class HandledSummary:
    total: int
    by_channel: dict[str, int]
    aht_seconds: float | None


@dataclass(frozen=True, slots=True)
class BreakBudget:
    used_seconds: float
    budget_seconds: float | None
    remaining_seconds: float | None

    @property
    def is_over(self) -> bool:
        return self.budget_seconds is not None and self.used_seconds > self.budget_seconds


@dataclass(frozen=True, slots=True)
class TeamAverage:
    agents_at_work: int
    handled_average: float | None
    aht_seconds: float | None


def clipped_seconds(interval: Interval, start: datetime, end: datetime) -> float:
    """How much of `interval` lies within [start, end)."""
    interval_end = interval.ended_at or end
    overlap = (min(interval_end, end) - max(interval.started_at, start)).total_seconds()
    return max(0.0, overlap)


def time_in_states(
    intervals: Iterable[Interval], start: datetime, end: datetime
) -> dict[str, float]:
    """Seconds per state within the period, offline left out."""
    totals: dict[str, float] = {}
    for interval in intervals:
        if interval.state == OFFLINE:
            continue
        seconds = clipped_seconds(interval, start, end)
        if seconds:
            totals[interval.state] = totals.get(interval.state, 0.0) + seconds
    return totals


def not_ready_by_reason(
    intervals: Iterable[Interval], start: datetime, end: datetime
) -> dict[str, float]:
    """Seconds of not-ready per reason code within the period."""
    totals: dict[str, float] = {}
    for interval in intervals:
        if interval.state != NOT_READY:
            continue
        seconds = clipped_seconds(interval, start, end)
        if seconds:
            reason = interval.reason or ""
            totals[reason] = totals.get(reason, 0.0) + seconds
    return totals


def break_seconds(
    intervals: Iterable[Interval],
    start: datetime,
    end: datetime,
    non_productive_codes: Collection[str],
) -> float:
    """Not-ready time within the period under non-productive reason codes, leaving out
    the reasons the system sets."""
    by_reason = not_ready_by_reason(intervals, start, end)
    return sum(
        seconds
        for reason, seconds in by_reason.items()
        if reason in non_productive_codes and reason not in SYSTEM_REASONS
    )


def break_budget(used_seconds: float, budget_minutes: int | None) -> BreakBudget:
    """Break time used against the team's budget; no budget means nothing remains to
    count down, so `remaining_seconds` is None."""
    if budget_minutes is None:
        return BreakBudget(used_seconds, None, None)
    budget = budget_minutes * 60.0
    return BreakBudget(used_seconds, budget, max(0.0, budget - used_seconds))


def summarize_handled(handled: Iterable[Handled]) -> HandledSummary:
    by_channel: dict[str, int] = {}
    total_seconds = 0.0
    count = 0
    for item in handled:
        by_channel[item.channel] = by_channel.get(item.channel, 0) + 1
        total_seconds += item.handle_seconds
        count += 1
    return HandledSummary(
        total=count,
        by_channel=dict(sorted(by_channel.items())),
        aht_seconds=total_seconds / count if count else None,
    )


def team_average(handled: Iterable[Handled], agents_at_work: Collection[int]) -> TeamAverage:
    """The team's handled count per member at work, and its AHT per interaction."""
    summary = summarize_handled(handled)
    present = len(agents_at_work)
    return TeamAverage(
        agents_at_work=present,
        handled_average=summary.total / present if present else None,
        aht_seconds=summary.aht_seconds,
    )


def was_at_work(
    intervals: Mapping[int, Iterable[Interval]], start: datetime, end: datetime
) -> set[int]:
    """The agents with any time in a state other than offline within the period."""
    return {
        agent_id
        for agent_id, rows in intervals.items()
        if any(
            interval.state != OFFLINE and clipped_seconds(interval, start, end) > 0
            for interval in rows
        )
    }
