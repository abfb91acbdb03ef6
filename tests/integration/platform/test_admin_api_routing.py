"""Schedules, queues, reason codes and dispositions over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from parley.platform.models import Role
from tests.conftest import Api, audit_rows, fields

WEEKDAYS = {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], "sat": [["10:00", "24:00"]]}


async def create(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- schedules -------------------------------------------------------------------------


async def test_schedule_round_trip_keeps_zone_hours_and_holidays(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    schedule = await create(
        admin,
        "/api/schedules",
        {
            "name": "Office",
            "time_zone": "Europe/Warsaw",
            "hours": {"mon": [["14:00", "18:00"], ["09:00", "13:00"]], "sat": [["10:00", "24:00"]]},
            "holidays": [
                {"date": "2025-12-25", "name": "Christmas"},
                {"date": "2025-11-11", "name": "Independence Day"},
            ],
        },
    )
    assert schedule["time_zone"] == "Europe/Warsaw"
    assert schedule["hours"] == WEEKDAYS  # intervals kept in order of the day
    assert [holiday["date"] for holiday in schedule["holidays"]] == ["2025-11-11", "2025-12-25"]
    assert (await admin.get(f"/api/schedules/{schedule['id']}")).json() == schedule

    changed = await admin.patch(
        f"/api/schedules/{schedule['id']}", json={"hours": {"sun": [["00:00", "24:00"]]}}
    )
    assert changed.json()["hours"] == {"sun": [["00:00", "24:00"]]}
    assert changed.json()["holidays"] == schedule["holidays"]
    (update,) = [row for row in await audit_rows(api, "schedule") if row.action == "update"]
    assert update.changes == {
        "hours": {"old": WEEKDAYS, "new": {"sun": [["00:00", "24:00"]]}},
    }


async def test_schedule_refuses_an_unknown_time_zone(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    for zone in ("Mars/Olympus", "Europe", "../etc/passwd", ""):
        errors = fields(await admin.post("/api/schedules", json={"name": "x", "time_zone": zone}))
        assert set(errors) == {"time_zone"}, zone
    errors = fields(await admin.post("/api/schedules", json={"name": "x", "time_zone": "Mars/X"}))
    assert "not an IANA time zone" in errors["time_zone"]


async def test_schedule_refuses_overlapping_reversed_and_malformed_hours(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    overlapping = {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}
    errors = fields(await admin.post("/api/schedules", json={"name": "x", "hours": overlapping}))
    assert errors == {"hours.mon": "Value error, 09:00-13:00 overlaps 12:00-18:00"}

    reversed_ = {"tue": [["18:00", "09:00"]]}
    errors = fields(await admin.post("/api/schedules", json={"name": "x", "hours": reversed_}))
    assert set(errors) == {"hours.tue.0"}
    assert "the start must come first" in errors["hours.tue.0"]

    empty = {"wed": [["09:00", "09:00"]]}
    assert set(fields(await admin.post("/api/schedules", json={"name": "x", "hours": empty}))) == {
        "hours.wed.0"
    }

    malformed = {"thu": [["25:00", "26:00"]], "someday": []}
    errors = fields(await admin.post("/api/schedules", json={"name": "x", "hours": malformed}))
    assert {"hours.thu.0.0", "hours.thu.0.1", "hours.someday.[key]"} <= set(errors)

    # Intervals that touch do not overlap.
    touching = {"fri": [["09:00", "12:00"], ["12:00", "17:00"]]}
    assert (await admin.post("/api/schedules", json={"name": "x", "hours": touching})).is_success


async def test_schedule_refuses_a_holiday_listed_twice_or_a_bad_date(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    twice = [{"date": "2025-12-25", "name": "a"}, {"date": "2025-12-25", "name": "b"}]
    errors = fields(await admin.post("/api/schedules", json={"name": "x", "holidays": twice}))
    assert errors == {"holidays": "Value error, 2025-12-25 is listed twice"}
    bad = [{"date": "2025-02-30"}]
    assert set(fields(await admin.post("/api/schedules", json={"name": "x", "holidays": bad}))) == {
        "holidays.0.date"
    }


async def test_deleting_a_schedule_leaves_its_queues_without_one(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    schedule = await create(admin, "/api/schedules", {"name": "Office"})
    queue = await create(
        admin,
        "/api/queues",
        {"name": "Sales", "channels": ["voice"], "schedule_id": schedule["id"]},
    )
    assert (await admin.delete(f"/api/schedules/{schedule['id']}")).status_code == 204
    assert (await admin.get(f"/api/queues/{queue['id']}")).json()["schedule_id"] is None


# --- queues ----------------------------------------------------------------------------


async def test_queue_round_trip_with_skills_overflow_and_schedule(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    french = await create(admin, "/api/skills", {"name": "french"})
    billing = await create(admin, "/api/skills", {"name": "billing"})
    schedule = await create(admin, "/api/schedules", {"name": "Office"})
    backup = await create(admin, "/api/queues", {"name": "Backup", "channels": ["voice"]})

    queue = await create(
        admin,
        "/api/queues",
        {
            "name": "Sales",
            "channels": ["voice", "chat", "voice"],
            "strategy": "best_skill",
            "priority": 5,
            "offer_timeout_seconds": 20,
            "wrap_up_seconds": 0,
            "overflow_after_seconds": 60,
            "overflow_queue_ids": [backup["id"]],
            "schedule_id": schedule["id"],
            "after_hours_action": "voicemail",
            "skills": [
                {"skill_id": french["id"], "min_level": 5},
                {"skill_id": billing["id"]},
            ],
        },
    )
    assert queue["channels"] == ["voice", "chat"]
    assert queue["strategy"] == "best_skill"
    assert queue["overflow_queue_ids"] == [backup["id"]]
    assert sorted(queue["skills"], key=lambda skill: skill["min_level"]) == [
        {"skill_id": billing["id"], "min_level": 1},
        {"skill_id": french["id"], "min_level": 5},
    ]
    assert (await admin.get(f"/api/queues/{queue['id']}")).json() == queue

    changed = await admin.patch(
        f"/api/queues/{queue['id']}",
        json={"skills": [{"skill_id": french["id"], "min_level": 8}], "priority": 9},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["skills"] == [{"skill_id": french["id"], "min_level": 8}]
    assert changed.json()["priority"] == 9
    assert changed.json()["channels"] == ["voice", "chat"]

    (update,) = [row for row in await audit_rows(api, "queue") if row.action == "update"]
    assert set(update.changes) == {"skills", "priority"}
    assert update.changes["skills"]["new"] == [{"skill_id": french["id"], "min_level": 8}]


async def test_queue_fields_are_validated(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    errors = fields(
        await admin.post(
            "/api/queues",
            json={
                "name": "Sales",
                "channels": ["voice", "fax"],
                "strategy": "random",
                "offer_timeout_seconds": 0,
                "wrap_up_seconds": -1,
                "skills": [{"skill_id": 1, "min_level": 11}],
            },
        )
    )
    assert set(errors) == {
        "channels.1",
        "strategy",
        "offer_timeout_seconds",
        "wrap_up_seconds",
        "skills.0.min_level",
    }
    assert (
        "at least 1 item"
        in fields(await admin.post("/api/queues", json={"name": "x", "channels": []}))["channels"]
    )
    twice = [{"skill_id": 1}, {"skill_id": 1}]
    assert set(
        fields(
            await admin.post(
                "/api/queues", json={"name": "x", "channels": ["chat"], "skills": twice}
            )
        )
    ) == {"skills"}


async def test_queue_references_must_exist(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    base = {"name": "Sales", "channels": ["email"]}
    assert fields(await admin.post("/api/queues", json={**base, "schedule_id": 77})) == {
        "schedule_id": "Schedule 77 does not exist."
    }
    assert fields(await admin.post("/api/queues", json={**base, "overflow_queue_ids": [77]})) == {
        "overflow_queue_ids.0": "Queue 77 does not exist."
    }
    missing_skill = {**base, "skills": [{"skill_id": 77, "min_level": 2}]}
    assert fields(await admin.post("/api/queues", json=missing_skill)) == {
        "skills.0.skill_id": "Skill 77 does not exist."
    }

    queue = await create(admin, "/api/queues", base)
    into_itself = await admin.patch(
        f"/api/queues/{queue['id']}", json={"overflow_queue_ids": [queue["id"]]}
    )
    assert fields(into_itself) == {"overflow_queue_ids.0": "A queue cannot overflow into itself."}


async def test_deleting_a_queue_removes_it_from_overflow_lists_and_its_dispositions(
    api: Api,
) -> None:
    admin = await api.token_for(Role.ADMIN)
    backup = await create(admin, "/api/queues", {"name": "Backup", "channels": ["voice"]})
    other = await create(admin, "/api/queues", {"name": "Other", "channels": ["voice"]})
    sales = await create(
        admin,
        "/api/queues",
        {"name": "Sales", "channels": ["voice"], "overflow_queue_ids": [backup["id"], other["id"]]},
    )
    disposition = await create(
        admin, "/api/dispositions", {"code": "sold", "name": "Sold", "queue_id": backup["id"]}
    )
    assert (await admin.delete(f"/api/queues/{backup['id']}")).status_code == 204
    assert (await admin.get(f"/api/queues/{sales['id']}")).json()["overflow_queue_ids"] == [
        other["id"]
    ]
    assert (await admin.get(f"/api/dispositions/{disposition['id']}")).status_code == 404


async def test_queues_filter_and_sort(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    await create(admin, "/api/queues", {"name": "A", "channels": ["voice"], "priority": 1})
    await create(
        admin, "/api/queues", {"name": "B", "channels": ["chat"], "priority": 9, "is_active": False}
    )
    await create(
        admin,
        "/api/queues",
        {"name": "C", "channels": ["email"], "priority": 5, "strategy": "ring_all"},
    )

    async def names(**params: Any) -> list[str]:
        response = await admin.get("/api/queues", params=params)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names(sort="-priority") == ["B", "C", "A"]
    assert await names(is_active="true", sort="name") == ["A", "C"]
    assert await names(strategy="ring_all") == ["C"]
    assert "query.strategy" in fields(await admin.get("/api/queues", params={"strategy": "x"}))


async def test_supervisors_read_queues_and_schedules_agents_do_not(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    queue = await create(admin, "/api/queues", {"name": "Sales", "channels": ["voice"]})
    supervisor = await api.token_for(Role.SUPERVISOR)
    agent = await api.token_for(Role.AGENT)
    assert (await supervisor.get(f"/api/queues/{queue['id']}")).status_code == 200
    assert (await supervisor.get("/api/schedules")).status_code == 200
    assert (
        await supervisor.patch(f"/api/queues/{queue['id']}", json={"priority": 1})
    ).status_code == 403
    assert (await agent.get("/api/queues")).status_code == 403
    assert (await agent.get("/api/schedules")).status_code == 403


# --- reason codes and dispositions ---------------------------------------------------


async def test_reason_code_round_trip_and_rules(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    lunch = await create(
        admin,
        "/api/reason-codes",
        {"code": "lunch", "name": "Lunch", "max_duration_seconds": 1800},
    )
    assert (lunch["is_productive"], lunch["is_active"], lunch["max_duration_seconds"]) == (
        False,
        True,
        1800,
    )
    assert (
        await admin.post("/api/reason-codes", json={"code": "lunch", "name": "x"})
    ).status_code == 409
    errors = fields(await admin.post("/api/reason-codes", json={"code": "Lunch Break", "name": ""}))
    assert set(errors) == {"code", "name"}

    agent = await api.token_for(Role.AGENT)
    assert (await agent.get("/api/reason-codes")).json()["items"] == [lunch]
    assert (
        await agent.post("/api/reason-codes", json={"code": "nap", "name": "Nap"})
    ).status_code == 403
    changed = await admin.patch(f"/api/reason-codes/{lunch['id']}", json={"is_active": False})
    assert changed.json()["is_active"] is False
    assert (await admin.delete(f"/api/reason-codes/{lunch['id']}")).status_code == 204
    assert [row.action for row in await audit_rows(api, "reason_code")] == [
        "create",
        "update",
        "delete",
    ]


async def test_disposition_codes_are_unique_globally_and_per_queue(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    sales = await create(admin, "/api/queues", {"name": "Sales", "channels": ["voice"]})
    support = await create(admin, "/api/queues", {"name": "Support", "channels": ["voice"]})

    await create(admin, "/api/dispositions", {"code": "sold", "name": "Sold"})
    global_twice = await admin.post("/api/dispositions", json={"code": "sold", "name": "Again"})
    assert global_twice.status_code == 409
    assert "code 'sold'" in global_twice.json()["error"]["message"]

    in_sales = {"code": "sold", "name": "Sold", "queue_id": sales["id"]}
    await create(admin, "/api/dispositions", in_sales)
    assert (await admin.post("/api/dispositions", json=in_sales)).status_code == 409
    await create(admin, "/api/dispositions", {**in_sales, "queue_id": support["id"]})

    missing_queue = await admin.post("/api/dispositions", json={**in_sales, "queue_id": 99})
    assert fields(missing_queue) == {"queue_id": "Queue 99 does not exist."}


async def test_dispositions_filter_by_queue_or_global(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    sales = await create(admin, "/api/queues", {"name": "Sales", "channels": ["voice"]})
    await create(admin, "/api/dispositions", {"code": "callback", "name": "Call back"})
    await create(
        admin,
        "/api/dispositions",
        {"code": "sold", "name": "Sold", "queue_id": sales["id"], "is_success": True},
    )

    async def codes(**params: Any) -> list[str]:
        response = await admin.get("/api/dispositions", params={"sort": "code", **params})
        return [item["code"] for item in response.json()["items"]]

    assert await codes() == ["callback", "sold"]
    assert await codes(is_global="true") == ["callback"]
    assert await codes(is_global="false") == ["sold"]
    assert await codes(queue_id=sales["id"]) == ["sold"]
    assert await codes(is_success="true") == ["sold"]
    agent = await api.token_for(Role.AGENT)
    assert (await agent.get("/api/dispositions")).json()["total"] == 2
