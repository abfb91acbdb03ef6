"""The agent's REST routes for email (F-EM-4, F-EM-5), and the mailboxes' lifespan.

    GET    /api/emails/{interaction_id}                the thread, HTML sanitized
    POST   /api/emails/{interaction_id}/send           reply, reply all or forward
    POST   /api/emails/{interaction_id}/close          close without a reply
    POST   /api/emails/{interaction_id}/render-template a template filled in for it
    GET    /api/emails/{interaction_id}/drafts         its drafts
    POST   /api/emails/{interaction_id}/drafts         save a draft
    PATCH  /api/email-drafts/{draft_id}                change a draft
    DELETE /api/email-drafts/{draft_id}
    POST   /api/email-drafts/{draft_id}/send
    POST   /api/emails                                 a new email, opening a case
    POST   /api/emails/{interaction_id}/queue          change queue (through the router)
    POST   /api/emails/{interaction_id}/transfer       to an agent (through the router)
    PUT    /api/emails/{interaction_id}/pin            pin to oneself (F-RT-6); DELETE unpins
    POST   /api/emails/{interaction_id}/mask           mask confidential data in the thread
    GET    /api/email-personal                         the caller's personal queue
    GET    /api/email-group?queue_id=&priority=&q=&sort= the group queue (manual pick)
    POST   /api/emails/{interaction_id}/take           take it from the group queue
    GET    /api/email-search?q=                        subject, sender, text, case number
    GET    /api/email-queues                           the queues an email may move to
    POST   /api/email-messages/{message_id}/retry      send a failed email again
    GET    /api/email-messages/{message_id}/attachments/{index}
    /api/email-templates                               admin resource (template_admin.py)

Who may: an agent acts only on email interactions assigned to them (403 otherwise, 404
for none), supervisors and admins on any. An email that the SMTP server refuses is kept
and answers 502 `email_not_sent`; `retry` sends it again. Attachments come as base64 in
the JSON body, within the limits of agent_service.py (413 past them).

The router's lifespan (merged into the application's by `include_router`) creates the
process's outbox and desk, and in a process running the `engine` role follows every
active mailbox (mailboxes.py) until shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.email_channel.agent_service import (
    Composition,
    EmailDesk,
    Found,
    GroupSort,
    NewFile,
    NothingChosen,
    Sent,
    SlaState,
    WaitingEmail,
)
from parley.email_channel.attachments import inline_image_ref
from parley.email_channel.compose import InvalidAddress, normalize_address
from parley.email_channel.mailboxes import Mailboxes
from parley.email_channel.masking import MAX_SELECTION, Pattern
from parley.email_channel.outbound import Outbox, SendMode, delivery_of
from parley.email_channel.sanitize import sanitize_html, text_to_html
from parley.email_channel.template_admin import routers as template_routers
from parley.platform.auth.principal import Principal
from parley.platform.errors import Forbidden, NotFound
from parley.platform.models import (
    CasePriority,
    CaseStatus,
    Channel,
    Direction,
    EmailDraft,
    Interaction,
    InteractionState,
    Message,
    MessageKind,
    Queue,
    Role,
)
from parley.platform.runtime import Runtime
from parley.platform.web.deps import SUPERVISORS, AnyUser, DbDep, RuntimeDep, require_roles

_MAX_ADDRESSES = 50
_MAX_FILES = 20
_SAFE_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Who takes email from a group queue: the people who work it (admins are not agents).
Picker = Annotated[Principal, Depends(require_roles(Role.AGENT, Role.SUPERVISOR))]


@contextlib.asynccontextmanager
async def _mailboxes(app: FastAPI) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    mailboxes = Mailboxes(runtime, email_desk(app).outbox)
    await mailboxes.start()
    app.state.mailboxes = mailboxes
    try:
        yield
    finally:
        await mailboxes.stop()


router = APIRouter(lifespan=_mailboxes)
for _templates in template_routers():
    router.include_router(_templates)


def email_desk(app: FastAPI) -> EmailDesk:
    """The process's desk and outbox, made on first use."""
    desk: EmailDesk | None = getattr(app.state, "email_desk", None)
    if desk is None:
        runtime: Runtime = app.state.runtime
        outbox = Outbox(runtime.database, runtime.settings, clock=runtime.clock, bus=runtime.bus)
        desk = app.state.email_desk = EmailDesk(runtime.database, outbox)
    return desk


