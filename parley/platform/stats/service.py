"""Loads what an agent's statistics are computed from (state intervals, handled
interactions, reason codes, the team) and hands it to `stats.domain`.

The period is the current day in UTC, from midnight to now: Parley keeps no time zone
per agent or team yet, so "today" is the UTC day everywhere in the desktop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.errors import NotFound
from parley.platform.models import AgentStateLog, Interaction, ReasonCode, Team, User
from parley.platform.stats.domain import (
    BreakBudget,
    Handled,
    HandledSummary,
    Interval,
    TeamAverage,
    break_budget,
    break_seconds,
    not_ready_by_reason,
    summarize_handled,
    team_average,
    time_in_states,
    was_at_work,
)


@dataclass(frozen=True, slots=True)
class AgentStats:
    period_start: datetime
    period_end: datetime
    handled: HandledSummary
    time_in_state: dict[str, float]
    not_ready_by_reason: dict[str, float]
    break_budget: BreakBudget
    team: Team | None
    team_average: TeamAverage | None


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """From the start of `now`'s UTC day to `now`."""
    moment = now.astimezone(UTC)
    return datetime.combine(moment.date(), time(0), tzinfo=UTC), moment


async def _intervals(
    db: AsyncSession, agent_ids: list[int], start: datetime, end: datetime
) -> dict[int, list[Interval]]:
    rows = await db.scalars(
        select(AgentStateLog)
        .where(
            AgentStateLog.agent_id.in_(agent_ids),
            AgentStateLog.started_at < end,
            or_(AgentStateLog.ended_at.is_(None), AgentStateLog.ended_at > start),
        )
        .order_by(AgentStateLog.agent_id, AgentStateLog.started_at, AgentStateLog.id)
    )
    found: dict[int, list[Interval]] = {agent_id: [] for agent_id in agent_ids}
    for row in rows:
        found[row.agent_id].append(Interval(row.state, row.reason, row.started_at, row.ended_at))
    return found


async def _handled(
    db: AsyncSession, agent_ids: list[int], start: datetime, end: datetime
) -> list[Handled]:
    rows = await db.execute(
        select(
            Interaction.agent_id,
            Interaction.channel,
            Interaction.answered_at,
            Interaction.ended_at,
        ).where(
            Interaction.agent_id.in_(agent_ids),
            Interaction.answered_at.is_not(None),
            Interaction.ended_at >= start,
            Interaction.ended_at <= end,
        )
    )
    return [
        Handled(agent_id, channel.value, answered_at, ended_at)
        for agent_id, channel, answered_at, ended_at in rows
        if agent_id is not None and answered_at is not None and ended_at is not None
    ]


async def agent_stats(db: AsyncSession, agent_id: int, now: datetime) -> AgentStats:
    """The statistics of `agent_id` for the UTC day of `now`, with their team's."""
    user = await db.get(User, agent_id)
    if user is None:
        raise NotFound("User", agent_id)
    start, end = day_bounds(now)
    team = await db.get(Team, user.team_id) if user.team_id is not None else None
    members = [agent_id]
    if team is not None:
        members = sorted(
            set(await db.scalars(select(User.id).where(User.team_id == team.id))) | {agent_id}
        )
    intervals = await _intervals(db, members, start, end)
    handled = await _handled(db, members, start, end)
    # Inactive codes count too: one used this morning was a break even if retired since.
    non_productive = set(
        await db.scalars(select(ReasonCode.code).where(ReasonCode.is_productive.is_(False)))
    )
    mine = intervals[agent_id]
    used = break_seconds(mine, start, end, non_productive)
    average = None
    if team is not None:
        at_work = was_at_work(intervals, start, end) | {item.agent_id for item in handled}
        average = team_average(handled, at_work)
    return AgentStats(
        period_start=start,
        period_end=end,
        handled=summarize_handled(item for item in handled if item.agent_id == agent_id),
        time_in_state=time_in_states(mine, start, end),
        not_ready_by_reason=not_ready_by_reason(mine, start, end),
        break_budget=break_budget(used, team.break_budget_minutes if team else None),
        team=team,
        team_average=average,
    )
