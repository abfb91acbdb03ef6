"""Calls back agents promise for a time (F-VO-7): stored when the agent schedules them,
queued as callback tasks when they fall due.

`CallbackScheduler` runs in the engine's process beside the voice service: every few
seconds it queues the callbacks whose time has come, in their queue, offered first to
the agent who promised them when they are personal (the router's preferred agent). A
callback falls due even after hours: it is work already promised, so the queue's hours
do not keep it out (`EnqueueRequest.after_hours`).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog
from sqlalchemy import select

from parley.platform.engine import EnqueueRequest
from parley.platform.errors import DomainError
from parley.platform.models import CallbackState, Channel, Direction, ScheduledCallback
from parley.platform.runtime import Runtime

log = structlog.get_logger(__name__)

_BATCH = 100


class CallbackScheduler:
    def __init__(self, runtime: Runtime, *, interval: float = 5.0) -> None:
        self._runtime = runtime
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="callback-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.queue_due(self._runtime.clock.now())
            except Exception:  # the next round tries again; the error is logged
                log.exception("callbacks.round_failed")
            await asyncio.sleep(self._interval)

    async def queue_due(self, now: datetime) -> list[int]:
        """Queue every pending callback due by `now`; returns their interactions."""
        engine = self._runtime.require_engine()
        async with self._runtime.database.sessions() as db:
            due = list(
                await db.scalars(
                    select(ScheduledCallback)
                    .where(
                        ScheduledCallback.state == CallbackState.PENDING,
                        ScheduledCallback.due_at <= now,
                    )
                    .order_by(ScheduledCallback.due_at, ScheduledCallback.id)
                    .limit(_BATCH)
                )
            )
        queued: list[int] = []
        for callback in due:
            request = EnqueueRequest(
                channel=Channel.CALLBACK,
                queue_id=callback.queue_id,
                direction=Direction.OUTBOUND,
                contact_id=callback.contact_id,
                preferred_agent_id=callback.agent_id if callback.is_personal else None,
                after_hours=True,
                attributes={
                    "callback_number": callback.number,
                    "caller_number": callback.number,
                    "reason": "scheduled",
                    "note": callback.note,
                    "scheduled_by": callback.agent_id,
                },
            )
            interaction_id: int | None = None
            try:
                interaction_id = await engine.enqueue(request)
            except DomainError as exc:
                log.warning("callbacks.not_queued", callback_id=callback.id, code=exc.code)
            async with self._runtime.database.transaction() as db:
                row = await db.get_one(ScheduledCallback, callback.id)
                row.interaction_id = interaction_id
                row.state = CallbackState.QUEUED if interaction_id else CallbackState.CANCELLED
            if interaction_id is not None:
                queued.append(interaction_id)
                log.info("callbacks.queued", callback_id=callback.id, interaction_id=interaction_id)
        return queued
