"""Quick replies: canned answers, shared by everyone or personal to one user.

Every user lists the shared ones and their own personal ones (`?scope=` narrows to
either); someone else's personal replies answer 404, as if absent. Supervisors and
admins manage the shared ones; anyone manages their own. A shortcut is unique per owner
(among the shared ones, for shared replies).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, computed_field
from sqlalchemy import ColumnElement, or_

from parley.platform.admin_api.resources import Access, Context, Filter, Resource, Unique
from parley.platform.admin_api.schemas import Input
from parley.platform.errors import Forbidden
from parley.platform.models import QuickReply
from parley.platform.web.deps import ALL_ROLES, SUPERVISORS


class Scope(StrEnum):
    SHARED = "shared"
    PERSONAL = "personal"


class QuickReplyCreate(Input):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10_000)
    shortcut: str | None = Field(
        None, min_length=1, max_length=40, pattern=r"^\S+$", examples=["/greet"]
    )
    folder: str = Field("", max_length=100)
    scope: Scope = Field(
        Scope.PERSONAL, description="personal: the caller's own; shared: everyone's."
    )


class QuickReplyOut(BaseModel):
    id: int
    title: str
    body: str
    shortcut: str | None
    folder: str
    owner_id: int | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def scope(self) -> Scope:
        return Scope.SHARED if self.owner_id is None else Scope.PERSONAL


def _in_scope(ctx: Context, scope: Scope) -> ColumnElement[bool]:
    if scope is Scope.SHARED:
        return QuickReply.owner_id.is_(None)
    return QuickReply.owner_id == ctx.principal.user_id


def _require_may_manage(ctx: Context, owner_id: int | None) -> None:
    if owner_id is None and ctx.principal.role not in SUPERVISORS:
        raise Forbidden("Only supervisors and admins manage shared quick replies.")


class QuickReplyResource(Resource[QuickReply]):
    def visible(self, ctx: Context) -> ColumnElement[bool] | None:
        return or_(QuickReply.owner_id.is_(None), QuickReply.owner_id == ctx.principal.user_id)

    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: QuickReply | None
    ) -> dict[str, Any]:
        if row is not None:
            _require_may_manage(ctx, row.owner_id)
        if "scope" in values:
            scope = values.pop("scope")
            values["owner_id"] = None if scope is Scope.SHARED else ctx.principal.user_id
            _require_may_manage(ctx, values["owner_id"])
        return values

    async def before_delete(self, ctx: Context, row: QuickReply) -> None:
        _require_may_manage(ctx, row.owner_id)


quick_replies = QuickReplyResource(
    model=QuickReply,
    path="/api/quick-replies",
    noun="quick reply",
    create=QuickReplyCreate,
    out=QuickReplyOut,
    access=Access(read=ALL_ROLES, write=ALL_ROLES),
    filters={
        "scope": Filter(Scope, _in_scope, "shared, or personal (the caller's own)."),
        "folder": Filter(str),
        "shortcut": Filter(str),
    },
    sortable=("title", "shortcut", "folder", "created_at"),
    search=("title", "body", "shortcut"),
    unique=(Unique("shortcut", within=("owner_id",)),),
)


def routers() -> list[APIRouter]:
    return [quick_replies.router()]
