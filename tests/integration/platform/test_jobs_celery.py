"""The Celery runner end to end: a real worker process, a real Redis broker.

The worker is started as `python -m celery -A parley.platform.jobs.celery_app worker`
with the solo pool, on a queue of its own, and with PARLEY_JOB_MODULES naming
`celery_jobs.py` next to this file; the jobs leave records in Redis for the test to read.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis
from redis.asyncio import Redis

from parley.platform.config import Settings
from parley.platform.jobs import CeleryRunner, InvalidJobPayload, UnknownJob

pytestmark = pytest.mark.redis

REPO_ROOT = Path(__file__).resolve().parents[3]
JOB_MODULE = "tests.integration.platform.celery_jobs"
WAIT_SECONDS = 30.0


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    queue: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def worker(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    queue = f"parley.jobs.test-{uuid4().hex[:12]}"
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "PARLEY_JOBS_URL": redis_url,
        "PARLEY_JOB_MODULES": JOB_MODULE,
        "PARLEY_LOG_JSON": "false",
    }
    command = [
        sys.executable, "-m", "celery",
        "-A", "parley.platform.jobs.celery_app",
        "worker",
        "--pool", "solo",
        "--concurrency", "1",
        "--queues", queue,
        "--hostname", f"{queue}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO",
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    started = Worker(process, queue, log_path)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while " ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None:
                pytest.fail(
                    f"celery worker exited with {process.returncode}:\n{started.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"worker not ready after {WAIT_SECONDS}s:\n{started.log_tail()}")
            time.sleep(0.1)
        yield started
    finally:
        # SIGTERM is Celery's warm shutdown: finish the current task, then exit 0.
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"celery worker ignored SIGTERM:\n{started.log_tail()}")
        client = redis.Redis.from_url(redis_url)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()
        assert returncode == 0, started.log_tail()


@pytest.fixture
async def runner(
    redis_url: str, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CeleryRunner]:
    # The enqueuing process imports the same job modules as the worker, to refuse
    # unknown names at enqueue time.
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    monkeypatch.setenv("PARLEY_JOB_MODULES", JOB_MODULE)
    runner = CeleryRunner(
        redis_url, Settings(jobs_url=redis_url), queue=worker.queue, retry_base_seconds=0.2
    )
    await runner.start()
    yield runner
    await runner.close()


@pytest.fixture
async def records(redis_url: str) -> AsyncIterator[tuple[str, Redis]]:
    key = f"parley:test:celery:{uuid4().hex}"
    client = Redis.from_url(redis_url, socket_timeout=5)
    yield key, client
    await client.delete(key)
    await client.aclose()


async def wait_for_records(
    worker: Worker, records: tuple[str, Redis], count: int
) -> list[dict[str, Any]]:
    key, client = records
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        entries = [json.loads(raw) for raw in await client.lrange(key, 0, -1)]
        if len(entries) >= count:
            return entries
        if time.monotonic() > deadline:
            pytest.fail(
                f"{len(entries)}/{count} job runs after {WAIT_SECONDS}s; worker log:\n"
                + worker.log_tail()
            )
        await asyncio.sleep(0.05)


def payload(redis_url: str, records: tuple[str, Redis], fail_times: int = 0) -> dict[str, Any]:
    return {"redis_url": redis_url, "key": records[0], "fail_times": fail_times}


async def test_enqueued_job_runs_in_the_worker(
    runner: CeleryRunner, worker: Worker, records: tuple[str, Redis], redis_url: str
) -> None:
    job_id = await runner.enqueue("tests.celery.record", payload(redis_url, records))
    [entry] = await wait_for_records(worker, records, 1)
    assert entry["job_id"] == job_id
    assert entry["attempt"] == 0
    # The worker builds JobContext.settings from its own environment.
    assert entry["jobs_url"] == redis_url


async def test_delay_is_honoured(
    runner: CeleryRunner, worker: Worker, records: tuple[str, Redis], redis_url: str
) -> None:
    enqueued_at = time.time()
    await runner.enqueue(
        "tests.celery.record", payload(redis_url, records), delay=timedelta(seconds=2)
    )
    await asyncio.sleep(1)
    assert await records[1].llen(records[0]) == 0
    [entry] = await wait_for_records(worker, records, 1)
    assert entry["at"] - enqueued_at >= 1.95


async def test_failed_job_is_retried_with_backoff_then_succeeds(
    runner: CeleryRunner, worker: Worker, records: tuple[str, Redis], redis_url: str
) -> None:
    job_id = await runner.enqueue(
        "tests.celery.record", payload(redis_url, records, fail_times=2), max_retries=3
    )
    entries = await wait_for_records(worker, records, 3)
    assert [entry["attempt"] for entry in entries] == [0, 1, 2]
    assert {entry["job_id"] for entry in entries} == {job_id}
    # Backoff base 0.2 s: at least 0.2 s, then 0.4 s between attempts.
    assert entries[1]["at"] - entries[0]["at"] >= 0.19
    assert entries[2]["at"] - entries[1]["at"] >= 0.39
    await asyncio.sleep(1.0)
    assert await records[1].llen(records[0]) == 3, "a succeeded job must not run again"


async def test_retries_stop_after_max_retries(
    runner: CeleryRunner, worker: Worker, records: tuple[str, Redis], redis_url: str
) -> None:
    job_id = await runner.enqueue(
        "tests.celery.record", payload(redis_url, records, fail_times=99), max_retries=2
    )
    entries = await wait_for_records(worker, records, 3)
    assert [entry["attempt"] for entry in entries] == [0, 1, 2]
    # The next backoff would be 0.8 s: give it twice that to prove nothing follows.
    await asyncio.sleep(1.6)
    assert await records[1].llen(records[0]) == 3
    log = worker.log_tail(400)
    assert "job.failed" in log and job_id in log
    assert records[0] not in log, "payloads stay out of the worker's log"


async def test_unknown_job_and_bad_payload_are_refused_at_enqueue(
    runner: CeleryRunner, records: tuple[str, Redis], redis_url: str
) -> None:
    with pytest.raises(UnknownJob):
        await runner.enqueue("tests.celery.no_such_job", {})
    with pytest.raises(InvalidJobPayload):
        await runner.enqueue("tests.celery.record", {"when": timedelta(seconds=1)})
