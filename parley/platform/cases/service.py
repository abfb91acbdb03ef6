"""What is done with cases: open one, change it, add a note, merge two. Each change is
checked by the domain rules, written with an audit row in the caller's transaction, and
announced on the bus once committed.

Events (payloads in events.py): `case.created`, `case.updated` (with the changed fields,
old -> new), `case.note_added`, `case.merged` (on the source's id and target's id).
The audit entity is `case`, with the same changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform import audit
from parley.platform.auth.principal import Principal
from parley.platform.bus import Bus, Event
from parley.platform.cases import domain, store
from parley.platform.cases.events import CaseChanged, CaseMergedEvent, CaseNoteAdded
from parley.platform.db import Base, after_commit
from parley.platform.errors import DomainError, NotFound
from parley.platform.models import (
    Case,
    CasePriority,
    CaseStatus,
    Contact,
    Direction,
    Interaction,
    Message,
    MessageKind,
    Queue,
    User,
)

# The fields a change may set directly (status and custom fields have rules of their own).
PLAIN_FIELDS = ("subject", "category", "priority", "queue_id", "assignee_id", "contact_id")
# The rows a case may point at; a missing one is a field error.
LINKS: tuple[tuple[str, type[Base]], ...] = (
    ("queue_id", Queue),
    ("assignee_id", User),
    ("contact_id", Contact),
)


class InvalidField(DomainError):
    """One input field the database shows wrong (the edge answers 422 naming it)."""

    status_code = 422

    def __init__(self, field: str, message: str, value: object = None) -> None:
        super().__init__("validation_failed", message)
        self.field = field
        self.value = value


@dataclass(frozen=True)
class CaseContext:
    """One request's work on cases: its transaction, the caller, the bus, the time."""

    db: AsyncSession
    actor: Principal | None
    bus: Bus
    now: datetime
    ip: str = ""

    async def record(self, action: str, case_id: int, changes: dict[str, Any]) -> None:
        await audit.record(self.db, self.actor, action, "case", case_id, changes, ip=self.ip)

    def publish_after_commit(self, type_: str, payload: BaseModel) -> None:
        event = Event.create(type_, payload, self.now)
        bus = self.bus

        async def publish() -> None:
            await bus.publish(event)

        after_commit(self.db, publish)


async def viewer_for(db: AsyncSession, principal: Principal) -> domain.Viewer:
    viewer = domain.Viewer(principal.user_id, principal.role)
    if viewer.sees_everything:
        return viewer
    queues = domain.member_queue_ids(
        await store.skill_levels(db, principal.user_id), await store.queue_requirements(db)
    )
    return domain.Viewer(principal.user_id, principal.role, queues)


async def visible_case(db: AsyncSession, viewer: domain.Viewer, case_id: int) -> Case:
    """The case if `viewer` may see it; else `NotFound`, as if it did not exist."""
    row = await db.get(Case, case_id)
    if row is None or not domain.may_see(viewer, row.queue_id, row.assignee_id):
        raise NotFound("Case", case_id)
    return row


async def sla_due_for(
    db: AsyncSession, queue_id: int | None, priority: CasePriority, created_at: datetime
) -> datetime | None:
    """The due time of a case created at `created_at` in this queue with this priority,
    counted in the queue's business hours when it has a schedule."""
    return (await store.sla_terms(db, queue_id)).due_at(created_at, priority)


async def _check_links(db: AsyncSession, values: Mapping[str, Any]) -> None:
    for name, model in LINKS:
        value = values.get(name)
        if value is None:
            continue
        row = await db.get(model, value)
        if row is None:
            raise InvalidField(name, f"{model.__name__} {value} does not exist.", value)
        if isinstance(row, User) and not row.is_active:
            raise InvalidField(name, f"User {value} is deactivated.", value)


def _snapshot(row: Case) -> dict[str, Any]:
    return {
        "subject": row.subject,
        "status": row.status.value,
        "priority": row.priority.value,
        "queue_id": row.queue_id,
        "assignee_id": row.assignee_id,
        "contact_id": row.contact_id,
        "category": row.category,
        "tags": list(row.tags),
        "custom_fields": dict(row.custom_fields),
        "sla_due_at": row.sla_due_at.isoformat() if row.sla_due_at else None,
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
        "merged_into_id": row.merged_into_id,
    }


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }


