"""The rules of a web chat conversation, with no I/O: numbering, dedupe, resume, read
receipts, typing, and how fast a visitor may send.

A `Conversation` is the log of one chat as the visitor's widget sees it. Every message,
whoever wrote it, gets the next server sequence number (`seq`, from 1, no gaps), so a
widget that knows the last seq it has can ask for exactly what it missed (`resume`). A
visitor's message carries the widget's `client_msg_id`: the widget resends it until it
sees the ack, and a resend gets the same ack back instead of a second copy (F-CH-4,
ARCHITECTURE §8: acknowledged, resent after reconnect, never duplicated).

The service loads a conversation (the constructor takes the stored messages and read
marks back; for a new message only its tail is needed: `after_seq` says how many came
before the messages given, so appending costs no reload of the whole log), calls one
method per frame or agent action with the time from its clock, stores what the result
says is new and publishes it. Typing is not stored: it lives for
seconds, so a restart simply forgets it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from parley.platform.errors import Conflict, NotFound
from parley.platform.web.ratelimit import TokenBucket

DEFAULT_TYPING_TIMEOUT = timedelta(seconds=6)


class AuthorKind(StrEnum):
    VISITOR = "visitor"
    AGENT = "agent"
    SYSTEM = "system"


class Side(StrEnum):
    """The two ends of a chat; all agents in it (a conference) count as one side."""

    VISITOR = "visitor"
    AGENT = "agent"


class ConversationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CloseReason(StrEnum):
    ENDED = "ended"  # an agent ended the chat
    INACTIVITY = "inactivity"
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class Author:
    kind: AuthorKind
    name: str | None = None


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file a message carries (F-CH-6): its text is the file's name."""

    file_id: str
    name: str
    size: int
    content_type: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True, slots=True)
class Message:
    """One message of the conversation. `client_msg_id` is set on the visitor's own."""

    seq: int
    message_id: str
    author: Author
    text: str
    sent_at: datetime
    client_msg_id: str | None = None
    file: FileRef | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to a visitor's message: the ack to send, and whether it is new.

    A duplicate (a resend of a message already stored) changes nothing: the caller sends
    the ack again and stores, publishes and echoes nothing.
    """

    message: Message
    is_duplicate: bool

    @property
    def client_msg_id(self) -> str:
        assert self.message.client_msg_id is not None
        return self.message.client_msg_id

    @property
    def seq(self) -> int:
        return self.message.seq


class UnknownSeq(NotFound):
    """A seq after the last message: a widget resuming or reading what does not exist
    (a stale local copy of another conversation, or a bug). The widget starts over with
    `resume: 0`."""

    def __init__(self, seq: int) -> None:
        super().__init__("Message", seq)
        self.seq = seq


class ConversationClosed(Conflict):
    """A new visitor message for a closed conversation. The service opens a new
    conversation instead; this never reaches the wire."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__("conversation_closed", f"Conversation {conversation_id} is closed.")


class _Typing:
    """One side's typing indicator: shown from a `typing: true` until `typing: false`,
    a message from that side, or `timeout` without a new typing signal."""

    __slots__ = ("_timeout", "_until")

    def __init__(self, timeout: timedelta) -> None:
        self._timeout = timeout
        self._until: datetime | None = None

    def is_shown(self, now: datetime) -> bool:
        return self._until is not None and now < self._until

    def expires_at(self, now: datetime) -> datetime | None:
        return self._until if self.is_shown(now) else None

    def mark(self, is_typing: bool, now: datetime) -> bool:
        was_shown = self.is_shown(now)
        self._until = now + self._timeout if is_typing else None
        return was_shown != is_typing

    def clear(self, now: datetime) -> bool:
        return self.mark(False, now)

    def has_run_out(self, now: datetime) -> bool:
        """Shown until now and not any more: nobody has been told yet."""
        return self._until is not None and not self.is_shown(now)


