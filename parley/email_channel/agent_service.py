"""The agent's side of email, orchestrated: read a thread, answer it, forward it, write a
new email, keep drafts, render templates, close without a reply (F-EM-4, F-EM-5).

Who may act is decided at the edge (api.py) from the interaction; this module loads the
case and the message being answered, decides recipients, subject and threading headers,
and has the outbox store and send the result. What it decides:

- reply: to the parent's Reply-To, else its From (for a parent we sent: its To);
- reply all: the same, plus the parent's To and Cc as Cc, less our own mailboxes;
- forward: to whom the agent says, `Fwd:` subject, the parent's text quoted below the
  agent's and its attachments along, References kept so answers still thread;
- every subject carries the case token once (threads.reply_subject).

The parent is the message named, else the case's latest inbound email. Sending stores
the email and moves the case to `pending` (waiting for the customer) in one
transaction, then delivers; a draft sent is deleted in that same transaction, so a
draft is never both sent and still there.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.email_channel import store
from parley.email_channel.compose import OutgoingAttachment
from parley.email_channel.outbound import Delivery, Draft, Outbox, SendMode
from parley.email_channel.sanitize import text_to_html
from parley.email_channel.templates import (
    RenderedTemplate,
    render_template,
    template_variables,
)
from parley.email_channel.threads import case_numbers_in, reply_headers, reply_subject
from parley.platform.db import Database
from parley.platform.engine import Engine
from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import (
    Case,
    CaseStatus,
    Channel,
    Contact,
    ContactIdentity,
    Direction,
    EmailAccount,
    EmailDraft,
    EmailTemplate,
    Interaction,
    InteractionState,
    Message,
    MessageKind,
)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # one file an agent attaches
MAX_TOTAL_ATTACHMENT_BYTES = 25 * 1024 * 1024  # all files of one email, forwarded included
_WAITING_FOR_CUSTOMER = (CaseStatus.NEW, CaseStatus.OPEN)


class AttachmentTooLarge(DomainError):
    status_code = 413

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(
            "attachment_too_large", f"{what} is over the limit of {limit // (1024 * 1024)} MiB."
        )


class BadAttachment(DomainError):
    status_code = 422

    def __init__(self, filename: str) -> None:
        super().__init__("bad_attachment", f"The content of {filename!r} is not valid base64.")


class NothingToAnswer(Conflict):
    def __init__(self, interaction_id: int) -> None:
        super().__init__(
            "nothing_to_answer", f"Interaction {interaction_id} has no email to answer."
        )


class RecipientsRequired(DomainError):
    status_code = 422

    def __init__(self) -> None:
        super().__init__("recipients_required", "Say whom to send this email to.")


class NoMailbox(Conflict):
    def __init__(self) -> None:
        super().__init__("no_mailbox", "No active mailbox can send this email.")


@dataclass(frozen=True, slots=True)
class NewFile:
    """An attachment as the agent sent it: base64 content, not yet decoded."""

    filename: str
    content_type: str
    content_base64: str
    content_id: str | None = None
    is_inline: bool = False


@dataclass(frozen=True, slots=True)
class Composition:
    """What the agent asks for; None for a field means "what the mode implies"."""

    mode: SendMode
    parent_message_id: int | None = None
    to: tuple[str, ...] | None = None
    cc: tuple[str, ...] | None = None
    bcc: tuple[str, ...] = ()
    subject: str | None = None
    text: str = ""
    html: str = ""
    files: tuple[NewFile, ...] = ()
    stored_files: tuple[dict[str, Any], ...] = ()  # already on disk (a draft's)
    include_parent_attachments: bool = True  # forwards only


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: int
    external_id: str
    case_id: int
    delivery: Delivery


@dataclass(slots=True)
class _Resolved:
    account_id: int
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    text: str
    html: str
    in_reply_to: str | None
    references: tuple[str, ...]
    attachments: list[dict[str, Any]] = field(default_factory=list)


def decode_files(files: Sequence[NewFile]) -> list[OutgoingAttachment]:
    """The agent's attachments as bytes, each within `MAX_ATTACHMENT_BYTES`."""
    decoded = []
    for file in files:
        if len(file.content_base64) > (MAX_ATTACHMENT_BYTES * 4) // 3 + 8:
            raise AttachmentTooLarge(repr(file.filename), MAX_ATTACHMENT_BYTES)
        try:
            content = base64.b64decode(file.content_base64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise BadAttachment(file.filename) from error
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise AttachmentTooLarge(repr(file.filename), MAX_ATTACHMENT_BYTES)
        decoded.append(
            OutgoingAttachment(
                filename=file.filename,
                content_type=file.content_type,
                content=content,
                content_id=file.content_id,
                is_inline=file.is_inline,
            )
        )
    return decoded


def _check_total(entries: Sequence[dict[str, Any]]) -> None:
    if sum(int(entry.get("size") or 0) for entry in entries) > MAX_TOTAL_ATTACHMENT_BYTES:
        raise AttachmentTooLarge("The email's attachments", MAX_TOTAL_ATTACHMENT_BYTES)


def _addresses(people: Any) -> list[str]:
    if not isinstance(people, list):
        return []
    return [str(p["address"]) for p in people if isinstance(p, dict) and p.get("address")]


def _unique(addresses: Sequence[str], *, leaving_out: set[str]) -> list[str]:
    kept: dict[str, str] = {}
    for address in addresses:
        key = address.strip().lower()
        if key and key not in leaving_out and key not in kept:
            kept[key] = address.strip()
    return list(kept.values())


def reply_recipients(parent: Message, mode: SendMode, own: set[str]) -> tuple[list[str], list[str]]:
    """To and Cc of a reply (or reply-all) to `parent` (see the module docstring)."""
    headers = parent.headers
    if parent.direction is Direction.OUTBOUND:
        to = _addresses(headers.get("to"))
        others = _addresses(headers.get("cc"))
    else:
        sender = headers.get("from")
        to = _addresses(headers.get("reply_to")) or _addresses([sender] if sender else [])
        others = [*_addresses(headers.get("to")), *_addresses(headers.get("cc"))]
    to = _unique(to, leaving_out=set())
    if mode is not SendMode.REPLY_ALL:
        return to, []
    return to, _unique(others, leaving_out=own | {a.lower() for a in to})


class _Parent:
    """A stored message as threads.reply_headers reads it."""

    def __init__(self, message: Message) -> None:
        self.message_id = message.external_id or ""
        self.message_id_is_generated = bool(message.headers.get("message_id_is_generated"))
        self.in_reply_to: str | None = message.headers.get("in_reply_to")
        self.references = tuple(message.headers.get("references") or ())
        self.subject = message.subject


def _subject_with_token(subject: str, case_id: int) -> str:
    subject = " ".join(subject.split())
    if case_id in case_numbers_in(subject):
        return subject
    return f"{subject} [#{case_id}]".strip()


def _forwarded_text(parent: Message, text: str) -> str:
    headers = parent.headers
    sender = headers.get("from") or {}
    lines = [
        text.rstrip(),
        "",
        "---------- Forwarded message ----------",
        f"From: {sender.get('name', '')} <{sender.get('address', '')}>".replace(" <>", ""),
        f"Date: {headers.get('date') or parent.created_at.isoformat()}",
        f"Subject: {parent.subject}",
        f"To: {', '.join(_addresses(headers.get('to')))}",
        "",
        parent.body_text,
    ]
    return "\n".join(lines).lstrip("\n")


def _forwarded_html(parent: Message, html: str) -> str:
    quoted = parent.body_html or text_to_html(parent.body_text)
    return f"{html}<br><blockquote>{quoted}</blockquote>"


class EmailDesk:
    """The agents' email operations; one per process (api.py keeps it)."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    # --- reading ---------------------------------------------------------------------

    async def thread(self, db: AsyncSession, interaction: Interaction) -> list[Message]:
        """The emails and notes of the interaction's case, oldest first."""
        where = (
            Message.case_id == interaction.case_id
            if interaction.case_id is not None
            else Message.interaction_id == interaction.id
        )
        rows = await db.scalars(
            select(Message)
            .where(where, Message.kind.in_((MessageKind.EMAIL, MessageKind.NOTE)))
            .order_by(Message.created_at, Message.id)
        )
        return list(rows)

    # --- answering -------------------------------------------------------------------

    async def send(
        self,
        interaction_id: int,
        author_id: int,
        request: Composition,
        *,
        draft_id: int | None = None,
    ) -> Sent:
        """Store and send the agent's email on an interaction; `EmailNotSent` (kept as
        failed) when the server refuses it."""
        files = await self._outbox.store_files(decode_files(request.files))
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            case = await self._case_of(db, interaction)
            resolved = await self._resolve(db, interaction, case, request)
            resolved.attachments.extend(files)
            _check_total(resolved.attachments)
            message = await self._outbox.add(
                db, self._draft(resolved, request.mode, case, interaction.id, author_id)
            )
            if case.status in _WAITING_FOR_CUSTOMER:
                case.status = CaseStatus.PENDING
            if case.assignee_id is None:
                case.assignee_id = author_id
            if draft_id is not None:
                await db.execute(delete(EmailDraft).where(EmailDraft.id == draft_id))
            sent_id, external_id, case_id = message.id, message.external_id or "", case.id
        delivery = await self._outbox.deliver(sent_id, raise_on_failure=True)
        return Sent(sent_id, external_id, case_id, delivery)

    async def send_new(
        self,
        author_id: int,
        account_id: int,
        request: Composition,
        contact_id: int | None = None,
    ) -> Sent:
        """A new email to a customer, opening its case (assigned to the author, waiting
        for the customer); the answer threads into that case."""
        if not request.to:
            raise RecipientsRequired()
        files = await self._outbox.store_files(decode_files(request.files))
        _check_total(files)
        async with self._database.transaction() as db:
            account = await db.get(EmailAccount, account_id)
            if account is None or not account.is_active:
                raise NotFound("Mailbox", account_id)
            if contact_id is None:
                first = request.to[0].strip().lower()
                contact_id = await store.contact_for_address(db, first, "")
            elif await db.get(Contact, contact_id) is None:
                raise NotFound("Contact", contact_id)
            subject = " ".join((request.subject or "").split())
            case = Case(
                subject=subject[:500],
                queue_id=account.queue_id,
                contact_id=contact_id,
                assignee_id=author_id,
                status=CaseStatus.PENDING,
            )
            db.add(case)
            await db.flush()
            message = await self._outbox.add(
                db,
                Draft(
                    account_id=account.id,
                    case_id=case.id,
                    interaction_id=None,
                    author_user_id=author_id,
                    mode=SendMode.NEW,
                    to=tuple(request.to),
                    cc=tuple(request.cc or ()),
                    bcc=request.bcc,
                    subject=_subject_with_token(subject, case.id),
                    text=request.text,
                    html=request.html,
                    attachments=tuple(files),
                ),
            )
            sent_id, external_id, case_id = message.id, message.external_id or "", case.id
        delivery = await self._outbox.deliver(sent_id, raise_on_failure=True)
        return Sent(sent_id, external_id, case_id, delivery)

    # --- drafts ----------------------------------------------------------------------

    async def save_draft(
        self,
        interaction_id: int,
        author_id: int,
        request: Composition,
        draft_id: int | None = None,
    ) -> EmailDraft:
        """Create a draft (recipients and subject filled in from the mode when not
        given, so it shows what would be sent), or update `draft_id` with what is set."""
        files = await self._outbox.store_files(decode_files(request.files))
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            case = await self._case_of(db, interaction)
            if draft_id is None:
                resolved = await self._resolve(db, interaction, case, request)
                draft = EmailDraft(
                    interaction_id=interaction.id,
                    author_user_id=author_id,
                    parent_message_id=request.parent_message_id
                    or await self._parent_id(db, case, interaction),
                    mode=request.mode.value,
                    to=list(resolved.to),
                    cc=list(resolved.cc),
                    bcc=list(resolved.bcc),
                    subject=resolved.subject,
                    body_text=request.text,
                    body_html=request.html,
                    attachments=[*resolved.attachments, *files],
                )
                _check_total(draft.attachments)
                db.add(draft)
            else:
                draft = await db.get_one(EmailDraft, draft_id)
                if request.to is not None:
                    draft.to = list(request.to)
                if request.cc is not None:
                    draft.cc = list(request.cc)
                draft.bcc = list(request.bcc)
                if request.subject is not None:
                    draft.subject = _subject_with_token(request.subject, case.id)
                draft.body_text, draft.body_html = request.text, request.html
                draft.attachments = [*request.stored_files, *files]
                _check_total(draft.attachments)
            await db.flush()
            return draft

    async def send_draft(self, draft_id: int, author_id: int) -> Sent:
        async with self._database.transaction() as db:
            draft = await db.get_one(EmailDraft, draft_id)
            request = Composition(
                mode=SendMode(draft.mode),
                parent_message_id=draft.parent_message_id,
                to=tuple(draft.to),
                cc=tuple(draft.cc),
                bcc=tuple(draft.bcc),
                subject=draft.subject,
                text=draft.body_text,
                html=draft.body_html,
                stored_files=tuple(draft.attachments),
                include_parent_attachments=False,
            )
            interaction_id = draft.interaction_id
        return await self.send(interaction_id, author_id, request, draft_id=draft_id)

    # --- closing ---------------------------------------------------------------------

    async def close(self, interaction_id: int, engine: Engine, *, resolve_case: bool) -> None:
        """Close without a reply: the agent's interaction ends (one still waiting is
        withdrawn from its queue), and the case is resolved when `resolve_case`."""
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            state, case_id = interaction.state, interaction.case_id
        if state is InteractionState.ACTIVE:
            await engine.complete(interaction_id)
        elif state in (InteractionState.QUEUED, InteractionState.OFFERED):
            await engine.cancel(interaction_id, reason="closed_without_reply")
        else:
            raise Conflict("not_open", f"Interaction {interaction_id} has already ended.")
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            interaction.attributes = {**interaction.attributes, "closed_without_reply": True}
            if resolve_case and case_id is not None:
                case = await db.get_one(Case, case_id)
                if case.status not in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
                    case.status = CaseStatus.RESOLVED

    # --- templates -------------------------------------------------------------------

    async def render(
        self, db: AsyncSession, interaction: Interaction, template_id: int, agent_name: str
    ) -> RenderedTemplate:
        template = await db.get(EmailTemplate, template_id)
        if template is None or not template.is_active:
            raise NotFound("Email template", template_id)
        case = await db.get(Case, interaction.case_id) if interaction.case_id else None
        contact_id = interaction.contact_id or (case.contact_id if case else None)
        contact = await db.get(Contact, contact_id) if contact_id else None
        email = (
            await db.scalar(
                select(ContactIdentity.value)
                .where(
                    ContactIdentity.contact_id == contact_id,
                    ContactIdentity.kind == store.EMAIL_IDENTITY,
                )
                .limit(1)
            )
            if contact_id
            else None
        )
        account = await self._account_for(db, case, interaction, None)
        parent_id = await self._parent_id(db, case, interaction) if case else None
        parent = await db.get(Message, parent_id) if parent_id else None
        variables = template_variables(
            case_number=case.id if case else None,
            case_subject=case.subject if case else "",
            case_status=case.status.value if case else "",
            case_priority=case.priority.value if case else "",
            contact_name=contact.name if contact else "",
            contact_company=contact.company if contact else "",
            contact_email=email or "",
            agent_name=agent_name,
            mailbox_name=account.name if account else "",
            mailbox_address=account.from_address if account else "",
            message_subject=parent.subject if parent else "",
        )
        return render_template(template.subject, template.body_text, template.body_html, variables)

    # --- internals -------------------------------------------------------------------

    async def _case_of(self, db: AsyncSession, interaction: Interaction) -> Case:
        if interaction.channel is not Channel.EMAIL or interaction.case_id is None:
            raise NothingToAnswer(interaction.id)
        return await db.get_one(Case, interaction.case_id)

    async def _parent_id(
        self, db: AsyncSession, case: Case | None, interaction: Interaction
    ) -> int | None:
        """The latest inbound email of the case, else the latest email at all."""
        if case is None:
            return None
        for direction in (Direction.INBOUND, Direction.OUTBOUND):
            found = await db.scalar(
                select(Message.id)
                .where(
                    Message.case_id == case.id,
                    Message.kind == MessageKind.EMAIL,
                    Message.direction == direction,
                )
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(1)
            )
            if found is not None:
                return int(found)
        return None

    async def _account_for(
        self,
        db: AsyncSession,
        case: Case | None,
        interaction: Interaction,
        parent: Message | None,
    ) -> EmailAccount | None:
        """The mailbox the parent came in by (or went out by), else the queue's."""
        if parent is not None:
            imap = parent.headers.get("imap") or {}
            for candidate in (imap.get("account_id"), parent.headers.get("email_account_id")):
                if candidate is not None:
                    account = await db.get(EmailAccount, candidate)
                    if account is not None and account.is_active:
                        return account
        for queue_id in (interaction.queue_id, case.queue_id if case else None):
            if queue_id is None:
                continue
            account = await db.scalar(
                select(EmailAccount)
                .where(EmailAccount.queue_id == queue_id, EmailAccount.is_active.is_(True))
                .order_by(EmailAccount.id)
                .limit(1)
            )
            if account is not None:
                return account
        return None

    async def _resolve(
        self, db: AsyncSession, interaction: Interaction, case: Case, request: Composition
    ) -> _Resolved:
        parent_id = request.parent_message_id or await self._parent_id(db, case, interaction)
        parent = await db.get(Message, parent_id) if parent_id else None
        if parent is None or parent.case_id != case.id or parent.kind is not MessageKind.EMAIL:
            if request.parent_message_id is not None:
                raise NotFound("Email", request.parent_message_id)
            raise NothingToAnswer(interaction.id)
        account = await self._account_for(db, case, interaction, parent)
        if account is None:
            raise NoMailbox()
        threading = reply_headers(_Parent(parent))
        text, html = request.text, request.html
        attachments: list[dict[str, Any]] = list(request.stored_files)
        if request.mode is SendMode.FORWARD:
            if not request.to:
                raise RecipientsRequired()
            to, cc = list(request.to), list(request.cc or ())
            default_subject = reply_subject(parent.subject or case.subject, case.id, prefix="Fwd:")
            text = _forwarded_text(parent, text)
            html = _forwarded_html(parent, html) if html else ""
            if request.include_parent_attachments:
                attachments.extend(
                    entry for entry in parent.headers.get("attachments", []) if entry.get("path")
                )
            in_reply_to = None
        else:
            own = await store.own_addresses(db)
            default_to, default_cc = reply_recipients(parent, request.mode, own)
            to = list(request.to) if request.to is not None else default_to
            cc = list(request.cc) if request.cc is not None else default_cc
            default_subject = reply_subject(parent.subject or case.subject, case.id)
            in_reply_to = threading.in_reply_to
        if not to:
            raise RecipientsRequired()
        subject = (
            _subject_with_token(request.subject, case.id)
            if request.subject is not None
            else default_subject
        )
        return _Resolved(
            account_id=account.id,
            to=tuple(to),
            cc=tuple(cc),
            bcc=tuple(request.bcc),
            subject=subject,
            text=text,
            html=html,
            in_reply_to=in_reply_to,
            references=threading.references,
            attachments=attachments,
        )

    def _draft(
        self,
        resolved: _Resolved,
        mode: SendMode,
        case: Case,
        interaction_id: int,
        author_id: int,
    ) -> Draft:
        return Draft(
            account_id=resolved.account_id,
            case_id=case.id,
            interaction_id=interaction_id,
            author_user_id=author_id,
            mode=mode,
            to=resolved.to,
            cc=resolved.cc,
            bcc=resolved.bcc,
            subject=resolved.subject,
            text=resolved.text,
            html=resolved.html,
            in_reply_to=resolved.in_reply_to,
            references=resolved.references,
            attachments=tuple(resolved.attachments),
        )
