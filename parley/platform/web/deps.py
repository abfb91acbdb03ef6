"""FastAPI dependencies: the runtime, a database transaction, and the caller's principal.

Every route declares who may call it with `require_roles(...)`. The returned dependency
carries its roles (`.roles`), which the endpoint-by-role matrix test reads, so a route
without one is caught.

Browsers authenticate with the session cookie; a request that changes state with a
cookie must carry the session's CSRF token (header `X-CSRF-Token`, or the form field
`csrf_token`). API clients authenticate with `Authorization: Bearer <token>` and need
no CSRF token, since browsers never attach that header on their own.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.auth.principal import Principal
from parley.platform.auth.service import resolve_api_token, resolve_session
from parley.platform.errors import DomainError, Forbidden
from parley.platform.models import Role
from parley.platform.runtime import Runtime

SESSION_COOKIE = "parley_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ALL_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
ADMINS = (Role.ADMIN,)


class NotAuthenticated(DomainError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__("not_authenticated", "Log in or send an API token.")


class CsrfFailed(DomainError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__("csrf_failed", "The form has expired. Reload the page and retry.")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_db(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    async with runtime.database.transaction() as session:
        yield session


# scope="function": commit before the response is sent, so a client never sees success
# for a write that then fails, nor races ahead of it (e.g. log in, then open a websocket).
DbDep = Annotated[AsyncSession, Depends(get_db, scope="function")]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def _csrf_token_from(request: Request) -> str:
    token = request.headers.get(CSRF_HEADER, "")
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def optional_principal(request: Request, runtime: RuntimeDep) -> Principal | None:
    """Who is calling, by API token or session cookie, resolved in a transaction of its
    own: touching the session or token commits at once, so the request's transaction
    holds no write lock while a route waits on the engine, whose writes (one writer at a
    time on SQLite) would otherwise wait for the request to end."""
    now = runtime.clock.now()
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        async with runtime.database.transaction() as db:
            return await resolve_api_token(db, credentials.strip(), now=now)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    ttl = timedelta(hours=runtime.settings.session_ttl_hours)
    async with runtime.database.transaction() as db:
        principal = await resolve_session(db, cookie, now=now, ttl=ttl)
    if principal is not None and request.method not in SAFE_METHODS:
        sent = await _csrf_token_from(request)
        if not hmac.compare_digest(sent, principal.csrf_token or ""):
            raise CsrfFailed()
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated()
    return principal


class RoleRequirement:
    """A dependency admitting only the given roles; `roles` is read by the matrix test."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = frozenset(roles)

    async def __call__(
        self, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if principal.role not in self.roles:
            raise Forbidden()
        return principal


def require_roles(*roles: Role) -> RoleRequirement:
    return RoleRequirement(roles)


AnyUser = Annotated[Principal, Depends(require_roles(*ALL_ROLES))]
Supervisor = Annotated[Principal, Depends(require_roles(*SUPERVISORS))]
Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]


async def public() -> None:
    """Marks a route anyone may call (log in, health checks); the matrix test expects
    every route to carry either this or a role requirement."""


Public = Depends(public)


def is_same_origin(websocket: WebSocket) -> bool:
    """Browsers send cookies with cross-site websocket handshakes; refuse other origins."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: no ambient cookie to abuse
    host = websocket.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def websocket_principal(websocket: WebSocket, runtime: Runtime) -> Principal | None:
    """The principal of a websocket handshake, by session cookie, from the same origin."""
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if not cookie or not is_same_origin(websocket):
        return None
    ttl = timedelta(hours=runtime.settings.session_ttl_hours)
    async with runtime.database.transaction() as db:
        return await resolve_session(db, cookie, now=runtime.clock.now(), ttl=ttl)
