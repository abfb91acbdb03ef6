"""What every admin API collection does, shown on teams, skills and reason codes: CRUD
round trips, paging, sorting, search, filters, 404, 409, 422 and the audit log."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from parley.platform.models import Role
from tests.conftest import Api, audit_rows


def fields(response: httpx.Response) -> dict[str, str]:
    """The 422 body's field messages, by field."""
    assert response.status_code == 422, response.text
    return {item["field"]: item["message"] for item in response.json()["error"]["fields"]}


async def test_team_round_trip_returns_what_was_sent_and_audits_each_change(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    created = await admin.post(
        "/api/teams", json={"name": "Sales", "description": "Inbound", "break_budget_minutes": 30}
    )
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["name"] == "Sales"
    assert team["break_budget_minutes"] == 30
    assert (await admin.get(f"/api/teams/{team['id']}")).json() == team

    changed = await admin.patch(f"/api/teams/{team['id']}", json={"description": "Outbound"})
    assert changed.status_code == 200
    assert changed.json()["description"] == "Outbound"
    assert changed.json()["name"] == "Sales"  # a field not sent is kept

    assert (await admin.delete(f"/api/teams/{team['id']}")).status_code == 204
    missing = await admin.get(f"/api/teams/{team['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    create, update, delete = await audit_rows(api, "team")
    assert (create.action, update.action, delete.action) == ("create", "update", "delete")
    assert {create.entity_id, update.entity_id, delete.entity_id} == {str(team["id"])}
    assert create.changes["name"] == {"old": None, "new": "Sales"}
    assert update.changes == {"description": {"old": "Inbound", "new": "Outbound"}}
    assert delete.changes["name"] == {"old": "Sales", "new": None}
    assert create.actor_user_id is not None


async def test_list_pages_through_sorted_items_and_counts_them_all(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    for name in ("delta", "alpha", "echo", "charlie", "bravo"):
        assert (await admin.post("/api/skills", json={"name": name})).status_code == 201

    page = (await admin.get("/api/skills", params={"sort": "name", "limit": 2})).json()
    assert [item["name"] for item in page["items"]] == ["alpha", "bravo"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 0)

    page = (await admin.get("/api/skills", params={"sort": "-name", "offset": 3})).json()
    assert [item["name"] for item in page["items"]] == ["bravo", "alpha"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 50, 3)

    by_id = (await admin.get("/api/skills")).json()
    assert [item["name"] for item in by_id["items"]] == [
        "delta",
        "alpha",
        "echo",
        "charlie",
        "bravo",
    ]


async def test_list_refuses_a_limit_over_500_and_an_unknown_sort_field(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    assert "query.limit" in fields(await admin.get("/api/skills", params={"limit": 501}))
    assert "query.offset" in fields(await admin.get("/api/skills", params={"offset": -1}))
    assert "query.sort" in fields(await admin.get("/api/skills", params={"sort": "password"}))
    assert (await admin.get("/api/skills", params={"limit": 500})).status_code == 200


async def test_search_finds_text_anywhere_in_any_case_and_takes_wildcards_literally(
    api: Api,
) -> None:
    admin = await api.token_for(Role.ADMIN)
    await admin.post("/api/teams", json={"name": "Billing", "description": "Invoices"})
    await admin.post("/api/teams", json={"name": "Support", "description": "100% uptime"})
    await admin.post("/api/teams", json={"name": "Sales", "description": "Leads"})

    async def names(q: str) -> list[str]:
        response = await admin.get("/api/teams", params={"q": q, "sort": "name"})
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names("BILL") == ["Billing"]
    assert await names("voice") == ["Billing"]  # description is searched too
    assert await names("s") == ["Billing", "Sales", "Support"]
    assert await names("%") == ["Support"]
    assert await names("_") == []


async def test_filters_narrow_a_list_and_combine(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    for code, productive, active in (
        ("lunch", False, True),
        ("training", True, True),
        ("smoke", False, False),
    ):
        response = await admin.post(
            "/api/reason-codes",
            json={"code": code, "name": code, "is_productive": productive, "is_active": active},
        )
        assert response.status_code == 201, response.text

    async def codes(**params: Any) -> list[str]:
        response = await admin.get("/api/reason-codes", params=params)
        return [item["code"] for item in response.json()["items"]]

    assert await codes(is_active="false") == ["smoke"]
    assert await codes(is_active="true", is_productive="false") == ["lunch"]
    assert await codes(is_productive="true", sort="code") == ["training"]
    assert "query.is_active" in fields(await admin.get("/api/reason-codes?is_active=maybe"))


async def test_a_taken_unique_field_is_409_naming_the_field(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    await admin.post("/api/teams", json={"name": "Sales"})
    support = (await admin.post("/api/teams", json={"name": "Support"})).json()

    duplicate = await admin.post("/api/teams", json={"name": "Sales"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "duplicate"
    assert "name 'Sales'" in duplicate.json()["error"]["message"]

    renamed = await admin.patch(f"/api/teams/{support['id']}", json={"name": "Sales"})
    assert renamed.status_code == 409
    # Its own name is not a conflict.
    same = await admin.patch(f"/api/teams/{support['id']}", json={"name": "Support"})
    assert same.status_code == 200


async def test_concurrent_creates_of_one_name_give_one_201_and_one_409(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    responses = await asyncio.gather(
        admin.post("/api/skills", json={"name": "french"}),
        admin.post("/api/skills", json={"name": "french"}),
    )
    assert sorted(response.status_code for response in responses) == [201, 409]
    # Whether the check before the insert or the database's constraint caught it, the
    # answer names the field.
    (conflict,) = [response.json()["error"] for response in responses if response.is_error]
    assert conflict["code"] == "duplicate"
    assert "name" in conflict["message"]
    assert (await admin.get("/api/skills")).json()["total"] == 1


async def test_unknown_id_is_404_for_read_change_and_delete(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    for response in (
        await admin.get("/api/teams/999"),
        await admin.patch("/api/teams/999", json={"name": "x"}),
        await admin.delete("/api/teams/999"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "not_found",
            "message": "Team 999 does not exist.",
        }


async def test_invalid_fields_are_422_with_a_message_per_field(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    errors = fields(await admin.post("/api/teams", json={"name": "", "break_budget_minutes": -1}))
    assert set(errors) == {"name", "break_budget_minutes"}
    assert "at least 1 character" in errors["name"]
    errors = fields(await admin.post("/api/teams", json={"name": "Sales", "colour": "red"}))
    assert set(errors) == {"colour"}


async def test_patch_refuses_null_for_a_required_field_but_clears_an_optional_one(
    api: Api,
) -> None:
    admin = await api.token_for(Role.ADMIN)
    team = (
        await admin.post("/api/teams", json={"name": "Sales", "break_budget_minutes": 5})
    ).json()
    assert "name" in fields(await admin.patch(f"/api/teams/{team['id']}", json={"name": None}))
    cleared = await admin.patch(f"/api/teams/{team['id']}", json={"break_budget_minutes": None})
    assert cleared.status_code == 200
    assert cleared.json()["break_budget_minutes"] is None


async def test_a_patch_that_changes_nothing_is_not_audited(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    team = (await admin.post("/api/teams", json={"name": "Sales"})).json()
    assert (
        await admin.patch(f"/api/teams/{team['id']}", json={"name": "Sales"})
    ).status_code == 200
    assert [row.action for row in await audit_rows(api, "team")] == ["create"]


async def test_readers_may_not_write(api: Api) -> None:
    supervisor = await api.token_for(Role.SUPERVISOR)
    assert (await supervisor.get("/api/teams")).status_code == 200
    refused = await supervisor.post("/api/teams", json={"name": "Sales"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    agent = await api.token_for(Role.AGENT)
    assert (await agent.get("/api/teams")).status_code == 403
    assert (await agent.get("/api/skills")).status_code == 200
