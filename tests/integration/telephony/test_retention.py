"""Recording retention (F-VO-5): the periodic purge deletes the recordings past their
queue's retention, marks them deleted on the interaction and writes the audit log; it
runs through the job runners like any job (in process here, Celery beat when scaled)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from parley.platform.config import Settings
from parley.platform.jobs import InProcessRunner, JobContext, JobRegistry, registry
from parley.platform.jobs.celery_runner import RUN_JOB_TASK, beat_schedule
from parley.platform.models import (
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Queue,
    QueueVoiceSettings,
)
from parley.telephony.retention import PURGE_JOB, recordings_dir
from tests.conftest import Api, audit_rows
from tests.pbx_fixtures import until


async def _call(api: Api, queue_id: int, ended_at: datetime, name: str) -> int:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    directory = recordings_dir(runtime.settings)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"RIFF" + bytes(100))
    async with runtime.database.transaction() as db:
        interaction = Interaction(
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            state=InteractionState.ENDED,
            queue_id=queue_id,
            queued_at=ended_at - timedelta(minutes=5),
            answered_at=ended_at - timedelta(minutes=4),
            ended_at=ended_at,
            attributes={"recordings": [name]},
        )
        db.add(interaction)
        await db.flush()
        return interaction.id


async def _queue(api: Api, name: str, retention_days: int | None) -> int:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.database.transaction() as db:
        queue = Queue(name=name, channels=["voice"])
        db.add(queue)
        await db.flush()
        if retention_days is not None:
            db.add(QueueVoiceSettings(queue_id=queue.id, recording_retention_days=retention_days))
        return queue.id


async def test_recordings_past_their_queues_retention_are_deleted_and_marked(api: Api) -> None:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    now = runtime.clock.now()
    directory = recordings_dir(runtime.settings)
    thirty = await _queue(api, "Thirty days", 30)
    forever = await _queue(api, "Forever", 0)
    unset = await _queue(api, "Unset", None)
    old = await _call(api, thirty, now - timedelta(days=31), "interaction-old.wav")
    recent = await _call(api, thirty, now - timedelta(days=29), "interaction-recent.wav")
    kept = await _call(api, forever, now - timedelta(days=400), "interaction-kept.wav")
    also_kept = await _call(api, unset, now - timedelta(days=400), "interaction-unset.wav")

    await runtime.jobs.enqueue(PURGE_JOB, {"now": now.isoformat()}, max_retries=0)
    await runtime.jobs.wait_idle()

    assert not (directory / "interaction-old.wav").exists()
    for name in ("interaction-recent.wav", "interaction-kept.wav", "interaction-unset.wav"):
        assert (directory / name).exists()
    async with runtime.database.sessions() as db:
        purged = await db.get_one(Interaction, old)
        assert purged.attributes["recordings"] == []
        assert [entry["name"] for entry in purged.attributes["recordings_deleted"]] == [
            "interaction-old.wav"
        ]
        for interaction_id in (recent, kept, also_kept):
            row = await db.get_one(Interaction, interaction_id)
            assert row.attributes["recordings"] and "recordings_deleted" not in row.attributes
    (entry,) = await audit_rows(api, "recording")
    assert (entry.action, entry.entity_id, entry.actor_label) == ("delete", str(old), "system")
    assert entry.changes == {"files": ["interaction-old.wav"], "retention_days": 30}

    # Again: nothing left to delete, nothing logged twice.
    await runtime.jobs.enqueue(PURGE_JOB, {"now": (now + timedelta(hours=1)).isoformat()})
    await runtime.jobs.wait_idle()
    assert len(await audit_rows(api, "recording")) == 1


async def test_a_purge_without_a_time_zone_is_refused(api: Api) -> None:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    function = registry.get(PURGE_JOB)
    context = JobContext(runtime.settings, job_name=PURGE_JOB, job_id="x")
    try:
        await function(context, {"now": "2026-01-01T00:00:00"})
    except ValueError as exc:
        assert "time zone" in str(exc)
    else:
        raise AssertionError("a naive time was accepted")


def test_the_purge_is_scheduled_hourly_for_celery_beat() -> None:
    assert registry.periodic()[PURGE_JOB] == timedelta(hours=1)
    entry = beat_schedule()[PURGE_JOB]
    assert entry["task"] == RUN_JOB_TASK
    assert entry["schedule"] == 3600
    assert entry["kwargs"]["name"] == PURGE_JOB


async def test_the_in_process_runner_runs_periodic_jobs_until_closed() -> None:
    jobs = JobRegistry()
    runs: list[dict[str, Any]] = []

    @jobs.job("tests.every_moment", every=timedelta(milliseconds=20))
    async def every_moment(_ctx: JobContext, payload: dict[str, Any]) -> None:
        runs.append(payload)

    runner = InProcessRunner(Settings(_env_file=None), jobs=jobs)  # type: ignore[call-arg]
    await runner.start()
    try:
        await until(lambda: len(runs) >= 3)
    finally:
        await runner.close()
    count = len(runs)
    await asyncio.sleep(0.1)
    assert len(runs) == count and runs[0] == {}
