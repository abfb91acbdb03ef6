"""Queries of cases: who belongs to which queue, the filtered list, one case's timeline,
the merge chain, and the SLA threshold (and business hours) of a queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from parley.platform.cases.domain import DONE, PRIORITY_RANK, SlaTerms, Viewer
from parley.platform.models import (
    AgentSkill,
    Case,
    CasePriority,
    CaseStatus,
    Contact,
    Disposition,
    Interaction,
    Message,
    Queue,
    QueueSkill,
    Schedule,
    User,
)
from parley.platform.schedules import WeeklyHours

log = structlog.get_logger(__name__)


async def skill_levels(db: AsyncSession, user_id: int) -> dict[int, int]:
    rows = await db.execute(
        select(AgentSkill.skill_id, AgentSkill.level).where(AgentSkill.user_id == user_id)
    )
    return {skill_id: level for skill_id, level in rows}


async def queue_requirements(db: AsyncSession) -> dict[int, dict[int, int]]:
    """Every queue's required skills (queue id -> {skill id: min level}), {} for none."""
    required: dict[int, dict[int, int]] = {
        queue_id: {} for queue_id in await db.scalars(select(Queue.id))
    }
    rows = await db.execute(select(QueueSkill.queue_id, QueueSkill.skill_id, QueueSkill.min_level))
    for queue_id, skill_id, min_level in rows:
        required.setdefault(queue_id, {})[skill_id] = min_level
    return required


def visible_to(viewer: Viewer) -> ColumnElement[bool] | None:
    """The cases `viewer` may see, as a clause (None: all of them)."""
    if viewer.sees_everything:
        return None
    mine = Case.assignee_id == viewer.user_id
    if not viewer.queue_ids:
        return mine
    return or_(mine, Case.queue_id.in_(sorted(viewer.queue_ids)))


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What a case list asks for; every field left empty matches everything."""

    statuses: Sequence[CaseStatus] = ()
    priorities: Sequence[CasePriority] = ()
    queue_id: int | None = None
    assignee_id: int | None = None
    is_unassigned: bool = False
    contact_id: int | None = None
    tag: str | None = None
    text: str | None = None
    sla_breached: bool | None = None
    include_merged: bool = False
    sort: str = "-updated_at"


SORTABLE = ("id", "created_at", "updated_at", "sla_due_at", "priority", "status", "closed_at")


@dataclass(frozen=True, slots=True)
class CaseRow:
    case: Case
    queue_name: str | None
    assignee_name: str | None
    contact_name: str | None


def contains_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    if dialect == "postgresql":  # JSONB containment
        return type_coerce(Case.tags, JSONB).contains([tag])
    each = func.json_each(Case.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def _text_clause(term: str) -> ColumnElement[bool]:
    pattern = contains_pattern(term)
    in_messages = exists(
        select(1).where(
            Message.case_id == Case.id,
            or_(
                Message.subject.ilike(pattern, escape="\\"),
                Message.body_text.ilike(pattern, escape="\\"),
            ),
        )
    )
    clauses = [Case.subject.ilike(pattern, escape="\\"), in_messages]
    number = term.strip().lstrip("#")
    if number.isdigit() and len(number) < 18:
        clauses.append(Case.id == int(number))
    return or_(*clauses)


def _where(wanted: CaseFilter, viewer: Viewer, dialect: str, now: datetime) -> list[Any]:
    clauses: list[Any] = []
    if (visible := visible_to(viewer)) is not None:
        clauses.append(visible)
    if not wanted.include_merged:
        clauses.append(Case.merged_into_id.is_(None))
    if wanted.statuses:
        clauses.append(Case.status.in_(list(wanted.statuses)))
    if wanted.priorities:
        clauses.append(Case.priority.in_(list(wanted.priorities)))
    if wanted.queue_id is not None:
        clauses.append(Case.queue_id == wanted.queue_id)
    if wanted.assignee_id is not None:
        clauses.append(Case.assignee_id == wanted.assignee_id)
    if wanted.is_unassigned:
        clauses.append(Case.assignee_id.is_(None))
    if wanted.contact_id is not None:
        clauses.append(Case.contact_id == wanted.contact_id)
    if wanted.tag:
        clauses.append(_has_tag(dialect, wanted.tag))
    if wanted.text:
        clauses.append(_text_clause(wanted.text))
    if wanted.sla_breached is not None:
        breached = and_(
            Case.sla_due_at.is_not(None),
            Case.sla_due_at < now,
            Case.status.not_in(list(DONE)),
        )
        clauses.append(breached if wanted.sla_breached else ~breached)
    return clauses


def _order(sort: str) -> list[Any]:
    name = sort.removeprefix("-")
    column: Any
    if name == "priority":
        column = case(
            {priority.value: rank for priority, rank in PRIORITY_RANK.items()},
            value=Case.priority,
        )
    else:
        column = getattr(Case, name)
    descending = sort.startswith("-")
    # Cases without a due time come last either way: they are never the most urgent.
    order = [column.desc() if descending else column.asc()]
    if name in ("sla_due_at", "closed_at"):
        order.insert(0, column.is_(None))
    if name != "id":
        order.append(Case.id.desc() if descending else Case.id.asc())
    return order


def _listing() -> Select[Case, str, str, str]:
    assignee = aliased(User)
    return (
        select(Case, Queue.name, assignee.display_name, Contact.name)
        .outerjoin(Queue, Queue.id == Case.queue_id)
        .outerjoin(assignee, assignee.id == Case.assignee_id)
        .outerjoin(Contact, Contact.id == Case.contact_id)
    )


async def case_page(
    db: AsyncSession,
    viewer: Viewer,
    wanted: CaseFilter,
    now: datetime,
    *,
    limit: int,
    offset: int,
) -> tuple[list[CaseRow], int]:
    """One page of the cases `viewer` may see that match `wanted`, and the total."""
    dialect = db.get_bind().dialect.name
    where = _where(wanted, viewer, dialect, now)
    total = await db.scalar(select(func.count()).select_from(Case).where(*where))
    rows = await db.execute(
        _listing().where(*where).order_by(*_order(wanted.sort)).limit(limit).offset(offset)
    )
    return [CaseRow(*row) for row in rows], int(total or 0)


async def case_row(db: AsyncSession, case_id: int, viewer: Viewer | None) -> CaseRow | None:
    """The case with the names it shows, if `viewer` may see it (None: anyone may)."""
    statement = _listing().where(Case.id == case_id)
    if viewer is not None and (visible := visible_to(viewer)) is not None:
        statement = statement.where(visible)
    row = (await db.execute(statement)).first()
    return None if row is None else CaseRow(*row)


@dataclass(frozen=True, slots=True)
class MessageEntry:
    message: Message
    author_name: str | None


@dataclass(slots=True)
class InteractionEntry:
    interaction: Interaction
    queue_name: str | None
    agent_name: str | None
    disposition_code: str | None
    disposition_name: str | None
    messages: list[MessageEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One moment of a case's life: an interaction (with its messages) or a message not
    on any interaction of the case (a note on the case itself)."""

    at: datetime
    interaction: InteractionEntry | None = None
    message: MessageEntry | None = None


