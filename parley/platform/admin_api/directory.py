"""People: users, teams, skills, and the skill levels of each agent
(`/api/users/{user_id}/skills`).

A password is write-only: hashed on the way in, never returned, `***` in the audit log.
A user who is deactivated, or whose role or password changes, is logged out of every
browser session at once. At least one active admin always remains. Agents may read their
own user and skills; to them everyone else's answers 404.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, BeforeValidator, EmailStr, Field
from sqlalchemy import ColumnElement, func, select

from parley.platform.admin_api.resources import (
    Access,
    AdminContext,
    AnyUserContext,
    Context,
    Filter,
    Resource,
    Unique,
    diff,
)
from parley.platform.admin_api.schemas import Description, Input, Name
from parley.platform.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from parley.platform.auth.service import close_user_sessions
from parley.platform.errors import Conflict, NotFound
from parley.platform.models import AgentSkill, Channel, Role, Skill, Team, User
from parley.platform.models.directory import DEFAULT_CAPACITY
from parley.platform.web.deps import ADMINS, ALL_ROLES, SUPERVISORS

Language = Literal["en", "ru", "pl"]
SkillLevel = Annotated[int, Field(ge=1, le=10)]

# Changing any of these makes the user's open browser sessions stale.
SESSION_ENDING_CHANGES = frozenset({"role", "is_active", "password"})


def _lowercase(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Username = Annotated[
    str,
    BeforeValidator(_lowercase),
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9._-]+$",
        description="Lower case letters, digits, `.`, `_` and `-`; sent upper case is lowered.",
    ),
]
Email = Annotated[EmailStr, AfterValidator(str.lower)]


class UserCreate(Input):
    username: Username
    display_name: str = Field(min_length=1, max_length=200)
    email: Email | None = None
    password: str = Field(
        min_length=MIN_PASSWORD_LENGTH, max_length=1024, description="Write-only."
    )
    role: Role
    team_id: int | None = None
    language: Language = "en"
    capacity: dict[Channel, Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: {Channel(key): value for key, value in DEFAULT_CAPACITY.items()},
        description="Interactions at once per channel; replaced as a whole on update.",
    )
    ready_on_login: bool = False
    is_active: bool = True
    device: str | None = Field(None, max_length=200, description="The agent's dial string.")


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    team_id: int | None
    language: str
    capacity: dict[str, int]
    ready_on_login: bool
    is_active: bool
    device: str | None
    created_at: datetime
    updated_at: datetime


async def _active_admins(ctx: Context) -> int:
    count = await ctx.db.scalar(
        select(func.count()).where(User.role == Role.ADMIN, User.is_active.is_(True))
    )
    return count or 0


class LastAdmin(Conflict):
    def __init__(self) -> None:
        super().__init__("last_admin", "At least one active admin must remain.")


class UserResource(Resource[User]):
    def visible(self, ctx: Context) -> ColumnElement[bool] | None:
        if ctx.principal.role == Role.AGENT:
            return User.id == ctx.principal.user_id
        return None

    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: User | None
    ) -> dict[str, Any]:
        if "password" in values:
            # Argon2 is slow on purpose: hash off the event loop.
            values["password_hash"] = await asyncio.to_thread(hash_password, values.pop("password"))
        return values

    async def after_update(self, ctx: Context, row: User, changes: dict[str, Any]) -> None:
        if {"role", "is_active"} & changes.keys() and await _active_admins(ctx) == 0:
            raise LastAdmin()
        if SESSION_ENDING_CHANGES & changes.keys():
            await close_user_sessions(ctx.db, row.id)

    async def before_delete(self, ctx: Context, row: User) -> None:
        if row.role == Role.ADMIN and row.is_active and await _active_admins(ctx) <= 1:
            raise LastAdmin()


users = UserResource(
    model=User,
    path="/api/users",
    noun="user",
    create=UserCreate,
    out=UserOut,
    access=Access(read=SUPERVISORS, get=ALL_ROLES, write=ADMINS),
    filters={
        "role": Filter(Role),
        "team_id": Filter(int),
        "is_active": Filter(bool),
        "language": Filter(Language),
    },
    sortable=("username", "display_name", "role", "created_at"),
    search=("username", "display_name", "email"),
    unique=(Unique("username"), Unique("email")),
    references={"team_id": Team},
    write_only=("password",),
)


class TeamCreate(Input):
    name: Name
    description: Description = ""
    break_budget_minutes: int | None = Field(
        None, ge=0, le=24 * 60, description="Not-ready time each agent may take per shift."
    )


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    break_budget_minutes: int | None
    created_at: datetime
    updated_at: datetime


teams = Resource(
    model=Team,
    path="/api/teams",
    noun="team",
    create=TeamCreate,
    out=TeamOut,
    access=Access(read=SUPERVISORS, write=ADMINS),
    sortable=("name", "created_at"),
    search=("name", "description"),
    unique=(Unique("name"),),
)


class SkillCreate(Input):
    name: Name
    description: Description = ""


class SkillOut(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


skills = Resource(
    model=Skill,
    path="/api/skills",
    noun="skill",
    create=SkillCreate,
    out=SkillOut,
    access=Access(read=ALL_ROLES, write=ADMINS),
    sortable=("name", "created_at"),
    search=("name", "description"),
    unique=(Unique("name"),),
)


# --- the skill levels of one user ----------------------------------------------------


class AgentSkillLevel(Input):
    level: SkillLevel


class AgentSkillOut(BaseModel):
    skill_id: int
    name: str
    level: int


agent_skills = APIRouter(prefix="/api/users/{user_id}/skills", tags=["users"])


@agent_skills.get("", name="list_user_skills", summary="List a user's skills and levels")
async def list_user_skills(user_id: int, ctx: AnyUserContext) -> list[AgentSkillOut]:
    await users.find(ctx, user_id)
    rows = await ctx.db.execute(
        select(AgentSkill.skill_id, Skill.name, AgentSkill.level)
        .join(Skill, Skill.id == AgentSkill.skill_id)
        .where(AgentSkill.user_id == user_id)
        .order_by(Skill.name)
    )
    return [AgentSkillOut(skill_id=id_, name=name, level=level) for id_, name, level in rows]


@agent_skills.put(
    "/{skill_id}", name="set_user_skill", summary="Give a user a skill, or change its level"
)
async def set_user_skill(
    user_id: int, skill_id: int, body: AgentSkillLevel, ctx: AdminContext
) -> AgentSkillOut:
    await users.find(ctx, user_id)
    skill = await ctx.db.get(Skill, skill_id)
    if skill is None:
        raise NotFound("Skill", skill_id)
    row = await ctx.db.get(AgentSkill, (user_id, skill_id))
    old_level = row.level if row else None
    if row is None:
        ctx.db.add(AgentSkill(user_id=user_id, skill_id=skill_id, level=body.level))
    else:
        row.level = body.level
    await ctx.db.flush()
    if old_level != body.level:
        await ctx.record_change(
            "create" if old_level is None else "update",
            "agent_skill",
            f"{user_id}:{skill_id}",
            diff({"level": old_level}, {"level": body.level}),
        )
    return AgentSkillOut(skill_id=skill_id, name=skill.name, level=body.level)


@agent_skills.delete(
    "/{skill_id}", status_code=204, name="remove_user_skill", summary="Take a skill away"
)
async def remove_user_skill(user_id: int, skill_id: int, ctx: AdminContext) -> None:
    await users.find(ctx, user_id)
    row = await ctx.db.get(AgentSkill, (user_id, skill_id))
    if row is None:
        raise NotFound("Skill", f"{skill_id} of user {user_id}")
    await ctx.db.delete(row)
    await ctx.record_change(
        "delete", "agent_skill", f"{user_id}:{skill_id}", diff({"level": row.level}, {})
    )


def routers() -> list[APIRouter]:
    return [users.router(), agent_skills, teams.router(), skills.router()]
