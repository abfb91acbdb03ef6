"""REST routes of cases (F-CS-1), for any signed-in user:

    GET   /api/cases?status=&priority=&queue_id=&assignee_id=&unassigned=&contact_id=
                    &tag=&q=&sla_breached=&include_merged=&sort=&limit=&offset=
    POST  /api/cases                          201 with the case (status `new`)
    GET   /api/cases/{case_id}                the case with its timeline
    PATCH /api/cases/{case_id}                only the fields sent
    POST  /api/cases/{case_id}/notes          201 with the note
    POST  /api/cases/{case_id}/merge          {"into_case_id": B}: the case it went into
    GET   /api/case-queues                    the queues the caller's cases may be in

Supervisors and admins see and change every case; an agent those of the queues they
are a member of and those assigned to them, and any other answers 404, as if absent.
The rules (status changes, SLA due times, merges) are in domain.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from parley.platform.admin_api.schemas import DEFAULT_LIMIT, MAX_LIMIT, Input, Page, invalid
from parley.platform.cases import domain, service, store
from parley.platform.errors import NotFound
from parley.platform.models import Case, CasePriority, CaseStatus, Message, Queue
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep, client_ip

router = APIRouter(tags=["cases"])

Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
FieldName = Annotated[str, Field(min_length=1, max_length=100)]
Category = Annotated[str, Field(max_length=100)]
SORT_PATTERN = r"^-?(" + "|".join(store.SORTABLE) + r")$"


class CaseCreate(Input):
    subject: Subject
    priority: CasePriority = CasePriority.NORMAL
    queue_id: int | None = None
    assignee_id: int | None = None
    contact_id: int | None = None
    category: Category = ""
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    custom_fields: dict[FieldName, Any] = Field(default_factory=dict)


class CaseChange(Input):
    """A PATCH body: a field left out keeps its value; `null` clears the queue, the
    assignee or the contact. `tags` replaces the tags; `custom_fields` is merged into
    the case's (a field sent as null is removed)."""

    subject: Subject | None = None
    status: CaseStatus | None = None
    priority: CasePriority | None = None
    queue_id: int | None = None
    assignee_id: int | None = None
    contact_id: int | None = None
    category: Category | None = None
    tags: list[Tag] | None = Field(None, max_length=50)
    custom_fields: dict[FieldName, Any] | None = None


# Fields that may not be null (only the links may be cleared).
NOT_NULL = ("subject", "status", "priority", "category", "tags", "custom_fields")


class NoteCreate(Input):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
    interaction_id: int | None = Field(None, description="One of the case's interactions.")


class MergeRequest(Input):
    into_case_id: int = Field(description="The case to merge into (followed if merged).")


class CaseOut(BaseModel):
    id: int = Field(description="Also the case number, `[#id]` in email subjects.")
    subject: str
    status: CaseStatus
    priority: CasePriority
    queue_id: int | None
    queue_name: str | None
    assignee_id: int | None
    assignee_name: str | None
    contact_id: int | None
    contact_name: str | None
    category: str
    tags: list[str]
    custom_fields: dict[str, Any]
    sla_due_at: datetime | None
    sla_breached: bool
    merged_into_id: int | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    id: int
    kind: str
    direction: str
    interaction_id: int | None
    author_user_id: int | None
    author_name: str | None
    author_contact_id: int | None
    subject: str
    body_text: str
    body_html: str
    headers: dict[str, Any]
    created_at: datetime


class InteractionOut(BaseModel):
    id: int
    channel: str
    direction: str
    state: str
    queue_id: int | None
    queue_name: str | None
    agent_id: int | None
    agent_name: str | None
    contact_id: int | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition_id: int | None
    disposition_code: str | None
    disposition_name: str | None
    wrap_up_notes: str
    messages: list[MessageOut]
    # A call's audio (F-VO-5): recordings and a voicemail by file name, played through
    # /api/calls/{id}/recordings/{name} and /voicemail, which say who may listen.
    recordings: list[str] = Field(default_factory=list)
    voicemail: str | None = None


class TimelineItem(BaseModel):
    """An interaction with its messages, or a note on the case itself."""

    at: datetime
    kind: str = Field(description="`interaction` or `message`.")
    interaction: InteractionOut | None = None
    message: MessageOut | None = None


class CaseQueueOut(BaseModel):
    id: int
    name: str


