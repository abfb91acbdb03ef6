"""A seeded corpus of varied mail, as raw bytes the way an IMAP server hands them over.

The mix (by share of the messages): plain UTF-8 text, HTML only, text + HTML
alternatives, attachments (with an inline image now and then), Russian mail in
windows-1251 and in KOI8-R (bodies 8-bit or quoted-printable, subjects as RFC 2047
encoded words), replies that thread by In-Reply-To/References to an earlier message,
replies that thread by a case token (`[#12]`) in the subject, malformed MIME of several
kinds, and a few messages delivered twice (the same bytes: one stored message).
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

KINDS: dict[str, float] = {
    "plain": 0.24,
    "html": 0.10,
    "alternative": 0.15,
    "attachments": 0.10,
    "windows-1251": 0.10,
    "koi8-r": 0.08,
    "reply": 0.15,
    "token_reply": 0.03,
    "malformed": 0.04,
    "duplicate": 0.01,
}

WORDS_EN = [
    "order",
    "delivery",
    "invoice",
    "refund",
    "account",
    "password",
    "login",
    "parcel",
    "courier",
    "payment",
    "card",
    "address",
    "please",
    "thanks",
    "hello",
    "again",
    "waiting",
    "week",
    "since",
    "yesterday",
    "problem",
    "broken",
    "screen",
    "replacement",
    "warranty",
    "number",
    "tracking",
    "status",
    "update",
    "support",
    "team",
    "help",
    "urgent",
]
WORDS_RU = [
    "заказ",
    "доставка",
    "счёт",
    "возврат",
    "оплата",
    "карта",
    "адрес",
    "пожалуйста",
    "спасибо",
    "здравствуйте",
    "жду",
    "неделю",
    "вчера",
    "проблема",
    "сломан",
    "экран",
    "замена",
    "гарантия",
    "номер",
    "статус",
    "поддержка",
    "помогите",
    "срочно",
    "курьер",
    "посылка",
    "пароль",
    "вход",
]
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Mail:
    kind: str
    raw: bytes
    message_id: str | None  # None: the message has none (the parser makes one up)


def _words(rng: random.Random, words: list[str], count: int) -> str:
    return " ".join(rng.choice(words) for _ in range(count))


def _paragraphs(rng: random.Random, words: list[str]) -> str:
    return "\n\n".join(
        _words(rng, words, rng.randint(8, 60)).capitalize() + "." for _ in range(rng.randint(1, 6))
    )


def _encoded_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


class Corpus:
    """`Corpus(seed).messages(count)` yields `count` mails; threads refer only to mails
    yielded before them."""

    def __init__(self, seed: int, senders: int = 500) -> None:
        self.rng = random.Random(seed)
        self.senders = [f"customer{n:04d}@example.org" for n in range(senders)]
        self.sent: list[tuple[str, str]] = []  # (message id, subject) of thread starters
        self.raw_sent: list[bytes] = []
        self.cases_opened = 0  # each thread starter opens one case, numbered from 1
        self.serial = 0

    def messages(self, count: int) -> Iterator[Mail]:
        kinds, weights = list(KINDS), list(KINDS.values())
        for _ in range(count):
            kind = self.rng.choices(kinds, weights)[0]
            if kind in ("reply", "token_reply", "duplicate") and not self.sent:
                kind = "plain"
            yield getattr(self, "_" + kind.replace("-", "_"))()

    # --- headers --------------------------------------------------------------------

    def _message_id(self) -> str:
        self.serial += 1
        return f"<bench-{self.serial}-{self.rng.getrandbits(40):x}@example.org>"

    def _headers(self, subject: str, message_id: str, extra: str = "") -> str:
        sender = self.rng.choice(self.senders)
        name = sender.split("@")[0].capitalize()
        date = format_datetime(START + timedelta(seconds=self.serial * 7))
        return (
            f"From: {name} <{sender}>\r\n"
            "To: support@parley.test\r\n"
            f"Subject: {subject}\r\n"
            f"Date: {date}\r\n"
            f"Message-ID: {message_id}\r\n"
            "MIME-Version: 1.0\r\n"
            f"{extra}"
        )

    def _starter(self, subject: str) -> tuple[str, str]:
        message_id = self._message_id()
        self.sent.append((message_id, subject))
        self.cases_opened += 1
        return message_id, subject

    def _keep(self, kind: str, raw: str | bytes, message_id: str | None) -> Mail:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        self.raw_sent.append(data)
        return Mail(kind, data, message_id)

    # --- kinds ----------------------------------------------------------------------

    def _plain(self) -> Mail:
        message_id, subject = self._starter(_words(self.rng, WORDS_EN, 5).capitalize())
        body = _paragraphs(self.rng, WORDS_EN)
        head = self._headers(subject, message_id, "Content-Type: text/plain; charset=utf-8\r\n")
        return self._keep("plain", f"{head}\r\n{body}\r\n", message_id)

    def _html_body(self) -> str:
        paragraphs = "".join(
            f"<p style='color:#333'>{_words(self.rng, WORDS_EN, self.rng.randint(8, 40))}</p>"
            for _ in range(self.rng.randint(1, 5))
        )
        return (
            "<html><head><style>p{margin:0}</style><script>alert(1)</script></head><body>"
            f"<div>{paragraphs}<a href='https://example.org/track' onclick='x()'>track</a>"
            "<img src='https://tracker.example/pixel.gif'></div></body></html>"
        )

    def _html(self) -> Mail:
        message_id, subject = self._starter(_words(self.rng, WORDS_EN, 4).capitalize())
        head = self._headers(subject, message_id, "Content-Type: text/html; charset=utf-8\r\n")
        return self._keep("html", f"{head}\r\n{self._html_body()}\r\n", message_id)

    def _alternative(self) -> Mail:
        message_id, subject = self._starter(_words(self.rng, WORDS_EN, 6).capitalize())
        boundary = f"alt-{self.rng.getrandbits(32):x}"
        head = self._headers(
            subject, message_id, f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
        )
        raw = (
            f"{head}\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{_paragraphs(self.rng, WORDS_EN)}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            f"{self._html_body()}\r\n--{boundary}--\r\n"
        )
        return self._keep("alternative", raw, message_id)

    def _attachment(self, name: str, content_type: str, size: int, inline: str = "") -> str:
        data = self.rng.randbytes(size)
        encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
        disposition = "inline" if inline else "attachment"
        content_id = f"Content-ID: <{inline}>\r\n" if inline else ""
        return (
            f'Content-Type: {content_type}; name="{name}"\r\n'
            "Content-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: {disposition}; filename="{name}"\r\n'
            f"{content_id}\r\n{encoded}"
        )

    def _attachments(self) -> Mail:
        message_id, subject = self._starter("Documents: " + _words(self.rng, WORDS_EN, 3))
        boundary = f"mix-{self.rng.getrandbits(32):x}"
        head = self._headers(
            subject, message_id, f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
        )
        parts = [
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + _paragraphs(self.rng, WORDS_EN)
        ]
        for n in range(self.rng.randint(1, 3)):
            kind = self.rng.choice(
                (("invoice.pdf", "application/pdf"), ("photo.jpg", "image/jpeg"))
            )
            name = f"{n}-{kind[0]}"
            size = self.rng.randint(1_000, 40_000)
            inline = f"img{n}@bench" if kind[1] == "image/jpeg" and self.rng.random() < 0.3 else ""
            parts.append(self._attachment(name, kind[1], size, inline))
        body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
        return self._keep("attachments", f"{head}\r\n{body}--{boundary}--\r\n", message_id)

    def _cyrillic(self, kind: str, charset: str) -> Mail:
        subject_text = _words(self.rng, WORDS_RU, 4).capitalize()
        message_id, _subject = self._starter(subject_text)
        body = _paragraphs(self.rng, WORDS_RU)
        if self.rng.random() < 0.5:
            encoding, payload = "8bit", body.encode(charset)
        else:
            encoding = "quoted-printable"
            payload = quopri.encodestring(body.encode(charset).replace(b"\n", b"\r\n"))
        head = self._headers(
            _encoded_word(subject_text, charset),
            message_id,
            f"Content-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n",
        )
        return self._keep(kind, head.encode("ascii") + b"\r\n" + payload + b"\r\n", message_id)

    def _windows_1251(self) -> Mail:
        return self._cyrillic("windows-1251", "windows-1251")

    def _koi8_r(self) -> Mail:
        return self._cyrillic("koi8-r", "koi8-r")

    def _reply(self) -> Mail:
        parent_id, subject = self.rng.choice(self.sent[-2_000:])
        message_id = self._message_id()
        references = f"References: {parent_id}\r\n" if self.rng.random() < 0.8 else ""
        head = self._headers(
            f"Re: {subject}",
            message_id,
            f"In-Reply-To: {parent_id}\r\n{references}Content-Type: text/plain; charset=utf-8\r\n",
        )
        quoted = "\r\n".join("> " + line for line in _paragraphs(self.rng, WORDS_EN).splitlines())
        raw = f"{head}\r\n{_words(self.rng, WORDS_EN, 20)}\r\n\r\n{quoted}\r\n"
        return self._keep("reply", raw, message_id)

    def _token_reply(self) -> Mail:
        number = self.rng.randint(1, self.cases_opened)
        message_id = self._message_id()
        head = self._headers(
            f"RE: [#{number}] still waiting",
            message_id,
            "Content-Type: text/plain; charset=utf-8\r\n",
        )
        return self._keep(
            "token_reply", f"{head}\r\n{_paragraphs(self.rng, WORDS_EN)}\r\n", message_id
        )

    def _duplicate(self) -> Mail:
        raw = self.rng.choice(self.raw_sent[-500:])
        return Mail("duplicate", raw, None)

    def _malformed(self) -> Mail:
        variant = self.rng.randrange(7)
        message_id, subject = self._starter("Broken " + _words(self.rng, WORDS_EN, 3))
        text = _paragraphs(self.rng, WORDS_EN)
        if variant == 0:  # a multipart whose boundary never comes
            head = self._headers(
                subject, message_id, 'Content-Type: multipart/mixed; boundary="nowhere"\r\n'
            )
            raw: bytes = f"{head}\r\n{text}\r\n".encode()
        elif variant == 1:  # base64 that is not
            head = self._headers(
                subject,
                message_id,
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n",
            )
            raw = f"{head}\r\n!!not*base64{text[:40]}\r\n".encode()
        elif variant == 2:  # a charset nobody knows, and bytes of another
            head = self._headers(
                subject, message_id, "Content-Type: text/plain; charset=x-unknown-42\r\n"
            )
            raw = head.encode() + b"\r\n" + _paragraphs(self.rng, WORDS_RU).encode("koi8-r")
        elif variant == 3:  # raw 8-bit bytes in headers
            encoded = self._headers(
                subject, message_id, "Content-Type: text/plain; charset=utf-8\r\n"
            ).encode()
            encoded = encoded.replace(b"Subject: ", b"Subject: \xd0\xf3\xf1 \xff ")
            raw = encoded + b"\r\n" + text.encode()
        elif variant == 4:  # truncated in the middle of a part
            boundary = "cut"
            head = self._headers(
                subject,
                message_id,
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n',
            )
            raw = f"{head}\r\n--{boundary}\r\nContent-Type: text/html\r\n\r\n<p>{text}".encode()
        elif variant == 5:  # no headers at all, binary noise
            self.sent.pop()
            raw = self.rng.randbytes(self.rng.randint(50, 2_000))
            message_id = ""
        else:  # a broken encoded word and an address header without an address
            head = (
                "From: =?utf-8?B?!!!?= <>\r\n"
                f"Subject: =?koi8-r?Q?=F0=D2=C9=D7=C5=D4?= {subject}\r\n"
                f"Message-ID: {message_id}\r\n"
                "Content-Type: text/plain\r\n"
            )
            raw = f"{head}\r\n{text}\r\n".encode()
        return self._keep("malformed", raw, message_id or None)
