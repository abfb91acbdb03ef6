"""A call answered on a real SIP phone: baresip registers to Asterisk as the agent's desk
phone (PJSIP), Parley rings it when the agent accepts, it answers, and the two legs
bridge over SIP and RTP."""

from __future__ import annotations

import asyncio

from parley.platform.models import InteractionState
from tests.integration.telephony.conftest import Center, until
from tests.pbx_fixtures import Baresip


async def test_the_agents_sip_phone_rings_answers_and_carries_the_call(
    center: Center, sip_phone: Baresip
) -> None:
    sip_phone.start()

    async def is_registered() -> bool:
        listing = await center.ami.send({"Action": "Command", "Command": "pjsip show contacts"})
        return any(f"{sip_phone.name}/sip:" in line for line in listing.get("Output", []))

    for _ in range(100):
        if await is_registered():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the phone never registered\n{sip_phone.log()}")
    anna = await center.agent("anna", sip_phone.device)

    interaction_id = await center.connected(anna)

    caller, agent = center.voice.legs(interaction_id)
    assert agent is not None and agent.name.startswith(f"PJSIP/{sip_phone.name}-")
    assert agent.is_up
    await center.ami.send({"Action": "Hangup", "Channel": center.customer()})
    await until(lambda: center.phase(interaction_id) is None)
    assert (await center.interaction(interaction_id)).state is InteractionState.WRAP_UP
    await until(lambda: agent.uniqueid not in center.ami.calls.channels)
    assert caller.uniqueid not in center.ami.calls.channels
