"""What the router is told and what it answers: queues, tasks, agents, offers, estimates.

These are plain immutable values. The engine builds them from the database (queues and
agents at start and on change, tasks as interactions are queued) and turns the router's
answers (`Offer`, `TaskTimedOut`, `QueueFull`, `QueueClosed`) into events and AMI/websocket
actions. Channels are plain strings ("voice", "chat", "email"...) so a new channel needs
no change here; only voice is special, because a call blocks other work (blending).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from parley.platform.errors import Conflict

VOICE = "voice"


class Strategy(StrEnum):
    """How a queue picks among the free agents who may take a task (F-RT-1)."""

    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    BEST_SKILL = "best_skill"
    ROUND_ROBIN = "round_robin"
    RING_ALL = "ring_all"


@dataclass(frozen=True, slots=True)
class OverflowRule:
    """After a task waited `after_seconds`, widen who may take it (F-RT-4).

    Rules are cumulative: once several apply, the largest relaxation and all their
    overflow queues count. Relaxing lowers each required level, never below 1 (the agent
    still needs the skill). An overflow queue lends its agents: anyone who meets that
    queue's own requirements may take the task.
    """

    after_seconds: float
    relax_levels_by: int = 0
    overflow_queue_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue ("service") as routing sees it.

    `priority` is the default priority of its tasks. `is_open` is the schedule's answer,
    either fixed or asked with the current time; a closed queue refuses new tasks with its
    `after_hours_action`, tasks already waiting keep being routed. `sticky_window_seconds`
    is how long a task with a preferred agent waits for that agent alone (0: prefer them
    only if free right away). `average_handle_seconds` seeds the wait estimate until
    `Router.record_handle_time` has real handle times.

    `decliner_cooldown_seconds` is the re-offer delay: an agent who rejects or misses (lets
    expire) an offer of a task is not offered that task again for this long, so it goes to
    the other agents who may take it; afterwards the decliner is a candidate like any other
    (the queue's strategy picks), so a task that only they can take is offered to them
    again rather than waiting out its max wait. 0: no delay, the decliner is a candidate
    again from the next `decide` on (so the task goes straight back to them when nobody
    else may take it).

    `is_manual_pick` queues are group queues (F-RT-6): the router offers their tasks to
    nobody; they wait (position, max wait and snapshots as usual) until an agent takes
    one themselves or the channel withdraws it.
    """

    queue_id: str
    channels: frozenset[str]
    required_skills: Mapping[str, int] = field(default_factory=dict)
    priority: int = 0
    strategy: Strategy = Strategy.LONGEST_IDLE
    offer_timeout_seconds: float = 30.0
    overflow: tuple[OverflowRule, ...] = ()
    max_wait_seconds: float | None = None
    max_wait_action: str = "voicemail"
    max_size: int | None = None
    max_size_action: str = "busy"
    is_open: bool | Callable[[datetime], bool] = True
    after_hours_action: str = "message"
    allows_blending: bool = False
    sticky_window_seconds: float = 0.0
    average_handle_seconds: float = 180.0
    decliner_cooldown_seconds: float = 30.0
    is_manual_pick: bool = False

    def __post_init__(self) -> None:
        if not self.channels:
            raise ValueError(f"queue {self.queue_id} serves no channel")
        if self.offer_timeout_seconds <= 0:
            raise ValueError(f"queue {self.queue_id}: offer timeout must be positive")
        if self.decliner_cooldown_seconds < 0:
            raise ValueError(f"queue {self.queue_id}: decliner cooldown must not be negative")
        thresholds = [rule.after_seconds for rule in self.overflow]
        if thresholds != sorted(thresholds):
            raise ValueError(f"queue {self.queue_id}: overflow rules must be in time order")

    def is_open_at(self, now: datetime) -> bool:
        return self.is_open if isinstance(self.is_open, bool) else self.is_open(now)


@dataclass(frozen=True, slots=True)
class Task:
    """An interaction waiting in a queue. `priority` None means the queue's priority.

    `excluded_agent_ids` are agents who declined it before (e.g. before a restart) and
    must not get it for a while; the router adds later decliners itself, each for its
    queue's `decliner_cooldown_seconds`. Either a set of agent ids, each excluded for the
    queue's cooldown counted from when the task is added (`Router.add_task`'s `now`), or
    a mapping of agent id to the time until which they are excluded (an end already
    past excludes nobody), for a restore that keeps the cooldowns where they were.

    `is_admitted` tasks were let in before (restored after a restart, back in line after
    an agent missed them) or are work left for when agents are back (a voicemail): the
    queue's opening hours and maximum size, which decide who may come in, do not apply.
    """

    task_id: str
    queue_id: str
    channel: str
    enqueued_at: datetime
    priority: int | None = None
    contact_id: str | None = None
    preferred_agent_id: str | None = None
    excluded_agent_ids: frozenset[str] | Mapping[str, datetime] = frozenset()
    is_admitted: bool = False


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent as routing sees it.

    `is_available` says whether the agent takes new offers at all (see
    `agents.is_accepting_offers`); `load` is the interactions already in hand per channel.
    The router keeps its own count from there (accepts add, completed tasks remove) and
    adds ringing offers on top, so capacity is never exceeded.
    """

    agent_id: str
    skills: Mapping[str, int]
    capacity: Mapping[str, int]
    idle_since: datetime
    is_available: bool = True
    load: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Offer:
    """A task reserved for one agent (or, in ring-all, several: the first to accept wins)."""

    offer_id: str
    task_id: str
    queue_id: str
    channel: str
    agent_ids: tuple[str, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TaskTimedOut:
    """The task waited longer than its queue's max wait: the router dropped it and the
    engine carries out `action` (voicemail, callback offer, another queue...)."""

    task_id: str
    queue_id: str
    action: str
    waited_seconds: float


Decision = Offer | TaskTimedOut


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    """Position (1 = next) and estimated wait of a task (F-RT-7); `seconds` is None when
    no agent staffs the queue, so there is nothing honest to say."""

    task_id: str
    position: int
    seconds: float | None


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One queue for a wallboard. `waiting` counts every task not yet accepted, including
    the `offered` ones that are ringing an agent now."""

    queue_id: str
    waiting: int
    offered: int
    longest_wait_seconds: float


class QueueFull(Conflict):
    def __init__(self, queue_id: str, action: str) -> None:
        super().__init__("queue_full", f"Queue {queue_id} is full; its action is {action}.")
        self.queue_id = queue_id
        self.action = action


class QueueClosed(Conflict):
    def __init__(self, queue_id: str, action: str) -> None:
        super().__init__(
            "queue_closed", f"Queue {queue_id} is closed; its after-hours action is {action}."
        )
        self.queue_id = queue_id
        self.action = action