# --- wire shapes -----------------------------------------------------------------------


def _address(value: str) -> str:
    try:
        return normalize_address(value)
    except InvalidAddress as error:
        raise ValueError("Not an email address.") from error


EmailAddress = Annotated[str, Field(max_length=320), AfterValidator(_address)]
Addresses = Annotated[list[EmailAddress], Field(max_length=_MAX_ADDRESSES)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_Body):
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    content_type: str = Field(
        "application/octet-stream", max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )
    content_base64: str = Field(description="The file, base64-encoded.")
    content_id: str | None = Field(None, max_length=200, pattern=r"^[^<>\s]+$")
    is_inline: bool = False

    def as_file(self) -> NewFile:
        return NewFile(
            self.filename, self.content_type, self.content_base64, self.content_id, self.is_inline
        )


class ComposeIn(_Body):
    mode: Literal["reply", "reply_all", "forward"] = "reply"
    parent_message_id: int | None = Field(
        None, description="The email answered or forwarded; default: the latest received."
    )
    to: Addresses | None = Field(None, description="Default: as the mode implies.")
    cc: Addresses | None = None
    bcc: Addresses = Field(default_factory=list)
    subject: str | None = Field(None, max_length=900, description="Default: Re:/Fwd: [#case].")
    text: str = Field("", max_length=200_000)
    html: str = Field("", max_length=500_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=_MAX_FILES)

    def composition(self) -> Composition:
        return Composition(
            mode=SendMode(self.mode),
            parent_message_id=self.parent_message_id,
            to=tuple(self.to) if self.to is not None else None,
            cc=tuple(self.cc) if self.cc is not None else None,
            bcc=tuple(self.bcc),
            subject=self.subject,
            text=self.text,
            html=self.html,
            files=tuple(a.as_file() for a in self.attachments),
        )


class DraftChangeIn(_Body):
    to: Addresses | None = None
    cc: Addresses | None = None
    bcc: Addresses | None = None
    subject: str | None = Field(None, max_length=900)
    text: str | None = Field(None, max_length=200_000)
    html: str | None = Field(None, max_length=500_000)
    attachments: list[AttachmentIn] | None = Field(
        None, max_length=_MAX_FILES, description="Replaces the new files (sent: all of them)."
    )
    keep_attachments: list[int] | None = Field(
        None, description="Indexes of the draft's current attachments to keep."
    )


class NewEmailIn(_Body):
    account_id: int = Field(description="The mailbox it is sent from.")
    contact_id: int | None = Field(None, description="Default: found or made from `to[0]`.")
    to: Annotated[list[EmailAddress], Field(min_length=1, max_length=_MAX_ADDRESSES)]
    cc: Addresses = Field(default_factory=list)
    bcc: Addresses = Field(default_factory=list)
    subject: str = Field(min_length=1, max_length=900)
    text: str = Field("", max_length=200_000)
    html: str = Field("", max_length=500_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=_MAX_FILES)


class CloseIn(_Body):
    resolve_case: bool = Field(True, description="Also mark the case resolved.")


class RenderIn(_Body):
    template_id: int


class PersonOut(BaseModel):
    name: str
    address: str


class QueueChangeIn(_Body):
    queue_id: int


class TransferIn(_Body):
    agent_id: int
    queue_id: int | None = Field(None, description="Default: the queue it is in.")


class PinIn(_Body):
    agent_id: int | None = Field(None, description="Default: the caller; others: supervisors.")


class MaskIn(_Body):
    selections: list[Annotated[str, Field(min_length=1, max_length=MAX_SELECTION)]] = Field(
        default_factory=list, max_length=20, description="Text the agent selected."
    )
    patterns: list[Pattern] = Field(default_factory=list, description="card, account")
    message_id: int | None = Field(None, description="Only this message; default: all.")


