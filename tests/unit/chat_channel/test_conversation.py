"""A chat conversation's rules (domain.py, F-CH-4, ARCHITECTURE §8) by example, then the
guarantees over random interleavings: a widget that sends, resends, drops and resumes
from any seq ends up with every message exactly once and in order; seqs strictly
increase; read marks never go backwards; typing indicators expire."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from parley.chat_channel.domain import (
    DEFAULT_TYPING_TIMEOUT,
    Author,
    AuthorKind,
    CloseReason,
    Conversation,
    ConversationClosed,
    ConversationStatus,
    Message,
    Receipt,
    Side,
    UnknownSeq,
)

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ANNA = Author(AuthorKind.AGENT, "Anna")
SYSTEM = Author(AuthorKind.SYSTEM)
TIMEOUT = DEFAULT_TYPING_TIMEOUT.total_seconds()
TIMEOUT_MS = int(TIMEOUT * 1000)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Chat:
    """A conversation with message ids and times made up, so examples say only what matters."""

    def __init__(self, conversation: Conversation | None = None) -> None:
        self.conversation = conversation or Conversation("c1", visitor_name="Eve")
        self.serial = 0
        self.now = T0

    def _next_id(self) -> str:
        self.serial += 1
        return f"id{self.serial}"

    def visitor(self, client_msg_id: str, text: str = "hello") -> Receipt:
        return self.conversation.receive(
            client_msg_id, text, message_id=self._next_id(), now=self.now
        )

    def agent(self, text: str = "hi", author: Author = ANNA) -> Message:
        return self.conversation.post(author, text, message_id=self._next_id(), now=self.now)


# --- numbering and dedupe ----------------------------------------------------------------


def test_messages_are_numbered_from_one_whoever_writes_them() -> None:
    chat = Chat()
    first = chat.visitor("m-1", "Hello")
    greeting = chat.agent("Hi Eve")
    notice = chat.agent("Anna joined", author=SYSTEM)
    assert [first.seq, greeting.seq, notice.seq] == [1, 2, 3]
    assert chat.conversation.last_seq == 3
    assert [m.author.kind for m in chat.conversation.messages] == [
        AuthorKind.VISITOR,
        AuthorKind.AGENT,
        AuthorKind.SYSTEM,
    ]


def test_a_visitor_message_keeps_its_client_msg_id_and_the_visitors_name() -> None:
    receipt = Chat().visitor("m-1", "Hello")
    assert not receipt.is_duplicate
    assert (receipt.client_msg_id, receipt.seq) == ("m-1", 1)
    assert receipt.message.author == Author(AuthorKind.VISITOR, "Eve")
    assert receipt.message.sent_at == T0


def test_a_resend_gets_the_same_ack_and_adds_nothing() -> None:
    chat = Chat()
    first = chat.visitor("m-1", "Hello")
    chat.agent()
    again = chat.visitor("m-1", "Hello")
    assert again.is_duplicate
    assert again.message == first.message
    assert chat.conversation.last_seq == 2


def test_the_first_text_sent_under_an_id_wins() -> None:
    chat = Chat()
    chat.visitor("m-1", "Hello")
    assert chat.visitor("m-1", "Hello?").message.text == "Hello"


def test_agents_and_the_system_post_without_client_msg_ids() -> None:
    chat = Chat()
    assert chat.agent().client_msg_id is None
    with pytest.raises(ValueError, match="receive"):
        chat.agent(author=Author(AuthorKind.VISITOR, "Eve"))


# --- resume ------------------------------------------------------------------------------


def test_resume_gives_exactly_the_messages_after_the_seq_in_order() -> None:
    chat = Chat()
    chat.visitor("m-1")
    chat.agent()
    chat.visitor("m-2")
    everything = chat.conversation.messages
    assert chat.conversation.resume(0) == everything
    assert chat.conversation.resume(1) == everything[1:]
    assert chat.conversation.resume(3) == ()


def test_resume_beyond_the_last_message_is_not_found() -> None:
    chat = Chat()
    chat.visitor("m-1")
    with pytest.raises(UnknownSeq) as caught:
        chat.conversation.resume(2)
    assert (caught.value.code, caught.value.seq) == ("not_found", 2)


def test_a_conversation_is_restored_from_its_stored_messages() -> None:
    chat = Chat()
    chat.visitor("m-1")
    chat.agent()
    restored = Conversation(
        "c1", messages=chat.conversation.messages, visitor_read_up_to=2, agent_read_up_to=1
    )
    assert restored.last_seq == 2
    assert restored.read_up_to(Side.VISITOR) == 2
    assert restored.read_up_to(Side.AGENT) == 1
    assert Chat(restored).visitor("m-1").is_duplicate
    assert Chat(restored).agent().seq == 3


def test_restoring_refuses_gaps_and_repeated_client_msg_ids() -> None:
    chat = Chat()
    one, two = chat.visitor("m-1").message, chat.agent()
    with pytest.raises(ValueError, match="gaps"):
        Conversation("c1", messages=[two])
    with pytest.raises(ValueError, match="twice"):
        Conversation("c1", messages=[one, Message(2, "x", one.author, "again", T0, "m-1")])
    with pytest.raises(UnknownSeq):
        Conversation("c1", messages=[one], agent_read_up_to=2)


# --- read receipts -----------------------------------------------------------------------


def test_read_marks_move_forward_only() -> None:
    chat = Chat()
    for n in range(3):
        chat.agent(f"line {n}")
    conversation = chat.conversation
    assert conversation.mark_read(Side.VISITOR, 2)
    assert not conversation.mark_read(Side.VISITOR, 1)
    assert not conversation.mark_read(Side.VISITOR, 2)
    assert conversation.read_up_to(Side.VISITOR) == 2
    assert conversation.read_up_to(Side.AGENT) == 0
    assert conversation.mark_read(Side.VISITOR, 3)


def test_reading_beyond_the_last_message_is_not_found_and_changes_nothing() -> None:
    chat = Chat()
    chat.agent()
    with pytest.raises(UnknownSeq):
        chat.conversation.mark_read(Side.AGENT, 2)
    assert chat.conversation.read_up_to(Side.AGENT) == 0


# --- typing ------------------------------------------------------------------------------


def test_typing_shows_until_the_timeout_without_a_new_signal() -> None:
    conversation = Chat().conversation
    assert conversation.set_typing(Side.AGENT, True, at(0))
    assert not conversation.set_typing(Side.AGENT, True, at(4))  # extends, no change to show
    assert conversation.is_typing(Side.AGENT, at(4 + TIMEOUT - 0.001))
    assert conversation.typing_expires_at(Side.AGENT, at(5)) == at(4 + TIMEOUT)
    assert not conversation.is_typing(Side.AGENT, at(4 + TIMEOUT))
    assert conversation.typing_expires_at(Side.AGENT, at(4 + TIMEOUT)) is None
    assert not conversation.is_typing(Side.VISITOR, at(1))


def test_expiry_is_reported_once_for_the_side_that_stopped() -> None:
    conversation = Chat().conversation
    conversation.set_typing(Side.VISITOR, True, at(0))
    conversation.set_typing(Side.AGENT, True, at(3))
    assert conversation.expire_typing(at(TIMEOUT - 1)) == ()
    assert conversation.expire_typing(at(TIMEOUT)) == (Side.VISITOR,)
    assert conversation.expire_typing(at(TIMEOUT + 1)) == ()
    assert conversation.expire_typing(at(TIMEOUT + 3)) == (Side.AGENT,)


def test_a_message_or_a_false_hides_the_authors_indicator() -> None:
    chat = Chat()
    conversation = chat.conversation
    conversation.set_typing(Side.VISITOR, True, T0)
    conversation.set_typing(Side.AGENT, True, T0)
    chat.visitor("m-1")
    assert not conversation.is_typing(Side.VISITOR, T0)
    assert conversation.is_typing(Side.AGENT, T0)
    chat.agent()
    assert not conversation.is_typing(Side.AGENT, T0)
    conversation.set_typing(Side.AGENT, True, T0)
    assert conversation.set_typing(Side.AGENT, False, T0)
    assert not conversation.set_typing(Side.AGENT, False, T0)
    assert conversation.expire_typing(at(TIMEOUT)) == ()


# --- closing -----------------------------------------------------------------------------


def test_a_closed_conversation_still_acks_resends_but_takes_nothing_new() -> None:
    chat = Chat()
    chat.visitor("m-1")
    chat.conversation.set_typing(Side.AGENT, True, T0)
    assert chat.conversation.close(CloseReason.INACTIVITY, T0)
    assert not chat.conversation.close(CloseReason.ENDED, T0)
    assert chat.conversation.status is ConversationStatus.CLOSED
    assert chat.conversation.closed_reason is CloseReason.INACTIVITY
    assert not chat.conversation.is_typing(Side.AGENT, T0)
    assert chat.visitor("m-1").is_duplicate
    with pytest.raises(ConversationClosed):
        chat.visitor("m-2")
    assert not chat.conversation.set_typing(Side.VISITOR, True, T0)
    assert chat.conversation.last_seq == 1


# --- a widget against the conversation, over random interleavings ------------------------


@dataclass(frozen=True)
class AckFrame:
    client_msg_id: str
    seq: int


Frame = Message | AckFrame


class WidgetMachine(RuleBasedStateMachine):
    """One visitor's widget and the server's conversation, with a lossy connection.

    The widget is as simple as the protocol lets it be: it appends every `message` frame
    it gets (no dedupe of its own, so a duplicate from the server would show), keeps
    unacknowledged messages in an outbox, and on reconnecting says the last seq it has,
    possibly less than it had (a reload that lost part of its copy), then resends the
    outbox. Frames in flight when the connection drops are lost; so may be a frame on
    its way up.
    """

    def __init__(self) -> None:
        super().__init__()
        self.chat = Chat()
        self.connected = True
        self.downlink: list[Frame] = []  # server -> widget, in order, lost on disconnect
        self.transcript: list[Message] = []  # what the widget shows
        self.outbox: dict[str, str] = {}  # client_msg_id -> text, until acked
        self.written: dict[str, str] = {}  # every message the visitor wrote
        self.acked: dict[str, int] = {}  # client_msg_id -> the seq its ack said
        self.seqs_seen: list[int] = []  # every seq the server handed out, in order
        self.read_marks = {Side.VISITOR: 0, Side.AGENT: 0}

    @property
    def conversation(self) -> Conversation:
        return self.chat.conversation

    def _send_up(self, client_msg_id: str) -> None:
        receipt = self.chat.visitor(client_msg_id, self.written[client_msg_id])
        if not receipt.is_duplicate:
            self.seqs_seen.append(receipt.seq)
            self.downlink.append(receipt.message)  # the echo
        self.downlink.append(AckFrame(receipt.client_msg_id, receipt.seq))

    def _deliver(self, frame: Frame) -> None:
        match frame:
            case AckFrame(client_msg_id=client_msg_id, seq=seq):
                assert self.acked.setdefault(client_msg_id, seq) == seq
                self.outbox.pop(client_msg_id, None)
            case Message():
                self.transcript.append(frame)

    # --- what happens ------------------------------------------------------------------

    @rule(text=st.text(min_size=1, max_size=5), arrives=st.booleans())
    def visitor_writes(self, text: str, arrives: bool) -> None:
        client_msg_id = f"m-{len(self.written) + 1}"
        self.written[client_msg_id] = text
        self.outbox[client_msg_id] = text
        if self.connected and arrives:
            self._send_up(client_msg_id)

    @precondition(lambda self: self.connected and self.written)
    @rule(data=st.data())
    def visitor_resends(self, data: st.DataObject) -> None:
        """Any message again, acked or not (a widget that resends too eagerly)."""
        self._send_up(data.draw(st.sampled_from(sorted(self.written))))

    @rule(text=st.text(min_size=1, max_size=5), system=st.booleans())
    def agent_writes(self, text: str, system: bool) -> None:
        message = self.chat.agent(text, author=SYSTEM if system else ANNA)
        self.seqs_seen.append(message.seq)
        if self.connected:
            self.downlink.append(message)

    @precondition(lambda self: self.downlink)
    @rule(count=st.integers(1, 4))
    def frames_arrive(self, count: int) -> None:
        for _ in range(min(count, len(self.downlink))):
            self._deliver(self.downlink.pop(0))

    @precondition(lambda self: self.connected)
    @rule()
    def connection_drops(self) -> None:
        self.connected = False
        self.downlink.clear()

    @precondition(lambda self: not self.connected)
    @rule(data=st.data())
    def widget_reconnects(self, data: st.DataObject) -> None:
        kept = data.draw(st.integers(0, len(self.transcript)), label="resume")
        self._reconnect(kept)

    def _reconnect(self, kept: int) -> None:
        del self.transcript[kept:]
        resume = self.transcript[-1].seq if self.transcript else 0
        self.connected = True
        self.downlink = list(self.conversation.resume(resume))
        for client_msg_id in list(self.outbox):
            self._send_up(client_msg_id)

    @rule(side=st.sampled_from(list(Side)), data=st.data())
    def someone_reads(self, side: Side, data: st.DataObject) -> None:
        up_to = data.draw(st.integers(0, self.conversation.last_seq + 2), label="up_to")
        before = self.conversation.read_up_to(side)
        if up_to > self.conversation.last_seq:
            with pytest.raises(UnknownSeq):
                self.conversation.mark_read(side, up_to)
            assert self.conversation.read_up_to(side) == before
        else:
            assert self.conversation.mark_read(side, up_to) == (up_to > before)
            assert self.conversation.read_up_to(side) == max(before, up_to)

    # --- what always holds -------------------------------------------------------------

    @invariant()
    def the_widget_shows_a_prefix_of_the_conversation_without_gaps_or_repeats(self) -> None:
        assert [m.seq for m in self.transcript] == list(range(1, len(self.transcript) + 1))
        assert self.transcript == list(self.conversation.messages[: len(self.transcript)])

    @invariant()
    def server_seqs_strictly_increase_without_gaps(self) -> None:
        assert self.seqs_seen == list(range(1, len(self.seqs_seen) + 1))
        assert [m.seq for m in self.conversation.messages] == self.seqs_seen

    @invariant()
    def a_visitor_message_is_stored_at_most_once(self) -> None:
        ids = Counter(m.client_msg_id for m in self.conversation.messages if m.client_msg_id)
        assert all(count == 1 for count in ids.values())
        for client_msg_id, seq in self.acked.items():
            assert self.conversation.messages[seq - 1].client_msg_id == client_msg_id

    @invariant()
    def read_marks_never_go_backwards(self) -> None:
        for side, previous in self.read_marks.items():
            current = self.conversation.read_up_to(side)
            assert previous <= current <= self.conversation.last_seq
            self.read_marks[side] = current

    def teardown(self) -> None:
        """Once the connection holds long enough, the widget has everything, once."""
        self.connection_drops()
        self._reconnect(len(self.transcript))
        while self.downlink:
            self._deliver(self.downlink.pop(0))
        assert self.outbox == {}
        assert self.transcript == list(self.conversation.messages)
        shown = Counter(m.client_msg_id for m in self.transcript if m.client_msg_id)
        assert shown == Counter(list(self.written))
        assert {m.client_msg_id: m.text for m in self.transcript if m.client_msg_id} == self.written


WidgetMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_the_widget_ends_with_every_message_once_in_order = WidgetMachine.TestCase


# --- typing, against a model -------------------------------------------------------------

_typing_steps = st.lists(
    st.tuples(
        st.integers(0, 2 * TIMEOUT_MS),  # milliseconds since the previous step
        st.sampled_from(list(Side)),
        st.sampled_from(["typing", "stopped", "message", "look"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=_typing_steps)
def test_typing_shows_exactly_while_the_last_signal_is_fresh(
    steps: list[tuple[int, Side, str]],
) -> None:
    chat = Chat()
    conversation = chat.conversation
    last_true: dict[Side, int | None] = {Side.VISITOR: None, Side.AGENT: None}  # ms
    elapsed = 0
    for n, (pause, side, action) in enumerate(steps):
        elapsed += pause
        chat.now = now = T0 + timedelta(milliseconds=elapsed)

        def shown(side: Side, elapsed: int = elapsed) -> bool:
            started = last_true[side]
            return started is not None and elapsed - started < TIMEOUT_MS

        before = shown(side)
        if action == "typing":
            assert conversation.set_typing(side, True, now) == (not before)
            last_true[side] = elapsed
        elif action == "stopped":
            assert conversation.set_typing(side, False, now) == before
            last_true[side] = None
        elif action == "message" and side is Side.VISITOR:
            chat.visitor(f"m-{n}")
            last_true[side] = None
        elif action == "message":
            chat.agent()
            last_true[side] = None
        else:
            ran_out = {s for s in Side if last_true[s] is not None and not shown(s)}
            assert set(conversation.expire_typing(now)) == ran_out
            for s in ran_out:
                last_true[s] = None
        for each in Side:
            assert conversation.is_typing(each, now) == shown(each)
            started = last_true[each]
            expires = (
                T0 + timedelta(milliseconds=started + TIMEOUT_MS)
                if started is not None and shown(each)
                else None
            )
            assert conversation.typing_expires_at(each, now) == expires
