"""The long-lived parts one process shares: settings, database, bus, job runner, clock,
the engine when this process runs the `engine` role, and the channels' services (the
voice connector, mailbox readers) that the composition root adds.

`Runtime.start()` opens them in order and `stop()` closes them in reverse, so every
background task is owned and cancelled on shutdown (STYLE.md, Async). A service may add a
readiness check: `/readyz` reports it beside the database's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.agents.protocol import CallCommand, HelpClear, HelpRaise
from parley.platform.auth.passwords import configure as configure_password_hashing
from parley.platform.bus import Bus, create_bus
from parley.platform.clock import Clock, SystemClock
from parley.platform.config import Settings
from parley.platform.db import Database, create_database
from parley.platform.engine import Engine
from parley.platform.errors import DomainError
from parley.platform.jobs import JobRunner, create_runner

log = structlog.get_logger(__name__)


class EngineUnavailable(DomainError):
    status_code = 503

    def __init__(self) -> None:
        super().__init__("engine_unavailable", "This process does not run the engine role.")


class Service(Protocol):
    """A channel's long-running part, started after the engine and stopped before it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# None when ready, else why not (shown by /readyz).
ReadinessCheck = Callable[[], str | None]


class Mailer(Protocol):
    """Notification mail for the other channels (a chat's offline message to the team),
    provided by the email channel: platform and the channels cannot import it."""

    async def add_notification(
        self, db: AsyncSession, queue_id: int, to: str, subject: str, text: str
    ) -> int | None:
        """Store the mail in `db`'s transaction, from the queue's mailbox; its id, or
        None when the queue has no mailbox that sends."""
        ...

    async def deliver(self, message_id: int) -> None:
        """Send a stored mail once its transaction committed (failures are recorded)."""
        ...


# (agent id, frame): the agent socket's `call.command` frames, carried out by the
# telephony role (platform cannot import it); returns the result fields of the ack.
CallCommandHandler = Callable[[int, CallCommand], Awaitable[dict[str, Any]]]

# (agent id, action, SDP): the agent socket's `line.offer` ("offer", the browser's SDP)
# and `line.hangup` ("hangup", None) frames, for the media role's gateway; an offer
# returns the complete answer SDP.
LineSignalHandler = Callable[[int, str, str | None], Awaitable[str | None]]

# (agent id): the agent's browser line as the media gateway sees it now (`status`,
# `codec`, `in_call`, as in `line.status` events), None without a line; for the agent
# socket's snapshot, so a reconnecting desktop knows its line.
LineStatusLookup = Callable[[int], Awaitable[dict[str, Any] | None]]

# (agent id, frame): the agent socket's `help.raise` / `help.clear` frames, for the
# telephony role; returns the result fields of the ack.
HelpHandler = Callable[[int, HelpRaise | HelpClear], Awaitable[dict[str, Any]]]


@dataclass
class Runtime:
    settings: Settings
    database: Database
    bus: Bus
    jobs: JobRunner
    clock: Clock = field(default_factory=SystemClock)
    engine: Engine | None = None
    services: list[Service] = field(default_factory=list)
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    call_commands: CallCommandHandler | None = None
    line_signals: LineSignalHandler | None = None
    line_status: LineStatusLookup | None = None
    help_requests: HelpHandler | None = None
    mailer: Mailer | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        settings.ensure_data_dir()
        configure_password_hashing(
            time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
        )
        runtime = cls(
            settings=settings,
            database=create_database(settings.resolved_database_url),
            bus=create_bus(settings.bus_url),
            jobs=create_runner(settings.jobs_url, settings),
            clock=clock or SystemClock(),
        )
        if "engine" in settings.roles:
            runtime.engine = Engine(
                runtime.database,
                runtime.bus,
                runtime.clock,
                presence_timeout=settings.presence_timeout_seconds,
            )
        return runtime

    def require_engine(self) -> Engine:
        if self.engine is None:
            raise EngineUnavailable()
        return self.engine

    async def start(self) -> None:
        await self.bus.start()
        await self.jobs.start()
        if self.engine is not None:
            await self.engine.start(run_loop=self.settings.engine_ticks)
        for service in self.services:
            await service.start()
        log.info("runtime.started", roles=self.settings.roles)

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()
        if self.engine is not None:
            await self.engine.stop()
        await self.jobs.close()
        await self.bus.close()
        await self.database.dispose()
        log.info("runtime.stopped")
