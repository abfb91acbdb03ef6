"""Which case an incoming email belongs to, and how our replies stay in the thread (F-EM-2).

A case is the customer's request; the emails about it are its thread. For an incoming
message, `thread_message` looks, in this order, for:

1. the message's own Message-ID: the very same message is already in a case (a copy
   delivered to two of our mailboxes, or fetched again after a crash). This comes before
   the rules of ARCHITECTURE §8 so that a duplicate never opens a second case;
2. In-Reply-To: the message it answers;
3. References, newest first: any earlier message of the conversation;
4. a case token in the subject, `[#1234]`, which survives clients that drop the
   headers (and any `Re:`/`AW:`/`Odp:`/`Отв:` prefixes in front of it);
5. otherwise: a new case.

It does no I/O: the service passes two lookups, "the case holding a message with this
Message-ID" and "the case with this number". Lookups decide what a merged or a closed
case means (answer the case the merge went into; reopen or answer None); the decision
only says which rule matched, so it can be logged and shown.

For outgoing replies, `reply_subject` puts the token in exactly once and
`reply_headers` builds In-Reply-To and References as RFC 5322 §3.6.4 describes.
Message-IDs are in header form with angle brackets, as parsing.py gives them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

CaseLookupByMessageId = Callable[[str], int | None]
CaseLookupByNumber = Callable[[int], int | None]

# References grow by one id per reply; past this many we keep the first (the thread's
# root) and the most recent ones, as mail clients do, so headers stay a sane size.
MAX_REFERENCES = 20
_MAX_ID_LENGTH = 250  # longer ids could not be folded under the 998-character line limit

CASE_TOKEN = re.compile(r"\[\s*#\s*(\d{1,18})\s*\]")
# Reply and forward prefixes in the languages our customers write in, with counters
# like "Re[2]:" or "RE (3):" and the French space before the colon.
_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|odp|rif|r|fw|fwd|wg|pd|tr|rv|enc|отв|ответ|пер|пересл)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]\s*",
    re.IGNORECASE,
)
_MSG_ID = re.compile(r"<[^<>\s]+>")
_SPACE = re.compile(r"\s+")


class Threadable(Protocol):
    """What threading reads of a message; `parsing.ParsedMessage` is one."""

    @property
    def message_id(self) -> str: ...
    @property
    def message_id_is_generated(self) -> bool: ...
    @property
    def in_reply_to(self) -> str | None: ...
    @property
    def references(self) -> tuple[str, ...]: ...
    @property
    def subject(self) -> str: ...


class ThreadReason(StrEnum):
    SAME_MESSAGE = "same_message"
    IN_REPLY_TO = "in_reply_to"
    REFERENCES = "references"
    SUBJECT_TOKEN = "subject_token"  # noqa: S105 (a case token, not a secret)
    NEW_CASE = "new_case"


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    """The case to add the message to (None: open a new one), and why."""

    case_id: int | None
    reason: ThreadReason
    matched: str | None = None  # the Message-ID or the subject token that matched

    @property
    def is_new_case(self) -> bool:
        return self.case_id is None


@dataclass(frozen=True, slots=True)
class ReplyHeaders:
    in_reply_to: str | None
    references: tuple[str, ...]

    def as_dict(self) -> dict[str, str]:
        """Header name to value, leaving out the empty ones."""
        headers: dict[str, str] = {}
        if self.in_reply_to:
            headers["In-Reply-To"] = self.in_reply_to
        if self.references:
            headers["References"] = " ".join(self.references)
        return headers


def thread_message(
    message: Threadable,
    *,
    case_for_message_id: CaseLookupByMessageId,
    case_for_number: CaseLookupByNumber,
) -> ThreadDecision:
    """Decide which case `message` belongs to (see the module docstring for the order)."""
    own_id = message.message_id
    case_id = case_for_message_id(own_id)
    if case_id is not None:
        return ThreadDecision(case_id, ThreadReason.SAME_MESSAGE, own_id)
    if message.in_reply_to and message.in_reply_to != own_id:
        case_id = case_for_message_id(message.in_reply_to)
        if case_id is not None:
            return ThreadDecision(case_id, ThreadReason.IN_REPLY_TO, message.in_reply_to)
    for reference in reversed(message.references):
        if reference in (own_id, message.in_reply_to):
            continue  # already asked
        case_id = case_for_message_id(reference)
        if case_id is not None:
            return ThreadDecision(case_id, ThreadReason.REFERENCES, reference)
    for number in case_numbers_in(message.subject):
        case_id = case_for_number(number)
        if case_id is not None:
            return ThreadDecision(case_id, ThreadReason.SUBJECT_TOKEN, case_token(number))
    return ThreadDecision(None, ThreadReason.NEW_CASE)


def case_token(number: int) -> str:
    return f"[#{number}]"


def case_numbers_in(subject: str) -> list[int]:
    """Case numbers of the tokens in `subject`, in order, each once."""
    return list(dict.fromkeys(int(number) for number in CASE_TOKEN.findall(subject)))


def strip_reply_prefixes(subject: str) -> str:
    """`Re: AW: Fwd: Hello` -> `Hello`: the subject as the first message had it."""
    subject = _SPACE.sub(" ", subject).strip()
    while True:
        stripped = _PREFIX.sub("", subject, count=1)
        if stripped == subject:
            return subject
        subject = stripped


def reply_subject(subject: str, case_number: int, *, prefix: str = "Re:") -> str:
    """The subject of our reply: one prefix, the original words, our token once.

    Any case tokens already there (ours, or quoted from another case) are removed first,
    so a long back-and-forth never reads `Re: Re: [#12] Re: [#12] ...`.
    """
    core = CASE_TOKEN.sub(" ", _SPACE.sub(" ", subject))
    core = strip_reply_prefixes(core)
    parts = [part for part in (prefix.strip(), core, case_token(case_number)) if part]
    return " ".join(parts)


def reply_headers(parent: Threadable, *, max_references: int = MAX_REFERENCES) -> ReplyHeaders:
    """In-Reply-To and References for a reply to `parent` (RFC 5322 §3.6.4).

    A Message-ID that parsing generated (the parent had none) is not the parent's real
    id, so it is left out, as the RFC says for a parent without one.
    """
    parent_id = None if parent.message_id_is_generated else _usable(parent.message_id)
    earlier = list(parent.references)
    if not earlier and parent.in_reply_to:
        earlier = [parent.in_reply_to]
    chain = [ref for ref in earlier if _usable(ref)]
    if parent_id:
        chain.append(parent_id)
    return ReplyHeaders(parent_id, cap_references(chain, max_references))


def cap_references(references: Sequence[str], limit: int = MAX_REFERENCES) -> tuple[str, ...]:
    """At most `limit` ids, each once where it last appears: the root first, then the most
    recent ones (so the parent's id, which comes last, is always kept)."""
    unique = list(dict.fromkeys(reversed(references)))[::-1]
    if limit <= 0:
        return ()
    if len(unique) <= limit:
        return tuple(unique)
    if limit == 1:
        return (unique[-1],)
    return (unique[0], *unique[len(unique) - (limit - 1) :])


def _usable(message_id: str) -> str | None:
    if len(message_id) <= _MAX_ID_LENGTH and _MSG_ID.fullmatch(message_id):
        return message_id
    return None
