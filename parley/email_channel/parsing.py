"""Raw RFC 5322 bytes in, one typed immutable `ParsedMessage` out — never an exception.

IMAP ingestion hands every fetched message to `parse_message` before anything else looks
at it (threads.py, autoreply.py, the case timeline, sanitize.py for display). Mail from
the wild is often broken: unknown or wrong charsets, missing MIME boundaries, bad base64,
garbage headers, 0-byte messages. Losing a customer's message because a parser raised is
the worst outcome (F-EM-1 "nothing lost"), so this module degrades instead: whatever can
be read is kept and every doubt becomes a human-readable note in `ParsedMessage.problems`.

Decoding is done here rather than by the `email` package's header objects, because those
leave undecodable bytes as lone surrogates (which no database accepts) and raise on some
malformed address lists. The parser (`email.policy.default`, with a header registry that
remembers what it parsed) still splits the message;
headers are read raw and decoded by `_decode_header_text`, bodies by `_decode_text`, which
both fall back through UTF-8 and a small guess among the charsets our customers use
(Cyrillic windows-1251 / KOI8-R, Polish ISO-8859-2 / windows-1250, Western windows-1252).

Message-IDs are kept in their header form, with angle brackets (`<id@host>`), everywhere
in this package. A message without one gets a stable id derived from a hash of its bytes,
so ingesting the same bytes twice gives the same id; `message_id_is_generated` says so.
"""

from __future__ import annotations

import binascii
import codecs
import email
import functools
import hashlib
import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum
from typing import Any

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
GENERATED_ID_DOMAIN = "parley.invalid"  # RFC 2606: can never clash with a real host
_MAX_DEPTH = 32  # nested multiparts / message/rfc822 deeper than this are not walked

# Charsets tried, in this order of preference on a tie, when the declared one fails.
_GUESSES = ("windows-1251", "koi8-r", "iso-8859-2", "windows-1250", "windows-1252")
# Declared single-byte charsets that are often wrong; their text is checked for mojibake.
_OFTEN_MISLABELLED = frozenset(
    {"cp1251", "koi8-r", "iso8859-2", "cp1250", "cp1252", "latin-1", "iso8859-5"}
)
# Labels seen in real mail that Python does not know, or knows as something less useful.
_CHARSET_ALIASES = {
    "win-1251": "windows-1251",
    "cp-1251": "windows-1251",
    "x-cp1251": "windows-1251",
    "win-1250": "windows-1250",
    "cp-1250": "windows-1250",
    "x-cp1250": "windows-1250",
    "iso-8859-1": "windows-1252",  # as browsers do: 1252 is a superset in practice
    "latin1": "windows-1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "x-mac-cyrillic": "mac-cyrillic",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}
_UNKNOWN_CHARSETS = frozenset({"unknown-8bit", "x-unknown", "unknown", "8bit", "default"})

_EIGHT_BIT_WORD = re.compile(rb"[\x21-\x7e]{0,20}[\x80-\xff][\x21-\xff]{0,40}")
_SAMPLE_WORDS = 2000
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_MSG_ID_CORE = r"[^<>\s\x00-\x1f\x7f]+"
_MSG_ID = re.compile(rf"<\s*({_MSG_ID_CORE}?)\s*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEADER_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
_SYSTEM_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})

_Note = Callable[[str], None]  # where helpers report a problem


class _RememberingHeaders(HeaderRegistry):
    """`policy.default`'s header registry, remembering the header objects it made.

    The email package parses a header again each time it is read (the parser itself
    reads Content-Type several times per part), and mail repeats the same MIME header
    values message after message ("text/plain; charset=utf-8", "quoted-printable").
    Header objects are immutable, so one made for a name and value serves every later
    read. Only the MIME headers are remembered: the others (Subject, References) are
    different in every message and would only push those out."""

    _REMEMBERED = frozenset(
        {"content-type", "content-transfer-encoding", "content-disposition", "mime-version"}
    )

    def __init__(self) -> None:
        super().__init__()
        self._made = functools.lru_cache(maxsize=4096)(super().__call__)

    def __call__(self, name: str, value: Any) -> Any:
        if name.lower() in self._REMEMBERED and isinstance(value, str) and len(value) < 1000:
            return self._made(name, value)
        return super().__call__(name, value)


