"""The estimated wait callers are told, and what the dialplan reads (F-RT-7, F-VO-1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parley.telephony.announcements import RecentCall, announcement, estimated_wait

_calls = st.lists(
    st.builds(
        RecentCall,
        waited_seconds=st.floats(0, 3600),
        handled_seconds=st.one_of(st.none(), st.floats(0, 7200)),
        agent_id=st.one_of(st.none(), st.integers(1, 20)),
    ),
    max_size=30,
)


def test_no_history_means_no_estimate() -> None:
    assert estimated_wait(3, []) is None


def test_handled_calls_are_shared_among_the_agents_who_took_them() -> None:
    recent = [RecentCall(10, 120, 1), RecentCall(30, 240, 2)]
    # mean handle 180 s, two agents: each place in line is 90 s.
    assert estimated_wait(1, recent) == 90
    assert estimated_wait(4, recent) == 360


def test_without_handled_calls_the_recent_answer_times_tell() -> None:
    recent = [RecentCall(40, None, 1), RecentCall(80, None, 1)]
    assert estimated_wait(5, recent) == 60


def test_a_caller_not_in_line_waits_no_more() -> None:
    assert estimated_wait(0, [RecentCall(10, 100, 1)]) == 0


@given(_calls, st.integers(1, 50))
def test_the_estimate_never_shrinks_further_back_in_line(
    recent: list[RecentCall], position: int
) -> None:
    here, behind = estimated_wait(position, recent), estimated_wait(position + 1, recent)
    if here is None:
        assert behind is None and not recent
    else:
        assert behind is not None and 0 <= here <= behind


def test_the_dialplan_reads_position_and_minutes_rounded_up() -> None:
    assert announcement(2, 241) == "2-5"
    assert announcement(1, 5) == "1-1"
    assert announcement(3, None) == "3-0"
    assert announcement(0, 30) == ""


@given(st.integers(1, 500), st.one_of(st.none(), st.floats(0, 10**6)))
def test_announcements_are_two_numbers(position: int, seconds: float | None) -> None:
    said_position, minutes = announcement(position, seconds).split("-")
    assert int(said_position) == position and int(minutes) >= 0
