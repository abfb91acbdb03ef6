"""Call control on a real Asterisk: hold and resume, mute, DTMF, blind transfer to a
number and to a queue, recording with pause, and a supervisor's listen / whisper /
barge (the `center` fixture is in conftest.py)."""

from __future__ import annotations

import asyncio

import pytest

from parley.platform.agents import AgentState
from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import InteractionState, Queue, Role, User
from parley.telephony.control import SpyMode
from tests.integration.telephony.conftest import ANSWERS, Center, until
from tests.pbx_fixtures import loudness


def bridged_together(center: Center, interaction_id: int) -> bool:
    caller, agent = center.voice.legs(interaction_id)
    return (
        agent is not None and caller.bridge_id is not None and caller.bridge_id == agent.bridge_id
    )


async def test_hold_parks_both_legs_and_resume_bridges_them_again(center: Center) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    assert bridged_together(center, interaction_id)

    await center.control.hold(interaction_id)
    # Both legs leave the bridge for their hold contexts (the events come in any order).
    await until(
        lambda: (
            [
                (leg.context, leg.bridge_id) if leg else None
                for leg in center.voice.legs(interaction_id)
            ]
            == [("parley-hold", None), ("parley-held", None)]
        )
    )
    assert center.phase(interaction_id) == "held"

    await center.control.resume(interaction_id)
    await until(lambda: bridged_together(center, interaction_id))
    assert center.phase(interaction_id) == "talking"
    # Holding and resuming is not the end of the call: the interaction goes on.
    assert (await center.interaction(interaction_id)).state is InteractionState.ACTIVE


async def test_the_agent_hanging_up_while_the_caller_holds_ends_the_call(center: Center) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    await center.control.hold(interaction_id)
    await until(lambda: center.voice.legs(interaction_id)[0].context == "parley-hold")
    _caller, agent = center.voice.legs(interaction_id)
    assert agent is not None

    await center.ami.send({"Action": "Hangup", "Channel": agent.name})

    await until(lambda: center.phase(interaction_id) is None)
    assert (await center.interaction(interaction_id)).state is InteractionState.WRAP_UP


async def test_mute_and_dtmf_reach_asterisk_and_bad_digits_are_refused(center: Center) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)

    await center.control.mute(interaction_id, True)
    await center.control.mute(interaction_id, False)
    await center.control.send_dtmf(interaction_id, "12#")
    with pytest.raises(DomainError, match="DTMF"):
        await center.control.send_dtmf(interaction_id, "1;Hangup")
    assert bridged_together(center, interaction_id)


async def test_control_of_a_call_not_connected_is_refused(center: Center) -> None:
    await center.call()
    await until(lambda: bool(center.published("interaction.queued")))
    (queued,) = center.published("interaction.queued")
    waiting = int(str(queued["interaction_id"]))
    with pytest.raises(Conflict):
        await center.control.hold(waiting)
    with pytest.raises(NotFound):
        await center.control.hangup(waiting + 100)


async def test_blind_transfer_to_a_number_dials_out_and_frees_the_agent(center: Center) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    caller, _agent = center.voice.legs(interaction_id)

    await center.control.transfer_to_number(interaction_id, "+48225550000")

    assert center.phase(interaction_id) is None  # Parley no longer follows the caller
    await until(
        lambda: (
            caller.uniqueid not in center.ami.calls.channels
            or (center.ami.calls.channels[caller.uniqueid].context == "parley-outbound")
        )
    )
    view = center.engine.agent(anna)
    assert view is not None and view.state is AgentState.WRAP_UP
    assert (await center.interaction(interaction_id)).state is InteractionState.WRAP_UP


