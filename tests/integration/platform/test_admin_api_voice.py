"""Voice numbers and blocked callers over HTTP: admins configure, supervisors read, bad
numbers and patterns are refused with the field named."""

from __future__ import annotations

from parley.platform.models import Role
from tests.conftest import Api


async def test_admins_route_numbers_to_queues_and_supervisors_read_them(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    supervisor = await api.token_for(Role.SUPERVISOR)
    queue = await admin.post("/api/queues", json={"name": "Support", "channels": ["voice"]})
    assert queue.status_code == 201, queue.text
    queue_id = queue.json()["id"]

    created = await admin.post(
        "/api/voice-numbers",
        json={"number": "+48221234567", "name": "Spring ad", "queue_id": queue_id},
    )
    assert created.status_code == 201, created.text
    assert (
        await admin.post("/api/voice-numbers", json={"number": "100", "queue_id": queue_id})
    ).status_code == 201
    listed = await supervisor.get("/api/voice-numbers", params={"sort": "number"})
    assert [item["number"] for item in listed.json()["items"]] == ["+48221234567", "100"]
    assert (
        await supervisor.post("/api/voice-numbers", json={"number": "101", "queue_id": queue_id})
    ).status_code == 403

    again = await admin.post(
        "/api/voice-numbers", json={"number": "+48221234567", "queue_id": queue_id}
    )
    assert again.status_code == 409
    for body in ({"number": "22 123", "queue_id": queue_id}, {"number": "+4822", "queue_id": 999}):
        refused = await admin.post("/api/voice-numbers", json=body)
        assert refused.status_code in (404, 422), refused.text


async def test_blocked_callers_take_numbers_and_prefix_patterns_only(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    for pattern in ("+74951234567", "+4870*"):
        response = await admin.post("/api/blocked-callers", json={"pattern": pattern})
        assert response.status_code == 201, response.text
    for pattern in ("+48[0-9]", "spam", ""):
        response = await admin.post("/api/blocked-callers", json={"pattern": pattern})
        assert response.status_code == 422, response.text
        assert "pattern" in response.text


async def test_ivr_menus_check_their_options_and_numbers_point_at_them(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    queue = await admin.post("/api/queues", json={"name": "Support", "channels": ["voice"]})
    queue_id = queue.json()["id"]
    menu = await admin.post(
        "/api/ivr-menus",
        json={
            "name": "Main",
            "prompt": "parley/main-menu",
            "options": [
                {"digit": "1", "label": "Support", "action": "queue", "target_id": queue_id},
                {"digit": "#", "action": "hangup"},
            ],
        },
    )
    assert menu.status_code == 201, menu.text
    number = await admin.post(
        "/api/voice-numbers",
        json={"number": "100", "queue_id": queue_id, "ivr_menu_id": menu.json()["id"]},
    )
    assert number.status_code == 201, number.text
    assert number.json()["ivr_menu_id"] == menu.json()["id"]
    for options in (
        [{"digit": "1", "action": "queue"}],  # no target
        [{"digit": "#", "action": "hangup", "target_id": 1}],  # a target for hangup
        [
            {"digit": "1", "action": "hangup"},
            {"digit": "1", "action": "queue", "target_id": queue_id},
        ],  # one key, two options
        [{"digit": "12", "action": "hangup"}],
    ):
        refused = await admin.post("/api/ivr-menus", json={"name": "Bad", "options": options})
        assert refused.status_code == 422, refused.text
    bad_prompt = await admin.post("/api/ivr-menus", json={"name": "Bad", "prompt": "a b;c"})
    assert bad_prompt.status_code == 422
