"""The in-process job runner: delays, retries with backoff, cancellation on close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from parley.platform.config import Settings
from parley.platform.jobs import (
    CeleryRunner,
    InProcessRunner,
    InvalidJobPayload,
    JobContext,
    JobRegistry,
    RunnerNotRunning,
    UnknownJob,
    create_runner,
    job,
    registry,
)
from parley.platform.jobs.base import retry_backoff
from parley.platform.jobs.registry import job_module_names


@pytest.fixture
def jobs() -> JobRegistry:
    return JobRegistry()


@pytest.fixture
async def runner(jobs: JobRegistry) -> AsyncIterator[InProcessRunner]:
    runner = InProcessRunner(Settings(), jobs=jobs, retry_base_seconds=0.01)
    await runner.start()
    yield runner
    await runner.close()


async def wait_until_idle(runner: InProcessRunner) -> None:
    await asyncio.wait_for(runner.wait_idle(), timeout=2)


async def test_job_runs_with_its_payload_and_context(
    runner: InProcessRunner, jobs: JobRegistry
) -> None:
    calls: list[tuple[JobContext, dict[str, Any]]] = []

    @jobs.job("cases.recompute_sla")
    async def recompute(ctx: JobContext, payload: dict[str, Any]) -> None:
        calls.append((ctx, payload))

    job_id = await runner.enqueue("cases.recompute_sla", {"case_id": 42, "tags": ("a", "b")})
    await wait_until_idle(runner)

    assert len(calls) == 1
    ctx, payload = calls[0]
    assert payload == {"case_id": 42, "tags": ["a", "b"]}
    assert (ctx.job_name, ctx.job_id, ctx.attempt) == ("cases.recompute_sla", job_id, 0)
    assert isinstance(ctx.settings, Settings)


async def test_delay_is_honoured(runner: InProcessRunner, jobs: JobRegistry) -> None:
    loop = asyncio.get_running_loop()
    ran_at: list[float] = []

    @jobs.job("workflows.delayed_action")
    async def delayed(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran_at.append(loop.time())

    enqueued_at = loop.time()
    await runner.enqueue("workflows.delayed_action", {}, delay=timedelta(milliseconds=200))
    await asyncio.sleep(0.1)
    assert ran_at == []
    await wait_until_idle(runner)
    assert ran_at[0] - enqueued_at >= 0.2


async def test_failed_job_is_retried_with_backoff_then_succeeds(
    runner: InProcessRunner, jobs: JobRegistry
) -> None:
    loop = asyncio.get_running_loop()
    attempts: list[tuple[int, float]] = []

    @jobs.job("email.send_reply")
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append((ctx.attempt, loop.time()))
        if ctx.attempt < 2:
            raise ConnectionError("smtp down")

    with capture_logs() as logs:
        await runner.enqueue("email.send_reply", {"to": "someone"}, max_retries=3)
        await wait_until_idle(runner)

    assert [attempt for attempt, _ in attempts] == [0, 1, 2]
    # Exponential: 0.01 s after the first failure, 0.02 s after the second.
    assert attempts[1][1] - attempts[0][1] >= 0.01
    assert attempts[2][1] - attempts[1][1] >= 0.02
    assert [entry["event"] for entry in logs] == ["job.retrying", "job.retrying"]
    assert not any(entry["log_level"] == "error" for entry in logs)


async def test_retry_gets_the_original_payload(runner: InProcessRunner, jobs: JobRegistry) -> None:
    seen: list[dict[str, Any]] = []

    @jobs.job("email.mutating")
    async def mutating(ctx: JobContext, payload: dict[str, Any]) -> None:
        seen.append(dict(payload))
        payload["mutated"] = True
        if ctx.attempt == 0:
            raise RuntimeError("first try fails")

    await runner.enqueue("email.mutating", {"n": 1})
    await wait_until_idle(runner)
    assert seen == [{"n": 1}, {"n": 1}]


async def test_exhausted_retries_are_logged_without_the_payload(
    runner: InProcessRunner, jobs: JobRegistry
) -> None:
    attempts: list[int] = []

    @jobs.job("webhooks.deliver")
    async def always_fails(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        raise RuntimeError("endpoint returned 500")

    with capture_logs() as logs:
        job_id = await runner.enqueue(
            "webhooks.deliver", {"signing_secret": "hunter2-secret"}, max_retries=2
        )
        await wait_until_idle(runner)

    assert attempts == [0, 1, 2]
    failures = [entry for entry in logs if entry["event"] == "job.failed"]
    assert len(failures) == 1
    assert failures[0]["job"] == "webhooks.deliver"
    assert failures[0]["job_id"] == job_id
    assert failures[0]["attempts"] == 3
    assert failures[0]["log_level"] == "error"
    assert "hunter2-secret" not in repr(logs)


async def test_zero_retries_means_one_attempt(runner: InProcessRunner, jobs: JobRegistry) -> None:
    attempts: list[int] = []

    @jobs.job("webhooks.once")
    async def once(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        raise RuntimeError("no")

    await runner.enqueue("webhooks.once", {}, max_retries=0)
    await wait_until_idle(runner)
    assert attempts == [0]


async def test_close_cancels_delayed_and_running_jobs(jobs: JobRegistry) -> None:
    started = asyncio.Event()
    outcomes: list[str] = []

    @jobs.job("reports.slow")
    async def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise
        outcomes.append("finished")

    @jobs.job("reports.later")
    async def later(ctx: JobContext, payload: dict[str, Any]) -> None:
        outcomes.append("later ran")

    runner = InProcessRunner(Settings(), jobs=jobs)
    await runner.start()
    await runner.enqueue("reports.slow", {})
    await runner.enqueue("reports.later", {}, delay=timedelta(seconds=60))
    await asyncio.wait_for(started.wait(), timeout=1)
    assert runner.pending == 2

    await asyncio.wait_for(runner.close(), timeout=1)

    assert outcomes == ["cancelled"]
    assert runner.pending == 0
    with pytest.raises(RunnerNotRunning):
        await runner.enqueue("reports.later", {})


async def test_unknown_job_is_refused_at_enqueue(runner: InProcessRunner) -> None:
    with pytest.raises(UnknownJob, match=r"no\.such_job"):
        await runner.enqueue("no.such_job", {})
    assert runner.pending == 0


@pytest.mark.parametrize(
    "payload",
    [{"when": timedelta(seconds=1)}, {"x": float("inf")}, {"obj": object()}],
)
async def test_payload_must_be_json(
    runner: InProcessRunner, jobs: JobRegistry, payload: dict[str, Any]
) -> None:
    @jobs.job("cases.noop")
    async def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
        pass

    with pytest.raises(InvalidJobPayload):
        await runner.enqueue("cases.noop", payload)
    assert runner.pending == 0


async def test_negative_delay_and_retries_are_refused(
    runner: InProcessRunner, jobs: JobRegistry
) -> None:
    @jobs.job("cases.noop")
    async def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
        pass

    with pytest.raises(ValueError, match="delay"):
        await runner.enqueue("cases.noop", {}, delay=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="max_retries"):
        await runner.enqueue("cases.noop", {}, max_retries=-1)


async def test_enqueue_before_start_is_an_error(jobs: JobRegistry) -> None:
    runner = InProcessRunner(Settings(), jobs=jobs)
    with pytest.raises(RunnerNotRunning):
        await runner.enqueue("cases.noop", {})


def test_registry_refuses_sync_functions_and_name_clashes(jobs: JobRegistry) -> None:
    with pytest.raises(TypeError, match="async"):

        @jobs.job("cases.sync")  # type: ignore[arg-type]
        def sync(ctx: JobContext, payload: dict[str, Any]) -> None:
            pass

    @jobs.job("cases.taken")
    async def first(ctx: JobContext, payload: dict[str, Any]) -> None:
        pass

    with pytest.raises(ValueError, match="already registered"):

        @jobs.job("cases.taken")
        async def second(ctx: JobContext, payload: dict[str, Any]) -> None:
            pass

    with pytest.raises(ValueError, match="dotted lowercase"):
        jobs.job("Bad Name")


def test_job_decorator_registers_in_the_default_registry() -> None:
    @job("tests_unit.default_registry_probe")
    async def probe(ctx: JobContext, payload: dict[str, Any]) -> None:
        pass

    assert registry.get("tests_unit.default_registry_probe") is probe


def test_extra_job_modules_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_JOB_MODULES", " tests_a.jobs, ,tests_b.jobs ")
    assert job_module_names()[-2:] == ("tests_a.jobs", "tests_b.jobs")


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [retry_backoff(n, base_seconds=1, cap_seconds=10) for n in range(6)]
    assert delays == [1, 2, 4, 8, 10, 10]


def test_create_runner_picks_the_implementation_from_the_url() -> None:
    settings = Settings()
    assert isinstance(create_runner("inprocess://", settings), InProcessRunner)
    assert isinstance(create_runner("redis://127.0.0.1:6379/0", settings), CeleryRunner)
    with pytest.raises(ValueError, match="kafka"):
        create_runner("kafka://broker", settings)
