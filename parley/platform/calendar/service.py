"""What the calendar does with follow-ups: the listing window, the owner's rows, links
that must exist, and marking done.

Every function is about one owner's follow-ups: a row of someone else is `NotFound`,
exactly like a row that does not exist, so ids reveal nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.db.base import Base
from parley.platform.errors import DomainError, NotFound
from parley.platform.models import Case, Contact, FollowUp, Interaction

# With no window asked for: yesterday's (likely still open) follow-ups and the month ahead.
DEFAULT_LOOKBACK = timedelta(days=1)
DEFAULT_SPAN = timedelta(days=31)
MAX_SPAN = timedelta(days=366)

# The rows a follow-up may be about; a link to a missing one is a field error.
LINKS: Mapping[str, type[Base]] = {
    "contact_id": Contact,
    "case_id": Case,
    "interaction_id": Interaction,
}


class InvalidField(DomainError):
    """One input field the database shows wrong (the edge answers 422 naming it)."""

    status_code = 422

    def __init__(self, field: str, message: str, value: object = None) -> None:
        super().__init__("validation_failed", message)
        self.field = field
        self.value = value


@dataclass(frozen=True, slots=True)
class Window:
    """Follow-ups due at or after `start` and before `end`."""

    start: datetime
    end: datetime


def listing_window(now: datetime, start: datetime | None, end: datetime | None) -> Window:
    """The window a listing covers: what was asked, the rest filled in.

    Neither bound: from `now` - 1 day to `now` + 30 days. One bound: 31 days from (or up
    to) it. The window must be non-empty and span at most 366 days.
    """
    if start is None and end is None:
        start = now - DEFAULT_LOOKBACK
    if start is None:
        assert end is not None
        start = end - DEFAULT_SPAN
    if end is None:
        end = start + DEFAULT_SPAN
    if end <= start:
        raise InvalidField("end", "The end must come after the start.", end.isoformat())
    if end - start > MAX_SPAN:
        raise InvalidField("end", f"A window spans at most {MAX_SPAN.days} days.", end.isoformat())
    return Window(start, end)


def remind_at(due_at: datetime, remind_minutes_before: int) -> datetime:
    return due_at - timedelta(minutes=remind_minutes_before)


async def follow_ups_due(
    db: AsyncSession, owner_id: int, window: Window, *, include_done: bool, limit: int
) -> tuple[list[FollowUp], bool]:
    """The owner's follow-ups due within `window`, soonest first, at most `limit` of
    them, and whether more were left out."""
    statement = select(FollowUp).where(
        FollowUp.owner_id == owner_id,
        FollowUp.due_at >= window.start,
        FollowUp.due_at < window.end,
    )
    if not include_done:
        statement = statement.where(FollowUp.done_at.is_(None))
    rows = list(await db.scalars(statement.order_by(FollowUp.due_at, FollowUp.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


async def owned_follow_up(db: AsyncSession, owner_id: int, follow_up_id: int) -> FollowUp:
    row = await db.scalar(
        select(FollowUp).where(FollowUp.id == follow_up_id, FollowUp.owner_id == owner_id)
    )
    if row is None:
        raise NotFound("Follow-up", follow_up_id)
    return row


async def check_links(db: AsyncSession, values: Mapping[str, Any]) -> None:
    """Refuse a contact, case or interaction id that does not exist."""
    for name, model in LINKS.items():
        value = values.get(name)
        if value is not None and await db.get(model, value) is None:
            raise InvalidField(name, f"{model.__name__} {value} does not exist.", value)


async def create_follow_up(db: AsyncSession, owner_id: int, values: Mapping[str, Any]) -> FollowUp:
    await check_links(db, values)
    row = FollowUp(owner_id=owner_id, **values)
    db.add(row)
    await db.flush()
    return row


async def change_follow_up(
    db: AsyncSession, row: FollowUp, values: Mapping[str, Any], now: datetime
) -> FollowUp:
    """Set the fields in `values`; `done` (true or false) marks done or open again."""
    values = dict(values)
    await check_links(db, values)
    if "done" in values:
        _set_done(row, bool(values.pop("done")), now)
    for name, value in values.items():
        setattr(row, name, value)
    await db.flush()
    return row


async def mark_done(db: AsyncSession, row: FollowUp, now: datetime) -> FollowUp:
    """Done as of `now`; a follow-up already done keeps the moment it was done."""
    _set_done(row, True, now)
    await db.flush()
    return row


async def delete_follow_up(db: AsyncSession, row: FollowUp) -> None:
    await db.delete(row)
    await db.flush()


def _set_done(row: FollowUp, is_done: bool, now: datetime) -> None:
    if not is_done:
        row.done_at = None
    elif row.done_at is None:
        row.done_at = now
