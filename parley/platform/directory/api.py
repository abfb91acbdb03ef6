"""REST route of the directory: `GET /api/directory`, for any signed-in user."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from parley.platform.directory.service import colleagues
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep

router = APIRouter(tags=["directory"])


class ColleagueOut(BaseModel):
    id: int
    display_name: str
    role: str
    team_id: int | None
    team_name: str | None
    state: str = Field(description="Live state; `offline` when not logged in.")
    reason: str | None = Field(description="The not-ready reason code, if any.")
    since: datetime | None = Field(description="When the live state began.")
    is_me: bool


@router.get("/api/directory")
async def directory(me: AnyUser, db: DbDep, runtime: RuntimeDep) -> list[ColleagueOut]:
    """Every active user with their team and live state, sorted by name."""
    live = runtime.require_engine().agents()
    return [
        ColleagueOut(
            id=colleague.user_id,
            display_name=colleague.display_name,
            role=colleague.role.value,
            team_id=colleague.team_id,
            team_name=colleague.team_name,
            state=colleague.state.value,
            reason=colleague.reason,
            since=colleague.since,
            is_me=colleague.user_id == me.user_id,
        )
        for colleague in await colleagues(db, live)
    ]
