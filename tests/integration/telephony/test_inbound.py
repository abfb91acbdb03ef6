"""Inbound calls end to end on a real Asterisk: FastAGI queues the call through the
engine, the agent accepts on the desktop's API, AMI redirects the caller to the agent's
device and both legs bridge; a device that does not answer sends the call back to the
queue for someone else; a caller who hangs up while waiting is an abandoned call with a
callback task; a blocked caller never reaches a queue; an Asterisk that dies mid-call
leaves no agent busy (the `center` fixture is in conftest.py).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from parley.platform.agents import AgentState
from parley.platform.models import (
    Channel,
    Interaction,
    InteractionState,
    IvrMenu,
    Queue,
    Schedule,
    VoiceNumber,
)
from tests.integration.telephony.conftest import ANSWERS, NEVER_ANSWERS, Center, until
from tests.pbx_fixtures import loudness


async def test_a_call_is_queued_offered_with_a_screen_pop_connected_and_wrapped_up(
    center: Center,
) -> None:
    anna = await center.agent("anna", ANSWERS)

    await center.call()
    offer_id = await center.offer_for(anna)
    (offered,) = center.published("offer.created")
    assert offered["channel"] == "voice"
    attributes = offered["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["caller_number"] == "+48221234567"
    assert attributes["dialled_number"] == "100"
    assert attributes["number_name"] == "Hotline"
    interaction_id = await center.engine.accept(anna, offer_id)

    await until(lambda: center.voice.call_of(interaction_id) == (attributes["uniqueid"], "talking"))
    caller = center.ami.calls.channels[str(attributes["uniqueid"])]
    assert caller.bridge_id is not None
    assert len(center.ami.calls.bridges[caller.bridge_id].channel_ids) == 2
    await until(lambda: bool(center.published("call.answered")))
    assert center.published("call.answered")[0]["agent_id"] == anna
    assert len(center.voice.ring_latencies) == 1

    await center.ami.send({"Action": "Hangup", "Channel": center.customer()})
    await until(lambda: center.voice.call_of(interaction_id) is None)
    row = await center.interaction(interaction_id)
    assert (row.state, row.agent_id) == (InteractionState.WRAP_UP, anna)
    view = center.engine.agent(anna)
    assert view is not None and view.state is AgentState.WRAP_UP


async def test_a_device_that_does_not_answer_sends_the_call_to_the_next_agent(
    center: Center,
) -> None:
    anna = await center.agent("anna", NEVER_ANSWERS)
    await asyncio.sleep(0.01)  # anna has idled longest: she is offered the call first
    boris = await center.agent("boris", ANSWERS)

    await center.call()
    interaction_id = await center.engine.accept(anna, await center.offer_for(anna))
    # Her phone rings for 2 s, the caller goes back to hold and on to boris.
    second = await center.offer_for(boris)
    await until(lambda: bool(center.published("interaction.unanswered")))
    assert [p["agent_id"] for p in center.published("interaction.unanswered")] == [anna]
    view = center.engine.agent(anna)
    assert view is not None
    assert (view.state, view.consecutive_misses) == (AgentState.READY, 1)
    assert await center.engine.accept(boris, second) == interaction_id
    await until(lambda: bool(center.published("call.answered")))
    assert center.published("call.answered")[0]["agent_id"] == boris


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned_and_gets_a_callback(
    center: Center,
) -> None:
    await center.call()
    await until(lambda: bool(center.published("interaction.queued")))
    (queued,) = center.published("interaction.queued")
    await until(lambda: any(c.context == "parley-hold" for c in center.ami.calls.channels.values()))

    await center.ami.send({"Action": "Hangup", "Channel": center.customer()})

    await until(lambda: bool(center.published("call.abandoned")))
    lost = await center.interaction(int(str(queued["interaction_id"])))
    assert lost.state is InteractionState.ABANDONED
    async with center.runtime.database.sessions() as db:
        callbacks = select(Interaction).where(Interaction.channel == Channel.CALLBACK)
        callback = await db.scalar(callbacks)
    assert callback is not None
    assert callback.state is InteractionState.QUEUED
    assert callback.attributes["callback_number"] == "+48221234567"
    assert callback.attributes["abandoned_interaction_id"] == lost.id


async def test_blocked_and_unrouted_calls_are_refused_before_any_queue(center: Center) -> None:
    await center.call(caller="+48701234567")
    await center.call(dialled="999")
    await asyncio.sleep(1.0)
    await until(lambda: not center.ami.calls.channels)
    assert center.published("interaction.queued") == []


async def test_asterisk_dying_mid_call_leaves_no_agent_busy(center: Center) -> None:
    anna = await center.agent("anna", ANSWERS)
    await center.call()
    interaction_id = await center.engine.accept(anna, await center.offer_for(anna))
    await until(lambda: (center.voice.call_of(interaction_id) or ("", ""))[1] == "talking")

    center.asterisk.kill()
    center.asterisk.start()

    await until(lambda: center.voice.call_of(interaction_id) is None)
    view = center.engine.agent(anna)
    assert view is not None and view.state is AgentState.WRAP_UP
    assert (await center.interaction(interaction_id)).state is InteractionState.WRAP_UP
    await until(lambda: center.voice.readiness() is None)
    assert center.ami.logins == 2


async def _menu(center: Center, **menu: object) -> int:
    """A Sales queue, and a menu on number 100: 1 Support, 2 Sales."""
    async with center.runtime.database.transaction() as db:
        sales = Queue(name="Sales", channels=["voice"])
        db.add(sales)
        await db.flush()
        options = [
            {"digit": "1", "label": "Support", "action": "queue", "target_id": center.queue_id},
            {"digit": "2", "label": "Sales", "action": "queue", "target_id": sales.id},
        ]
        ivr = IvrMenu(name="Main", options=options, **menu)
        db.add(ivr)
        await db.flush()
        number = await db.scalar(select(VoiceNumber).where(VoiceNumber.number == "100"))
        assert number is not None
        number.ivr_menu_id = ivr.id
        sales_id = sales.id
    await center.engine.reload_configuration()
    return sales_id


async def test_the_callers_key_in_the_menu_picks_the_queue_and_the_agent_sees_it(
    center: Center,
) -> None:
    sales_id = await _menu(center, timeout_seconds=5)

    await center.call(presses_2=True)

    await until(lambda: bool(center.published("interaction.queued")))
    (queued,) = center.published("interaction.queued")
    assert queued["queue_id"] == sales_id
    row = await center.interaction(int(str(queued["interaction_id"])))
    assert row.attributes["ivr_path"] == ["2 Sales"]


async def test_a_caller_who_presses_nothing_waits_in_the_numbers_own_queue(
    center: Center,
) -> None:
    await _menu(center, timeout_seconds=1, attempts=2)

    await center.call()

    await until(lambda: bool(center.published("interaction.queued")))
    (queued,) = center.published("interaction.queued")
    assert queued["queue_id"] == center.queue_id
    row = await center.interaction(int(str(queued["interaction_id"])))
    assert row.attributes["ivr_path"] == []


async def test_after_hours_the_caller_leaves_a_voicemail_that_waits_for_an_agent(
    center: Center,
) -> None:
    async with center.runtime.database.transaction() as db:
        night = Schedule(name="Closed", time_zone="UTC", hours={})
        db.add(night)
        await db.flush()
        queue = await db.get_one(Queue, center.queue_id)
        queue.schedule_id, queue.after_hours_action = night.id, "voicemail"
    await center.engine.reload_configuration()

    await center.call(talks=True)  # the customer's "message" is a tone
    await until(lambda: any(c.exten == "voicemail" for c in center.ami.calls.channels.values()))
    await asyncio.sleep(1.5)
    await center.ami.send({"Action": "Hangup", "Channel": center.customer()})

    await until(lambda: bool(center.published("interaction.queued")))
    (queued,) = center.published("interaction.queued")
    row = await center.interaction(int(str(queued["interaction_id"])))
    assert (row.channel, row.state) == (Channel.CALLBACK, InteractionState.QUEUED)
    assert row.attributes["reason"] == "voicemail"
    assert row.attributes["callback_number"] == "+48221234567"
    recording = center.voice.voicemail_file(row.attributes["voicemail"])
    assert loudness(recording) > 300
    # The queue is still closed, yet the message is offered to the first agent back.
    anna = await center.agent("anna", ANSWERS)
    assert await center.offer_for(anna)
