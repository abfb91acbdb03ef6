"""Mailboxes: one IMAP inbox read into a queue, and the SMTP server replies leave by;
the email templates agents and auto-acknowledgements write from; agents' drafts."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.platform.db.base import Base, TimestampMixin, str_enum


class TlsMode(StrEnum):
    NONE = "none"  # plaintext: only for a server on the same host or in tests
    STARTTLS = "starttls"
    TLS = "tls"  # TLS from the first byte (IMAPS 993, SMTPS 465)


class EmailAccount(TimestampMixin, Base):
    """A mailbox of one queue (F-EM-1).

    Passwords are stored sealed by `parley.platform.secret_box.SecretBox`, never in clear.
    `uidvalidity` and `last_uid` are the ingestion bookmark: every message with a UID up
    to `last_uid` in that UIDVALIDITY epoch is stored, so a restart resumes after it.
    """

    __tablename__ = "email_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="RESTRICT"), index=True)
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(default=993)
    imap_username: Mapped[str] = mapped_column(String(320))
    imap_password_sealed: Mapped[str] = mapped_column(Text, default="")
    imap_tls: Mapped[TlsMode] = mapped_column(str_enum(TlsMode), default=TlsMode.TLS)
    imap_folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    # 32-bit unsigned on the wire: wider than a signed INTEGER.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(default=587)
    smtp_username: Mapped[str] = mapped_column(String(320), default="")
    smtp_password_sealed: Mapped[str] = mapped_column(Text, default="")
    smtp_tls: Mapped[TlsMode] = mapped_column(str_enum(TlsMode), default=TlsMode.STARTTLS)
    from_address: Mapped[str] = mapped_column(String(320), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # F-EM-3: acknowledge new mail (loop and bounce rules in email_channel/autoreply.py),
    # from this template, or from the built-in text when there is none.
    auto_ack_enabled: Mapped[bool] = mapped_column(default=False)
    auto_ack_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="SET NULL"), default=None
    )


class EmailTemplate(TimestampMixin, Base):
    """A Jinja2 text (rendered sandboxed) an agent starts a reply from, or an
    auto-acknowledgement is written with; managed by admins (F-EM-4, F-EM-3)."""

    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    subject: Mapped[str] = mapped_column(String(998), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)


class EmailDraft(TimestampMixin, Base):
    """An email an agent is writing on an interaction and has not sent yet.

    `mode` is reply, reply_all, forward or new; `parent_message_id` the message it answers
    or forwards. Attachments are already on disk (content-addressed, as ingested ones),
    `attachments` holds their metadata.
    """

    __tablename__ = "email_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    author_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    parent_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    mode: Mapped[str] = mapped_column(String(20), default="reply")
    to: Mapped[list[str]] = mapped_column(default=list)
    cc: Mapped[list[str]] = mapped_column(default=list)
    bcc: Mapped[list[str]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(998), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(default=list)
