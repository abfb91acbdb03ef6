"""Job names and the async functions behind them.

A job is registered with `@job("workflows.run_delayed_action")` in the module of the
package that owns it. A Celery worker is a different process, so it must import those
modules before it can run their jobs: `JOB_MODULES` lists them in one place, and
`load_job_modules()` imports them (plus any named in `PARLEY_JOB_MODULES`, comma
separated, which is how tests add their own). The name, not the function, travels in
the queue, so renaming a function does not strand queued jobs.

`@job("telephony.purge_recordings", every=timedelta(hours=1))` also runs the job
periodically with an empty payload: the in-process runner enqueues it itself, and in
the scaled stack Celery beat does (`celery_runner.beat_schedule`).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from parley.platform.jobs.base import JobContext

JobFunction = Callable[[JobContext, dict[str, Any]], Coroutine[Any, Any, None]]

JOB_MODULES: tuple[str, ...] = (
    # Modules that register jobs, e.g. "parley.workflows.jobs". Add yours here.
    "parley.telephony.retention",
)

EXTRA_JOB_MODULES_ENV = "PARLEY_JOB_MODULES"

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


class UnknownJob(LookupError):
    """No job is registered under this name (is its module in JOB_MODULES?)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no job registered as {name!r}")
        self.name = name


class JobRegistry:
    def __init__(self) -> None:
        self._jobs: dict[str, JobFunction] = {}
        self._every: dict[str, timedelta] = {}

    def job(
        self, name: str, *, every: timedelta | None = None
    ) -> Callable[[JobFunction], JobFunction]:
        """Decorator: register `async def fn(ctx, payload) -> None` as job `name`, run
        with `{}` every `every` when given."""
        if not _NAME.match(name):
            raise ValueError(f"job names are dotted lowercase words, got {name!r}")
        if every is not None and every.total_seconds() <= 0:
            raise ValueError(f"job {name!r} must run every positive interval")

        def register(function: JobFunction) -> JobFunction:
            if not inspect.iscoroutinefunction(function):
                raise TypeError(f"job {name!r} must be an async function")
            existing = self._jobs.get(name)
            if existing is not None and _origin(existing) != _origin(function):
                raise ValueError(f"job {name!r} is already registered by {_origin(existing)}")
            self._jobs[name] = function
            if every is not None:
                self._every[name] = every
            return function

        return register

    def get(self, name: str) -> JobFunction:
        try:
            return self._jobs[name]
        except KeyError:
            raise UnknownJob(name) from None

    def names(self) -> frozenset[str]:
        return frozenset(self._jobs)

    def periodic(self) -> dict[str, timedelta]:
        """The jobs run periodically, by name, with their interval."""
        return dict(self._every)


def _origin(function: JobFunction) -> str:
    # Same module and name means the same job imported again (e.g. a reload), not a clash.
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"


registry = JobRegistry()
"""The registry `@job` writes to and the runners read by default."""

job = registry.job


def job_module_names() -> tuple[str, ...]:
    extra = os.environ.get(EXTRA_JOB_MODULES_ENV, "")
    names = [*JOB_MODULES, *(part.strip() for part in extra.split(","))]
    return tuple(dict.fromkeys(name for name in names if name))


def load_job_modules() -> None:
    """Import every module that registers jobs; importing twice is harmless."""
    for module_name in job_module_names():
        importlib.import_module(module_name)
