"""Outgoing mail built from plain values, with no I/O (F-EM-4).

`OutgoingEmail` is everything a sent email is made of: the sender, the recipients, the
subject (with the case token, see threads.reply_subject), the text and HTML bodies, the
threading headers of the reply (threads.reply_headers), the attachments' bytes, and the
Message-ID chosen when it was composed. `build_message` turns it into an
`email.message.EmailMessage` under `policy.SMTP` (CRLF line ends, headers folded and
encoded as RFC 5322 and 2047 require), so the same value always gives the same mail and
a retry sends the very message the first attempt tried.

The Message-ID is on the mailbox's own domain (`new_message_id`), so the customer's
answer names it in In-Reply-To and ingestion threads it back into the case. Automatic
mail (the acknowledgement) is marked `Auto-Submitted: auto-replied` (RFC 3834) and
asks Exchange not to answer it, which is what stops two auto-responders talking.
"""

from __future__ import annotations

import html as html_module
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import nh3

_FALLBACK_DOMAIN = "parley.invalid"
_BLOCK_END = re.compile(r"</(?:p|div|h[1-6]|li|tr|table|blockquote)\s*>|<br\s*/?>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_COMPOSED_TAGS = frozenset(
    {"a", "b", "blockquote", "br", "div", "em", "i", "img", "li", "ol", "p", "s", "strong"}
    | {"u", "ul"}
)


class InvalidAddress(ValueError):
    """An address that cannot go into a header (no @, line breaks, bad characters)."""


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None  # without brackets: an inline image named by cid:
    is_inline: bool = False


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    message_id: str  # with angle brackets, as everywhere in this package
    from_address: str
    from_name: str
    to: tuple[str, ...]
    subject: str
    text: str
    date: datetime
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()  # envelope only: never written into the headers
    html: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[OutgoingAttachment, ...] = ()
    is_automatic: bool = False
    extra_headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient, each once, Bcc included."""
        return tuple(dict.fromkeys(a.lower() for a in (*self.to, *self.cc, *self.bcc)))


def mailbox_domain(address: str) -> str:
    """The domain part of the mailbox's address: where its Message-IDs come from."""
    domain = address.rpartition("@")[2].strip().lower()
    return domain or _FALLBACK_DOMAIN


def new_message_id(from_address: str) -> str:
    """A fresh, globally unique Message-ID on the mailbox's domain: `<...@domain>`."""
    return make_msgid(domain=mailbox_domain(from_address))


def normalize_address(value: str) -> str:
    """`Name <a@b>` or `a@b` as the bare address, or `InvalidAddress`."""
    if "\r" in value or "\n" in value:
        raise InvalidAddress(value)
    _name, address = parseaddr(value.strip())
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or " " in address or len(address) > 320:
        raise InvalidAddress(value)
    return address


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of an HTML body (tags dropped, blocks kept as
    line breaks), for mail clients that show only text."""
    marked = _BLOCK_END.sub("\n", html)
    text = nh3.clean(marked, tags=set(), attributes={})
    # No-break spaces as spaces: editors put them where two spaces or a space at the
    # edge of a formatted run would otherwise collapse.
    text = html_module.unescape(text).replace("\r\n", "\n").replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


def clean_composed_html(html: str) -> str:
    """The agent's rich text as we send it: what the desktop's small editor makes (bold,
    italic, underline, lists, quotes, links, inline images named by `cid:`) and nothing
    else, whatever the browser pasted into it."""
    return nh3.clean(
        _CONTROL.sub(" ", html).strip(),
        tags=set(_COMPOSED_TAGS),
        attributes={"a": {"href"}, "img": {"src", "alt"}},
        url_schemes={"http", "https", "mailto", "cid"},
        attribute_filter=_composed_attribute,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _composed_attribute(tag: str, attribute: str, value: str) -> str | None:
    # An image is one of the email's own parts: nothing is fetched from elsewhere.
    if tag == "img" and attribute == "src":
        return value if value[:4].lower() == "cid:" else None
    return value


def build_message(email: OutgoingEmail) -> EmailMessage:
    """The MIME message of `email`: text (and HTML when given) plus attachments."""
    message = EmailMessage(policy=policy.SMTP)
    message["Message-ID"] = email.message_id
    message["Date"] = format_datetime(email.date)
    message["From"] = _header_address(email.from_name, email.from_address)
    message["To"] = ", ".join(_header_address("", a) for a in email.to)
    if email.cc:
        message["Cc"] = ", ".join(_header_address("", a) for a in email.cc)
    message["Subject"] = header_text(email.subject)
    if email.in_reply_to:
        message["In-Reply-To"] = email.in_reply_to
    if email.references:
        message["References"] = " ".join(email.references)
    if email.is_automatic:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    for name, value in email.extra_headers:
        message[name] = value
    text = email.text if email.text else (html_to_text(email.html) if email.html else "")
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    inline = [a for a in email.attachments if a.is_inline and a.content_id]
    files = [a for a in email.attachments if a not in inline]
    if email.html:
        message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
        if inline:
            html_part = message.get_body(preferencelist=("html",))
            assert isinstance(html_part, EmailMessage)
            for attachment in inline:
                maintype, subtype = _split_type(attachment.content_type)
                html_part.add_related(
                    attachment.content,
                    maintype=maintype,
                    subtype=subtype,
                    cid=f"<{attachment.content_id}>",
                    filename=attachment.filename or None,
                    disposition="inline",
                )
    else:
        files.extend(inline)  # no HTML to show them in: plain attachments
    for attachment in files:
        maintype, subtype = _split_type(attachment.content_type)
        message.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename or "attachment",
        )
    return message


def header_text(value: str) -> str:
    """`value` fit for a header: control characters (line breaks included, which could
    start a header of their own) become spaces, runs of space become one."""
    return " ".join(_CONTROL.sub(" ", value).split())


def _header_address(name: str, address: str) -> str:
    local, _, domain = normalize_address(address).rpartition("@")
    try:
        return str(HeaderAddress(display_name=header_text(name), username=local, domain=domain))
    except (ValueError, IndexError) as error:
        raise InvalidAddress(address) from error


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.strip().lower().partition("/")
    if not maintype or not subtype or maintype in {"multipart", "message"}:
        return "application", "octet-stream"
    return maintype, subtype
