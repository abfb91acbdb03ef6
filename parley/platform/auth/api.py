"""REST routes for logging in and out and for the caller's own API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from parley.platform import audit
from parley.platform.auth.principal import Principal
from parley.platform.auth.service import (
    ThrottlePolicy,
    authenticate,
    close_session,
    issue_api_token,
    open_session,
)
from parley.platform.errors import NotFound
from parley.platform.models import ApiToken, Role, User
from parley.platform.web.deps import (
    SESSION_COOKIE,
    AnyUser,
    DbDep,
    Public,
    RuntimeDep,
    client_ip,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    language: str
    csrf_token: str | None = None


def _me(principal: Principal) -> Me:
    return Me(
        id=principal.user_id,
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role,
        language=principal.language,
        csrf_token=principal.csrf_token,
    )


async def log_in(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbDep,
    username: str,
    password: str,
) -> Principal:
    """Check the password, open a session and set its cookie on `response`."""
    settings = runtime.settings
    now = runtime.clock.now()
    policy = ThrottlePolicy(
        settings.login_max_failures, timedelta(seconds=settings.login_window_seconds)
    )
    ip = client_ip(request)
    user = await authenticate(runtime.database, username, password, ip=ip, now=now, policy=policy)
    session = await open_session(
        db,
        user,
        now=now,
        ttl=timedelta(hours=settings.session_ttl_hours),
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
    )
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie_value,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    await audit.record(db, session.principal, "login", "user", user.id, ip=ip)
    return session.principal


@router.post("/login", dependencies=[Public])
async def login(
    body: LoginRequest, request: Request, response: Response, runtime: RuntimeDep, db: DbDep
) -> Me:
    principal = await log_in(request, response, runtime, db, body.username, body.password)
    return _me(principal)


@router.post("/logout", status_code=204)
async def logout(principal: AnyUser, db: DbDep, response: Response) -> None:
    if principal.session_id:
        await close_session(db, principal.session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me")
async def me(principal: AnyUser) -> Me:
    return _me(principal)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; store it now.")


tokens_router = APIRouter(prefix="/api/tokens", tags=["auth"])


@tokens_router.get("")
async def list_tokens(principal: AnyUser, db: DbDep) -> list[TokenOut]:
    rows = await db.scalars(
        select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id)
    )
    return [TokenOut.model_validate(row, from_attributes=True) for row in rows]


@tokens_router.post("", status_code=201)
async def create_token(
    body: TokenCreate, principal: AnyUser, db: DbDep, runtime: RuntimeDep, request: Request
) -> TokenCreated:
    user = await db.get_one(User, principal.user_id)
    now = runtime.clock.now()
    expires_at = now + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    row, token = await issue_api_token(db, user, body.name, now=now, expires_at=expires_at)
    await audit.record(
        db, principal, "create", "api_token", row.id, {"name": body.name}, ip=client_ip(request)
    )
    return TokenCreated(
        **TokenOut.model_validate(row, from_attributes=True).model_dump(), token=token
    )


@tokens_router.delete("/{token_id}", status_code=204)
async def revoke_token(
    token_id: int, principal: AnyUser, db: DbDep, runtime: RuntimeDep, request: Request
) -> None:
    result = await db.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.user_id == principal.user_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=runtime.clock.now())
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound("API token", token_id)
    await audit.record(db, principal, "revoke", "api_token", token_id, ip=client_ip(request))