async def test_blind_transfer_to_a_queue_offers_the_caller_there(center: Center) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    async with center.runtime.database.transaction() as db:
        sales = Queue(name="Sales", channels=["voice"])
        db.add(sales)
        await db.flush()
        sales_id = sales.id
    await center.runtime.require_engine().reload_configuration()
    boris = await center.agent("boris", ANSWERS)

    moved = await center.control.transfer_to_queue(interaction_id, sales_id)

    assert moved != interaction_id
    offer_id = await center.offer_for(boris)
    assert (await center.interaction(interaction_id)).state is InteractionState.WRAP_UP
    assert (await center.interaction(moved)).attributes["transferred_from"] == interaction_id
    assert await center.engine.accept(boris, offer_id) == moved
    await until(lambda: center.phase(moved) == "talking")


async def test_a_recording_holds_the_call_audio_and_pausing_leaves_silence(
    center: Center,
) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna, talks=True)

    heard = await center.control.start_recording(interaction_id, 1)
    await asyncio.sleep(1.5)
    await center.control.stop_recording(interaction_id)
    paused = await center.control.start_recording(interaction_id, 2)
    await center.control.pause_recording(interaction_id, True)
    await asyncio.sleep(1.5)
    await center.control.stop_recording(interaction_id)

    await until(lambda: heard.exists() and paused.exists())
    await asyncio.sleep(0.3)  # MixMonitor closes the file after StopMixMonitor answers
    assert loudness(heard) > 300  # the customer's 440 Hz tone
    # Paused but for the moment between the start and the pause.
    assert loudness(paused) < loudness(heard) / 3


@pytest.mark.parametrize("mode", list(SpyMode))
async def test_a_supervisor_listens_whispers_or_barges_through_chanspy(
    center: Center, mode: SpyMode
) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    _caller, agent = center.voice.legs(interaction_id)
    assert agent is not None
    supervisor = User(
        username="sue", display_name="Sue", password_hash="x", role=Role.SUPERVISOR, device=ANSWERS
    )

    await center.control.spy(interaction_id, supervisor, mode)

    expected = {"listen": "qsE", "whisper": "qswE", "barge": "qsBE"}[mode.value]

    async def spying() -> bool:
        listing = await center.ami.send(
            {"Action": "Command", "Command": "core show channels concise"}
        )
        return any(
            "!ChanSpy!" in line and f"{agent.name},{expected}" in line for line in listing["Output"]
        )

    for _ in range(100):
        if await spying():
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("no ChanSpy on the agent's leg")
    assert bridged_together(center, interaction_id)


async def test_spying_needs_a_device_of_the_supervisors_own(center: Center) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    nobody = User(username="sue", display_name="Sue", password_hash="x", role=Role.SUPERVISOR)
    with pytest.raises(DomainError, match="device"):
        await center.control.spy(interaction_id, nobody, SpyMode.LISTEN)


def partners(center: Center, uniqueid: str) -> set[str]:
    """The names of the channels bridged with `uniqueid`."""
    channels = center.ami.calls.channels
    me = channels.get(uniqueid)
    bridge = center.ami.calls.bridges.get(me.bridge_id or "") if me else None
    if bridge is None:
        return set()
    return {channels[u].name for u in bridge.channel_ids - {uniqueid} if u in channels}


async def test_an_attended_transfer_hands_the_caller_to_the_consulted_party(
    center: Center,
) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    caller, agent = center.voice.legs(interaction_id)
    assert agent is not None

    await center.control.attended_transfer(interaction_id, "200", context="parley-test-phones")
    # The agent's leg now talks to the consulted party; the caller waits in their bridge.
    await until(
        lambda: any(
            name.startswith("Local/200@parley-test-phones-")
            for name in partners(center, agent.uniqueid)
        )
    )
    await center.control.complete_transfer(interaction_id)

    await until(lambda: center.phase(interaction_id) is None)
    await until(
        lambda: any(
            name.startswith("Local/200@parley-test-phones-")
            for name in partners(center, caller.uniqueid)
        )
    )
    assert caller.uniqueid in center.ami.calls.channels  # the caller is still on the line
    assert (await center.interaction(interaction_id)).state is InteractionState.WRAP_UP


