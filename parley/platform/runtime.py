"""The long-lived parts one process shares: settings, database, bus, job runner, clock.

`Runtime.start()` opens them in order and `stop()` closes them in reverse, so every
background task is owned and cancelled on shutdown (STYLE.md, Async).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from parley.platform.bus import Bus, create_bus
from parley.platform.clock import Clock, SystemClock
from parley.platform.config import Settings
from parley.platform.db import Database, create_database
from parley.platform.jobs import JobRunner, create_runner

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    bus: Bus
    jobs: JobRunner
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        settings.ensure_data_dir()
        return cls(
            settings=settings,
            database=create_database(settings.resolved_database_url),
            bus=create_bus(settings.bus_url),
            jobs=create_runner(settings.jobs_url, settings),
            clock=clock or SystemClock(),
        )

    async def start(self) -> None:
        await self.bus.start()
        await self.jobs.start()
        log.info("runtime.started", roles=self.settings.roles)

    async def stop(self) -> None:
        await self.jobs.close()
        await self.bus.close()
        await self.database.dispose()
        log.info("runtime.stopped")
