"""Logging in and out, sessions, API tokens and login throttling.

Failed logins are counted per username and per client address in the database, so the
limit holds across web replicas; a locked-out caller gets `LoginThrottled` with the
seconds to wait, whatever the password.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.auth.credentials import digest, new_api_token, new_secret
from parley.platform.auth.passwords import hash_password, needs_rehash, verify_password
from parley.platform.auth.principal import Principal
from parley.platform.db import Database
from parley.platform.errors import DomainError
from parley.platform.models import ApiToken, LoginAttempt, User, UserSession

log = structlog.get_logger(__name__)


class InvalidCredentials(DomainError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__("invalid_credentials", "Wrong username or password.")


class LoginThrottled(DomainError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "login_throttled", f"Too many failed logins. Try again in {retry_after} s."
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


def _principal(user: User, via: str, session: UserSession | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        language=user.language,
        via="session" if via == "session" else "token",
        session_id=session.id if session else None,
        csrf_token=session.csrf_token if session else None,
    )


async def _throttle_wait(
    db: AsyncSession, username: str, ip: str, policy: ThrottlePolicy, now: datetime
) -> int:
    """Seconds until the caller may try again; 0 when allowed."""
    since = now - policy.window
    for column, value in ((LoginAttempt.username, username), (LoginAttempt.ip, ip)):
        if column is LoginAttempt.ip and not ip:
            continue
        failures = await db.execute(
            select(func.count(), func.min(LoginAttempt.at)).where(
                column == value, LoginAttempt.at > since, LoginAttempt.succeeded.is_(False)
            )
        )
        count, oldest = failures.one()
        # Per address the limit is wider: one office may share one public address.
        limit = policy.max_failures * (1 if column is LoginAttempt.username else 4)
        if count >= limit and oldest is not None:
            return max(1, int((oldest + policy.window - now).total_seconds()))
    return 0


async def authenticate(
    database: Database,
    username: str,
    password: str,
    *,
    ip: str,
    now: datetime,
    policy: ThrottlePolicy,
) -> User:
    """The user with this password, or a typed error.

    Runs in its own transaction: a failed attempt must be counted even though the
    request that made it fails.
    """
    username = username.strip().lower()
    async with database.transaction() as db:
        wait = await _throttle_wait(db, username, ip, policy, now)
        if wait:
            log.warning("auth.login_throttled", username=username, ip=ip)
            raise LoginThrottled(wait)
        user = await db.scalar(select(User).where(User.username == username))
        # Argon2 is seconds of CPU under load by design: off the event loop, so one login
        # does not stall every socket of the process.
        is_valid = await asyncio.to_thread(
            verify_password, user.password_hash if user else None, password
        )
        succeeded = user is not None and is_valid and user.is_active
        db.add(LoginAttempt(username=username, ip=ip, at=now, succeeded=succeeded))
        await db.execute(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=30)))
        if user is not None and succeeded and needs_rehash(user.password_hash):
            user.password_hash = await asyncio.to_thread(hash_password, password)
    if user is None or not succeeded:
        log.info("auth.login_failed", username=username, ip=ip)
        raise InvalidCredentials()
    return user


async def open_session(
    db: AsyncSession,
    user: User,
    *,
    now: datetime,
    ttl: timedelta,
    ip: str = "",
    user_agent: str = "",
) -> NewSession:
    cookie_value = new_secret()
    session = UserSession(
        id=digest(cookie_value),
        user_id=user.id,
        csrf_token=new_secret(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + ttl,
        ip=ip,
        user_agent=user_agent[:400],
    )
    db.add(session)
    await db.flush()
    return NewSession(
        cookie_value, session.csrf_token, session.expires_at, _principal(user, "session", session)
    )


async def resolve_session(
    db: AsyncSession, cookie_value: str, *, now: datetime, ttl: timedelta
) -> Principal | None:
    """The session's principal, sliding its expiry; None when unknown, expired or inactive."""
    row = await db.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == digest(cookie_value))
    )
    found = row.first()
    if found is None:
        return None
    session, user = found
    if session.expires_at <= now or not user.is_active:
        await db.delete(session)
        return None
    # Touch at most once a minute: a busy desktop must not write on every request.
    if now - session.last_seen_at > timedelta(minutes=1):
        session.last_seen_at = now
        session.expires_at = now + ttl
    return _principal(user, "session", session)


async def close_session(db: AsyncSession, session_id: str) -> None:
    await db.execute(delete(UserSession).where(UserSession.id == session_id))


async def close_user_sessions(db: AsyncSession, user_id: int) -> None:
    await db.execute(delete(UserSession).where(UserSession.user_id == user_id))


async def issue_api_token(
    db: AsyncSession, user: User, name: str, *, now: datetime, expires_at: datetime | None
) -> tuple[ApiToken, str]:
    """A new token row and the token itself, which is shown once and never stored."""
    token = new_api_token()
    row = ApiToken(
        name=name,
        user_id=user.id,
        token_hash=digest(token),
        prefix=token[:12],
        created_at=now,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    return row, token


async def resolve_api_token(db: AsyncSession, token: str, *, now: datetime) -> Principal | None:
    row = await db.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(token))
    )
    found = row.first()
    if found is None:
        return None
    api_token, user = found
    if api_token.revoked_at is not None or not user.is_active:
        return None
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    if api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1):
        await db.execute(
            update(ApiToken).where(ApiToken.id == api_token.id).values(last_used_at=now)
        )
    return _principal(user, "token")
