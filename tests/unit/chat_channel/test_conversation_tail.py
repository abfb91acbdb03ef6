"""A conversation built from its tail (domain.py's `after_seq`): the service numbers a
new message from where the stored ones end, without loading them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.chat_channel.domain import (
    Author,
    AuthorKind,
    CloseReason,
    Conversation,
    ConversationClosed,
    Message,
    Side,
    UnknownSeq,
)

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
ANNA = Author(AuthorKind.AGENT, "Anna")


def test_a_tail_numbers_new_messages_after_the_stored_ones() -> None:
    tail = Conversation("c1", after_seq=7, visitor_read_up_to=5, agent_read_up_to=7)
    assert tail.last_seq == 7
    assert tail.read_up_to(Side.VISITOR) == 5
    receipt = tail.receive("m-8", "hello", message_id="id8", now=T0)
    assert (receipt.seq, receipt.is_duplicate) == (8, False)
    assert tail.post(ANNA, "hi", message_id="id9", now=T0).seq == 9
    assert [message.seq for message in tail.messages] == [8, 9]
    assert tail.resume(8) == (tail.messages[1],)


def test_a_tail_moves_read_marks_up_to_its_last_seq_only() -> None:
    tail = Conversation("c1", after_seq=3)
    assert tail.mark_read(Side.AGENT, 3)
    assert not tail.mark_read(Side.AGENT, 2)
    with pytest.raises(UnknownSeq):
        tail.mark_read(Side.VISITOR, 4)


def test_a_tail_takes_messages_that_continue_it_and_refuses_gaps() -> None:
    after = Message(3, "id3", ANNA, "hi", T0)
    assert Conversation("c1", messages=[after], after_seq=2).last_seq == 3
    with pytest.raises(ValueError, match="gaps"):
        Conversation("c1", messages=[after], after_seq=4)
    with pytest.raises(ValueError, match="negative"):
        Conversation("c1", after_seq=-1)


def test_a_tail_cannot_resume_from_before_it() -> None:
    tail = Conversation("c1", after_seq=4)
    assert tail.resume(4) == ()
    with pytest.raises(ValueError, match="before the loaded tail"):
        tail.resume(2)


def test_a_closed_tail_refuses_new_visitor_messages() -> None:
    tail = Conversation("c1", after_seq=2, closed_reason=CloseReason.ENDED)
    with pytest.raises(ConversationClosed):
        tail.receive("m-3", "anyone?", message_id="id3", now=T0)
