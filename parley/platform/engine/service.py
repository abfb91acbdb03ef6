"""The engine service: one brain for every channel (ARCHITECTURE.md §4 and §5).

It owns the pure router and every logged-in agent's state machine, and does for them what
they cannot: store every change (interactions, offers, agent state intervals), fire their
timers, watch agent presence, and publish events on the bus. Channels call the task API
(`enqueue`, `cancel`, `complete`); agent desktops and supervisors call the agent commands.

Every command runs under one lock: decide in memory, write to the database in one
transaction, then publish. If the write fails, the in-memory state is rebuilt from the
database, which stays the truth; the same rebuild runs at start-up, so a restart loses no
waiting task, no ringing offer and no agent state.

Time comes from the runtime's clock, and `tick()` does everything that is due (offer
expiry, wrap-up and not-ready timers, lost presence, max wait). The background loop calls
it every `tick_seconds`; tests call it after moving a manual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.agents import (
    ActiveInteraction,
    AgentEvent,
    AgentState,
    AgentView,
    ForceLogout,
    ForceState,
    InteractionEnded,
    InteractionMissed,
    Login,
    Logout,
    OfferAccepted,
    OfferCancelled,
    OfferCreated,
    OfferExpired,
    OfferRejected,
    OutboundStarted,
    PresenceLost,
    RequestNotReady,
    RequestReady,
    RingingOffer,
    Timer,
    TimerFired,
    TimerKind,
    Transition,
    WrapUpDone,
    next_state,
)
from parley.platform.bus import Bus, Event, Subscription
from parley.platform.clock import Clock
from parley.platform.db import Database
from parley.platform.engine.inputs import routing_agent, routing_queue
from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import (
    AgentSkill,
    AgentStateLog,
    Channel,
    Contact,
    Direction,
    Disposition,
    Interaction,
    InteractionState,
    Offer,
    OfferOutcome,
    QueueSkill,
    ReasonCode,
    Schedule,
    User,
)
from parley.platform.models import Queue as QueueRow
from parley.platform.routing import Offer as RoutingOffer
from parley.platform.routing import Router, Task, TaskTimedOut

log = structlog.get_logger(__name__)

# Admin changes that alter who may take what (published by the admin API after commit).
ROUTING_CONFIGURATION = (
    "config.queue.*",
    "config.schedule.*",
    "config.skill.*",
    "config.user.*",
    "config.agent_skill.*",
)


class DispositionRequired(DomainError):
    status_code = 409

    def __init__(self, interaction_id: int) -> None:
        super().__init__(
            "disposition_required",
            f"Choose a disposition for interaction {interaction_id} before finishing wrap-up.",
        )


@dataclass(frozen=True)
class EnqueueRequest:
    """What a channel tells the engine about new work waiting for an agent."""

    channel: Channel
    queue_id: int
    direction: Direction = Direction.INBOUND
    contact_id: int | None = None
    case_id: int | None = None
    priority: int | None = None
    external_ref: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    preferred_agent_id: int | None = None
    # Work left for when agents are back (a voicemail after hours): queued even while
    # the queue is closed or full.
    after_hours: bool = False
    # Agents not offered it before the queue's decliner cooldown (as if they had
    # declined it): e.g. the agent who moves an email on, still holding the old one.
    excluded_agent_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class EngineEvent:
    type: str
    payload: dict[str, Any]


@dataclass
class _QueueInfo:
    name: str
    priority: int
    wrap_up_seconds: int
    disposition_required: bool


@dataclass
class _AgentProfile:
    name: str
    skills: dict[str, int]
    capacity: dict[str, int]
    ready_on_login: bool


@dataclass
class _Pending:
    """What one command changed, to store in one transaction and publish after it."""

    events: list[EngineEvent] = field(default_factory=list)

    def emit(self, type_: str, **payload: Any) -> None:
        self.events.append(EngineEvent(type_, payload))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class Engine:
    def __init__(
        self,
        database: Database,
        bus: Bus,
        clock: Clock,
        *,
        presence_timeout: float = 10.0,
        tick_seconds: float = 1.0,
    ) -> None:
        self._database = database
        self._bus = bus
        self._clock = clock
        self._presence_timeout = timedelta(seconds=presence_timeout)
        self._tick_seconds = tick_seconds
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._reset()

    def _reset(self) -> None:
        self._router = Router(offer_ids=self._new_offer_ids())
        self._queues: dict[int, _QueueInfo] = {}
        self._agents: dict[str, AgentView] = {}
        self._profiles: dict[str, _AgentProfile] = {}
        self._last_seen: dict[str, datetime] = {}
        self._timers: dict[str, set[Timer]] = {}
        self._offers: dict[str, RoutingOffer] = {}
        self._queued: set[int] = set()
        # Interactions each agent finished and has not wrapped up yet.
        self._wrapping: dict[str, list[int]] = {}

    @staticmethod
    def _new_offer_ids() -> Iterator[str]:
        while True:
            yield uuid.uuid4().hex

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, *, run_loop: bool = True) -> None:
        async with self._lock:
            await self._load()
        # Subscribe before returning, so no configuration change published later is missed.
        changes = self._bus.subscribe(*ROUTING_CONFIGURATION)
        self._tasks.append(asyncio.create_task(self._follow_configuration(changes)))
        if run_loop:
            self._tasks.append(asyncio.create_task(self._run(), name="engine-ticks"))
        log.info("engine.started", agents=len(self._agents), waiting=len(self._queued))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _follow_configuration(self, changes: Subscription) -> None:
        """Admins changed queues, schedules, skills or users: route with the new setup."""
        async with changes:
            async for change in changes:
                try:
                    await self.reload_configuration()
                except Exception:  # keep following; the next change or a restart retries
                    log.exception("engine.reload_failed", change=change.type)

    async def reload_configuration(self) -> None:
        """Re-read queues and the profiles (skills, capacity) of logged-in agents; waiting
        tasks, offers and states are kept (a deactivated queue still serves the tasks it
        holds)."""
        await self._execute(self._reload_configuration)

    async def _reload_configuration(
        self, db: AsyncSession, _pending: _Pending, _now: datetime
    ) -> None:
        await self._load_queues(db)
        for agent_id in list(self._agents):
            if await self._load_profile(db, int(agent_id)) is not None:
                self._route_agent(agent_id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            try:
                await self.tick()
            except Exception:  # the loop must outlive one bad tick; the error is logged
                log.exception("engine.tick_failed")

    async def _load(self) -> None:
        """Rebuild everything in memory from the database."""
        self._reset()
        now = self._clock.now()
        async with self._database.transaction() as db:
            await self._load_queues(db)
            open_intervals = (
                await db.scalars(select(AgentStateLog).where(AgentStateLog.ended_at.is_(None)))
            ).all()
            for interval in open_intervals:
                if interval.state == AgentState.OFFLINE:
                    continue
                agent_id = str(interval.agent_id)
                profile = await self._load_profile(db, interval.agent_id)
                if profile is None:
                    continue
                self._agents[agent_id] = AgentView(
                    agent_id=agent_id,
                    state_since=interval.started_at,
                    state=AgentState(interval.state),
                    reason=interval.reason,
                    ready_on_login=profile.ready_on_login,
                )
                # Desktops reconnect after a restart; give them the usual grace.
                self._last_seen[agent_id] = now
            await self._load_interactions(db, now)
            for interval in open_intervals:
                if str(interval.agent_id) in self._agents:
                    await self._restore_deadlines(db, interval)

    async def _restore_deadlines(self, db: AsyncSession, interval: AgentStateLog) -> None:
        """What a restart would otherwise forget of an agent's open interval: the
        interactions awaiting their wrap-up, and the deadlines of a wrap-up or a timed
        not-ready, counted from when the interval began, with their timers."""
        agent_id = str(interval.agent_id)
        view = self._agents[agent_id]
        logged_in_at = await db.scalar(
            select(func.max(AgentStateLog.ended_at)).where(
                AgentStateLog.agent_id == interval.agent_id,
                AgentStateLog.state == AgentState.OFFLINE.value,
            )
        )
        wrapping = select(Interaction).where(
            Interaction.agent_id == interval.agent_id,
            Interaction.state == InteractionState.WRAP_UP,
        )
        if logged_in_at is not None:
            # Older rows were left by a session that went offline: not this wrap-up's.
            wrapping = wrapping.where(Interaction.ended_at >= logged_in_at)
        ended = (await db.scalars(wrapping.order_by(Interaction.ended_at, Interaction.id))).all()
        if ended:
            self._wrapping[agent_id] = [interaction.id for interaction in ended]
        deadline: Timer | None = None
        if view.state is AgentState.WRAP_UP and ended:
            queue = self._queues.get(ended[-1].queue_id or 0)
            if queue and queue.wrap_up_seconds:
                until = interval.started_at + timedelta(seconds=queue.wrap_up_seconds)
                view = replace(view, wrap_up_until=until)
                deadline = Timer(agent_id, TimerKind.WRAP_UP_END, until)
        elif view.state is AgentState.NOT_READY and view.reason:
            seconds = await db.scalar(
                select(ReasonCode.max_duration_seconds).where(ReasonCode.code == view.reason)
            )
            if seconds:
                until = interval.started_at + timedelta(seconds=seconds)
                view = replace(view, not_ready_until=until)
                deadline = Timer(agent_id, TimerKind.NOT_READY_END, until)
        if deadline is not None:
            self._agents[agent_id] = view
            self._timers.setdefault(agent_id, set()).add(deadline)

    async def _load_queues(self, db: AsyncSession) -> None:
        rows = (await db.scalars(select(QueueRow).where(QueueRow.is_active.is_(True)))).all()
        skills = (await db.scalars(select(QueueSkill))).all()
        schedules = {row.id: row for row in (await db.scalars(select(Schedule))).all()}
        for row in rows:
            self._set_queue(row, [s for s in skills if s.queue_id == row.id], schedules)

    def _set_queue(
        self, row: QueueRow, skills: list[QueueSkill], schedules: dict[int, Schedule]
    ) -> None:
        schedule = schedules.get(row.schedule_id) if row.schedule_id else None
        self._router.set_queue(routing_queue(row, skills, schedule))
        self._queues[row.id] = _QueueInfo(
            row.name, row.priority, row.wrap_up_seconds, row.disposition_required
        )

    async def _load_profile(self, db: AsyncSession, user_id: int) -> _AgentProfile | None:
        user = await db.get(User, user_id)
        if user is None or not user.is_active:
            return None
        skills = (await db.scalars(select(AgentSkill).where(AgentSkill.user_id == user_id))).all()
        profile = _AgentProfile(
            name=user.display_name,
            skills={str(skill.skill_id): skill.level for skill in skills},
            capacity={str(k): int(v) for k, v in user.capacity.items()},
            ready_on_login=user.ready_on_login,
        )
        self._profiles[str(user_id)] = profile
        return profile

    async def _load_interactions(self, db: AsyncSession, now: datetime) -> None:
        live = (
            await db.scalars(
                select(Interaction)
                .where(
                    Interaction.state.in_(
                        [InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ACTIVE]
                    )
                )
                .order_by(Interaction.id)
            )
        ).all()
        pending_offers = (
            await db.scalars(select(Offer).where(Offer.outcome == OfferOutcome.PENDING))
        ).all()
        declined = (
            await db.execute(
                select(Offer.interaction_id, Offer.agent_id).where(
                    Offer.outcome.in_([OfferOutcome.REJECTED, OfferOutcome.EXPIRED])
                )
            )
        ).all()
        for interaction in live:
            agent_id = str(interaction.agent_id) if interaction.agent_id else None
            if interaction.state is InteractionState.ACTIVE and agent_id in self._agents:
                view = self._agents[agent_id]
                held = ActiveInteraction(str(interaction.id), interaction.channel.value)
                self._agents[agent_id] = replace(view, interactions=(*view.interactions, held))
        for agent_id in self._agents:
            self._route_agent(agent_id, add=True)
        for interaction in live:
            if interaction.state is InteractionState.ACTIVE:
                continue
            excluded = frozenset(str(agent) for inter, agent in declined if inter == interaction.id)
            try:
                # Let in before the restart: closing time or a full queue keeps it waiting.
                self._add_task(interaction, now, excluded, admitted=True)
            except DomainError as exc:
                log.warning(
                    "engine.task_not_restored", interaction_id=interaction.id, error=exc.code
                )
                continue
        by_ref: dict[str, list[Offer]] = {}
        for offer in pending_offers:
            by_ref.setdefault(offer.ref, []).append(offer)
        for ref, rows in by_ref.items():
            self._restore_offer(ref, rows)

    def _restore_offer(self, ref: str, rows: list[Offer]) -> None:
        """Ring the agents an offer was ringing before the restart, until its own expiry."""
        agent_ids = tuple(str(row.agent_id) for row in rows if str(row.agent_id) in self._agents)
        task_id = str(rows[0].interaction_id)
        if not agent_ids or int(task_id) not in self._queued:
            return
        offer = self._router.restore_offer(ref, task_id, agent_ids, rows[0].expires_at)
        self._offers[ref] = offer
        for agent_id in agent_ids:
            view = self._agents[agent_id]
            ringing = RingingOffer(ref, task_id, offer.channel)
            self._agents[agent_id] = replace(view, offers=(*view.offers, ringing))

    def _add_task(
        self,
        interaction: Interaction,
        now: datetime,
        excluded: frozenset[str] = frozenset(),
        *,
        admitted: bool = False,
    ) -> None:
        preferred = interaction.attributes.get("preferred_agent_id")
        self._router.add_task(
            Task(
                task_id=str(interaction.id),
                queue_id=str(interaction.queue_id),
                channel=interaction.channel.value,
                enqueued_at=interaction.queued_at or interaction.created_at,
                priority=interaction.priority,
                contact_id=str(interaction.contact_id) if interaction.contact_id else None,
                preferred_agent_id=str(preferred) if preferred else None,
                excluded_agent_ids=excluded,
                is_admitted=admitted,
            ),
            now,
        )
        self._queued.add(interaction.id)

    # --- running a command ---------------------------------------------------------------

    async def _execute(self, command: Any, *args: Any) -> Any:
        """Run `command(db, pending, now, *args)` under the lock, in one transaction, then
        decide and publish. On a failed write, rebuild from the database."""
        async with self._lock:
            pending = _Pending()
            now = self._clock.now()
            try:
                async with self._database.transaction() as db:
                    result = await command(db, pending, now, *args)
                    await self._decide(db, pending, now)
            except DomainError:
                await self._load()
                raise
            except Exception:
                log.exception("engine.command_failed", command=getattr(command, "__name__", ""))
                await self._load()
                raise
        for event in pending.events:
            await self._bus.publish(Event.create(event.type, event.payload, now))
        return result

    async def _apply(
        self, db: AsyncSession, pending: _Pending, now: datetime, event: AgentEvent
    ) -> Transition:
        """Feed one event to an agent's state machine and store what it did."""
        view = self._agents.get(event.agent_id)
        if view is None:
            view = AgentView(agent_id=event.agent_id, state_since=now)
        transition = next_state(view, event, now)
        agent = transition.agent
        agent_id = int(agent.agent_id)
        if transition.closed is not None:
            await db.execute(
                update(AgentStateLog)
                .where(AgentStateLog.agent_id == agent_id, AgentStateLog.ended_at.is_(None))
                .values(ended_at=now)
            )
        if transition.opened is not None:
            db.add(
                AgentStateLog(
                    agent_id=agent_id,
                    state=transition.opened.state.value,
                    reason=transition.opened.reason,
                    started_at=now,
                )
            )
            pending.emit(
                "agent.state_changed",
                agent_id=agent_id,
                state=agent.state.value,
                reason=agent.reason,
                since=_iso(now),
                previous_state=view.state.value,
                pending_not_ready=agent.pending_not_ready,
            )
        self._timers.setdefault(agent.agent_id, set()).update(transition.timers)
        if agent.state is AgentState.OFFLINE:
            await self._forget_agent(db, pending, now, agent.agent_id)
        else:
            self._agents[agent.agent_id] = agent
            self._route_agent(agent.agent_id, add=view.state is AgentState.OFFLINE)
        for released in transition.released_interactions:
            await self._requeue(db, pending, now, int(released.interaction_id))
        return transition

    async def _forget_agent(
        self, db: AsyncSession, pending: _Pending, now: datetime, agent_id: str
    ) -> None:
        """An agent went offline: offers ringing for them move on to others (F-AG-3)."""
        self._agents.pop(agent_id, None)
        self._last_seen.pop(agent_id, None)
        self._timers.pop(agent_id, None)
        self._wrapping.pop(agent_id, None)
        try:
            ringing = self._router.remove_agent(agent_id)
        except NotFound:
            return
        for offer in ringing:
            remaining = tuple(agent for agent in offer.agent_ids if agent != agent_id)
            await self._close_offers(
                db, int(offer.task_id), OfferOutcome.CANCELLED, now, agent_id=int(agent_id)
            )
            if remaining:
                self._offers[offer.offer_id] = replace(offer, agent_ids=remaining)
            else:
                self._offers.pop(offer.offer_id, None)
                await self._back_to_queue(db, int(offer.task_id))
            pending.emit(
                "offer.cancelled",
                offer_id=offer.offer_id,
                interaction_id=int(offer.task_id),
                agent_ids=[int(agent_id)],
            )

    def _route_agent(self, agent_id: str, *, add: bool = False) -> None:
        """Tell the router what it needs to know of an agent after a change."""
        view = self._agents[agent_id]
        profile = self._profiles[agent_id]
        agent = routing_agent(view, profile.skills, profile.capacity, view.state_since)
        if add:
            try:
                self._router.add_agent(agent)
                return
            except Conflict:
                pass
        self._router.agent_changed(agent)

    async def _decide(self, db: AsyncSession, pending: _Pending, now: datetime) -> None:
        # Offers change agents' state, which can free more matches: decide until settled.
        while decisions := self._router.decide(now):
            for decision in decisions:
                await self._carry_out(db, pending, now, decision)

    async def _carry_out(
        self,
        db: AsyncSession,
        pending: _Pending,
        now: datetime,
        decision: RoutingOffer | TaskTimedOut,
    ) -> None:
        if isinstance(decision, TaskTimedOut):
            await self._time_out(db, pending, now, decision)
            return
        self._offers[decision.offer_id] = decision
        interaction_id = int(decision.task_id)
        interaction = await db.get_one(Interaction, interaction_id)
        interaction.state = InteractionState.OFFERED
        for agent_id in decision.agent_ids:
            db.add(
                Offer(
                    ref=decision.offer_id,
                    interaction_id=interaction_id,
                    agent_id=int(agent_id),
                    created_at=now,
                    expires_at=decision.expires_at,
                )
            )
            await self._apply(
                db,
                pending,
                now,
                OfferCreated(agent_id, decision.offer_id, decision.task_id, decision.channel),
            )
        pending.emit(
            "offer.created",
            offer_id=decision.offer_id,
            interaction_id=interaction_id,
            agent_ids=[int(agent) for agent in decision.agent_ids],
            expires_at=_iso(decision.expires_at),
            channel=decision.channel,
            queue_id=int(decision.queue_id),
            queue_name=self._queues[int(decision.queue_id)].name,
            contact_id=interaction.contact_id,
            case_id=interaction.case_id,
            attributes=interaction.attributes,
        )

    async def _time_out(
        self, db: AsyncSession, pending: _Pending, now: datetime, decision: TaskTimedOut
    ) -> None:
        interaction_id = int(decision.task_id)
        self._queued.discard(interaction_id)
        await self._end_interaction_row(db, interaction_id, now, InteractionState.ABANDONED)
        pending.emit(
            "interaction.timed_out",
            interaction_id=interaction_id,
            queue_id=int(decision.queue_id),
            action=decision.action,
            waited_seconds=decision.waited_seconds,
        )

    async def _end_interaction_row(
        self, db: AsyncSession, interaction_id: int, now: datetime, state: InteractionState
    ) -> Interaction:
        interaction = await db.get_one(Interaction, interaction_id)
        interaction.state = state
        interaction.ended_at = now
        await self._close_offers(db, interaction_id, OfferOutcome.CANCELLED, now)
        return interaction

    async def _close_offers(
        self,
        db: AsyncSession,
        interaction_id: int,
        outcome: OfferOutcome,
        now: datetime,
        *,
        agent_id: int | None = None,
    ) -> None:
        statement = update(Offer).where(
            Offer.interaction_id == interaction_id, Offer.outcome == OfferOutcome.PENDING
        )
        if agent_id is not None:
            statement = statement.where(Offer.agent_id == agent_id)
        await db.execute(statement.values(outcome=outcome, decided_at=now))

    async def _requeue(
        self,
        db: AsyncSession,
        pending: _Pending,
        now: datetime,
        interaction_id: int,
        excluded: frozenset[str] = frozenset(),
    ) -> None:
        """Work an agent held goes back to its queue, keeping its age (they left, or it
        never reached them); `excluded` agents wait out the queue's decliner cooldown."""
        self._router_forget(interaction_id, now)
        interaction = await db.get_one(Interaction, interaction_id)
        interaction.state = InteractionState.QUEUED
        interaction.agent_id = None
        interaction.answered_at = None
        try:
            self._add_task(interaction, now, excluded, admitted=True)
        except DomainError as exc:
            await self._end_interaction_row(db, interaction_id, now, InteractionState.ABANDONED)
            pending.emit("interaction.ended", interaction_id=interaction_id, reason=exc.code)
            return
        pending.emit(
            "interaction.queued",
            interaction_id=interaction_id,
            requeued=True,
            queue_id=interaction.queue_id,
            channel=interaction.channel.value,
        )

    def _router_forget(self, interaction_id: int, now: datetime) -> RoutingOffer | None:
        try:
            return self._router.remove_task(str(interaction_id), now)
        except NotFound:
            return None
        finally:
            self._queued.discard(interaction_id)

    # --- the task API (channels) ---------------------------------------------------------

    async def enqueue(self, request: EnqueueRequest) -> int:
        """Create an interaction and queue it. Raises QueueClosed / QueueFull (with the
        queue's action, for the channel to carry out) or NotFound for an unknown queue."""
        return int(await self._execute(self._enqueue, request))

    async def _enqueue(
        self, db: AsyncSession, pending: _Pending, now: datetime, request: EnqueueRequest
    ) -> int:
        if request.queue_id not in self._queues:
            raise NotFound("Queue", request.queue_id)
        attributes = dict(request.attributes)
        preferred = request.preferred_agent_id
        if preferred is None and request.contact_id is not None:
            preferred = await self._sticky_agent(db, request.contact_id)
        if preferred in request.excluded_agent_ids:
            preferred = None  # not held for an agent who may not have it now
        if preferred is not None:
            attributes["preferred_agent_id"] = preferred
        interaction = Interaction(
            channel=request.channel,
            direction=request.direction,
            state=InteractionState.QUEUED,
            queue_id=request.queue_id,
            contact_id=request.contact_id,
            case_id=request.case_id,
            priority=(
                request.priority
                if request.priority is not None
                else self._queues[request.queue_id].priority
            ),
            external_ref=request.external_ref,
            attributes=attributes,
            created_at=now,
            queued_at=now,
        )
        db.add(interaction)
        await db.flush()
        excluded = frozenset(str(agent_id) for agent_id in request.excluded_agent_ids)
        self._add_task(interaction, now, excluded, admitted=request.after_hours)
        estimate = self._router.estimate_wait(str(interaction.id))
        pending.emit(
            "interaction.queued",
            interaction_id=interaction.id,
            queue_id=request.queue_id,
            channel=request.channel.value,
            position=estimate.position,
            estimated_wait_seconds=estimate.seconds,
        )
        return interaction.id

    async def _sticky_agent(self, db: AsyncSession, contact_id: int) -> int | None:
        """The contact's personal manager, else the agent who served them last (F-RT-5)."""
        contact = await db.get(Contact, contact_id)
        if contact is None:
            raise NotFound("Contact", contact_id)
        if contact.personal_manager_id is not None:
            return contact.personal_manager_id
        return await db.scalar(
            select(Interaction.agent_id)
            .where(Interaction.contact_id == contact_id, Interaction.agent_id.is_not(None))
            .order_by(Interaction.answered_at.desc(), Interaction.id.desc())
            .limit(1)
        )

    async def cancel(self, interaction_id: int, reason: str = "abandoned") -> None:
        """The customer left before an agent took the interaction (hung up, closed chat)."""
        await self._execute(self._cancel, interaction_id, reason)

    async def _cancel(
        self, db: AsyncSession, pending: _Pending, now: datetime, interaction_id: int, reason: str
    ) -> None:
        if interaction_id not in self._queued:
            raise Conflict("not_waiting", f"Interaction {interaction_id} is not waiting.")
        offer = self._router_forget(interaction_id, now)
        if offer is not None:
            await self._cancel_ringing(db, pending, now, offer)
        await self._end_interaction_row(db, interaction_id, now, InteractionState.ABANDONED)
        pending.emit("interaction.ended", interaction_id=interaction_id, reason=reason)

    async def _cancel_ringing(
        self, db: AsyncSession, pending: _Pending, now: datetime, offer: RoutingOffer
    ) -> None:
        self._offers.pop(offer.offer_id, None)
        for agent_id in offer.agent_ids:
            if agent_id in self._agents:
                await self._apply(db, pending, now, OfferCancelled(agent_id, offer.offer_id))
        pending.emit(
            "offer.cancelled",
            offer_id=offer.offer_id,
            interaction_id=int(offer.task_id),
            agent_ids=[int(agent) for agent in offer.agent_ids],
        )

    async def complete(self, interaction_id: int) -> None:
        """The interaction is over (call hung up, chat closed, email answered): the agent
        moves on to wrap-up or to the next work."""
        await self._execute(self._complete, interaction_id)

    @staticmethod
    async def _in_progress(db: AsyncSession, interaction_id: int) -> tuple[Interaction, str]:
        """The interaction an agent has in hand, and that agent; Conflict otherwise."""
        interaction = await db.get_one(Interaction, interaction_id)
        if interaction.state is not InteractionState.ACTIVE or interaction.agent_id is None:
            raise Conflict("not_active", f"Interaction {interaction_id} is not in progress.")
        return interaction, str(interaction.agent_id)

    async def _complete(
        self, db: AsyncSession, pending: _Pending, now: datetime, interaction_id: int
    ) -> None:
        interaction, agent_id = await self._in_progress(db, interaction_id)
        interaction.state = InteractionState.WRAP_UP
        interaction.ended_at = now
        self._router_forget(interaction_id, now)
        if interaction.answered_at and interaction.queue_id in self._queues:
            self._router.record_handle_time(
                str(interaction.queue_id), (now - interaction.answered_at).total_seconds()
            )
        pending.emit(
            "interaction.ended",
            interaction_id=interaction_id,
            agent_id=int(agent_id),
            reason="completed",
        )
        if agent_id not in self._agents:
            interaction.state = InteractionState.ENDED
            return
        queue = self._queues.get(interaction.queue_id or 0)
        wrap_up_seconds = queue.wrap_up_seconds if queue else 0
        self._wrapping.setdefault(agent_id, []).append(interaction_id)
        transition = await self._apply(
            db, pending, now, InteractionEnded(agent_id, str(interaction_id), wrap_up_seconds)
        )
        if transition.agent.state is not AgentState.WRAP_UP:
            await self._finish_wrap_up(db, agent_id)

    async def start_outbound(self, agent_id: int, request: EnqueueRequest) -> int:
        """Work the agent starts themselves (a call they dial): an interaction in their
        hands at once, routed to nobody. Refused (Conflict) while they are offline, an
        offer rings, they wrap up, or the channel is full for them (already on a call)."""
        return int(await self._execute(self._start_outbound, agent_id, request))

    async def _start_outbound(
        self,
        db: AsyncSession,
        pending: _Pending,
        now: datetime,
        agent_id: int,
        request: EnqueueRequest,
    ) -> int:
        key = self._require_agent(agent_id)
        if request.queue_id and request.queue_id not in self._queues:
            raise NotFound("Queue", request.queue_id)
        channel = request.channel.value
        view = self._agents[key]
        in_hand = sum(1 for i in view.interactions if i.channel == channel)
        capacity = self._profiles[key].capacity.get(channel, 0)
        if in_hand >= max(capacity, 1):
            raise Conflict("channel_full", f"Agent {agent_id} has no room on {channel}.")
        interaction = Interaction(
            channel=request.channel,
            direction=Direction.OUTBOUND,
            state=InteractionState.ACTIVE,
            queue_id=request.queue_id or None,
            agent_id=agent_id,
            contact_id=request.contact_id,
            case_id=request.case_id,
            priority=request.priority or 0,
            external_ref=request.external_ref,
            attributes=dict(request.attributes),
            created_at=now,
            answered_at=now,
        )
        db.add(interaction)
        await db.flush()
        await self._apply(db, pending, now, OutboundStarted(key, str(interaction.id), channel))
        pending.emit(
            "interaction.assigned",
            interaction_id=interaction.id,
            agent_id=agent_id,
            channel=channel,
            queue_id=interaction.queue_id,
            direction=Direction.OUTBOUND.value,
        )
        return interaction.id

    async def unanswered(self, interaction_id: int) -> None:
        """The agent accepted but the work never reached them (their phone did not
        answer, was busy or unreachable): it goes back to its queue keeping its age, is
        not offered to that agent again before the queue's decliner cooldown, and counts
        as their miss (no wrap-up)."""
        await self._execute(self._unanswered, interaction_id)

    async def _unanswered(
        self, db: AsyncSession, pending: _Pending, now: datetime, interaction_id: int
    ) -> None:
        _interaction, agent_id = await self._in_progress(db, interaction_id)
        pending.emit(
            "interaction.unanswered", interaction_id=interaction_id, agent_id=int(agent_id)
        )
        if agent_id in self._agents:
            await self._apply(db, pending, now, InteractionMissed(agent_id, str(interaction_id)))
        await self._requeue(db, pending, now, interaction_id, excluded=frozenset({agent_id}))

    async def transfer(
        self, interaction_id: int, queue_id: int, preferred_agent_id: int | None = None
    ) -> None:
        """The agent hands work on (a chat transferred, F-CH-6): it leaves their hands
        with no wrap-up and no miss and waits in `queue_id` keeping its age, held for
        `preferred_agent_id` first when given (a transfer to an agent). The agent who
        handed it on is not offered it again before the queue's decliner cooldown."""
        await self._execute(self._transfer, interaction_id, queue_id, preferred_agent_id)

    async def _transfer(
        self,
        db: AsyncSession,
        pending: _Pending,
        now: datetime,
        interaction_id: int,
        queue_id: int,
        preferred_agent_id: int | None,
    ) -> None:
        if queue_id not in self._queues:
            raise NotFound("Queue", queue_id)
        interaction, agent_id = await self._in_progress(db, interaction_id)
        if preferred_agent_id is not None and str(preferred_agent_id) == agent_id:
            raise Conflict("same_agent", "The work is already in this agent's hands.")
        attributes = {**interaction.attributes, "transferred_from_agent_id": int(agent_id)}
        attributes.pop("preferred_agent_id", None)
        if preferred_agent_id is not None:
            attributes["preferred_agent_id"] = preferred_agent_id
        interaction.attributes = attributes
        interaction.queue_id = queue_id
        pending.emit(
            "interaction.transferred",
            interaction_id=interaction_id,
            agent_id=int(agent_id),
            queue_id=queue_id,
            to_agent_id=preferred_agent_id,
            channel=interaction.channel.value,
        )
        if agent_id in self._agents:
            await self._apply(db, pending, now, InteractionEnded(agent_id, str(interaction_id)))
        await self._requeue(db, pending, now, interaction_id, excluded=frozenset({agent_id}))

    async def take(self, agent_id: int, interaction_id: int) -> None:
        """The agent takes waiting work themselves, from a group queue (manual pick,
        F-RT-6): it is in their hands at once, with no offer. Refused (Conflict)
        `not_waiting` once it no longer waits (of two agents taking it, one wins),
        `not_eligible` when the agent may not take its queue's work, `channel_full` when
        the channel is full for them (ringing offers count), and as `start_outbound`
        while they are offline or wrap up."""
        await self._execute(self._take, agent_id, interaction_id)

    async def _take(
        self, db: AsyncSession, pending: _Pending, now: datetime, agent_id: int, interaction_id: int
    ) -> None:
        key = self._require_agent(agent_id)
        interaction = await db.get(Interaction, interaction_id)
        if (
            interaction is None
            or interaction_id not in self._queued
            or interaction.state is not InteractionState.QUEUED
        ):
            raise Conflict("not_waiting", f"Interaction {interaction_id} is not waiting.")
        if key not in self._router.agents_for(str(interaction.queue_id)):
            raise Conflict("not_eligible", f"Agent {agent_id} does not serve this queue.")
        channel = interaction.channel.value
        view = self._agents[key]
        in_hand = sum(1 for i in view.interactions if i.channel == channel)
        ringing = sum(1 for offer in view.offers if offer.channel == channel)
        if in_hand + ringing >= self._profiles[key].capacity.get(channel, 0):
            raise Conflict("channel_full", f"Agent {agent_id} has no room on {channel}.")
        self._router_forget(interaction_id, now)
        await self._apply(db, pending, now, OutboundStarted(key, str(interaction_id), channel))
        interaction.state = InteractionState.ACTIVE
        interaction.agent_id = agent_id
        interaction.answered_at = now
        pending.emit(
            "interaction.assigned",
            interaction_id=interaction_id,
            agent_id=agent_id,
            channel=channel,
            queue_id=interaction.queue_id,
            direction=interaction.direction.value,
            taken=True,
        )

    async def take_over(self, interaction_id: int, agent_id: int) -> None:
        """Work in one agent's hands goes into `agent_id`'s at once, with no offer (a
        supervisor takes over a chat, F-CH-6); the first agent is left with no wrap-up.
        Refused like `start_outbound` when `agent_id` cannot take it now."""
        await self._execute(self._take_over, interaction_id, agent_id)

    async def _take_over(
        self, db: AsyncSession, pending: _Pending, now: datetime, interaction_id: int, agent_id: int
    ) -> None:
        key = self._require_agent(agent_id)
        interaction, holder = await self._in_progress(db, interaction_id)
        if holder == key:
            raise Conflict("same_agent", "The work is already in this agent's hands.")
        channel = interaction.channel.value
        in_hand = sum(1 for i in self._agents[key].interactions if i.channel == channel)
        if in_hand >= max(self._profiles[key].capacity.get(channel, 0), 1):
            raise Conflict("channel_full", f"Agent {agent_id} has no room on {channel}.")
        await self._apply(db, pending, now, OutboundStarted(key, str(interaction_id), channel))
        if holder in self._agents:
            await self._apply(db, pending, now, InteractionEnded(holder, str(interaction_id)))
        interaction.agent_id = agent_id
        pending.emit(
            "interaction.transferred",
            interaction_id=interaction_id,
            agent_id=int(holder),
            queue_id=interaction.queue_id,
            to_agent_id=agent_id,
            channel=channel,
        )
        pending.emit(
            "interaction.assigned",
            interaction_id=interaction_id,
            agent_id=agent_id,
            channel=channel,
            queue_id=interaction.queue_id,
            direction=interaction.direction.value,
        )

    async def _finish_wrap_up(self, db: AsyncSession, agent_id: str) -> None:
        for interaction_id in self._wrapping.pop(agent_id, []):
            interaction = await db.get_one(Interaction, interaction_id)
            if interaction.state is InteractionState.WRAP_UP:
                interaction.state = InteractionState.ENDED

    # --- agent commands ------------------------------------------------------------------

    async def login(self, agent_id: int) -> AgentView:
        return await self._execute(self._login, agent_id)  # type: ignore[no-any-return]

    async def _login(
        self, db: AsyncSession, pending: _Pending, now: datetime, agent_id: int
    ) -> AgentView:
        key = str(agent_id)
        self._last_seen[key] = now
        if key in self._agents:
            return self._agents[key]
        profile = await self._load_profile(db, agent_id)
        if profile is None:
            raise NotFound("User", agent_id)
        self._agents[key] = AgentView(
            agent_id=key, state_since=now, ready_on_login=profile.ready_on_login
        )
        transition = await self._apply(db, pending, now, Login(key))
        return transition.agent

    def heartbeat(self, agent_id: int) -> None:
        """The agent's desktop is still there (F-AG-3)."""
        key = str(agent_id)
        if key in self._agents:
            self._last_seen[key] = self._clock.now()

    async def logout(self, agent_id: int) -> None:
        await self._agent_event(Logout(str(agent_id)))

    async def request_ready(self, agent_id: int) -> None:
        await self._agent_event(RequestReady(str(agent_id)))

    async def request_not_ready(self, agent_id: int, reason_code: str) -> None:
        await self._execute(self._request_not_ready, agent_id, reason_code)

    async def _request_not_ready(
        self, db: AsyncSession, pending: _Pending, now: datetime, agent_id: int, code: str
    ) -> None:
        reason = await db.scalar(
            select(ReasonCode).where(ReasonCode.code == code, ReasonCode.is_active.is_(True))
        )
        if reason is None:
            raise NotFound("Reason code", code)
        duration = (
            timedelta(seconds=reason.max_duration_seconds) if reason.max_duration_seconds else None
        )
        self._require_agent(agent_id)
        await self._apply(db, pending, now, RequestNotReady(str(agent_id), code, duration))

    async def accept(self, agent_id: int, offer_id: str) -> int:
        """The agent takes the offer; returns the interaction id."""
        return int(await self._execute(self._accept, agent_id, offer_id))

    async def _accept(
        self, db: AsyncSession, pending: _Pending, now: datetime, agent_id: int, offer_id: str
    ) -> int:
        key = self._require_agent(agent_id)
        offer = self._offers.get(offer_id)
        if offer is None or key not in offer.agent_ids:
            raise NotFound("Offer", offer_id)
        others = self._router.accept(offer_id, key)
        del self._offers[offer_id]
        interaction_id = int(offer.task_id)
        self._queued.discard(interaction_id)
        await self._apply(db, pending, now, OfferAccepted(key, offer_id))
        await db.execute(
            update(Offer)
            .where(Offer.ref == offer_id, Offer.agent_id == agent_id)
            .values(outcome=OfferOutcome.ACCEPTED, decided_at=now)
        )
        await self._close_offers(db, interaction_id, OfferOutcome.CANCELLED, now)
        for other in others:
            if other in self._agents:
                await self._apply(db, pending, now, OfferCancelled(other, offer_id))
        interaction = await db.get_one(Interaction, interaction_id)
        interaction.state = InteractionState.ACTIVE
        interaction.agent_id = agent_id
        interaction.answered_at = now
        pending.emit(
            "offer.accepted", offer_id=offer_id, interaction_id=interaction_id, agent_id=agent_id
        )
        if others:
            pending.emit(
                "offer.cancelled",
                offer_id=offer_id,
                interaction_id=interaction_id,
                agent_ids=[int(other) for other in others],
            )
        pending.emit(
            "interaction.assigned",
            interaction_id=interaction_id,
            agent_id=agent_id,
            channel=interaction.channel.value,
            queue_id=interaction.queue_id,
        )
        return interaction_id

    async def reject(self, agent_id: int, offer_id: str) -> None:
        await self._execute(self._reject, agent_id, offer_id)

    async def _reject(
        self, db: AsyncSession, pending: _Pending, now: datetime, agent_id: int, offer_id: str
    ) -> None:
        key = self._require_agent(agent_id)
        offer = self._offers.get(offer_id)
        if offer is None or key not in offer.agent_ids:
            raise NotFound("Offer", offer_id)
        self._router.reject(offer_id, key)
        remaining = tuple(agent for agent in offer.agent_ids if agent != key)
        if remaining:
            self._offers[offer_id] = replace(offer, agent_ids=remaining)
        else:
            del self._offers[offer_id]
            await self._back_to_queue(db, int(offer.task_id))
        await self._apply(db, pending, now, OfferRejected(key, offer_id))
        await self._close_offers(
            db, int(offer.task_id), OfferOutcome.REJECTED, now, agent_id=agent_id
        )
        pending.emit(
            "offer.rejected",
            offer_id=offer_id,
            interaction_id=int(offer.task_id),
            agent_id=agent_id,
        )

    async def _back_to_queue(self, db: AsyncSession, interaction_id: int) -> None:
        interaction = await db.get_one(Interaction, interaction_id)
        if interaction.state is InteractionState.OFFERED:
            interaction.state = InteractionState.QUEUED

    async def set_disposition(
        self, agent_id: int, interaction_id: int, disposition_id: int | None, notes: str
    ) -> None:
        await self._execute(self._set_disposition, agent_id, interaction_id, disposition_id, notes)

    async def _set_disposition(
        self,
        db: AsyncSession,
        pending: _Pending,
        now: datetime,
        agent_id: int,
        interaction_id: int,
        disposition_id: int | None,
        notes: str,
    ) -> None:
        interaction = await db.get_one(Interaction, interaction_id)
        if interaction.agent_id != agent_id:
            raise NotFound("Interaction", interaction_id)
        if disposition_id is not None:
            disposition = await db.get(Disposition, disposition_id)
            if (
                disposition is None
                or not disposition.is_active
                or (disposition.queue_id not in (None, interaction.queue_id))
            ):
                raise NotFound("Disposition", disposition_id)
        interaction.disposition_id = disposition_id
        interaction.wrap_up_notes = notes
        pending.emit(
            "interaction.disposition_set",
            interaction_id=interaction_id,
            agent_id=agent_id,
            disposition_id=disposition_id,
        )

    async def wrap_up_done(self, agent_id: int) -> None:
        await self._execute(self._wrap_up_done, agent_id)

    async def _wrap_up_done(
        self, db: AsyncSession, pending: _Pending, now: datetime, agent_id: int
    ) -> None:
        key = self._require_agent(agent_id)
        for interaction_id in self._wrapping.get(key, []):
            interaction = await db.get_one(Interaction, interaction_id)
            queue = self._queues.get(interaction.queue_id or 0)
            if queue and queue.disposition_required and interaction.disposition_id is None:
                raise DispositionRequired(interaction_id)
        await self._apply(db, pending, now, WrapUpDone(key))
        await self._finish_wrap_up(db, key)

    async def force_state(
        self, agent_id: int, state: AgentState, reason: str | None, supervisor_id: int
    ) -> None:
        self._require_agent(agent_id)
        await self._agent_event(
            ForceState(str(agent_id), state, reason, supervisor_id=str(supervisor_id))
        )

    async def force_logout(self, agent_id: int, supervisor_id: int) -> None:
        self._require_agent(agent_id)
        await self._agent_event(ForceLogout(str(agent_id), supervisor_id=str(supervisor_id)))

    async def _agent_event(self, event: AgentEvent) -> None:
        await self._execute(self._apply_command, event)

    async def _apply_command(
        self, db: AsyncSession, pending: _Pending, now: datetime, event: AgentEvent
    ) -> None:
        self._require_agent(int(event.agent_id))
        await self._apply(db, pending, now, event)

    def _require_agent(self, agent_id: int) -> str:
        key = str(agent_id)
        if key not in self._agents:
            raise Conflict("agent_offline", f"Agent {agent_id} is not logged in.")
        return key

    # --- time ----------------------------------------------------------------------------

    async def tick(self) -> None:
        """Do everything that is due now: expiries, timers, lost presence, max wait."""
        await self._execute(self._tick)

    async def _tick(self, db: AsyncSession, pending: _Pending, now: datetime) -> None:
        for offer in sorted(self._offers.values(), key=lambda o: (o.expires_at, o.offer_id)):
            if offer.expires_at > now:
                continue
            self._router.expire(offer.offer_id)
            del self._offers[offer.offer_id]
            await self._back_to_queue(db, int(offer.task_id))
            await self._close_offers(db, int(offer.task_id), OfferOutcome.EXPIRED, now)
            for agent_id in offer.agent_ids:
                if agent_id in self._agents:
                    await self._apply(db, pending, now, OfferExpired(agent_id, offer.offer_id))
            pending.emit(
                "offer.expired",
                offer_id=offer.offer_id,
                interaction_id=int(offer.task_id),
                agent_ids=[int(agent) for agent in offer.agent_ids],
            )
        for agent_id, timers in list(self._timers.items()):
            for timer in sorted(timers, key=lambda t: t.due_at):
                if timer.due_at > now or agent_id not in self._agents:
                    continue
                timers.discard(timer)
                transition = await self._apply(
                    db, pending, now, TimerFired(agent_id, timer.kind, timer.due_at)
                )
                if transition.agent.state is not AgentState.WRAP_UP:
                    await self._finish_wrap_up(db, agent_id)
        for agent_id, seen in list(self._last_seen.items()):
            if now - seen >= self._presence_timeout and agent_id in self._agents:
                log.info("engine.presence_lost", agent_id=agent_id)
                await self._apply(db, pending, now, PresenceLost(agent_id))

    # --- views ---------------------------------------------------------------------------

    def agent(self, agent_id: int) -> AgentView | None:
        return self._agents.get(str(agent_id))

    def capacity(self, agent_id: int, channel: str) -> int:
        """How much work of `channel` a logged-in agent may have at once (0: unknown)."""
        profile = self._profiles.get(str(agent_id))
        return profile.capacity.get(channel, 0) if profile is not None else 0

    def agents(self) -> list[AgentView]:
        return sorted(self._agents.values(), key=lambda view: int(view.agent_id))

    def ringing_offers(self, agent_id: int) -> list[RoutingOffer]:
        key = str(agent_id)
        return [offer for offer in self._offers.values() if key in offer.agent_ids]

    def queue_snapshots(self) -> list[tuple[int, str, Any]]:
        now = self._clock.now()
        return [
            (queue_id, info.name, self._router.snapshot(str(queue_id), now))
            for queue_id, info in sorted(self._queues.items())
        ]

    def has_agents_for(self, queue_id: int) -> bool:
        """Whether the queue is open now with a logged-in agent who may take its work."""
        return self._router.has_agents_for(str(queue_id), self._clock.now())

    def agents_for(self, queue_id: int) -> frozenset[int]:
        """The logged-in agents who qualify for the queue, busy or not."""
        return frozenset(int(agent_id) for agent_id in self._router.agents_for(str(queue_id)))

    def estimate(self, interaction_id: int) -> Any:
        return self._router.estimate_wait(str(interaction_id))
