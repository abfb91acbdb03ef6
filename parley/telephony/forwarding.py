"""Call forwarding for agents (F-VO-9): an agent names an outside number (E.164) and,
while it is set, that number is their device: the calls they accept ring it, dialled
through `parley-outbound` (the trunk), and so does their own leg of a click to call.

`GET/PUT/DELETE /api/me/call-forward`: any signed-in user, for themselves; changes go to
the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform import audit
from parley.platform.errors import NotFound
from parley.platform.models import CallForward, User
from parley.platform.web.deps import AnyUser, DbDep, client_ip

router = APIRouter(prefix="/api/me/call-forward", tags=["voice"])

ForwardNumber = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{3,14}$", examples=["+48601234567"])]


async def agent_device(db: AsyncSession, user_id: int) -> str:
    """What rings for the user: their forward-to number while set, else their device
    ("" for none)."""
    forward = await db.scalar(select(CallForward.number).where(CallForward.user_id == user_id))
    if forward:
        return forward
    return await db.scalar(select(User.device).where(User.id == user_id)) or ""


class ForwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: ForwardNumber


class ForwardOut(BaseModel):
    number: str


@router.get("")
async def get_forward(me: AnyUser, db: DbDep) -> ForwardOut:
    """Your forward-to number; 404 while calls ring your own device."""
    number = await db.scalar(select(CallForward.number).where(CallForward.user_id == me.user_id))
    if number is None:
        raise NotFound("Call forward", me.user_id)
    return ForwardOut(number=number)


@router.put("")
async def set_forward(body: ForwardIn, request: Request, me: AnyUser, db: DbDep) -> ForwardOut:
    """Forward your calls to `number` from now on."""
    forward = await db.scalar(select(CallForward).where(CallForward.user_id == me.user_id))
    old = forward.number if forward else None
    if forward is None:
        db.add(CallForward(user_id=me.user_id, number=body.number))
    else:
        forward.number = body.number
    if old != body.number:
        await audit.record(
            db,
            me,
            "update",
            "call_forward",
            me.user_id,
            {"number": {"old": old, "new": body.number}},
            ip=client_ip(request),
        )
    return ForwardOut(number=body.number)


@router.delete("", status_code=204)
async def clear_forward(request: Request, me: AnyUser, db: DbDep) -> None:
    """Calls ring your own device again."""
    forward = await db.scalar(select(CallForward).where(CallForward.user_id == me.user_id))
    if forward is None:
        return
    await audit.record(
        db,
        me,
        "delete",
        "call_forward",
        me.user_id,
        {"number": {"old": forward.number, "new": None}},
        ip=client_ip(request),
    )
    await db.delete(forward)
