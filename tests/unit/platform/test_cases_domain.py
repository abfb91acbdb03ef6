"""The rules of cases without a database: status changes, SLA due times, merges that
never loop, and who sees what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.platform.cases.domain import (
    ALLOWED_STATUS_CHANGES,
    DONE,
    CaseMerged,
    MergeRefused,
    Viewer,
    change_status,
    is_breached,
    may_see,
    member_queue_ids,
    merge_root,
    merge_target,
    merged_state,
    normalize_tags,
    sla_due_at,
)
from parley.platform.errors import InvalidTransition
from parley.platform.models import CasePriority, CaseStatus, Role

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
statuses = st.sampled_from(list(CaseStatus))


@given(statuses, statuses)
def test_a_status_change_is_allowed_or_refused_and_keeps_closed_at_consistent(
    current: CaseStatus, wanted: CaseStatus
) -> None:
    # What the service keeps true: closed_at is set exactly when the case is done.
    closed_at = NOW - timedelta(days=1) if current in DONE else None
    if wanted != current and wanted not in ALLOWED_STATUS_CHANGES[current]:
        with pytest.raises(InvalidTransition):
            change_status(current, wanted, closed_at, NOW)
        return
    change = change_status(current, wanted, closed_at, NOW)
    assert change.status == wanted
    if wanted in DONE:
        assert change.closed_at is not None
        # Moving between resolved and closed keeps when the case was first done.
        if current in DONE:
            assert change.closed_at == closed_at
    else:
        assert change.closed_at is None


@pytest.mark.parametrize("done", [CaseStatus.RESOLVED, CaseStatus.CLOSED])
def test_nothing_goes_back_to_new(done: CaseStatus) -> None:
    for current in (CaseStatus.OPEN, CaseStatus.PENDING, done):
        with pytest.raises(InvalidTransition):
            change_status(current, CaseStatus.NEW, None, NOW)


def test_a_closed_case_may_only_be_reopened() -> None:
    reopened = change_status(CaseStatus.CLOSED, CaseStatus.OPEN, NOW - timedelta(hours=1), NOW)
    assert reopened.status is CaseStatus.OPEN and reopened.closed_at is None
    for wanted in (CaseStatus.PENDING, CaseStatus.RESOLVED):
        with pytest.raises(InvalidTransition):
            change_status(CaseStatus.CLOSED, wanted, NOW, NOW)


def test_resolving_sets_closed_at_and_reopening_clears_it() -> None:
    resolved = change_status(CaseStatus.OPEN, CaseStatus.RESOLVED, None, NOW)
    assert resolved.closed_at == NOW
    later = NOW + timedelta(hours=2)
    closed = change_status(CaseStatus.RESOLVED, CaseStatus.CLOSED, resolved.closed_at, later)
    assert closed.closed_at == NOW
    assert change_status(CaseStatus.RESOLVED, CaseStatus.OPEN, NOW, later).closed_at is None


@pytest.mark.parametrize(
    ("priority", "hours"),
    [
        (CasePriority.URGENT, 1),
        (CasePriority.HIGH, 2),
        (CasePriority.NORMAL, 4),
        (CasePriority.LOW, 8),
    ],
)
def test_the_sla_is_the_queue_threshold_scaled_by_priority(
    priority: CasePriority, hours: int
) -> None:
    assert sla_due_at(NOW, 4 * 3600, priority) == NOW + timedelta(hours=hours)


def test_no_queue_or_a_zero_threshold_means_no_due_time() -> None:
    assert sla_due_at(NOW, None, CasePriority.URGENT) is None
    assert sla_due_at(NOW, 0, CasePriority.URGENT) is None


def test_a_case_is_breached_once_due_unless_done() -> None:
    due = NOW - timedelta(seconds=1)
    assert is_breached(due, CaseStatus.PENDING, NOW)
    assert not is_breached(due, CaseStatus.RESOLVED, NOW)
    assert not is_breached(NOW + timedelta(seconds=1), CaseStatus.OPEN, NOW)
    assert not is_breached(None, CaseStatus.OPEN, NOW)


def test_merging_follows_the_target_chain() -> None:
    merged_into: dict[int, int | None] = {1: None, 2: 3, 3: None}
    assert merge_target(1, 2, merged_into) == 3
    after = merged_state(merged_into, 1, 2)
    assert after == {1: 3, 2: 3, 3: None}


def test_a_merge_into_itself_or_back_is_refused() -> None:
    with pytest.raises(MergeRefused, match="itself"):
        merge_target(1, 1, {1: None})
    with pytest.raises(MergeRefused, match="loop"):
        merge_target(1, 2, {1: None, 2: 1})
    with pytest.raises(CaseMerged):
        merge_target(2, 1, {1: None, 2: 1})


@given(
    st.integers(min_value=2, max_value=8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
        )
    )
)
def test_no_sequence_of_merges_ever_makes_a_loop_or_a_long_chain(
    case: tuple[int, list[tuple[int, int]]],
) -> None:
    count, merges = case
    state: dict[int, int | None] = dict.fromkeys(range(count))
    for source, target in merges:
        try:
            after = merged_state(state, source, target)
        except (MergeRefused, CaseMerged):
            continue  # refused: the state is untouched
        assert after[source] is not None and after[source] != source
        state = after
        for case_id in state:
            root = merge_root(case_id, state)  # ends, without raising
            assert state[root] is None
            # Every merged case points straight at a case that is not merged.
            following = state[case_id]
            assert following is None or state[following] is None


def test_merge_root_detects_a_loop_in_stored_data() -> None:
    with pytest.raises(MergeRefused):
        merge_root(1, {1: 2, 2: 1})


def test_queue_members_meet_every_required_skill() -> None:
    requirements = {10: {1: 5}, 11: {1: 3, 2: 1}, 12: {}}
    assert member_queue_ids({1: 5}, requirements) == {10, 12}
    assert member_queue_ids({1: 3, 2: 7}, requirements) == {11, 12}
    assert member_queue_ids({}, requirements) == {12}


def test_agents_see_their_queues_and_their_own_cases_supervisors_all() -> None:
    agent = Viewer(7, Role.AGENT, frozenset({10}))
    assert may_see(agent, 10, None)
    assert may_see(agent, 11, 7)
    assert may_see(agent, None, 7)
    assert not may_see(agent, 11, 8)
    assert not may_see(agent, None, None)
    for role in (Role.SUPERVISOR, Role.ADMIN):
        assert may_see(Viewer(1, role), None, None)


def test_tags_are_trimmed_lower_case_and_unique() -> None:
    assert normalize_tags([" VIP ", "vip", "refund", "", "  "]) == ["vip", "refund"]
