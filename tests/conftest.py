"""Shared fixtures: settings in a temporary data dir, migrated databases (SQLite always,
PostgreSQL when PARLEY_TEST_DATABASE_URL is set), and HTTP clients for each role.

In CI (`CI=true`) a skipped test fails the run: every component is installed there,
so a skip means something is broken, not absent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from parley.app import create_app
from parley.platform.auth.passwords import hash_password
from parley.platform.clock import Clock, ManualClock
from parley.platform.config import Settings
from parley.platform.db import Base, create_database
from parley.platform.db.migrate import upgrade
from parley.platform.engine import Engine
from parley.platform.models import AuditLog, Role, User
from parley.telephony.pbx import free_port

# Asterisk for the voice and browser tests: fixtures `asterisk`, `pbx`, `agi_port`.
pytest_plugins = ["tests.pbx_fixtures"]

POSTGRES_URL = os.environ.get("PARLEY_TEST_DATABASE_URL", "")
PASSWORD = "correct horse battery"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") == "true" and skipped:
        terminalreporter.section("skips are failures in CI", red=True)
        for report in skipped:
            terminalreporter.write_line(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- databases ---------------------------------------------------------------------------


async def _migrate(url: str) -> None:
    database = create_database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy, which is much faster than migrating."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database on the test server, migrated once, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set PARLEY_TEST_DATABASE_URL")
    admin_url = make_url(POSTGRES_URL)
    name = f"parley_test_{uuid.uuid4().hex[:10]}"

    async def run_admin(statement: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    try:
        asyncio.run(run_admin(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        pytest.skip(f"PostgreSQL at PARLEY_TEST_DATABASE_URL unreachable: {exc}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_all(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "parley.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_truncate_all(url))
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        # The cheapest Argon2 allowed: tests log in often and prove logic, not cost.
        argon2_time_cost=1,
        argon2_memory_kib=8 * 1024,
        log_json=False,
        _env_file=None,  # type: ignore[call-arg]
    )


# --- the application and its callers ---------------------------------------------------


async def sign_in(client: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    """Log `client` in as `username` (password PASSWORD) through the login route, and
    send the session's CSRF token from then on."""
    response = await client.post(
        "/api/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def let_time_pass(clock: ManualClock, engine: Engine, seconds: float) -> None:
    """Move the clock on while every logged-in desktop keeps heartbeating (every 5 s),
    so nobody is logged out for silence."""
    while seconds > 0:
        step = min(seconds, 5.0)
        clock.advance(step)
        seconds -= step
        for view in engine.agents():
            engine.heartbeat(int(view.agent_id))


@asynccontextmanager
async def served(app: object) -> AsyncIterator[int]:
    """Serve `app` with a real uvicorn on a free loopback port (yielded), in this event
    loop, and shut it down on exit."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # startup failed: raise its error
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await serving


@dataclass
class Api:
    """An HTTP client against the app, with helpers to act as a given role."""

    app: object
    client: httpx.AsyncClient

    async def create_user(
        self, role: Role, username: str | None = None, *, password: str = PASSWORD
    ) -> int:
        runtime = self.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.database.transaction() as db:
            user = User(
                username=username or f"{role.value}-{uuid.uuid4().hex[:6]}",
                display_name=f"Test {role.value}",
                password_hash=hash_password(password),
                role=role,
            )
            db.add(user)
            await db.flush()
            return user.id

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),  # type: ignore[arg-type]
            base_url="http://testserver",
        )

    async def session_for(self, role: Role) -> httpx.AsyncClient:
        """A client logged in through the login route, sending its CSRF token."""
        user_id = await self.create_user(role)
        client = self._new_client()
        async with self.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            username = (await db.get_one(User, user_id)).username
        await sign_in(client, username)
        return client

    async def token_for(self, role: Role) -> httpx.AsyncClient:
        """A client authenticating with a bearer API token of a user with `role`."""
        session = await self.session_for(role)
        response = await session.post("/api/tokens", json={"name": "test"})
        assert response.status_code == 201, response.text
        await session.aclose()
        client = self._new_client()
        client.headers["Authorization"] = f"Bearer {response.json()['token']}"
        return client


async def audit_rows(api: Api, entity_type: str) -> list[AuditLog]:
    """The audit log of one entity type, oldest first."""
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        rows = await db.scalars(
            select(AuditLog).where(AuditLog.entity_type == entity_type).order_by(AuditLog.id)
        )
        return list(rows)


def fields(response: httpx.Response) -> dict[str, str]:
    """The field messages of a 422 answer, by field."""
    assert response.status_code == 422, response.text
    return {item["field"]: item["message"] for item in response.json()["error"]["fields"]}


@pytest.fixture
def clock() -> Clock | None:
    """The application's clock: None is the system clock. A test module overrides this
    with a ManualClock (and `settings` with `engine_ticks=False`) to move time by hand."""
    return None


@pytest.fixture
async def api(settings: Settings, clock: Clock | None) -> AsyncIterator[Api]:
    app = create_app(settings, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        yield Api(app, client)