class MovedOut(BaseModel):
    interaction_id: int = Field(description="The new interaction, queued.")


class MaskedOut(BaseModel):
    message_ids: list[int]


class FoundOut(BaseModel):
    message_id: int
    kind: MessageKind
    direction: Direction
    subject: str
    sender: PersonOut | None = Field(serialization_alias="from")
    snippet: str
    created_at: datetime
    case_id: int
    case_subject: str
    case_status: CaseStatus
    sla_due_at: datetime | None
    interaction_id: int | None = Field(description="What to open it by; None: not yours.")
    is_pinned: bool = False

    @classmethod
    def of(cls, found: Found, query: str = "", *, pinned_to: int | None = None) -> FoundOut:
        message, case = found.message, found.case
        return cls(
            message_id=message.id,
            kind=message.kind,
            direction=message.direction,
            subject=message.subject,
            sender=_person(message.headers.get("from")),
            snippet=_snippet(message.body_text, query),
            created_at=message.created_at,
            case_id=case.id,
            case_subject=case.subject,
            case_status=case.status,
            sla_due_at=case.sla_due_at,
            interaction_id=found.interaction_id,
            is_pinned=pinned_to is not None,
        )


class WaitingOut(BaseModel):
    """An email waiting in a group queue; `sla` is its colour (None: no SLA due)."""

    interaction_id: int
    queue_id: int
    queue_name: str
    case_id: int
    case_subject: str
    priority: CasePriority
    subject: str
    sender: PersonOut | None = Field(serialization_alias="from")
    snippet: str
    queued_at: datetime
    sla_due_at: datetime | None
    sla: SlaState | None

    @classmethod
    def of(cls, item: WaitingEmail) -> WaitingOut:
        interaction, case = item.interaction, item.case
        return cls(
            interaction_id=interaction.id,
            queue_id=interaction.queue_id or 0,
            queue_name=item.queue_name,
            case_id=case.id,
            case_subject=case.subject,
            priority=case.priority,
            subject=item.subject,
            sender=_person(item.sender or None),
            snippet=_snippet(item.message.body_text if item.message else "", ""),
            queued_at=interaction.queued_at or interaction.created_at,
            sla_due_at=case.sla_due_at,
            sla=item.sla,
        )


class EmailQueueOut(BaseModel):
    id: int
    name: str


class AttachmentOut(BaseModel):
    index: int
    filename: str
    content_type: str
    size: int
    is_inline: bool
    content_id: str | None
    url: str | None = Field(description="Where to download it; None: not kept (too large).")


class DeliveryOut(BaseModel):
    status: str
    attempts: int
    error: str | None
    is_temporary: bool | None


class MessageOut(BaseModel):
    id: int
    kind: MessageKind
    direction: Direction
    message_id: str | None
    subject: str
    sender: PersonOut | None = Field(serialization_alias="from")
    to: list[PersonOut]
    cc: list[PersonOut]
    bcc: list[PersonOut]
    date: str | None
    created_at: datetime
    author_user_id: int | None
    text: str
    html: str = Field(description="Sanitized: safe to insert into the page.")
    attachments: list[AttachmentOut]
    delivery: DeliveryOut | None
    problems: list[str]


class ThreadOut(BaseModel):
    interaction_id: int
    case_id: int | None
    agent_id: int | None
    state: InteractionState
    messages: list[MessageOut]
    queue_id: int | None = None
    pinned_agent_id: int | None = None


class SentOut(BaseModel):
    id: int
    message_id: str
    case_id: int
    status: str

    @classmethod
    def of(cls, sent: Sent) -> SentOut:
        return cls(
            id=sent.message_id,
            message_id=sent.external_id,
            case_id=sent.case_id,
            status=sent.delivery.status.value,
        )


