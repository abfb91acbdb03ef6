"""Whether to send the automatic "we got your message" reply (F-EM-3), decided without I/O.

Two auto-responders answering each other fill both mailboxes in minutes, and answering
a bounce or a newsletter annoys someone who never wrote to us. So we acknowledge only
mail a person sent to us directly, following RFC 3834 §2: never answer anything marked
as automatic (Auto-Submitted, X-Autoreply, Precedence bulk/junk/list, list headers),
bounces and other reports, the null sender `<>`, mailer-daemon/postmaster and no-reply
senders, or our own mailboxes (a loop); and at most `AckPolicy.max_per_sender`
acknowledgements per sender per `AckPolicy.window`, for the loops nothing else catches.

The rate limit's memory is a plain immutable value, `AckHistory`: the service passes
the current one in with the time (from its clock) and keeps the one returned, so the
rule is tested by moving time, and the state can live wherever the engine keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from parley.email_channel.parsing import AutoSignal, ParsedMessage

_NO_REPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?)(?:[-+_.].*)?$")
_SYSTEM = frozenset({"mailer-daemon", "postmaster"})


class AckReason(StrEnum):
    SEND = "send"
    AUTOMATED = "automated"  # auto-submitted, auto-reply, bulk, list, report
    BOUNCE = "bounce"
    NO_SENDER = "no_sender"  # no From/Reply-To address, or the null sender <>
    SYSTEM_SENDER = "system_sender"  # mailer-daemon, postmaster, no-reply
    OWN_MAILBOX = "own_mailbox"  # written by one of our own addresses: a loop
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class AckPolicy:
    max_per_sender: int = 3
    window: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AckHistory:
    """When acknowledgements were sent, per recipient address (lower-cased)."""

    sent: Mapping[str, tuple[datetime, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def recent(self, address: str, now: datetime, window: timedelta) -> tuple[datetime, ...]:
        return tuple(t for t in self.sent.get(address.lower(), ()) if now - t < window)

    def record(self, address: str, now: datetime, window: timedelta) -> AckHistory:
        """This history with one more ack to `address` and everything older than
        `window` forgotten, so it stays as small as the traffic of the last window."""
        kept = {
            key: recent
            for key in self.sent
            if (recent := self.recent(key, now, window)) and key != address.lower()
        }
        kept[address.lower()] = (*self.recent(address, now, window), now)
        return AckHistory(MappingProxyType(kept))


@dataclass(frozen=True, slots=True)
class AckDecision:
    should_send: bool
    reason: AckReason
    recipient: str | None  # where the acknowledgement goes, when sent
    history: AckHistory  # to keep for the next decision


def decide_acknowledgement(
    message: ParsedMessage,
    *,
    own_addresses: Iterable[str],
    history: AckHistory,
    now: datetime,
    policy: AckPolicy | None = None,
) -> AckDecision:
    """Whether to acknowledge `message`, to whom, and the history to keep.

    The history changes only when the answer is to send. `now` must be aware.
    """
    policy = policy or AckPolicy()
    own = {address.strip().lower() for address in own_addresses}

    def refuse(reason: AckReason) -> AckDecision:
        return AckDecision(False, reason, None, history)

    signals = message.auto_signals
    if AutoSignal.BOUNCE in signals:
        return refuse(AckReason.BOUNCE)
    if AutoSignal.NULL_SENDER in signals:
        return refuse(AckReason.NO_SENDER)
    if AutoSignal.SYSTEM_SENDER in signals:
        return refuse(AckReason.SYSTEM_SENDER)
    if signals:
        return refuse(AckReason.AUTOMATED)
    senders = [a.normalized for a in (message.from_, *message.reply_to) if a is not None]
    if message.return_path:
        senders.append(message.return_path.strip().lower())
    if any(sender in own for sender in senders):
        return refuse(AckReason.OWN_MAILBOX)
    recipient = message.reply_to[0] if message.reply_to else message.from_
    if recipient is None or "@" not in recipient.address:
        return refuse(AckReason.NO_SENDER)
    if any(_is_system_sender(sender) for sender in senders):
        return refuse(AckReason.SYSTEM_SENDER)
    address = recipient.normalized
    if len(history.recent(address, now, policy.window)) >= policy.max_per_sender:
        return refuse(AckReason.RATE_LIMITED)
    return AckDecision(
        True, AckReason.SEND, recipient.address, history.record(address, now, policy.window)
    )


def _is_system_sender(address: str) -> bool:
    local = address.rpartition("@")[0] or address
    return local in _SYSTEM or bool(_NO_REPLY.match(local))
