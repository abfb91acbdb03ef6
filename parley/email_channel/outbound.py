"""Mail out: every email Parley sends is stored first, then handed to SMTP (F-EM-4).

An outgoing email — an agent's reply, reply-all, forward or new email, or an automatic
acknowledgement — becomes a `Message` (kind email, direction outbound) whose
`external_id` is its Message-ID, committed with delivery status `pending` BEFORE the
server is contacted. Then `deliver` rebuilds the MIME message from the stored row
(compose.py), sends it (smtp.py) and records the outcome in `headers["delivery"]`:
`sent`, or `failed` with the server's reason and whether a retry may help. So a refused
or unreachable server, or a crash mid-send, never loses what the agent wrote: the row is
there, shown in the thread with its status, and `retry` sends the same message (same
Message-ID, same bytes but for nothing) again.

Because the Message-ID is stored on the case, the customer's answer (In-Reply-To: our
id) threads into the same case through the ordinary ingest; and a copy of our own mail
fetched back from a mailbox is recognised as already stored.

`headers` of an outgoing message, besides `delivery`: `message_id`, `from`, `to`, `cc`,
`bcc` (lists of {name, address}, as ingestion stores them), `in_reply_to`,
`references`, `date`, `attachments` (metadata, files under the data dir),
`email_account_id`, `mode` (reply, reply_all, forward, new, acknowledgement) and
`automatic`.

Each outcome is announced on the bus once recorded: `email.sent` or `email.send_failed`,
with `message_id`, `case_id`, `interaction_id`, `agent_id` (the author) and, on failure,
`error` and `is_temporary`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.email_channel.attachments import read_files, store_files
from parley.email_channel.compose import (
    OutgoingAttachment,
    OutgoingEmail,
    build_message,
    new_message_id,
)
from parley.email_channel.smtp import SmtpEndpoint, SmtpFailed, send_mail
from parley.platform.bus import Bus, Event
from parley.platform.clock import Clock, SystemClock
from parley.platform.config import Settings
from parley.platform.db import Database
from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import Direction, EmailAccount, Message, MessageKind
from parley.platform.secret_box import SecretBox, SecretUnreadable

log = structlog.get_logger(__name__)

# A send still marked "sending" after this long died with its process: it may go again.
_STALE_SENDING = timedelta(minutes=5)
# What a restart sends by itself (see `deliver_waiting`).
_RESEND_WITHIN = timedelta(days=1)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # stored, not tried yet (or the process stopped before trying)
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class SendMode(StrEnum):
    REPLY = "reply"
    REPLY_ALL = "reply_all"
    FORWARD = "forward"
    NEW = "new"
    ACKNOWLEDGEMENT = "acknowledgement"


class EmailNotSent(DomainError):
    """The email is stored (status failed) but the server did not take it."""

    status_code = 502

    def __init__(self, message_id: int, reason: str) -> None:
        super().__init__(
            "email_not_sent",
            f"Email {message_id} is kept but was not sent: {reason}. Retry it later.",
        )
        self.message_id = message_id
        self.reason = reason


class AlreadySent(Conflict):
    def __init__(self, message_id: int, status: str) -> None:
        super().__init__("not_retryable", f"Email {message_id} is {status}: nothing to retry.")


@dataclass(frozen=True, slots=True)
class Draft:
    """What to store and send: addresses are bare (`a@b`), validated by the caller."""

    account_id: int
    case_id: int | None
    interaction_id: int | None
    author_user_id: int | None
    mode: SendMode
    to: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[dict[str, Any], ...] = ()  # metadata of files already stored


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: int
    status: DeliveryStatus
    error: str | None = None


def delivery_of(message: Message) -> dict[str, Any]:
    delivery = message.headers.get("delivery")
    return dict(delivery) if isinstance(delivery, dict) else {}


def _people(addresses: Sequence[str]) -> list[dict[str, str]]:
    return [{"name": "", "address": address} for address in addresses]


class Outbox:
    """Stores and sends outgoing mail; one per process, shared by the API and ingest."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Clock | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        bus: Bus | None = None,
    ) -> None:
        self._database = database
        self._bus = bus
        self._data_dir = Path(settings.data_dir)
        self._secrets = SecretBox(settings.resolved_secret_key())
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._tls_context = tls_context

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    async def store_files(self, files: Sequence[OutgoingAttachment]) -> list[dict[str, Any]]:
        """Keep attachments on disk (in a thread) and return their metadata."""
        if not files:
            return []
        return await asyncio.to_thread(store_files, self._data_dir, list(files))

    async def read_files(self, entries: Sequence[dict[str, Any]]) -> list[OutgoingAttachment]:
        if not entries:
            return []
        return await asyncio.to_thread(read_files, self._data_dir, list(entries))

    # --- storing ---------------------------------------------------------------------

    async def add(self, db: AsyncSession, draft: Draft, *, automatic: bool = False) -> Message:
        """Add the outgoing message to `db`'s transaction, status pending; flushed, so
        it has its id. The caller commits, then calls `deliver`."""
        account = await db.get(EmailAccount, draft.account_id)
        if account is None:
            raise NotFound("Mailbox", draft.account_id)
        from_address = account.from_address or account.smtp_username or account.imap_username
        now = self._clock.now()
        message_id = new_message_id(from_address)
        message = Message(
            kind=MessageKind.EMAIL,
            direction=Direction.OUTBOUND,
            interaction_id=draft.interaction_id,
            case_id=draft.case_id,
            author_user_id=draft.author_user_id,
            external_id=message_id,
            subject=draft.subject[:998],
            body_text=draft.text,
            body_html=draft.html,
            created_at=now,
            headers={
                "message_id": message_id,
                "from": {"name": account.name, "address": from_address},
                "to": _people(draft.to),
                "cc": _people(draft.cc),
                "bcc": _people(draft.bcc),
                "in_reply_to": draft.in_reply_to,
                "references": list(draft.references),
                "date": now.isoformat(),
                "attachments": list(draft.attachments),
                "email_account_id": account.id,
                "mode": draft.mode.value,
                "automatic": automatic,
                "delivery": {"status": DeliveryStatus.PENDING.value, "attempts": 0},
            },
        )
        db.add(message)
        await db.flush()
        return message

    async def send(self, draft: Draft) -> Delivery:
        """Store `draft` and send it; `EmailNotSent` (the email kept) if the server
        did not take it."""
        async with self._database.transaction() as db:
            message_id = (await self.add(db, draft)).id
        return await self.deliver(message_id, raise_on_failure=True)

    # --- sending ---------------------------------------------------------------------

    async def retry(self, message_id: int) -> Delivery:
        """Send a failed (or never tried) email again; `AlreadySent` if it went out."""
        async with self._database.transaction() as db:
            message = await db.get(Message, message_id)
            if message is None or message.direction is not Direction.OUTBOUND:
                raise NotFound("Email", message_id)
            status = delivery_of(message).get("status")
            if status == DeliveryStatus.SENT or (
                status == DeliveryStatus.SENDING and not self._is_stale(message)
            ):
                raise AlreadySent(message_id, str(status))
        return await self.deliver(message_id, raise_on_failure=True)

    async def deliver(self, message_id: int, *, raise_on_failure: bool = False) -> Delivery:
        """Send the stored email `message_id` and record the outcome."""
        now = self._clock.now()
        async with self._database.transaction() as db:
            message = await db.get_one(Message, message_id, with_for_update=True)
            delivery = delivery_of(message)
            if delivery.get("status") == DeliveryStatus.SENT:
                return Delivery(message_id, DeliveryStatus.SENT)
            if delivery.get("status") == DeliveryStatus.SENDING and not self._is_stale(message):
                raise AlreadySent(message_id, DeliveryStatus.SENDING.value)
            delivery |= {
                "status": DeliveryStatus.SENDING.value,
                "attempts": int(delivery.get("attempts", 0)) + 1,
                "last_attempt_at": now.isoformat(),
            }
            message.headers = {**message.headers, "delivery": delivery}
            headers = dict(message.headers)
            account = await db.get(EmailAccount, headers.get("email_account_id"))
            outgoing, endpoint, error = None, None, None
            if account is None:
                error = "its mailbox no longer exists"
            else:
                try:
                    endpoint = self._endpoint(account)
                except SecretUnreadable:
                    error = "the mailbox's SMTP password cannot be read: enter it again"
            subject, text, html = message.subject, message.body_text, message.body_html
        mime = None
        if error is None:
            try:
                files = await self.read_files(headers.get("attachments", []))
                outgoing = _outgoing(headers, subject, text, html, files)
                mime = build_message(outgoing)
            except (OSError, ValueError, KeyError) as problem:
                error = f"the message cannot be composed: {problem}"
        is_temporary, reply = False, ""
        if error is None:
            assert outgoing is not None and endpoint is not None and mime is not None
            try:
                reply = await send_mail(endpoint, mime, outgoing.from_address, outgoing.recipients)
            except SmtpFailed as failure:
                error, is_temporary = failure.reason, failure.is_temporary
            except Exception as problem:  # still recorded: the email must stay retryable
                log.exception("email.send_crashed", message_id=message_id)
                error, is_temporary = f"sending failed unexpectedly ({problem!r})", True
        return await self._record(message_id, error, is_temporary, reply, raise_on_failure)

    async def _record(
        self,
        message_id: int,
        error: str | None,
        is_temporary: bool,
        reply: str,
        raise_on_failure: bool,
    ) -> Delivery:
        now = self._clock.now()
        async with self._database.transaction() as db:
            message = await db.get_one(Message, message_id)
            delivery = delivery_of(message)
            if error is None:
                delivery |= {
                    "status": DeliveryStatus.SENT.value,
                    "sent_at": now.isoformat(),
                    "server_reply": reply[:500],
                    "error": None,
                }
            else:
                delivery |= {
                    "status": DeliveryStatus.FAILED.value,
                    "error": error[:1000],
                    "is_temporary": is_temporary,
                }
            message.headers = {**message.headers, "delivery": delivery}
            case_id = message.case_id
            about = {
                "message_id": message_id,
                "case_id": case_id,
                "interaction_id": message.interaction_id,
                "agent_id": message.author_user_id,
            }
        if error is None:
            log.info("email.sent", message_id=message_id, case_id=case_id)
            await self._announce("email.sent", about)
            return Delivery(message_id, DeliveryStatus.SENT)
        log.warning(
            "email.send_failed",
            message_id=message_id,
            case_id=case_id,
            error=error,
            is_temporary=is_temporary,
        )
        await self._announce(
            "email.send_failed", about | {"error": error, "is_temporary": is_temporary}
        )
        if raise_on_failure:
            raise EmailNotSent(message_id, error)
        return Delivery(message_id, DeliveryStatus.FAILED, error)

    async def deliver_waiting(self) -> int:
        """Send every recent stored email still pending (a process stopped before
        sending it); how many went out. Older ones wait for an agent's retry: a reply
        days late is no longer the reply it was."""
        since = self._clock.now() - _RESEND_WITHIN
        async with self._database.transaction() as db:
            rows = await db.scalars(
                select(Message).where(
                    Message.kind == MessageKind.EMAIL,
                    Message.direction == Direction.OUTBOUND,
                    Message.created_at >= since,
                )
            )
            waiting = [m.id for m in rows if delivery_of(m).get("status") == "pending"]
        sent = 0
        for message_id in waiting:
            sent += (await self.deliver(message_id)).status is DeliveryStatus.SENT
        return sent

    async def _announce(self, type_: str, payload: dict[str, Any]) -> None:
        """Publish the outcome; a bus that cannot take it (stopping) loses only news:
        the outcome itself is stored."""
        if self._bus is None:
            return
        try:
            await self._bus.publish(Event.create(type_, payload, self._clock.now()))
        except Exception:
            log.exception("email.announce_failed", event=type_, message_id=payload["message_id"])

    def _is_stale(self, message: Message) -> bool:
        started = delivery_of(message).get("last_attempt_at")
        if not started:
            return True
        return self._clock.now() - datetime.fromisoformat(started) > _STALE_SENDING

    def _endpoint(self, account: EmailAccount) -> SmtpEndpoint:
        return SmtpEndpoint(
            host=account.smtp_host,
            port=account.smtp_port,
            tls=account.smtp_tls,
            username=account.smtp_username,
            password=self._secrets.open(account.smtp_password_sealed),
            timeout=self._timeout,
            tls_context=self._tls_context,
        )


def _addresses(people: Any) -> tuple[str, ...]:
    if not isinstance(people, list):
        return ()
    return tuple(str(p["address"]) for p in people if isinstance(p, dict) and p.get("address"))


def _outgoing(
    headers: dict[str, Any],
    subject: str,
    text: str,
    html: str,
    files: list[OutgoingAttachment],
) -> OutgoingEmail:
    sender = headers.get("from") or {}
    return OutgoingEmail(
        message_id=str(headers["message_id"]),
        from_address=str(sender.get("address", "")),
        from_name=str(sender.get("name", "")),
        to=_addresses(headers.get("to")),
        cc=_addresses(headers.get("cc")),
        bcc=_addresses(headers.get("bcc")),
        subject=subject,
        text=text,
        html=html,
        date=datetime.fromisoformat(str(headers["date"])),
        in_reply_to=headers.get("in_reply_to"),
        references=tuple(headers.get("references") or ()),
        attachments=tuple(files),
        is_automatic=bool(headers.get("automatic")),
    )
