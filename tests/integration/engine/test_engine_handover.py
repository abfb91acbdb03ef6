"""Work handed from one agent to another through the engine (F-CH-6), on a real
database with a manual clock: a transfer to a queue or to an agent leaves the first
agent's hands with no wrap-up and no miss and is offered again keeping its age; a
take-over moves it into another agent's hands at once; a restart keeps the new holder."""

from __future__ import annotations

import pytest

from parley.platform.agents import AgentState
from parley.platform.engine import EnqueueRequest
from parley.platform.errors import Conflict, NotFound
from parley.platform.models import Channel, Interaction, InteractionState
from tests.integration.engine import test_engine
from tests.integration.engine.test_engine import World, _offer_for, _ready

world = test_engine.world


async def _chat_in_hand(world: World, agent: int) -> int:
    interaction_id = await world.engine.enqueue(
        EnqueueRequest(channel=Channel.CHAT, queue_id=world.queue_id)
    )
    await world.engine.accept(agent, _offer_for(world, agent))
    return interaction_id


async def test_a_transfer_to_the_queue_frees_the_agent_and_offers_the_work_to_another(
    world: World,
) -> None:
    anna, boris = world.agents[:2]
    await _ready(world, anna)
    interaction_id = await _chat_in_hand(world, anna)
    async with world.database.sessions() as db:
        queued_at = (await db.get_one(Interaction, interaction_id)).queued_at
    await _ready(world, boris)
    await world.drain()
    world.advance(60)

    await world.engine.transfer(interaction_id, world.queue_id)

    view = world.engine.agent(anna)
    assert view is not None and (view.state, view.interactions) == (AgentState.READY, ())
    assert view.consecutive_misses == 0  # handing on is no miss
    assert world.engine.ringing_offers(anna) == []  # not offered back to her at once
    assert await world.engine.accept(boris, _offer_for(world, boris)) == interaction_id
    async with world.database.sessions() as db:
        row = await db.get_one(Interaction, interaction_id)
    assert (row.state, row.agent_id, row.queued_at) == (InteractionState.ACTIVE, boris, queued_at)
    assert row.attributes["transferred_from_agent_id"] == anna
    types = await world.drain()
    assert types.index("interaction.transferred") < types.index("offer.created")
    assert "interaction.ended" not in types  # the work goes on

    with pytest.raises(NotFound):
        await world.engine.transfer(interaction_id, 9999)
    with pytest.raises(Conflict):
        await world.engine.transfer(interaction_id, world.queue_id, preferred_agent_id=boris)


async def test_a_transfer_to_an_agent_is_held_for_that_agent(world: World) -> None:
    anna, boris, celina = world.agents
    await _ready(world, anna)
    interaction_id = await _chat_in_hand(world, anna)
    await _ready(world, boris)
    world.advance(5)
    await _ready(world, celina)  # boris idled longer, but the transfer names celina

    await world.engine.transfer(interaction_id, world.queue_id, preferred_agent_id=celina)

    assert world.engine.ringing_offers(boris) == []
    assert await world.engine.accept(celina, _offer_for(world, celina)) == interaction_id


async def test_a_take_over_moves_the_work_at_once_and_survives_a_restart(world: World) -> None:
    anna, boris, celina = world.agents
    await _ready(world, anna)
    interaction_id = await _chat_in_hand(world, anna)
    with pytest.raises(Conflict, match="not logged in"):
        await world.engine.take_over(interaction_id, boris)
    await world.engine.login(boris)  # not ready: no offers, but may take a chat over

    await world.engine.take_over(interaction_id, boris)

    anna_view, boris_view = world.engine.agent(anna), world.engine.agent(boris)
    assert anna_view is not None and anna_view.state is AgentState.READY
    assert boris_view is not None and boris_view.state is AgentState.BUSY
    assert [i.interaction_id for i in boris_view.interactions] == [str(interaction_id)]
    with pytest.raises(Conflict):
        await world.engine.take_over(interaction_id, boris)  # his already
    types = await world.drain()
    assert "interaction.transferred" in types and "interaction.assigned" in types

    engine = await world.restart()
    restarted = engine.agent(boris)
    assert restarted is not None and restarted.state is AgentState.BUSY
    assert [i.interaction_id for i in restarted.interactions] == [str(interaction_id)]
    await engine.complete(interaction_id)  # his to finish: wrap-up, then back to not ready
    after = engine.agent(boris)
    assert after is not None and after.state is AgentState.WRAP_UP
    await engine.login(celina)
    with pytest.raises(Conflict):  # an interaction no longer in progress
        await engine.take_over(interaction_id, celina)
