"""Background jobs: `@job`-registered async functions run later, retried when they fail.

```python
@job("cases.recompute_sla")
async def recompute_sla(ctx: JobContext, payload: dict[str, Any]) -> None: ...

runner = create_runner(settings.jobs_url, settings)
await runner.start()
job_id = await runner.enqueue("cases.recompute_sla", {"case_id": 42}, delay=timedelta(minutes=5))
await runner.close()
```
"""

from __future__ import annotations

from parley.platform.config import Settings
from parley.platform.jobs.base import InvalidJobPayload, JobContext, JobRunner, RunnerNotRunning
from parley.platform.jobs.celery_runner import CeleryRunner
from parley.platform.jobs.inprocess import InProcessRunner
from parley.platform.jobs.registry import (
    JOB_MODULES,
    JobFunction,
    JobRegistry,
    UnknownJob,
    job,
    load_job_modules,
    registry,
)

__all__ = [
    "JOB_MODULES",
    "CeleryRunner",
    "InProcessRunner",
    "InvalidJobPayload",
    "JobContext",
    "JobFunction",
    "JobRegistry",
    "JobRunner",
    "RunnerNotRunning",
    "UnknownJob",
    "create_runner",
    "job",
    "load_job_modules",
    "registry",
]


def create_runner(url: str, settings: Settings) -> JobRunner:
    """`inprocess://` for the embedded mode; a broker URL (`redis://…`) for Celery."""
    if url == "inprocess://":
        return InProcessRunner(settings)
    if url.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        return CeleryRunner(url, settings)
    raise ValueError(f"unsupported jobs URL scheme: {url.split('://', 1)[0]!r}")
