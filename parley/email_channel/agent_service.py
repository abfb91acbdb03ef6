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

What the agent writes in the desktop's editor is HTML: it is sanitized here
(compose.clean_composed_html) and its plain-text alternative written from it, whoever
sent it. Besides answering, the desk moves email (change queue, transfer: routed again
by the engine), pins it to an agent's personal queue (F-RT-6), searches it, and masks
confidential data in a stored thread (masking.py). Email of a manual-pick queue is
offered to nobody: it waits in a group queue, listed here with its SLA colour, until an
agent takes it (through the engine, which settles who wins).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.email_channel import store
from parley.email_channel.compose import OutgoingAttachment, clean_composed_html, html_to_text
from parley.email_channel.masking import Pattern, mask_message
from parley.email_channel.outbound import Delivery, Draft, Outbox, SendMode
from parley.email_channel.sanitize import text_to_html
from parley.email_channel.templates import (
    RenderedTemplate,
    render_template,
    template_variables,
)
from parley.email_channel.threads import case_numbers_in, reply_headers, reply_subject
from parley.platform import audit
from parley.platform.auth.principal import Principal
from parley.platform.cases import sla_due_for
from parley.platform.cases.domain import PRIORITY_RANK
from parley.platform.db import Database, utcnow
from parley.platform.engine import Engine, EnqueueRequest
from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import (
    Case,
    CasePriority,
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
    PickMode,
    Queue,
    Role,
    User,
)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # one file an agent attaches
MAX_TOTAL_ATTACHMENT_BYTES = 25 * 1024 * 1024  # all files of one email, forwarded included
_WAITING_FOR_CUSTOMER = (CaseStatus.NEW, CaseStatus.OPEN)
_OPEN = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ACTIVE)
_DONE_CASES = (CaseStatus.RESOLVED, CaseStatus.CLOSED)
_CASE_NUMBER = re.compile(r"^\[?#?(\d{1,12})\]?$")
SEARCH_LIMIT = 50


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


class NotOpen(Conflict):
    def __init__(self, interaction_id: int) -> None:
        super().__init__("not_open", f"Interaction {interaction_id} has already ended.")


class WrongQueue(DomainError):
    status_code = 422

    def __init__(self, queue_id: int) -> None:
        super().__init__("not_an_email_queue", f"Queue {queue_id} does not take email.")


class NotAnAgent(DomainError):
    status_code = 422

    def __init__(self, user_id: int) -> None:
        super().__init__("not_an_agent", f"User {user_id} is not an active agent.")


class NothingToMask(DomainError):
    status_code = 422

    def __init__(self) -> None:
        super().__init__("nothing_to_mask", "Nothing in the thread matches what is to be masked.")


class NothingChosen(DomainError):
    status_code = 422

    def __init__(self) -> None:
        super().__init__("nothing_chosen", "Select text to mask or choose what to look for.")


@dataclass(frozen=True, slots=True)
class Found:
    """One email or note a search found, with the interaction to open it by."""

    message: Message
    case: Case
    interaction_id: int | None


GroupSort = Literal["age", "sla", "priority", "sender"]
GROUP_LIMIT = 200
SLA_DUE_SOON = timedelta(hours=1)


class SlaState(StrEnum):
    """The SLA colour of waiting email: red, amber, green."""

    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    ON_TIME = "on_time"


def sla_state(due_at: datetime | None, now: datetime) -> SlaState | None:
    """Overdue once past due, due soon within the hour before, on time before that;
    None for a case with no SLA due time."""
    if due_at is None:
        return None
    if due_at <= now:
        return SlaState.OVERDUE
    return SlaState.DUE_SOON if due_at - now <= SLA_DUE_SOON else SlaState.ON_TIME


@dataclass(frozen=True, slots=True)
class WaitingEmail:
    """An email in a group queue, with the customer's latest email to show it by."""

    interaction: Interaction
    case: Case
    queue_name: str
    message: Message | None
    sla: SlaState | None

    @property
    def sender(self) -> dict[str, Any]:
        found = self.message.headers.get("from") if self.message is not None else None
        return found if isinstance(found, dict) else {}

    @property
    def subject(self) -> str:
        return self.message.subject if self.message is not None else self.case.subject

    @property
    def searchable(self) -> str:
        sender = self.sender
        parts = (self.subject, self.case.subject, sender.get("address"), sender.get("name"))
        return " ".join(str(part) for part in parts if part).lower()


def _age(item: WaitingEmail) -> tuple[datetime, int]:
    interaction = item.interaction
    return (interaction.queued_at or interaction.created_at, interaction.id)


