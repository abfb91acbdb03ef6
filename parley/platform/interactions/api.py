"""REST routes of the interaction read views, for any signed-in user:

- `GET /api/contacts/{contact_id}/interactions`: the contact's history on every channel
  (everyone who may read the contact may read its history);
- `GET /api/me/work`: the caller's ringing offers and interactions in hand, with the
  screen-pop fields, so a desktop that reloads or reconnects can show them again (the
  websocket snapshot carries ids only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from parley.platform.interactions.store import WorkItem, agent_work, contact_history, work_items
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep

router = APIRouter(tags=["interactions"])


class HistoryEntryOut(BaseModel):
    id: int
    channel: str
    direction: str
    state: str
    queue_id: int | None
    queue_name: str | None
    agent_id: int | None
    agent_name: str | None
    case_id: int | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition_id: int | None
    disposition_name: str | None
    wrap_up_notes: str


@router.get("/api/contacts/{contact_id}/interactions")
async def list_contact_interactions(
    contact_id: int,
    _: AnyUser,
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[HistoryEntryOut]:
    """The contact's interactions across channels, newest first."""
    return [
        HistoryEntryOut(
            id=entry.interaction_id,
            channel=entry.channel,
            direction=entry.direction,
            state=entry.state,
            queue_id=entry.queue_id,
            queue_name=entry.queue_name,
            agent_id=entry.agent_id,
            agent_name=entry.agent_name,
            case_id=entry.case_id,
            created_at=entry.created_at,
            answered_at=entry.answered_at,
            ended_at=entry.ended_at,
            disposition_id=entry.disposition_id,
            disposition_name=entry.disposition_name,
            wrap_up_notes=entry.wrap_up_notes,
        )
        for entry in await contact_history(db, contact_id, limit)
    ]


class WorkItemOut(BaseModel):
    id: int
    channel: str
    direction: str
    state: str
    queue_id: int | None
    queue_name: str | None
    disposition_required: bool
    contact_id: int | None
    case_id: int | None
    attributes: dict[str, Any]
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition_id: int | None
    wrap_up_notes: str


class RingingOfferOut(BaseModel):
    offer_id: str
    expires_at: datetime
    interaction: WorkItemOut


class MyWork(BaseModel):
    offers: list[RingingOfferOut]
    interactions: list[WorkItemOut]


def _out(item: WorkItem) -> WorkItemOut:
    return WorkItemOut(
        id=item.interaction_id,
        channel=item.channel,
        direction=item.direction,
        state=item.state,
        queue_id=item.queue_id,
        queue_name=item.queue_name,
        disposition_required=item.disposition_required,
        contact_id=item.contact_id,
        case_id=item.case_id,
        attributes=item.attributes,
        created_at=item.created_at,
        answered_at=item.answered_at,
        ended_at=item.ended_at,
        disposition_id=item.disposition_id,
        wrap_up_notes=item.wrap_up_notes,
    )


@router.get("/api/me/work")
async def my_work(me: AnyUser, db: DbDep, runtime: RuntimeDep) -> MyWork:
    """The caller's ringing offers and their interactions in progress or in wrap-up."""
    engine = runtime.require_engine()
    ringing = engine.ringing_offers(me.user_id)
    offered = await work_items(db, {int(offer.task_id) for offer in ringing})
    offers = [
        RingingOfferOut(
            offer_id=offer.offer_id,
            expires_at=offer.expires_at,
            interaction=_out(offered[int(offer.task_id)]),
        )
        for offer in ringing
        if int(offer.task_id) in offered
    ]
    interactions = [] if engine.agent(me.user_id) is None else await agent_work(db, me.user_id)
    return MyWork(offers=offers, interactions=[_out(item) for item in interactions])