_POLICY = policy.default.clone(header_factory=_RememberingHeaders())


class AutoSignal(StrEnum):
    """Why a message looks machine-sent; autoreply.py refuses to answer any of these."""

    AUTO_SUBMITTED = "auto_submitted"  # Auto-Submitted other than "no" (RFC 3834)
    AUTO_REPLY = "auto_reply"  # X-Autoreply, X-Autorespond, Precedence: auto_reply
    SUPPRESS_AUTO_RESPONSE = "suppress_auto_response"  # X-Auto-Response-Suppress (Exchange)
    BULK = "bulk"  # Precedence: bulk / junk
    MAILING_LIST = "mailing_list"  # Precedence: list, List-Id, List-Unsubscribe
    NULL_SENDER = "null_sender"  # Return-Path: <>
    SYSTEM_SENDER = "system_sender"  # from mailer-daemon@ or postmaster@
    BOUNCE = "bounce"  # multipart/report; report-type=delivery-status
    REPORT = "report"  # another multipart/report (read receipts, abuse reports)


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header: `name` may be "", `address` is as written."""

    name: str
    address: str

    @property
    def normalized(self) -> str:
        """Lower-cased, for comparing and for contact lookup."""
        return self.address.strip().lower()

    @property
    def local_part(self) -> str:
        return self.normalized.rpartition("@")[0] or self.normalized


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or inline image. `content` is None when the part was over the size limit
    (the metadata is kept so the agent sees that something was there)."""

    filename: str
    content_type: str
    size: int
    content_id: str | None  # without angle brackets, as `cid:` URLs name it
    is_inline: bool
    content: bytes | None

    @property
    def is_dropped(self) -> bool:
        return self.content is None


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    message_id: str
    message_id_is_generated: bool
    in_reply_to: str | None
    references: tuple[str, ...]  # oldest first, as in the header
    from_: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    return_path: str | None  # "" for the null sender <>, None when absent
    subject: str
    date: datetime | None  # always aware when set
    text_body: str | None
    html_body: str | None
    attachments: tuple[Attachment, ...]
    auto_signals: frozenset[AutoSignal]
    bounced_recipients: tuple[str, ...]  # Final-Recipient of failed delivery reports
    problems: tuple[str, ...]
    size: int

    @property
    def is_automated(self) -> bool:
        return bool(self.auto_signals)

    @property
    def is_bounce(self) -> bool:
        return AutoSignal.BOUNCE in self.auto_signals

    def attachment_for_content_id(self, content_id: str) -> Attachment | None:
        wanted = _strip_brackets(content_id)
        return next((a for a in self.attachments if a.content_id == wanted), None)


def parse_message(
    raw: bytes, *, max_attachment_bytes: int | None = DEFAULT_MAX_ATTACHMENT_BYTES
) -> ParsedMessage:
    """Parse `raw` (the full message as fetched). Never raises for any input bytes.

    `max_attachment_bytes` (None: no limit) is the largest decoded attachment whose
    content is kept; larger ones keep their metadata and get a note in `problems`.
    """
    raw = bytes(raw)
    try:
        return _Parser(raw, max_attachment_bytes).parse()
    except Exception as error:  # a case the parser above does not foresee: still no loss
        return _unreadable(raw, error)


def _unreadable(raw: bytes, error: Exception) -> ParsedMessage:
    """The message as one text body, for when parsing failed in an unforeseen way."""
    digest = hashlib.sha256(raw).hexdigest()[:40]
    text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
    return ParsedMessage(
        message_id=f"<{digest}@{GENERATED_ID_DOMAIN}>",
        message_id_is_generated=True,
        in_reply_to=None,
        references=(),
        from_=None,
        reply_to=(),
        to=(),
        cc=(),
        return_path=None,
        subject="",
        date=None,
        text_body=_storable(text) if text else None,
        html_body=None,
        attachments=(),
        auto_signals=frozenset(),
        bounced_recipients=(),
        problems=(_storable(f"the message could not be parsed ({error!r}): kept as text"),),
        size=len(raw),
    )


