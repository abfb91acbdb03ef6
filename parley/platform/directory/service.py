"""Joins the active users of the database with the engine's live agent states.

The engine holds only agents who are logged in, so anyone it does not know is
`offline`; the database is asked only for names and teams.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.agents import AgentState, AgentView
from parley.platform.models import Role, Team, User


@dataclass(frozen=True, slots=True)
class Colleague:
    user_id: int
    display_name: str
    role: Role
    team_id: int | None
    team_name: str | None
    state: AgentState
    reason: str | None
    since: datetime | None


async def colleagues(db: AsyncSession, live: Iterable[AgentView]) -> list[Colleague]:
    """Every active user, by name, with the live state of those the engine has."""
    views = {int(view.agent_id): view for view in live}
    rows = await db.execute(
        select(User.id, User.display_name, User.role, User.team_id, Team.name)
        .outerjoin(Team, Team.id == User.team_id)
        .where(User.is_active.is_(True))
        # By name as a person reads it: "adam" next to "Anna", not after "Zofia" (both
        # SQLite and a C-collated PostgreSQL sort capitals first).
        .order_by(func.lower(User.display_name), User.display_name, User.id)
    )
    found = []
    for user_id, display_name, role, team_id, team_name in rows:
        view = views.get(user_id)
        found.append(
            Colleague(
                user_id=user_id,
                display_name=display_name,
                role=role,
                team_id=team_id,
                team_name=team_name,
                state=view.state if view else AgentState.OFFLINE,
                reason=view.reason if view else None,
                since=view.state_since if view else None,
            )
        )
    return found
