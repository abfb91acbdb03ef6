"""Every route declares who may call it, and the application keeps to it.

The routes are read from the built application, so a route any package adds later is
covered without touching this file: it must carry exactly one `RoleRequirement` (from
`require_roles`, possibly nested in other dependencies) or the `public` marker, and
then every route is called as each role and anonymously:

- anonymous on a non-public route: 401 (a page may instead redirect to /login);
- a role outside the requirement: 403;
- a role inside it (everyone, on a public route): not refused, whatever else happens
  with the empty body it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, RouteContext, iter_route_contexts

from parley.platform.models import Role
from parley.platform.web.deps import RoleRequirement, public
from tests.conftest import Api

# FastAPI's own documentation routes: plain Starlette routes without dependencies.
DOCS_ROUTES = frozenset({"openapi", "swagger_ui_html", "swagger_ui_redirect", "redoc_html"})
ANONYMOUS = "anonymous"
# Admins go last: what they may do (delete the agent, say) must not spoil other calls.
CALLERS: tuple[str | Role, ...] = (ANONYMOUS, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def markers(dependant: Dependant) -> Iterator[object]:
    """The role requirements and `public` markers anywhere among a route's dependencies."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RoleRequirement) or dependency.call is public:
            yield dependency.call
        yield from markers(dependency)


def checked_routes(app: FastAPI) -> list[RouteContext]:
    """Every HTTP route as the application serves it: included routers resolved, with
    their prefixes and any dependencies added by `include_router`.

    Websocket routes are left out: the HTTP dependencies behind `require_roles` cannot
    run on a handshake, so a websocket checks its caller in its handler and its own tests
    show it. Any other kind of route fails here, since its roles could not be checked.
    """
    routes = []
    for route in iter_route_contexts(app.routes):
        if route.name in DOCS_ROUTES or isinstance(route.original_route, APIWebSocketRoute):
            continue
        assert isinstance(route.original_route, APIRoute), (
            f"{route.original_route!r} is not a FastAPI route, so its roles cannot be checked"
        )
        routes.append(route)
    return routes


def allowed_roles(route: RouteContext) -> frozenset[Role] | None:
    """The roles a route admits; None for a public route."""
    (marker,) = markers(route.dependant)
    return marker.roles if isinstance(marker, RoleRequirement) else None


def describe(route: RouteContext) -> str:
    return f"{','.join(sorted(route.methods or ()))} {route.path} ({route.name})"


async def test_every_route_declares_exactly_one_role_requirement_or_public(api: Api) -> None:
    undeclared = []
    for route in checked_routes(api.app):  # type: ignore[arg-type]
        found = list(markers(route.dependant))
        if len(found) != 1:
            undeclared.append(f"{describe(route)}: {len(found)} markers")
    assert not undeclared, "routes must declare require_roles(...) or Public once:\n" + "\n".join(
        undeclared
    )