class Conversation:
    """One chat's messages and marks, numbered by the server.

    Invariants: `messages[i].seq == after_seq + i + 1`; a `client_msg_id` appears on at
    most one message; read marks only move forward and never past the last seq.

    A conversation built with `after_seq` holds only the messages after it (the service
    checks resends of the earlier ones in the database): it can take and post new
    messages, but resume and dedupe only within what it holds.
    """

    def __init__(
        self,
        conversation_id: str,
        *,
        visitor_name: str | None = None,
        messages: Iterable[Message] = (),
        after_seq: int = 0,
        visitor_read_up_to: int = 0,
        agent_read_up_to: int = 0,
        closed_reason: CloseReason | None = None,
        typing_timeout: timedelta = DEFAULT_TYPING_TIMEOUT,
    ) -> None:
        self.conversation_id = conversation_id
        self.visitor_name = visitor_name
        if after_seq < 0:
            raise ValueError(f"after_seq {after_seq} is negative")
        self._after_seq = after_seq
        self._messages: list[Message] = []
        self._by_client_msg_id: dict[str, Message] = {}
        for message in messages:
            self._append(message)
        self._read_up_to = {Side.VISITOR: 0, Side.AGENT: 0}
        for side, up_to in ((Side.VISITOR, visitor_read_up_to), (Side.AGENT, agent_read_up_to)):
            self.mark_read(side, up_to)
        self._closed_reason = closed_reason
        self._typing = {side: _Typing(typing_timeout) for side in Side}

    # --- reading ---------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the newest message, 0 when there is none."""
        return self._after_seq + len(self._messages)

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    @property
    def closed_reason(self) -> CloseReason | None:
        return self._closed_reason

    @property
    def status(self) -> ConversationStatus:
        return ConversationStatus.OPEN if self.closed_reason is None else ConversationStatus.CLOSED

    def resume(self, last_seq: int) -> tuple[Message, ...]:
        """The messages a widget that has everything up to `last_seq` is missing, in order."""
        self._check_seq(last_seq)
        if last_seq < self._after_seq:
            raise ValueError(f"seq {last_seq} is before the loaded tail ({self._after_seq})")
        return tuple(self._messages[last_seq - self._after_seq :])

    def read_up_to(self, side: Side) -> int:
        return self._read_up_to[side]

    def is_typing(self, side: Side, now: datetime) -> bool:
        return self._typing[side].is_shown(now)

    def typing_expires_at(self, side: Side, now: datetime) -> datetime | None:
        """When `side`'s indicator will disappear by itself: the service arms a timer for
        it and then calls `expire_typing`. None when it is not shown."""
        return self._typing[side].expires_at(now)

    # --- changing --------------------------------------------------------------------

    def receive(
        self,
        client_msg_id: str,
        text: str,
        *,
        message_id: str,
        now: datetime,
        file: FileRef | None = None,
    ) -> Receipt:
        """Take a message from the visitor, or recognise a resend of one already taken.

        The first text sent under a `client_msg_id` wins: a resend is matched by its id
        alone. `message_id` names the message if it is new (it is unused otherwise).
        """
        known = self._by_client_msg_id.get(client_msg_id)
        if known is not None:
            return Receipt(known, is_duplicate=True)
        if self.closed_reason is not None:
            raise ConversationClosed(self.conversation_id)
        message = Message(
            self.last_seq + 1,
            message_id,
            Author(AuthorKind.VISITOR, self.visitor_name),
            text,
            now,
            client_msg_id,
            file,
        )
        self._append(message)
        self._typing[Side.VISITOR].clear(now)
        return Receipt(message, is_duplicate=False)

    def post(
        self,
        author: Author,
        text: str,
        *,
        message_id: str,
        now: datetime,
        file: FileRef | None = None,
    ) -> Message:
        """Add an agent's or the system's message (greeting, holding message, notices)."""
        if author.kind is AuthorKind.VISITOR:
            raise ValueError("visitor messages come through receive(), with a client_msg_id")
        message = Message(self.last_seq + 1, message_id, author, text, now, file=file)
        self._append(message)
        if author.kind is AuthorKind.AGENT:
            self._typing[Side.AGENT].clear(now)
        return message

    def mark_read(self, side: Side, up_to: int) -> bool:
        """`side` has read everything up to `up_to`; True when the mark moved.

        An older mark than the current one is not an error (two tabs, frames crossing):
        it changes nothing, so marks never go backwards.
        """
        self._check_seq(up_to)
        if up_to <= self._read_up_to[side]:
            return False
        self._read_up_to[side] = up_to
        return True

    def set_typing(self, side: Side, is_typing: bool, now: datetime) -> bool:
        """A typing signal from `side`; True when the indicator appeared or disappeared
        (a repeated `true` only extends it, and the other side need not hear of it).
        Nobody types in a closed conversation: signals then change nothing."""
        if self.closed_reason is not None:
            return False
        return self._typing[side].mark(is_typing, now)

    def expire_typing(self, now: datetime) -> tuple[Side, ...]:
        """The sides whose indicator ran out by `now` (tell the other side: not typing)."""
        expired = tuple(side for side, typing in self._typing.items() if typing.has_run_out(now))
        for side in expired:
            self._typing[side].clear(now)
        return expired

    def close(self, reason: CloseReason, now: datetime) -> bool:
        """End the conversation; True if it was open. Resends of messages already taken
        are still acknowledged after this; new visitor messages are refused."""
        if self._closed_reason is not None:
            return False
        self._closed_reason = reason
        for typing in self._typing.values():
            typing.clear(now)
        return True

    def _append(self, message: Message) -> None:
        if message.seq != self.last_seq + 1:
            raise ValueError(f"message seq {message.seq} after {self.last_seq}: seqs have gaps")
        if message.client_msg_id is not None:
            if message.client_msg_id in self._by_client_msg_id:
                raise ValueError(f"client_msg_id {message.client_msg_id} appears twice")
            self._by_client_msg_id[message.client_msg_id] = message
        self._messages.append(message)

    def _check_seq(self, seq: int) -> None:
        if seq < 0:
            raise ValueError(f"seq {seq} is negative")
        if seq > self.last_seq:
            raise UnknownSeq(seq)


