"""Browser tests: Parley served by a real uvicorn, Debian's Chromium driven by Playwright.

The browser reaches Parley through a TCP proxy of the test's own, so a test can cut the
network under a live page (every connection dropped, new ones refused) and restore it.
Screenshots of the states a test walks through are saved under `test-artifacts/e2e/`
(ignored by git) for a person to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.app import create_app
from parley.platform.auth.passwords import hash_password
from parley.platform.clock import SystemClock
from parley.platform.config import Settings
from parley.platform.db import create_database
from parley.platform.db.migrate import upgrade
from parley.platform.models import (
    AgentSkill,
    Case,
    Channel,
    ChatWidget,
    Contact,
    ContactIdentity,
    Direction,
    Disposition,
    Interaction,
    InteractionState,
    Queue,
    QueueSkill,
    QuickReply,
    ReasonCode,
    Role,
    Skill,
    Team,
    User,
)
from tests.conftest import PASSWORD, free_port, served, sign_in

CHROMIUM = Path(os.environ.get("PARLEY_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
# The site the seeded chat widget is embedded on, and what it greets visitors with.
WIDGET_SITE = "https://shop.example"
WIDGET_KEY = "w_e2e_shop"
WIDGET_GREETING = "Hello! I am here to help."

pytestmark = pytest.mark.e2e


class CuttableProxy:
    """A TCP proxy in front of Parley: `cut()` drops every connection and refuses new
    ones, as a network outage would; `restore()` lets them through again."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.is_cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.is_cut = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


@dataclass
class Seeded:
    agent_id: int
    other_agent_id: int
    supervisor_id: int
    queue_id: int
    contact_id: int
    case_id: int
    dispositions: dict[str, int] = field(default_factory=dict)
    widget_key: str = WIDGET_KEY


async def _seed(settings: Settings) -> Seeded:
    """A small contact center: a team with a break budget, two agents and a supervisor,
    a chat queue that requires a disposition with a site's chat widget on it, reason
    codes, a shared quick reply, and a known customer with an earlier call in their
    history."""
    settings.ensure_data_dir()
    database = create_database(settings.resolved_database_url)
    try:
        await upgrade(database)
        async with database.transaction() as db:
            team = Team(name="Front line", break_budget_minutes=60)
            skill = Skill(name="support")
            db.add_all([team, skill])
            await db.flush()

            def user(username: str, name: str, role: Role, language: str = "en") -> User:
                return User(
                    username=username,
                    display_name=name,
                    role=role,
                    language=language,
                    team_id=team.id,
                    password_hash=hash_password(PASSWORD),
                )

            agent = user("anna", "Anna Ivanova", Role.AGENT)
            other = user("piotr", "Piotr Nowak", Role.AGENT)
            supervisor = user("sam", "Sam Supervisor", Role.SUPERVISOR)
            queue = Queue(
                name="Support",
                channels=[Channel.CHAT.value, Channel.VOICE.value],
                offer_timeout_seconds=30,
                wrap_up_seconds=120,
                disposition_required=True,
            )
            db.add_all([agent, other, supervisor, queue])
            await db.flush()
            db.add_all(
                [
                    AgentSkill(user_id=agent.id, skill_id=skill.id, level=5),
                    AgentSkill(user_id=other.id, skill_id=skill.id, level=5),
                    QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=1),
                    ReasonCode(code="lunch", name="Lunch", max_duration_seconds=3600),
                    ReasonCode(code="training", name="Training", is_productive=True),
                    ChatWidget(
                        name="Shop",
                        public_key=WIDGET_KEY,
                        queue_id=queue.id,
                        allowed_origins=[WIDGET_SITE],
                        greeting=WIDGET_GREETING,
                    ),
                    QuickReply(
                        title="Invoice check",
                        shortcut="/invoice",
                        body="Let me check your invoice right away.",
                    ),
                ]
            )
            dispositions = {
                "resolved": Disposition(code="resolved", name="Resolved", is_success=True),
                "callback": Disposition(
                    code="callback", name="Callback requested", queue_id=queue.id
                ),
            }
            db.add_all(dispositions.values())
            contact = Contact(name="Jan Kowalski", company="Kowalski Sp. z o.o.")
            contact.identities = [
                ContactIdentity(kind="phone", value="+48601234567"),
                ContactIdentity(kind="email", value="jan@kowalski.example"),
            ]
            db.add(contact)
            await db.flush()
            case = Case(subject="Refund for March", contact_id=contact.id, queue_id=queue.id)
            db.add(case)
            await db.flush()
            earlier = SystemClock().now() - timedelta(days=3)
            db.add(
                Interaction(
                    channel=Channel.VOICE,
                    direction=Direction.INBOUND,
                    state=InteractionState.ENDED,
                    queue_id=queue.id,
                    agent_id=other.id,
                    contact_id=contact.id,
                    created_at=earlier,
                    answered_at=earlier,
                    ended_at=earlier + timedelta(minutes=4),
                    disposition_id=None,
                    wrap_up_notes="Asked about the March invoice",
                )
            )
            return Seeded(
                agent_id=agent.id,
                other_agent_id=other.id,
                supervisor_id=supervisor.id,
                queue_id=queue.id,
                contact_id=contact.id,
                case_id=case.id,
                dispositions={code: row.id for code, row in dispositions.items()},
            )
    finally:
        await database.dispose()


