"""REST routes of the interaction read views, for any signed-in user:

- `GET /api/contacts/{contact_id}/interactions`: the contact's history on every channel
  (everyone who may read the contact may read its history);
- `GET /api/me/work`: the caller's ringing offers and interactions in hand, with the
  screen-pop fields, so a desktop that reloads or reconnects can show them again (the
  websocket snapshot carries ids only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from parley.platform.interactions.store import (
    HistoryEntry,
    WorkItem,
    agent_work,
    contact_history,
    work_items,
)
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep

router = APIRouter(tags=["interactions"])


@router.get("/api/contacts/{contact_id}/interactions")
async def list_contact_interactions(
    contact_id: int,
    _: AnyUser,
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[HistoryEntry]:
    """The contact's interactions across channels, newest first."""
    return await contact_history(db, contact_id, limit)


class RingingOfferOut(BaseModel):
    offer_id: str
    expires_at: datetime
    interaction: WorkItem


class MyWork(BaseModel):
    offers: list[RingingOfferOut]
    interactions: list[WorkItem]


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
            interaction=offered[int(offer.task_id)],
        )
        for offer in ringing
        if int(offer.task_id) in offered
    ]
    interactions = [] if engine.agent(me.user_id) is None else await agent_work(db, me.user_id)
    return MyWork(offers=offers, interactions=interactions)
