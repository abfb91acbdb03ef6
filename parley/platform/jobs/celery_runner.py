"""The job runner of the scaled stack: jobs travel through the broker to Celery workers.

Every job goes through one Celery task, `parley.run_job`, whose message carries the job
name, id and JSON payload. The worker (see `celery_app.py`) looks the name up in the
registry and runs the async function with `asyncio.run`, retrying with exponential
backoff. Messages are acknowledged late and rejected when a worker dies, so a crash
redelivers a job instead of losing it: jobs must be idempotent.

With a Redis broker, a job not acknowledged within the visibility timeout (one hour here)
is delivered again, and a delayed job counts as unacknowledged while it waits; waits
longer than that belong to a scheduler that enqueues at the right time, not to `delay`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import uuid4

import structlog
from celery import Celery

from parley.platform.config import Settings
from parley.platform.jobs.base import (
    JobContext,
    RunnerNotRunning,
    check_schedule,
    prepare_payload,
    retry_backoff,
)
from parley.platform.jobs.registry import JobRegistry, UnknownJob, load_job_modules, registry

log = structlog.get_logger(__name__)

RUN_JOB_TASK = "parley.run_job"
DEFAULT_QUEUE = "parley.jobs"
VISIBILITY_TIMEOUT_SECONDS = 3600


def create_celery_app(
    settings: Settings,
    *,
    broker_url: str | None = None,
    jobs: JobRegistry = registry,
    set_as_current: bool = False,
) -> Celery:
    """A Celery app on `broker_url` (default `settings.jobs_url`) with `parley.run_job`."""
    app = Celery("parley", broker=broker_url or settings.jobs_url, set_as_current=set_as_current)
    app.conf.update(
        # JSON only: pickle from a shared broker would let anyone who can write to Redis
        # run code in the worker.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=DEFAULT_QUEUE,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        enable_utc=True,
        timezone="UTC",
    )

    def run_job(
        task: Any,
        *,
        job_id: str,
        name: str,
        payload: dict[str, Any],
        max_retries: int,
        retry_base_seconds: float,
        retry_cap_seconds: float,
    ) -> None:
        attempt = int(task.request.retries)
        load_job_modules()
        try:
            function = jobs.get(name)
        except UnknownJob:
            # The worker runs other code than the enqueuer (a deploy in progress, or a
            # module missing from JOB_MODULES); retrying would not fix it.
            log.error("job.unknown", job=name, job_id=job_id)
            raise
        context = JobContext(settings, job_name=name, job_id=job_id, attempt=attempt)
        try:
            asyncio.run(function(context, payload))
        except Exception as exc:
            # Only names, ids and the error: payloads may hold addresses or tokens.
            if attempt >= max_retries:
                # No traceback here: Celery logs it with the task failure right after.
                log.error(
                    "job.failed", job=name, job_id=job_id, attempts=attempt + 1, error=repr(exc)
                )
                raise
            wait = retry_backoff(
                attempt, base_seconds=retry_base_seconds, cap_seconds=retry_cap_seconds
            )
            log.warning(
                "job.retrying",
                job=name,
                job_id=job_id,
                attempt=attempt + 1,
                retry_in=wait,
                error=repr(exc),
            )
            raise task.retry(exc=exc, countdown=wait, max_retries=max_retries) from exc

    # shared=False: Celery would otherwise hand the first app's closure (and its settings)
    # to every app created later in the process.
    app.task(
        name=RUN_JOB_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, shared=False
    )(run_job)
    return app


def beat_schedule(jobs: JobRegistry = registry) -> dict[str, dict[str, Any]]:
    """Celery beat's schedule for the periodic jobs (`@job(..., every=...)`): each one
    goes through `parley.run_job` like any other job."""
    return {
        name: {
            "task": RUN_JOB_TASK,
            "schedule": every.total_seconds(),
            "kwargs": {
                "job_id": f"every-{name}",
                "name": name,
                "payload": {},
                "max_retries": 3,
                "retry_base_seconds": 1.0,
                "retry_cap_seconds": 300.0,
            },
            "options": {"queue": DEFAULT_QUEUE},
        }
        for name, every in sorted(jobs.periodic().items())
    }


class CeleryRunner:
    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        jobs: JobRegistry = registry,
        queue: str = DEFAULT_QUEUE,
        retry_base_seconds: float = 1.0,
        retry_cap_seconds: float = 300.0,
    ) -> None:
        self._app = create_celery_app(settings, broker_url=url, jobs=jobs)
        self._jobs = jobs
        self._queue = queue
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._running = False
        self._closed = False

    @property
    def app(self) -> Celery:
        return self._app

    async def start(self) -> None:
        if self._closed:
            raise RunnerNotRunning("a closed runner cannot be started again")
        load_job_modules()
        # Fail at start, with a clear error, when the broker is unreachable, rather than
        # at the first enqueue in the middle of a request.
        await asyncio.to_thread(self._check_broker)
        self._running = True
        log.info("jobs.celery_started", queue=self._queue)

    def _check_broker(self) -> None:
        with self._app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=2, interval_start=0.2, timeout=5)

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
        self._jobs.get(name)
        delay_seconds = check_schedule(delay, max_retries)
        plain_payload = prepare_payload(payload)
        job_id = uuid4().hex
        task = self._app.tasks[RUN_JOB_TASK]
        # Publishing is blocking socket I/O in kombu: keep it off the event loop.
        await asyncio.to_thread(
            task.apply_async,
            kwargs={
                "job_id": job_id,
                "name": name,
                "payload": plain_payload,
                "max_retries": max_retries,
                "retry_base_seconds": self._retry_base,
                "retry_cap_seconds": self._retry_cap,
            },
            task_id=job_id,
            countdown=delay_seconds or None,
            queue=self._queue,
            retry=True,
            retry_policy={
                "max_retries": 3,
                "interval_start": 0,
                "interval_step": 0.5,
                "interval_max": 2,
            },
        )
        return job_id

    async def close(self) -> None:
        self._running = False
        self._closed = True
        await asyncio.to_thread(self._app.close)
