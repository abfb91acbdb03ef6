"""Outgoing mail composed without I/O: what build_message writes is what our own parser
reads back, Bcc stays off the headers, and templates render only what they are given."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.email_channel.compose import (
    InvalidAddress,
    OutgoingAttachment,
    OutgoingEmail,
    build_message,
    header_text,
    html_to_text,
    new_message_id,
    normalize_address,
)
from parley.email_channel.parsing import AutoSignal, parse_message
from parley.email_channel.templates import (
    TemplateFailed,
    check_template,
    render_template,
    template_variables,
)


def outgoing(**changes: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "message_id": "<reply-1@parley.test>",
        "from_address": "support@parley.test",
        "from_name": "Служба поддержки",
        "to": ("ivan@example.org",),
        "subject": "Re: Заказ №42 [#7]",
        "text": "Здравствуйте!\nВаш заказ в пути.",  # noqa: RUF001
        "date": datetime(2026, 12, 4, 10, 0, tzinfo=UTC),
        "in_reply_to": "<c-1@example.org>",
        "references": ("<c-0@example.org>", "<c-1@example.org>"),
    }
    values.update(changes)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def test_what_we_send_is_what_our_parser_reads() -> None:
    raw = build_message(
        outgoing(
            html="<p>Заказ <b>в пути</b><img src='cid:logo'></p>",
            cc=("anna@example.org",),
            bcc=("audit@parley.test",),
            attachments=(
                OutgoingAttachment("счёт.pdf", "application/pdf", b"%PDF-1.4"),
                OutgoingAttachment("logo.png", "image/png", b"PNG", "logo", is_inline=True),
            ),
        )
    ).as_bytes()
    parsed = parse_message(raw)
    assert parsed.problems == ()
    assert parsed.message_id == "<reply-1@parley.test>"
    assert parsed.in_reply_to == "<c-1@example.org>"
    assert parsed.references == ("<c-0@example.org>", "<c-1@example.org>")
    assert parsed.subject == "Re: Заказ №42 [#7]"
    assert parsed.from_ is not None and parsed.from_.name == "Служба поддержки"
    assert [a.address for a in parsed.cc] == ["anna@example.org"]
    assert b"audit@parley.test" not in raw  # Bcc is for the envelope only
    assert parsed.text_body is not None and "заказ в пути." in parsed.text_body
    assert parsed.html_body is not None and "<b>в пути</b>" in parsed.html_body
    assert {(a.filename, a.is_inline) for a in parsed.attachments} == {
        ("счёт.pdf", False),
        ("logo.png", True),
    }
    assert parsed.attachment_for_content_id("logo") is not None


def test_automatic_mail_is_marked_so_responders_leave_it_alone() -> None:
    parsed = parse_message(build_message(outgoing(is_automatic=True)).as_bytes())
    assert AutoSignal.AUTO_SUBMITTED in parsed.auto_signals


def test_recipients_are_the_envelope_each_once() -> None:
    email = outgoing(to=("Ivan@Example.org",), cc=("ivan@example.org",), bcc=("a@b.example",))
    assert email.recipients == ("ivan@example.org", "a@b.example")


def test_message_ids_are_fresh_and_on_the_mailbox_domain() -> None:
    first, second = new_message_id("support@Parley.test"), new_message_id("support@parley.test")
    assert first != second
    assert first.startswith("<") and first.endswith("@parley.test>")


@pytest.mark.parametrize("bad", ["nobody", "a@", "@b", "a@b\r\nBcc: x@y", "a b@c"])
def test_addresses_that_cannot_be_headers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        normalize_address(bad)


def test_html_only_bodies_get_a_text_alternative() -> None:
    assert html_to_text("<p>One &amp; two</p><p>Three<br>four</p>") == "One & two\nThree\nfour\n"


@given(st.text(max_size=200), st.text(max_size=200))
def test_any_subject_and_text_compose_and_parse_back(subject: str, text: str) -> None:
    raw = build_message(outgoing(subject=subject, text=text)).as_bytes()
    parsed = parse_message(raw)
    assert parsed.message_id == "<reply-1@parley.test>"
    assert parsed.subject == header_text(subject)  # no line break ever makes a header


def test_templates_render_the_variables_and_escape_html() -> None:
    variables = template_variables(case_number=12, contact_name="Ivan <3", agent_name="Anna")
    rendered = render_template(
        "About {{ case.token }}",
        "Hi {{ contact.name }}, {{ agent.name }} here. {{ missing.value }}",
        "<p>Hi {{ contact.name }}</p>",
        variables,
    )
    assert rendered.subject == "About [#12]"
    assert rendered.text == "Hi Ivan <3, Anna here. "
    assert rendered.html == "<p>Hi Ivan &lt;3</p>"


def test_templates_cannot_reach_python_internals() -> None:
    with pytest.raises(TemplateFailed, match="unsafe"):
        render_template("", "{{ case.__class__.__mro__ }}", "", template_variables(case_number=1))
    with pytest.raises(TemplateFailed, match="subject"):
        check_template("{% if %}", "", "")
