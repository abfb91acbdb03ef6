"""The router: which waiting task goes to which agent, decided in memory with no I/O.

The engine feeds it queues, agents and tasks, calls `decide(now)` after every change and
carries out the answers (ARCHITECTURE §5). The same inputs and the same calls always give
the same decisions: there is no randomness and every tie ends on a stable id.

What `decide` guarantees, once it returns:

- no agent holds more than its capacity per channel, counting ringing offers;
- a task rings one agent at a time, except in ring-all where it rings every free agent
  who may take it; a ringing task is not offered again until the offer ends;
- no free agent is left idle while a waiting task they may take is not offered;
- a free agent always gets the best task they may take: higher priority first, then the
  oldest (a task's priority is its own, or its queue's);
- among the free agents who may take a task, its queue's strategy picks (strategies.py),
  except that a task's preferred (sticky) agent wins when free.

How it stays fast. Matching is incremental: after a `decide`, no free agent may take a
waiting task, so only a change can make a new pair. `decide` therefore looks at the tasks
that became offerable (arrived, re-queued after a reject or an expiry, reached an
overflow stage, left their sticky window, saw a decliner's cooldown end) and at the agents
who entered a free set (room opened on a channel, a call ended, became available; more
room where they had some already changes nothing). It searches both ways:

- task to agents: each queue keeps, per channel and overflow stage, the set of available
  agents with room on that channel (blending applied); only those are examined.
- agent to tasks: each queue keeps, per channel and priority level, its offerable tasks
  oldest first; the agents who gained room read the lines they qualify for, each line
  once however many agents share it, and only as far as they can still take work.

Both feed one heap ordered by priority then age, and each task popped goes to the free
agent its queue's strategy prefers, so tasks are served in that order even when many
agents free up at once. A line's head whose readers all filled up meanwhile is dropped
unexamined: any free agent who may still take it is one of those who gained room, so
reads it too. Likewise a task that became offerable while no agent of its line is free
is set aside at once. Times are integer microseconds inside the router so that "has this task
reached its overflow stage" gives the same answer everywhere; the engine passes the same
`now` to every call of a step, so the last one converted is remembered.

Decliners. An agent who rejects or misses an offer is excluded from that task for its
queue's `decliner_cooldown_seconds`, counted from the `now` given to `reject`/`expire`,
or else from the next `decide` (the engine decides right after, at the same time). The
end of the cooldown is a timed event like the others: it lifts the exclusion and makes
the task offerable again, so the next `decide` offers it by the usual rules, the former
decliner included. While excluded, an agent is not one who "may take" the task in the
guarantees above.

Estimated wait (F-RT-7): position * average handle time / staffed capacity, where the
position counts every task ahead in the queue's order (ringing ones included, 1 = next),
the average handle time is the queue's, moved by `record_handle_time` (exponential
average, weight 0.2 for the newest), and the staffed capacity is the total capacity on the
task's channel of the available agents who qualify for the queue without overflow.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from heapq import heappop, heappush

from parley.platform.errors import Conflict, NotFound
from parley.platform.routing.eligibility import qualifying_stage, skill_score
from parley.platform.routing.model import (
    VOICE,
    Agent,
    Decision,
    Offer,
    Queue,
    QueueClosed,
    QueueFull,
    QueueSnapshot,
    Strategy,
    Task,
    TaskTimedOut,
    WaitEstimate,
)
from parley.platform.routing.strategies import choose_agents

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_AHT_WEIGHT = 0.2

# Where a task is in its life inside the router.
_WAITING, _OFFERED, _ASSIGNED, _GONE = range(4)
# Timed events: a task reaches its next overflow stage, leaves its sticky window, has
# waited its queue's max wait, or a decliner's cooldown ends (_LIFT: it checks the end
# itself, so it outlives queue changes, unlike the others).
_STAGE, _STICKY_END, _TIMEOUT, _LIFT = range(4)
# The end of a cooldown that starts at the next decide (reject/expire given no time).
_UNTIL_DECIDED = 2**62


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime fails here, loudly."""
    return (moment - _EPOCH) // _MICROSECOND


