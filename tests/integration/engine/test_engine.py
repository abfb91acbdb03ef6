"""The engine on a real database: agents, offers, wrap-up, presence and restarts, with a
manual clock so timers fire without sleeping."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from parley.platform.agents import AgentState
from parley.platform.bus import Event, MemoryBus
from parley.platform.clock import ManualClock
from parley.platform.db import Database, create_database
from parley.platform.engine import Engine, EnqueueRequest
from parley.platform.errors import Conflict, DomainError
from parley.platform.models import (
    AgentSkill,
    AgentStateLog,
    Channel,
    Contact,
    Disposition,
    Interaction,
    InteractionState,
    Offer,
    OfferOutcome,
    Queue,
    QueueSkill,
    ReasonCode,
    Role,
    RoutingStrategy,
    Schedule,
    Skill,
    User,
)
from parley.platform.routing import QueueClosed
from tests.conftest import let_time_pass


@dataclass
class World:
    database: Database
    bus: MemoryBus
    clock: ManualClock
    engine: Engine
    queue_id: int
    agents: list[int]
    events: list[Event]

    async def restart(self) -> Engine:
        await self.engine.stop()
        self.engine = Engine(self.database, self.bus, self.clock)
        await self.engine.start(run_loop=False)
        return self.engine

    def advance(self, seconds: float) -> None:
        let_time_pass(self.clock, self.engine, seconds)

    async def drain(self) -> list[str]:
        """Event types published since the last drain."""
        types = [event.type for event in self.events]
        self.events.clear()
        return types


async def _seed(database: Database) -> tuple[int, list[int]]:
    async with database.transaction() as db:
        skill = Skill(name="billing")
        db.add(skill)
        await db.flush()
        queue = Queue(
            name="Support",
            channels=["voice", "chat"],
            strategy=RoutingStrategy.LONGEST_IDLE,
            wrap_up_seconds=30,
            offer_timeout_seconds=30,
        )
        db.add(queue)
        await db.flush()
        db.add(QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=3))
        db.add(ReasonCode(code="lunch", name="Lunch", max_duration_seconds=1800))
        agents = []
        for name in ("anna", "boris", "celina"):
            user = User(
                username=name, display_name=name.title(), password_hash="x", role=Role.AGENT
            )
            db.add(user)
            await db.flush()
            db.add(AgentSkill(user_id=user.id, skill_id=skill.id, level=5))
            agents.append(user.id)
        return queue.id, agents


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    database = create_database(database_url)
    queue_id, agents = await _seed(database)
    bus = MemoryBus()
    await bus.start()
    clock = ManualClock()
    engine = Engine(database, bus, clock)
    await engine.start(run_loop=False)
    events: list[Event] = []
    world = World(database, bus, clock, engine, queue_id, agents, events)

    subscription = bus.subscribe("*")

    async def collect() -> None:
        async with subscription:
            async for event in subscription:
                events.append(event)

    collector = asyncio.create_task(collect())
    yield world
    collector.cancel()
    await world.engine.stop()
    await bus.close()
    await database.dispose()


async def _ready(world: World, *agents: int) -> None:
    for agent in agents:
        await world.engine.login(agent)
        await world.engine.request_ready(agent)


def _offer_for(world: World, agent: int) -> str:
    offers = world.engine.ringing_offers(agent)
    assert len(offers) == 1, offers
    return offers[0].offer_id


async def _intervals(world: World, agent: int) -> list[AgentStateLog]:
    async with world.database.sessions() as db:
        rows = await db.scalars(
            select(AgentStateLog).where(AgentStateLog.agent_id == agent).order_by(AgentStateLog.id)
        )
        return list(rows)


async def test_login_puts_the_agent_in_not_ready_login_until_they_ask_for_ready(
    world: World,
) -> None:
    anna = world.agents[0]
    view = await world.engine.login(anna)
    assert (view.state, view.reason) == (AgentState.NOT_READY, "login")
    await world.engine.request_ready(anna)
    assert world.engine.agent(anna).state is AgentState.READY  # type: ignore[union-attr]


async def test_a_call_goes_offered_accepted_wrapped_up_and_every_interval_is_stored(
    world: World,
) -> None:
    anna = world.agents[0]
    await _ready(world, anna)
    interaction_id = await world.engine.enqueue(
        EnqueueRequest(
            channel=Channel.VOICE, queue_id=world.queue_id, attributes={"caller": "+48221234567"}
        )
    )
    assert world.engine.agent(anna).state is AgentState.RESERVED  # type: ignore[union-attr]
    offer_id = _offer_for(world, anna)
    assert await world.engine.accept(anna, offer_id) == interaction_id
    assert world.engine.agent(anna).state is AgentState.BUSY  # type: ignore[union-attr]

    world.advance(95)
    await world.engine.complete(interaction_id)
    assert world.engine.agent(anna).state is AgentState.WRAP_UP  # type: ignore[union-attr]
    world.advance(29)
    await world.engine.tick()
    assert world.engine.agent(anna).state is AgentState.WRAP_UP  # type: ignore[union-attr]
    world.advance(1)
    await world.engine.tick()
    assert world.engine.agent(anna).state is AgentState.READY  # type: ignore[union-attr]

    intervals = await _intervals(world, anna)
    assert [i.state for i in intervals] == [
        "not_ready",
        "ready",
        "reserved",
        "busy",
        "wrap_up",
        "ready",
    ]
    for earlier, later in itertools.pairwise(intervals):
        assert earlier.ended_at == later.started_at
    assert intervals[-1].ended_at is None
    async with world.database.sessions() as db:
        interaction = await db.get_one(Interaction, interaction_id)
        offer = await db.scalar(select(Offer).where(Offer.interaction_id == interaction_id))
    assert interaction.state is InteractionState.ENDED
    assert interaction.agent_id == anna
    assert offer is not None and offer.outcome is OfferOutcome.ACCEPTED
    types = await world.drain()
    for expected in (
        "interaction.queued",
        "offer.created",
        "offer.accepted",
        "interaction.assigned",
        "interaction.ended",
        "agent.state_changed",
    ):
        assert expected in types


async def test_an_unanswered_offer_moves_on_after_30_seconds_and_skips_the_agent_who_missed(
    world: World,
) -> None:
    anna, boris = world.agents[:2]
    await _ready(world, anna)
    world.advance(5)
    await _ready(world, boris)  # anna has idled longer: she is offered first
    interaction_id = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.CHAT, queue_id=world.queue_id)
    )
    _offer_for(world, anna)
    world.advance(29)
    await world.engine.tick()
    assert world.engine.ringing_offers(boris) == []
    world.advance(1)
    await world.engine.tick()
    assert world.engine.ringing_offers(anna) == []
    offer_id = _offer_for(world, boris)
    assert await world.engine.accept(boris, offer_id) == interaction_id
    assert world.engine.agent(anna).consecutive_misses == 1  # type: ignore[union-attr]


async def test_a_call_the_agents_phone_did_not_answer_goes_back_to_the_queue_for_others(
    world: World,
) -> None:
    anna, boris = world.agents[:2]
    await _ready(world, anna)
    world.advance(5)
    await _ready(world, boris)
    interaction_id = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
    )
    async with world.database.sessions() as db:
        queued_at = (await db.get_one(Interaction, interaction_id)).queued_at
    await world.engine.accept(anna, _offer_for(world, anna))
    await world.drain()
    world.advance(20)

    await world.engine.unanswered(interaction_id)

    anna_now = world.engine.agent(anna)
    assert anna_now is not None
    assert (anna_now.state, anna_now.interactions) == (AgentState.READY, ())
    assert anna_now.consecutive_misses == 1
    assert world.engine.ringing_offers(anna) == []  # not offered back to her at once
    _offer_for(world, boris)
    async with world.database.sessions() as db:
        row = await db.get_one(Interaction, interaction_id)
        assert (row.state, row.agent_id, row.answered_at) == (InteractionState.OFFERED, None, None)
        assert row.queued_at == queued_at  # it keeps its place by age
    types = await world.drain()
    assert types.index("interaction.unanswered") < types.index("offer.created")
    with pytest.raises(Conflict):
        await world.engine.unanswered(interaction_id)


async def test_a_call_the_agent_dials_is_theirs_at_once_and_blocks_inbound_calls(
    world: World,
) -> None:
    anna, boris = world.agents[:2]
    await _ready(world, anna)
    world.advance(5)
    await _ready(world, boris)
    outbound = await world.engine.start_outbound(
        anna,
        EnqueueRequest(
            channel=Channel.VOICE, queue_id=world.queue_id, attributes={"number": "+4822"}
        ),
    )
    view = world.engine.agent(anna)
    assert view is not None and view.state is AgentState.BUSY
    with pytest.raises(Conflict, match="no room"):
        await world.engine.start_outbound(
            anna, EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
        )
    # anna idled longest, but she is on the phone: the inbound call goes to boris.
    await world.engine.enqueue(EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id))
    _offer_for(world, boris)
    assert world.engine.ringing_offers(anna) == []
    async with world.database.sessions() as db:
        row = await db.get_one(Interaction, outbound)
    assert (row.state, row.agent_id, row.direction.value) == (
        InteractionState.ACTIVE,
        anna,
        "outbound",
    )
    await world.engine.complete(outbound)
    view = world.engine.agent(anna)
    assert view is not None and view.state is AgentState.WRAP_UP


async def test_three_missed_offers_put_the_agent_in_not_ready_missed(world: World) -> None:
    anna = world.agents[0]
    await _ready(world, anna)
    for _ in range(3):
        await world.engine.enqueue(EnqueueRequest(channel=Channel.CHAT, queue_id=world.queue_id))
        await world.engine.reject(anna, _offer_for(world, anna))
    view = world.engine.agent(anna)
    assert view is not None
    assert (view.state, view.reason) == (AgentState.NOT_READY, "missed")


async def test_a_lost_agent_goes_offline_within_10_seconds_and_the_offer_moves_on(
    world: World,
) -> None:
    anna, boris = world.agents[:2]
    await _ready(world, anna)
    world.advance(1)
    await _ready(world, boris)
    await world.engine.enqueue(EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id))
    _offer_for(world, anna)
    for _ in range(5):
        world.clock.advance(2)
        world.engine.heartbeat(boris)
        await world.engine.tick()
    assert world.engine.agent(anna) is None
    _offer_for(world, boris)
    intervals = await _intervals(world, anna)
    assert (intervals[-1].state, intervals[-1].reason) == ("offline", "presence_lost")


async def test_not_ready_asked_while_busy_waits_until_the_work_ends(world: World) -> None:
    anna = world.agents[0]
    await _ready(world, anna)
    interaction_id = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
    )
    await world.engine.accept(anna, _offer_for(world, anna))
    await world.engine.request_not_ready(anna, "lunch")
    view = world.engine.agent(anna)
    assert view is not None and view.state is AgentState.BUSY
    assert view.pending_not_ready == "lunch"
    await world.engine.complete(interaction_id)
    await world.engine.wrap_up_done(anna)
    view = world.engine.agent(anna)
    assert view is not None and (view.state, view.reason) == (AgentState.NOT_READY, "lunch")


async def test_unknown_reason_code_is_refused(world: World) -> None:
    anna = world.agents[0]
    await _ready(world, anna)
    with pytest.raises(DomainError):
        await world.engine.request_not_ready(anna, "nap")


async def test_wrap_up_cannot_end_without_a_required_disposition(world: World) -> None:
    anna = world.agents[0]
    async with world.database.transaction() as db:
        queue = await db.get_one(Queue, world.queue_id)
        queue.disposition_required = True
        disposition = Disposition(code="resolved", name="Resolved")
        db.add(disposition)
        await db.flush()
        disposition_id = disposition.id
    await world.restart()
    await _ready(world, anna)
    interaction_id = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
    )
    await world.engine.accept(anna, _offer_for(world, anna))
    await world.engine.complete(interaction_id)
    with pytest.raises(DomainError, match="disposition"):
        await world.engine.wrap_up_done(anna)
    await world.engine.set_disposition(anna, interaction_id, disposition_id, "fixed the bill")
    await world.engine.wrap_up_done(anna)
    assert world.engine.agent(anna).state is AgentState.READY  # type: ignore[union-attr]
    async with world.database.sessions() as db:
        stored = await db.get_one(Interaction, interaction_id)
    assert (stored.disposition_id, stored.wrap_up_notes) == (disposition_id, "fixed the bill")


async def test_caller_hanging_up_while_ringing_cancels_the_offer_without_a_miss(
    world: World,
) -> None:
    anna = world.agents[0]
    await _ready(world, anna)
    interaction_id = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
    )
    _offer_for(world, anna)
    await world.engine.cancel(interaction_id)
    view = world.engine.agent(anna)
    assert view is not None and view.state is AgentState.READY
    assert view.consecutive_misses == 0
    async with world.database.sessions() as db:
        assert (await db.get_one(Interaction, interaction_id)).state is InteractionState.ABANDONED
    with pytest.raises(Conflict):
        await world.engine.cancel(interaction_id)


async def test_a_restart_keeps_waiting_tasks_ringing_offers_and_agent_states(
    world: World,
) -> None:
    anna, boris = world.agents[:2]
    await _ready(world, anna)
    ringing = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
    )
    waiting = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
    )
    offer_id = _offer_for(world, anna)

    engine = await world.restart()
    view = engine.agent(anna)
    assert view is not None and view.state is AgentState.RESERVED
    assert _offer_for(world, anna) == offer_id
    assert await engine.accept(anna, offer_id) == ringing
    await engine.login(boris)
    await engine.request_ready(boris)
    assert engine.ringing_offers(boris)[0].task_id == str(waiting)


async def test_a_restart_after_closing_time_keeps_the_work_that_was_waiting(
    world: World,
) -> None:
    waiting = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.CHAT, queue_id=world.queue_id)
    )
    async with world.database.transaction() as db:
        never = Schedule(name="Closed", time_zone="UTC", hours={})
        db.add(never)
        await db.flush()
        (await db.get_one(Queue, world.queue_id)).schedule_id = never.id

    engine = await world.restart()

    with pytest.raises(QueueClosed):
        await engine.enqueue(EnqueueRequest(channel=Channel.CHAT, queue_id=world.queue_id))
    # Work left for the morning may still come in after hours (a voicemail).
    later = await engine.enqueue(
        EnqueueRequest(channel=Channel.CHAT, queue_id=world.queue_id, after_hours=True)
    )
    anna = world.agents[0]
    await _ready(world, anna)
    assert sorted(int(o.task_id) for o in engine.ringing_offers(anna)) == [waiting, later]


async def test_a_restart_in_wrap_up_keeps_its_timer_its_rules_and_ends_the_interaction(
    world: World,
) -> None:
    anna = world.agents[0]
    async with world.database.transaction() as db:
        queue = await db.get_one(Queue, world.queue_id)
        queue.disposition_required = True
    await world.restart()
    await _ready(world, anna)
    call = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id)
    )
    await world.engine.accept(anna, _offer_for(world, anna))
    world.advance(10)
    await world.engine.complete(call)
    world.advance(5)

    engine = await world.restart()
    view = engine.agent(anna)
    assert view is not None and view.state is AgentState.WRAP_UP
    assert view.wrap_up_until == world.clock.now() + timedelta(seconds=25)
    with pytest.raises(DomainError, match="disposition"):
        await engine.wrap_up_done(anna)
    world.advance(25)
    await engine.tick()
    assert engine.agent(anna).state is AgentState.READY  # type: ignore[union-attr]
    async with world.database.sessions() as db:
        assert (await db.get_one(Interaction, call)).state is InteractionState.ENDED


async def test_a_restart_keeps_the_end_of_a_timed_not_ready(world: World) -> None:
    anna = world.agents[0]
    await _ready(world, anna)
    await world.engine.request_not_ready(anna, "lunch")  # back after 30 minutes
    world.advance(600)
    engine = await world.restart()
    view = engine.agent(anna)
    assert view is not None and view.state is AgentState.NOT_READY
    assert view.not_ready_until == world.clock.now() + timedelta(seconds=1200)
    world.advance(1200)
    await engine.tick()
    assert engine.agent(anna).state is AgentState.READY  # type: ignore[union-attr]


async def test_a_configuration_change_reaches_the_router_without_a_restart(world: World) -> None:
    anna = world.agents[0]
    await _ready(world, anna)
    async with world.database.transaction() as db:
        sales = Queue(name="Sales", channels=["email"])
        db.add(sales)
        await db.flush()
        sales_id = sales.id
    with pytest.raises(DomainError):
        await world.engine.enqueue(EnqueueRequest(channel=Channel.EMAIL, queue_id=sales_id))
    await world.bus.publish(Event.create("config.queue.created", {"id": sales_id}))
    async with asyncio.timeout(5):
        while True:
            try:
                await world.engine.enqueue(EnqueueRequest(channel=Channel.EMAIL, queue_id=sales_id))
                break
            except DomainError:
                await asyncio.sleep(0.05)
    _offer_for(world, anna)


async def test_a_returning_contact_is_offered_first_to_the_agent_who_served_them(
    world: World,
) -> None:
    anna, boris = world.agents[:2]
    async with world.database.transaction() as db:
        contact = Contact(name="Zofia")
        db.add(contact)
        await db.flush()
        contact_id = contact.id
    await _ready(world, boris)
    first = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id, contact_id=contact_id)
    )
    await world.engine.accept(boris, _offer_for(world, boris))
    await world.engine.complete(first)
    await world.engine.wrap_up_done(boris)
    world.advance(60)
    await _ready(world, anna)  # anna has idled less, but boris knows the customer
    world.advance(1)
    await world.engine.tick()
    await world.engine.enqueue(
        EnqueueRequest(channel=Channel.VOICE, queue_id=world.queue_id, contact_id=contact_id)
    )
    assert world.engine.ringing_offers(anna) == []
    _offer_for(world, boris)
