"""Users (passwords, sessions, roles, the last admin), their skill levels, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from parley.platform.models import Role
from tests.conftest import PASSWORD, Api, audit_rows, fields

NEW_PASSWORD = "a much longer passphrase"


def new_user(**overrides: Any) -> dict[str, Any]:
    return {
        "username": "anna",
        "display_name": "Anna Nowak",
        "password": PASSWORD,
        "role": "agent",
        **overrides,
    }


async def my_id(client: httpx.AsyncClient) -> int:
    user_id: int = (await client.get("/api/auth/me")).json()["id"]
    return user_id


async def log_in(api: Api, username: str, password: str) -> httpx.Response:
    return await api.client.post(
        "/api/auth/login", json={"username": username, "password": password}
    )


async def test_created_user_can_log_in_and_no_password_is_ever_returned(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    created = await admin.post(
        "/api/users",
        json=new_user(username="Anna.K", email="Anna@Example.COM", capacity={"chat": 2}),
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "anna.k"
    assert user["email"] == "anna@example.com"
    assert user["capacity"] == {"chat": 2}
    assert (user["language"], user["is_active"], user["ready_on_login"]) == ("en", True, False)
    assert not {"password", "password_hash"} & user.keys()
    listed = (await admin.get("/api/users", params={"q": "anna"})).json()
    assert not {"password", "password_hash"} & listed["items"][0].keys()

    assert (await log_in(api, "anna.k", PASSWORD)).status_code == 200


async def test_default_capacity_is_one_call_three_chats_five_emails(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    user = (await admin.post("/api/users", json=new_user())).json()
    assert user["capacity"] == {"voice": 1, "chat": 3, "email": 5}


async def test_user_fields_are_validated_with_a_message_per_field(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    errors = fields(
        await admin.post(
            "/api/users",
            json=new_user(
                username="anna k",
                password="short",
                email="not-an-email",
                role="owner",
                language="de",
                capacity={"fax": 1},
            ),
        )
    )
    assert set(errors) == {
        "username",
        "password",
        "email",
        "role",
        "language",
        "capacity.fax.[key]",
    }
    assert "at least 8 characters" in errors["password"]
    assert "pattern" in errors["username"]
    assert "email" in errors["email"]

    missing_team = await admin.post("/api/users", json=new_user(team_id=42))
    assert fields(missing_team) == {"team_id": "Team 42 does not exist."}


async def test_username_and_email_are_unique(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    await admin.post("/api/users", json=new_user(email="anna@example.com"))
    taken = await admin.post("/api/users", json=new_user(username="ANNA"))
    assert taken.status_code == 409
    assert "username 'anna'" in taken.json()["error"]["message"]
    taken = await admin.post("/api/users", json=new_user(username="bob", email="ANNA@example.com"))
    assert taken.status_code == 409
    assert "email" in taken.json()["error"]["message"]
    # No email at all is not a shared email.
    assert (await admin.post("/api/users", json=new_user(username="c1"))).status_code == 201
    assert (await admin.post("/api/users", json=new_user(username="c2"))).status_code == 201


async def test_deactivating_a_user_ends_their_sessions_and_stops_their_login(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    agent = await api.session_for(Role.AGENT)
    agent_id = await my_id(agent)

    changed = await admin.patch(f"/api/users/{agent_id}", json={"is_active": False})
    assert changed.status_code == 200
    assert (await agent.get("/api/auth/me")).status_code == 401
    username = changed.json()["username"]
    assert (await log_in(api, username, PASSWORD)).status_code == 401


async def test_a_new_role_ends_the_users_sessions(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    agent = await api.session_for(Role.AGENT)
    agent_id = await my_id(agent)
    changed = await admin.patch(f"/api/users/{agent_id}", json={"role": "supervisor"})
    assert changed.json()["role"] == "supervisor"
    assert (await agent.get("/api/auth/me")).status_code == 401


async def test_a_new_password_ends_sessions_and_replaces_the_old_one(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    agent = await api.session_for(Role.AGENT)
    agent_id = await my_id(agent)
    username = (await agent.get("/api/auth/me")).json()["username"]

    too_short = await admin.patch(f"/api/users/{agent_id}", json={"password": "1234567"})
    assert "password" in fields(too_short)
    changed = await admin.patch(f"/api/users/{agent_id}", json={"password": NEW_PASSWORD})
    assert changed.status_code == 200
    assert (await agent.get("/api/auth/me")).status_code == 401
    assert (await log_in(api, username, PASSWORD)).status_code == 401
    assert (await log_in(api, username, NEW_PASSWORD)).status_code == 200


async def test_other_changes_keep_the_users_sessions(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    agent = await api.session_for(Role.AGENT)
    agent_id = await my_id(agent)
    await admin.patch(f"/api/users/{agent_id}", json={"display_name": "Anna", "language": "pl"})
    assert (await agent.get("/api/auth/me")).json()["language"] == "pl"


async def test_user_audit_shows_changes_but_never_a_password(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    user = (await admin.post("/api/users", json=new_user())).json()
    await admin.patch(f"/api/users/{user['id']}", json={"password": NEW_PASSWORD, "role": "admin"})
    await admin.delete(f"/api/users/{user['id']}")

    logins_aside = [row for row in await audit_rows(api, "user") if row.action != "login"]
    create, update, delete = logins_aside
    assert create.changes["username"] == {"old": None, "new": "anna"}
    assert create.changes["password"] == "***"
    assert update.changes == {"password": "***", "role": {"old": "agent", "new": "admin"}}
    assert delete.action == "delete"
    for row in (create, update, delete):
        text = str(row.changes)
        assert PASSWORD not in text
        assert NEW_PASSWORD not in text
        assert "argon2" not in text
        assert "password_hash" not in text


async def test_agents_read_only_their_own_user_and_supervisors_read_all(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    agent_id = await my_id(agent)
    other_id = await api.create_user(Role.AGENT)

    assert (await agent.get(f"/api/users/{agent_id}")).json()["id"] == agent_id
    assert (await agent.get(f"/api/users/{other_id}")).status_code == 404
    assert (await agent.get("/api/users")).status_code == 403
    assert (await agent.patch(f"/api/users/{agent_id}", json={"role": "admin"})).status_code == 403

    supervisor = await api.token_for(Role.SUPERVISOR)
    assert (await supervisor.get(f"/api/users/{other_id}")).status_code == 200
    assert (await supervisor.get("/api/users")).json()["total"] == 3
    refused = await supervisor.patch(f"/api/users/{other_id}", json={"display_name": "x"})
    assert refused.status_code == 403


async def test_users_filter_by_role_team_and_activity(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    team = (await admin.post("/api/teams", json={"name": "Sales"})).json()
    await admin.post("/api/users", json=new_user(username="a1", team_id=team["id"]))
    await admin.post("/api/users", json=new_user(username="a2", is_active=False))
    await admin.post("/api/users", json=new_user(username="s1", role="supervisor"))

    async def usernames(**params: Any) -> list[str]:
        response = await admin.get("/api/users", params={"sort": "username", **params})
        assert response.status_code == 200, response.text
        return [item["username"] for item in response.json()["items"]]

    assert await usernames(role="agent") == ["a1", "a2"]
    assert await usernames(team_id=team["id"]) == ["a1"]
    assert await usernames(is_active="false") == ["a2"]
    assert await usernames(role="supervisor", q="S1") == ["s1"]


async def test_the_last_active_admin_cannot_be_demoted_deactivated_or_deleted(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    admin_id = await my_id(admin)
    for change in ({"role": "supervisor"}, {"is_active": False}):
        refused = await admin.patch(f"/api/users/{admin_id}", json=change)
        assert refused.status_code == 409, change
        assert refused.json()["error"]["code"] == "last_admin"
    assert (await admin.delete(f"/api/users/{admin_id}")).status_code == 409
    assert (await admin.get(f"/api/users/{admin_id}")).json()["role"] == "admin"

    await admin.post("/api/users", json=new_user(username="boss", role="admin"))
    assert (await admin.patch(f"/api/users/{admin_id}", json={"role": "agent"})).status_code == 200


async def test_deleted_user_is_gone(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    user = (await admin.post("/api/users", json=new_user())).json()
    assert (await admin.delete(f"/api/users/{user['id']}")).status_code == 204
    assert (await admin.get(f"/api/users/{user['id']}")).status_code == 404
    assert (await log_in(api, "anna", PASSWORD)).status_code == 401


async def test_agent_skill_levels_are_set_listed_changed_and_removed(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    user = (await admin.post("/api/users", json=new_user())).json()
    french = (await admin.post("/api/skills", json={"name": "french"})).json()
    billing = (await admin.post("/api/skills", json={"name": "billing"})).json()
    skills_url = f"/api/users/{user['id']}/skills"

    put = await admin.put(f"{skills_url}/{french['id']}", json={"level": 7})
    assert put.status_code == 200
    assert put.json() == {"skill_id": french["id"], "name": "french", "level": 7}
    await admin.put(f"{skills_url}/{billing['id']}", json={"level": 3})
    await admin.put(f"{skills_url}/{french['id']}", json={"level": 10})
    assert (await admin.get(skills_url)).json() == [
        {"skill_id": billing["id"], "name": "billing", "level": 3},
        {"skill_id": french["id"], "name": "french", "level": 10},
    ]

    assert (await admin.delete(f"{skills_url}/{billing['id']}")).status_code == 204
    assert [item["name"] for item in (await admin.get(skills_url)).json()] == ["french"]
    assert (await admin.delete(f"{skills_url}/{billing['id']}")).status_code == 404

    rows = await audit_rows(api, "agent_skill")
    assert [(row.action, row.changes) for row in rows] == [
        ("create", {"level": {"old": None, "new": 7}}),
        ("create", {"level": {"old": None, "new": 3}}),
        ("update", {"level": {"old": 7, "new": 10}}),
        ("delete", {"level": {"old": 3, "new": None}}),
    ]
    assert rows[0].entity_id == f"{user['id']}:{french['id']}"


async def test_skill_level_must_be_1_to_10_and_both_ids_must_exist(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    user = (await admin.post("/api/users", json=new_user())).json()
    skill = (await admin.post("/api/skills", json={"name": "french"})).json()
    url = f"/api/users/{user['id']}/skills/{skill['id']}"
    assert "level" in fields(await admin.put(url, json={"level": 11}))
    assert "level" in fields(await admin.put(url, json={"level": 0}))
    missing_skill = await admin.put(f"/api/users/{user['id']}/skills/999", json={"level": 5})
    assert missing_skill.status_code == 404
    assert missing_skill.json()["error"]["message"] == "Skill 999 does not exist."
    missing_user = await admin.put(f"/api/users/999/skills/{skill['id']}", json={"level": 5})
    assert missing_user.status_code == 404


async def test_deleting_a_skill_removes_it_from_agents(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    user = (await admin.post("/api/users", json=new_user())).json()
    skill = (await admin.post("/api/skills", json={"name": "french"})).json()
    await admin.put(f"/api/users/{user['id']}/skills/{skill['id']}", json={"level": 5})
    assert (await admin.delete(f"/api/skills/{skill['id']}")).status_code == 204
    assert (await admin.get(f"/api/users/{user['id']}/skills")).json() == []


async def test_agents_read_their_own_skills_only_and_change_none(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    agent = await api.token_for(Role.AGENT)
    agent_id = await my_id(agent)
    other_id = await api.create_user(Role.AGENT)
    skill = (await admin.post("/api/skills", json={"name": "french"})).json()
    await admin.put(f"/api/users/{agent_id}/skills/{skill['id']}", json={"level": 4})

    assert (await agent.get(f"/api/users/{agent_id}/skills")).json()[0]["level"] == 4
    assert (await agent.get(f"/api/users/{other_id}/skills")).status_code == 404
    refused = await agent.put(f"/api/users/{agent_id}/skills/{skill['id']}", json={"level": 10})
    assert refused.status_code == 403