class CaseDetail(CaseOut):
    merged_case_ids: list[int] = Field(description="The cases merged into this one.")
    timeline: list[TimelineItem]


def _case_out(row: store.CaseRow, now: datetime) -> CaseOut:
    case = row.case
    return CaseOut(
        id=case.id,
        subject=case.subject,
        status=case.status,
        priority=case.priority,
        queue_id=case.queue_id,
        queue_name=row.queue_name,
        assignee_id=case.assignee_id,
        assignee_name=row.assignee_name,
        contact_id=case.contact_id,
        contact_name=row.contact_name,
        category=case.category,
        tags=list(case.tags),
        custom_fields=dict(case.custom_fields),
        sla_due_at=case.sla_due_at,
        sla_breached=domain.is_breached(case.sla_due_at, case.status, now),
        merged_into_id=case.merged_into_id,
        closed_at=case.closed_at,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def _message_out(entry: store.MessageEntry) -> MessageOut:
    message: Message = entry.message
    return MessageOut(
        id=message.id,
        kind=message.kind.value,
        direction=message.direction.value,
        interaction_id=message.interaction_id,
        author_user_id=message.author_user_id,
        author_name=entry.author_name,
        author_contact_id=message.author_contact_id,
        subject=message.subject,
        body_text=message.body_text,
        body_html=message.body_html,
        headers=dict(message.headers),
        created_at=message.created_at,
    )


def _timeline_item(entry: store.TimelineEntry) -> TimelineItem:
    if entry.message is not None:
        return TimelineItem(at=entry.at, kind="message", message=_message_out(entry.message))
    assert entry.interaction is not None
    item = entry.interaction
    interaction = item.interaction
    return TimelineItem(
        at=entry.at,
        kind="interaction",
        interaction=InteractionOut(
            id=interaction.id,
            channel=interaction.channel.value,
            direction=interaction.direction.value,
            state=interaction.state.value,
            queue_id=interaction.queue_id,
            queue_name=item.queue_name,
            agent_id=interaction.agent_id,
            agent_name=item.agent_name,
            contact_id=interaction.contact_id,
            created_at=interaction.created_at,
            answered_at=interaction.answered_at,
            ended_at=interaction.ended_at,
            disposition_id=interaction.disposition_id,
            disposition_code=item.disposition_code,
            disposition_name=item.disposition_name,
            wrap_up_notes=interaction.wrap_up_notes,
            messages=[_message_out(message) for message in item.messages],
            recordings=[str(name) for name in interaction.attributes.get("recordings", [])],
            voicemail=str(interaction.attributes.get("voicemail") or "") or None,
        ),
    )


def _context(db: DbDep, me: AnyUser, runtime: RuntimeDep, request: Request) -> service.CaseContext:
    return service.CaseContext(db, me, runtime.bus, runtime.clock.now(), client_ip(request))


async def _out(db: DbDep, case: Case, now: datetime) -> CaseOut:
    """The case the caller just wrote, even if the change took it out of their sight
    (an agent moving a case to another team's queue)."""
    row = await store.case_row(db, case.id, None)
    assert row is not None  # written in this transaction
    return _case_out(row, now)


@router.get("/api/cases")
async def list_cases(
    me: AnyUser,
    db: DbDep,
    runtime: RuntimeDep,
    status: Annotated[list[CaseStatus] | None, Query(description="Any of these.")] = None,
    priority: Annotated[list[CasePriority] | None, Query(description="Any of these.")] = None,
    queue_id: int | None = None,
    assignee_id: int | None = None,
    unassigned: Annotated[bool, Query(description="Only cases nobody is assigned.")] = False,
    contact_id: int | None = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1, max_length=200, description="Text in the subject or messages; #number."
        ),
    ] = None,
    sla_breached: Annotated[
        bool | None, Query(description="true: past due and not resolved or closed.")
    ] = None,
    include_merged: bool = False,
    sort: Annotated[
        str, Query(pattern=SORT_PATTERN, description="A field; prefix `-` to reverse.")
    ] = "-updated_at",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[CaseOut]:
    """The cases the caller may see that match every filter given."""
    now = runtime.clock.now()
    viewer = await service.viewer_for(db, me)
    wanted = store.CaseFilter(
        statuses=status or (),
        priorities=priority or (),
        queue_id=queue_id,
        assignee_id=assignee_id,
        is_unassigned=unassigned,
        contact_id=contact_id,
        tag=domain.normalize_tags([tag])[0] if tag and tag.strip() else None,
        text=q,
        sla_breached=sla_breached,
        include_merged=include_merged,
        sort=sort,
    )
    rows, total = await store.case_page(db, viewer, wanted, now, limit=limit, offset=offset)
    return Page[CaseOut](
        items=[_case_out(row, now) for row in rows], total=total, limit=limit, offset=offset
    )


