"""Call forwarding for agents (F-VO-9): the REST API, and on a real Asterisk the calls a
forwarding agent accepts ring their forward-to number through the outbound context."""

from __future__ import annotations

import contextlib

from parley.platform.errors import DomainError
from parley.platform.models import CallForward, Role
from parley.telephony.calls import CallChange, ChannelChange
from tests.conftest import Api, audit_rows
from tests.integration.telephony.conftest import ANSWERS, Center, until


async def test_an_agent_sets_reads_and_clears_their_forward_to_number(api: Api) -> None:
    agent = await api.session_for(Role.AGENT)
    assert (await agent.get("/api/me/call-forward")).status_code == 404
    refused = await agent.put("/api/me/call-forward", json={"number": "0601 234"})
    assert refused.status_code == 422
    assert (await agent.put("/api/me/call-forward", json={"number": "+48601234567"})).json() == {
        "number": "+48601234567"
    }
    assert (await agent.get("/api/me/call-forward")).json() == {"number": "+48601234567"}
    assert (await agent.delete("/api/me/call-forward")).status_code == 204
    assert (await agent.get("/api/me/call-forward")).status_code == 404
    entries = await audit_rows(api, "call_forward")
    assert [entry.action for entry in entries] == ["update", "delete"]
    assert entries[0].changes == {"number": {"old": None, "new": "+48601234567"}}


async def test_signed_out_callers_cannot_set_a_forward(api: Api) -> None:
    anonymous = api.client
    response = await anonymous.put("/api/me/call-forward", json={"number": "+48601234567"})
    assert response.status_code == 401


async def test_a_forwarding_agents_calls_ring_the_number_through_the_outbound_context(
    center: Center,
) -> None:
    dialled: list[str] = []

    def note(change: CallChange) -> None:
        if isinstance(change, ChannelChange) and change.kind == "added":
            dialled.append(change.channel.name)

    center.ami.add_listener(note)
    agent_id = await center.agent("forwarding", ANSWERS)
    async with center.runtime.database.transaction() as db:
        db.add(CallForward(user_id=agent_id, number="+48601234567"))
    await center.call()
    interaction_id = await center.engine.accept(agent_id, await center.offer_for(agent_id))
    await until(lambda: any(n.startswith("Local/+48601234567@parley-outbound-") for n in dialled))
    assert not any(n.startswith("Local/answer@parley-test-phones") for n in dialled)
    # The test trunk answers nobody: the call goes back to the queue for someone else.
    await until(lambda: center.phase(interaction_id) == "waiting")

    # Forwarding off: the agent's own device rings for their next call.
    async with center.runtime.database.transaction() as db:
        forward = await db.get_one(CallForward, 1)
        await db.delete(forward)
    with contextlib.suppress(DomainError):  # still ready, unless the miss counted
        await center.engine.request_ready(agent_id)
    await center.call(caller="+48221234568")
    second = await center.engine.accept(agent_id, await center.offer_for(agent_id))
    assert second != interaction_id
    await until(lambda: center.phase(second) == "talking")
    assert any(n.startswith("Local/answer@parley-test-phones") for n in dialled)
