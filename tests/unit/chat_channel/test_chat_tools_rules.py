"""The pure parts of the agent's chat tools: when a silent visitor's chat is closed
(domain.inactivity_deadline), the `rating` frame's checks, and the `banned` error frame."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.chat_channel import bans, domain, protocol
from parley.chat_channel.protocol import ErrorCode, FrameRejected, read_frame
from parley.platform.models import ChatBan

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
moments = st.none() | st.integers(min_value=0, max_value=10_000).map(
    lambda seconds: T0 + timedelta(seconds=seconds)
)


def test_the_deadline_counts_from_the_visitor_s_last_message() -> None:
    last = T0 + timedelta(minutes=3)
    assert domain.inactivity_deadline(last, T0, T0, 5) == last + timedelta(minutes=5)


def test_a_chat_taken_late_is_not_closed_the_moment_an_agent_answers() -> None:
    answered = T0 + timedelta(minutes=20)
    deadline = domain.inactivity_deadline(T0, answered, T0, 5)
    assert deadline == answered + timedelta(minutes=5)


def test_no_deadline_when_the_widget_closes_no_chats() -> None:
    assert domain.inactivity_deadline(T0, T0, T0, 0) is None


@given(moments, moments, st.integers(min_value=1, max_value=24 * 60))
def test_the_deadline_is_never_before_any_activity(
    last: datetime | None, answered: datetime | None, minutes: int
) -> None:
    created = T0 - timedelta(hours=1)  # the chat was queued before any of these
    deadline = domain.inactivity_deadline(last, answered, created, minutes)
    assert deadline is not None and deadline >= created + timedelta(minutes=minutes)
    for moment in (last, answered):
        if moment is not None:
            assert deadline >= moment + timedelta(minutes=minutes)
    # ...and it is exactly that long after one of them: no later than it must be.
    candidates = [m for m in (last, answered) if m is not None] or [created]
    assert deadline - timedelta(minutes=minutes) in candidates


def test_a_rating_frame_takes_one_to_five_and_a_bounded_comment() -> None:
    rated = read_frame(json.dumps({"type": "rating", "rating": 5, "comment": "Great"}))
    assert isinstance(rated, protocol.Rate) and (rated.rating, rated.comment) == (5, "Great")
    assert read_frame(json.dumps({"type": "rating", "rating": 1})) == protocol.Rate(
        type="rating", rating=1
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"rating": 0},
        {"rating": 6},
        {"rating": "5"},
        {"rating": 4.5},
        {"rating": True},
        {},
        {"rating": 3, "comment": "x" * 1001},
        {"rating": 3, "stars": 3},
    ],
)
def test_a_bad_rating_frame_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(FrameRejected) as caught:
        read_frame(json.dumps({"type": "rating", **fields}))
    assert caught.value.error_code is ErrorCode.BAD_FRAME


def test_a_banned_visitor_s_message_gets_a_banned_error_naming_it() -> None:
    ban = ChatBan(widget_id=1, visitor_key="v", until=T0 + timedelta(hours=1))
    frame = protocol.ErrorFrame.of(bans.refusal(ban, "c1"))
    assert (frame.code, frame.client_msg_id) == (ErrorCode.BANNED, "c1")
    assert "2026-12-04T11:00" in frame.message