class DraftOut(BaseModel):
    id: int
    interaction_id: int
    author_user_id: int | None
    parent_message_id: int | None
    mode: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    text: str
    html: str
    attachments: list[AttachmentOut]
    updated_at: datetime

    @classmethod
    def of(cls, draft: EmailDraft) -> DraftOut:
        return cls(
            id=draft.id,
            interaction_id=draft.interaction_id,
            author_user_id=draft.author_user_id,
            parent_message_id=draft.parent_message_id,
            mode=draft.mode,
            to=draft.to,
            cc=draft.cc,
            bcc=draft.bcc,
            subject=draft.subject,
            text=draft.body_text,
            html=draft.body_html,
            attachments=[_attachment(entry, index, None) for index, entry in _entries(draft)],
            updated_at=draft.updated_at,
        )


class RenderedOut(BaseModel):
    subject: str
    text: str
    html: str


# --- who may ---------------------------------------------------------------------------


async def _interaction(db: AsyncSession, me: Principal, interaction_id: int) -> Interaction:
    """The email interaction, once the caller may act on it (404 / 403 otherwise)."""
    interaction = await db.get(Interaction, interaction_id)
    if interaction is None or interaction.channel is not Channel.EMAIL:
        raise NotFound("Email interaction", interaction_id)
    if me.role not in SUPERVISORS and interaction.agent_id != me.user_id:
        raise Forbidden("This email belongs to another agent.")
    return interaction


async def _draft(db: AsyncSession, me: Principal, draft_id: int) -> EmailDraft:
    draft = await db.get(EmailDraft, draft_id)
    if draft is None:
        raise NotFound("Draft", draft_id)
    await _interaction(db, me, draft.interaction_id)
    return draft


async def _may_see_message(db: AsyncSession, me: Principal, message: Message) -> None:
    """Supervisors; the author; an agent with an interaction of the message's case."""
    if me.role in SUPERVISORS or message.author_user_id == me.user_id:
        return
    where = (
        Interaction.case_id == message.case_id
        if message.case_id is not None
        else Interaction.id == message.interaction_id
    )
    mine = await db.scalar(
        select(Interaction.id).where(where, Interaction.agent_id == me.user_id).limit(1)
    )
    if mine is None:
        raise Forbidden("This email belongs to another agent.")


# --- shaping ---------------------------------------------------------------------------


