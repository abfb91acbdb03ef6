"""The arithmetic of an agent's day: intervals clipped to the period, handle times, the
break budget and team averages (parley.platform.stats.domain, no database)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.platform.stats import (
    Handled,
    Interval,
    break_budget,
    break_seconds,
    day_bounds,
    not_ready_by_reason,
    summarize_handled,
    team_average,
    time_in_states,
)
from parley.platform.stats.domain import SYSTEM_REASONS, clipped_seconds, was_at_work

MIDNIGHT = datetime(2026, 1, 5, tzinfo=UTC)
NOW = MIDNIGHT + timedelta(hours=15)
DAY = (NOW - MIDNIGHT).total_seconds()
STATES = ("offline", "ready", "reserved", "busy", "wrap_up", "not_ready")
REASONS = ("login", "missed", "lunch", "break", "training")
# Float sums of microsecond durations may drift by a few ulps, never by a microsecond.
EPSILON = 1e-6


def at(hours: float) -> datetime:
    return MIDNIGHT + timedelta(hours=hours)


def interval(state: str, start: float, end: float | None, reason: str | None = None) -> Interval:
    return Interval(state, reason, at(start), at(end) if end is not None else None)


def handled(agent_id: int, channel: str, answered: float, seconds: float) -> Handled:
    answered_at = at(answered)
    return Handled(agent_id, channel, answered_at, answered_at + timedelta(seconds=seconds))


# --- clipping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (9, 10, 3600),  # inside the period
        (-1, 1, 3600),  # began yesterday: only today's part
        (14, 16, 3600),  # ends after now: cut at now
        (14, None, 3600),  # still open: counts up to now
        (-2, -1, 0),  # yesterday only
        (16, 17, 0),  # after now (a clock moved back): nothing, never negative
        (16, None, 0),
        (9, 9, 0),  # zero length
    ],
)
def test_an_interval_counts_only_its_part_within_the_period(
    start: float, end: float | None, expected: float
) -> None:
    assert clipped_seconds(interval("ready", start, end), MIDNIGHT, NOW) == expected


def test_time_in_state_sums_per_state_and_leaves_offline_out() -> None:
    intervals = [
        interval("offline", -10, 8),
        interval("not_ready", 8, 8.5, "login"),
        interval("ready", 8.5, 9),
        interval("busy", 9, 10),
        interval("ready", 10, 10.25),
        interval("busy", 10.25, 10.5),
        interval("not_ready", 10.5, 11, "lunch"),
        interval("offline", 11, 14),
        interval("ready", 14, None),
    ]
    assert time_in_states(intervals, MIDNIGHT, NOW) == {
        "not_ready": 3600.0,
        "ready": 2700.0 + 3600.0,
        "busy": 4500.0,
    }


def test_states_with_no_time_in_the_period_are_absent_not_zero() -> None:
    intervals = [interval("busy", -3, -2), interval("ready", 9, 9)]
    assert time_in_states(intervals, MIDNIGHT, NOW) == {}
    assert not_ready_by_reason(intervals, MIDNIGHT, NOW) == {}


def test_not_ready_time_is_split_by_reason_across_intervals() -> None:
    intervals = [
        interval("not_ready", -0.5, 0.5, "lunch"),  # half of it today
        interval("ready", 0.5, 1),
        interval("not_ready", 1, 1.25, "lunch"),
        interval("not_ready", 1.25, 2, "training"),
        interval("not_ready", 2, 3, None),
        interval("offline", 3, 4, "logout"),  # offline reasons are not not-ready reasons
    ]
    assert not_ready_by_reason(intervals, MIDNIGHT, NOW) == {
        "lunch": 1800.0 + 900.0,
        "training": 2700.0,
        "": 3600.0,
    }


def test_break_time_counts_only_non_productive_codes() -> None:
    intervals = [
        interval("not_ready", 8, 8.5, "login"),  # set by the system, not a break
        interval("not_ready", 9, 9.5, "lunch"),
        interval("not_ready", 10, 10.25, "break"),
        interval("not_ready", 11, 12, "training"),  # productive
        interval("not_ready", 12, 12.5, "missed"),
        interval("busy", 13, 14, "lunch"),  # a reason on another state is no break
    ]
    assert break_seconds(intervals, MIDNIGHT, NOW, {"lunch", "break"}) == 2700.0
    assert break_seconds(intervals, MIDNIGHT, NOW, set()) == 0.0


def test_reasons_the_system_sets_are_no_break_even_if_an_admin_made_codes_of_them() -> None:
    intervals = [
        interval("not_ready", 8, 8.5, "login"),
        interval("not_ready", 9, 9.25, "missed"),
        interval("not_ready", 10, 10.5, "supervisor"),
        interval("not_ready", 11, 11.5, "lunch"),
    ]
    codes = {"login", "missed", "supervisor", "lunch"}
    assert {"login", "missed", "supervisor"} == SYSTEM_REASONS
    assert break_seconds(intervals, MIDNIGHT, NOW, codes) == 1800.0
    # They still show as not-ready time, by reason.
    assert not_ready_by_reason(intervals, MIDNIGHT, NOW) == {
        "login": 1800.0,
        "missed": 900.0,
        "supervisor": 1800.0,
        "lunch": 1800.0,
    }


def test_day_bounds_run_from_utc_midnight_to_now_whatever_the_zone_given() -> None:
    warsaw = ZoneInfo("Europe/Warsaw")
    assert day_bounds(NOW.astimezone(warsaw)) == (MIDNIGHT, NOW)
    # 00:30 on the 6th in Warsaw is still the 5th in UTC.
    half_past_midnight_in_warsaw = datetime(2026, 1, 6, 0, 30, tzinfo=warsaw)
    start, end = day_bounds(half_past_midnight_in_warsaw)
    assert start == MIDNIGHT
    assert end == half_past_midnight_in_warsaw and end.tzinfo is UTC


# --- properties of the clipping ----------------------------------------------------------


@st.composite
def state_logs(draw: st.DrawFn) -> list[Interval]:
    """Consecutive intervals as the engine writes them: each starts where the previous
    ended, the first possibly yesterday, the last possibly still open or past now."""
    first = MIDNIGHT + timedelta(seconds=draw(st.integers(-2 * 86400, int(DAY) + 3600)))
    lengths = draw(st.lists(st.integers(0, 6 * 3600 * 10**6), min_size=1, max_size=12))
    starts = [first]
    for micros in lengths:
        starts.append(starts[-1] + timedelta(microseconds=micros))
    is_open = draw(st.booleans())
    found = []
    for index, (start, end) in enumerate(itertools.pairwise(starts)):
        state = draw(st.sampled_from(STATES))
        reason = draw(st.sampled_from(REASONS)) if state == "not_ready" else None
        last = index == len(lengths) - 1
        found.append(Interval(state, reason, start, None if last and is_open else end))
    return found


@given(state_logs())
def test_time_in_state_clipped_to_the_day_never_exceeds_the_day(log: list[Interval]) -> None:
    per_state = time_in_states(log, MIDNIGHT, NOW)
    assert all(seconds > 0 for seconds in per_state.values())
    assert "offline" not in per_state
    assert sum(per_state.values()) <= DAY + EPSILON
    # Nothing is lost either: at work plus offline is exactly the covered part of the day.
    offline = sum(clipped_seconds(i, MIDNIGHT, NOW) for i in log if i.state == "offline")
    covered_from = max(log[0].started_at, MIDNIGHT)
    last_end = log[-1].ended_at or NOW
    covered = max(0.0, (min(last_end, NOW) - covered_from).total_seconds())
    assert sum(per_state.values()) + offline == pytest.approx(covered, abs=EPSILON)


@given(state_logs())
def test_not_ready_by_reason_adds_up_to_the_not_ready_time(log: list[Interval]) -> None:
    by_reason = not_ready_by_reason(log, MIDNIGHT, NOW)
    not_ready = time_in_states(log, MIDNIGHT, NOW).get("not_ready", 0.0)
    assert sum(by_reason.values()) == pytest.approx(not_ready, abs=EPSILON)
    system = sum(seconds for reason, seconds in by_reason.items() if reason in SYSTEM_REASONS)
    assert break_seconds(log, MIDNIGHT, NOW, set(REASONS)) == pytest.approx(
        not_ready - system, abs=EPSILON
    )


@given(state_logs(), st.integers(-3 * 86400, 86400))
def test_an_interval_never_counts_more_than_its_length_or_the_period(
    log: list[Interval], shift_seconds: int
) -> None:
    start = MIDNIGHT + timedelta(seconds=shift_seconds)
    end = start + timedelta(hours=8)
    for item in log:
        seconds = clipped_seconds(item, start, end)
        assert 0.0 <= seconds <= (end - start).total_seconds()
        if item.ended_at is not None:
            assert seconds <= (item.ended_at - item.started_at).total_seconds()


# --- the break budget --------------------------------------------------------------------


@given(
    st.floats(min_value=0, max_value=86400, allow_nan=False),
    st.integers(min_value=0, max_value=24 * 60),
)
def test_break_remaining_is_the_budget_minus_what_was_used_never_below_zero(
    used: float, budget_minutes: int
) -> None:
    budget = break_budget(used, budget_minutes)
    assert budget.used_seconds == used
    assert budget.budget_seconds == budget_minutes * 60
    assert budget.remaining_seconds == max(0.0, budget_minutes * 60 - used)
    assert budget.is_over is (used > budget_minutes * 60)
    if not budget.is_over:
        assert budget.used_seconds + budget.remaining_seconds == pytest.approx(
            budget.budget_seconds
        )


def test_a_break_exactly_at_the_budget_is_not_over_and_one_second_more_is() -> None:
    at_budget = break_budget(900.0, 15)
    assert (at_budget.remaining_seconds, at_budget.is_over) == (0.0, False)
    over = break_budget(901.0, 15)
    assert (over.remaining_seconds, over.is_over) == (0.0, True)


def test_without_a_budget_nothing_remains_to_count_down_and_nothing_is_over() -> None:
    budget = break_budget(7200.0, None)
    assert (budget.used_seconds, budget.budget_seconds, budget.remaining_seconds) == (
        7200.0,
        None,
        None,
    )
    assert budget.is_over is False


# --- handled work and team averages ------------------------------------------------------


def test_handled_work_is_counted_by_channel_with_the_mean_handle_time() -> None:
    summary = summarize_handled(
        [
            handled(1, "voice", 9, 120),
            handled(1, "chat", 10, 60),
            handled(1, "voice", 11, 300),
            handled(1, "email", 12, 0),
        ]
    )
    assert summary.total == 4
    assert summary.by_channel == {"chat": 1, "email": 1, "voice": 2}
    assert list(summary.by_channel) == ["chat", "email", "voice"]  # stable for the desktop
    assert summary.aht_seconds == 120.0


def test_nothing_handled_has_no_aht_rather_than_zero() -> None:
    summary = summarize_handled([])
    assert (summary.total, summary.by_channel, summary.aht_seconds) == (0, {}, None)


def test_a_handle_time_ending_before_its_answer_counts_as_zero() -> None:
    answered_at = at(10)
    backwards = Handled(1, "chat", answered_at, answered_at - timedelta(seconds=5))
    assert backwards.handle_seconds == 0.0
    assert summarize_handled([backwards, handled(1, "chat", 11, 10)]).aht_seconds == 5.0


@given(
    st.lists(
        st.tuples(
            st.integers(1, 5), st.sampled_from(["voice", "chat", "email"]), st.integers(0, 3600)
        ),
        max_size=30,
    )
)
def test_by_channel_counts_add_up_to_the_total_and_aht_is_the_mean(
    rows: list[tuple[int, str, int]],
) -> None:
    items = [handled(agent, channel, 9, seconds) for agent, channel, seconds in rows]
    summary = summarize_handled(items)
    assert sum(summary.by_channel.values()) == summary.total == len(items)
    if items:
        assert summary.aht_seconds == pytest.approx(sum(s for *_, s in rows) / len(rows))
    else:
        assert summary.aht_seconds is None


def test_team_average_divides_by_the_members_at_work_not_by_the_whole_team() -> None:
    team_work = [
        handled(1, "voice", 9, 100),
        handled(1, "chat", 10, 200),
        handled(2, "voice", 11, 300),
    ]
    average = team_average(team_work, {1, 2})
    assert average.agents_at_work == 2
    assert average.handled_average == 1.5
    assert average.aht_seconds == 200.0
    nobody = team_average([], set())
    assert (nobody.agents_at_work, nobody.handled_average, nobody.aht_seconds) == (0, None, None)


def test_at_work_means_any_state_but_offline_within_the_period() -> None:
    intervals = {
        1: [interval("offline", -5, 9), interval("ready", 9, None)],
        2: [interval("offline", -5, None)],  # absent all day
        3: [interval("busy", -3, -1), interval("offline", -1, None)],  # worked yesterday only
        4: [interval("not_ready", -1, 0.5, "lunch"), interval("offline", 0.5, None)],
        5: [],
    }
    assert was_at_work(intervals, MIDNIGHT, NOW) == {1, 4}
