"""Jobs the Celery integration test runs in a real worker (named in PARLEY_JOB_MODULES).

Each run appends a record to a Redis list, so the test can see which attempts happened
and when, from outside the worker process.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from parley.platform.jobs import JobContext, job


@job("tests.celery.record")
async def record(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Append {job_id, attempt, at, jobs_url} to `payload["key"]`, then fail while
    `attempt < payload["fail_times"]`."""
    async with Redis.from_url(payload["redis_url"], socket_timeout=5) as redis:
        entry = {
            "job_id": ctx.job_id,
            "attempt": ctx.attempt,
            "at": time.time(),
            "jobs_url": ctx.settings.jobs_url,
        }
        await redis.rpush(payload["key"], json.dumps(entry))
        await redis.expire(payload["key"], 600)
    if ctx.attempt < payload.get("fail_times", 0):
        raise RuntimeError(f"planned failure on attempt {ctx.attempt}")