async def timeline(db: AsyncSession, case_id: int) -> list[TimelineEntry]:
    """Every interaction of the case on every channel with its messages, and the case's
    other messages, oldest first."""
    agent = aliased(User)
    interactions = await db.execute(
        select(Interaction, Queue.name, agent.display_name, Disposition.code, Disposition.name)
        .outerjoin(Queue, Queue.id == Interaction.queue_id)
        .outerjoin(agent, agent.id == Interaction.agent_id)
        .outerjoin(Disposition, Disposition.id == Interaction.disposition_id)
        .where(Interaction.case_id == case_id)
    )
    by_id = {row[0].id: InteractionEntry(*row) for row in interactions}
    author = aliased(User)
    messages = await db.execute(
        select(Message, author.display_name)
        .outerjoin(author, author.id == Message.author_user_id)
        .where(Message.case_id == case_id)
        .order_by(Message.created_at, Message.id)
    )
    loose: list[TimelineEntry] = []
    for message, author_name in messages:
        entry = MessageEntry(message, author_name)
        owner = by_id.get(message.interaction_id) if message.interaction_id else None
        if owner is None:
            loose.append(TimelineEntry(message.created_at, message=entry))
        else:
            owner.messages.append(entry)
    entries = [
        TimelineEntry(item.interaction.created_at, interaction=item) for item in by_id.values()
    ]
    entries.extend(loose)
    entries.sort(key=_timeline_key)
    return entries


def _timeline_key(entry: TimelineEntry) -> tuple[datetime, int, int]:
    if entry.interaction is not None:
        return (entry.at, 0, entry.interaction.interaction.id)
    assert entry.message is not None
    return (entry.at, 1, entry.message.message.id)


async def merged_into_chain(db: AsyncSession, case_id: int) -> dict[int, int | None]:
    """`case_id` and every case its merges lead to: id -> merged_into_id (empty when
    `case_id` does not exist)."""
    chain: dict[int, int | None] = {}
    current: int | None = case_id
    while current is not None and current not in chain and len(chain) < 1_000:
        found = (await db.execute(select(Case.merged_into_id).where(Case.id == current))).first()
        if found is None:  # a missing case (the first one, or one deleted since)
            break
        chain[current] = found[0]
        current = found[0]
    return chain


async def merged_into(db: AsyncSession, case_id: int) -> list[int]:
    """The cases merged into `case_id`."""
    rows = await db.scalars(select(Case.id).where(Case.merged_into_id == case_id).order_by(Case.id))
    return list(rows)


async def move_case_contents(db: AsyncSession, source_id: int, target_id: int) -> tuple[int, int]:
    """Move the source's interactions and messages to the target; how many of each."""
    interactions = await db.execute(
        update(Interaction).where(Interaction.case_id == source_id).values(case_id=target_id)
    )
    messages = await db.execute(
        update(Message).where(Message.case_id == source_id).values(case_id=target_id)
    )
    return interactions.rowcount, messages.rowcount  # type: ignore[attr-defined]


async def repoint_merged(db: AsyncSession, source_id: int, target_id: int) -> None:
    """Cases merged into the source now point at the target (chains stay one step)."""
    await db.execute(
        update(Case).where(Case.merged_into_id == source_id).values(merged_into_id=target_id)
    )


async def sla_terms(db: AsyncSession, queue_id: int | None) -> SlaTerms:
    """The queue's SLA threshold and the business hours of its schedule (if any)."""
    if queue_id is None:
        return SlaTerms(None)
    row = (
        await db.execute(
            select(
                Queue.sla_threshold_seconds, Schedule.time_zone, Schedule.hours, Schedule.holidays
            )
            .outerjoin(Schedule, Schedule.id == Queue.schedule_id)
            .where(Queue.id == queue_id)
        )
    ).one_or_none()
    if row is None:
        return SlaTerms(None)
    threshold, time_zone, hours, holidays = row
    if time_zone is None:
        return SlaTerms(int(threshold))
    try:
        return SlaTerms(int(threshold), WeeklyHours.build(time_zone, hours, holidays))
    except (ValueError, KeyError, TypeError, LookupError) as error:
        # A schedule the admin API would refuse: count calendar time rather than none.
        log.warning("cases.schedule_unreadable", queue_id=queue_id, error=str(error))
        return SlaTerms(int(threshold))