async def create_case(ctx: CaseContext, values: Mapping[str, Any]) -> Case:
    """A new case (status `new`) with its SLA due time from its queue and priority."""
    await _check_links(ctx.db, values)
    priority = CasePriority(values.get("priority") or CasePriority.NORMAL)
    row = Case(
        subject=values.get("subject", ""),
        priority=priority,
        queue_id=values.get("queue_id"),
        assignee_id=values.get("assignee_id"),
        contact_id=values.get("contact_id"),
        category=values.get("category", ""),
        tags=domain.normalize_tags(values.get("tags", ())),
        custom_fields=dict(values.get("custom_fields", {})),
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    row.sla_due_at = await sla_due_for(ctx.db, row.queue_id, priority, ctx.now)
    ctx.db.add(row)
    await ctx.db.flush()
    changes = _diff({}, _snapshot(row))
    await ctx.record("create", row.id, changes)
    ctx.publish_after_commit("case.created", CaseChanged(case_id=row.id, changes=changes))
    return row


def _merge_custom_fields(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch of one level: a key sent with null is removed, others are set."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def change_case(ctx: CaseContext, row: Case, values: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the fields sent (see `CaseChange` in api.py); the changes made, old -> new."""
    if row.merged_into_id is not None:
        raise domain.CaseMerged(row.id, row.merged_into_id)
    await _check_links(ctx.db, values)
    before = _snapshot(row)
    if "status" in values:
        change = domain.change_status(
            row.status, CaseStatus(values["status"]), row.closed_at, ctx.now
        )
        row.status, row.closed_at = change.status, change.closed_at
    for name in PLAIN_FIELDS:
        if name in values:
            setattr(row, name, values[name])
    if "tags" in values:
        row.tags = domain.normalize_tags(values["tags"])
    if "custom_fields" in values:
        row.custom_fields = _merge_custom_fields(row.custom_fields, values["custom_fields"])
    if before["queue_id"] != row.queue_id or before["priority"] != row.priority.value:
        row.sla_due_at = await sla_due_for(ctx.db, row.queue_id, row.priority, row.created_at)
    changes = _diff(before, _snapshot(row))
    if changes:
        row.updated_at = ctx.now
        await ctx.db.flush()
        await ctx.record("update", row.id, changes)
        ctx.publish_after_commit("case.updated", CaseChanged(case_id=row.id, changes=changes))
    return changes


async def add_note(
    ctx: CaseContext, row: Case, body: str, interaction_id: int | None = None
) -> Message:
    """An internal note on the case (or on one of its interactions), by the caller."""
    if row.merged_into_id is not None:
        raise domain.CaseMerged(row.id, row.merged_into_id)
    if interaction_id is not None:
        owner = await ctx.db.scalar(
            select(Interaction.case_id).where(Interaction.id == interaction_id)
        )
        if owner != row.id:
            raise InvalidField(
                "interaction_id",
                f"Interaction {interaction_id} is not on case {row.id}.",
                interaction_id,
            )
    note = Message(
        kind=MessageKind.NOTE,
        direction=Direction.INTERNAL,
        interaction_id=interaction_id,
        case_id=row.id,
        author_user_id=ctx.actor.user_id if ctx.actor else None,
        body_text=body,
        created_at=ctx.now,
    )
    ctx.db.add(note)
    row.updated_at = ctx.now
    await ctx.db.flush()
    await ctx.record("note", row.id, {"message_id": note.id, "interaction_id": interaction_id})
    ctx.publish_after_commit(
        "case.note_added",
        CaseNoteAdded(
            case_id=row.id,
            message_id=note.id,
            interaction_id=interaction_id,
            author_user_id=note.author_user_id,
        ),
    )
    return note


async def merge_case(ctx: CaseContext, viewer: domain.Viewer, source: Case, target_id: int) -> Case:
    """Merge `source` into `target_id` (followed to the case it finally went into, which
    `viewer` must be able to see); the case that now holds everything."""
    await visible_case(ctx.db, viewer, target_id)
    chain = await store.merged_into_chain(ctx.db, target_id)
    chain[source.id] = source.merged_into_id
    root_id = domain.merge_target(source.id, target_id, chain)
    target = await visible_case(ctx.db, viewer, root_id)
    moved_interactions, moved_messages = await store.move_case_contents(
        ctx.db, source.id, target.id
    )
    await store.repoint_merged(ctx.db, source.id, target.id)
    before = _snapshot(source)
    if source.status not in domain.DONE:
        source.closed_at = ctx.now
    source.status = CaseStatus.CLOSED
    source.merged_into_id = target.id
    source.updated_at = target.updated_at = ctx.now
    await ctx.db.flush()
    changes = _diff(before, _snapshot(source))
    await ctx.record(
        "merge",
        source.id,
        {
            **changes,
            "moved": {"interactions": moved_interactions, "messages": moved_messages},
        },
    )
    await ctx.record("merged_in", target.id, {"source_id": source.id})
    ctx.publish_after_commit(
        "case.merged",
        CaseMergedEvent(
            case_id=source.id,
            merged_into_id=target.id,
            interactions_moved=moved_interactions,
            messages_moved=moved_messages,
        ),
    )
    return target
