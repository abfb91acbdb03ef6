"""Periodic announcements to callers holding in a Parley queue (F-VO-1, F-RT-7): their
position and estimated wait, every N seconds per queue (`QueueVoiceSettings`, 0 = off).

Asterisk plays them; Parley only says what to play. When a call is queued, the FastAGI
answer sets `PARLEY_ANNOUNCE_EVERY` on the caller's channel (`hold_variables`), and
`parley-hold` then waits that long between announcements instead of an hour. The
`Announcer` keeps `PARLEY_ANNOUNCEMENT` ("position-minutes", "" for nothing to say) up
to date on every waiting caller's channel; `parley-announce` plays it with the built-in
queue sounds (`queue-thereare`, SayNumber, `queue-callswaiting`, `queue-holdtime`, …)
and goes back to hold. The caller never leaves Parley's queue for it: the interaction
waits in the router all along, so an agent who accepts meanwhile gets the call at once
(the redirect to the agent interrupts the announcement).

The estimated wait (`estimated_wait`) is pure: from the queue's recent calls, the time
agents took to handle one, shared by the agents who handled them, times the caller's
position; with no handled call yet, how long recent callers waited to be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from parley.platform.db import Database
from parley.platform.errors import NotFound
from parley.platform.models import Channel, Interaction, QueueVoiceSettings
from parley.platform.runtime import Runtime
from parley.telephony.ami import AmiError

if TYPE_CHECKING:
    from parley.telephony.voice import VoiceService

log = structlog.get_logger(__name__)

ANNOUNCE_CONTEXT = "parley-announce"
HISTORY = timedelta(hours=4)  # the recent calls the estimate learns from
_HISTORY_CALLS = 50


@dataclass(frozen=True)
class RecentCall:
    """One of the queue's recent answered calls: how long the caller waited for an
    agent, how long the agent then had it (None while it goes on), and whose it was."""

    waited_seconds: float
    handled_seconds: float | None
    agent_id: int | None


def estimated_wait(position: int, recent: Sequence[RecentCall]) -> float | None:
    """Seconds a caller at `position` (1 = next) may still wait; None with no history.

    With handled calls: their mean handle time, divided among the agents who handled
    them (they work in parallel), times the position. Else the mean wait of the recent
    callers answered."""
    if position < 1:
        return 0.0
    handled = [call for call in recent if call.handled_seconds is not None]
    if handled:
        mean_handle = sum(call.handled_seconds or 0.0 for call in handled) / len(handled)
        agents = len({call.agent_id for call in handled if call.agent_id is not None}) or 1
        return max(0.0, mean_handle * position / agents)
    if recent:
        return max(0.0, sum(call.waited_seconds for call in recent) / len(recent))
    return None


def announcement(position: int, seconds: float | None) -> str:
    """What `parley-announce` reads: "position-minutes", minutes rounded up (at least 1),
    0 when there is no estimate; "" when the caller is not waiting in line."""
    if position < 1:
        return ""
    minutes = 0 if seconds is None else max(1, math.ceil(seconds / 60))
    return f"{position}-{minutes}"


async def announce_every(database: Database, queue_id: int) -> int:
    """The queue's announcement interval in seconds (0: no announcements)."""
    async with database.sessions() as db:
        every = await db.scalar(
            select(QueueVoiceSettings.announce_every_seconds).where(
                QueueVoiceSettings.queue_id == queue_id
            )
        )
    return int(every or 0)


async def hold_variables(database: Database, queue_id: int) -> dict[str, str]:
    """The channel variables a newly queued caller holds with."""
    every = await announce_every(database, queue_id)
    return {"PARLEY_ANNOUNCE_EVERY": str(every)} if every > 0 else {}


async def recent_calls(database: Database, queue_id: int, now: datetime) -> list[RecentCall]:
    """The queue's voice calls answered within `HISTORY`, newest first."""
    async with database.sessions() as db:
        rows = await db.execute(
            select(
                Interaction.queued_at,
                Interaction.answered_at,
                Interaction.ended_at,
                Interaction.agent_id,
            )
            .where(
                Interaction.queue_id == queue_id,
                Interaction.channel == Channel.VOICE,
                Interaction.answered_at.is_not(None),
                Interaction.answered_at >= now - HISTORY,
            )
            .order_by(Interaction.answered_at.desc())
            .limit(_HISTORY_CALLS)
        )
        calls = []
        for queued_at, answered_at, ended_at, agent_id in rows:
            if answered_at is None:  # excluded by the query; for the type checker
                continue
            waited = (answered_at - (queued_at or answered_at)).total_seconds()
            handled = (ended_at - answered_at).total_seconds() if ended_at else None
            calls.append(RecentCall(waited, handled, agent_id))
    return calls


class Announcer:
    """Keeps every waiting caller's `PARLEY_ANNOUNCEMENT` current, every `interval`
    seconds, for the queues that announce."""

    def __init__(self, runtime: Runtime, voice: VoiceService, *, interval: float = 5.0) -> None:
        self._runtime = runtime
        self._voice = voice
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._said: dict[int, str] = {}  # by interaction: what the channel holds now

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="voice-announcer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # the next round tries again; the error is logged
                log.exception("announcer.round_failed")
            await asyncio.sleep(self._interval)

    async def refresh(self) -> int:
        """One round; returns how many channels were updated."""
        if not self._voice.connector.is_ready:
            return 0
        engine = self._runtime.require_engine()
        now = self._runtime.clock.now()
        waiting = self._voice.waiting_calls()
        live = {call.interaction_id for call in waiting}
        for gone in set(self._said) - live:
            del self._said[gone]
        history: dict[int, list[RecentCall]] = {}
        intervals: dict[int, int] = {}
        updated = 0
        for call in waiting:
            interaction_id, queue_id = call.interaction_id, call.queue_id
            if queue_id is None:
                continue
            if queue_id not in intervals:
                intervals[queue_id] = await announce_every(self._runtime.database, queue_id)
            if intervals[queue_id] <= 0:
                continue
            try:
                position = engine.estimate(interaction_id).position
            except NotFound:
                continue
            if queue_id not in history:
                history[queue_id] = await recent_calls(self._runtime.database, queue_id, now)
            text = announcement(position, estimated_wait(position, history[queue_id]))
            if self._said.get(interaction_id) == text:
                continue
            if await self._set(interaction_id, text):
                self._said[interaction_id] = text
                updated += 1
        return updated

    async def _set(self, interaction_id: int, text: str) -> bool:
        # Checked right before the action is written, with no await in between: a call
        # an agent accepted meanwhile must not get a stale announcement back.
        tracked = self._voice.call_of(interaction_id)
        if tracked is None or tracked[1] != "waiting":
            return False
        channel = self._voice.connector.calls.channels.get(tracked[0])
        if channel is None:
            return False
        try:
            await self._voice.connector.send(
                {
                    "Action": "Setvar",
                    "Channel": channel.name,
                    "Variable": "PARLEY_ANNOUNCEMENT",
                    "Value": text,
                }
            )
        except (AmiError, TimeoutError) as exc:
            log.info("announcer.setvar_failed", interaction_id=interaction_id, reason=str(exc))
            return False
        return True
