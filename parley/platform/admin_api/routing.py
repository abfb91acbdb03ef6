"""Routing configuration: schedules, queues (with the skills they require), reason codes
and dispositions.

Schedules are checked where they are written, so the router can trust them: a real IANA
time zone, per weekday ordered non-overlapping "HH:MM" intervals, one entry per holiday.
A queue's overflow queues, required skills and schedule must exist.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from functools import cache
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import selectinload

from parley.platform.admin_api.resources import Access, Context, Filter, Resource, Unique
from parley.platform.admin_api.schemas import Description, Input, Name, invalid
from parley.platform.models import (
    Channel,
    Disposition,
    PickMode,
    Queue,
    QueueSkill,
    ReasonCode,
    RoutingStrategy,
    Schedule,
    Skill,
)
from parley.platform.web.deps import ADMINS, ALL_ROLES, SUPERVISORS

Code = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z0-9._-]+$",
        description="Lower case letters, digits, `.`, `_` and `-`.",
    ),
]

# --- schedules -------------------------------------------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[
    str, Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$", examples=["09:00", "24:00"])
]


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _is_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    else:
        if name in _time_zones():
            return name
    raise ValueError(f"{name!r} is not an IANA time zone name, such as 'Europe/Warsaw'")


def _starts_before_end(interval: tuple[str, str]) -> tuple[str, str]:
    start, end = interval
    if start >= end:
        raise ValueError(f"starts at {start} but ends at {end}; the start must come first")
    return interval


def _disjoint(intervals: list[tuple[str, str]]) -> list[tuple[str, str]]:
    ordered = sorted(intervals)
    for (start, end), (next_start, next_end) in pairwise(ordered):
        if next_start < end:
            raise ValueError(f"{start}-{end} overlaps {next_start}-{next_end}")
    return ordered


def _distinct_dates(holidays: list[Holiday]) -> list[Holiday]:
    seen: set[date] = set()
    for holiday in holidays:
        if holiday.date in seen:
            raise ValueError(f"{holiday.date} is listed twice")
        seen.add(holiday.date)
    return sorted(holidays, key=lambda holiday: holiday.date)


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_is_time_zone)]
Interval = Annotated[tuple[ClockTime, ClockTime], AfterValidator(_starts_before_end)]
DayHours = Annotated[list[Interval], AfterValidator(_disjoint)]


class Holiday(Input):
    date: date
    name: str = Field("", max_length=100)


class ScheduleCreate(Input):
    name: Name
    time_zone: TimeZone = "UTC"
    hours: dict[Weekday, DayHours] = Field(
        default_factory=dict,
        description='Open intervals per weekday, e.g. {"mon": [["09:00", "17:00"]]}; '
        "a day left out is closed.",
        examples=[{"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}],
    )
    holidays: Annotated[list[Holiday], AfterValidator(_distinct_dates)] = Field(
        default_factory=list, description="Closed all day."
    )


class ScheduleOut(BaseModel):
    id: int
    name: str
    time_zone: str
    hours: dict[str, list[tuple[str, str]]]
    holidays: list[Holiday]
    created_at: datetime
    updated_at: datetime


schedules = Resource(
    model=Schedule,
    path="/api/schedules",
    noun="schedule",
    create=ScheduleCreate,
    out=ScheduleOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    filters={"time_zone": Filter(str)},
    sortable=("name", "created_at"),
    search=("name",),
    unique=(Unique("name"),),
)

# --- queues ----------------------------------------------------------------------------


class AfterHoursAction(StrEnum):
    """What a queue does with work arriving while its schedule is closed (F-RT-4)."""

    MESSAGE = "message"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    QUEUE = "queue"


def _distinct_channels(channels: list[Channel]) -> list[Channel]:
    return list(dict.fromkeys(channels))


def _distinct_ids(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def _distinct_skills(skills: list[RequiredSkill]) -> list[RequiredSkill]:
    seen: set[int] = set()
    for skill in skills:
        if skill.skill_id in seen:
            raise ValueError(f"skill {skill.skill_id} is listed twice")
        seen.add(skill.skill_id)
    return skills


class RequiredSkill(Input):
    skill_id: int
    min_level: int = Field(1, ge=1, le=10)


class QueueCreate(Input):
    name: Name
    description: Description = ""
    channels: Annotated[list[Channel], Field(min_length=1), AfterValidator(_distinct_channels)]
    priority: int = Field(0, ge=0, le=100, description="Higher is served first.")
    strategy: RoutingStrategy = RoutingStrategy.LONGEST_IDLE
    pick_mode: PickMode = Field(
        PickMode.AUTO, description="manual: a group queue agents take work from themselves."
    )
    offer_timeout_seconds: int = Field(30, ge=1, le=600)
    wrap_up_seconds: int = Field(30, ge=0, le=3600, description="0 skips wrap-up.")
    sla_threshold_seconds: int = Field(20, ge=1, le=86400)
    max_wait_seconds: int | None = Field(None, ge=1)
    max_size: int | None = Field(None, ge=1)
    overflow_after_seconds: int | None = Field(None, ge=1)
    overflow_relax_levels: int = Field(0, ge=0, le=9)
    overflow_queue_ids: Annotated[list[int], AfterValidator(_distinct_ids)] = Field(
        default_factory=list
    )
    allows_blending: bool = False
    disposition_required: bool = False
    records_calls: bool = Field(False, description="Record every answered call.")
    schedule_id: int | None = None
    after_hours_action: AfterHoursAction = AfterHoursAction.MESSAGE
    after_hours_target: str | None = Field(None, max_length=200)
    is_active: bool = True
    skills: Annotated[list[RequiredSkill], AfterValidator(_distinct_skills)] = Field(
        default_factory=list, description="Skills an agent needs, with minimum levels."
    )


class RequiredSkillOut(BaseModel):
    skill_id: int
    min_level: int


class QueueOut(BaseModel):
    id: int
    name: str
    description: str
    channels: list[Channel]
    priority: int
    strategy: RoutingStrategy
    pick_mode: PickMode
    offer_timeout_seconds: int
    wrap_up_seconds: int
    sla_threshold_seconds: int
    max_wait_seconds: int | None
    max_size: int | None
    overflow_after_seconds: int | None
    overflow_relax_levels: int
    overflow_queue_ids: list[int]
    allows_blending: bool
    disposition_required: bool
    records_calls: bool
    schedule_id: int | None
    after_hours_action: str
    after_hours_target: str | None
    is_active: bool
    skills: list[RequiredSkillOut]
    created_at: datetime
    updated_at: datetime


class QueueResource(Resource[Queue]):
    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: Queue | None
    ) -> dict[str, Any]:
        if "overflow_queue_ids" in values:
            await self._check_overflow(ctx, values["overflow_queue_ids"], row)
        if "skills" in values:
            values["skills"] = await self._required_skills(ctx, values["skills"], row)
        return values

    async def before_delete(self, ctx: Context, row: Queue) -> None:
        # The overflow list is JSON, not a foreign key: drop the id from it by hand.
        others = await ctx.db.scalars(select(Queue).where(Queue.id != row.id))
        for other in others:
            if row.id in other.overflow_queue_ids:
                other.overflow_queue_ids = [
                    id_ for id_ in other.overflow_queue_ids if id_ != row.id
                ]

    async def _check_overflow(self, ctx: Context, ids: list[int], row: Queue | None) -> None:
        existing = set(await ctx.db.scalars(select(Queue.id).where(Queue.id.in_(ids))))
        for index, queue_id in enumerate(ids):
            if row is not None and queue_id == row.id:
                raise invalid(
                    ("overflow_queue_ids", index), "A queue cannot overflow into itself.", queue_id
                )
            if queue_id not in existing:
                raise invalid(
                    ("overflow_queue_ids", index), f"Queue {queue_id} does not exist.", queue_id
                )

    async def _required_skills(
        self, ctx: Context, wanted: list[dict[str, int]], row: Queue | None
    ) -> list[QueueSkill]:
        ids = [item["skill_id"] for item in wanted]
        existing = set(await ctx.db.scalars(select(Skill.id).where(Skill.id.in_(ids))))
        for index, skill_id in enumerate(ids):
            if skill_id not in existing:
                raise invalid(
                    ("skills", index, "skill_id"), f"Skill {skill_id} does not exist.", skill_id
                )
        # Keep the rows already there, so an unchanged skill is not deleted and re-added.
        current = {skill.skill_id: skill for skill in row.skills} if row else {}
        required = []
        for item in wanted:
            skill = current.get(item["skill_id"]) or QueueSkill(skill_id=item["skill_id"])
            skill.min_level = item["min_level"]
            required.append(skill)
        return required


queues = QueueResource(
    model=Queue,
    path="/api/queues",
    noun="queue",
    create=QueueCreate,
    out=QueueOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    filters={
        "is_active": Filter(bool),
        "strategy": Filter(RoutingStrategy),
        "schedule_id": Filter(int),
    },
    sortable=("name", "priority", "created_at"),
    search=("name", "description"),
    unique=(Unique("name"),),
    references={"schedule_id": Schedule},
    load=(selectinload(Queue.skills),),
)

# --- reason codes and dispositions ---------------------------------------------------


class ReasonCodeCreate(Input):
    code: Code
    name: Name
    is_productive: bool = False
    max_duration_seconds: int | None = Field(
        None, ge=1, le=86400, description="Back to ready after this long; empty: no limit."
    )
    is_active: bool = True


class ReasonCodeOut(BaseModel):
    id: int
    code: str
    name: str
    is_productive: bool
    max_duration_seconds: int | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


reason_codes = Resource(
    model=ReasonCode,
    path="/api/reason-codes",
    noun="reason code",
    create=ReasonCodeCreate,
    out=ReasonCodeOut,
    access=Access(read=ALL_ROLES, write=ADMINS),
    filters={"is_active": Filter(bool), "is_productive": Filter(bool)},
    sortable=("code", "name", "created_at"),
    search=("code", "name"),
    unique=(Unique("code"),),
)


class DispositionCreate(Input):
    code: Code
    name: Name
    queue_id: int | None = Field(None, description="Empty: offered in every queue.")
    is_success: bool = False
    requires_note: bool = False
    is_active: bool = True


class DispositionOut(BaseModel):
    id: int
    code: str
    name: str
    queue_id: int | None
    is_success: bool
    requires_note: bool
    is_active: bool
    created_at: datetime
    updated_at: datetime


def _is_global(_ctx: Context, is_global: bool) -> ColumnElement[bool]:
    return Disposition.queue_id.is_(None) if is_global else Disposition.queue_id.is_not(None)


dispositions = Resource(
    model=Disposition,
    path="/api/dispositions",
    noun="disposition",
    create=DispositionCreate,
    out=DispositionOut,
    access=Access(read=ALL_ROLES, write=ADMINS),
    filters={
        "queue_id": Filter(int),
        "is_global": Filter(bool, _is_global, "true: only those offered in every queue."),
        "is_active": Filter(bool),
        "is_success": Filter(bool),
    },
    sortable=("code", "name", "created_at"),
    search=("code", "name"),
    unique=(Unique("code", within=("queue_id",)),),
    references={"queue_id": Queue},
)


def routers() -> list[APIRouter]:
    return [r.router() for r in (schedules, queues, reason_codes, dispositions)]
