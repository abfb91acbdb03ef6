"""What every job runner offers and the rules they share: what a job receives, which
payloads are accepted, how long to wait before a retry.

`InProcessRunner` serves the embedded mode; `CeleryRunner` hands jobs to Celery workers
in the scaled stack (ARCHITECTURE.md §2). Jobs may run more than once (a retry after a
partial failure, a redelivery after a worker crash), so a job must be idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from parley.platform.config import Settings


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job gets besides its payload. `attempt` counts from 0 (the first run)."""

    settings: Settings
    job_name: str
    job_id: str
    attempt: int = 0


class JobRunner(Protocol):
    async def start(self) -> None:
        """Import the job modules and get ready to run jobs."""

    async def enqueue(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        delay: timedelta | None = None,
        max_retries: int = 3,
    ) -> str:
        """Schedule job `name`; returns the job id. Raises `UnknownJob`, `InvalidJobPayload`."""
        ...

    async def close(self) -> None:
        """Stop: pending in-process jobs are cancelled, connections closed."""


class InvalidJobPayload(ValueError):
    """The payload cannot travel as JSON, so a worker could never receive it."""


class RunnerNotRunning(RuntimeError):
    """Enqueueing before `start()` or after `close()`."""


def prepare_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as a worker will see it: a JSON round trip, which both validates it at
    enqueue time and gives in-process jobs the same plain data Celery jobs get."""
    if not isinstance(payload, dict):
        raise InvalidJobPayload(f"payload must be a dict, not {type(payload).__name__}")
    try:
        encoded = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJobPayload(f"payload must be JSON-serializable: {exc}") from exc
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def check_schedule(delay: timedelta | None, max_retries: int) -> float:
    """The delay in seconds, after refusing values that make no sense."""
    if max_retries < 0:
        raise ValueError("max_retries must be 0 or more")
    seconds = delay.total_seconds() if delay is not None else 0.0
    if seconds < 0:
        raise ValueError("delay must not be negative")
    return seconds


def retry_backoff(attempt: int, *, base_seconds: float, cap_seconds: float) -> float:
    """Seconds to wait after failed attempt `attempt` (0-based): doubling from base, capped."""
    return float(min(cap_seconds, base_seconds * (2**attempt)))
