"""MIME parsing (F-EM-1, F-EM-5): hand-made messages, one per thing mail does to us."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from parley.email_channel.parsing import (
    GENERATED_ID_DOMAIN,
    Address,
    AutoSignal,
    ParsedMessage,
    parse_message,
)

CRLF = b"\r\n"


def mail(*lines: bytes) -> bytes:
    return CRLF.join(lines)


def test_a_plain_utf8_message_gives_every_field() -> None:
    raw = mail(
        b"Return-Path: <anna@example.com>",
        b"Message-ID: <m3@example.com>",
        b"In-Reply-To: <m2@parley.test>",
        b"References: <m1@example.com>",
        b"    <m2@parley.test>",
        b"From: =?utf-8?B?xYF1a2FzeiDFu8OzxYLEhw==?= <Lukasz@Example.com>",
        b'To: "Support" <support@parley.test>, sales@parley.test',
        b"Cc: boss@example.com",
        b"Reply-To: Anna <anna@example.com>",
        b"Subject: =?utf-8?Q?Zam=C3=B3wienie?= 42",
        b"Date: Mon, 05 Jan 2026 09:30:00 +0100",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        "Dzień dobry, gdzie jest moja paczka?".encode(),
    )
    message = parse_message(raw)
    assert isinstance(message, ParsedMessage)
    assert message.message_id == "<m3@example.com>"
    assert not message.message_id_is_generated
    assert message.in_reply_to == "<m2@parley.test>"
    assert message.references == ("<m1@example.com>", "<m2@parley.test>")
    assert message.from_ == Address("Łukasz Żółć", "Lukasz@Example.com")
    assert message.from_.normalized == "lukasz@example.com"
    assert message.to == (
        Address("Support", "support@parley.test"),
        Address("", "sales@parley.test"),
    )
    assert message.cc == (Address("", "boss@example.com"),)
    assert message.reply_to == (Address("Anna", "anna@example.com"),)
    assert message.return_path == "anna@example.com"
    assert message.subject == "Zamówienie 42"
    assert message.date == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    assert message.date.utcoffset() == timedelta(hours=1)
    assert message.text_body == "Dzień dobry, gdzie jest moja paczka?"
    assert message.html_body is None
    assert message.attachments == ()
    assert message.auto_signals == frozenset()
    assert message.problems == ()
    assert message.size == len(raw)


def test_koi8r_subject_sender_and_body_are_decoded() -> None:
    raw = mail(
        b"Message-ID: <koi8@example.ru>",
        b"From: =?koi8-r?B?7cHS1dPR?= <masha@example.ru>",
        b"Subject: =?KOI8-R?B?+sHLwdogzsUg0NLJ26PM?=",
        b"Content-Type: text/plain; charset=KOI8-R",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        b"\xfa\xc4\xd2\xc1\xd7\xd3\xd4\xd7\xd5\xca\xd4\xc5! \xed\xcf\xca \xda\xc1\xcb\xc1\xda"
        b" \xce\xc5 \xd0\xd2\xc9\xdb\xa3\xcc.",
    )
    message = parse_message(raw)
    assert message.subject == "Заказ не пришёл"
    assert message.from_ == Address("Маруся", "masha@example.ru")
    assert message.text_body == "Здравствуйте! Мой заказ не пришёл."
    assert message.problems == ()


def test_windows_1251_subject_sender_and_quoted_printable_body_are_decoded() -> None:
    raw = mail(
        b"Message-ID: <cp1251@example.ru>",
        b"From: =?windows-1251?B?yOLg7SDP5fLw7uI=?= <ivan@example.ru>",
        b"Subject: =?windows-1251?B?wu7v8O7xIO/uIPH3uPLz?=",
        b"Content-Type: text/plain; charset=windows-1251",
        b"Content-Transfer-Encoding: quoted-printable",
        b"",
        b"=C4=EE=E1=F0=FB=E9 =E4=E5=ED=FC, =EF=F0=EE=F8=F3 =E2=FB=F1=F2=E0=E2=E8=F2=FC =",
        b"=F1=F7=B8=F2.",
    )
    message = parse_message(raw)
    assert message.subject == "Вопрос по счёту"
    assert message.from_ == Address("Иван Петров", "ivan@example.ru")
    assert message.text_body == "Добрый день, прошу выставить счёт."


def test_iso_8859_2_polish_subject_and_body_are_decoded() -> None:
    raw = mail(
        b"Message-ID: <pl@example.pl>",
        b"From: =?ISO-8859-2?Q?Pawe=B3_Nowak?= <pawel@example.pl>",
        b"Subject: =?ISO-8859-2?Q?Reklamacja_zam=F3wienia?=",
        b"Content-Type: text/plain; charset=ISO-8859-2",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        b"Dzie\xf1 dobry, za\xbf\xf3\xb3\xe6 g\xea\xb6l\xb1 ja\xbc\xf1.",
    )
    message = parse_message(raw)
    assert message.subject == "Reklamacja zamówienia"
    assert message.from_ is not None and message.from_.name == "Paweł Nowak"
    assert message.text_body == "Dzień dobry, zażółć gęślą jaźń."


RUSSIAN = "Добрый день, прошу выставить счёт."
POLISH = "Dzień dobry, zażółć gęślą jaźń."


@pytest.mark.parametrize(
    ("declared", "body", "expected"),
    [
        # Labelled UTF-8, written in windows-1251 (an old Outlook favourite).
        (b"utf-8", RUSSIAN.encode("cp1251"), RUSSIAN),
        # Labelled KOI8-R, written in windows-1251.
        (b"koi8-r", RUSSIAN.encode("cp1251"), RUSSIAN),
        # Labelled windows-1251, written in KOI8-R.
        (b"windows-1251", RUSSIAN.encode("koi8-r"), RUSSIAN),
        # Labelled US-ASCII, with 8-bit KOI8-R in it.
        (b"us-ascii", RUSSIAN.encode("koi8-r"), RUSSIAN),
        # A charset nobody knows.
        (b'"x-klingon"', RUSSIAN.encode("koi8-r"), RUSSIAN),
        # Labelled Latin-1, written in ISO-8859-2.
        (b"iso-8859-1", POLISH.encode("iso-8859-2"), POLISH),
    ],
)
def test_a_mislabelled_or_unknown_charset_falls_back_with_a_note(
    declared: bytes, body: bytes, expected: str
) -> None:
    raw = mail(
        b"Message-ID: <wrong@example.com>",
        b"From: someone@example.com",
        b"Content-Type: text/plain; charset=" + declared,
        b"",
        body,
    )
    message = parse_message(raw)
    assert message.text_body == expected
    label = declared.decode().strip('"')
    assert any(label in problem for problem in message.problems), message.problems


def test_correctly_labelled_western_text_is_left_alone() -> None:
    text = "Grüße aus München, à bientôt, café crème"
    raw = mail(
        b"From: a@example.com", b"Content-Type: text/plain; charset=iso-8859-1", b"",
        text.encode("latin-1"),
    )  # fmt: skip
    message = parse_message(raw)
    assert message.text_body == text
    assert not any("charset" in p or "labelled" in p for p in message.problems)


def test_an_unlabelled_8bit_subject_and_body_are_guessed() -> None:
    raw = mail(
        b"Message-ID: <raw@example.ru>",
        b"From: someone@example.ru",
        b"Subject: " + "Вопрос по счёту".encode("cp1251"),
        b"",
        "Здравствуйте! Мой заказ не пришёл.".encode("koi8-r"),
    )
    message = parse_message(raw)
    assert message.subject == "Вопрос по счёту"
    assert message.text_body == "Здравствуйте! Мой заказ не пришёл."


def test_encoded_words_splitting_a_character_are_joined_before_decoding() -> None:
    # "Привет" in UTF-8 is 12 bytes; the first word ends in the middle of "в".
    raw = mail(
        b"Message-ID: <split@example.ru>",
        b"Subject: =?UTF-8?B?0J/RgNC4?= =?UTF-8?B?0LLQtdGC?= =?utf-8?q?_=D0=BC=D0=B8=D1=80?=",
        b"",
        b"",
    )
    assert parse_message(raw).subject == "Привет мир"


def test_an_html_only_message_with_an_inline_cid_image() -> None:
    raw = mail(
        b"Message-ID: <html@example.com>",
        b"From: designer@example.com",
        b"Subject: Logo",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/related; boundary="rel"',
        b"",
        b"--rel",
        b"Content-Type: text/html; charset=utf-8",
        b"",
        b'<html><body><p>Our logo:</p><img src="cid:logo@example.com"></body></html>',
        b"--rel",
        b"Content-Type: image/png",
        b"Content-Transfer-Encoding: base64",
        b"Content-ID: <logo@example.com>",
        b"",
        b"iVBORw0KGgoAAAAAAAAAAA==",
        b"--rel--",
        b"",
    )
    message = parse_message(raw)
    assert message.text_body is None
    assert message.html_body is not None and 'src="cid:logo@example.com"' in message.html_body
    (image,) = message.attachments
    assert image.content_type == "image/png"
    assert image.content_id == "logo@example.com"
    assert image.is_inline
    assert image.content == b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    assert image.size == 16
    assert message.attachment_for_content_id("<logo@example.com>") == image
    assert message.problems == ()


def test_alternative_bodies_and_attachments_with_encoded_names() -> None:
    raw = mail(
        b"Message-ID: <att@example.com>",
        b"From: a@example.com",
        b'Content-Type: multipart/mixed; boundary="mix"',
        b"",
        b"--mix",
        b'Content-Type: multipart/alternative; boundary="alt"',
        b"",
        b"--alt",
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        b"Invoice attached.",
        b"--alt",
        b"Content-Type: text/html; charset=utf-8",
        b"",
        b"<p>Invoice <b>attached</b>.</p>",
        b"--alt--",
        b"--mix",
        b"Content-Type: application/pdf",
        b"Content-Disposition: attachment; filename*=utf-8''%D0%A1%D1%87%D0%B5%D1%82.pdf",
        b"Content-Transfer-Encoding: base64",
        b"",
        b"JVBERi0xLjQK",
        b"--mix",
        b"Content-Type: text/plain",
        b'Content-Disposition: attachment; filename="../../etc/passwd"',
        b"",
        b"root:x:0:0",
        b"--mix",
        b"Content-Type: application/octet-stream",
        b'Content-Disposition: attachment; filename="=?windows-1251?B?yOLg7SDP5fLw7uI=?=.bin"',
        b"",
        b"x",
        b"--mix--",
    )
    message = parse_message(raw)
    assert message.text_body == "Invoice attached."
    assert message.html_body == "<p>Invoice <b>attached</b>.</p>"
    pdf, passwd, named = message.attachments
    assert (pdf.filename, pdf.content_type, pdf.content, pdf.size) == (
        "Счет.pdf",
        "application/pdf",
        b"%PDF-1.4\n",
        9,
    )
    assert not pdf.is_inline
    assert passwd.filename == "passwd"  # no directories from a sender
    assert passwd.content == b"root:x:0:0"
    assert named.filename == "Иван Петров.bin"


def test_an_attachment_over_the_limit_keeps_its_metadata_only() -> None:
    raw = mail(
        b"Message-ID: <big@example.com>",
        b"From: a@example.com",
        b'Content-Type: multipart/mixed; boundary="b"',
        b"",
        b"--b",
        b"Content-Type: text/plain",
        b"",
        b"see attached",
        b"--b",
        b'Content-Type: application/zip; name="big.zip"',
        b"Content-Disposition: attachment",
        b"",
        b"0123456789" * 10,
        b"--b--",
    )
    message = parse_message(raw, max_attachment_bytes=50)
    (big,) = message.attachments
    assert big.filename == "big.zip"
    assert big.size == 100
    assert big.content is None and big.is_dropped
    assert any("big.zip" in problem and "limit" in problem for problem in message.problems)
    assert parse_message(raw, max_attachment_bytes=None).attachments[0].content is not None


def test_a_forwarded_message_is_one_eml_attachment_not_part_of_the_body() -> None:
    raw = mail(
        b"Message-ID: <fwd@example.com>",
        b"From: colleague@example.com",
        b"Subject: Fwd: complaint",
        b'Content-Type: multipart/mixed; boundary="outer"',
        b"",
        b"--outer",
        b"Content-Type: text/plain",
        b"",
        b"See below.",
        b"--outer",
        b"Content-Type: message/rfc822",
        b"",
        b"Message-ID: <original@example.org>",
        b"From: angry@example.org",
        b"Subject: complaint",
        b"Content-Type: text/plain",
        b"",
        b"This is unacceptable.",
        b"--outer--",
    )
    message = parse_message(raw)
    assert message.text_body == "See below."
    (forwarded,) = message.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "complaint.eml"
    assert forwarded.content is not None
    inner = parse_message(forwarded.content)
    assert inner.message_id == "<original@example.org>"
    assert inner.text_body == "This is unacceptable."


def test_a_bounce_is_recognised_with_the_failed_recipient() -> None:
    raw = mail(
        b"Return-Path: <>",
        b"Message-ID: <bounce@mx.example.net>",
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>",
        b"To: support@parley.test",
        b"Subject: Undelivered Mail Returned to Sender",
        b"Auto-Submitted: auto-replied",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=r",
        b"",
        b"--r",
        b"Content-Type: text/plain",
        b"",
        b"I'm sorry to have to inform you that your message could not be delivered.",
        b"--r",
        b"Content-Type: message/delivery-status",
        b"",
        b"Reporting-MTA: dns; mx.example.net",
        b"",
        b"Final-Recipient: rfc822; gone@example.org",
        b"Action: failed",
        b"Status: 5.1.1",
        b"",
        b"--r",
        b"Content-Type: text/rfc822-headers",
        b"",
        b"Message-ID: <our-reply@parley.test>",
        b"--r--",
    )
    message = parse_message(raw)
    assert message.is_bounce
    assert {AutoSignal.BOUNCE, AutoSignal.NULL_SENDER, AutoSignal.SYSTEM_SENDER} <= (
        message.auto_signals
    )
    assert message.return_path == ""
    assert message.bounced_recipients == ("gone@example.org",)
    assert "could not be delivered" in (message.text_body or "")
    status = next(a for a in message.attachments if a.content_type == "message/delivery-status")
    assert status.content is not None and b"gone@example.org" in status.content


@pytest.mark.parametrize(
    ("header", "signal"),
    [
        (b"Auto-Submitted: auto-replied", AutoSignal.AUTO_SUBMITTED),
        (b"Auto-Submitted: auto-generated", AutoSignal.AUTO_SUBMITTED),
        (b"X-Autoreply: yes", AutoSignal.AUTO_REPLY),
        (b"X-Autorespond: Out of office", AutoSignal.AUTO_REPLY),
        (b"Precedence: bulk", AutoSignal.BULK),
        (b"Precedence: junk", AutoSignal.BULK),
        (b"Precedence: list", AutoSignal.MAILING_LIST),
        (b"List-Id: <news.example.com>", AutoSignal.MAILING_LIST),
        (b"X-Auto-Response-Suppress: All", AutoSignal.SUPPRESS_AUTO_RESPONSE),
        (b"Return-Path: <>", AutoSignal.NULL_SENDER),
        (b"Return-Path: <postmaster@example.com>", AutoSignal.SYSTEM_SENDER),
    ],
)
def test_automatic_mail_is_flagged(header: bytes, signal: AutoSignal) -> None:
    raw = mail(
        b"Message-ID: <auto@example.com>",
        b"From: Anna <anna@example.com>",
        header,
        b"Subject: Out of office",
        b"",
        b"I am away until Monday.",
    )
    message = parse_message(raw)
    assert message.auto_signals == {signal}
    assert message.is_automated


def test_auto_submitted_no_and_a_person_are_not_automated() -> None:
    raw = mail(b"From: anna@example.com", b"Auto-Submitted: no", b"", b"Hi")
    assert parse_message(raw).auto_signals == frozenset()


def test_a_message_without_message_id_gets_a_stable_generated_one() -> None:
    raw = mail(b"From: anna@example.com", b"Subject: hi", b"", b"Hello")
    first, again = parse_message(raw), parse_message(raw)
    other = parse_message(raw + b"!")
    assert first.message_id_is_generated
    assert first.message_id == again.message_id
    assert first.message_id.endswith(f"@{GENERATED_ID_DOMAIN}>")
    assert other.message_id != first.message_id
    assert any("Message-ID" in problem for problem in first.problems)


def test_message_ids_without_brackets_and_comments_are_normalised() -> None:
    raw = mail(
        b"Message-ID: bare@example.com",
        b"In-Reply-To: <parent@example.com> (Anna's message of Monday)",
        b"References: <a@x> <b@x> <a@x>",
        b"",
        b"",
    )
    message = parse_message(raw)
    assert message.message_id == "<bare@example.com>"
    assert message.in_reply_to == "<parent@example.com>"
    assert message.references == ("<a@x>", "<b@x>")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"Date: Mon, 05 Jan 2026 09:30:00 -0000", datetime(2026, 1, 5, 9, 30, tzinfo=UTC)),
        (b"Date: Mon, 05 Jan 2026 09:30:00", datetime(2026, 1, 5, 9, 30, tzinfo=UTC)),
        (
            b"Date: 5 Jan 2026 12:30:00 +0300",
            datetime(2026, 1, 5, 12, 30, tzinfo=timezone(timedelta(hours=3))),
        ),
        (b"Date: yesterday, around noon", None),
        (b"Date: ", None),
    ],
)
def test_dates_are_aware_or_none(header: bytes, expected: datetime | None) -> None:
    message = parse_message(mail(b"From: a@example.com", header, b"", b""))
    assert message.date == expected
    assert message.date is None or message.date.tzinfo is not None


DEEPLY_NESTED = b"".join(
    b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(60)
)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="0-byte"),
        pytest.param(b"\x00\xff\xfe\x89PNG\r\n\x1a\n\x00\x00garbage" * 20, id="binary"),
        pytest.param(
            mail(b"Content-Type: multipart/mixed", b"", b"no boundary at all"),
            id="no-boundary-param",
        ),
        pytest.param(
            mail(b"Content-Type: multipart/mixed; boundary=zz", b"", b"--zz", b"", b"cut"),
            id="truncated-multipart",
        ),
        pytest.param(
            mail(
                b"Content-Type: multipart/mixed; boundary=zz",
                b"",
                b"--zz",
                b"Content-Type: image/png",
                b"Content-Transfer-Encoding: base64",
                b"",
                b"!!not*base64=at=all",
                b"--zz--",
            ),
            id="broken-base64",
        ),
        pytest.param(
            mail(b"From: <<<@>>>, ,,", b"To: =?utf-8?B?broken", b"Subject: =?x?Q?=ZZ?=", b""),
            id="bad-headers",
        ),
        pytest.param(mail(b"this line has no colon", b"From: a@b", b"", b"body"), id="no-colon"),
        pytest.param(DEEPLY_NESTED, id="deeply-nested"),
        pytest.param(
            mail(b"Content-Type: message/rfc822", b"", b"\xff\xfe not a message"),
            id="rfc822-garbage",
        ),
        pytest.param(
            mail(b"Content-Type: text/plain; charset=base64", b"", b"aGVsbG8="),
            id="codec-that-is-no-charset",
        ),
        pytest.param(mail(b"From: a@b", b"", b"nul \x00 inside"), id="nul"),
        pytest.param(mail(b"Subject: =?\x00tf-8?q?=C2=80?=", b"", b""), id="nul-in-charset"),
    ],
)
def test_malformed_mail_never_raises_and_says_what_was_wrong(raw: bytes) -> None:
    message = parse_message(raw)
    assert isinstance(message, ParsedMessage)
    assert message.problems, "a broken message must come with notes"
    for text in (message.subject, message.text_body or "", message.html_body or ""):
        text.encode("utf-8")  # no lone surrogates: storable
        assert "\x00" not in text


def test_a_multipart_without_boundary_keeps_its_text() -> None:
    raw = mail(b"From: a@b", b"Content-Type: multipart/alternative", b"", b"Please call me")
    message = parse_message(raw)
    assert message.text_body is not None and "Please call me" in message.text_body
