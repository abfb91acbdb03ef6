"""A queue's voice settings in the admin API (F-VO-1, -5, -6): announcements, recording
retention and the messages agents may play; admins write, supervisors read."""

from __future__ import annotations

from parley.platform.models import Role
from tests.conftest import Api, audit_rows, fields


async def test_admins_set_a_queues_announcements_retention_and_messages(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    supervisor = await api.token_for(Role.SUPERVISOR)
    agent = await api.token_for(Role.AGENT)
    queue = await admin.post("/api/queues", json={"name": "Support", "channels": ["voice"]})
    queue_id = queue.json()["id"]
    body = {
        "queue_id": queue_id,
        "announce_every_seconds": 45,
        "recording_retention_days": 90,
        "messages": [{"name": "Terms", "sound": "custom/terms"}],
    }
    created = await admin.post("/api/queue-voice-settings", json=body)
    assert created.status_code == 201, created.text
    settings_id = created.json()["id"]
    assert created.json()["messages"] == [{"name": "Terms", "sound": "custom/terms"}]
    assert (await admin.post("/api/queue-voice-settings", json=body)).status_code == 409

    changed = await admin.patch(
        f"/api/queue-voice-settings/{settings_id}", json={"announce_every_seconds": 0}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["announce_every_seconds"] == 0
    assert changed.json()["recording_retention_days"] == 90

    listed = await supervisor.get(f"/api/queue-voice-settings?queue_id={queue_id}")
    assert [item["id"] for item in listed.json()["items"]] == [settings_id]
    assert (await agent.get("/api/queue-voice-settings")).status_code == 403
    assert (await supervisor.post("/api/queue-voice-settings", json=body)).status_code == 403
    assert [e.action for e in await audit_rows(api, "queue_voice_settings")] == [
        "create",
        "update",
    ]


async def test_bad_voice_settings_are_refused_with_the_reason(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    queue_id = (await admin.post("/api/queues", json={"name": "Q", "channels": ["voice"]})).json()[
        "id"
    ]

    async def refused(**body: object) -> dict[str, str]:
        response = await admin.post(
            "/api/queue-voice-settings", json={"queue_id": queue_id, **body}
        )
        return fields(response)

    assert await refused(announce_every_seconds=5)
    assert "recording_retention_days" in await refused(recording_retention_days=-1)
    assert await refused(messages=[{"name": "Up", "sound": "../../etc/passwd"}])
    assert await refused(messages=[{"name": "Semi", "sound": "a;b"}])
    twice = [{"name": "Same", "sound": "a"}, {"name": "Same", "sound": "b"}]
    assert await refused(messages=twice)
    missing = await admin.post("/api/queue-voice-settings", json={"queue_id": 999})
    assert missing.status_code in (404, 422), missing.text