async def test_a_conference_adds_a_party_kicks_one_and_goes_on_without_the_agent(
    center: Center,
) -> None:
    anna = await center.agent("anna", ANSWERS)
    interaction_id = await center.connected(anna)
    caller, agent = center.voice.legs(interaction_id)
    assert agent is not None

    await center.control.conference_add(interaction_id, "answer", context="parley-test-phones")
    members: list[str] = []

    async def count(expected: int) -> None:
        for _ in range(200):
            members[:] = await center.control.conference_members(interaction_id)
            if len(members) == expected:
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"conference members {members}, expected {expected}")

    await count(3)
    assert {caller.name, agent.name} <= set(members)
    await center.control.conference_add(interaction_id, "answer", context="parley-test-phones")
    await count(4)
    added = sorted(set(members) - {caller.name, agent.name})
    await center.control.conference_kick(interaction_id, added[0])
    await count(3)
    with pytest.raises(Conflict):
        await center.control.conference_kick(interaction_id, "Local/nobody;1")

    await center.control.complete_transfer(interaction_id)  # the agent leaves
    await until(lambda: center.phase(interaction_id) is None)
    await count(2)
    assert (await center.interaction(interaction_id)).state is InteractionState.WRAP_UP


async def test_click_to_call_rings_the_agent_first_then_dials_the_customer(
    center: Center,
) -> None:
    anna = await center.agent("anna", ANSWERS)

    interaction_id = await center.voice.call_out(
        anna, "dial200", queue_id=center.queue_id, context="parley-test-phones"
    )

    view = center.engine.agent(anna)
    assert view is not None and view.state is AgentState.BUSY
    await until(lambda: center.phase(interaction_id) == "talking")
    customer, agent = center.voice.legs(interaction_id)
    assert customer.name.startswith("Local/200@parley-test-phones-")
    assert agent is not None and agent.uniqueid == f"parley-out-{interaction_id}"
    await center.control.hold(interaction_id)  # the customer hears the hold music
    await until(lambda: center.voice.legs(interaction_id)[0].context == "parley-hold")
    await center.control.resume(interaction_id)
    await until(lambda: bridged_together(center, interaction_id))

    await center.control.hangup(interaction_id)
    await until(lambda: center.phase(interaction_id) is None)
    row = await center.interaction(interaction_id)
    assert (row.state, row.direction.value, row.agent_id) == (
        InteractionState.WRAP_UP,
        "outbound",
        anna,
    )


async def test_a_queue_that_records_its_calls_records_each_one_from_the_answer(
    center: Center,
) -> None:
    async with center.runtime.database.transaction() as db:
        (await db.get_one(Queue, center.queue_id)).records_calls = True
    anna = await center.agent("anna", ANSWERS)

    interaction_id = await center.connected(anna, talks=True)
    await asyncio.sleep(1.0)
    await center.control.hangup(interaction_id)
    await until(lambda: center.phase(interaction_id) is None)

    row = await center.interaction(interaction_id)
    (name,) = row.attributes["recordings"]
    recording = center.voice.recording_file(name)
    await until(lambda: loudness(recording) > 300)


async def test_the_agent_sockets_call_commands_control_only_the_agents_own_call(
    center: Center,
) -> None:
    anna = await center.agent("anna", ANSWERS)
    boris = await center.agent("boris", ANSWERS)
    interaction_id = await center.connected(anna)

    with pytest.raises(NotFound):
        await center.control.command(boris, interaction_id, "hold", None)
    await center.control.command(anna, interaction_id, "hold", None)
    assert center.phase(interaction_id) == "held"
    await center.control.command(anna, interaction_id, "resume", None)
    await until(lambda: bridged_together(center, interaction_id))
    await center.control.command(anna, interaction_id, "dtmf", "5")
    await center.control.command(anna, interaction_id, "mute", None)
    await center.control.command(anna, interaction_id, "hangup", None)
    await until(lambda: center.phase(interaction_id) is None)
