"""Recording retention (F-VO-5): a queue keeps its calls' recordings
`QueueVoiceSettings.recording_retention_days` days after the call ended (0: forever).

The periodic job `telephony.purge_recordings` (hourly; the in-process runner or Celery
beat schedules it) deletes the files of recordings past their queue's retention, moves
their names from the interaction's `recordings` to `recordings_deleted` (with the time),
so the history shows they existed and the audio route answers 404, and writes one audit
log entry per interaction. Running it twice deletes nothing twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import String, cast, select

from parley.platform import audit
from parley.platform.config import Settings
from parley.platform.db import Database, create_database
from parley.platform.db.base import utcnow
from parley.platform.jobs import JobContext, job
from parley.platform.models import Interaction, QueueVoiceSettings

log = structlog.get_logger(__name__)

PURGE_JOB = "telephony.purge_recordings"
_BATCH = 200


def recordings_dir(settings: Settings) -> Path:
    """Where Asterisk writes the call recordings (as `VoiceService` tells it)."""
    return settings.data_dir.resolve() / "recordings"


@dataclass(frozen=True)
class Purged:
    interaction_id: int
    files: list[str]


async def purge_expired_recordings(
    database: Database, directory: Path, now: datetime
) -> list[Purged]:
    """Delete the recordings past their queue's retention at `now`."""
    async with database.sessions() as db:
        policies = list(
            await db.execute(
                select(QueueVoiceSettings.queue_id, QueueVoiceSettings.recording_retention_days)
                .where(QueueVoiceSettings.recording_retention_days > 0)
                .order_by(QueueVoiceSettings.queue_id)
            )
        )
    purged: list[Purged] = []
    for queue_id, days in policies:
        purged += await _purge_queue(database, directory, queue_id, days, now)
    return purged


async def _purge_queue(
    database: Database, directory: Path, queue_id: int, days: int, now: datetime
) -> list[Purged]:
    cutoff = now - timedelta(days=days)
    done: list[Purged] = []
    after_id = 0
    while True:
        async with database.transaction() as db:
            rows = list(
                await db.scalars(
                    select(Interaction)
                    .where(
                        Interaction.queue_id == queue_id,
                        Interaction.ended_at.is_not(None),
                        Interaction.ended_at < cutoff,
                        Interaction.id > after_id,
                        # A cheap first cut; the attributes are checked below.
                        cast(Interaction.attributes, String).like('%"recordings": ["%'),
                    )
                    .order_by(Interaction.id)
                    .limit(_BATCH)
                )
            )
            for interaction in rows:
                names = [str(n) for n in interaction.attributes.get("recordings", [])]
                if not names:
                    continue
                await asyncio.to_thread(_delete_files, directory, names)
                interaction.attributes = _marked_deleted(interaction.attributes, names, now)
                await audit.record(
                    db,
                    None,
                    "delete",
                    "recording",
                    interaction.id,
                    {"files": names, "retention_days": days},
                )
                done.append(Purged(interaction.id, names))
        if len(rows) < _BATCH:
            break
        after_id = rows[-1].id
    if done:
        log.info("recordings.purged", queue_id=queue_id, interactions=len(done))
    return done


def _marked_deleted(attributes: dict[str, Any], names: list[str], now: datetime) -> dict[str, Any]:
    deleted = [
        *attributes.get("recordings_deleted", []),
        *({"name": name, "deleted_at": now.isoformat()} for name in names),
    ]
    return {**attributes, "recordings": [], "recordings_deleted": deleted}


def _delete_files(directory: Path, names: list[str]) -> None:
    for name in names:
        # Only a file name from the attributes, never a path elsewhere.
        (directory / Path(name).name).unlink(missing_ok=True)


@job(PURGE_JOB, every=timedelta(hours=1))
async def purge_recordings(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The hourly purge; `payload` may name `now` (ISO 8601) to purge as of then."""
    now = datetime.fromisoformat(payload["now"]) if "now" in payload else utcnow()
    if now.tzinfo is None:
        raise ValueError("`now` needs a time zone")
    database = create_database(ctx.settings.resolved_database_url)
    try:
        await purge_expired_recordings(database, recordings_dir(ctx.settings), now)
    finally:
        await database.dispose()
