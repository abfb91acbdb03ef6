"""Average CSAT (F-CH-8): the visitors' chat ratings, per queue and per agent, over a
period. The ratings carry their queue and agent (copied when the visitor rated), so the
numbers need no join with the interactions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.models import ChatRating, Queue, User


@dataclass(frozen=True, slots=True)
class CsatGroup:
    """The ratings of one queue or one agent: how many, and their mean (1..5)."""

    id: int | None
    name: str | None
    ratings: int
    average: float


@dataclass(frozen=True, slots=True)
class CsatSummary:
    ratings: int
    average: float | None
    by_queue: tuple[CsatGroup, ...]
    by_agent: tuple[CsatGroup, ...]


async def csat_summary(db: AsyncSession, since: datetime, until: datetime) -> CsatSummary:
    """The ratings given in [since, until)."""
    in_period = (ChatRating.created_at >= since) & (ChatRating.created_at < until)
    count, average = (
        await db.execute(select(func.count(), func.avg(ChatRating.rating)).where(in_period))
    ).one()

    by_queue = await db.execute(
        select(ChatRating.queue_id, Queue.name, func.count(), func.avg(ChatRating.rating))
        .outerjoin(Queue, Queue.id == ChatRating.queue_id)
        .where(in_period)
        .group_by(ChatRating.queue_id, Queue.name)
        .order_by(ChatRating.queue_id)
    )
    by_agent = await db.execute(
        select(ChatRating.agent_id, User.display_name, func.count(), func.avg(ChatRating.rating))
        .outerjoin(User, User.id == ChatRating.agent_id)
        .where(in_period)
        .group_by(ChatRating.agent_id, User.display_name)
        .order_by(ChatRating.agent_id)
    )
    return CsatSummary(
        int(count),
        round(float(average), 2) if average is not None else None,
        tuple(_group(*row) for row in by_queue),
        tuple(_group(*row) for row in by_agent),
    )


def _group(key: int | None, name: str | None, count: int, mean: float) -> CsatGroup:
    return CsatGroup(key, name, int(count), round(float(mean), 2))