def _field_error(exc: service.InvalidField) -> Exception:
    return invalid((exc.field,), exc.message, exc.value)


@router.post("/api/cases", status_code=201)
async def create_case(
    body: CaseCreate, me: AnyUser, db: DbDep, runtime: RuntimeDep, request: Request
) -> CaseOut:
    ctx = _context(db, me, runtime, request)
    try:
        case = await service.create_case(ctx, body.model_dump())
    except service.InvalidField as exc:
        raise _field_error(exc) from exc
    return await _out(db, case, ctx.now)


@router.get("/api/cases/{case_id}")
async def get_case(case_id: int, me: AnyUser, db: DbDep, runtime: RuntimeDep) -> CaseDetail:
    """The case and its timeline: every interaction on every channel with its messages,
    notes, disposition and wrap-up notes, oldest first."""
    now = runtime.clock.now()
    viewer = await service.viewer_for(db, me)
    row = await store.case_row(db, case_id, viewer)
    if row is None:
        raise NotFound("Case", case_id)
    return CaseDetail(
        **_case_out(row, now).model_dump(),
        merged_case_ids=await store.merged_into(db, case_id),
        timeline=[_timeline_item(entry) for entry in await store.timeline(db, case_id)],
    )


@router.patch("/api/cases/{case_id}")
async def change_case(
    case_id: int,
    body: CaseChange,
    me: AnyUser,
    db: DbDep,
    runtime: RuntimeDep,
    request: Request,
) -> CaseOut:
    values = body.model_dump(exclude_unset=True)
    for name in NOT_NULL:
        if name in values and values[name] is None:
            raise invalid((name,), "May not be null; leave it out to keep it.", None)
    ctx = _context(db, me, runtime, request)
    viewer = await service.viewer_for(db, me)
    case = await service.visible_case(db, viewer, case_id)
    try:
        await service.change_case(ctx, case, values)
    except service.InvalidField as exc:
        raise _field_error(exc) from exc
    return await _out(db, case, ctx.now)


@router.post("/api/cases/{case_id}/notes", status_code=201)
async def add_case_note(
    case_id: int,
    body: NoteCreate,
    me: AnyUser,
    db: DbDep,
    runtime: RuntimeDep,
    request: Request,
) -> MessageOut:
    ctx = _context(db, me, runtime, request)
    viewer = await service.viewer_for(db, me)
    case = await service.visible_case(db, viewer, case_id)
    try:
        note = await service.add_note(ctx, case, body.body, body.interaction_id)
    except service.InvalidField as exc:
        raise _field_error(exc) from exc
    return _message_out(store.MessageEntry(note, me.display_name))


@router.post("/api/cases/{case_id}/merge")
async def merge_case(
    case_id: int,
    body: MergeRequest,
    me: AnyUser,
    db: DbDep,
    runtime: RuntimeDep,
    request: Request,
) -> CaseOut:
    """Merge this case into `into_case_id`: its interactions and messages move there,
    and it is closed, pointing at the case it went into (which is returned)."""
    ctx = _context(db, me, runtime, request)
    viewer = await service.viewer_for(db, me)
    source = await service.visible_case(db, viewer, case_id)
    target = await service.merge_case(ctx, viewer, source, body.into_case_id)
    return await _out(db, target, ctx.now)


@router.get("/api/case-queues")
async def case_queues(me: AnyUser, db: DbDep) -> list[CaseQueueOut]:
    """The active queues, by name, whose cases the caller may see (every queue for
    supervisors, an agent's member queues): what the desktop's queue filter offers."""
    viewer = await service.viewer_for(db, me)
    statement = select(Queue.id, Queue.name).where(Queue.is_active.is_(True))
    if not viewer.sees_everything:
        statement = statement.where(Queue.id.in_(viewer.queue_ids))
    rows = await db.execute(statement.order_by(Queue.name))
    return [CaseQueueOut(id=queue_id, name=name) for queue_id, name in rows.all()]
