"""Callbacks agents schedule (F-VO-7): promised over HTTP, queued as callback tasks when
they fall due (offered first to the agent for a personal one), listed and cancelled by
their agent or a supervisor."""

from __future__ import annotations

from datetime import timedelta

from parley.platform.models import Channel, Interaction, Role
from parley.telephony.callbacks import CallbackScheduler
from tests.conftest import Api


def scheduler(api: Api) -> CallbackScheduler:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    (found,) = [s for s in runtime.services if isinstance(s, CallbackScheduler)]
    return found


async def test_a_promised_callback_is_queued_when_due_and_offered_to_its_agent_first(
    api: Api,
) -> None:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    admin = await api.token_for(Role.ADMIN)
    anna = await api.session_for(Role.AGENT)
    piotr = await api.session_for(Role.AGENT)
    supervisor = await api.session_for(Role.SUPERVISOR)
    anna_id = (await anna.get("/api/auth/me")).json()["id"]
    queue = await admin.post(
        "/api/queues", json={"name": "Support", "channels": ["voice", "callback"]}
    )
    chat_only = await admin.post("/api/queues", json={"name": "Chat", "channels": ["chat"]})
    now = runtime.clock.now()
    due = (now + timedelta(seconds=30)).isoformat()
    body = {"number": "+48221234567", "due_at": due, "queue_id": queue.json()["id"]}

    promised = await anna.post("/api/calls/callbacks", json={**body, "note": "After 3 pm"})
    assert promised.status_code == 201, promised.text
    assert promised.json()["state"] == "pending"
    later = await anna.post("/api/calls/callbacks", json={**body, "is_personal": False})
    assert [c["id"] for c in (await anna.get("/api/calls/callbacks")).json()] == [
        promised.json()["id"],
        later.json()["id"],
    ]
    assert (await piotr.get("/api/calls/callbacks")).json() == []
    assert len((await supervisor.get("/api/calls/callbacks")).json()) == 2
    refused = await anna.post(
        "/api/calls/callbacks", json={**body, "queue_id": chat_only.json()["id"]}
    )
    assert refused.json()["error"]["code"] == "no_callbacks"
    past = (now - timedelta(hours=1)).isoformat()
    refused = await anna.post("/api/calls/callbacks", json={**body, "due_at": past})
    assert refused.json()["error"]["code"] == "due_in_the_past"
    assert (
        await anna.post("/api/calls/callbacks", json={**body, "number": "x"})
    ).status_code == 422

    assert await scheduler(api).queue_due(now) == []  # not yet
    assert (await piotr.delete(f"/api/calls/callbacks/{later.json()['id']}")).status_code == 404
    assert (
        await supervisor.delete(f"/api/calls/callbacks/{later.json()['id']}")
    ).status_code == 204
    (queued,) = await scheduler(api).queue_due(now + timedelta(minutes=1))

    async with runtime.database.sessions() as db:
        task = await db.get_one(Interaction, queued)
    assert task.channel is Channel.CALLBACK
    assert task.attributes["callback_number"] == "+48221234567"
    assert task.attributes["preferred_agent_id"] == anna_id
    assert task.attributes["note"] == "After 3 pm"
    assert (await anna.get("/api/calls/callbacks")).json() == []
    again = await anna.delete(f"/api/calls/callbacks/{promised.json()['id']}")
    assert again.json()["error"]["code"] == "callback_not_pending"
    for client in (admin, anna, piotr, supervisor):
        await client.aclose()