# -- the walk -------------------------------------------------------------------------


class _Parser:
    def __init__(self, raw: bytes, max_attachment_bytes: int | None) -> None:
        self.raw = raw
        self.max_attachment_bytes = max_attachment_bytes
        self.problems: list[str] = []
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[Attachment] = []
        self.signals: set[AutoSignal] = set()
        self.bounced: list[str] = []

    def note(self, problem: str) -> None:
        problem = _storable(problem)
        if problem not in self.problems:
            self.problems.append(problem)

    def parse(self) -> ParsedMessage:
        if not self.raw.strip():
            self.note("the message is empty")
        message: Message | None
        try:
            message = email.message_from_bytes(self.raw, policy=_POLICY)
        except Exception as error:  # the parser itself gave up: keep the bytes as text
            self.note(f"the MIME structure could not be parsed ({error!r})")
            message = None
        if message is None:
            text, note = _decode_text(self.raw, None)
            self.texts.append(text)
            if note:
                self.note(f"body: {note}")
            return self._result(None)
        try:
            self._walk(message, "message", 0, in_related=False)
        except Exception as error:  # a walk bug must not lose the headers
            self.note(f"the message body could not be read completely ({error!r})")
        return self._result(message)

    def _result(self, message: Message | None) -> ParsedMessage:
        headers = _Headers(message, self.note)
        message_id = headers.first_msg_id("Message-ID")
        generated = message_id is None
        if message_id is None:
            digest = hashlib.sha256(self.raw).hexdigest()[:40]
            message_id = f"<{digest}@{GENERATED_ID_DOMAIN}>"
            self.note(f"no usable Message-ID: generated {message_id} from the message bytes")
        in_reply_to = headers.first_msg_id("In-Reply-To")
        references = tuple(dict.fromkeys(headers.msg_ids("References")))
        from_all = headers.addresses("From")
        if len(from_all) > 1:
            self.note("several From addresses: the first one is the sender")
        return_path = headers.return_path()
        self._detect_signals(headers, from_all[0] if from_all else None, return_path)
        if not from_all and message is not None and self.raw.strip():
            self.note("no From address")
        return ParsedMessage(
            message_id=message_id,
            message_id_is_generated=generated,
            in_reply_to=in_reply_to,
            references=references,
            from_=from_all[0] if from_all else None,
            reply_to=headers.addresses("Reply-To"),
            to=headers.addresses("To"),
            cc=headers.addresses("Cc"),
            return_path=return_path,
            subject=headers.text("Subject"),
            date=headers.date(),
            text_body="\n".join(self.texts) if self.texts else None,
            html_body="\n".join(self.htmls) if self.htmls else None,
            attachments=tuple(self.attachments),
            auto_signals=frozenset(self.signals),
            bounced_recipients=tuple(dict.fromkeys(self.bounced)),
            problems=tuple(self.problems),
            size=len(self.raw),
        )

    def _detect_signals(
        self, headers: _Headers, sender: Address | None, return_path: str | None
    ) -> None:
        auto_submitted = headers.text("Auto-Submitted").lower()
        if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
            self.signals.add(AutoSignal.AUTO_SUBMITTED)
        precedence = headers.text("Precedence").lower().strip()
        if precedence in {"bulk", "junk"}:
            self.signals.add(AutoSignal.BULK)
        elif precedence == "list":
            self.signals.add(AutoSignal.MAILING_LIST)
        elif precedence in {"auto_reply", "auto-reply"}:
            self.signals.add(AutoSignal.AUTO_REPLY)
        if headers.has("X-Autoreply") or headers.has("X-Autorespond"):
            self.signals.add(AutoSignal.AUTO_REPLY)
        if headers.has("List-Id") or headers.has("List-Unsubscribe"):
            self.signals.add(AutoSignal.MAILING_LIST)
        suppress = headers.text("X-Auto-Response-Suppress").lower()
        if any(word in suppress for word in ("all", "oof", "autoreply")):
            self.signals.add(AutoSignal.SUPPRESS_AUTO_RESPONSE)
        if return_path == "":
            self.signals.add(AutoSignal.NULL_SENDER)
        senders = [sender.local_part] if sender else []
        if return_path:
            senders.append(return_path.lower().rpartition("@")[0] or return_path.lower())
        if any(local in _SYSTEM_LOCALPARTS for local in senders):
            self.signals.add(AutoSignal.SYSTEM_SENDER)

    def _walk(self, part: Message, where: str, depth: int, *, in_related: bool) -> None:
        if depth > _MAX_DEPTH:
            self.note(f"{where}: nested deeper than {_MAX_DEPTH} levels, not read")
            return
        content_type = _content_type(part)
        maintype, _, subtype = content_type.partition("/")
        self._note_defects(part, where)
        if maintype == "multipart":
            if subtype == "report":
                report_type = (_param(part, "report-type") or "").lower()
                is_bounce = report_type == "delivery-status"
                self.signals.add(AutoSignal.BOUNCE if is_bounce else AutoSignal.REPORT)
            payload = part.get_payload()
            if not isinstance(payload, list):
                # No boundary found: the parser kept the body as one string.
                self.note(f"{where}: multipart without its parts (bad or missing boundary)")
                self._leaf(part, where, "text/plain", in_related=in_related)
                return
            for index, child in enumerate(payload, start=1):
                if isinstance(child, Message):
                    self._walk(
                        child, f"{where}.{index}", depth + 1, in_related=subtype == "related"
                    )
            return
        if content_type == "message/delivery-status":
            self._delivery_status(part, where)
            return
        if maintype == "message" and part.is_multipart():
            self._attached_message(part, where, content_type)
            return
        self._leaf(part, where, content_type, in_related=in_related)

    def _leaf(self, part: Message, where: str, content_type: str, *, in_related: bool) -> None:
        data = _payload_bytes(part, self.note, where)
        self._note_defects(part, where)
        disposition = _disposition(part)
        filename = _filename(part, self.note, where)
        is_body_type = content_type in {"text/plain", "text/html"}
        if is_body_type and disposition != "attachment" and not filename:
            text, note = _decode_text(data, _charset(part))
            if note:
                self.note(f"{where} ({content_type}): {note}")
            (self.texts if content_type == "text/plain" else self.htmls).append(text)
            return
        content_id = _strip_brackets(_CONTROL.sub("", _raw_header(part, "Content-ID"))) or None
        is_inline = disposition == "inline" or (
            disposition is None and content_id is not None and in_related
        )
        self._keep_attachment(
            filename or _default_filename(content_type, len(self.attachments) + 1),
            content_type,
            data,
            content_id,
            is_inline,
            where,
        )

    def _keep_attachment(
        self,
        filename: str,
        content_type: str,
        data: bytes,
        content_id: str | None,
        is_inline: bool,
        where: str,
    ) -> None:
        content: bytes | None = data
        limit = self.max_attachment_bytes
        if limit is not None and len(data) > limit:
            self.note(
                f"{where}: attachment {filename!r} is {len(data)} bytes, over the "
                f"{limit}-byte limit: kept as a name only, its content was dropped"
            )
            content = None
        self.attachments.append(
            Attachment(filename, content_type, len(data), content_id, is_inline, content)
        )

    def _attached_message(self, part: Message, where: str, content_type: str) -> None:
        """A forwarded message/rfc822: kept whole as an .eml attachment, not walked for
        bodies (its text is someone else's message, not this one's)."""
        inner = part.get_payload(0) if isinstance(part.get_payload(), list) else None
        data = b""
        subject = ""
        if isinstance(inner, Message):
            try:
                data = inner.as_bytes(policy=policy.compat32)
            except Exception as error:
                self.note(f"{where}: the attached message could not be re-serialized ({error!r})")
                data = str(inner).encode("utf-8", "surrogateescape")
            subject = _Headers(inner, self.note).text("Subject")
        filename = _filename(part, self.note, where) or _safe_filename(
            f"{subject or 'message'}.eml"
        )
        self._keep_attachment(filename, content_type, data, None, False, where)

    def _delivery_status(self, part: Message, where: str) -> None:
        """The machine-readable half of a bounce: keep it as text and note who failed."""
        self.signals.add(AutoSignal.BOUNCE)  # even when report-type was left out
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        lines: list[str] = []
        for block in blocks:
            if not isinstance(block, Message):
                continue
            block_headers = _Headers(block, self.note)
            for name, _ in block.raw_items():
                lines.append(f"{name}: {block_headers.text(name)}")
            lines.append("")
            action = block_headers.text("Action").lower()
            recipient = block_headers.text("Final-Recipient") or block_headers.text(
                "Original-Recipient"
            )
            if recipient and action.startswith("failed"):
                self.bounced.append(recipient.rpartition(";")[2].strip().strip("<>"))
        data = "\n".join(lines).encode("utf-8") if lines else _payload_bytes(part, self.note, where)
        self._keep_attachment(
            "delivery-status.txt", "message/delivery-status", data, None, False, where
        )

    def _note_defects(self, part: Message, where: str) -> None:
        for defect in getattr(part, "defects", []):
            detail = str(defect) or type(defect).__doc__ or ""
            self.note(f"{where}: {type(defect).__name__}: {detail.strip()}".rstrip(": "))