def _snippet(text: str, query: str, width: int = 160) -> str:
    """About `width` characters of `text` around the first place `query` is in it."""
    flat = " ".join(text.split())
    at = flat.lower().find(query.lower()) if query else -1
    start = max(0, at - width // 3) if at >= 0 else 0
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


def _entries(draft: EmailDraft | Message) -> list[tuple[int, dict[str, Any]]]:
    raw = draft.attachments if isinstance(draft, EmailDraft) else draft.headers.get("attachments")
    return list(enumerate(raw if isinstance(raw, list) else []))


def _attachment(entry: dict[str, Any], index: int, message_id: int | None) -> AttachmentOut:
    kept = bool(entry.get("path"))
    return AttachmentOut(
        index=index,
        filename=str(entry.get("filename") or ""),
        content_type=str(entry.get("content_type") or "application/octet-stream"),
        size=int(entry.get("size") or 0),
        is_inline=bool(entry.get("is_inline")),
        content_id=entry.get("content_id"),
        url=_attachment_url(message_id, index) if kept and message_id is not None else None,
    )


def _attachment_url(message_id: int, index: int) -> str:
    return f"/api/email-messages/{message_id}/attachments/{index}"


def _person(value: Any) -> PersonOut | None:
    if not isinstance(value, dict) or not value.get("address"):
        return None
    return PersonOut(name=str(value.get("name") or ""), address=str(value["address"]))


def _people(values: Any) -> list[PersonOut]:
    people = [_person(value) for value in values] if isinstance(values, list) else []
    return [person for person in people if person is not None]


def _message_out(message: Message) -> MessageOut:
    headers = message.headers
    entries = _entries(message)
    urls = {
        str(entry["content_id"]): _attachment_url(message.id, index)
        for index, entry in entries
        if entry.get("content_id") and entry.get("path")
    }
    if message.body_html:
        stored = message.body_html
        for index, entry in entries:
            # Ingestion stored inline images as references to their files: back to
            # `cid:` form, so the sanitizer (run again: what we show must be safe
            # whoever stored it) resolves them to URLs this caller may open.
            if entry.get("sha256") and entry.get("path"):
                own_cid = f"parley-attachment-{index}"
                urls[own_cid] = _attachment_url(message.id, index)
                stored = stored.replace(
                    f'"{inline_image_ref(str(entry["sha256"]))}"', f'"cid:{own_cid}"'
                )
        html = sanitize_html(stored, resolve_cid=urls.get)
    else:
        html = text_to_html(message.body_text)
    delivery = delivery_of(message) if message.direction is Direction.OUTBOUND else {}
    return MessageOut(
        id=message.id,
        kind=message.kind,
        direction=message.direction,
        message_id=message.external_id,
        subject=message.subject,
        sender=_person(headers.get("from")),
        to=_people(headers.get("to")),
        cc=_people(headers.get("cc")),
        bcc=_people(headers.get("bcc")),
        date=headers.get("date"),
        created_at=message.created_at,
        author_user_id=message.author_user_id,
        text=message.body_text,
        html=html,
        attachments=[_attachment(entry, index, message.id) for index, entry in entries],
        delivery=DeliveryOut(
            status=str(delivery.get("status", "")),
            attempts=int(delivery.get("attempts", 0)),
            error=delivery.get("error"),
            is_temporary=delivery.get("is_temporary"),
        )
        if delivery
        else None,
        problems=[str(problem) for problem in headers.get("problems", [])],
    )


# --- routes ----------------------------------------------------------------------------


@router.get("/api/emails/{interaction_id}", tags=["email"])
async def get_email_thread(
    interaction_id: int, request: Request, me: AnyUser, db: DbDep
) -> ThreadOut:
    """Every email and note of the interaction's case, oldest first."""
    interaction = await _interaction(db, me, interaction_id)
    messages = await email_desk(request.app).thread(db, interaction)
    return ThreadOut(
        interaction_id=interaction.id,
        case_id=interaction.case_id,
        agent_id=interaction.agent_id,
        state=interaction.state,
        messages=[_message_out(message) for message in messages],
        queue_id=interaction.queue_id,
        pinned_agent_id=interaction.pinned_agent_id,
    )


@router.post("/api/emails/{interaction_id}/send", tags=["email"], status_code=201)
async def send_email(
    interaction_id: int, body: ComposeIn, request: Request, me: AnyUser, runtime: RuntimeDep
) -> SentOut:
    """Reply, reply all or forward: stored, then sent (502 `email_not_sent` if the
    server refused it; it is kept and can be retried)."""
    async with runtime.database.transaction() as db:
        await _interaction(db, me, interaction_id)
    sent = await email_desk(request.app).send(interaction_id, me.user_id, body.composition())
    return SentOut.of(sent)


@router.post("/api/emails", tags=["email"], status_code=201)
async def send_new_email(body: NewEmailIn, request: Request, me: AnyUser) -> SentOut:
    """A new email to a customer; it opens a case that the answer threads into."""
    composition = Composition(
        mode=SendMode.NEW,
        to=tuple(body.to),
        cc=tuple(body.cc),
        bcc=tuple(body.bcc),
        subject=body.subject,
        text=body.text,
        html=body.html,
        files=tuple(a.as_file() for a in body.attachments),
    )
    sent = await email_desk(request.app).send_new(
        me.user_id, body.account_id, composition, body.contact_id
    )
    return SentOut.of(sent)


@router.post("/api/emails/{interaction_id}/close", tags=["email"], status_code=204)
async def close_email(
    interaction_id: int, body: CloseIn, request: Request, me: AnyUser, runtime: RuntimeDep
) -> None:
    """Close without a reply: the interaction ends (a waiting one is withdrawn from the
    queue, by a supervisor) and the case is resolved unless asked not to."""
    async with runtime.database.transaction() as db:
        await _interaction(db, me, interaction_id)
    await email_desk(request.app).close(
        interaction_id, runtime.require_engine(), resolve_case=body.resolve_case
    )


@router.post("/api/emails/{interaction_id}/render-template", tags=["email"])
async def render_email_template(
    interaction_id: int, body: RenderIn, request: Request, me: AnyUser, db: DbDep
) -> RenderedOut:
    """A template filled in with this interaction's case, contact, agent and mailbox."""
    interaction = await _interaction(db, me, interaction_id)
    rendered = await email_desk(request.app).render(
        db, interaction, body.template_id, me.display_name
    )
    return RenderedOut(subject=rendered.subject, text=rendered.text, html=rendered.html)


@router.post("/api/emails/{interaction_id}/queue", tags=["email"], status_code=201)
async def change_email_queue(
    interaction_id: int, body: QueueChangeIn, request: Request, me: AnyUser, runtime: RuntimeDep
) -> MovedOut:
    """Move the email to another queue: it is routed there as new work (the caller's
    part ends) and the case follows it. 422 `not_an_email_queue` for a queue without
    email."""
    async with runtime.database.transaction() as db:
        await _interaction(db, me, interaction_id)
    moved = await email_desk(request.app).move(
        interaction_id, runtime.require_engine(), me.user_id, queue_id=body.queue_id
    )
    return MovedOut(interaction_id=moved)


@router.post("/api/emails/{interaction_id}/transfer", tags=["email"], status_code=201)
async def transfer_email(
    interaction_id: int, body: TransferIn, request: Request, me: AnyUser, runtime: RuntimeDep
) -> MovedOut:
    """Hand the email to a colleague: routed again, held for them first (the queue's
    sticky window), and the case assigned to them."""
    async with runtime.database.transaction() as db:
        await _interaction(db, me, interaction_id)
    moved = await email_desk(request.app).move(
        interaction_id,
        runtime.require_engine(),
        me.user_id,
        queue_id=body.queue_id,
        agent_id=body.agent_id,
    )
    return MovedOut(interaction_id=moved)


@router.put("/api/emails/{interaction_id}/pin", tags=["email"], status_code=204)
async def pin_email(
    interaction_id: int, body: PinIn, request: Request, me: AnyUser, db: DbDep
) -> None:
    """Pin the email to oneself (a supervisor: to an agent); it stays in that personal
    queue until its case is resolved."""
    interaction = await _interaction(db, me, interaction_id)
    agent_id = body.agent_id if body.agent_id is not None else me.user_id
    if agent_id != me.user_id and me.role not in SUPERVISORS:
        raise Forbidden("Only a supervisor pins an email to someone else.")
    await email_desk(request.app).pin(db, interaction, agent_id)


@router.delete("/api/emails/{interaction_id}/pin", tags=["email"], status_code=204)
async def unpin_email(interaction_id: int, request: Request, me: AnyUser, db: DbDep) -> None:
    interaction = await db.get(Interaction, interaction_id)
    if interaction is None or interaction.channel is not Channel.EMAIL:
        raise NotFound("Email interaction", interaction_id)
    if me.role not in SUPERVISORS and me.user_id not in (
        interaction.agent_id,
        interaction.pinned_agent_id,
    ):
        raise Forbidden("This email belongs to another agent.")
    await email_desk(request.app).pin(db, interaction, None)


@router.post("/api/emails/{interaction_id}/mask", tags=["email"])
async def mask_email(
    interaction_id: int, body: MaskIn, request: Request, me: AnyUser, runtime: RuntimeDep
) -> MaskedOut:
    """Replace confidential data in the stored thread by a mask, for good: the text
    selected, and/or every card or account number. 422 `nothing_to_mask` when nothing
    matched; audit-logged."""
    if not body.selections and not body.patterns:
        raise NothingChosen()
    async with runtime.database.transaction() as db:
        await _interaction(db, me, interaction_id)
    changed = await email_desk(request.app).mask(
        interaction_id, me, body.selections, body.patterns, body.message_id
    )
    return MaskedOut(message_ids=changed)


@router.get("/api/email-personal", tags=["email"])
async def personal_email_queue(request: Request, me: AnyUser, db: DbDep) -> list[FoundOut]:
    """The caller's email: in hand, and pinned to them until the case is resolved."""
    found = await email_desk(request.app).personal_queue(db, me.user_id)
    pinned = {
        row
        for row in await db.scalars(
            select(Interaction.id).where(Interaction.pinned_agent_id == me.user_id)
        )
    }
    return [
        FoundOut.of(item, pinned_to=me.user_id if item.interaction_id in pinned else None)
        for item in found
    ]


@router.get("/api/email-group", tags=["email"])
async def group_email_queue(
    request: Request,
    me: AnyUser,
    db: DbDep,
    runtime: RuntimeDep,
    queue_id: int | None = None,
    priority: CasePriority | None = None,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: GroupSort = "age",
) -> list[WaitingOut]:
    """Email waiting in the manual-pick queues the caller serves (supervisors: all),
    filtered and sorted, with each one's SLA colour: red overdue, amber due within the
    hour, green."""
    found = await email_desk(request.app).group_queue(
        db,
        runtime.require_engine(),
        me,
        runtime.clock.now(),
        is_supervisor=me.role in SUPERVISORS,
        queue_id=queue_id,
        priority=priority,
        text=q,
        sort=sort,
    )
    return [WaitingOut.of(item) for item in found]


@router.post("/api/emails/{interaction_id}/take", tags=["email"], status_code=204)
async def take_email(
    interaction_id: int, request: Request, me: Picker, runtime: RuntimeDep
) -> None:
    """Take an email from a group queue into one's hands. 409 `not_waiting` when it no
    longer waits (someone took it first), `channel_full` past one's email capacity,
    `not_eligible` for a queue one does not serve, `not_a_group_queue` otherwise."""
    async with runtime.database.transaction() as db:
        interaction = await db.get(Interaction, interaction_id)
        if interaction is None or interaction.channel is not Channel.EMAIL:
            raise NotFound("Email interaction", interaction_id)
    await email_desk(request.app).take(interaction_id, runtime.require_engine(), me.user_id)


@router.get("/api/email-search", tags=["email"])
async def search_email(
    request: Request,
    me: AnyUser,
    db: DbDep,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=r"\S")],
) -> list[FoundOut]:
    """Emails and notes by subject, sender, text or case number (`1234`, `#1234`),
    newest first, at most 50: an agent's own cases, or every case for supervisors."""
    found = await email_desk(request.app).search(db, me, q, is_supervisor=me.role in SUPERVISORS)
    return [FoundOut.of(item, q.strip()) for item in found]


