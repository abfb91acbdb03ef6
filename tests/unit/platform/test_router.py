"""The router (ARCHITECTURE §5, F-RT-1..7): rules by example, then the guarantees of
`decide` checked against an independent model over random operation sequences."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.routing import (
    Agent,
    Decision,
    Offer,
    OverflowRule,
    Queue,
    QueueClosed,
    QueueFull,
    QueueSnapshot,
    Router,
    Strategy,
    Task,
    TaskTimedOut,
    WaitEstimate,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def chat_queue(queue_id: str = "q1", **options: Any) -> Queue:
    """A chat queue; keyword arguments set any other field of Queue."""
    return replace(Queue(queue_id, channels=frozenset({"chat"})), **options)


def agent(
    agent_id: str,
    *,
    skills: Mapping[str, int] | None = None,
    capacity: Mapping[str, int] | None = None,
    idle: float = 0,
    available: bool = True,
    load: Mapping[str, int] | None = None,
) -> Agent:
    return Agent(
        agent_id,
        skills=skills or {},
        capacity=capacity or {"voice": 1, "chat": 3, "email": 5},
        idle_since=at(idle),
        is_available=available,
        load=load or {},
    )


def task(
    task_id: str, queue_id: str = "q1", channel: str = "chat", age: float = 0, **options: Any
) -> Task:
    """A task enqueued `age` seconds before T0; keyword arguments set any other field."""
    return replace(Task(task_id, queue_id, channel, enqueued_at=at(-age)), **options)


def router_with(queues: Iterable[Queue], agents: Iterable[Agent] = ()) -> Router:
    router = Router(queues)
    for each in agents:
        router.add_agent(each)
    return router


def offers_of(decisions: list[Decision]) -> list[Offer]:
    return [d for d in decisions if isinstance(d, Offer)]


def pairs(decisions: list[Decision]) -> list[tuple[str, tuple[str, ...]]]:
    return [(offer.task_id, offer.agent_ids) for offer in offers_of(decisions)]


# --- strategies --------------------------------------------------------------------------


def test_longest_idle_offers_to_the_agent_idle_longest() -> None:
    router = router_with(
        [chat_queue(strategy=Strategy.LONGEST_IDLE)],
        [agent("a1", idle=-10), agent("a2", idle=-300), agent("a3", idle=-60)],
    )
    router.add_task(task("t1"), at(0))

    assert pairs(router.decide(at(0))) == [("t1", ("a2",))]


def test_least_occupied_offers_to_the_agent_with_fewest_interactions() -> None:
    router = router_with(
        [chat_queue(strategy=Strategy.LEAST_OCCUPIED)],
        [
            agent("a1", load={"chat": 2}, idle=-500),
            agent("a2", load={"chat": 1}, idle=-10),
            agent("a3", load={"chat": 1, "email": 1}, idle=-900),
        ],
    )
    router.add_task(task("t1"), at(0))

    assert pairs(router.decide(at(0))) == [("t1", ("a2",))]


def test_best_skill_offers_to_the_highest_sum_of_required_levels() -> None:
    router = router_with(
        [chat_queue(strategy=Strategy.BEST_SKILL, required_skills={"fr": 3, "billing": 2})],
        [
            agent("a1", skills={"fr": 9, "billing": 2}, idle=-900),
            agent("a2", skills={"fr": 6, "billing": 7}),
            agent("a3", skills={"fr": 5, "billing": 5, "de": 10}),
        ],
    )
    router.add_task(task("t1"), at(0))

    assert pairs(router.decide(at(0))) == [("t1", ("a2",))]


def test_round_robin_rotates_through_the_agents_of_the_queue() -> None:
    router = router_with(
        [chat_queue(strategy=Strategy.ROUND_ROBIN)],
        [agent("a1"), agent("a2"), agent("a3")],
    )
    chosen = []
    for n in range(5):
        router.add_task(task(f"t{n}"), at(n))
        (offer,) = offers_of(router.decide(at(n)))
        router.accept(offer.offer_id, offer.agent_ids[0])
        router.remove_task(offer.task_id, at(n))
        chosen.append(offer.agent_ids[0])

    assert chosen == ["a1", "a2", "a3", "a1", "a2"]


def test_ring_all_offers_to_every_free_eligible_agent_and_the_first_to_accept_wins() -> None:
    router = router_with(
        [chat_queue(strategy=Strategy.RING_ALL, required_skills={"fr": 1})],
        [agent("a3", skills={"fr": 1}), agent("a1", skills={"fr": 2}), agent("a2")],
    )
    router.add_task(task("t1"), at(0))
    (offer,) = offers_of(router.decide(at(0)))
    assert offer.agent_ids == ("a1", "a3")

    assert router.accept(offer.offer_id, "a3") == ("a1",)
    assert router.outstanding_offers() == ()


def test_ring_all_keeps_ringing_the_others_when_one_agent_rejects() -> None:
    router = router_with([chat_queue(strategy=Strategy.RING_ALL)], [agent("a1"), agent("a2")])
    router.add_task(task("t1"), at(0))
    (offer,) = offers_of(router.decide(at(0)))

    router.reject(offer.offer_id, "a1")

    (ringing,) = router.outstanding_offers()
    assert ringing.agent_ids == ("a2",)
    assert router.decide(at(1)) == []


def test_ties_are_broken_by_agent_id() -> None:
    router = router_with([chat_queue()], [agent("b"), agent("c"), agent("a")])
    router.add_task(task("t1"), at(0))

    assert pairs(router.decide(at(0))) == [("t1", ("a",))]


# --- order of service --------------------------------------------------------------------


@pytest.mark.parametrize("agent_first", [True, False], ids=["agent-waits", "tasks-wait"])
def test_higher_priority_task_is_served_first_across_queues(agent_first: bool) -> None:
    router = router_with([chat_queue("low", priority=0), chat_queue("high", priority=5)])
    if agent_first:
        router.add_agent(agent("a1", capacity={"chat": 1}))
    router.add_task(task("new-high", "high"), at(0))
    router.add_task(task("old-low", "low", age=600), at(0))
    if not agent_first:
        assert router.decide(at(0)) == []
        router.add_agent(agent("a1", capacity={"chat": 1}))

    assert pairs(router.decide(at(0))) == [("new-high", ("a1",))]


@pytest.mark.parametrize("agent_first", [True, False], ids=["agent-waits", "tasks-wait"])
def test_older_task_is_served_first_at_equal_priority(agent_first: bool) -> None:
    router = router_with([chat_queue("q1"), Queue("q2", channels=frozenset({"chat", "email"}))])
    if agent_first:
        router.add_agent(agent("a1", capacity={"chat": 1, "email": 1}))
    router.add_task(task("young", "q1", age=5), at(0))
    router.add_task(task("old", "q2", "email", age=50), at(0))
    router.add_task(task("middle", "q2", age=20), at(0))
    if not agent_first:
        assert router.decide(at(0)) == []
        router.add_agent(agent("a1", capacity={"chat": 1, "email": 1}))

    assert pairs(router.decide(at(0))) == [("old", ("a1",)), ("middle", ("a1",))]


def test_task_priority_overrides_its_queues_priority() -> None:
    router = router_with([chat_queue(priority=1)], [agent("a1", capacity={"chat": 1})])
    router.add_task(task("normal", age=100), at(0))
    router.add_task(task("vip", priority=9), at(0))

    assert pairs(router.decide(at(0))) == [("vip", ("a1",))]


def test_a_freed_agent_takes_the_highest_priority_task_waiting() -> None:
    router = router_with([chat_queue()], [agent("a1", capacity={"chat": 1})])
    router.add_task(task("t1", age=30), at(0))
    (first,) = offers_of(router.decide(at(0)))
    router.accept(first.offer_id, "a1")
    router.add_task(task("t2", age=20), at(0))
    router.add_task(task("t3", age=10, priority=3), at(0))
    assert router.decide(at(0)) == []

    router.remove_task("t1", at(5))

    assert pairs(router.decide(at(5))) == [("t3", ("a1",))]


# --- skills, capacity, blending ----------------------------------------------------------


def test_agent_below_a_required_level_is_not_offered_the_task() -> None:
    router = router_with(
        [chat_queue(required_skills={"fr": 5})],
        [agent("a1", skills={"fr": 4}), agent("a2", skills={"de": 9})],
    )
    router.add_task(task("t1"), at(0))

    assert router.decide(at(0)) == []


def test_chat_capacity_limits_concurrent_offers_and_interactions() -> None:
    router = router_with([chat_queue()], [agent("a1", capacity={"chat": 3}, load={"chat": 1})])
    for n in range(4):
        router.add_task(task(f"t{n}", age=10 - n), at(0))

    assert pairs(router.decide(at(0))) == [("t0", ("a1",)), ("t1", ("a1",))]


def test_a_ringing_offer_holds_capacity_until_it_ends() -> None:
    router = router_with([chat_queue()], [agent("a1", capacity={"chat": 1})])
    router.add_task(task("t1", age=2), at(0))
    router.add_task(task("t2", age=1), at(0))
    (offer,) = offers_of(router.decide(at(0)))
    assert router.decide(at(1)) == []

    router.cancel(offer.offer_id)

    assert pairs(router.decide(at(2))) == [("t1", ("a1",))]


def test_a_voice_call_blocks_chat_unless_the_queue_allows_blending() -> None:
    router = router_with(
        [
            Queue("calls", channels=frozenset({"voice"})),
            chat_queue("strict"),
            chat_queue("blended", allows_blending=True),
        ],
        [agent("a1", load={"voice": 1})],
    )
    router.add_task(task("chat-strict", "strict", age=60), at(0))
    router.add_task(task("chat-blended", "blended"), at(0))

    assert pairs(router.decide(at(0))) == [("chat-blended", ("a1",))]


def test_an_agent_on_a_call_who_gains_room_takes_only_blended_work() -> None:
    router = router_with(
        [
            Queue("calls", channels=frozenset({"voice"})),
            chat_queue("strict"),
            chat_queue("blended", allows_blending=True),
        ],
        [agent("a1", capacity={"voice": 1, "chat": 1}, load={"voice": 1, "chat": 1})],
    )
    router.add_task(task("chat-strict", "strict", age=60), at(0))
    router.add_task(task("chat-blended", "blended"), at(0))
    assert router.decide(at(0)) == []

    router.agent_changed(agent("a1", capacity={"voice": 1, "chat": 1}, load={"voice": 1}))

    assert pairs(router.decide(at(1))) == [("chat-blended", ("a1",))]


def test_a_ringing_voice_offer_blocks_chat_too() -> None:
    router = router_with([Queue("calls", channels=frozenset({"voice"})), chat_queue()], [])
    router.add_task(task("call", "calls", "voice", age=10), at(0))
    router.add_task(task("chat"), at(0))
    router.add_agent(agent("a1"))

    assert pairs(router.decide(at(0))) == [("call", ("a1",))]


def test_an_agent_who_is_not_available_gets_nothing_until_they_are() -> None:
    router = router_with([chat_queue()], [agent("a1", available=False)])
    router.add_task(task("t1"), at(0))
    assert router.decide(at(0)) == []

    router.agent_changed(agent("a1"))

    assert pairs(router.decide(at(1))) == [("t1", ("a1",))]


def test_a_completed_task_frees_the_agents_capacity() -> None:
    router = router_with([chat_queue()], [agent("a1", capacity={"chat": 1})])
    router.add_task(task("t1", age=5), at(0))
    router.add_task(task("t2"), at(0))
    (offer,) = offers_of(router.decide(at(0)))
    router.accept(offer.offer_id, "a1")
    assert router.decide(at(1)) == []

    assert router.remove_task("t1", at(60)) is None

    assert pairs(router.decide(at(60))) == [("t2", ("a1",))]


# --- offers: reject, expiry, cancel ------------------------------------------------------


def test_a_rejected_task_is_offered_to_the_next_agent_not_the_decliner() -> None:
    router = router_with([chat_queue()], [agent("a1", idle=-100), agent("a2", idle=-50)])
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    assert first.agent_ids == ("a1",)

    router.reject(first.offer_id, "a1")
    (second,) = offers_of(router.decide(at(1)))
    assert second.agent_ids == ("a2",)

    router.reject(second.offer_id, "a2")
    assert router.decide(at(2)) == []


def test_an_expired_offer_counts_its_agent_as_a_decliner() -> None:
    router = router_with([chat_queue(offer_timeout_seconds=20)], [agent("a1"), agent("a2")])
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    assert first.expires_at == at(20)

    router.expire(first.offer_id)

    assert pairs(router.decide(at(20))) == [("t1", ("a2",))]


def test_a_cancelled_offer_does_not_exclude_its_agent() -> None:
    router = router_with([chat_queue()], [agent("a1")])
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))

    router.cancel(first.offer_id)

    assert pairs(router.decide(at(1))) == [("t1", ("a1",))]


def test_a_task_with_an_outstanding_offer_is_not_offered_again() -> None:
    router = router_with([chat_queue()], [agent("a1")])
    router.add_task(task("t1"), at(0))
    router.decide(at(0))
    router.add_agent(agent("a2"))

    assert router.decide(at(1)) == []


def test_tasks_declined_before_a_restart_stay_excluded() -> None:
    router = router_with([chat_queue()], [agent("a1"), agent("a2")])
    router.add_task(task("t1", excluded_agent_ids=frozenset({"a1"})), at(0))

    assert pairs(router.decide(at(0))) == [("t1", ("a2",))]


# --- decliners' cooldown (re-offer delay) ------------------------------------------------


def test_a_lone_agent_who_missed_an_offer_gets_it_again_after_the_cooldown() -> None:
    router = router_with([chat_queue(decliner_cooldown_seconds=30)], [agent("a1")])
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))

    router.expire(first.offer_id)  # as the engine does: the cooldown starts at its decide
    assert router.decide(at(30)) == []
    assert router.decide(at(59)) == []

    (again,) = offers_of(router.decide(at(60)))
    assert (again.task_id, again.agent_ids) == ("t1", ("a1",))
    assert again.offer_id != first.offer_id


def test_a_decliner_is_skipped_while_another_agent_can_take_the_task() -> None:
    router = router_with(
        [chat_queue(decliner_cooldown_seconds=30)],
        [agent("a1", idle=-100), agent("a2", idle=-50)],
    )
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    router.reject(first.offer_id, "a1")

    # a1 has idled longest, but is cooling down: a2 gets it, again after a cancel.
    (second,) = offers_of(router.decide(at(0)))
    assert second.agent_ids == ("a2",)
    router.cancel(second.offer_id)
    assert pairs(router.decide(at(29))) == [("t1", ("a2",))]

    # Once the cooldown ends, both are candidates and the strategy picks a1 again.
    router.cancel(router.outstanding_offers()[0].offer_id)
    assert pairs(router.decide(at(30))) == [("t1", ("a1",))]


def test_cooldown_zero_reoffers_to_the_decliner_when_nobody_else_can() -> None:
    router = router_with(
        [chat_queue(decliner_cooldown_seconds=0)],
        [agent("a1"), agent("a2", capacity={"chat": 1}, load={"chat": 1})],
    )
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    assert first.agent_ids == ("a1",)

    router.reject(first.offer_id, "a1")

    assert pairs(router.decide(at(0))) == [("t1", ("a1",))]


def test_a_reject_given_a_time_counts_the_cooldown_from_it() -> None:
    router = router_with([chat_queue(decliner_cooldown_seconds=20)], [agent("a1")])
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))

    router.reject(first.offer_id, "a1", at(5))

    assert router.decide(at(24)) == []
    assert pairs(router.decide(at(25))) == [("t1", ("a1",))]


def test_every_agent_of_an_expired_ring_all_offer_cools_down_then_rings_again() -> None:
    router = router_with(
        [chat_queue(strategy=Strategy.RING_ALL, decliner_cooldown_seconds=10)],
        [agent("a1"), agent("a2")],
    )
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    assert first.agent_ids == ("a1", "a2")

    router.expire(first.offer_id, at(30))
    router.add_agent(agent("a3"))

    assert pairs(router.decide(at(30))) == [("t1", ("a3",))]
    router.reject(router.outstanding_offers()[0].offer_id, "a3", at(31))
    assert router.decide(at(39)) == []
    assert pairs(router.decide(at(40))) == [("t1", ("a1", "a2"))]


def test_after_the_cooldown_the_declined_task_keeps_its_place_by_age() -> None:
    router = router_with(
        [chat_queue(decliner_cooldown_seconds=30)], [agent("a1", capacity={"chat": 1})]
    )
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    router.reject(first.offer_id, "a1", at(0))
    router.add_task(task("t2", age=-10), at(10))
    (second,) = offers_of(router.decide(at(10)))
    assert second.task_id == "t2"  # t1 is older, but a1 is cooling down on it
    router.accept(second.offer_id, "a1")
    assert router.decide(at(40)) == []  # cooldown over, but a1 has no room

    router.add_task(task("t3", age=-50), at(50))
    router.remove_task("t2", at(50))

    assert pairs(router.decide(at(50))) == [("t1", ("a1",))]


def test_a_decliner_cooling_down_is_not_offered_the_task_when_freed() -> None:
    router = router_with(
        [chat_queue(decliner_cooldown_seconds=30)], [agent("a1", capacity={"chat": 1})]
    )
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    router.reject(first.offer_id, "a1", at(0))
    router.agent_changed(agent("a1", capacity={"chat": 1}, available=False))
    router.agent_changed(agent("a1", capacity={"chat": 1}))  # free again, gained room

    assert router.decide(at(10)) == []
    assert pairs(router.decide(at(30))) == [("t1", ("a1",))]


def test_a_queue_change_keeps_the_running_cooldowns() -> None:
    router = router_with([chat_queue(decliner_cooldown_seconds=30)], [agent("a1")])
    router.add_task(task("t1"), at(0))
    (first,) = offers_of(router.decide(at(0)))
    router.reject(first.offer_id, "a1", at(0))

    router.set_queue(chat_queue(decliner_cooldown_seconds=5, priority=2))

    assert router.decide(at(29)) == []
    assert pairs(router.decide(at(30))) == [("t1", ("a1",))]


def test_declined_before_a_restart_cools_down_from_the_time_the_task_is_added() -> None:
    router = router_with([chat_queue(decliner_cooldown_seconds=30)], [agent("a1")])
    router.add_task(task("t1", age=100, excluded_agent_ids=frozenset({"a1"})), at(10))

    assert router.decide(at(10)) == []
    assert router.decide(at(39)) == []
    assert pairs(router.decide(at(40))) == [("t1", ("a1",))]


def test_a_restored_exclusion_can_give_the_end_of_each_cooldown() -> None:
    router = router_with([chat_queue()], [agent("a1", idle=-100), agent("a2"), agent("a3")])
    router.add_task(
        task("t1", excluded_agent_ids={"a1": at(12), "a2": at(-5), "a3": at(600)}), at(0)
    )

    assert pairs(router.decide(at(0))) == [("t1", ("a2",))]  # a2's cooldown ended already
    router.cancel(router.outstanding_offers()[0].offer_id)
    router.agent_changed(agent("a2", available=False))
    assert router.decide(at(11)) == []
    assert pairs(router.decide(at(12))) == [("t1", ("a1",))]


def test_a_negative_decliner_cooldown_is_refused() -> None:
    with pytest.raises(ValueError, match="cooldown"):
        chat_queue(decliner_cooldown_seconds=-1)


def test_removing_a_ringing_task_returns_its_offer_and_frees_the_agent() -> None:
    router = router_with([chat_queue()], [agent("a1", capacity={"chat": 1})])
    router.add_task(task("t1", age=1), at(0))
    router.add_task(task("t2"), at(0))
    (offer,) = offers_of(router.decide(at(0)))

    assert router.remove_task("t1", at(1)) == offer

    assert pairs(router.decide(at(1))) == [("t2", ("a1",))]


def test_removing_an_agent_returns_their_ringing_offers_and_requeues_the_tasks() -> None:
    router = router_with([chat_queue()], [agent("a1", idle=-100), agent("a2")])
    router.add_task(task("t1"), at(0))
    (offer,) = offers_of(router.decide(at(0)))

    assert router.remove_agent("a1") == (offer,)

    assert pairs(router.decide(at(1))) == [("t1", ("a2",))]


def test_an_offer_made_before_a_restart_rings_again_with_its_id_and_expiry() -> None:
    router = router_with([chat_queue()], [agent("a1", capacity={"chat": 1}), agent("a2")])
    router.add_task(task("t1"), at(0))

    restored = router.restore_offer("offer-from-db", "t1", ("a1",), at(25))

    assert restored == Offer("offer-from-db", "t1", "q1", "chat", ("a1",), at(25))
    assert router.outstanding_offers() == (restored,)
    assert router.decide(at(1)) == []
    assert router.accept("offer-from-db", "a1") == ()
    with pytest.raises(Conflict):
        router.restore_offer("offer-from-db", "t1", ("a2",), at(25))


def test_accepting_an_unknown_offer_or_for_another_agent_is_refused() -> None:
    router = router_with([chat_queue()], [agent("a1"), agent("a2", available=False)])
    router.add_task(task("t1"), at(0))
    (offer,) = offers_of(router.decide(at(0)))

    with pytest.raises(NotFound):
        router.accept("nope", "a1")
    with pytest.raises(Conflict) as raised:
        router.accept(offer.offer_id, "a2")
    assert raised.value.code == "not_offered"


# --- overflow ----------------------------------------------------------------------------


def test_overflow_relaxes_the_required_levels_after_the_wait() -> None:
    queue = chat_queue(
        required_skills={"fr": 7}, overflow=(OverflowRule(after_seconds=60, relax_levels_by=3),)
    )
    router = router_with([queue], [agent("a1", skills={"fr": 4}), agent("a2", skills={"fr": 3})])
    router.add_task(task("t1"), at(0))
    assert router.decide(at(59)) == []

    assert pairs(router.decide(at(60))) == [("t1", ("a1",))]


def test_relaxed_levels_never_drop_below_one() -> None:
    queue = chat_queue(
        required_skills={"fr": 2}, overflow=(OverflowRule(after_seconds=10, relax_levels_by=9),)
    )
    router = router_with([queue], [agent("a1", skills={"de": 5})])
    router.add_task(task("t1"), at(0))

    assert router.decide(at(100)) == []


def test_an_overflow_queue_lends_its_agents_after_the_wait() -> None:
    sales = chat_queue("sales", required_skills={"sales": 5})
    support = chat_queue(
        "support",
        required_skills={"support": 5},
        overflow=(OverflowRule(after_seconds=30, overflow_queue_ids=("sales",)),),
    )
    router = router_with([support, sales], [agent("seller", skills={"sales": 6})])
    router.add_task(task("t1", "support"), at(0))
    assert router.decide(at(29)) == []

    assert pairs(router.decide(at(30))) == [("t1", ("seller",))]


def test_an_overflowed_task_still_yields_to_higher_priority_work_of_the_lender() -> None:
    sales = chat_queue("sales", required_skills={"sales": 5}, priority=2)
    support = chat_queue(
        "support",
        required_skills={"support": 5},
        overflow=(OverflowRule(after_seconds=30, overflow_queue_ids=("sales",)),),
    )
    router = router_with([support, sales])
    router.add_task(task("t-support", "support", age=100), at(0))
    router.add_task(task("t-sales", "sales"), at(0))
    router.add_agent(agent("seller", skills={"sales": 6}, capacity={"chat": 1}))

    assert pairs(router.decide(at(0))) == [("t-sales", ("seller",))]


# --- max wait, max size, schedule --------------------------------------------------------


def test_a_task_waiting_past_max_wait_times_out_with_the_queues_action() -> None:
    router = router_with([chat_queue(max_wait_seconds=120, max_wait_action="voicemail")])
    router.add_task(task("t1"), at(0))
    assert router.decide(at(119)) == []

    assert router.decide(at(125)) == [TaskTimedOut("t1", "q1", "voicemail", 125.0)]
    assert router.snapshot("q1", at(125)).waiting == 0


def test_a_ringing_task_past_max_wait_times_out_only_if_the_offer_fails() -> None:
    router = router_with([chat_queue(max_wait_seconds=60)], [agent("a1")])
    router.add_task(task("t1", age=55), at(0))
    (offer,) = offers_of(router.decide(at(0)))
    assert router.decide(at(10)) == []

    router.reject(offer.offer_id, "a1")

    (timed_out,) = router.decide(at(11))
    assert isinstance(timed_out, TaskTimedOut)
    assert timed_out.task_id == "t1"


def test_a_full_queue_refuses_a_task_with_its_action() -> None:
    router = router_with([chat_queue(max_size=2, max_size_action="callback")])
    router.add_task(task("t1"), at(0))
    router.add_task(task("t2"), at(0))

    with pytest.raises(QueueFull) as raised:
        router.add_task(task("t3"), at(0))

    assert raised.value.action == "callback"
    assert raised.value.code == "queue_full"


def test_a_closed_queue_refuses_a_task_with_its_after_hours_action() -> None:
    router = router_with([chat_queue(is_open=False, after_hours_action="voicemail")])

    with pytest.raises(QueueClosed) as raised:
        router.add_task(task("t1"), at(0))

    assert raised.value.action == "voicemail"
    assert isinstance(raised.value, DomainError)


def test_work_already_let_in_waits_in_a_closed_or_full_queue_and_is_offered() -> None:
    closed = chat_queue(is_open=False, max_size=1)
    router = router_with([closed], [agent("a1")])

    router.add_task(task("t1", is_admitted=True), at(0))
    router.add_task(task("t2", is_admitted=True), at(0))

    assert router.queued_task_ids("q1") == ["t1", "t2"]
    offers = [d for d in router.decide(at(0)) if isinstance(d, Offer)]
    assert [o.task_id for o in offers] == ["t1", "t2"]


def test_a_queue_schedule_can_be_asked_with_the_time() -> None:
    def office_hours(now: datetime) -> bool:
        return 9 <= now.hour < 17

    router = router_with([chat_queue(is_open=office_hours)])
    router.add_task(task("t1"), at(0))

    with pytest.raises(QueueClosed):
        router.add_task(task("t2"), at(9 * 3600))


# --- sticky agent ------------------------------------------------------------------------


def test_a_sticky_task_waits_for_its_preferred_agent_within_the_window() -> None:
    router = router_with(
        [chat_queue(sticky_window_seconds=30)],
        [agent("other", idle=-500), agent("mine", capacity={"chat": 1}, load={"chat": 1})],
    )
    router.add_task(task("t1", preferred_agent_id="mine"), at(0))
    assert router.decide(at(10)) == []

    router.agent_changed(agent("mine", capacity={"chat": 1}))

    assert pairs(router.decide(at(11))) == [("t1", ("mine",))]


def test_a_sticky_task_goes_to_anyone_after_the_window() -> None:
    router = router_with(
        [chat_queue(sticky_window_seconds=30)],
        [agent("other"), agent("mine", available=False)],
    )
    router.add_task(task("t1", preferred_agent_id="mine"), at(0))
    assert router.decide(at(29)) == []

    assert pairs(router.decide(at(30))) == [("t1", ("other",))]


def test_the_preferred_agent_wins_when_free_even_without_a_window() -> None:
    router = router_with(
        [chat_queue(strategy=Strategy.RING_ALL)],
        [agent("a1"), agent("a2"), agent("mine")],
    )
    router.add_task(task("t1", preferred_agent_id="mine"), at(0))

    assert pairs(router.decide(at(0))) == [("t1", ("mine",))]


def test_a_preferred_agent_who_can_never_take_the_task_is_not_waited_for() -> None:
    router = router_with(
        [chat_queue(required_skills={"fr": 5}, sticky_window_seconds=300)],
        [agent("mine", skills={"de": 9}), agent("other", skills={"fr": 5})],
    )
    router.add_task(task("t1", preferred_agent_id="mine"), at(0))

    assert pairs(router.decide(at(0))) == [("t1", ("other",))]


# --- position, wait estimate, snapshot ---------------------------------------------------


def test_position_follows_priority_then_age() -> None:
    router = router_with([chat_queue()])
    router.add_task(task("old", age=30), at(0))
    router.add_task(task("new", age=10), at(0))
    router.add_task(task("vip", priority=5), at(0))

    assert router.queued_task_ids("q1") == ["vip", "old", "new"]
    assert [router.estimate_wait(t).position for t in ("vip", "old", "new")] == [1, 2, 3]


def test_estimated_wait_is_position_times_handle_time_over_staffed_capacity() -> None:
    router = router_with(
        [chat_queue(average_handle_seconds=300)],
        [agent("a1", capacity={"chat": 2}, load={"chat": 2}), agent("a2", capacity={"chat": 1})],
    )
    router.add_task(task("t1", age=20), at(0))
    router.add_task(task("t2", age=10), at(0))
    router.add_task(task("t3"), at(0))
    router.decide(at(0))  # t1 rings a2: it keeps its place in the queue

    assert router.estimate_wait("t3") == WaitEstimate("t3", 3, 3 * 300 / 3)


def test_estimated_wait_is_unknown_when_nobody_staffs_the_queue() -> None:
    router = router_with([chat_queue()], [agent("a1", available=False)])
    router.add_task(task("t1"), at(0))

    assert router.estimate_wait("t1") == WaitEstimate("t1", 1, None)


def test_recorded_handle_times_move_the_estimate() -> None:
    router = router_with([chat_queue(average_handle_seconds=100)], [agent("a1", load={"chat": 3})])
    router.add_task(task("t1"), at(0))

    router.record_handle_time("q1", 200)

    assert router.estimate_wait("t1").seconds == pytest.approx((100 + 0.2 * 100) / 3)


def test_snapshot_counts_waiting_and_ringing_tasks_and_the_longest_wait() -> None:
    router = router_with([chat_queue()], [agent("a1", capacity={"chat": 1})])
    router.add_task(task("t1", age=40), at(0))
    router.add_task(task("t2", age=90, priority=-1), at(0))
    router.add_task(task("t3", age=5), at(0))
    router.decide(at(0))

    assert router.snapshot("q1", at(10)) == QueueSnapshot("q1", 3, 1, 100.0)


# --- API edges ---------------------------------------------------------------------------


def test_unknown_queue_task_and_duplicate_ids_are_refused() -> None:
    router = router_with([chat_queue()], [agent("a1")])
    with pytest.raises(NotFound):
        router.add_task(task("t1", "nope"), at(0))
    router.add_task(task("t1"), at(0))
    with pytest.raises(Conflict):
        router.add_task(task("t1"), at(0))
    with pytest.raises(Conflict):
        router.add_task(task("t2", channel="voice"), at(0))
    with pytest.raises(Conflict):
        router.add_agent(agent("a1"))
    with pytest.raises(NotFound):
        router.remove_task("nope", at(0))


def test_a_naive_time_is_refused() -> None:
    router = router_with([chat_queue()])
    with pytest.raises(TypeError):
        router.decide(datetime(2026, 1, 5, 9, 0))


def test_changing_a_queue_keeps_its_waiting_tasks_and_routes_by_the_new_rules() -> None:
    router = router_with([chat_queue(required_skills={"fr": 5})], [agent("a1", skills={"fr": 2})])
    router.add_task(task("t1"), at(0))
    assert router.decide(at(0)) == []

    router.set_queue(chat_queue(required_skills={"fr": 2}, priority=3))

    assert pairs(router.decide(at(1))) == [("t1", ("a1",))]


def test_the_same_calls_give_the_same_decisions() -> None:
    def replay() -> list[Decision]:
        router = router_with(
            [chat_queue("q1"), chat_queue("q2", strategy=Strategy.ROUND_ROBIN)],
            [agent(f"a{n}", idle=-n % 3) for n in range(6)],
        )
        decisions: list[Decision] = []
        for n in range(20):
            router.add_task(task(f"t{n}", f"q{1 + n % 2}", age=n % 4), at(n))
            decisions += router.decide(at(n))
        return decisions

    assert replay() == replay()


# --- guarantees over random operation sequences ------------------------------------------

SKILLS = ("fr", "de", "billing")
CHANNELS = ("voice", "chat", "email")
AGENT_IDS = ("a1", "a2", "a3", "a4", "a5")


def open_on_even_minutes(now: datetime) -> bool:
    return (now - T0) // timedelta(minutes=1) % 2 == 0


@dataclass
class ModelTask:
    task: Task
    held_for: str | None  # preferred agent the task waits for during its sticky window
    # Decliners -> end of their cooldown; None: it starts at the next decide.
    excluded: dict[str, datetime | None] = field(default_factory=dict)
    offer_id: str | None = None

    def is_excluded(self, agent_id: str, now: datetime) -> bool:
        if agent_id not in self.excluded:
            return False
        until = self.excluded[agent_id]
        return until is None or now < until


def qualifies(skills: Mapping[str, int], required: Mapping[str, int], relax: int) -> bool:
    return all(skills.get(s, 0) >= max(level - relax, 1) for s, level in required.items())


class RouterMachine(RuleBasedStateMachine):
    """Drives a Router and a plain model side by side; checks the guarantees of decide."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.serial = 0
        self.queues: dict[str, Queue] = {}
        self.router = Router()
        self.agents: dict[str, Agent] = {}
        self.load: dict[str, Counter[str]] = {}  # accepted interactions per agent
        self.waiting: dict[str, ModelTask] = {}  # queued, ringing or not
        self.assigned: dict[str, tuple[str, str]] = {}  # task -> (agent, channel)
        self.offers: dict[str, Offer] = {}

    @initialize(
        strategies=st.lists(st.sampled_from(list(Strategy)), min_size=3, max_size=3),
        cooldowns=st.lists(st.sampled_from([0, 10, 30]), min_size=3, max_size=3),
        blending=st.booleans(),
    )
    def set_up(self, strategies: list[Strategy], cooldowns: list[int], blending: bool) -> None:
        queues = [
            Queue(
                "calls",
                channels=frozenset({"voice"}),
                required_skills={"fr": 4},
                strategy=strategies[0],
                overflow=(OverflowRule(20, relax_levels_by=2),),
                max_wait_seconds=90,
                decliner_cooldown_seconds=cooldowns[0],
            ),
            Queue(
                "chats",
                channels=frozenset({"chat", "email"}),
                required_skills={"de": 3, "billing": 2},
                strategy=strategies[1],
                priority=1,
                overflow=(OverflowRule(15, overflow_queue_ids=("mail",)),),
                allows_blending=blending,
                sticky_window_seconds=25,
                max_size=5,
                decliner_cooldown_seconds=cooldowns[1],
            ),
            Queue(
                "mail",
                channels=frozenset({"email", "chat"}),
                required_skills={"billing": 1},
                strategy=strategies[2],
                priority=0,
                allows_blending=True,
                is_open=open_on_even_minutes,
                decliner_cooldown_seconds=cooldowns[2],
            ),
        ]
        for queue in queues:
            self.queues[queue.queue_id] = queue
            self.router.set_queue(queue)

    # --- operations ----------------------------------------------------------------------

    @rule(
        agent_id=st.sampled_from(AGENT_IDS),
        skills=st.fixed_dictionaries({skill: st.integers(0, 6) for skill in SKILLS}),
        capacity=st.fixed_dictionaries(
            {"voice": st.integers(0, 1), "chat": st.integers(0, 3), "email": st.integers(0, 2)}
        ),
        available=st.sampled_from([True, True, True, False]),
    )
    def add_agent(
        self, agent_id: str, skills: dict[str, int], capacity: dict[str, int], available: bool
    ) -> None:
        skills = {skill: level for skill, level in skills.items() if level}
        new = Agent(agent_id, skills, capacity, self.now, is_available=available)
        if agent_id in self.agents:
            with pytest.raises(Conflict):
                self.router.add_agent(new)
            return
        self.router.add_agent(new)
        self.agents[agent_id] = new
        self.load[agent_id] = Counter()

    @precondition(lambda self: self.agents)
    @rule(
        data=st.data(),
        available=st.sampled_from([True, True, False]),
        change_skills=st.booleans(),
    )
    def change_agent(self, data: st.DataObject, available: bool, change_skills: bool) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.agents)))
        old = self.agents[agent_id]
        skills = dict(old.skills)
        if change_skills:
            skills = data.draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 6)))
            skills.setdefault("billing", 2)
        new = Agent(
            agent_id,
            skills,
            old.capacity,
            self.now,
            is_available=available,
            load=dict(self.load[agent_id]),
        )
        self.router.agent_changed(new)
        self.agents[agent_id] = new

    @precondition(lambda self: len(self.agents) >= 3)
    @rule(data=st.data())
    def remove_agent(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.agents)))
        cancelled = self.router.remove_agent(agent_id)
        assert {o.offer_id for o in cancelled} == {
            o.offer_id for o in self.offers.values() if agent_id in o.agent_ids
        }
        for offer in cancelled:
            rest = tuple(a for a in self.offers[offer.offer_id].agent_ids if a != agent_id)
            self.narrow_offer(offer.offer_id, rest)
        del self.agents[agent_id]
        # Their accepted work is the engine's business now.
        for task_id, (owner, _) in list(self.assigned.items()):
            if owner == agent_id:
                self.router.remove_task(task_id, self.now)
                del self.assigned[task_id]
        del self.load[agent_id]

    @rule(
        queue_id=st.sampled_from(["calls", "chats", "mail"]),
        data=st.data(),
        priority=st.sampled_from([None, None, 0, 2]),
        age=st.sampled_from([0, 0, 5, 30]),
        preferred=st.sampled_from([None, None, *AGENT_IDS]),
        restored=st.one_of(
            st.just(frozenset[str]()),
            st.frozensets(st.sampled_from(AGENT_IDS), max_size=2),
            st.dictionaries(
                st.sampled_from(AGENT_IDS), st.sampled_from([-5, 0, 10, 40]), max_size=2
            ),
        ),
    )
    def add_task(
        self,
        queue_id: str,
        data: st.DataObject,
        priority: int | None,
        age: int,
        preferred: str | None,
        restored: frozenset[str] | dict[str, int],
    ) -> None:
        """`restored`: decliners from before a restart, as ids or with their cooldown's
        end (seconds from now)."""
        queue = self.queues[queue_id]
        channel = data.draw(st.sampled_from(sorted(queue.channels)))
        self.serial += 1
        excluded: dict[str, datetime | None]
        if isinstance(restored, dict):
            excluded = {a: self.now + timedelta(seconds=s) for a, s in restored.items()}
        else:
            cooldown = timedelta(seconds=queue.decliner_cooldown_seconds)
            excluded = dict.fromkeys(restored, self.now + cooldown)
        new = Task(
            f"t{self.serial}",
            queue_id,
            channel,
            self.now - timedelta(seconds=age),
            priority=priority,
            preferred_agent_id=preferred,
            excluded_agent_ids=(
                {a: until for a, until in excluded.items() if until is not None}
                if isinstance(restored, dict)
                else restored
            ),
        )
        queued = sum(1 for t in self.waiting.values() if t.task.queue_id == queue_id)
        if not queue.is_open_at(self.now):
            with pytest.raises(QueueClosed):
                self.router.add_task(new, self.now)
            return
        if queue.max_size is not None and queued >= queue.max_size:
            with pytest.raises(QueueFull):
                self.router.add_task(new, self.now)
            return
        self.router.add_task(new, self.now)
        held_for = None
        if (
            preferred is not None
            and age < queue.sticky_window_seconds
            and (preferred not in self.agents or self.stage_of(preferred, queue) is not None)
        ):
            held_for = preferred
        self.waiting[new.task_id] = ModelTask(new, held_for, excluded)

    @precondition(lambda self: self.waiting or self.assigned)
    @rule(data=st.data())
    def remove_task(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted([*self.waiting, *self.assigned])))
        cancelled = self.router.remove_task(task_id, self.now)
        if task_id in self.assigned:
            owner, channel = self.assigned.pop(task_id)
            self.load[owner][channel] -= 1
            assert cancelled is None
            return
        waiting = self.waiting.pop(task_id)
        assert (cancelled.offer_id if cancelled else None) == waiting.offer_id
        if waiting.offer_id is not None:
            del self.offers[waiting.offer_id]

    @rule(seconds=st.sampled_from([1, 5, 14, 16, 30, 61]))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.offers)
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        offer = self.offers[data.draw(st.sampled_from(sorted(self.offers)))]
        agent_id = data.draw(st.sampled_from(offer.agent_ids))
        others = self.router.accept(offer.offer_id, agent_id)
        assert set(others) == set(offer.agent_ids) - {agent_id}
        del self.offers[offer.offer_id]
        self.waiting.pop(offer.task_id)
        self.assigned[offer.task_id] = (agent_id, offer.channel)
        self.load[agent_id][offer.channel] += 1

    def cooldown_from_now(self, offer: Offer, is_timed: bool) -> datetime | None:
        """End of a decliner's cooldown if it starts now, None if at the next decide."""
        if not is_timed:
            return None
        return self.now + timedelta(seconds=self.queues[offer.queue_id].decliner_cooldown_seconds)

    @precondition(lambda self: self.offers)
    @rule(data=st.data(), is_timed=st.booleans())
    def reject(self, data: st.DataObject, is_timed: bool) -> None:
        offer = self.offers[data.draw(st.sampled_from(sorted(self.offers)))]
        agent_id = data.draw(st.sampled_from(offer.agent_ids))
        self.router.reject(offer.offer_id, agent_id, self.now if is_timed else None)
        self.waiting[offer.task_id].excluded[agent_id] = self.cooldown_from_now(offer, is_timed)
        self.narrow_offer(offer.offer_id, tuple(a for a in offer.agent_ids if a != agent_id))

    @precondition(lambda self: self.offers)
    @rule(data=st.data(), is_expiry=st.booleans(), is_timed=st.booleans())
    def expire_or_cancel(self, data: st.DataObject, is_expiry: bool, is_timed: bool) -> None:
        offer = self.offers[data.draw(st.sampled_from(sorted(self.offers)))]
        if is_expiry:
            self.router.expire(offer.offer_id, self.now if is_timed else None)
            until = self.cooldown_from_now(offer, is_timed)
            self.waiting[offer.task_id].excluded.update(dict.fromkeys(offer.agent_ids, until))
        else:
            self.router.cancel(offer.offer_id)
        self.narrow_offer(offer.offer_id, ())

    @rule()
    def decide(self) -> None:
        # Cooldowns of decliners given no time start now.
        for model in self.waiting.values():
            cooldown = timedelta(seconds=self.queues[model.task.queue_id].decliner_cooldown_seconds)
            for agent_id, until in model.excluded.items():
                if until is None:
                    model.excluded[agent_id] = self.now + cooldown
        decisions = self.router.decide(self.now)
        new_offers: list[Offer] = []
        for decision in decisions:
            if isinstance(decision, TaskTimedOut):
                waited = self.waiting.pop(decision.task_id)
                assert waited.offer_id is None
                max_wait = self.queues[decision.queue_id].max_wait_seconds
                assert max_wait is not None
                assert self.now - waited.task.enqueued_at >= timedelta(seconds=max_wait)
                continue
            model = self.waiting[decision.task_id]
            assert model.offer_id is None, "a ringing task was offered again"
            strategy = self.queues[decision.queue_id].strategy
            if strategy is not Strategy.RING_ALL:
                assert len(decision.agent_ids) == 1
            for agent_id in decision.agent_ids:
                assert self.could_take(agent_id, model, self.in_hand(agent_id))
            model.offer_id = decision.offer_id
            self.offers[decision.offer_id] = decision
            new_offers.append(decision)
        self.check_nobody_idles_next_to_work()
        self.check_better_tasks_were_not_passed_over(new_offers)

    # --- the model's view of eligibility -------------------------------------------------

    def narrow_offer(self, offer_id: str, agent_ids: tuple[str, ...]) -> None:
        offer = self.offers.pop(offer_id)
        if agent_ids:
            self.offers[offer_id] = Offer(
                offer.offer_id,
                offer.task_id,
                offer.queue_id,
                offer.channel,
                agent_ids,
                offer.expires_at,
            )
        else:
            self.waiting[offer.task_id].offer_id = None

    def in_hand(self, agent_id: str) -> Counter[str]:
        counts = Counter(self.load[agent_id])
        for offer in self.offers.values():
            if agent_id in offer.agent_ids:
                counts[offer.channel] += 1
        return counts

    def stage_of(self, agent_id: str, queue: Queue, age: float | None = None) -> int | None:
        """First overflow stage at which the agent qualifies (up to `age` if given)."""
        skills = self.agents[agent_id].skills
        relax = 0
        lenders: list[str] = []
        for stage in range(len(queue.overflow) + 1):
            if stage:
                rule_ = queue.overflow[stage - 1]
                if age is not None and age < rule_.after_seconds:
                    return None
                relax = max(relax, rule_.relax_levels_by)
                lenders += rule_.overflow_queue_ids
            if qualifies(skills, queue.required_skills, relax) or any(
                qualifies(skills, self.queues[q].required_skills, 0) for q in lenders
            ):
                return stage
        return None

    def could_take(self, agent_id: str, model: ModelTask, in_hand: Counter[str]) -> bool:
        agent_ = self.agents[agent_id]
        task_ = model.task
        queue = self.queues[task_.queue_id]
        age = (self.now - task_.enqueued_at).total_seconds()
        channel = task_.channel
        if not agent_.is_available or model.is_excluded(agent_id, self.now):
            return False
        if in_hand[channel] >= agent_.capacity.get(channel, 0):
            return False
        if channel != "voice" and in_hand["voice"] > 0 and not queue.allows_blending:
            return False
        if model.held_for not in (None, agent_id) and age < queue.sticky_window_seconds:
            return False
        return self.stage_of(agent_id, queue, age) is not None

    def waiting_unoffered(self) -> list[ModelTask]:
        return [t for t in self.waiting.values() if t.offer_id is None]

    def check_nobody_idles_next_to_work(self) -> None:
        for model in self.waiting_unoffered():
            max_wait = self.queues[model.task.queue_id].max_wait_seconds
            if max_wait is not None:
                assert self.now - model.task.enqueued_at < timedelta(seconds=max_wait)
            for agent_id in self.agents:
                assert not self.could_take(agent_id, model, self.in_hand(agent_id)), (
                    f"{agent_id} idles next to {model.task.task_id}"
                )

    def check_better_tasks_were_not_passed_over(self, new_offers: list[Offer]) -> None:
        """When an agent got a task, no better task they could take was left waiting.

        The agent's room when the offer was made was at least their room now without
        that offer, so that is what "could take" is checked against."""

        def rank(t: Task) -> tuple[int, datetime]:
            queue = self.queues[t.queue_id]
            return (-(t.priority if t.priority is not None else queue.priority), t.enqueued_at)

        for offer in new_offers:
            offered_rank = rank(self.waiting[offer.task_id].task)
            for agent_id in offer.agent_ids:
                room = self.in_hand(agent_id)
                room[offer.channel] -= 1
                for model in self.waiting_unoffered():
                    if rank(model.task) < offered_rank:
                        assert not self.could_take(agent_id, model, room), (
                            f"{agent_id} got {offer.task_id} over {model.task.task_id}"
                        )

    @invariant()
    def no_agent_is_over_capacity(self) -> None:
        for agent_id, agent_ in self.agents.items():
            for channel, used in self.in_hand(agent_id).items():
                assert used <= agent_.capacity.get(channel, 0), f"{agent_id} over on {channel}"

    @invariant()
    def the_router_agrees_on_what_rings(self) -> None:
        assert {o.offer_id: o for o in self.router.outstanding_offers()} == self.offers

    @invariant()
    def snapshots_agree_with_the_model(self) -> None:
        for queue_id in self.queues:
            snapshot = self.router.snapshot(queue_id, self.now)
            queued = [t for t in self.waiting.values() if t.task.queue_id == queue_id]
            assert snapshot.waiting == len(queued)
            assert snapshot.offered == sum(1 for t in queued if t.offer_id is not None)
            positions = sorted(self.router.estimate_wait(t.task.task_id).position for t in queued)
            assert positions == list(range(1, len(queued) + 1))


RouterMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_router_guarantees_hold_over_random_operations = RouterMachine.TestCase