def _micros_of(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _seconds(microseconds: int) -> float:
    return microseconds / 1_000_000


class _TaskEntry:
    __slots__ = (
        "agent_id",
        "channel",
        "excluded",
        "generation",
        "is_overdue",
        "is_sticky",
        "offer",
        "own_priority",
        "preferred",
        "priority",
        "queue",
        "seq",
        "status",
        "task_id",
        "ts",
    )

    def __init__(
        self, task: Task, queue: _QueueState, ts: int, seq: int, excluded: dict[str, int]
    ) -> None:
        self.task_id = task.task_id
        self.queue = queue
        self.channel = task.channel
        self.own_priority = task.priority
        self.priority = task.priority if task.priority is not None else queue.config.priority
        self.ts = ts
        self.seq = seq
        # Agents in their decliner cooldown -> its end (µs); lifted by _LIFT events.
        self.excluded = excluded
        self.preferred = task.preferred_agent_id
        self.is_sticky = False
        self.is_overdue = False
        self.status = _WAITING
        self.offer: _OfferRecord | None = None
        self.agent_id: str | None = None
        self.generation = 0  # bumped when its queue changes, so old timed events are ignored


_Item = tuple[int, int, _TaskEntry]  # (enqueued µs, seq, task): oldest first


class _Levels:
    """Tasks by priority level (highest first), each level oldest first."""

    __slots__ = ("by_priority", "priorities", "size")

    def __init__(self) -> None:
        self.priorities: list[int] = []
        self.by_priority: dict[int, list[_Item]] = {}
        self.size = 0

    def add(self, entry: _TaskEntry) -> None:
        items = self.by_priority.get(entry.priority)
        if items is None:
            items = self.by_priority[entry.priority] = []
            self.priorities.append(entry.priority)
            self.priorities.sort(reverse=True)
        item = (entry.ts, entry.seq, entry)
        if not items or items[-1] < item:
            items.append(item)  # the youngest: how almost every task arrives
        else:
            insort(items, item)
        self.size += 1

    def remove(self, entry: _TaskEntry) -> None:
        items = self.by_priority[entry.priority]
        if items[0][2] is entry:
            del items[0]  # the head: how most tasks leave a line
        else:
            del items[bisect_left(items, (entry.ts, entry.seq))]
        if not items:
            del self.by_priority[entry.priority]
            self.priorities.remove(entry.priority)
        self.size -= 1

    def position(self, entry: _TaskEntry) -> int:
        ahead = sum(len(self.by_priority[p]) for p in self.priorities if p > entry.priority)
        return ahead + bisect_left(self.by_priority[entry.priority], (entry.ts, entry.seq)) + 1

    def oldest(self) -> int | None:
        heads = [items[0][0] for items in self.by_priority.values()]
        return min(heads) if heads else None

    def __iter__(self) -> Iterator[_TaskEntry]:
        for priority in self.priorities:
            for item in self.by_priority[priority]:
                yield item[2]


class _QueueState:
    __slots__ = (
        "agent_stage",
        "aht",
        "allows_blending",
        "config",
        "cooldown",
        "free",
        "is_round_robin",
        "last_agent_id",
        "lines",
        "max_wait",
        "offer_timeout",
        "offered",
        "queue_id",
        "queued",
        "rule_after",
        "skill_score",
        "staffed",
        "sticky_window",
        "strategy",
    )

    def __init__(self, config: Queue) -> None:
        self.config = config
        self.queue_id = config.queue_id
        self.strategy = config.strategy
        self.is_round_robin = config.strategy is Strategy.ROUND_ROBIN
        self.allows_blending = config.allows_blending
        self.offer_timeout = timedelta(seconds=config.offer_timeout_seconds)
        self.rule_after = [_micros_of(rule.after_seconds) for rule in config.overflow]
        self.sticky_window = _micros_of(config.sticky_window_seconds)
        self.cooldown = _micros_of(config.decliner_cooldown_seconds)
        wait = config.max_wait_seconds
        self.max_wait = _micros_of(wait) if wait is not None else None
        # Offerable tasks per channel: waiting, not ringing, not held for a sticky agent.
        self.lines: dict[str, _Levels] = {channel: _Levels() for channel in config.channels}
        # Every task not yet accepted, in queue order: positions and the wallboard.
        self.queued = _Levels()
        self.offered = 0
        # Agent id -> first overflow stage at which they qualify, and their skill score.
        self.agent_stage: dict[str, int] = {}
        self.skill_score: dict[str, int] = {}
        # Per channel and overflow stage: the agents qualifying from that stage on who are
        # available with room on the channel (and not held back by a call, see blending).
        # Split by stage so that a young task never looks at overflow-only agents.
        stages = len(config.overflow) + 1
        self.free: dict[str, list[set[str]]] = {
            channel: [set() for _ in range(stages)] for channel in config.channels
        }
        self.staffed: dict[str, int] = dict.fromkeys(config.channels, 0)
        self.last_agent_id: str | None = None
        self.aht = config.average_handle_seconds


class _AgentRecord:
    __slots__ = (
        "agent_id",
        "capacity",
        "free_channels",
        "is_available",
        "lines",
        "load",
        "offer_ids",
        "on_voice",
        "open_sets",
        "reserved",
        "routes",
        "skills",
        "strict_sets",
    )

    def __init__(self, agent: Agent) -> None:
        self.agent_id = agent.agent_id
        self.skills = dict(agent.skills)
        self.capacity = dict(agent.capacity)
        self.load = dict(agent.load)
        self.reserved: dict[str, int] = {}
        self.is_available = agent.is_available
        self.offer_ids: set[str] = set()
        # Channels with room, and whether a call (ringing or in progress) blocks the rest.
        self.free_channels: set[str] = set()
        self.on_voice = self.is_on_voice()
        # The queues this agent qualifies for, with the stage; and per channel the free
        # sets of those queues the agent belongs in while it has room there: "open" ones
        # always, "strict" ones (other channels of queues without blending) only while
        # not on a call.
        self.routes: list[tuple[_QueueState, int]] = []
        self.open_sets: dict[str, list[set[str]]] = {}
        self.strict_sets: dict[str, list[set[str]]] = {}
        # Per channel, the task lines this agent reads when looking for work.
        self.lines: dict[str, list[_Route]] = {}

    def has_room(self, channel: str) -> bool:
        used = self.load.get(channel, 0) + self.reserved.get(channel, 0)
        return self.is_available and used < self.capacity.get(channel, 0)

    def is_on_voice(self) -> bool:
        return self.load.get(VOICE, 0) + self.reserved.get(VOICE, 0) > 0

    def in_hand(self) -> int:
        return sum(self.load.values()) + sum(self.reserved.values())


# A queue's line on one channel as one agent reads it: (key shared by every agent reading
# it from the same stage, the line, the wait (µs) a task needs to reach the agent's stage
# (None: stage 0), whether a call blocks it)
_Route = tuple[tuple[int, int], "_Levels", int | None, bool]


class _OfferRecord:
    __slots__ = ("agent_ids", "entry", "expires_at", "offer_id")

    def __init__(
        self, offer_id: str, entry: _TaskEntry, agent_ids: list[str], expires_at: datetime
    ) -> None:
        self.offer_id = offer_id
        self.entry = entry
        self.agent_ids = agent_ids
        self.expires_at = expires_at

    def to_offer(self) -> Offer:
        entry = self.entry
        return Offer(
            self.offer_id,
            entry.task_id,
            entry.queue.queue_id,
            entry.channel,
            tuple(self.agent_ids),
            self.expires_at,
        )


_Event = tuple[int, int, int, _TaskEntry, int, int]  # (when µs, order, kind, task, gen, stage)
_Pick = tuple[int, int, int, _TaskEntry]  # (-priority, enqueued µs, seq, task)


class _LineReader:
    """One line (a queue's tasks on one channel) as read by the agents who gained room,
    from one overflow stage: yields, best first, the tasks one of them may take."""

    __slots__ = ("agents", "channel", "cutoff", "is_strict", "levels")

    def __init__(self, levels: _Levels, channel: str, is_strict: bool, cutoff: int | None) -> None:
        self.levels = levels
        self.channel = channel
        self.is_strict = is_strict  # a call blocks this line (no blending)
        self.cutoff = cutoff  # tasks enqueued later have not reached the agents' stage
        self.agents: list[_AgentRecord] = []

    def has_room(self) -> bool:
        """Whether one of its agents can still take work here; drops those who filled up
        (room only shrinks during decide)."""
        agents = self.agents
        while agents:
            last = agents[-1]
            if self.channel in last.free_channels and not (self.is_strict and last.on_voice):
                return True
            agents.pop()
        return False

    def next_task(self, unplaced: set[int]) -> _TaskEntry | None:
        """The best task one of its agents may take; call with `has_room()` true."""
        agents = self.agents
        cutoff = self.cutoff
        levels = self.levels
        for priority in levels.priorities:
            for ts, seq, entry in levels.by_priority[priority]:
                if cutoff is not None and ts > cutoff:
                    break  # the rest of this level is younger still
                if seq in unplaced:
                    continue
                excluded = entry.excluded
                if excluded:
                    for agent in agents:
                        if agent.agent_id not in excluded:
                            return entry
                    continue  # every one of its agents declined it
                return entry
        return None


class _HeldReader:
    """The tasks held for one agent during their sticky window, as that agent reads them."""

    __slots__ = ("channels", "held", "now_us", "record")

    def __init__(
        self,
        record: _AgentRecord,
        held: dict[str, list[_Pick]],
        channels: set[str] | None,
        now_us: int,
    ) -> None:
        self.record = record
        self.held = held
        self.channels = channels
        self.now_us = now_us

    def has_room(self) -> bool:
        return True  # next_task checks the agent's room task by task

    def next_task(self, unplaced: set[int]) -> _TaskEntry | None:
        agent_id = self.record.agent_id
        for _, ts, seq, entry in self.held.get(agent_id, ()):
            if seq in unplaced or (
                self.channels is not None and entry.channel not in self.channels
            ):
                continue
            state = entry.queue
            stage = state.agent_stage.get(agent_id)
            if stage is None or agent_id not in state.free[entry.channel][stage]:
                continue  # does not qualify, no room, or blocked by a call
            if (stage and ts > self.now_us - state.rule_after[stage - 1]) or (
                agent_id in entry.excluded
            ):
                continue
            return entry
        return None


_Reader = _LineReader | _HeldReader
# (-priority, enqueued µs, seq, tie-break, task, the reader that found it or None)
_Candidate = tuple[int, int, int, int, _TaskEntry, _Reader | None]


class Router:
    """In-memory routing of tasks to agents; see the module docstring for the rules."""

    def __init__(self, queues: Iterable[Queue] = (), *, offer_ids: Iterator[str] | None = None):
        self._queues: dict[str, _QueueState] = {}
        self._agents: dict[str, _AgentRecord] = {}
        self._tasks: dict[str, _TaskEntry] = {}
        self._offers: dict[str, _OfferRecord] = {}
        # Tasks held for their preferred agent during the sticky window, best first.
        self._sticky: dict[str, list[_Pick]] = {}
        self._events: list[_Event] = []
        self._event_order = itertools.count()
        self._task_seq = itertools.count()
        self._offer_ids = offer_ids or (f"offer-{n}" for n in itertools.count(1))
        self._dirty_tasks: list[_TaskEntry] = []
        # Exclusions whose cooldown starts at the next decide (reject/expire without now).
        self._cooling: list[tuple[_TaskEntry, str]] = []
        # Agents who may take tasks they could not before, with the channels that opened
        # up for them (None: any channel).
        self._dirty_agents: dict[str, set[str] | None] = {}
        # (idle since µs, agent id): what longest-idle orders by, ready-made as one key.
        self._idle_key: dict[str, tuple[int, str]] = {}
        # The last moment converted to µs: the engine passes the same `now` to the calls
        # of one step (and often as a new task's enqueue time), so convert it once.
        self._moment: datetime | None = None
        self._moment_us = 0
        for queue in queues:
            self.set_queue(queue)

    def _us(self, moment: datetime) -> int:
        """`_micros(moment)`, remembered for the last moment (datetimes are immutable)."""
        if moment is self._moment:
            return self._moment_us
        us = _micros(moment)
        self._moment = moment
        self._moment_us = us
        return us

    # --- queues ------------------------------------------------------------------------

    def set_queue(self, queue: Queue) -> None:
        """Add a queue or replace its configuration; waiting tasks keep their place."""
        old = self._queues.get(queue.queue_id)
        state = _QueueState(queue)
        entries: list[_TaskEntry] = []
        if old is not None:
            entries = [entry for entry in self._tasks.values() if entry.queue is old]
            missing = {entry.channel for entry in entries} - queue.channels
            if missing:
                raise Conflict(
                    "channel_in_use",
                    f"Queue {queue.queue_id} still has tasks on {', '.join(sorted(missing))}.",
                )
            state.last_agent_id = old.last_agent_id
            state.aht = old.aht
        for agent in self._agents.values():
            self._unindex_agent(agent)
        self._queues[queue.queue_id] = state
        for entry in entries:
            self._move_to_queue(entry, state)
        # This queue's requirements, or those of a queue overflowing into it, changed.
        configs = {queue_id: q.config for queue_id, q in self._queues.items()}
        for agent in self._agents.values():
            self._index_agent(agent, configs)
            self._dirty_agents[agent.agent_id] = None

    def _move_to_queue(self, entry: _TaskEntry, state: _QueueState) -> None:
        if entry.status in (_WAITING, _OFFERED):
            if entry.status == _WAITING:
                self._take_out_of_line(entry)
            entry.queue = state
            own = entry.own_priority
            entry.priority = own if own is not None else state.config.priority
            state.queued.add(entry)
            if entry.status == _WAITING:
                self._put_in_line(entry)
                self._dirty_tasks.append(entry)
            else:
                state.offered += 1
        else:
            entry.queue = state
        entry.generation += 1
        self._schedule(entry)

    # --- agents ------------------------------------------------------------------------

    def add_agent(self, agent: Agent) -> None:
        if agent.agent_id in self._agents:
            raise Conflict("agent_exists", f"Agent {agent.agent_id} is already routed.")
        record = _AgentRecord(agent)
        record.free_channels = {ch for ch in record.capacity if record.has_room(ch)}
        self._index_agent(record, self._configs())
        self._agents[agent.agent_id] = record
        self._idle_key[agent.agent_id] = (_micros(agent.idle_since), agent.agent_id)
        self._dirty_agents[agent.agent_id] = None

    def agent_changed(self, agent: Agent) -> None:
        """Replace what the router knows of an agent: availability, skills, capacity,
        load in hand and idle time. Ringing offers stay reserved until they end."""
        record = self._agents.get(agent.agent_id)
        if record is None:
            raise NotFound("Agent", agent.agent_id)
        skills_changed = dict(agent.skills) != record.skills
        self._unindex_agent(record)
        record.skills = dict(agent.skills)
        record.capacity = dict(agent.capacity)
        record.load = dict(agent.load)
        record.is_available = agent.is_available
        self._idle_key[agent.agent_id] = (_micros(agent.idle_since), agent.agent_id)
        record.free_channels = {ch for ch in record.capacity if record.has_room(ch)}
        if skills_changed:
            self._index_agent(record, self._configs())
        else:
            self._index_agent(record, None)
        self._dirty_agents[agent.agent_id] = None

    def remove_agent(self, agent_id: str) -> tuple[Offer, ...]:
        """Forget an agent (logged out, presence lost). Returns the offers that were
        ringing for them, as they were; their tasks go back to waiting for others."""
        record = self._agents.get(agent_id)
        if record is None:
            raise NotFound("Agent", agent_id)
        cancelled = []
        for offer_id in sorted(record.offer_ids):
            offer = self._offers[offer_id]
            cancelled.append(offer.to_offer())
            offer.agent_ids.remove(agent_id)
            if not offer.agent_ids:
                del self._offers[offer_id]
                self._requeue(offer.entry)
        self._unindex_agent(record)
        del self._agents[agent_id]
        del self._idle_key[agent_id]
        self._dirty_agents.pop(agent_id, None)
        return tuple(cancelled)

    def _configs(self) -> dict[str, Queue]:
        return {queue_id: state.config for queue_id, state in self._queues.items()}

    def _index_agent(self, record: _AgentRecord, configs: dict[str, Queue] | None) -> None:
        """Enter the agent in the queues they qualify for; `configs` None reuses the
        stages computed last time (skills did not change)."""
        agent_id = record.agent_id
        if configs is not None:
            record.routes = []
            for state in self._queues.values():
                stage = qualifying_stage(record.skills, state.config, configs)
                if stage is not None:
                    record.routes.append((state, stage))
        record.open_sets = {}
        record.strict_sets = {}
        record.lines = {}
        record.on_voice = record.is_on_voice()
        for state, stage in record.routes:
            state.agent_stage[agent_id] = stage
            state.skill_score[agent_id] = skill_score(record.skills, state.config)
            for channel in state.config.channels:
                levels = state.lines[channel]
                is_strict = channel != VOICE and not state.allows_blending
                after = state.rule_after[stage - 1] if stage else None
                route = ((id(levels), stage), levels, after, is_strict)
                record.lines.setdefault(channel, []).append(route)
                free = state.free[channel][stage]
                is_strict = channel != VOICE and not state.allows_blending
                sets = record.strict_sets if is_strict else record.open_sets
                sets.setdefault(channel, []).append(free)
                if channel in record.free_channels and not (is_strict and record.on_voice):
                    free.add(agent_id)
                if record.is_available and stage == 0:
                    state.staffed[channel] += record.capacity.get(channel, 0)

    def _unindex_agent(self, record: _AgentRecord) -> None:
        agent_id = record.agent_id
        for state, stage in record.routes:
            state.agent_stage.pop(agent_id, None)
            state.skill_score.pop(agent_id, None)
            for channel in state.config.channels:
                state.free[channel][stage].discard(agent_id)
                if record.is_available and stage == 0:
                    state.staffed[channel] -= record.capacity.get(channel, 0)
        record.open_sets = {}
        record.strict_sets = {}
        record.lines = {}

    def _mark_dirty(self, agent_id: str, channel: str | None) -> None:
        """Look at this agent in the next decide, for `channel` (None: every channel)."""
        dirty = self._dirty_agents
        if channel is None:
            dirty[agent_id] = None
        elif agent_id not in dirty:
            dirty[agent_id] = {channel}
        else:
            channels = dirty[agent_id]
            if channels is not None:
                channels.add(channel)

    def _refresh_room(self, record: _AgentRecord, channel: str) -> None:
        """Keep the queues' free sets in step after the agent's use of `channel` changed.

        An agent who enters a free set may now take tasks they could not before, so they
        are looked at in the next decide. More room on a channel where they had room
        already changes nothing: one free slot is enough to be offered a task.
        """
        agent_id = record.agent_id
        used = record.load.get(channel, 0) + record.reserved.get(channel, 0)
        has_room = record.is_available and used < record.capacity.get(channel, 0)
        free_channels = record.free_channels
        if has_room != (channel in free_channels):
            if has_room:
                free_channels.add(channel)
                # Look at this agent in the next decide for this channel (_mark_dirty).
                dirty = self._dirty_agents
                if agent_id not in dirty:
                    dirty[agent_id] = {channel}
                else:
                    channels = dirty[agent_id]
                    if channels is not None:
                        channels.add(channel)
                for free in record.open_sets.get(channel, ()):
                    free.add(agent_id)
                if not record.on_voice:
                    for free in record.strict_sets.get(channel, ()):
                        free.add(agent_id)
            else:
                free_channels.discard(channel)
                for free in record.open_sets.get(channel, ()):
                    free.discard(agent_id)
                if not record.on_voice:
                    for free in record.strict_sets.get(channel, ()):
                        free.discard(agent_id)
        if channel == VOICE and (used > 0) != record.on_voice:
            # A call started or ended: other channels of queues without blending follow.
            record.on_voice = not record.on_voice
            if not record.on_voice:
                self._mark_dirty(agent_id, None)
            for other in record.free_channels:
                for free in record.strict_sets.get(other, ()):
                    if record.on_voice:
                        free.discard(agent_id)
                    else:
                        free.add(agent_id)

    # --- tasks -------------------------------------------------------------------------

    def add_task(self, task: Task, now: datetime) -> None:
        """Queue a task. Raises `QueueClosed` or `QueueFull` (with the queue's action)."""
        if task.task_id in self._tasks:
            raise Conflict("task_exists", f"Task {task.task_id} is already queued.")
        state = self._queues.get(task.queue_id)
        if state is None:
            raise NotFound("Queue", task.queue_id)
        config = state.config
        if task.channel not in config.channels:
            raise Conflict(
                "channel_not_served", f"Queue {task.queue_id} does not serve {task.channel}."
            )
        if not task.is_admitted:
            if not config.is_open_at(now):
                raise QueueClosed(task.queue_id, config.after_hours_action)
            if config.max_size is not None and state.queued.size >= config.max_size:
                raise QueueFull(task.queue_id, config.max_size_action)

        now_us = self._us(now)
        excluded = self._restored_exclusions(task, state, now_us) if task.excluded_agent_ids else {}
        entry = _TaskEntry(task, state, self._us(task.enqueued_at), next(self._task_seq), excluded)
        preferred = task.preferred_agent_id
        if preferred is not None:
            # Hold the task for its preferred agent, unless that agent can never take it.
            entry.is_sticky = entry.ts + state.sticky_window > now_us and (
                preferred not in self._agents or preferred in state.agent_stage
            )
        state.queued.add(entry)
        if entry.is_sticky:
            self._put_in_line(entry)
        else:
            state.lines[entry.channel].add(entry)
        self._tasks[task.task_id] = entry
        self._schedule(entry)
        if excluded:
            for until in set(excluded.values()):
                self._push_event(until, _LIFT, entry, 0)
        self._dirty_tasks.append(entry)

    @staticmethod
    def _restored_exclusions(task: Task, state: _QueueState, now_us: int) -> dict[str, int]:
        """The task's excluded agents with the end of their cooldown, those still running."""
        given = task.excluded_agent_ids
        if not given:
            return {}
        if isinstance(given, Mapping):
            ends = {agent_id: _micros(until) for agent_id, until in given.items()}
        else:
            ends = dict.fromkeys(given, now_us + state.cooldown)
        return {agent_id: until for agent_id, until in ends.items() if until > now_us}

    def remove_task(self, task_id: str, now: datetime) -> Offer | None:
        """Forget a task: cancelled while waiting or ringing, or completed by its agent.
        Returns the offer that was ringing for it, which the engine must cancel."""
        entry = self._tasks.pop(task_id, None)
        if entry is None:
            raise NotFound("Task", task_id)
        state = entry.queue
        cancelled = None
        if entry.status == _WAITING:
            self._take_out_of_line(entry)
            state.queued.remove(entry)
        elif entry.status == _OFFERED:
            offer = entry.offer
            assert offer is not None
            cancelled = offer.to_offer()
            del self._offers[offer.offer_id]
            for agent_id in offer.agent_ids:
                self._release(self._agents[agent_id], entry.channel, offer.offer_id)
            state.queued.remove(entry)
            state.offered -= 1
        elif entry.status == _ASSIGNED and entry.agent_id is not None:
            record = self._agents.get(entry.agent_id)
            if record is not None:
                channel = entry.channel
                load = record.load
                if load.get(channel, 0) > 0:
                    load[channel] -= 1
                self._idle_key[record.agent_id] = (self._us(now), record.agent_id)
                self._refresh_room(record, channel)
        entry.status = _GONE
        entry.offer = None
        return cancelled

    def _put_in_line(self, entry: _TaskEntry) -> None:
        if entry.is_sticky:
            assert entry.preferred is not None
            insort(
                self._sticky.setdefault(entry.preferred, []),
                (-entry.priority, entry.ts, entry.seq, entry),
            )
        else:
            entry.queue.lines[entry.channel].add(entry)

    def _take_out_of_line(self, entry: _TaskEntry) -> None:
        if entry.is_sticky:
            assert entry.preferred is not None
            held = self._sticky[entry.preferred]
            del held[bisect_left(held, (-entry.priority, entry.ts, entry.seq))]
            if not held:
                del self._sticky[entry.preferred]
        else:
            entry.queue.lines[entry.channel].remove(entry)

    def _schedule(self, entry: _TaskEntry) -> None:
        """Timed events of a task: first overflow stage, end of sticky window, max wait."""
        state = entry.queue
        if state.rule_after:
            self._push_event(entry.ts + state.rule_after[0], _STAGE, entry, 1)
        if entry.is_sticky:
            self._push_event(entry.ts + state.sticky_window, _STICKY_END, entry, 0)
        if state.max_wait is not None:
            self._push_event(entry.ts + state.max_wait, _TIMEOUT, entry, 0)

    def _push_event(self, when: int, kind: int, entry: _TaskEntry, stage: int) -> None:
        heappush(
            self._events, (when, next(self._event_order), kind, entry, entry.generation, stage)
        )

    # --- offers ------------------------------------------------------------------------

    def accept(self, offer_id: str, agent_id: str) -> tuple[str, ...]:
        """The agent took the task. Returns the other agents a ring-all offer was ringing
        for: their offers are cancelled (the engine tells their desktops)."""
        offer = self._ringing(offer_id, agent_id)
        del self._offers[offer_id]
        entry = offer.entry
        channel = entry.channel
        agent_ids = offer.agent_ids
        others: tuple[str, ...] = ()
        if len(agent_ids) > 1:
            others = tuple(other for other in agent_ids if other != agent_id)
            for other in others:
                self._release(self._agents[other], channel, offer_id)
        record = self._agents[agent_id]
        # The reservation becomes load: the agent's room on the channel does not change.
        record.reserved[channel] -= 1
        load = record.load
        load[channel] = load.get(channel, 0) + 1
        record.offer_ids.discard(offer_id)
        entry.status = _ASSIGNED
        entry.agent_id = agent_id
        entry.offer = None
        state = entry.queue
        state.queued.remove(entry)
        state.offered -= 1
        return others

    def reject(self, offer_id: str, agent_id: str, now: datetime | None = None) -> None:
        """The agent declined: they are not offered this task again before its queue's
        decliner cooldown ends, counted from `now` (None: from the next decide). The task
        waits again once nobody else is still ringing (ring-all)."""
        offer = self._ringing(offer_id, agent_id)
        self._exclude(offer.entry, (agent_id,), now)
        offer.agent_ids.remove(agent_id)
        self._release(self._agents[agent_id], offer.entry.channel, offer_id)
        if not offer.agent_ids:
            del self._offers[offer_id]
            self._requeue(offer.entry)

    def expire(self, offer_id: str, now: datetime | None = None) -> None:
        """Nobody answered in time: the agents it rang count as decliners (see `reject`
        for `now`)."""
        offer = self._offers.get(offer_id)
        if offer is None:
            raise NotFound("Offer", offer_id)
        self._exclude(offer.entry, offer.agent_ids, now)
        self._end_offer(offer)

    def _exclude(self, entry: _TaskEntry, agent_ids: Iterable[str], now: datetime | None) -> None:
        """Start the decliners' cooldown on this task; its end lifts the exclusion."""
        if now is None:
            for agent_id in agent_ids:
                entry.excluded[agent_id] = _UNTIL_DECIDED
                self._cooling.append((entry, agent_id))
            return
        until = self._us(now) + entry.queue.cooldown
        for agent_id in agent_ids:
            entry.excluded[agent_id] = until
        self._push_event(until, _LIFT, entry, 0)

    def _start_cooldowns(self, now_us: int) -> None:
        """Cooldowns that start now: those of reject/expire calls given no time."""
        for entry, agent_id in self._cooling:
            if entry.status != _GONE and entry.excluded.get(agent_id) == _UNTIL_DECIDED:
                until = now_us + entry.queue.cooldown
                entry.excluded[agent_id] = until
                self._push_event(until, _LIFT, entry, 0)
        self._cooling = []

    def cancel(self, offer_id: str) -> None:
        """Take an offer back through no fault of its agents (they are not excluded)."""
        offer = self._offers.get(offer_id)
        if offer is None:
            raise NotFound("Offer", offer_id)
        self._end_offer(offer)

    def _end_offer(self, offer: _OfferRecord) -> None:
        del self._offers[offer.offer_id]
        for agent_id in offer.agent_ids:
            self._release(self._agents[agent_id], offer.entry.channel, offer.offer_id)
        self._requeue(offer.entry)

    def _ringing(self, offer_id: str, agent_id: str) -> _OfferRecord:
        offer = self._offers.get(offer_id)
        if offer is None:
            raise NotFound("Offer", offer_id)
        if agent_id not in offer.agent_ids:
            raise Conflict("not_offered", f"Offer {offer_id} is not ringing for {agent_id}.")
        return offer

    def _release(self, record: _AgentRecord, channel: str, offer_id: str) -> None:
        record.reserved[channel] -= 1
        record.offer_ids.discard(offer_id)
        if channel == VOICE or channel not in record.free_channels:
            self._refresh_room(record, channel)  # otherwise it only gained more room

    def _requeue(self, entry: _TaskEntry) -> None:
        entry.status = _WAITING
        entry.offer = None
        entry.queue.offered -= 1
        self._put_in_line(entry)
        self._dirty_tasks.append(entry)
        if entry.is_overdue:
            self._push_event(0, _TIMEOUT, entry, 0)  # time it out at the next decide

    def outstanding_offers(self) -> tuple[Offer, ...]:
        """Offers ringing now, oldest first."""
        return tuple(offer.to_offer() for offer in self._offers.values())

    # --- deciding ----------------------------------------------------------------------

    def decide(self, now: datetime) -> list[Decision]:
        """Time out tasks past their max wait, then make every offer that can be made."""
        now_us = self._us(now)
        if self._cooling:
            self._start_cooldowns(now_us)
        events = self._events
        decisions: list[Decision] = (
            self._fire_events(now_us) if events and events[0][0] <= now_us else []
        )

        # Candidates, best first: tasks that became offerable, and for the agents who
        # gained room the head of each line they read. Many agents share a line, so a
        # line is read once however many of them freed up.
        picks: list[_Candidate] = []
        unplaced: set[int] = set()  # nobody could take them now: room only shrinks here
        for entry in self._dirty_tasks:
            if entry.status == _WAITING:
                if any(entry.queue.free[entry.channel]):
                    heappush(picks, (-entry.priority, entry.ts, entry.seq, 0, entry, None))
                else:
                    unplaced.add(entry.seq)  # no agent of its line is free
        self._dirty_tasks = []
        dirty_agents = self._dirty_agents
        self._dirty_agents = {}

        readers: list[_Reader] = []
        lines: dict[tuple[int, int], _LineReader] = {}
        agents = self._agents
        for agent_id, channels in dirty_agents.items():
            record = agents.get(agent_id)
            if record is None or not record.free_channels:
                continue
            free_channels = record.free_channels
            on_voice = record.on_voice
            # Only channels that opened up: where the agent had room already, only the
            # tasks just pushed can be new to them.
            for channel in free_channels if channels is None else channels:
                if channel not in free_channels:
                    continue
                for key, levels, after, is_strict in record.lines.get(channel, ()):
                    if not levels.size or (on_voice and is_strict):
                        continue
                    line = lines.get(key)
                    if line is None:
                        cutoff = None if after is None else now_us - after
                        line = lines[key] = _LineReader(levels, channel, is_strict, cutoff)
                        readers.append(line)
                    line.agents.append(record)
            if agent_id in self._sticky:
                readers.append(_HeldReader(record, self._sticky, channels, now_us))

        # Every reader starts with room: its agents were just checked.
        reader: _Reader | None
        for reader in readers:
            head = reader.next_task(unplaced)
            if head is not None:
                # A task may come from several readers: their ids keep the order total.
                heappush(picks, (-head.priority, head.ts, head.seq, id(reader), head, reader))
        while picks:
            _, _, seq, _, entry, reader = heappop(picks)
            if reader is not None and not reader.has_room():
                # Its agents filled up: any other free agent who may take this task is a
                # reader of it too (the invariant above), so leave it to their reader.
                continue
            if entry.status == _WAITING and seq not in unplaced:
                chosen = self._choose_agents(entry, now_us)
                if chosen:
                    decisions.append(self._offer(entry, chosen, now))
                    if reader is not None and not reader.has_room():
                        continue
                else:
                    unplaced.add(seq)
            if reader is not None:
                following = reader.next_task(unplaced)
                if following is not None:
                    heappush(
                        picks,
                        (
                            -following.priority,
                            following.ts,
                            following.seq,
                            id(reader),
                            following,
                            reader,
                        ),
                    )
        return decisions

    def _fire_events(self, now_us: int) -> list[Decision]:
        timed_out: list[Decision] = []
        events = self._events
        while events and events[0][0] <= now_us:
            _, _, kind, entry, generation, stage = heappop(events)
            if entry.status == _GONE:
                continue
            if kind == _LIFT:
                self._lift(entry, now_us)
                continue
            if generation != entry.generation:
                continue
            if kind == _STAGE:
                if entry.status == _WAITING:
                    self._dirty_tasks.append(entry)
                rule_after = entry.queue.rule_after
                if stage < len(rule_after):
                    self._push_event(entry.ts + rule_after[stage], _STAGE, entry, stage + 1)
            elif kind == _STICKY_END:
                if entry.is_sticky:
                    if entry.status == _WAITING:
                        self._take_out_of_line(entry)
                        entry.is_sticky = False
                        self._put_in_line(entry)
                        self._dirty_tasks.append(entry)
                    else:
                        entry.is_sticky = False
            elif entry.status == _WAITING:
                timed_out.append(self._time_out(entry, now_us))
            elif entry.status == _OFFERED:
                entry.is_overdue = True  # let the ringing offer finish; decide after
        return timed_out

    def _lift(self, entry: _TaskEntry, now_us: int) -> None:
        """End the cooldowns of this task that are due; it may go to those agents now."""
        excluded = entry.excluded
        due = [agent_id for agent_id, until in excluded.items() if until <= now_us]
        if not due:
            return  # lifted by an earlier event, or excluded again since
        for agent_id in due:
            del excluded[agent_id]
        if entry.status == _WAITING:
            self._dirty_tasks.append(entry)

    def _time_out(self, entry: _TaskEntry, now_us: int) -> TaskTimedOut:
        state = entry.queue
        self._take_out_of_line(entry)
        state.queued.remove(entry)
        del self._tasks[entry.task_id]
        entry.status = _GONE
        return TaskTimedOut(
            entry.task_id,
            state.queue_id,
            state.config.max_wait_action,
            _seconds(now_us - entry.ts),
        )

    def _choose_agents(self, entry: _TaskEntry, now_us: int) -> tuple[str, ...]:
        """The free agent(s) the task goes to, by its queue's strategy; () if none."""
        state = entry.queue
        if state.config.is_manual_pick:
            return ()  # a group queue: its agents take tasks themselves
        ts = entry.ts
        # The stages this task has reached; agents of later stages may not take it yet.
        reached = 1
        for after in state.rule_after:
            if ts > now_us - after:
                break
            reached += 1
        free_by_stage = state.free[entry.channel]
        excluded = entry.excluded
        preferred = entry.preferred
        if entry.is_sticky:
            assert preferred is not None
            stage = state.agent_stage.get(preferred)
            if stage is None or stage >= reached or preferred not in free_by_stage[stage]:
                return ()
            return () if preferred in excluded else (preferred,)
        # Build a list only when something must be filtered or joined.
        candidates: Collection[str]
        if reached == 1 and not excluded:
            candidates = free_by_stage[0]
        else:
            reached_sets = free_by_stage[:reached]
            if not any(reached_sets):
                return ()  # nobody free: the common case in a loaded center
            candidates = [
                agent_id
                for free in reached_sets
                for agent_id in free
                if not (excluded and agent_id in excluded)
            ]
        if not candidates:
            return ()
        if len(candidates) == 1:
            return (next(iter(candidates)),)
        if preferred is not None and preferred in candidates:
            return (preferred,)
        return choose_agents(
            state.strategy,
            candidates,
            idle_key=self._idle_key,
            skill_score=state.skill_score,
            in_hand=self._in_hand,
            last_agent_id=state.last_agent_id,
        )

    def _in_hand(self, agent_id: str) -> int:
        return self._agents[agent_id].in_hand()

    def _offer(self, entry: _TaskEntry, agent_ids: tuple[str, ...], now: datetime) -> Offer:
        offer_id = next(self._offer_ids)
        return self._reserve(entry, agent_ids, offer_id, now + entry.queue.offer_timeout)

    def restore_offer(
        self, offer_id: str, task_id: str, agent_ids: tuple[str, ...], expires_at: datetime
    ) -> Offer:
        """Ring again an offer made before a restart, with its own id and expiry (the
        engine reloads it from the database). The task must be waiting and the agents
        routed; their capacity is reserved as for a new offer."""
        entry = self._tasks.get(task_id)
        if entry is None:
            raise NotFound("Task", task_id)
        if entry.status != _WAITING:
            raise Conflict("task_not_waiting", f"Task {task_id} is not waiting.")
        if offer_id in self._offers:
            raise Conflict("offer_exists", f"Offer {offer_id} is already ringing.")
        for agent_id in agent_ids:
            if agent_id not in self._agents:
                raise NotFound("Agent", agent_id)
        return self._reserve(entry, agent_ids, offer_id, expires_at)

    def _reserve(
        self,
        entry: _TaskEntry,
        agent_ids: tuple[str, ...],
        offer_id: str,
        expires_at: datetime,
    ) -> Offer:
        state = entry.queue
        channel = entry.channel
        agents = self._agents
        for agent_id in agent_ids:
            record = agents[agent_id]
            reserved = record.reserved
            count = reserved[channel] = reserved.get(channel, 0) + 1
            record.offer_ids.add(offer_id)
            if channel == VOICE or record.load.get(channel, 0) + count >= record.capacity.get(
                channel, 0
            ):
                self._refresh_room(record, channel)  # otherwise it still has room
        if entry.is_sticky:
            self._take_out_of_line(entry)
        else:
            state.lines[channel].remove(entry)
        entry.status = _OFFERED
        state.offered += 1
        if state.is_round_robin:
            state.last_agent_id = agent_ids[0]
        offer = _OfferRecord(offer_id, entry, list(agent_ids), expires_at)
        self._offers[offer_id] = offer
        entry.offer = offer
        return offer.to_offer()

    # --- what callers and supervisors see ----------------------------------------------

    def estimate_wait(self, task_id: str) -> WaitEstimate:
        """Position and estimated wait of a task (see the module docstring for the model)."""
        entry = self._tasks.get(task_id)
        if entry is None:
            raise NotFound("Task", task_id)
        if entry.status == _ASSIGNED:
            return WaitEstimate(task_id, 0, 0.0)
        state = entry.queue
        position = state.queued.position(entry)
        staffed = state.staffed[entry.channel]
        seconds = position * state.aht / staffed if staffed > 0 else None
        return WaitEstimate(task_id, position, seconds)

    def record_handle_time(self, queue_id: str, seconds: float) -> None:
        state = self._queues.get(queue_id)
        if state is None:
            raise NotFound("Queue", queue_id)
        state.aht += _AHT_WEIGHT * (seconds - state.aht)

    def snapshot(self, queue_id: str, now: datetime) -> QueueSnapshot:
        state = self._queues.get(queue_id)
        if state is None:
            raise NotFound("Queue", queue_id)
        oldest = state.queued.oldest()
        longest = max(0.0, _seconds(_micros(now) - oldest)) if oldest is not None else 0.0
        return QueueSnapshot(queue_id, state.queued.size, state.offered, longest)

    def queued_task_ids(self, queue_id: str) -> list[str]:
        """The queue's tasks not yet accepted, in the order they will be served."""
        state = self._queues.get(queue_id)
        if state is None:
            raise NotFound("Queue", queue_id)
        return [entry.task_id for entry in state.queued]

    def has_agents_for(self, queue_id: str, now: datetime) -> bool:
        """Whether someone may answer a new task of the queue: it is open at `now` and a
        logged-in agent qualifies for it (busy or not, at any overflow stage). A web
        chat offers its offline form otherwise (F-CH-2)."""
        state = self._queues.get(queue_id)
        return state is not None and state.config.is_open_at(now) and bool(state.agent_stage)

    def agents_for(self, queue_id: str) -> tuple[str, ...]:
        """The logged-in agents who qualify for the queue (at any overflow stage), busy
        or not: who may see its web visitors (F-CH-5)."""
        state = self._queues.get(queue_id)
        return tuple(state.agent_stage) if state is not None else ()