_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_GROUP_SORTS: dict[str, Callable[[WaitingEmail], Any]] = {
    "age": _age,
    "sla": lambda item: (item.case.sla_due_at or _FAR_FUTURE, *_age(item)),
    "priority": lambda item: (-PRIORITY_RANK.get(item.case.priority, 1), *_age(item)),
    "sender": lambda item: (
        str(item.sender.get("address") or "").lower(),
        *_age(item),
    ),
}


class NotAGroupQueue(Conflict):
    def __init__(self, interaction_id: int) -> None:
        super().__init__(
            "not_a_group_queue",
            f"Interaction {interaction_id} is not waiting in a queue agents pick from.",
        )


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


def authored(request: Composition) -> Composition:
    """The agent's rich text sanitized (compose.clean_composed_html), with a plain-text
    alternative made from it when the editor sent only HTML."""
    if not request.html:
        return request
    html = clean_composed_html(request.html)
    text = request.text if request.text.strip() else html_to_text(html)
    return replace(request, html=html, text=text if text.strip() else "")


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


async def pinning_agents(db: AsyncSession, case_ids: Iterable[int]) -> dict[int, int]:
    """Case id -> the agent its email was last pinned to: ingest routes the case's new
    email to them first, as the sticky agent rule does (F-RT-5, F-RT-6)."""
    wanted = set(case_ids)
    if not wanted:
        return {}
    rows = await db.execute(
        select(Interaction.case_id, Interaction.pinned_agent_id)
        .where(Interaction.case_id.in_(wanted), Interaction.pinned_agent_id.is_not(None))
        .order_by(Interaction.id)
    )
    # The query leaves no None in either column; their types cannot say so.
    return {
        case_id: agent_id
        for case_id, agent_id in rows.all()
        if case_id is not None and agent_id is not None
    }


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
        request = authored(request)
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
        request = authored(request)
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
            # Due like a case the customer opened: the queue's SLA, in its business hours.
            opened_at = utcnow()
            case = Case(
                subject=subject[:500],
                queue_id=account.queue_id,
                contact_id=contact_id,
                assignee_id=author_id,
                status=CaseStatus.PENDING,
                created_at=opened_at,
                sla_due_at=await sla_due_for(db, account.queue_id, CasePriority.NORMAL, opened_at),
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
        request = authored(request)
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

    # --- moving and pinning (F-EM-4, F-RT-6) -----------------------------------------

    async def move(
        self,
        interaction_id: int,
        engine: Engine,
        actor_id: int,
        *,
        queue_id: int | None = None,
        agent_id: int | None = None,
    ) -> int:
        """Change queue or transfer: the email goes back through the router, in
        `queue_id` (default: where it is) and held for `agent_id` when given (the
        queue's sticky window, then anyone). The new interaction is queued first, with
        the current agent excluded for the queue's decliner cooldown (so the router does
        not hand it straight back to them), then their part ends as any finished work
        does (wrap-up): an enqueue the engine refuses leaves the email where it was.
        Answers the new interaction."""
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            if interaction.state not in _OPEN:
                raise NotOpen(interaction_id)
            target_queue = queue_id if queue_id is not None else interaction.queue_id
            queue = await db.get(Queue, target_queue) if target_queue is not None else None
            if queue is None or not queue.is_active:
                raise NotFound("Queue", target_queue or 0)
            if Channel.EMAIL.value not in queue.channels:
                raise WrongQueue(queue.id)
            if agent_id is not None:
                user = await db.get(User, agent_id)
                if user is None or not user.is_active or user.role is Role.ADMIN:
                    raise NotAnAgent(agent_id)
                if agent_id == interaction.agent_id:
                    raise Conflict("already_theirs", "The email is with that agent already.")
            request = EnqueueRequest(
                channel=Channel.EMAIL,
                queue_id=queue.id,
                contact_id=interaction.contact_id,
                case_id=interaction.case_id,
                priority=interaction.priority,
                external_ref=interaction.external_ref,
                attributes={"moved_from": interaction.id},
                preferred_agent_id=agent_id,
                after_hours=True,  # it was admitted once: a closed or full queue takes it
                excluded_agent_ids=(
                    frozenset({interaction.agent_id})
                    if interaction.agent_id is not None
                    else frozenset()
                ),
            )
            state = interaction.state
        moved_to = await engine.enqueue(request)
        try:
            if state is InteractionState.ACTIVE:
                await engine.complete(interaction_id)
            else:
                await engine.cancel(interaction_id, reason="moved")
        except DomainError:
            # The old part changed meanwhile (taken, ended): withdraw the copy, keep it.
            await engine.cancel(moved_to, reason="move_failed")
            raise
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            interaction.attributes = {
                **interaction.attributes,
                "moved_to": moved_to,
                "moved_by": actor_id,
            }
            interaction.pinned_agent_id = None
            if interaction.case_id is not None:
                case = await db.get_one(Case, interaction.case_id)
                case.queue_id = queue.id
                if agent_id is not None:
                    case.assignee_id = agent_id
        return moved_to

    async def pin(self, db: AsyncSession, interaction: Interaction, agent_id: int | None) -> None:
        """Pin the email to `agent_id` (None: unpin): it stays in their personal queue
        until its case is resolved, whatever happens to the interaction."""
        if agent_id is not None:
            if interaction.state not in _OPEN:
                raise NotOpen(interaction.id)
            user = await db.get(User, agent_id)
            if user is None or not user.is_active or user.role is Role.ADMIN:
                raise NotAnAgent(agent_id)
        interaction.pinned_agent_id = agent_id

    async def personal_queue(self, db: AsyncSession, agent_id: int) -> list[Found]:
        """The agent's email: what they have in hand, and what is pinned to them while
        its case is not resolved; oldest first."""
        rows = await db.execute(
            select(Interaction, Case)
            .join(Case, Case.id == Interaction.case_id)
            .where(
                Interaction.channel == Channel.EMAIL,
                or_(
                    (Interaction.agent_id == agent_id) & Interaction.state.in_(_OPEN),
                    (Interaction.pinned_agent_id == agent_id) & Case.status.not_in(_DONE_CASES),
                ),
            )
            .order_by(Interaction.created_at, Interaction.id)
        )
        pairs = rows.all()
        latest = await _latest_emails(db, {case.id for _, case in pairs})
        return [
            Found(latest[case.id], case, interaction.id)
            for interaction, case in pairs
            if case.id in latest
        ]

    # --- the group queue (F-EM-4, F-RT-6) --------------------------------------------

    async def group_queue(
        self,
        db: AsyncSession,
        engine: Engine,
        me: Principal,
        now: datetime,
        *,
        is_supervisor: bool,
        queue_id: int | None = None,
        priority: CasePriority | None = None,
        text: str = "",
        sort: GroupSort = "age",
    ) -> list[WaitingEmail]:
        """Email waiting in the manual-pick queues the caller serves (supervisors: every
        one), for agents to take themselves; filtered by queue, case priority and text
        (subject, sender), sorted by `sort` (age and SLA due: soonest first, priority:
        highest first, sender: by address), ties oldest first; at most GROUP_LIMIT."""
        queues = await db.scalars(
            select(Queue).where(Queue.is_active.is_(True), Queue.pick_mode == PickMode.MANUAL)
        )
        served = {
            row.id: row.name
            for row in queues
            if Channel.EMAIL.value in (row.channels or [])
            and (queue_id is None or row.id == queue_id)
            and (is_supervisor or me.user_id in engine.agents_for(row.id))
        }
        if not served:
            return []
        statement = (
            select(Interaction, Case)
            .join(Case, Case.id == Interaction.case_id)
            .where(
                Interaction.channel == Channel.EMAIL,
                Interaction.state == InteractionState.QUEUED,
                Interaction.queue_id.in_(served),
            )
        )
        if priority is not None:
            statement = statement.where(Case.priority == priority)
        rows = await db.execute(statement.order_by(Interaction.queued_at, Interaction.id))
        needle = " ".join(text.split()).lower()
        pairs = rows.all()
        latest = await _latest_emails(db, {case.id for _, case in pairs}, inbound_only=True)
        waiting = []
        for interaction, case in pairs:
            item = WaitingEmail(
                interaction=interaction,
                case=case,
                queue_name=served[interaction.queue_id or 0],
                message=latest.get(case.id),
                sla=sla_state(case.sla_due_at, now),
            )
            if needle and needle not in item.searchable:
                continue
            waiting.append(item)
        waiting.sort(key=_GROUP_SORTS[sort])
        return waiting[:GROUP_LIMIT]

    async def take(self, interaction_id: int, engine: Engine, agent_id: int) -> None:
        """The agent takes an email waiting in a group queue: the engine puts it in
        their hands (one of two agents taking it wins, the other gets 409 `not_waiting`;
        their email capacity is respected) and the case is assigned to them."""
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            queue = await db.get(Queue, interaction.queue_id) if interaction.queue_id else None
            if queue is None or queue.pick_mode is not PickMode.MANUAL:
                raise NotAGroupQueue(interaction_id)
        await engine.take(agent_id, interaction_id)
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            if interaction.case_id is not None:
                case = await db.get_one(Case, interaction.case_id)
                case.assignee_id = agent_id

    # --- searching -------------------------------------------------------------------

    async def search(
        self, db: AsyncSession, me: Principal, query: str, *, is_supervisor: bool
    ) -> list[Found]:
        """Emails and notes whose subject, sender, text or case number match `query`,
        newest first: supervisors search everything, an agent the cases they have (or
        had) an interaction of, or pinned, or wrote in."""
        query = " ".join(query.split())
        needle = query.lower()
        sender = Message.headers[("from", "address")].as_string()
        sender_name = Message.headers[("from", "name")].as_string()
        matches: list[ColumnElement[bool]] = [
            func.lower(column).contains(needle, autoescape=True)
            for column in (Message.subject, Message.body_text, sender, sender_name)
        ]
        number = _CASE_NUMBER.match(query)
        if number:
            matches.append(Message.case_id == int(number.group(1)))
        statement = (
            select(Message, Case)
            .join(Case, Case.id == Message.case_id)
            .where(Message.kind.in_((MessageKind.EMAIL, MessageKind.NOTE)), or_(*matches))
        )
        if not is_supervisor:
            theirs = select(Interaction.case_id).where(
                or_(Interaction.agent_id == me.user_id, Interaction.pinned_agent_id == me.user_id),
                Interaction.case_id.is_not(None),
            )
            authored_by = select(Message.case_id).where(
                Message.author_user_id == me.user_id, Message.case_id.is_not(None)
            )
            statement = statement.where(
                or_(Message.case_id.in_(theirs), Message.case_id.in_(authored_by))
            )
        rows = await db.execute(
            statement.order_by(Message.created_at.desc(), Message.id.desc()).limit(SEARCH_LIMIT)
        )
        found = []
        for message, case in rows.all():
            found.append(Found(message, case, await self._opening(db, me, case.id, is_supervisor)))
        return found

    async def _opening(
        self, db: AsyncSession, me: Principal, case_id: int, is_supervisor: bool
    ) -> int | None:
        """The case's email interaction the caller may open: theirs, latest first."""
        statement = select(Interaction.id).where(
            Interaction.case_id == case_id, Interaction.channel == Channel.EMAIL
        )
        if not is_supervisor:
            statement = statement.where(Interaction.agent_id == me.user_id)
        found = await db.scalar(statement.order_by(Interaction.id.desc()).limit(1))
        return int(found) if found is not None else None

    # --- masking ---------------------------------------------------------------------

    async def mask(
        self,
        interaction_id: int,
        actor: Principal,
        selections: Sequence[str],
        patterns: Sequence[Pattern],
        message_id: int | None = None,
    ) -> list[int]:
        """Mask confidential data in the stored thread (masking.py): every email and
        note of the case, or only `message_id`, and the interaction's drafts. Audit-
        logged with how much was masked, never what. Answers the messages changed."""
        async with self._database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            messages = await self.thread(db, interaction)
            if message_id is not None:
                messages = [m for m in messages if m.id == message_id]
                if not messages:
                    raise NotFound("Email", message_id)
            changed: list[int] = []
            total = 0
            for message in messages:
                masked = mask_message(message.body_text, message.body_html, selections, patterns)
                if not masked.count:
                    continue
                message.body_text, message.body_html = masked.text, masked.html
                message.subject = mask_message(message.subject, "", selections, patterns).text
                changed.append(message.id)
                total += masked.count
            drafts = await db.scalars(
                select(EmailDraft).where(EmailDraft.interaction_id == interaction_id)
            )
            for draft in drafts:
                masked = mask_message(draft.body_text, draft.body_html, selections, patterns)
                if masked.count:
                    draft.body_text, draft.body_html = masked.text, masked.html
            if not changed:
                raise NothingToMask()
            await audit.record(
                db,
                actor,
                "mask",
                "interaction",
                interaction_id,
                {
                    "messages": changed,
                    "masked": total,
                    "patterns": [p.value for p in patterns],
                    "selections": len(selections),
                },
            )
        return changed

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


async def _latest_emails(
    db: AsyncSession, case_ids: set[int], inbound_only: bool = False
) -> dict[int, Message]:
    """Each case's latest email (received only, with `inbound_only`), in one query."""
    if not case_ids:
        return {}
    conditions = [Message.case_id.in_(case_ids), Message.kind == MessageKind.EMAIL]
    if inbound_only:
        conditions.append(Message.direction == Direction.INBOUND)
    ranked = (
        select(
            Message.id,
            func.row_number()
            .over(
                partition_by=Message.case_id,
                order_by=(Message.created_at.desc(), Message.id.desc()),
            )
            .label("rank"),
        )
        .where(*conditions)
        .subquery()
    )
    rows = await db.scalars(
        select(Message).join(ranked, ranked.c.id == Message.id).where(ranked.c.rank == 1)
    )
    return {message.case_id: message for message in rows if message.case_id is not None}
