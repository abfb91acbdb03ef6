"""Router benchmark: a busy contact center, measured.

1,000 agents with 20 skills (levels drawn from a seeded generator), 50 queues across voice,
chat and email with every strategy, overflow rules and sticky windows, and a backlog of
10,000 waiting tasks spread over the queues' channels in proportion to their staffing.
After the first `decide` fills every agent, a stream runs: each step one interaction
completes, one task arrives, `decide` runs and its offers are answered (90 % accepted, 5 %
rejected, 5 % left to expire, which re-offers the task elsewhere).

Arrivals (`--arrivals`):

- `closed` (default): the new task joins the queue and channel of the task that just
  completed. The backlog keeps its size and spread, so every decision is made against
  10,000 waiting tasks: the loaded center the targets are about.
- `open`: the new task joins a queue and channel drawn by staffing. Some queues then run
  dry and their agents sit idle with room, so each arrival there is matched against a
  pool of idle agents: a mix of loaded and quiet queues, reported for comparison.

Measured: decisions per second of router time (every router call the engine would make
counted, not only `decide`), the same over the whole stream including this benchmark's
own work, decisions per second inside `decide`, p50/p99/max latency of the `decide` calls
that produced exactly one decision, the memory the router's structures take
(tracemalloc, while loading) and the process's peak resident size.
Targets: >= 20,000 decisions/s and p99 <= 1 ms on one core.

    python -m bench.router.run [--output bench/results/router.json] [--steps 50000]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from parley.platform.routing import Agent, Offer, OverflowRule, Queue, Router, Strategy, Task
from parley.platform.routing.eligibility import qualifying_stage

AGENTS = 1_000
SKILLS = [f"skill-{n:02d}" for n in range(20)]
QUEUES = 50
BACKLOG = 10_000
CAPACITY = {"voice": 1, "chat": 3, "email": 5}
TARGET_DECISIONS_PER_SECOND = 20_000
TARGET_P99_MS = 1.0
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def build_queues(rng: random.Random) -> list[Queue]:
    strategies = list(Strategy)
    queues = []
    for n in range(QUEUES):
        channel = ("voice", "chat", "email")[n % 3]
        channels = {channel, "email"} if n % 10 == 4 else {channel}
        required = {skill: rng.randint(1, 5) for skill in rng.sample(SKILLS, rng.randint(1, 2))}
        overflow: tuple[OverflowRule, ...] = ()
        if n % 2 == 0:
            overflow = (OverflowRule(after_seconds=60, relax_levels_by=2),)
        if n % 5 == 0:
            lender = f"queue-{(n + 7) % QUEUES:02d}"
            overflow = (*overflow, OverflowRule(after_seconds=120, overflow_queue_ids=(lender,)))
        queues.append(
            Queue(
                f"queue-{n:02d}",
                channels=frozenset(channels),
                required_skills=required,
                priority=rng.choice((0, 0, 0, 1, 2)),
                strategy=strategies[n % len(strategies)],
                overflow=overflow,
                allows_blending=channel != "voice" and n % 2 == 1,
                sticky_window_seconds=20 if n % 7 == 0 else 0,
            )
        )
    return queues


def build_agents(rng: random.Random) -> list[Agent]:
    agents = []
    for n in range(AGENTS):
        skills = {skill: rng.randint(1, 10) for skill in rng.sample(SKILLS, 6)}
        idle_since = START - timedelta(seconds=rng.randint(0, 600))
        agents.append(Agent(f"agent-{n:04d}", skills, CAPACITY, idle_since))
    return agents


Line = tuple[str, str]  # (queue id, channel)


def staffed_lines(queues: list[Queue], agents: list[Agent]) -> dict[Line, int]:
    """Per queue and channel, the capacity of the agents who qualify without overflow."""
    by_id = {queue.queue_id: queue for queue in queues}
    staffed: dict[Line, int] = {}
    for queue in queues:
        qualified = [a for a in agents if qualifying_stage(a.skills, queue, by_id) == 0]
        for channel in sorted(queue.channels):
            staffed[(queue.queue_id, channel)] = sum(a.capacity[channel] for a in qualified)
    return staffed


class Workload:
    """Creates tasks and plays the engine's part: accepting, rejecting, completing.

    `router_ns` adds up the time spent inside the router's calls it makes.
    """

    def __init__(self, rng: random.Random, queues: list[Queue], agents: list[Agent]) -> None:
        self.rng = rng
        staffed = staffed_lines(queues, agents)
        self.lines = list(staffed)
        self.weights = list(staffed.values())
        self.agent_ids = [agent.agent_id for agent in agents]
        self.serial = 0
        self.line_of: dict[str, Line] = {}
        self.assigned: list[str] = []
        self.router_ns = 0

    def new_task(self, enqueued_at: datetime, line: Line | None = None) -> Task:
        rng = self.rng
        if line is None:
            (line,) = rng.choices(self.lines, weights=self.weights)
        self.serial += 1
        task_id = f"task-{self.serial}"
        self.line_of[task_id] = line
        return Task(
            task_id,
            line[0],
            line[1],
            enqueued_at,
            priority=3 if rng.random() < 0.02 else None,
            preferred_agent_id=rng.choice(self.agent_ids) if rng.random() < 0.05 else None,
        )

    def answer(self, router: Router, offer: Offer) -> None:
        roll = self.rng.random()
        started = time.perf_counter_ns()
        if roll < 0.90:
            router.accept(offer.offer_id, offer.agent_ids[0])
            self.assigned.append(offer.task_id)
        elif roll < 0.95:
            for agent_id in offer.agent_ids:
                router.reject(offer.offer_id, agent_id)
        else:
            router.expire(offer.offer_id)
        self.router_ns += time.perf_counter_ns() - started

    def complete_one(self, router: Router, now: datetime) -> Line | None:
        if not self.assigned:
            return None
        index = self.rng.randrange(len(self.assigned))
        self.assigned[index], self.assigned[-1] = self.assigned[-1], self.assigned[index]
        task_id = self.assigned.pop()
        started = time.perf_counter_ns()
        router.remove_task(task_id, now)
        self.router_ns += time.perf_counter_ns() - started
        return self.line_of.pop(task_id)


def cpu_model() -> str:
    """The processor's name, so results from different machines are not compared blindly."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The value at `fraction` of the way through `sorted_values` (0 when empty)."""
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def run(steps: int, seed: int, arrivals: str) -> dict[str, Any]:
    rng = random.Random(seed)
    queues = build_queues(rng)
    agents = build_agents(rng)
    workload = Workload(rng, queues, agents)

    # Loading, under tracemalloc: what the router's structures cost in memory.
    tracemalloc.start()
    loaded_at = time.perf_counter()
    router = Router(queues)
    for agent in agents:
        router.add_agent(agent)
    for _ in range(BACKLOG):
        offset = timedelta(seconds=rng.uniform(0, 3600))
        router.add_task(workload.new_task(START - offset), START)
    load_seconds = time.perf_counter() - loaded_at
    router_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # The first decide fills every agent from the backlog; then the backlog is topped up.
    first_at = time.perf_counter()
    first = router.decide(START)
    first_seconds = time.perf_counter() - first_at
    for decision in first:
        if isinstance(decision, Offer):
            workload.answer(router, decision)
    for _ in range(len(workload.assigned)):
        router.add_task(workload.new_task(START), START)
    # Settle what the first answers started (re-offers after rejects), off the clock.
    for _ in range(10):
        settling = router.decide(START)
        if not settling:
            break
        for decision in settling:
            if isinstance(decision, Offer):
                workload.answer(router, decision)

    # The stream. The router's time is every call the engine would make (add_task,
    # remove_task, decide, accept, reject, expire); the stream's time adds this
    # benchmark's own work (drawing and building tasks).
    gc.collect()
    gc.freeze()  # the loaded state is long-lived: keep it out of the collector's scans
    is_closed = arrivals == "closed"
    now = START
    tick = timedelta(milliseconds=5)
    decisions = 0
    decide_ns = 0
    adding_ns = 0
    workload.router_ns = 0
    single_ns: list[int] = []
    clock = time.perf_counter_ns
    cpu_started = time.process_time_ns()
    stream_started = clock()
    for _ in range(steps):
        now += tick
        line = workload.complete_one(router, now)
        task = workload.new_task(now, line if is_closed else None)
        started = clock()
        router.add_task(task, now)
        adding_ns += clock() - started
        started = clock()
        made = router.decide(now)
        elapsed = clock() - started
        decide_ns += elapsed
        decisions += len(made)
        if len(made) == 1:
            single_ns.append(elapsed)
        for decision in made:
            if isinstance(decision, Offer):
                workload.answer(router, decision)
    stream_ns = clock() - stream_started
    cpu_ns = time.process_time_ns() - cpu_started
    router_ns = decide_ns + adding_ns + workload.router_ns
    gc.unfreeze()

    single_ns.sort()
    waiting = sum(router.snapshot(queue.queue_id, now).waiting for queue in queues)
    return {
        "benchmark": "router",
        "arrivals": arrivals,
        "seed": seed,
        "agents": AGENTS,
        "skills": len(SKILLS),
        "queues": QUEUES,
        "backlog": BACKLOG,
        "steps": steps,
        "load_seconds": round(load_seconds, 3),
        "first_decide": {"decisions": len(first), "seconds": round(first_seconds, 3)},
        "decisions": decisions,
        # Decisions per second of time spent inside the router (all its calls).
        "decisions_per_second": round(decisions / (router_ns / 1e9)),
        # The same over the whole stream, this benchmark's own work included, in wall
        # time and in CPU time (steadier when other processes share the cores).
        "stream_decisions_per_second": round(decisions / (stream_ns / 1e9)),
        "stream_decisions_per_cpu_second": round(decisions / (cpu_ns / 1e9)),
        "decide_only_decisions_per_second": round(decisions / (decide_ns / 1e9)),
        "single_decision_calls": len(single_ns),
        "latency_ms": {
            "p50": round(percentile(single_ns, 0.50) / 1e6, 4),
            "p99": round(percentile(single_ns, 0.99) / 1e6, 4),
            "max": round((single_ns[-1] if single_ns else 0) / 1e6, 4),
        },
        "waiting_at_end": waiting,
        "router_memory_mb": round(router_bytes / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "targets": {
            "decisions_per_second": TARGET_DECISIONS_PER_SECOND,
            "p99_ms": TARGET_P99_MS,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Router benchmark (see the module docstring).")
    parser.add_argument("--output", type=Path, default=Path("bench/results/router.json"))
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--arrivals", choices=("closed", "open"), default="closed")
    args = parser.parse_args(argv)

    result = run(args.steps, args.seed, args.arrivals)
    result["meets_targets"] = (
        result["decisions_per_second"] >= TARGET_DECISIONS_PER_SECOND
        and result["latency_ms"]["p99"] <= TARGET_P99_MS
    )
    text = json.dumps(result, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
