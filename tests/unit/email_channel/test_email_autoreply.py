"""Auto-acknowledgement (F-EM-3): people get one, machines, lists, bounces, our own
mailboxes and over-eager senders do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.email_channel.autoreply import (
    AckDecision,
    AckHistory,
    AckPolicy,
    AckReason,
    decide_acknowledgement,
)
from parley.email_channel.parsing import ParsedMessage, parse_message

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OURS = ("support@parley.test", "Sales@Parley.test")


def message(*headers: bytes) -> ParsedMessage:
    lines = [b"Message-ID: <m@example.com>", b"Subject: Help", *headers, b"", b"Hello"]
    return parse_message(b"\r\n".join(lines))


def decide(
    parsed: ParsedMessage,
    history: AckHistory | None = None,
    now: datetime = T0,
    policy: AckPolicy | None = None,
) -> AckDecision:
    return decide_acknowledgement(
        parsed, own_addresses=OURS, history=history or AckHistory(), now=now, policy=policy
    )


def test_a_person_gets_an_acknowledgement_at_their_reply_to() -> None:
    decision = decide(
        message(b"From: Anna <anna@example.com>", b"Reply-To: <Anna.Office@example.com>")
    )
    assert decision.should_send and decision.reason is AckReason.SEND
    assert decision.recipient == "Anna.Office@example.com"
    assert decision.history.recent("anna.office@example.com", T0, timedelta(hours=1)) == (T0,)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ((b"From: anna@example.com", b"Auto-Submitted: auto-replied"), AckReason.AUTOMATED),
        ((b"From: anna@example.com", b"X-Autoreply: yes"), AckReason.AUTOMATED),
        ((b"From: anna@example.com", b"X-Autorespond: vacation"), AckReason.AUTOMATED),
        ((b"From: news@example.com", b"Precedence: bulk"), AckReason.AUTOMATED),
        ((b"From: news@example.com", b"Precedence: junk"), AckReason.AUTOMATED),
        ((b"From: list@example.com", b"Precedence: list"), AckReason.AUTOMATED),
        ((b"From: list@example.com", b"List-Id: <l.example.com>"), AckReason.AUTOMATED),
        ((b"From: anna@example.com", b"X-Auto-Response-Suppress: OOF"), AckReason.AUTOMATED),
        ((b"From: anna@example.com", b"Return-Path: <>"), AckReason.NO_SENDER),
        ((b"From: MAILER-DAEMON@mx.example.com",), AckReason.SYSTEM_SENDER),
        ((b"From: postmaster@example.com",), AckReason.SYSTEM_SENDER),
        ((b"From: no-reply@shop.example",), AckReason.SYSTEM_SENDER),
        ((b"From: DoNotReply@shop.example",), AckReason.SYSTEM_SENDER),
        ((b"From: Support <SUPPORT@parley.test>",), AckReason.OWN_MAILBOX),
        ((b"From: anna@example.com", b"Reply-To: sales@parley.test"), AckReason.OWN_MAILBOX),
        ((b"From: anna@example.com", b"Return-Path: <support@parley.test>"), AckReason.OWN_MAILBOX),
        ((b"Subject: no sender at all",), AckReason.NO_SENDER),
    ],
)  # fmt: skip
def test_no_acknowledgement_for_machines_loops_and_nobody(
    headers: tuple[bytes, ...], reason: AckReason
) -> None:
    history = AckHistory()
    decision = decide(message(*headers), history)
    assert not decision.should_send
    assert decision.reason is reason
    assert decision.recipient is None
    assert decision.history is history


def test_no_acknowledgement_for_a_bounce() -> None:
    raw = (
        b"From: Mail Delivery System <mailer-daemon@mx.example.net>\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
        b"--r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--r\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y\r\n"
        b"Action: failed\r\n\r\n--r--\r\n"
    )
    assert decide(parse_message(raw)).reason is AckReason.BOUNCE


def test_at_most_n_acknowledgements_per_sender_per_window() -> None:
    policy = AckPolicy(max_per_sender=2, window=timedelta(hours=1))
    anna = message(b"From: anna@example.com")
    bob = message(b"From: bob@example.com")
    history = AckHistory()
    answers = []
    for minutes in (0, 10, 20, 59):
        decision = decide(anna, history, T0 + timedelta(minutes=minutes), policy)
        answers.append(decision.reason)
        history = decision.history
    assert answers == [
        AckReason.SEND,
        AckReason.SEND,
        AckReason.RATE_LIMITED,
        AckReason.RATE_LIMITED,
    ]
    # Another sender is not affected, and an hour after the first ack there is room again.
    assert decide(bob, history, T0 + timedelta(minutes=30), policy).should_send
    later = decide(anna, history, T0 + timedelta(minutes=60), policy)
    assert later.should_send
    # What fell out of the window is forgotten when the history is next written.
    assert dict(later.history.sent) == {
        "anna@example.com": (T0 + timedelta(minutes=10), T0 + timedelta(minutes=60))
    }


def test_the_rate_limit_is_per_address_whatever_its_case() -> None:
    policy = AckPolicy(max_per_sender=1)
    first = decide(message(b"From: Anna@Example.com"), policy=policy)
    second = decide(message(b"From: anna@example.COM"), first.history, T0, policy)
    assert second.reason is AckReason.RATE_LIMITED


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 7200), max_size=30),
    limit=st.integers(1, 5),
)
def test_never_more_than_the_limit_in_any_window(gaps: list[int], limit: int) -> None:
    policy = AckPolicy(max_per_sender=limit, window=timedelta(hours=1))
    anna = message(b"From: anna@example.com")
    history, now, sent = AckHistory(), T0, []
    for gap in gaps:
        now += timedelta(seconds=gap)
        decision = decide(anna, history, now, policy)
        history = decision.history
        if decision.should_send:
            sent.append(now)
    for moment in sent:
        in_window = [t for t in sent if moment <= t < moment + policy.window]
        assert len(in_window) <= limit
