"""Logging in and out, sessions, CSRF, API tokens and login throttling, over HTTP."""

from __future__ import annotations

from sqlalchemy import select

from parley.platform.models import AuditLog, Role
from tests.conftest import PASSWORD, Api


async def test_login_sets_an_httponly_samesite_session_cookie(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    response = await api.client.post(
        "/api/auth/login", json={"username": "Anna", "password": PASSWORD}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "parley_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert response.json()["role"] == "agent"
    me = await api.client.get("/api/auth/me")
    assert me.json()["username"] == "anna"


async def test_wrong_password_is_401_and_unknown_user_looks_the_same(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    wrong = await api.client.post("/api/auth/login", json={"username": "anna", "password": "x"})
    unknown = await api.client.post("/api/auth/login", json={"username": "bob", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_sixth_failed_login_is_throttled_even_with_the_right_password(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    for _ in range(5):
        response = await api.client.post(
            "/api/auth/login", json={"username": "anna", "password": "nope"}
        )
        assert response.status_code == 401
    response = await api.client.post(
        "/api/auth/login", json={"username": "anna", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "login_throttled"
    assert int(response.headers["retry-after"]) > 0


async def test_state_change_with_cookie_but_without_csrf_token_is_refused(api: Api) -> None:
    client = await api.session_for(Role.AGENT)
    token = client.headers.pop("X-CSRF-Token")
    refused = await client.post("/api/tokens", json={"name": "x"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    accepted = await client.post("/api/tokens", json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 201


async def test_logout_ends_the_session(api: Api) -> None:
    client = await api.session_for(Role.SUPERVISOR)
    assert (await client.post("/api/auth/logout")).status_code == 204
    client.cookies.clear()
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_api_token_authenticates_and_stops_working_once_revoked(api: Api) -> None:
    session = await api.session_for(Role.ADMIN)
    created = (await session.post("/api/tokens", json={"name": "crm"})).json()
    assert created["token"].startswith("prl_")
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert (await api.client.get("/api/auth/me", headers=bearer)).status_code == 200
    assert (await session.delete(f"/api/tokens/{created['id']}")).status_code == 204
    assert (await api.client.get("/api/auth/me", headers=bearer)).status_code == 401
    listed = (await session.get("/api/tokens")).json()
    assert "token" not in listed[0]
    assert listed[0]["revoked_at"] is not None


async def test_login_is_audited_without_secrets(api: Api) -> None:
    client = await api.session_for(Role.ADMIN)
    await client.post("/api/tokens", json={"name": "crm"})
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        rows = (await db.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    assert [row.action for row in rows] == ["login", "create"]
    assert all("token" not in str(row.changes).lower().replace("api_token", "") for row in rows)


async def test_unauthenticated_request_gets_401_with_error_shape(api: Api) -> None:
    response = await api.client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Log in or send an API token."}
    }