@dataclass
class Parley:
    """The served application, the proxy the browser goes through, and a supervisor's
    API client (straight to the server, so cutting the browser's network spares it)."""

    app: Any
    url: str
    proxy: CuttableProxy
    supervisor: httpx.AsyncClient
    seeded: Seeded

    async def offer_chat(self, **attributes: Any) -> int:
        response = await self.supervisor.post(
            "/api/interactions",
            json={
                "channel": "chat",
                "queue_id": self.seeded.queue_id,
                "contact_id": self.seeded.contact_id,
                "case_id": self.seeded.case_id,
                "attributes": {"name": "Jan Kowalski", **attributes},
            },
        )
        assert response.status_code == 201, response.text
        return int(response.json()["interaction_id"])

    async def interaction(self, interaction_id: int) -> Interaction:
        async with self.app.state.runtime.database.transaction() as db:
            row: Interaction = await db.get_one(Interaction, interaction_id)
            return row


def e2e_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        argon2_time_cost=1,
        argon2_memory_kib=8 * 1024,
        log_json=False,
        _env_file=None,  # type: ignore[call-arg]
        **overrides,
    )


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Parley]:
    settings = e2e_settings(tmp_path)
    seeded = await _seed(settings)
    async with serve_parley(settings, seeded) as served_parley:
        yield served_parley


@asynccontextmanager
async def serve_parley(settings: Settings, seeded: Seeded) -> AsyncIterator[Parley]:
    """The application on a real server, behind the cuttable proxy, with the
    supervisor's client signed in."""
    app = create_app(settings)
    async with (
        served(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as supervisor,
    ):
        proxy = CuttableProxy(port)
        await proxy.start()
        await sign_in(supervisor, "sam")
        try:
            yield Parley(app, f"http://127.0.0.1:{proxy.port}", proxy, supervisor, seeded)
        finally:
            await proxy.stop()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not installed at {CHROMIUM}: run scripts/install-chromium")
    pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
    return CHROMIUM


@pytest.fixture
def chromium_args() -> list[str]:
    """Chromium's command line; a test module overrides it to add flags of its own (the
    softphone's fake microphone)."""
    return CHROMIUM_ARGS


@pytest.fixture
async def browser(chromium_path: Path, chromium_args: list[str]) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path), args=chromium_args
        )
        try:
            yield browser
        finally:
            await browser.close()


class Screens:
    """Saves numbered screenshots of one test under test-artifacts/e2e/<test>/."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    async def shot(self, page: Any, what: str) -> None:
        self.count += 1
        await page.screenshot(path=str(self.folder / f"{self.count:02d}-{what}.png"))


@pytest.fixture
def screens(request: pytest.FixtureRequest) -> Screens:
    return Screens(request.node.name.replace("[", "-").replace("]", ""))


@pytest.fixture
async def page(browser: Any, parley: Parley) -> AsyncIterator[Any]:
    """A fresh browser profile at 1280 by 720, with page errors collected: a test fails if
    the desktop's scripts threw."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"the page threw: {errors}"


async def log_in(page: Any, parley: Parley, username: str = "anna") -> None:
    """Open the desktop as a person would: sent to the login form, then back."""
    await page.goto(f"{parley.url}/agent")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form.card button[type=submit]")
    await page.wait_for_url(f"{parley.url}/agent")
    await page.locator("#connection[data-online=true]").wait_for()
