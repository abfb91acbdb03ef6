"""The agent websocket through a real uvicorn server: snapshot, states, offers with
accept/reject, bad frames, rate limits, and presence loss when the socket goes away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select

from parley.app import create_app
from parley.platform.auth.passwords import hash_password
from parley.platform.config import Settings
from parley.platform.models import AgentSkill, Queue, QueueSkill, Role, Skill, User
from tests.conftest import PASSWORD, served, sign_in


@dataclass
class Live:
    base_url: str
    app: Any
    queue_id: int

    async def add_agent(self, username: str) -> None:
        async with self.app.state.runtime.database.transaction() as db:
            user = User(
                username=username,
                display_name=username.title(),
                password_hash=hash_password(PASSWORD),
                role=Role.AGENT,
            )
            db.add(user)
            await db.flush()
            skill = await db.scalar(select(Skill))
            db.add(AgentSkill(user_id=user.id, skill_id=skill.id, level=5))  # type: ignore[union-attr]

    async def login(self, username: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base_url)
        await sign_in(client, username)
        return client

    def connect(self, client: httpx.AsyncClient, *, origin: str | None = None) -> Any:
        cookie = f"parley_session={client.cookies['parley_session']}"
        headers = {"Cookie": cookie, "Origin": origin or self.base_url}
        return websockets.connect(
            self.base_url.replace("http", "ws") + "/ws/agent", additional_headers=headers
        )


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    settings.presence_timeout_seconds = 1.5
    app = create_app(settings)
    async with served(app) as port:
        async with app.state.runtime.database.transaction() as db:
            skill = Skill(name="billing")
            db.add(skill)
            await db.flush()
            queue = Queue(name="Support", channels=["chat", "voice"], wrap_up_seconds=0)
            db.add(queue)
            await db.flush()
            db.add(QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=1))
            queue_id = queue.id
        await app.state.runtime.engine._load()  # pick up the queue created above
        yield Live(f"http://127.0.0.1:{port}", app, queue_id)


async def _next(ws: Any, type_: str) -> dict[str, Any]:
    """The next frame of `type_`, skipping others (5 s at most)."""
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == type_:
                return frame  # type: ignore[no-any-return]


async def test_connecting_logs_in_and_sends_a_snapshot(live: Live) -> None:
    await live.add_agent("anna")
    client = await live.login("anna")
    async with live.connect(client) as ws:
        snapshot = await _next(ws, "snapshot")
        assert snapshot["agent"]["state"] == "not_ready"
        assert snapshot["agent"]["reason"] == "login"
        await ws.send(json.dumps({"type": "state.ready", "id": "1"}))
        assert (await _next(ws, "ack"))["id"] == "1"
        changed = await _next(ws, "agent.state_changed")
        assert changed["state"] == "ready"
    await client.aclose()


async def test_an_offer_arrives_and_is_accepted_over_the_socket(live: Live) -> None:
    await live.add_agent("anna")
    client = await live.login("anna")
    supervisor_id = None
    async with live.app.state.runtime.database.transaction() as db:
        sup = User(
            username="sam",
            display_name="Sam",
            password_hash=hash_password(PASSWORD),
            role=Role.SUPERVISOR,
        )
        db.add(sup)
        await db.flush()
        supervisor_id = sup.id
    assert supervisor_id
    supervisor = await live.login("sam")
    async with live.connect(client) as ws:
        await _next(ws, "snapshot")
        await ws.send(json.dumps({"type": "state.ready"}))
        await _next(ws, "agent.state_changed")
        created = await supervisor.post(
            "/api/interactions", json={"channel": "chat", "queue_id": live.queue_id}
        )
        assert created.status_code == 201, created.text
        offer = await _next(ws, "offer.created")
        assert offer["interaction_id"] == created.json()["interaction_id"]
        assert offer["queue_name"] == "Support"
        await ws.send(
            json.dumps({"type": "offer.accept", "id": "a", "offer_id": offer["offer_id"]})
        )
        ack = await _next(ws, "ack")
        assert ack == {"type": "ack", "id": "a", "interaction_id": offer["interaction_id"]}
        agents = (await supervisor.get("/api/supervisor/agents")).json()
        assert [(a["name"], a["state"], a["interactions"]) for a in agents] == [("Anna", "busy", 1)]
        queues = (await supervisor.get("/api/supervisor/queues")).json()
        assert queues[0]["answered_today"] == 1
        assert queues[0]["sla_percent"] == 100.0
    await client.aclose()
    await supervisor.aclose()


async def test_bad_frames_get_a_clear_error_and_the_socket_stays_open(live: Live) -> None:
    await live.add_agent("anna")
    client = await live.login("anna")
    async with live.connect(client) as ws:
        await _next(ws, "snapshot")
        await ws.send("{not json")
        assert (await _next(ws, "error"))["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "state.not_ready", "id": "x"}))
        error = await _next(ws, "error")
        assert error["id"] == "x" and error["fields"][0]["field"].endswith("reason")
        await ws.send(json.dumps({"type": "offer.accept", "id": "y", "offer_id": "nope"}))
        assert (await _next(ws, "error"))["code"] == "not_found"
        # No voice in this process (no AMI URL): call commands say so.
        command = {"type": "call.command", "id": "z", "interaction_id": 1, "action": "hold"}
        await ws.send(json.dumps(command))
        assert (await _next(ws, "error"))["code"] == "voice_unavailable"
        await ws.send(json.dumps({**command, "action": "dtmf", "digits": "1;2"}))
        assert (await _next(ws, "error"))["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "sync"}))
        assert (await _next(ws, "snapshot"))["agent"]["state"] == "not_ready"
    await client.aclose()


async def test_a_flood_of_frames_closes_the_socket(live: Live) -> None:
    await live.add_agent("anna")
    client = await live.login("anna")
    async with live.connect(client) as ws:
        await _next(ws, "snapshot")
        for _ in range(100):
            await ws.send(json.dumps({"type": "heartbeat"}))
        assert (await _next(ws, "error"))["code"] == "rate_limited"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _next(ws, "never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    await client.aclose()


async def test_handshakes_without_a_session_or_from_another_origin_are_refused(
    live: Live,
) -> None:
    await live.add_agent("anna")
    client = await live.login("anna")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with live.connect(client, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    url = live.base_url.replace("http", "ws") + "/ws/agent"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url):
            pass
    await client.aclose()


async def test_an_agent_whose_socket_goes_silent_is_logged_out(live: Live) -> None:
    await live.add_agent("anna")
    client = await live.login("anna")
    async with live.app.state.runtime.bus.subscribe("agent.state_changed") as changes:
        async with live.connect(client) as ws:
            await _next(ws, "snapshot")
        async with asyncio.timeout(6):
            async for change in changes:
                if change.payload["state"] == "offline":
                    break
    assert live.app.state.runtime.engine.agents() == []
    await client.aclose()


async def test_a_skill_given_through_the_admin_api_lets_the_agent_take_the_queue(
    live: Live,
) -> None:
    await live.add_agent("anna")
    async with live.app.state.runtime.database.transaction() as db:
        admin = User(
            username="ada",
            display_name="Ada",
            password_hash=hash_password(PASSWORD),
            role=Role.ADMIN,
        )
        db.add(admin)
        spanish = Skill(name="spanish")
        db.add(spanish)
        await db.flush()
        spanish_id = spanish.id
    admin_client = await live.login("ada")
    queue = await admin_client.post(
        "/api/queues",
        json={
            "name": "Spanish",
            "channels": ["chat"],
            "skills": [{"skill_id": spanish_id, "min_level": 2}],
        },
    )
    assert queue.status_code == 201, queue.text
    client = await live.login("anna")
    async with live.connect(client) as ws:
        await _next(ws, "snapshot")
        await ws.send(json.dumps({"type": "state.ready"}))
        await _next(ws, "agent.state_changed")
        waiting = await admin_client.post(
            "/api/interactions", json={"channel": "chat", "queue_id": queue.json()["id"]}
        )
        assert waiting.status_code == 201, waiting.text
        anna_id = (await client.get("/api/auth/me")).json()["id"]
        granted = await admin_client.put(
            f"/api/users/{anna_id}/skills/{spanish_id}", json={"level": 4}
        )
        assert granted.status_code == 200, granted.text
        offer = await _next(ws, "offer.created")
        assert offer["interaction_id"] == waiting.json()["interaction_id"]
    await client.aclose()
    await admin_client.aclose()
