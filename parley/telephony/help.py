"""An agent's "request help" (F-VO-10): the agent raises their hand, usually on the call
in hand; supervisors see it (the `help.requested` bus event, and the open requests on
the monitoring page) and listen in, whisper or barge from there; a supervisor, or the
agent, clears it (`help.cleared`).

- `POST /api/help-requests` (any signed-in user, for themselves; one open at a time:
  raising again answers the open one);
- `GET /api/help-requests`: the open ones; everyone's for supervisors, else one's own;
- `POST /api/help-requests/{id}/clear`: the agent who raised it, or a supervisor;
- the agent socket's `help.raise` / `help.clear` frames do the same for the agent
  (`socket_handler`, the Runtime's `help_requests` hook).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.agents.protocol import HelpClear, HelpRaise
from parley.platform.auth.principal import Principal
from parley.platform.bus import Bus, Event
from parley.platform.db import after_commit
from parley.platform.errors import Forbidden, NotFound
from parley.platform.models import HelpRequest, Interaction, User
from parley.platform.runtime import HelpHandler, Runtime
from parley.platform.web.deps import SUPERVISORS, AnyUser, DbDep, RuntimeDep

router = APIRouter(prefix="/api/help-requests", tags=["voice"])


class HelpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interaction_id: int | None = Field(None, description="The call (or chat) it is about.")
    note: str = Field("", max_length=500)


class HelpOut(BaseModel):
    id: int
    agent_id: int
    agent_name: str
    interaction_id: int | None
    note: str
    raised_at: datetime
    cleared_at: datetime | None


async def _out(db: AsyncSession, row: HelpRequest) -> HelpOut:
    name = await db.scalar(select(User.display_name).where(User.id == row.agent_id))
    return HelpOut(
        id=row.id,
        agent_id=row.agent_id,
        agent_name=name or "",
        interaction_id=row.interaction_id,
        note=row.note,
        raised_at=row.raised_at,
        cleared_at=row.cleared_at,
    )


def _publish_after_commit(
    db: AsyncSession, bus: Bus, type_: str, out: HelpOut, now: datetime
) -> None:
    async def publish() -> None:
        await bus.publish(Event.create(type_, out.model_dump(mode="json"), now))

    after_commit(db, publish)


async def raise_hand(
    db: AsyncSession, bus: Bus, agent_id: int, body: HelpIn, now: datetime
) -> HelpOut:
    """Open a help request for `agent_id` (or give back the one open already)."""
    open_one = await db.scalar(
        select(HelpRequest).where(
            HelpRequest.agent_id == agent_id, HelpRequest.cleared_at.is_(None)
        )
    )
    if open_one is not None:
        return await _out(db, open_one)
    if body.interaction_id is not None:
        interaction = await db.get(Interaction, body.interaction_id)
        if interaction is None or interaction.agent_id != agent_id:
            raise NotFound("Interaction", body.interaction_id)
    row = HelpRequest(
        agent_id=agent_id, interaction_id=body.interaction_id, note=body.note, raised_at=now
    )
    db.add(row)
    await db.flush()
    out = await _out(db, row)
    _publish_after_commit(db, bus, "help.requested", out, now)
    return out


async def clear_hand(
    db: AsyncSession, bus: Bus, me: Principal, request_id: int, now: datetime
) -> HelpOut:
    row = await db.get(HelpRequest, request_id)
    if row is None:
        raise NotFound("Help request", request_id)
    if row.agent_id != me.user_id and not me.has_role(*SUPERVISORS):
        raise Forbidden("Only the agent who asked, or a supervisor, clears a help request.")
    return await _clear(db, bus, row, me.user_id, now)


async def _clear(
    db: AsyncSession, bus: Bus, row: HelpRequest, by_user_id: int, now: datetime
) -> HelpOut:
    if row.cleared_at is not None:
        return await _out(db, row)
    row.cleared_at, row.cleared_by_id = now, by_user_id
    await db.flush()
    out = await _out(db, row)
    _publish_after_commit(db, bus, "help.cleared", out, now)
    return out


def socket_handler(runtime: Runtime) -> HelpHandler:
    """The agent socket's `help.raise` / `help.clear`, for the agent themselves."""

    async def handle(agent_id: int, frame: HelpRaise | HelpClear) -> dict[str, Any]:
        now = runtime.clock.now()
        async with runtime.database.transaction() as db:
            if isinstance(frame, HelpRaise):
                body = HelpIn(interaction_id=frame.interaction_id, note=frame.note)
                return {
                    "help_request_id": (await raise_hand(db, runtime.bus, agent_id, body, now)).id
                }
            row = await db.scalar(
                select(HelpRequest).where(
                    HelpRequest.agent_id == agent_id, HelpRequest.cleared_at.is_(None)
                )
            )
            if row is None:
                return {"help_request_id": None}
            return {"help_request_id": (await _clear(db, runtime.bus, row, agent_id, now)).id}

    return handle


async def open_requests(db: AsyncSession, agent_id: int | None = None) -> list[HelpOut]:
    """The open help requests, oldest first; only `agent_id`'s when given."""
    query = select(HelpRequest).where(HelpRequest.cleared_at.is_(None))
    if agent_id is not None:
        query = query.where(HelpRequest.agent_id == agent_id)
    rows = await db.scalars(query.order_by(HelpRequest.raised_at, HelpRequest.id))
    return [await _out(db, row) for row in rows]


@router.post("", status_code=201)
async def post_help(body: HelpIn, me: AnyUser, db: DbDep, runtime: RuntimeDep) -> HelpOut:
    """Raise your hand: supervisors are told at once."""
    return await raise_hand(db, runtime.bus, me.user_id, body, runtime.clock.now())


@router.get("")
async def list_help(me: AnyUser, db: DbDep) -> list[HelpOut]:
    return await open_requests(db, None if me.has_role(*SUPERVISORS) else me.user_id)


@router.post("/{request_id}/clear")
async def clear_help(request_id: int, me: AnyUser, db: DbDep, runtime: RuntimeDep) -> HelpOut:
    return await clear_hand(db, runtime.bus, me, request_id, runtime.clock.now())
