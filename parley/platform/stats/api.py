"""REST route of an agent's own statistics: `GET /api/me/stats`, for any signed-in user,
always about the caller (F-RP-2)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from parley.platform.errors import DomainError
from parley.platform.stats.csat import CsatGroup, csat_summary
from parley.platform.stats.service import agent_stats
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep, Supervisor

router = APIRouter(tags=["statistics"])


class HandledOut(BaseModel):
    total: int
    by_channel: dict[str, int]
    aht_seconds: float | None = Field(description="Mean of ended_at - answered_at.")


class BreakOut(BaseModel):
    used_seconds: float = Field(description="Not-ready time under non-productive reasons.")
    budget_seconds: float | None = Field(description="The team's break budget; null: none.")
    remaining_seconds: float | None
    is_over: bool


class TeamOut(BaseModel):
    id: int
    name: str
    agents_at_work: int = Field(description="Members in any state but offline today.")
    handled_average: float | None
    aht_seconds: float | None


class MyStats(BaseModel):
    day: date
    time_zone: str = Field(description="The day is counted in this zone (UTC for now).")
    period_start: datetime
    period_end: datetime
    handled: HandledOut
    time_in_state: dict[str, float] = Field(description="Seconds per state, offline left out.")
    not_ready_by_reason: dict[str, float]
    breaks: BreakOut
    team: TeamOut | None


@router.get("/api/me/stats")
async def my_stats(me: AnyUser, db: DbDep, runtime: RuntimeDep) -> MyStats:
    """Today's numbers of the caller (the UTC day), next to their team's averages."""
    stats = await agent_stats(db, me.user_id, runtime.clock.now())
    team = None
    if stats.team is not None and stats.team_average is not None:
        team = TeamOut(
            id=stats.team.id,
            name=stats.team.name,
            agents_at_work=stats.team_average.agents_at_work,
            handled_average=stats.team_average.handled_average,
            aht_seconds=stats.team_average.aht_seconds,
        )
    budget = stats.break_budget
    return MyStats(
        day=stats.period_start.date(),
        time_zone="UTC",
        period_start=stats.period_start,
        period_end=stats.period_end,
        handled=HandledOut(
            total=stats.handled.total,
            by_channel=stats.handled.by_channel,
            aht_seconds=stats.handled.aht_seconds,
        ),
        time_in_state=stats.time_in_state,
        not_ready_by_reason=stats.not_ready_by_reason,
        breaks=BreakOut(
            used_seconds=budget.used_seconds,
            budget_seconds=budget.budget_seconds,
            remaining_seconds=budget.remaining_seconds,
            is_over=budget.is_over,
        ),
        team=team,
    )


class CsatGroupOut(BaseModel):
    id: int | None
    name: str | None
    ratings: int
    average: float

    @classmethod
    def of(cls, group: CsatGroup) -> CsatGroupOut:
        return cls(id=group.id, name=group.name, ratings=group.ratings, average=group.average)


class CsatOut(BaseModel):
    since: datetime
    until: datetime
    ratings: int
    average: float | None = Field(description="Mean of the visitors' ratings (1-5).")
    by_queue: list[CsatGroupOut]
    by_agent: list[CsatGroupOut]


@router.get("/api/stats/csat")
async def csat(
    _: Supervisor, db: DbDep, runtime: RuntimeDep, since: datetime, until: datetime | None = None
) -> CsatOut:
    """Average CSAT of chats (F-CH-8) rated in [since, until), per queue and per agent."""
    end = until or runtime.clock.now()
    if since.tzinfo is None or end.tzinfo is None:
        raise DomainError("time_zone_required", "Give since and until with a time zone.")
    if end <= since:
        raise DomainError("bad_period", "until must be after since.")
    summary = await csat_summary(db, since, end)
    return CsatOut(
        since=since,
        until=end,
        ratings=summary.ratings,
        average=summary.average,
        by_queue=[CsatGroupOut.of(group) for group in summary.by_queue],
        by_agent=[CsatGroupOut.of(group) for group in summary.by_agent],
    )