# --- inactivity (F-CH-6) ---------------------------------------------------------------


def inactivity_deadline(
    last_visitor_message_at: datetime | None,
    answered_at: datetime | None,
    created_at: datetime,
    minutes: int,
) -> datetime | None:
    """When a chat whose visitor stays silent is closed: `minutes` after the later of
    their last message and the agent's answer (so a chat that waited long in the queue
    is not closed the moment an agent takes it). None when the widget closes none."""
    if minutes <= 0:
        return None
    moments = [m for m in (last_visitor_message_at, answered_at) if m is not None]
    return max(moments, default=created_at) + timedelta(minutes=minutes)


# --- rate limits ------------------------------------------------------------------------


class RateLimited(StrEnum):
    """Which limit refused a frame."""

    VISITOR = "visitor"
    IP = "ip"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket's shape: `per_second` on average, bursts of `burst`."""

    per_second: float
    burst: float

    @property
    def refill_seconds(self) -> float:
        """How long an untouched bucket takes to be full again (as good as new)."""
        return self.burst / self.per_second


# A person types far slower; the bursts leave room for a reconnect resending its outbox.
VISITOR_LIMIT = RateLimit(per_second=5.0, burst=20.0)
# Several visitors may share an address (an office behind NAT).
IP_LIMIT = RateLimit(per_second=20.0, burst=60.0)


class _Buckets:
    """Token buckets by key, fed the caller's time, forgetting keys idle long enough for
    their bucket to be full again (so memory follows the active visitors, not all)."""

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._buckets: dict[str, TokenBucket] = {}
        self._last_used: dict[str, float] = {}
        self._swept_at = 0.0
        self._now = 0.0

    def _clock(self) -> float:
        return self._now

    def take(self, key: str, now: float) -> bool:
        # TokenBucket reads its time from a callable; hand it the time we were given, and
        # never let it run backwards (a wall clock may), which would drain the bucket.
        self._now = max(self._now, now)
        self._sweep()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(
                self._limit.per_second, self._limit.burst, monotonic=self._clock
            )
        self._last_used[key] = self._now
        return bucket.take()

    def _sweep(self) -> None:
        if self._now - self._swept_at < self._limit.refill_seconds:
            return
        self._swept_at = self._now
        idle = [
            key
            for key, used in self._last_used.items()
            if self._now - used >= self._limit.refill_seconds
        ]
        for key in idle:
            del self._buckets[key], self._last_used[key]

    def __len__(self) -> int:
        return len(self._buckets)


class VisitorRateLimiter:
    """Decides whether a visitor's frame may pass, by visitor and by IP address.

    The visitor's own bucket is asked first: a visitor over their limit is refused without
    spending the shared IP budget of the others behind the same address.
    """

    def __init__(self, visitor: RateLimit = VISITOR_LIMIT, ip: RateLimit = IP_LIMIT) -> None:
        self._visitors = _Buckets(visitor)
        self._ips = _Buckets(ip)

    def check(self, visitor_id: str, ip: str, now: datetime) -> RateLimited | None:
        """None when the frame may pass, else the limit that refused it."""
        seconds = now.timestamp()
        if not self._visitors.take(visitor_id, seconds):
            return RateLimited.VISITOR
        if not self._ips.take(ip, seconds):
            return RateLimited.IP
        return None

    @property
    def tracked(self) -> tuple[int, int]:
        """How many visitors and addresses have a bucket now (for tests and metrics)."""
        return len(self._visitors), len(self._ips)
