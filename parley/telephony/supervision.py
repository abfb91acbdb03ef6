"""What supervisors monitor (F-SU-2): `GET /api/supervision/calls`, every call Parley
follows now with its queue, agent, caller, state and duration, and whether its agent
raised their hand; the monitoring page polls it and listens in / whispers / barges
through `POST /api/calls/{id}/spy`. Supervisors and admins only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select

from parley.platform.models import HelpRequest, Interaction, Queue, User
from parley.platform.web.deps import DbDep, RuntimeDep, Supervisor
from parley.telephony.api import call_control

router = APIRouter(prefix="/api/supervision", tags=["voice"])


class LiveCallOut(BaseModel):
    interaction_id: int
    direction: Literal["inbound", "outbound"]
    state: str  # waiting, connecting, talking, held
    queue_id: int | None
    queue_name: str
    agent_id: int | None
    agent_name: str
    caller_number: str
    since: datetime | None  # answered, else queued
    duration_seconds: int
    help_request_id: int | None


@router.get("/calls")
async def live_calls(
    request: Request, _me: Supervisor, db: DbDep, runtime: RuntimeDep
) -> list[LiveCallOut]:
    """The live calls, longest first."""
    calls = call_control(request).voice.calls()
    ids = [call.interaction_id for call in calls]
    interactions = {
        row.id: row for row in await db.scalars(select(Interaction).where(Interaction.id.in_(ids)))
    }
    queues = dict((await db.execute(select(Queue.id, Queue.name))).all())
    agent_ids = {call.agent_id for call in calls if call.agent_id is not None}
    agents = dict(
        (await db.execute(select(User.id, User.display_name).where(User.id.in_(agent_ids)))).all()
    )
    hands = dict(
        (
            await db.execute(
                select(HelpRequest.agent_id, HelpRequest.id).where(
                    HelpRequest.cleared_at.is_(None), HelpRequest.agent_id.in_(agent_ids)
                )
            )
        ).all()
    )
    now = runtime.clock.now()
    out = []
    for call in calls:
        row = interactions.get(call.interaction_id)
        since = (row.answered_at or row.queued_at or row.created_at) if row else None
        out.append(
            LiveCallOut(
                interaction_id=call.interaction_id,
                direction="outbound" if call.is_outbound else "inbound",
                state=call.phase,
                queue_id=call.queue_id,
                queue_name=queues.get(call.queue_id, "") if call.queue_id else "",
                agent_id=call.agent_id,
                agent_name=agents.get(call.agent_id, "") if call.agent_id else "",
                caller_number=call.caller,
                since=since,
                duration_seconds=max(0, int((now - since).total_seconds())) if since else 0,
                help_request_id=hands.get(call.agent_id) if call.agent_id else None,
            )
        )
    out.sort(key=lambda c: -c.duration_seconds)
    return out
