"""Quick replies, shared and personal, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from parley.platform.models import Role
from tests.conftest import Api, audit_rows


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body = {"title": body.get("shortcut") or "reply", "body": "Hello!", **body}
    response = await client.post("/api/quick-replies", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def titles(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/quick-replies", params={"sort": "title", **params})
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_everyone_sees_shared_replies_and_only_their_own_personal_ones(api: Api) -> None:
    supervisor = await api.token_for(Role.SUPERVISOR)
    anna = await api.token_for(Role.AGENT)
    bob = await api.token_for(Role.AGENT)
    shared = await create(supervisor, title="greeting", scope="shared")
    mine = await create(anna, title="anna's")
    await create(bob, title="bob's")

    assert shared["scope"] == "shared"
    assert shared["owner_id"] is None
    assert mine["scope"] == "personal"
    assert mine["owner_id"] == (await anna.get("/api/auth/me")).json()["id"]

    assert await titles(anna) == ["anna's", "greeting"]
    assert await titles(anna, scope="personal") == ["anna's"]
    assert await titles(anna, scope="shared") == ["greeting"]
    assert await titles(supervisor) == ["greeting"]
    assert (await anna.get(f"/api/quick-replies/{shared['id']}")).status_code == 200
    for response in (
        await bob.get(f"/api/quick-replies/{mine['id']}"),
        await bob.patch(f"/api/quick-replies/{mine['id']}", json={"title": "stolen"}),
        await bob.delete(f"/api/quick-replies/{mine['id']}"),
        await supervisor.delete(f"/api/quick-replies/{mine['id']}"),
    ):
        assert response.status_code == 404


async def test_only_supervisors_and_admins_manage_shared_replies(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    admin = await api.token_for(Role.ADMIN)
    refused = await agent.post(
        "/api/quick-replies", json={"title": "x", "body": "y", "scope": "shared"}
    )
    assert refused.status_code == 403
    assert "shared quick replies" in refused.json()["error"]["message"]

    shared = await create(admin, title="greeting", scope="shared")
    url = f"/api/quick-replies/{shared['id']}"
    assert (await agent.patch(url, json={"body": "Bye"})).status_code == 403
    assert (await agent.delete(url)).status_code == 403
    mine = await create(agent, title="mine")
    going_public = await agent.patch(f"/api/quick-replies/{mine['id']}", json={"scope": "shared"})
    assert going_public.status_code == 403

    supervisor = await api.token_for(Role.SUPERVISOR)
    changed = await supervisor.patch(url, json={"body": "Good day!", "folder": "Openers"})
    assert changed.status_code == 200
    assert (changed.json()["body"], changed.json()["scope"]) == ("Good day!", "shared")
    assert (await supervisor.delete(url)).status_code == 204


async def test_a_user_manages_their_own_personal_replies(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    mine = await create(agent, title="mine", shortcut="/hi", folder="Openers")
    url = f"/api/quick-replies/{mine['id']}"
    changed = await agent.patch(url, json={"body": "Hi there", "shortcut": None})
    assert changed.status_code == 200
    assert (changed.json()["body"], changed.json()["shortcut"]) == ("Hi there", None)
    assert (await agent.delete(url)).status_code == 204
    assert [row.action for row in await audit_rows(api, "quick_reply")] == [
        "create",
        "update",
        "delete",
    ]


async def test_a_supervisor_can_share_a_personal_reply(api: Api) -> None:
    supervisor = await api.token_for(Role.SUPERVISOR)
    draft = await create(supervisor, title="draft")
    shared = await supervisor.patch(f"/api/quick-replies/{draft['id']}", json={"scope": "shared"})
    assert (shared.json()["scope"], shared.json()["owner_id"]) == ("shared", None)
    agent = await api.token_for(Role.AGENT)
    assert await titles(agent) == ["draft"]


async def test_shortcuts_are_unique_per_owner(api: Api) -> None:
    anna = await api.token_for(Role.AGENT)
    bob = await api.token_for(Role.AGENT)
    supervisor = await api.token_for(Role.SUPERVISOR)
    await create(anna, shortcut="/hi")
    await create(bob, shortcut="/hi")
    await create(supervisor, shortcut="/hi", scope="shared")

    for client, scope in ((anna, "personal"), (supervisor, "shared")):
        twice = await client.post(
            "/api/quick-replies",
            json={"title": "again", "body": "x", "shortcut": "/hi", "scope": scope},
        )
        assert twice.status_code == 409, scope
        assert "shortcut '/hi'" in twice.json()["error"]["message"]
    # Replies without a shortcut never clash.
    await create(anna, title="one")
    await create(anna, title="two")
    bad = await anna.post("/api/quick-replies", json={"title": "x", "body": "y", "shortcut": "a b"})
    assert bad.status_code == 422


async def test_quick_replies_filter_by_folder_and_search_text(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    await create(agent, title="Refund policy", body="Refunds take 5 days", folder="Billing")
    await create(agent, title="Greeting", body="Hello, how can I help?", folder="Openers")
    assert await titles(agent, folder="Billing") == ["Refund policy"]
    assert await titles(agent, q="HELP") == ["Greeting"]
    assert await titles(agent, q="refund") == ["Refund policy"]
