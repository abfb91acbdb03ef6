"""Threading into cases (F-EM-2): In-Reply-To, then References newest first, then the
subject token, else a new case; and the subject and headers our replies carry."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.email_channel.parsing import parse_message
from parley.email_channel.threads import (
    MAX_REFERENCES,
    ReplyHeaders,
    ThreadDecision,
    ThreadReason,
    cap_references,
    case_numbers_in,
    reply_headers,
    reply_subject,
    strip_reply_prefixes,
    thread_message,
)


@dataclass(frozen=True)
class Mail:
    message_id: str = "<new@customer.example>"
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str = "Help"
    message_id_is_generated: bool = False


KNOWN_MESSAGES = {"<ack-7@parley.test>": 7, "<reply-7@parley.test>": 7, "<reply-9@parley.test>": 9}
KNOWN_CASES = {1234: 1234, 7: 7, 9: 9}


def thread(mail: Mail) -> ThreadDecision:
    return thread_message(
        mail, case_for_message_id=KNOWN_MESSAGES.get, case_for_number=KNOWN_CASES.get
    )


def test_in_reply_to_comes_first() -> None:
    decision = thread(
        Mail(
            in_reply_to="<reply-9@parley.test>",
            references=("<ack-7@parley.test>",),
            subject="Re: [#1234]",
        )
    )
    assert decision == ThreadDecision(9, ThreadReason.IN_REPLY_TO, "<reply-9@parley.test>")
    assert not decision.is_new_case


def test_references_are_searched_from_the_newest_back() -> None:
    decision = thread(
        Mail(
            in_reply_to="<unknown@customer.example>",
            references=("<ack-7@parley.test>", "<reply-9@parley.test>", "<other@x>"),
        )
    )
    assert decision == ThreadDecision(9, ThreadReason.REFERENCES, "<reply-9@parley.test>")


@pytest.mark.parametrize(
    "subject",
    [
        "[#1234] Help",
        "Re: Help [#1234]",
        "RE: RE: Help [#1234]",
        "Fwd: Help [# 1234 ]",
        "AW: Help [#1234]",
        "Odp: Help [#1234]",
        "Отв: Помогите [#1234]",
    ],
)
def test_a_case_token_in_the_subject_is_the_third_rule(subject: str) -> None:
    decision = thread(Mail(references=("<unknown@x>",), subject=subject))
    assert decision == ThreadDecision(1234, ThreadReason.SUBJECT_TOKEN, "[#1234]")


def test_an_unknown_token_or_nothing_known_opens_a_new_case() -> None:
    for subject in ("Help", "Re: Help [#555]", "Ticket #1234", "[1234]"):
        decision = thread(Mail(in_reply_to="<unknown@x>", subject=subject))
        assert decision == ThreadDecision(None, ThreadReason.NEW_CASE)
        assert decision.is_new_case


def test_the_first_known_token_wins() -> None:
    assert thread(Mail(subject="Re: [#555] [#9] [#7]")).case_id == 9


def test_a_message_we_already_have_stays_in_its_case() -> None:
    decision = thread(Mail(message_id="<reply-7@parley.test>", in_reply_to="<reply-9@parley.test>"))
    assert decision == ThreadDecision(7, ThreadReason.SAME_MESSAGE, "<reply-7@parley.test>")


def test_threading_a_parsed_message() -> None:
    raw = (
        b"Message-ID: <c2@customer.example>\r\nIn-Reply-To: <ack-7@parley.test>\r\n"
        b"Subject: Re: Help [#9]\r\n\r\nThanks\r\n"
    )
    assert thread_message(
        parse_message(raw), case_for_message_id=KNOWN_MESSAGES.get, case_for_number={}.get
    ) == ThreadDecision(7, ThreadReason.IN_REPLY_TO, "<ack-7@parley.test>")


message_ids = st.builds(
    "<{}@{}>".format,
    st.text(alphabet="abcdefxyz0123456789.$-", min_size=1, max_size=16),
    st.text(alphabet="abcdef0123456789.-", min_size=1, max_size=12),
)
OWN_ID = "<own@customer.example>"  # "u", "s", "t" are not in the alphabet above


@settings(max_examples=300, deadline=None)
@given(
    known=st.dictionaries(message_ids, st.integers(1, 10**9), min_size=1, max_size=8),
    unknown=st.lists(message_ids, max_size=10),
    data=st.data(),
)
def test_a_reply_to_any_known_message_id_in_references_threads_into_its_case(
    known: dict[str, int], unknown: list[str], data: st.DataObject
) -> None:
    strangers = [mid for mid in unknown if mid not in known]
    chosen = data.draw(st.sampled_from(sorted(known)))
    references = data.draw(st.permutations([*strangers, chosen]))
    decision = thread_message(
        Mail(message_id=OWN_ID, references=tuple(references), subject="Re: [#1]"),
        case_for_message_id=known.get,
        case_for_number=lambda _number: 999,
    )
    assert decision.reason is ThreadReason.REFERENCES
    assert decision.case_id == known[chosen]
    assert decision.matched == chosen


@settings(max_examples=150, deadline=None)
@given(
    parent_id=message_ids,
    earlier=st.lists(message_ids, max_size=40),
    case_id=st.integers(1, 10**6),
)
def test_our_reply_headers_bring_the_customers_answer_back_to_the_case(
    parent_id: str, earlier: list[str], case_id: int
) -> None:
    """Parent -> our reply (headers from reply_headers) -> customer's answer (built from our
    reply's headers as a mail client would) -> parse -> threads into the parent's case."""
    ours = reply_headers(Mail(message_id=parent_id, references=tuple(earlier)))
    assert ours.in_reply_to == parent_id
    assert len(ours.references) <= MAX_REFERENCES
    assert ours.references[-1] == parent_id
    our_id = "<our-reply@parley.test>"
    answer = reply_headers(Mail(message_id=our_id, references=ours.references))
    raw = b"".join(f"{name}: {value}\r\n".encode() for name, value in answer.as_dict().items())
    raw += b"Message-ID: <answer@customer.example>\r\nSubject: Re: Help\r\n\r\nok\r\n"
    decision = thread_message(
        parse_message(raw),
        case_for_message_id={parent_id: case_id, our_id: case_id}.get,
        case_for_number=lambda _number: None,
    )
    assert decision.case_id == case_id


def test_reply_headers_follow_rfc_5322() -> None:
    assert reply_headers(
        Mail(message_id="<p@x>", references=("<a@x>", "<b@x>"), in_reply_to="<b@x>")
    ) == ReplyHeaders("<p@x>", ("<a@x>", "<b@x>", "<p@x>"))
    # No References: the parent's In-Reply-To stands in for them.
    assert reply_headers(Mail(message_id="<p@x>", in_reply_to="<b@x>")).references == (
        "<b@x>",
        "<p@x>",
    )
    # A generated id is not the parent's: no In-Reply-To, and it is not referenced.
    generated = Mail(message_id="<abc@parley.invalid>", message_id_is_generated=True)
    assert reply_headers(generated) == ReplyHeaders(None, ())
    assert reply_headers(generated).as_dict() == {}
    assert ReplyHeaders("<p@x>", ("<a@x>", "<p@x>")).as_dict() == {
        "In-Reply-To": "<p@x>",
        "References": "<a@x> <p@x>",
    }


def test_references_keep_the_root_and_the_newest() -> None:
    ids = [f"<{n}@x>" for n in range(50)]
    capped = cap_references(ids)
    assert len(capped) == MAX_REFERENCES
    assert capped[0] == "<0@x>"
    assert capped[1:] == tuple(ids[-(MAX_REFERENCES - 1) :])
    assert cap_references(["<a@x>", "<b@x>", "<a@x>"]) == ("<b@x>", "<a@x>")
    assert cap_references(ids, 1) == ("<49@x>",)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Help", "Re: Help [#1234]"),
        ("Re: Help", "Re: Help [#1234]"),
        ("RE: Re: AW: Help [#1234]", "Re: Help [#1234]"),
        ("[#1234] Re: Help", "Re: Help [#1234]"),
        ("Re: Help [#1234] [#1234]", "Re: Help [#1234]"),
        ("Odp: Reklamacja [#999]", "Re: Reklamacja [#1234]"),
        ("Отв: Заказ", "Re: Заказ [#1234]"),
        ("Re[2]: Fwd: Help", "Re: Help [#1234]"),
        ("", "Re: [#1234]"),
        ("Help\r\nBcc: victim@example.com", "Re: Help Bcc: victim@example.com [#1234]"),
    ],
)
def test_reply_subject_has_one_prefix_and_the_token_once(subject: str, expected: str) -> None:
    assert reply_subject(subject, 1234) == expected


@settings(max_examples=300, deadline=None)
@given(subject=st.text(max_size=80), number=st.integers(1, 10**9))
def test_reply_subject_is_stable_and_carries_one_token(subject: str, number: int) -> None:
    once = reply_subject(subject, number)
    assert case_numbers_in(once) == [number]
    assert once.count(f"[#{number}]") == 1
    assert reply_subject(once, number) == once
    assert "\n" not in once and "\r" not in once


def test_strip_reply_prefixes() -> None:
    assert strip_reply_prefixes("Re: AW: Fwd: RE (3): Odp: Отв: SV: Hello") == "Hello"
    assert strip_reply_prefixes("Regarding: the invoice") == "Regarding: the invoice"