@router.get("/api/email-queues", tags=["email"])
async def email_queues(_me: AnyUser, db: DbDep) -> list[EmailQueueOut]:
    """The active queues that take email, by name: where an email may be moved."""
    rows = await db.scalars(select(Queue).where(Queue.is_active.is_(True)).order_by(Queue.name))
    return [
        EmailQueueOut(id=row.id, name=row.name)
        for row in rows
        if Channel.EMAIL.value in (row.channels or [])
    ]


@router.get("/api/emails/{interaction_id}/drafts", tags=["email"])
async def list_email_drafts(interaction_id: int, me: AnyUser, db: DbDep) -> list[DraftOut]:
    await _interaction(db, me, interaction_id)
    rows = await db.scalars(
        select(EmailDraft)
        .where(EmailDraft.interaction_id == interaction_id)
        .order_by(EmailDraft.id)
    )
    return [DraftOut.of(row) for row in rows]


@router.post("/api/emails/{interaction_id}/drafts", tags=["email"], status_code=201)
async def create_email_draft(
    interaction_id: int, body: ComposeIn, request: Request, me: AnyUser, runtime: RuntimeDep
) -> DraftOut:
    """Save a draft; recipients and subject not given are filled in from the mode."""
    async with runtime.database.transaction() as db:
        await _interaction(db, me, interaction_id)
    draft = await email_desk(request.app).save_draft(interaction_id, me.user_id, body.composition())
    return DraftOut.of(draft)


