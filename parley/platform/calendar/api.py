"""REST routes of the caller's own follow-ups (F-CS-5), for any signed-in user:

    GET    /api/me/follow-ups?start=&end=&include_done=&limit=   the window, soonest first
    POST   /api/me/follow-ups                                     201 with the follow-up
    PATCH  /api/me/follow-ups/{follow_up_id}                      only the fields sent
    POST   /api/me/follow-ups/{follow_up_id}/done                 done (again: unchanged)
    DELETE /api/me/follow-ups/{follow_up_id}                      204

Nobody sees anyone else's follow-ups, supervisors and admins included: another user's
id answers 404, as if absent. Times must carry a zone (`...Z` or `+02:00`); a naive
one is a 422 rather than a guess, and every time comes back in UTC. Each follow-up
carries `remind_at` (`due_at` - `remind_minutes_before`), when the desktop reminds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
)
from pydantic_core import PydanticCustomError

from parley.platform.admin_api.schemas import Input, invalid
from parley.platform.calendar.service import (
    DEFAULT_SPAN,
    InvalidField,
    change_follow_up,
    create_follow_up,
    delete_follow_up,
    follow_ups_due,
    listing_window,
    mark_done,
    owned_follow_up,
    remind_at,
)
from parley.platform.models import FollowUp
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep

router = APIRouter(tags=["calendar"])

DEFAULT_LIMIT = 200
MAX_LIMIT = 500
MAX_REMIND_MINUTES = 30 * 24 * 60


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UTCTime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Notes = Annotated[str, Field(max_length=10_000)]
RemindMinutes = Annotated[
    int, Field(ge=0, le=MAX_REMIND_MINUTES, description="Remind this long before due_at.")
]


class FollowUpCreate(Input):
    title: Title
    notes: Notes = ""
    due_at: UTCTime
    remind_minutes_before: RemindMinutes = 10
    contact_id: int | None = None
    case_id: int | None = None
    interaction_id: int | None = None


class FollowUpChange(Input):
    """A PATCH body: a field left out keeps its value; `null` clears a link only."""

    title: Title | None = None
    notes: Notes | None = None
    due_at: UTCTime | None = None
    remind_minutes_before: RemindMinutes | None = None
    contact_id: int | None = None
    case_id: int | None = None
    interaction_id: int | None = None
    done: bool | None = Field(None, description="true: mark done; false: open again.")

    @field_validator("title", "notes", "due_at", "remind_minutes_before", "done", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("not_null", "May not be null; leave it out to keep it.")
        return value


class FollowUpOut(BaseModel):
    id: int
    owner_id: int
    title: str
    notes: str
    due_at: datetime
    remind_minutes_before: int
    contact_id: int | None
    case_id: int | None
    interaction_id: int | None
    done_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def remind_at(self) -> datetime:
        return remind_at(self.due_at, self.remind_minutes_before)


class FollowUpList(BaseModel):
    items: list[FollowUpOut]
    start: datetime = Field(description="The window listed: due at or after start…")
    end: datetime = Field(description="…and before end.")
    has_more: bool = Field(description="More follow-ups are due in the window than `limit`.")


def _out(row: FollowUp) -> FollowUpOut:
    return FollowUpOut.model_validate(row, from_attributes=True)


@router.get("/api/me/follow-ups")
async def list_my_follow_ups(
    me: AnyUser,
    db: DbDep,
    runtime: RuntimeDep,
    start: Annotated[
        UTCTime | None, Query(description="Default: now - 1 day, or end - 31 days.")
    ] = None,
    end: Annotated[
        UTCTime | None,
        Query(description=f"Default: start + {DEFAULT_SPAN.days} days. At most 366 days."),
    ] = None,
    include_done: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> FollowUpList:
    """The caller's follow-ups due in the window, soonest first; open ones only unless
    `include_done`."""
    try:
        window = listing_window(runtime.clock.now(), start, end)
    except InvalidField as exc:
        raise invalid((exc.field,), exc.message, exc.value, part="query") from exc
    rows, has_more = await follow_ups_due(
        db, me.user_id, window, include_done=include_done, limit=limit
    )
    return FollowUpList(
        items=[_out(row) for row in rows], start=window.start, end=window.end, has_more=has_more
    )


@router.post("/api/me/follow-ups", status_code=201)
async def create_my_follow_up(body: FollowUpCreate, me: AnyUser, db: DbDep) -> FollowUpOut:
    try:
        row = await create_follow_up(db, me.user_id, body.model_dump())
    except InvalidField as exc:
        raise invalid((exc.field,), exc.message, exc.value) from exc
    return _out(row)


@router.patch("/api/me/follow-ups/{follow_up_id}")
async def change_my_follow_up(
    follow_up_id: int, body: FollowUpChange, me: AnyUser, db: DbDep, runtime: RuntimeDep
) -> FollowUpOut:
    row = await owned_follow_up(db, me.user_id, follow_up_id)
    try:
        values = body.model_dump(exclude_unset=True)
        row = await change_follow_up(db, row, values, runtime.clock.now())
    except InvalidField as exc:
        raise invalid((exc.field,), exc.message, exc.value) from exc
    return _out(row)


@router.post("/api/me/follow-ups/{follow_up_id}/done")
async def mark_my_follow_up_done(
    follow_up_id: int, me: AnyUser, db: DbDep, runtime: RuntimeDep
) -> FollowUpOut:
    """Done now; a follow-up already done stays as it is (calling twice is safe)."""
    row = await owned_follow_up(db, me.user_id, follow_up_id)
    return _out(await mark_done(db, row, runtime.clock.now()))


@router.delete("/api/me/follow-ups/{follow_up_id}", status_code=204, response_class=Response)
async def delete_my_follow_up(follow_up_id: int, me: AnyUser, db: DbDep) -> None:
    await delete_follow_up(db, await owned_follow_up(db, me.user_id, follow_up_id))
