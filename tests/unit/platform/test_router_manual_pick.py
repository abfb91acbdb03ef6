"""Manual-pick queues (F-RT-6): the router offers their tasks to nobody, yet keeps them
waiting like any other (position, snapshot, max wait) until the engine takes one out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from parley.platform.routing import Agent, Offer, Queue, Router, Task, TaskTimedOut

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def email_queue(queue_id: str, **options: object) -> Queue:
    return Queue(queue_id, channels=frozenset({"email"}), **options)  # type: ignore[arg-type]


def free_agent(agent_id: str) -> Agent:
    return Agent(agent_id, skills={}, capacity={"email": 5}, idle_since=T0)


def task(task_id: str, queue_id: str, seconds: float = 0, **options: object) -> Task:
    return Task(task_id, queue_id, "email", at(seconds), **options)  # type: ignore[arg-type]


def test_a_manual_pick_task_waits_unoffered_while_agents_are_free() -> None:
    router = Router([email_queue("pool", is_manual_pick=True), email_queue("auto")])
    router.add_agent(free_agent("a1"))
    router.add_task(task("t1", "pool"), at(0))
    router.add_task(task("t2", "pool", 1, preferred_agent_id="a1"), at(1))

    assert router.decide(at(1)) == []
    assert router.queued_task_ids("pool") == ["t1", "t2"]
    assert router.snapshot("pool", at(5)).waiting == 2
    assert router.estimate_wait("t2").position == 2
    assert router.agents_for("pool") == ("a1",)

    # The same agent still gets the work of an automatic queue.
    router.add_task(task("t3", "auto", 2), at(2))
    [offer] = router.decide(at(2))
    assert isinstance(offer, Offer) and offer.task_id == "t3" and offer.agent_ids == ("a1",)
    # Taking a task out (the engine's `take`) leaves the rest waiting.
    router.remove_task("t1", at(3))
    assert router.queued_task_ids("pool") == ["t2"]
    assert router.decide(at(3)) == []


def test_a_manual_pick_task_past_its_max_wait_times_out() -> None:
    router = Router([email_queue("pool", is_manual_pick=True, max_wait_seconds=60.0)])
    router.add_agent(free_agent("a1"))
    router.add_task(task("t1", "pool"), at(0))
    assert router.decide(at(59)) == []
    [timed_out] = router.decide(at(61))
    assert isinstance(timed_out, TaskTimedOut) and timed_out.task_id == "t1"
