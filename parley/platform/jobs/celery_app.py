"""What a Celery worker loads: `celery -A parley.platform.jobs.celery_app worker -Q parley.jobs`
(and Celery beat: `celery -A parley.platform.jobs.celery_app beat`, for periodic jobs).

The app is configured from `Settings` (`PARLEY_JOBS_URL` is the broker), logs through
Parley's structured logging, and imports every module in `JOB_MODULES` (and
`PARLEY_JOB_MODULES`) at start, so a missing job module fails the worker's boot rather
than its first job. Web and engine processes do not import this module: they enqueue
through `CeleryRunner`.
"""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging

from parley.platform.config import get_settings
from parley.platform.jobs.celery_runner import beat_schedule, create_celery_app
from parley.platform.jobs.registry import load_job_modules
from parley.platform.logs import configure_logging

settings = get_settings()


def _configure_worker_logging(**_: Any) -> None:
    # Connected to Celery's setup_logging signal, which also stops Celery from installing
    # its own handlers: worker lines come out in the same format as every other process.
    configure_logging(settings.log_level, json=settings.log_json)


setup_logging.connect(_configure_worker_logging, weak=False)

app = create_celery_app(settings, set_as_current=True)
load_job_modules()
app.conf.beat_schedule = beat_schedule()
