"""Queries behind the interaction read views."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from parley.platform.errors import NotFound
from parley.platform.models import (
    AgentStateLog,
    Case,
    CaseStatus,
    Channel,
    ChatRating,
    Contact,
    Disposition,
    Interaction,
    InteractionState,
    Queue,
    User,
)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One interaction in a contact's history, with the names of its queue, agent and
    disposition."""

    id: int
    channel: str
    direction: str
    state: str
    queue_id: int | None
    queue_name: str | None
    agent_id: int | None
    agent_name: str | None
    case_id: int | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition_id: int | None
    disposition_name: str | None
    wrap_up_notes: str
    csat_rating: int | None = None  # the visitor's rating of a chat (F-CH-8), 1..5
    csat_comment: str = ""
    # A call's audio (F-VO-5): its recordings' file names and a voicemail's, for the
    # history's player; who may listen is the telephony routes' rule.
    recordings: tuple[str, ...] = ()
    voicemail: str | None = None


async def contact_history(db: AsyncSession, contact_id: int, limit: int) -> list[HistoryEntry]:
    """The contact's interactions on every channel, newest first."""
    if await db.get(Contact, contact_id) is None:
        raise NotFound("Contact", contact_id)
    agent = aliased(User)
    rows = await db.execute(
        select(
            Interaction,
            Queue.name,
            agent.display_name,
            Disposition.name,
            ChatRating.rating,
            ChatRating.comment,
        )
        .outerjoin(Queue, Queue.id == Interaction.queue_id)
        .outerjoin(agent, agent.id == Interaction.agent_id)
        .outerjoin(Disposition, Disposition.id == Interaction.disposition_id)
        .outerjoin(ChatRating, ChatRating.interaction_id == Interaction.id)
        .where(Interaction.contact_id == contact_id)
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
        .limit(limit)
    )
    return [
        HistoryEntry(
            id=row.id,
            channel=row.channel.value,
            direction=row.direction.value,
            state=row.state.value,
            queue_id=row.queue_id,
            queue_name=queue_name,
            agent_id=row.agent_id,
            agent_name=agent_name,
            case_id=row.case_id,
            created_at=row.created_at,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
            disposition_id=row.disposition_id,
            disposition_name=disposition_name,
            wrap_up_notes=row.wrap_up_notes,
            csat_rating=rating,
            csat_comment=comment or "",
            recordings=tuple(str(name) for name in row.attributes.get("recordings", ())),
            voicemail=str(row.attributes["voicemail"]) if row.attributes.get("voicemail") else None,
        )
        for row, queue_name, agent_name, disposition_name, rating, comment in rows
    ]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """An interaction with what the desktop shows about it (the screen pop)."""

    id: int
    channel: str
    direction: str
    state: str
    queue_id: int | None
    queue_name: str | None
    disposition_required: bool
    contact_id: int | None
    case_id: int | None
    case_subject: str | None
    case_status: str | None
    attributes: dict[str, Any]
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition_id: int | None
    wrap_up_notes: str


def _work_query() -> Select[Interaction, str, bool, str, CaseStatus]:
    return (
        select(Interaction, Queue.name, Queue.disposition_required, Case.subject, Case.status)
        .outerjoin(Queue, Queue.id == Interaction.queue_id)
        .outerjoin(Case, Case.id == Interaction.case_id)
    )


def _work_item(row: Row[Interaction, str, bool, str, CaseStatus]) -> WorkItem:
    interaction, queue_name, required, case_subject, case_status = row
    return WorkItem(
        id=interaction.id,
        channel=interaction.channel.value,
        direction=interaction.direction.value,
        state=interaction.state.value,
        queue_id=interaction.queue_id,
        queue_name=queue_name,
        disposition_required=bool(required),
        contact_id=interaction.contact_id,
        case_id=interaction.case_id,
        case_subject=case_subject,
        case_status=case_status.value if case_status else None,
        attributes=dict(interaction.attributes),
        created_at=interaction.created_at,
        answered_at=interaction.answered_at,
        ended_at=interaction.ended_at,
        disposition_id=interaction.disposition_id,
        wrap_up_notes=interaction.wrap_up_notes,
    )


async def work_items(db: AsyncSession, interaction_ids: Collection[int]) -> dict[int, WorkItem]:
    """The interactions with these ids (the ones an agent's offers ring for)."""
    if not interaction_ids:
        return {}
    rows = await db.execute(_work_query().where(Interaction.id.in_(list(interaction_ids))))
    return {row[0].id: _work_item(row) for row in rows}


async def _session_start(db: AsyncSession, agent_id: int) -> datetime | None:
    """When the agent last logged in: the end of their latest offline interval."""
    started: datetime | None = await db.scalar(
        select(func.max(AgentStateLog.ended_at)).where(
            AgentStateLog.agent_id == agent_id, AgentStateLog.state == "offline"
        )
    )
    return started


async def agent_work(db: AsyncSession, agent_id: int) -> list[WorkItem]:
    """The agent's interactions in progress and those waiting for their wrap-up.

    Wrap-ups are those ended since the agent's last login: the engine forgets an
    agent's unfinished wrap-ups when they go offline, and those rows keep the
    `wrap_up` state, so older ones are not work in hand any more.
    """
    since = await _session_start(db, agent_id)
    in_wrap_up = Interaction.state == InteractionState.WRAP_UP
    if since is not None:
        in_wrap_up = in_wrap_up & (Interaction.ended_at >= since)
    rows = await db.execute(
        _work_query()
        .where(
            Interaction.agent_id == agent_id,
            or_(Interaction.state == InteractionState.ACTIVE, in_wrap_up),
        )
        .order_by(Interaction.answered_at, Interaction.id)
    )
    items = [_work_item(row) for row in rows]
    # Chats in another agent's hands that this one was invited into (a conference,
    # F-CH-6): the attributes name the guests; live chats are few, so read them all.
    guests_of = await db.execute(
        _work_query()
        .where(
            Interaction.channel == Channel.CHAT,
            Interaction.state == InteractionState.ACTIVE,
            Interaction.agent_id != agent_id,
        )
        .order_by(Interaction.answered_at, Interaction.id)
    )
    items += [
        _work_item(row)
        for row in guests_of
        if agent_id in row[0].attributes.get("chat_participants", ())
    ]
    return items