# -- headers --------------------------------------------------------------------------


class _Headers:
    """Raw header values of one message or part, decoded on demand and never raising."""

    def __init__(self, message: Message | None, note: _Note) -> None:
        self._values: dict[str, list[str]] = {}
        self._note = note
        if message is None:
            return
        try:
            for name, value in message.raw_items():
                self._values.setdefault(str(name).strip().lower(), []).append(str(value))
        except Exception as error:
            note(f"headers could not be read ({error!r})")

    def has(self, name: str) -> bool:
        return name.lower() in self._values

    def raw(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        return _unfold(values[0]) if values else None

    def text(self, name: str) -> str:
        raw = self.raw(name)
        if raw is None:
            return ""
        text, notes = _decode_header_text(raw)
        for problem in notes:
            self._note(f"{name} header: {problem}")
        return text

    def msg_ids(self, name: str) -> list[str]:
        raw = self.raw(name)
        if raw is None:
            return []
        raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        found = [f"<{core}>" for core in _MSG_ID.findall(raw)]
        if not found:  # written without brackets, which some mailers do
            bare = (token.strip("<>") for token in raw.split() if "@" in token)
            found = [f"<{core}>" for core in bare if re.fullmatch(_MSG_ID_CORE, core)]
            if found:
                self._note(f"{name} header: message ids without angle brackets")
            elif raw.strip():
                self._note(f"{name} header: no message id in {raw.strip()[:80]!r}")
        return found

    def first_msg_id(self, name: str) -> str | None:
        ids = self.msg_ids(name)
        return ids[0] if ids else None

    def addresses(self, name: str) -> tuple[Address, ...]:
        values = self._values.get(name.lower(), [])
        found: list[Address] = []
        for value in values:
            try:
                pairs = getaddresses([_unfold(value)])
            except Exception as error:
                self._note(f"{name} header could not be parsed ({error!r})")
                continue
            for raw_name, raw_address in pairs:
                address, _ = _decode_header_text(raw_address)
                address = address.strip().strip("<>").strip()
                if not address:
                    continue
                if "@" not in address and not re.fullmatch(r"[\w.+-]+", address):
                    self._note(f"{name} header: {address[:80]!r} is not an address, left out")
                    continue
                display, notes = _decode_header_text(raw_name)
                for problem in notes:
                    self._note(f"{name} header: {problem}")
                found.append(Address(display.strip().strip('"').strip(), address))
        return tuple(found)

    def return_path(self) -> str | None:
        raw = self.raw("Return-Path")
        if raw is None:
            return None
        text, _ = _decode_header_text(raw)
        return text.strip().strip("<>").strip()

    def date(self) -> datetime | None:
        raw = self.text("Date").strip()
        if not raw:
            return None
        try:
            moment = parsedate_to_datetime(raw)
        except Exception:
            self._note(f"Date header: cannot read {raw[:80]!r}")
            return None
        if moment.tzinfo is None:
            # "-0000" means UTC with the sender's zone unknown (RFC 5322 §3.3); a date
            # with no zone at all is read the same way.
            if not re.search(r"-0000\s*$", raw):
                self._note("Date header: no time zone, read as UTC")
            moment = moment.replace(tzinfo=UTC)
        return moment


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", " ").replace("\n", " ")


def _decode_header_text(raw: str) -> tuple[str, list[str]]:
    """RFC 2047 encoded words and raw 8-bit bytes to one clean line of text.

    Adjacent encoded words in one charset are joined before decoding, because mailers
    split multi-byte characters across them; whitespace between them is dropped.
    """
    notes: list[str] = []
    pieces: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            text, note = _decode_text(bytes(pending), pending_charset)
            pieces.append(text)
            if note:
                notes.append(note)
        pending, pending_charset = bytearray(), None

    position = 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[position : match.start()]
        if between and (between.strip() or pending_charset is None):
            flush()
            pieces.append(_decode_plain(between, notes))
        position = match.end()
        charset = match.group(1).split("*", 1)[0]
        decoded = _decode_encoded_word(match.group(2), match.group(3), notes)
        if decoded is None:
            flush()
            pieces.append(match.group(0))
            continue
        if pending_charset is not None and pending_charset.lower() != charset.lower():
            flush()
        pending_charset = charset
        pending += decoded
    flush()
    pieces.append(_decode_plain(raw[position:], notes))
    return _HEADER_SPACE.sub(" ", "".join(pieces)).strip(), notes


def _decode_plain(text: str, notes: list[str]) -> str:
    """Header text outside encoded words: ASCII, or raw 8-bit bytes (as surrogates)."""
    if text.isascii():
        return text
    decoded, note = _decode_text(text.encode("utf-8", "surrogateescape"), None)
    if note:
        notes.append(f"unencoded 8-bit text: {note}")
    return decoded


def _decode_encoded_word(encoding: str, payload: str, notes: list[str]) -> bytes | None:
    data = payload.encode("ascii", "surrogateescape")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    try:
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
    except binascii.Error:
        notes.append(f"broken base64 encoded word {payload[:40]!r} kept as written")
        return None


# -- charsets -------------------------------------------------------------------------


def _codec(label: str | None) -> str | None:
    """Python's codec name for a MIME charset label, or None if unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _UNKNOWN_CHARSETS:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # "base64", "rot13", "zlib": codecs, but not charsets
    return info.name


def _decode_text(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Bytes to text, trying the declared charset, UTF-8, then a guess; never raises.

    Returns the text and a note when the declared charset was not used as given.
    """
    codec = _codec(declared)
    note: str | None = None
    if declared and codec is None:
        note = f"unknown charset {declared!r}"
    text: str | None = None
    if codec is not None:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            note = f"not valid {declared}"
        else:
            if codec in _OFTEN_MISLABELLED and not data.isascii():
                better, better_codec = _best_guess(data)
                sample = _sample(data)
                declared_score = _plausibility(sample.decode(codec, "replace"))
                if _plausibility(sample.decode(better_codec, "replace")) > declared_score + 2:
                    note = f"labelled {declared} but reads as {better_codec}"
                    text = better
    if text is None:
        if data.isascii():
            text = data.decode("ascii")
        else:
            try:
                text = data.decode("utf-8")
                used = "utf-8"
            except UnicodeDecodeError:
                text, used = _best_guess(data)
            if declared or used != "utf-8":
                note = f"{note or 'no charset declared'}: decoded as {used}"
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
        note = f"{note + '; ' if note else ''}NUL characters replaced"
    return text, note


def _best_guess(data: bytes) -> tuple[str, str]:
    """The text of `data` in the most plausible of `_GUESSES`, and that charset."""
    sample = _sample(data)
    best_codec, best_score = "latin-1", float("-inf")
    for codec in _GUESSES:
        try:
            data.decode(codec)
        except UnicodeDecodeError:
            continue
        score = _plausibility(sample.decode(codec, "replace"))
        if score > best_score:
            best_codec, best_score = codec, score
    return data.decode(best_codec), best_codec


def _sample(data: bytes) -> bytes:
    """The words with 8-bit bytes in them, enough to judge a charset by: scoring a whole
    multi-megabyte body character by character would stall ingestion."""
    words = itertools.islice(_EIGHT_BIT_WORD.finditer(data), _SAMPLE_WORDS)
    return b" ".join(match.group(0) for match in words)


def _is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u04ff"


def _plausibility(text: str) -> float:
    """How much `text` looks like human writing rather than mojibake (higher is better).

    Wrong single-byte charsets betray themselves by: words mixing Cyrillic and Latin
    letters, symbols or C1 controls between letters, case flipping inside words (KOI8-R
    read as windows-1251 and back), and long Latin words made only of accented letters
    (Cyrillic read as windows-1252).

    A space scores nothing and ends a word, so the score is the sum of the scores of
    the space-separated pieces; pieces repeat (the same words, decoded the same way, in
    message after message), so each piece is scored once.
    """
    return sum(map(_piece_plausibility, text.split(" ")))


@functools.lru_cache(maxsize=65_536)
def _piece_plausibility(text: str) -> float:
    """`_plausibility` of a piece of text without spaces."""
    if text.isascii() and text.isprintable():
        return 0.0  # no 8-bit letter, no control character: nothing to judge
    score = 0.0
    word: list[str] = []

    def finish_word() -> None:
        nonlocal score
        non_ascii = [c for c in word if not c.isascii()]
        if non_ascii:
            cyrillic = sum(map(_is_cyrillic, word))
            if cyrillic and cyrillic != len(word):
                score -= 2 * len(non_ascii)
            elif not cyrillic and len(word) >= 4 and len(non_ascii) == len(word):
                score -= len(non_ascii)
            else:
                score += len(non_ascii)
            flips = sum(1 for a, b in itertools.pairwise(word) if a.islower() and b.isupper())
            score -= 2 * flips
            score += 0.1 * sum(1 for c in non_ascii if c.islower())
        word.clear()

    previous = ""
    for index, char in enumerate(text):
        if char.isalpha():
            word.append(char)
        else:
            finish_word()
            category = unicodedata.category(char)
            if (category.startswith("C") and char not in "\t\n\r") or char == "\ufffd":
                score -= 3
            elif not char.isascii() and previous.isalpha():
                following = text[index + 1 : index + 2]
                if following.isalpha():
                    score -= 2
        previous = char
    finish_word()
    return score


# -- parts ----------------------------------------------------------------------------


def _raw_header(part: Message, name: str) -> str:
    try:
        for key, value in part.raw_items():
            if key.lower() == name.lower():
                return (
                    _unfold(str(value))
                    .encode("utf-8", "surrogateescape")
                    .decode("utf-8", "replace")
                )
    except Exception:
        return ""
    return ""


def _content_type(part: Message) -> str:
    try:
        content_type = part.get_content_type()
    except Exception:
        return "application/octet-stream"
    if not re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", content_type):
        return "application/octet-stream"
    return content_type


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _payload_bytes(part: Message, note: _Note, where: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as error:
        note(f"{where}: content could not be decoded ({error!r}), kept as written")
        raw = part.get_payload()
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data if isinstance(data, bytes) else b""


def _filename(part: Message, note: _Note, where: str) -> str:
    try:
        name = part.get_filename()
    except Exception as error:
        note(f"{where}: file name could not be read ({error!r})")
        return ""
    if not name:
        return ""
    if "=?" in name or not name.isascii():
        name, _ = _decode_header_text(name)
    return _safe_filename(name)


def _safe_filename(name: str) -> str:
    """A name to show and to store under: no directories, no control characters."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = _CONTROL.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = name.lstrip(".") or ""
    return name[:255]


def _default_filename(content_type: str, index: int) -> str:
    maintype, _, subtype = content_type.partition("/")
    extension = re.sub(r"[^a-z0-9]", "", subtype.split("+")[0])[:10] or "bin"
    return f"{maintype or 'part'}-{index}.{extension}"


def _storable(text: str) -> str:
    """`text` without lone surrogates or control characters (which quote raw input)."""
    text = re.sub(r"[\ud800-\udfff]", "\ufffd", text)
    return _CONTROL.sub("\ufffd", text)


def _strip_brackets(value: str | None) -> str:
    return (value or "").strip().strip("<>").strip()