async def seed(api: Api, clients: dict[Role, httpx.AsyncClient]) -> dict[str, int]:
    """One object of each kind, by the name of the path parameter that addresses it."""
    admin, agent = clients[Role.ADMIN], clients[Role.AGENT]

    async def create(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> int:
        response = await client.post(url, json=body)
        assert response.status_code == 201, response.text
        created: int = response.json()["id"]
        return created

    agent_id = (await agent.get("/api/auth/me")).json()["id"]
    skill_id = await create(admin, "/api/skills", {"name": "french"})
    queue_id = await create(
        admin,
        "/api/queues",
        {"name": "Sales", "channels": ["voice"], "skills": [{"skill_id": skill_id}]},
    )
    response = await admin.put(f"/api/users/{agent_id}/skills/{skill_id}", json={"level": 5})
    assert response.status_code == 200, response.text
    return {
        # The agent's own user: agents may read it, so a 404 cannot hide a 403.
        "user_id": agent_id,
        "skill_id": skill_id,
        "queue_id": queue_id,
        "team_id": await create(admin, "/api/teams", {"name": "Sales"}),
        "schedule_id": await create(admin, "/api/schedules", {"name": "Office"}),
        "reason_code_id": await create(admin, "/api/reason-codes", {"code": "lunch", "name": "L"}),
        "disposition_id": await create(admin, "/api/dispositions", {"code": "ok", "name": "OK"}),
        "contact_id": await create(agent, "/api/contacts", {"name": "Jan"}),
        # The agent's personal reply: others see it as absent (404), never as forbidden.
        "quick_reply_id": await create(agent, "/api/quick-replies", {"title": "t", "body": "b"}),
        # In the agent's queue, so agents may read and change it: a 404 cannot hide a 403.
        "case_id": await create(agent, "/api/cases", {"subject": "s", "queue_id": queue_id}),
        # Supervisors may read it and its snippet: a 404 cannot hide a 403.
        "chat_widget_id": await create(
            admin, "/api/chat-widgets", {"name": "S", "queue_id": queue_id}
        ),
        # A token no caller here authenticates with, so revoking it spoils nothing.
        "token_id": await create(admin, "/api/tokens", {"name": "spare"}),
        "email_template_id": await create(admin, "/api/email-templates", {"name": "Hello"}),
    }


def fill(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"{(\w+)(?::[^}]*)?}", lambda match: str(ids.get(match[1], 1)), path)


def refused(response: httpx.Response) -> bool:
    """Turned away by authentication or authorization, rather than by the route itself
    (a login form answers 401 to empty credentials: that is its job, not a refusal)."""
    if response.status_code == 403:
        return True
    if response.status_code != 401:
        return False
    try:
        return bool(response.json()["error"]["code"] == "not_authenticated")
    except (ValueError, KeyError, TypeError):
        return False


def sent_to_login(response: httpx.Response) -> bool:
    return response.is_redirect and response.headers["location"].startswith("/login")


def verdict(caller: str | Role, roles: frozenset[Role] | None, response: httpx.Response) -> str:
    """What is wrong with `response`, or "" when it is as declared."""
    status = response.status_code
    if roles is None:
        return f"refused ({status}) on a public route" if refused(response) else ""
    if caller == ANONYMOUS:
        ok = status == 401 or sent_to_login(response)
        return "" if ok else f"anonymous got {status}, expected 401"
    if caller not in roles:
        return "" if status == 403 else f"got {status}, expected 403"
    return f"refused ({status}) although allowed" if status in (401, 403) else ""


async def test_every_route_answers_each_role_as_it_declares(api: Api) -> None:
    clients = {
        role: await api.token_for(role) for role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
    }
    ids = await seed(api, clients)
    routes = checked_routes(api.app)  # type: ignore[arg-type]
    # Deletes last, so what one caller deletes is still there for the other calls.
    routes.sort(key=lambda route: "DELETE" in (route.methods or ()))
    assert len(routes) > 40  # the admin API alone has more; this is not an empty run

    wrong = []
    for caller in CALLERS:
        client = api.client if caller == ANONYMOUS else clients[caller]  # type: ignore[index]
        for route in routes:
            roles = allowed_roles(route)
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                response = await client.request(
                    method,
                    fill(route.path or "", ids),
                    json={} if method in BODY_METHODS else None,
                    follow_redirects=False,
                )
                problem = verdict(caller, roles, response)
                if problem:
                    wrong.append(
                        f"{caller} {method} {route.path}: {problem}: {response.text[:120]}"
                    )
    assert not wrong, "\n".join(wrong)


async def test_a_cookie_session_is_refused_the_same_way_as_a_token(api: Api) -> None:
    agent = await api.session_for(Role.AGENT)  # sends its CSRF token: only the role is wrong
    for method, url in (("POST", "/api/teams"), ("GET", "/api/users"), ("DELETE", "/api/teams/1")):
        response = await agent.request(method, url, json={} if method == "POST" else None)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    supervisor = await api.session_for(Role.SUPERVISOR)
    assert (await supervisor.get("/api/users")).status_code == 200
    assert (await supervisor.post("/api/teams", json={})).status_code == 403
