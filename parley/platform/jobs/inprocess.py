"""The job runner of the embedded mode: each job is an asyncio task of this process.

Nothing survives a restart (a pending delayed job is lost), which is the price of needing
no broker; the scaled stack uses `CeleryRunner` for durable jobs. Periodic jobs
(`@job(..., every=...)`) are enqueued here once per interval, the first one interval
after `start()`.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from typing import Any
from uuid import uuid4

import structlog

from parley.platform.config import Settings
from parley.platform.jobs.base import (
    JobContext,
    RunnerNotRunning,
    check_schedule,
    prepare_payload,
    retry_backoff,
)
from parley.platform.jobs.registry import JobFunction, JobRegistry, load_job_modules, registry

log = structlog.get_logger(__name__)


class InProcessRunner:
    def __init__(
        self,
        settings: Settings,
        *,
        jobs: JobRegistry = registry,
        retry_base_seconds: float = 1.0,
        retry_cap_seconds: float = 300.0,
        stop_timeout_seconds: float = 5.0,
    ) -> None:
        self._settings = settings
        self._stop_timeout = stop_timeout_seconds
        self._jobs = jobs
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._tickers: list[asyncio.Task[None]] = []
        self._running = False
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs waiting for their delay, running, or waiting to retry."""
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Return once no job is pending (jobs enqueued meanwhile included): for tests, and
        for callers that want queued work done before they go on."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def start(self) -> None:
        if self._closed:
            raise RunnerNotRunning("a closed runner cannot be started again")
        load_job_modules()
        self._running = True
        self._tickers = [
            asyncio.create_task(self._tick(name, every.total_seconds()), name=f"jobs-every:{name}")
            for name, every in sorted(self._jobs.periodic().items())
        ]

    async def _tick(self, name: str, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.enqueue(name, {})
            except RunnerNotRunning:
                return

    async def enqueue(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        delay: timedelta | None = None,
        max_retries: int = 3,
    ) -> str:
        if not self._running:
            raise RunnerNotRunning("start the runner before enqueueing")
        function = self._jobs.get(name)
        delay_seconds = check_schedule(delay, max_retries)
        plain_payload = prepare_payload(payload)
        job_id = uuid4().hex
        task = asyncio.create_task(
            self._run(function, name, job_id, plain_payload, delay_seconds, max_retries),
            name=f"job:{name}:{job_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job_id

    async def close(self) -> None:
        self._running = False
        self._closed = True
        for ticker in self._tickers:
            ticker.cancel()
        if self._tickers:
            await asyncio.wait(self._tickers)
        self._tickers = []
        tasks = set(self._tasks)
        if not tasks:
            return
        pending = tasks
        deadline = asyncio.get_running_loop().time() + self._stop_timeout
        while pending and asyncio.get_running_loop().time() < deadline:
            # Cancel again on every round: on Python 3.11 a cancellation can be swallowed
            # by asyncio.wait_for inside a library the job awaits (redis-py does this).
            for task in pending:
                task.cancel()
            # wait() rather than gather(): the jobs' CancelledErrors are expected here.
            _done, pending = await asyncio.wait(pending, timeout=0.1)
        log.info("jobs.cancelled_on_close", count=len(tasks) - len(pending))
        if pending:
            log.error(
                "jobs.did_not_stop",
                jobs=sorted(task.get_name() for task in pending),
                timeout=self._stop_timeout,
            )

    async def _run(
        self,
        function: JobFunction,
        name: str,
        job_id: str,
        payload: dict[str, Any],
        delay_seconds: float,
        max_retries: int,
    ) -> None:
        if delay_seconds > 0:
            await asyncio.sleep(delay_seconds)
        for attempt in range(max_retries + 1):
            context = JobContext(self._settings, job_name=name, job_id=job_id, attempt=attempt)
            try:
                # A fresh copy per attempt, as a Celery retry would deliver: a job that
                # changed its payload before failing must not see the change on retry.
                await function(context, copy.deepcopy(payload))
            except Exception as exc:
                # Only names, ids and the error: payloads may hold addresses or tokens.
                if attempt >= max_retries:
                    log.error(
                        "job.failed",
                        job=name,
                        job_id=job_id,
                        attempts=attempt + 1,
                        error=repr(exc),
                        exc_info=exc,
                    )
                    return
                wait = retry_backoff(
                    attempt, base_seconds=self._retry_base, cap_seconds=self._retry_cap
                )
                log.warning(
                    "job.retrying",
                    job=name,
                    job_id=job_id,
                    attempt=attempt + 1,
                    retry_in=wait,
                    error=repr(exc),
                )
                await asyncio.sleep(wait)
            else:
                return