@router.patch("/api/email-drafts/{draft_id}", tags=["email"])
async def update_email_draft(
    draft_id: int, body: DraftChangeIn, request: Request, me: AnyUser, runtime: RuntimeDep
) -> DraftOut:
    """Change the fields sent; attachments: `keep_attachments` picks the current ones
    to keep, `attachments` adds new ones."""
    async with runtime.database.transaction() as db:
        draft = await _draft(db, me, draft_id)
        current = dict(_entries(draft))
        interaction_id, mode = draft.interaction_id, SendMode(draft.mode)
        text, html, bcc = draft.body_text, draft.body_html, tuple(draft.bcc)
    keep = body.keep_attachments
    stored = tuple(current[i] for i in keep if i in current) if keep is not None else None
    composition = Composition(
        mode=mode,
        to=tuple(body.to) if body.to is not None else None,
        cc=tuple(body.cc) if body.cc is not None else None,
        bcc=tuple(body.bcc) if body.bcc is not None else bcc,
        subject=body.subject,
        text=body.text if body.text is not None else text,
        html=body.html if body.html is not None else html,
        files=tuple(a.as_file() for a in body.attachments or ()),
        stored_files=stored if stored is not None else tuple(current.values()),
    )
    draft = await email_desk(request.app).save_draft(
        interaction_id, me.user_id, composition, draft_id=draft_id
    )
    return DraftOut.of(draft)


