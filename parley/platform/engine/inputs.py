"""Turn database rows into what the pure router takes: queues and agents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from parley.platform.agents import AgentState, AgentView, is_accepting_offers
from parley.platform.models import PickMode, QueueSkill, Schedule
from parley.platform.models import Queue as QueueRow
from parley.platform.routing import Agent, OverflowRule, Queue, Strategy
from parley.platform.schedules import WeeklyHours


def routing_queue(row: QueueRow, skills: list[QueueSkill], schedule: Schedule | None) -> Queue:
    overflow: tuple[OverflowRule, ...] = ()
    if row.overflow_after_seconds is not None:
        overflow = (
            OverflowRule(
                after_seconds=row.overflow_after_seconds,
                relax_levels_by=row.overflow_relax_levels,
                overflow_queue_ids=tuple(str(queue_id) for queue_id in row.overflow_queue_ids),
            ),
        )
    is_open: bool | WeeklyHours = True
    if schedule is not None:
        is_open = WeeklyHours.build(schedule.time_zone, schedule.hours, schedule.holidays)
    return Queue(
        queue_id=str(row.id),
        channels=frozenset(row.channels),
        required_skills={str(skill.skill_id): skill.min_level for skill in skills},
        priority=row.priority,
        strategy=Strategy(row.strategy.value),
        offer_timeout_seconds=float(row.offer_timeout_seconds),
        overflow=overflow,
        max_wait_seconds=row.max_wait_seconds,
        max_wait_action="voicemail",
        max_size=row.max_size,
        is_open=is_open if isinstance(is_open, bool) else is_open.is_open,
        after_hours_action=row.after_hours_action,
        allows_blending=row.allows_blending,
        is_manual_pick=row.pick_mode is PickMode.MANUAL,
    )


def routing_agent(
    view: AgentView, skills: Mapping[str, int], capacity: Mapping[str, int], idle_since: datetime
) -> Agent:
    load: dict[str, int] = {}
    for interaction in view.interactions:
        load[interaction.channel] = load.get(interaction.channel, 0) + 1
    return Agent(
        agent_id=view.agent_id,
        skills=dict(skills),
        capacity={channel: int(value) for channel, value in capacity.items()},
        idle_since=idle_since,
        is_available=is_accepting_offers(view) and view.state is not AgentState.OFFLINE,
        load=load,
    )
