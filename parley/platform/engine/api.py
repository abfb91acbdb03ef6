"""REST routes of the engine: the task API for integrations, and the supervisor's live
view of agents and queues with force-state and force-logout."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from parley.platform import audit
from parley.platform.agents import AgentState
from parley.platform.engine.service import EnqueueRequest
from parley.platform.errors import Forbidden, NotFound
from parley.platform.models import Channel, Direction, Interaction, InteractionState, Queue, User
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep, Supervisor, client_ip

router = APIRouter(tags=["engine"])


class EnqueueBody(BaseModel):
    channel: Channel
    queue_id: int
    direction: Direction = Direction.INBOUND
    contact_id: int | None = None
    case_id: int | None = None
    priority: int | None = Field(default=None, ge=-100, le=100)
    external_ref: str | None = Field(default=None, max_length=255)
    attributes: dict[str, Any] = Field(default_factory=dict)
    preferred_agent_id: int | None = None


class Queued(BaseModel):
    interaction_id: int
    position: int
    estimated_wait_seconds: float | None


@router.post("/api/interactions", status_code=201)
async def enqueue(body: EnqueueBody, _: Supervisor, runtime: RuntimeDep) -> Queued:
    engine = runtime.require_engine()
    interaction_id = await engine.enqueue(EnqueueRequest(**body.model_dump()))
    estimate = engine.estimate(interaction_id)
    return Queued(
        interaction_id=interaction_id,
        position=estimate.position,
        estimated_wait_seconds=estimate.seconds,
    )


@router.get("/api/interactions/{interaction_id}/estimate")
async def estimate(interaction_id: int, _: AnyUser, runtime: RuntimeDep) -> Queued:
    found = runtime.require_engine().estimate(interaction_id)
    return Queued(
        interaction_id=interaction_id, position=found.position, estimated_wait_seconds=found.seconds
    )


@router.post("/api/interactions/{interaction_id}/cancel", status_code=204)
async def cancel(interaction_id: int, _: Supervisor, runtime: RuntimeDep) -> None:
    await runtime.require_engine().cancel(interaction_id, reason="cancelled")


@router.post("/api/interactions/{interaction_id}/complete", status_code=204)
async def complete(interaction_id: int, me: AnyUser, runtime: RuntimeDep, db: DbDep) -> None:
    """End an interaction; its agent may, and so may supervisors."""
    interaction = await db.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound("Interaction", interaction_id)
    if me.role.value == "agent" and interaction.agent_id != me.user_id:
        raise Forbidden("Only the agent handling it may end this interaction.")
    await runtime.require_engine().complete(interaction_id)


class AgentLive(BaseModel):
    agent_id: int
    name: str
    state: str
    reason: str | None
    since: datetime
    seconds_in_state: float
    pending_not_ready: str | None
    interactions: int
    ringing_offers: int


@router.get("/api/supervisor/agents")
async def live_agents(_: Supervisor, runtime: RuntimeDep, db: DbDep) -> list[AgentLive]:
    engine = runtime.require_engine()
    views = engine.agents()
    names = dict(
        (
            await db.execute(
                select(User.id, User.display_name).where(
                    User.id.in_([int(view.agent_id) for view in views])
                )
            )
        ).all()
    )
    now = runtime.clock.now()
    return [
        AgentLive(
            agent_id=int(view.agent_id),
            name=names.get(int(view.agent_id), ""),
            state=view.state.value,
            reason=view.reason,
            since=view.state_since,
            seconds_in_state=(now - view.state_since).total_seconds(),
            pending_not_ready=view.pending_not_ready,
            interactions=len(view.interactions),
            ringing_offers=len(view.offers),
        )
        for view in views
    ]


class QueueLive(BaseModel):
    queue_id: int
    name: str
    waiting: int
    offered: int
    longest_wait_seconds: float
    answered_today: int
    abandoned_today: int
    sla_percent: float | None = Field(description="Answered within the SLA threshold today.")


def sla_percent(
    rows: list[tuple[datetime | None, datetime | None, datetime | None, InteractionState]],
    threshold: timedelta,
) -> tuple[int, int, float | None]:
    """Answered within the threshold over answered plus abandoned after it.

    Callers who hung up before the threshold passed are left out: no agent could have
    answered them in time, so they say nothing about the service level.
    """
    answered = abandoned = within = late_abandoned = 0
    for queued_at, answered_at, ended_at, state in rows:
        if queued_at is None:
            continue
        if answered_at is not None:
            answered += 1
            within += answered_at - queued_at <= threshold
        elif state is InteractionState.ABANDONED and ended_at is not None:
            abandoned += 1
            late_abandoned += ended_at - queued_at > threshold
    counted = answered + late_abandoned
    return answered, abandoned, (100.0 * within / counted if counted else None)


@router.get("/api/supervisor/queues")
async def live_queues(_: Supervisor, runtime: RuntimeDep, db: DbDep) -> list[QueueLive]:
    engine = runtime.require_engine()
    now = runtime.clock.now()
    day_start = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    thresholds = dict((await db.execute(select(Queue.id, Queue.sla_threshold_seconds))).all())
    rows = (
        await db.execute(
            select(
                Interaction.queue_id,
                Interaction.queued_at,
                Interaction.answered_at,
                Interaction.ended_at,
                Interaction.state,
            ).where(
                Interaction.queued_at >= day_start,
                or_(
                    Interaction.answered_at.is_not(None),
                    Interaction.state == InteractionState.ABANDONED,
                ),
            )
        )
    ).all()
    result = []
    for queue_id, name, snapshot in engine.queue_snapshots():
        mine = [(q, a, e, s) for qid, q, a, e, s in rows if qid == queue_id]
        threshold = timedelta(seconds=thresholds.get(queue_id, 20))
        answered, abandoned, percent = sla_percent(mine, threshold)
        result.append(
            QueueLive(
                queue_id=queue_id,
                name=name,
                waiting=snapshot.waiting,
                offered=snapshot.offered,
                longest_wait_seconds=snapshot.longest_wait_seconds,
                answered_today=answered,
                abandoned_today=abandoned,
                sla_percent=percent,
            )
        )
    return result


class ForceStateBody(BaseModel):
    state: Literal["ready", "not_ready"]
    reason: str | None = Field(default=None, max_length=40)


@router.post("/api/supervisor/agents/{agent_id}/state", status_code=204)
async def force_state(
    agent_id: int,
    body: ForceStateBody,
    me: Supervisor,
    runtime: RuntimeDep,
    db: DbDep,
    request: Request,
) -> None:
    state = AgentState(body.state)
    reason = body.reason or ("supervisor" if state is AgentState.NOT_READY else None)
    await runtime.require_engine().force_state(agent_id, state, reason, me.user_id)
    await audit.record(
        db,
        me,
        "force_state",
        "agent",
        agent_id,
        {"state": body.state, "reason": reason},
        ip=client_ip(request),
    )


@router.post("/api/supervisor/agents/{agent_id}/logout", status_code=204)
async def force_logout(
    agent_id: int, me: Supervisor, runtime: RuntimeDep, db: DbDep, request: Request
) -> None:
    await runtime.require_engine().force_logout(agent_id, me.user_id)
    await audit.record(db, me, "force_logout", "agent", agent_id, ip=client_ip(request))
