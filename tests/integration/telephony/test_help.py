"""An agent's "request help" (F-VO-10): raised over REST, announced to supervisors on
the bus, listed, and cleared by a supervisor or the agent, nobody else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from parley.app import create_app
from parley.platform.auth.passwords import hash_password
from parley.platform.config import Settings
from parley.platform.models import Channel, Direction, Interaction, InteractionState, Role, User
from tests.conftest import PASSWORD, Api, served, sign_in


async def _call_of(api: Api, agent_id: int) -> int:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.database.transaction() as db:
        interaction = Interaction(
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            state=InteractionState.ACTIVE,
            agent_id=agent_id,
        )
        db.add(interaction)
        await db.flush()
        return interaction.id


async def test_a_raised_hand_reaches_supervisors_until_one_clears_it(api: Api) -> None:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    events = runtime.bus.subscribe("help.*")
    agent = await api.session_for(Role.AGENT)
    agent_id = (await agent.get("/api/auth/me")).json()["id"]
    colleague = await api.session_for(Role.AGENT)
    supervisor = await api.session_for(Role.SUPERVISOR)
    call = await _call_of(api, agent_id)

    raised = await agent.post("/api/help-requests", json={"interaction_id": call, "note": "angry"})
    assert raised.status_code == 201, raised.text
    hand = raised.json()
    assert (hand["agent_id"], hand["interaction_id"], hand["note"]) == (agent_id, call, "angry")
    assert hand["cleared_at"] is None
    again = await agent.post("/api/help-requests", json={})
    assert again.json()["id"] == hand["id"]  # one open at a time

    requested = await asyncio.wait_for(anext(events), 5)
    assert requested.type == "help.requested"
    assert requested.payload["id"] == hand["id"]
    assert requested.payload["interaction_id"] == call
    assert requested.payload["agent_name"] == hand["agent_name"] != ""

    assert [h["id"] for h in (await supervisor.get("/api/help-requests")).json()] == [hand["id"]]
    assert (await colleague.get("/api/help-requests")).json() == []
    clear = f"/api/help-requests/{hand['id']}/clear"
    assert (await colleague.post(clear)).status_code == 403
    cleared = await supervisor.post(clear)
    assert cleared.status_code == 200 and cleared.json()["cleared_at"] is not None
    assert (await asyncio.wait_for(anext(events), 5)).type == "help.cleared"
    assert (await supervisor.get("/api/help-requests")).json() == []
    events.close()


async def test_help_is_asked_about_ones_own_interaction_only(api: Api) -> None:
    agent = await api.session_for(Role.AGENT)
    other = await api.session_for(Role.AGENT)
    other_id = (await other.get("/api/auth/me")).json()["id"]
    not_mine = await _call_of(api, other_id)
    response = await agent.post("/api/help-requests", json={"interaction_id": not_mine})
    assert response.status_code == 404
    too_long = await agent.post("/api/help-requests", json={"note": "x" * 501})
    assert too_long.status_code == 422
    assert (await agent.post("/api/help-requests/999/clear")).status_code == 404
    assert (await api.client.post("/api/help-requests", json={})).status_code == 401


async def test_the_agent_socket_raises_and_lowers_a_hand(settings: Settings) -> None:
    app = create_app(settings)
    async with served(app) as port:
        runtime = app.state.runtime
        events = runtime.bus.subscribe("help.*")
        async with runtime.database.transaction() as db:
            db.add(
                User(
                    username="anna",
                    display_name="Anna",
                    password_hash=hash_password(PASSWORD),
                    role=Role.AGENT,
                )
            )
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            await sign_in(client, "anna")
            headers = {
                "Cookie": f"parley_session={client.cookies['parley_session']}",
                "Origin": base,
            }
            async with websockets.connect(
                base.replace("http", "ws") + "/ws/agent", additional_headers=headers
            ) as ws:
                await ws.send(json.dumps({"type": "help.raise", "id": "1", "note": "stuck"}))
                raised = await _frame(ws, "ack")
                assert raised["id"] == "1" and raised["help_request_id"]
                requested = await asyncio.wait_for(anext(events), 5)
                assert requested.type == "help.requested"
                assert requested.payload["note"] == "stuck"
                assert (await client.get("/api/help-requests")).json()[0]["id"] == raised[
                    "help_request_id"
                ]
                await ws.send(json.dumps({"type": "help.clear", "id": "2"}))
                cleared = await _frame(ws, "ack")
                assert cleared["help_request_id"] == raised["help_request_id"]
                assert (await asyncio.wait_for(anext(events), 5)).type == "help.cleared"
                await ws.send(json.dumps({"type": "help.clear", "id": "3"}))
                assert (await _frame(ws, "ack"))["help_request_id"] is None
                await ws.send(json.dumps({"type": "help.raise", "id": "4", "note": "x" * 501}))
                assert (await _frame(ws, "error"))["id"] in ("4", None)
        events.close()


async def _frame(ws: Any, type_: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == type_:
                return frame  # type: ignore[no-any-return]