@router.delete("/api/email-drafts/{draft_id}", tags=["email"], status_code=204)
async def delete_email_draft(draft_id: int, me: AnyUser, db: DbDep) -> None:
    draft = await _draft(db, me, draft_id)
    await db.delete(draft)


@router.post("/api/email-drafts/{draft_id}/send", tags=["email"], status_code=201)
async def send_email_draft(
    draft_id: int, request: Request, me: AnyUser, runtime: RuntimeDep
) -> SentOut:
    """Send the draft as saved; it is deleted once the email is stored."""
    async with runtime.database.transaction() as db:
        await _draft(db, me, draft_id)
    return SentOut.of(await email_desk(request.app).send_draft(draft_id, me.user_id))


@router.post("/api/email-messages/{message_id}/retry", tags=["email"])
async def retry_email(
    message_id: int, request: Request, me: AnyUser, runtime: RuntimeDep
) -> SentOut:
    """Send a kept email that failed (409 `not_retryable` once it went out)."""
    async with runtime.database.transaction() as db:
        message = await db.get(Message, message_id)
        if message is None or message.direction is not Direction.OUTBOUND:
            raise NotFound("Email", message_id)
        await _may_see_message(db, me, message)
        external_id, case_id = message.external_id or "", message.case_id
    delivery = await email_desk(request.app).outbox.retry(message_id)
    return SentOut(
        id=message_id, message_id=external_id, case_id=case_id or 0, status=delivery.status
    )


@router.get("/api/email-messages/{message_id}/attachments/{index}", tags=["email"])
async def get_email_attachment(
    message_id: int, index: int, request: Request, me: AnyUser, db: DbDep
) -> Response:
    """The file. Only plain images are shown inline; anything else is a download, and
    the browser may not run it (sandboxed, never sniffed)."""
    message = await db.get(Message, message_id)
    if message is None or message.kind is not MessageKind.EMAIL:
        raise NotFound("Email", message_id)
    await _may_see_message(db, me, message)
    entries = dict(_entries(message))
    entry = entries.get(index)
    if entry is None or not entry.get("path"):
        raise NotFound("Attachment", index)
    outbox = email_desk(request.app).outbox
    [file] = await outbox.read_files([entry])
    content_type = file.content_type.lower()
    inline = content_type in _SAFE_INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    filename = file.filename.replace('"', "").replace("\\", "")
    return Response(
        content=file.content,
        media_type=content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f'{disposition}; filename="{_ascii(filename)}"',
            "Content-Security-Policy": "sandbox",
        },
    )


def _ascii(filename: str) -> str:
    return filename.encode("ascii", "replace").decode("ascii").replace("?", "_") or "file"
