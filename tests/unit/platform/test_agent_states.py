"""The agent state machine (ARCHITECTURE §4, F-AG-1/2): rules by example, then invariants
over random event sequences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.platform.agents import (
    ActiveInteraction,
    AgentEvent,
    AgentState,
    AgentView,
    ForceLogout,
    ForceState,
    InteractionEnded,
    InteractionMissed,
    InvalidTransition,
    Login,
    Logout,
    OfferAccepted,
    OfferCancelled,
    OfferCreated,
    OfferExpired,
    OfferRejected,
    OutboundStarted,
    PresenceLost,
    RequestNotReady,
    RequestReady,
    RingingOffer,
    StateInterval,
    TimerFired,
    TimerKind,
    Transition,
    WrapUpDone,
    is_accepting_offers,
    next_state,
)
from parley.platform.errors import DomainError

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
A = "agent-1"
T = TypeVar("T")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def offline(*, ready_on_login: bool = False, max_misses: int = 3) -> AgentView:
    return AgentView(A, state_since=T0, ready_on_login=ready_on_login, max_misses=max_misses)


def run(agent: AgentView, *steps: tuple[float, AgentEvent]) -> AgentView:
    for seconds, event in steps:
        agent = next_state(agent, event, at(seconds)).agent
    return agent


def ready(*, max_misses: int = 3) -> AgentView:
    return run(offline(ready_on_login=True, max_misses=max_misses), (0, Login(A)))


def offered(offer_id: str = "o1", channel: str = "chat") -> OfferCreated:
    return OfferCreated(A, offer_id, f"i-{offer_id}", channel)


def busy(*offer_ids: str) -> AgentView:
    agent = ready()
    for n, offer_id in enumerate(offer_ids or ("o1",)):
        agent = run(agent, (1 + n, offered(offer_id)), (1 + n, OfferAccepted(A, offer_id)))
    return agent


# --- login and logout --------------------------------------------------------------------


def test_login_puts_agent_in_not_ready_login_by_default() -> None:
    transition = next_state(offline(), Login(A), at(5))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "login"
    assert transition.closed == StateInterval(A, AgentState.OFFLINE, None, T0, at(5))
    assert transition.opened == StateInterval(A, AgentState.NOT_READY, "login", at(5))


def test_login_puts_agent_in_ready_when_the_agent_logs_in_ready() -> None:
    transition = next_state(offline(ready_on_login=True), Login(A), at(5))

    assert transition.agent.state is AgentState.READY
    assert transition.agent.reason is None


def test_logging_in_twice_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        next_state(ready(), Login(A), at(1))


@pytest.mark.parametrize(
    "event", [Logout(A), PresenceLost(A), ForceLogout(A, "sup")], ids=lambda e: type(e).__name__
)
def test_logout_presence_loss_and_forced_logout_go_offline_from_busy(event: AgentEvent) -> None:
    transition = next_state(busy("o1", "o2"), event, at(10))

    assert transition.agent.state is AgentState.OFFLINE
    assert transition.closed is not None
    assert transition.closed.state is AgentState.BUSY
    assert transition.agent.interactions == ()


def test_logout_reports_the_work_left_in_hand() -> None:
    agent = run(busy("o1"), (5, offered("o2")))

    transition = next_state(agent, Logout(A), at(10))

    assert transition.released_interactions == (ActiveInteraction("i-o1", "chat"),)
    assert transition.cancelled_offers == (RingingOffer("o2", "i-o2", "chat"),)
    assert transition.agent.offers == ()


def test_presence_loss_is_recorded_as_the_reason_of_the_offline_interval() -> None:
    transition = next_state(ready(), PresenceLost(A), at(3))

    assert transition.opened == StateInterval(A, AgentState.OFFLINE, "presence_lost", at(3))


def test_logout_when_offline_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        next_state(offline(), Logout(A), at(1))


def test_forced_logout_of_an_offline_agent_changes_nothing() -> None:
    agent = offline()
    transition = next_state(agent, ForceLogout(A, "sup"), at(1))

    assert transition.agent == agent
    assert not transition.is_state_change


# --- offers and misses -------------------------------------------------------------------


def test_offer_moves_a_ready_agent_to_reserved() -> None:
    transition = next_state(ready(), offered(), at(2))

    assert transition.agent.state is AgentState.RESERVED
    assert transition.agent.offers == (RingingOffer("o1", "i-o1", "chat"),)


def test_accepting_moves_a_reserved_agent_to_busy() -> None:
    agent = run(ready(), (2, offered()))

    transition = next_state(agent, OfferAccepted(A, "o1"), at(4))

    assert transition.agent.state is AgentState.BUSY
    assert transition.agent.interactions == (ActiveInteraction("i-o1", "chat"),)
    assert transition.closed == StateInterval(A, AgentState.RESERVED, None, at(2), at(4))


@pytest.mark.parametrize("event_type", [OfferRejected, OfferExpired])
def test_reject_or_expiry_returns_the_agent_to_ready(
    event_type: type[OfferRejected] | type[OfferExpired],
) -> None:
    agent = run(ready(), (2, offered()))

    transition = next_state(agent, event_type(A, "o1"), at(32))

    assert transition.agent.state is AgentState.READY
    assert transition.agent.offers == ()
    assert transition.agent.consecutive_misses == 1


def test_third_consecutive_miss_moves_agent_to_not_ready_missed() -> None:
    agent = run(
        ready(),
        (1, offered("o1")),
        (2, OfferRejected(A, "o1")),
        (3, offered("o2")),
        (4, OfferExpired(A, "o2")),
        (5, offered("o3")),
    )

    transition = next_state(agent, OfferExpired(A, "o3"), at(35))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "missed"
    assert transition.agent.consecutive_misses == 0
    assert not is_accepting_offers(transition.agent)


def test_accepting_an_offer_resets_the_miss_counter() -> None:
    agent = run(
        ready(),
        (1, offered("o1")),
        (2, OfferRejected(A, "o1")),
        (3, offered("o2")),
        (4, OfferRejected(A, "o2")),
        (5, offered("o3")),
        (6, OfferAccepted(A, "o3")),
    )

    assert agent.consecutive_misses == 0


def test_miss_limit_is_a_setting_of_the_agent() -> None:
    agent = run(ready(max_misses=1), (1, offered()))

    transition = next_state(agent, OfferRejected(A, "o1"), at(2))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "missed"


def test_cancelled_offer_is_not_a_miss() -> None:
    agent = run(ready(max_misses=1), (1, offered()))

    transition = next_state(agent, OfferCancelled(A, "o1"), at(2))

    assert transition.agent.state is AgentState.READY
    assert transition.agent.consecutive_misses == 0


def test_reaching_the_miss_limit_cancels_the_other_ringing_offers() -> None:
    agent = run(ready(max_misses=1), (1, offered("o1")), (1, offered("o2")))

    transition = next_state(agent, OfferExpired(A, "o1"), at(31))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.cancelled_offers == (RingingOffer("o2", "i-o2", "chat"),)
    assert transition.agent.offers == ()


def test_reaching_the_miss_limit_while_busy_becomes_a_pending_not_ready() -> None:
    agent = run(busy("o1"), (5, offered("o2")))
    agent = replace(agent, max_misses=1)

    transition = next_state(agent, OfferExpired(A, "o2"), at(35))

    assert transition.agent.state is AgentState.BUSY
    assert transition.agent.pending_not_ready == "missed"
    assert not transition.is_state_change


def test_reject_while_another_offer_rings_keeps_the_agent_reserved() -> None:
    agent = run(ready(), (1, offered("o1")), (1, offered("o2")))

    transition = next_state(agent, OfferRejected(A, "o1"), at(2))

    assert transition.agent.state is AgentState.RESERVED
    assert not transition.is_state_change


def test_a_call_the_agents_phone_missed_leaves_with_no_wrap_up_and_is_a_miss() -> None:
    transition = next_state(busy("o1"), InteractionMissed(A, "i-o1"), at(40))

    assert transition.agent.state is AgentState.READY
    assert transition.agent.interactions == ()
    assert transition.agent.consecutive_misses == 1


def test_a_missed_call_keeps_the_agent_busy_with_the_rest_of_their_work() -> None:
    transition = next_state(busy("o1", "o2"), InteractionMissed(A, "i-o2"), at(40))

    assert transition.agent.state is AgentState.BUSY
    assert [i.interaction_id for i in transition.agent.interactions] == ["i-o1"]


def test_missed_calls_up_to_the_limit_end_in_not_ready_missed() -> None:
    agent = replace(busy("o1"), max_misses=1)

    transition = next_state(agent, InteractionMissed(A, "i-o1"), at(40))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "missed"


def test_a_missed_call_keeps_the_agents_own_pending_not_ready() -> None:
    agent = run(replace(busy("o1"), max_misses=1), (10, RequestNotReady(A, "lunch")))

    transition = next_state(agent, InteractionMissed(A, "i-o1"), at(40))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "lunch"


def test_missing_work_not_in_hand_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        next_state(busy("o1"), InteractionMissed(A, "i-other"), at(40))


def test_a_call_the_agent_dials_makes_them_busy_with_no_offer() -> None:
    transition = next_state(ready(), OutboundStarted(A, "i-out", "voice"), at(5))

    assert transition.agent.state is AgentState.BUSY
    assert transition.agent.interactions == (ActiveInteraction("i-out", "voice"),)
    ended = next_state(transition.agent, InteractionEnded(A, "i-out"), at(65))
    assert ended.agent.state is AgentState.READY


def test_dialling_out_from_not_ready_comes_back_to_that_not_ready() -> None:
    agent = run(ready(), (1, RequestNotReady(A, "training")))

    busy_now = next_state(agent, OutboundStarted(A, "i-out", "voice"), at(5)).agent
    after = next_state(busy_now, InteractionEnded(A, "i-out"), at(65)).agent

    assert busy_now.state is AgentState.BUSY
    assert (after.state, after.reason) == (AgentState.NOT_READY, "training")


@pytest.mark.parametrize("why", ["offer is ringing", "wrap-up", "not logged in"])
def test_dialling_out_is_refused_while_ringing_in_wrap_up_or_logged_out(why: str) -> None:
    agent = {
        "offer is ringing": run(ready(), (1, offered())),
        "wrap-up": run(busy("o1"), (5, InteractionEnded(A, "i-o1", wrap_up_seconds=30))),
        "not logged in": offline(),
    }[why]
    with pytest.raises(InvalidTransition):
        next_state(agent, OutboundStarted(A, "i-out", "voice"), at(10))


# --- several interactions, wrap-up -------------------------------------------------------


def test_busy_agent_with_room_can_be_offered_more_and_stays_busy() -> None:
    transition = next_state(busy("o1"), offered("o2"), at(5))

    assert transition.agent.state is AgentState.BUSY
    assert not transition.is_state_change
    assert is_accepting_offers(transition.agent)


def test_agent_stays_busy_until_the_last_interaction_ends() -> None:
    agent = busy("o1", "o2")

    transition = next_state(agent, InteractionEnded(A, "i-o1", wrap_up_seconds=30), at(60))

    assert transition.agent.state is AgentState.BUSY
    assert transition.agent.interactions == (ActiveInteraction("i-o2", "chat"),)
    assert not transition.is_state_change


def test_last_interaction_ending_starts_wrap_up_with_its_timer() -> None:
    transition = next_state(busy("o1"), InteractionEnded(A, "i-o1", wrap_up_seconds=30), at(60))

    assert transition.agent.state is AgentState.WRAP_UP
    assert transition.agent.wrap_up_until == at(90)
    assert [(t.kind, t.due_at) for t in transition.timers] == [(TimerKind.WRAP_UP_END, at(90))]


def test_zero_wrap_up_goes_straight_to_ready() -> None:
    transition = next_state(busy("o1"), InteractionEnded(A, "i-o1", wrap_up_seconds=0), at(60))

    assert transition.agent.state is AgentState.READY
    assert transition.closed is not None
    assert transition.closed.state is AgentState.BUSY


def test_zero_wrap_up_goes_to_the_pending_not_ready() -> None:
    agent = run(busy("o1"), (10, RequestNotReady(A, "lunch", timedelta(minutes=30))))

    transition = next_state(agent, InteractionEnded(A, "i-o1"), at(60))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "lunch"
    assert transition.agent.pending_not_ready is None
    assert [(t.kind, t.due_at) for t in transition.timers] == [
        (TimerKind.NOT_READY_END, at(60 + 30 * 60))
    ]


def test_not_ready_asked_while_busy_is_pending_and_applied_after_wrap_up() -> None:
    agent = busy("o1")
    requested = next_state(agent, RequestNotReady(A, "break"), at(10))
    assert requested.agent.state is AgentState.BUSY
    assert requested.agent.pending_not_ready == "break"
    assert not requested.is_state_change

    agent = run(requested.agent, (60, InteractionEnded(A, "i-o1", wrap_up_seconds=20)))
    assert agent.state is AgentState.WRAP_UP

    transition = next_state(agent, WrapUpDone(A), at(70))
    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "break"


def test_not_ready_asked_while_reserved_is_applied_when_the_offer_is_rejected() -> None:
    agent = run(ready(), (1, offered()), (2, RequestNotReady(A, "break")))
    assert agent.state is AgentState.RESERVED

    transition = next_state(agent, OfferRejected(A, "o1"), at(3))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "break"


def test_not_ready_asked_during_wrap_up_waits_for_the_end_of_wrap_up() -> None:
    agent = run(busy("o1"), (60, InteractionEnded(A, "i-o1", wrap_up_seconds=30)))

    transition = next_state(agent, RequestNotReady(A, "break"), at(65))

    assert transition.agent.state is AgentState.WRAP_UP
    assert transition.agent.pending_not_ready == "break"


def test_ready_asked_while_busy_drops_the_pending_not_ready() -> None:
    agent = run(busy("o1"), (10, RequestNotReady(A, "break")), (20, RequestReady(A)))

    assert agent.pending_not_ready is None
    assert run(agent, (60, InteractionEnded(A, "i-o1"))).state is AgentState.READY


def test_wrap_up_done_moves_the_agent_to_ready() -> None:
    agent = run(busy("o1"), (60, InteractionEnded(A, "i-o1", wrap_up_seconds=30)))

    transition = next_state(agent, WrapUpDone(A), at(70))

    assert transition.agent.state is AgentState.READY
    assert transition.closed == StateInterval(A, AgentState.WRAP_UP, None, at(60), at(70))
    assert transition.agent.wrap_up_until is None


def test_wrap_up_timer_moves_the_agent_to_ready() -> None:
    agent = run(busy("o1"), (60, InteractionEnded(A, "i-o1", wrap_up_seconds=30)))

    transition = next_state(agent, TimerFired(A, TimerKind.WRAP_UP_END, at(90)), at(90))

    assert transition.agent.state is AgentState.READY


def test_stale_wrap_up_timer_changes_nothing() -> None:
    agent = run(
        busy("o1"),
        (60, InteractionEnded(A, "i-o1", wrap_up_seconds=30)),
        (65, WrapUpDone(A)),
        (70, offered("o2")),
        (71, OfferAccepted(A, "o2")),
        (80, InteractionEnded(A, "i-o2", wrap_up_seconds=30)),
    )

    transition = next_state(agent, TimerFired(A, TimerKind.WRAP_UP_END, at(90)), at(90))

    assert transition.agent == agent
    assert not transition.is_state_change


def test_offer_ringing_when_work_ends_keeps_the_agent_reserved() -> None:
    agent = run(busy("o1"), (5, offered("o2")))

    transition = next_state(agent, InteractionEnded(A, "i-o1"), at(10))

    assert transition.agent.state is AgentState.RESERVED


def test_accepting_an_offer_during_wrap_up_ends_wrap_up() -> None:
    agent = run(busy("o1"), (5, offered("o2")), (10, InteractionEnded(A, "i-o1", 60)))
    assert agent.state is AgentState.WRAP_UP

    transition = next_state(agent, OfferAccepted(A, "o2"), at(12))

    assert transition.agent.state is AgentState.BUSY
    assert transition.agent.wrap_up_until is None


# --- not ready and reason codes ----------------------------------------------------------


def test_reason_with_max_duration_returns_to_ready_by_timer() -> None:
    transition = next_state(ready(), RequestNotReady(A, "break", timedelta(minutes=15)), at(10))
    (timer,) = transition.timers
    assert timer.kind is TimerKind.NOT_READY_END
    assert timer.due_at == at(10 + 15 * 60)

    back = next_state(transition.agent, TimerFired(A, timer.kind, timer.due_at), timer.due_at)

    assert back.agent.state is AgentState.READY
    assert back.closed == StateInterval(A, AgentState.NOT_READY, "break", at(10), timer.due_at)


def test_changing_the_not_ready_reason_closes_one_interval_and_opens_another() -> None:
    agent = run(ready(), (10, RequestNotReady(A, "break")))

    transition = next_state(agent, RequestNotReady(A, "lunch"), at(20))

    assert transition.closed == StateInterval(A, AgentState.NOT_READY, "break", at(10), at(20))
    assert transition.opened == StateInterval(A, AgentState.NOT_READY, "lunch", at(20))


def test_asking_for_the_same_reason_again_changes_nothing() -> None:
    agent = run(ready(), (10, RequestNotReady(A, "break")))

    transition = next_state(agent, RequestNotReady(A, "break"), at(20))

    assert transition.agent == agent
    assert not transition.is_state_change


def test_ready_from_not_ready_closes_the_not_ready_interval() -> None:
    agent = run(offline(), (0, Login(A)))

    transition = next_state(agent, RequestReady(A), at(30))

    assert transition.agent.state is AgentState.READY
    assert transition.closed == StateInterval(A, AgentState.NOT_READY, "login", T0, at(30))


def test_stale_reason_timer_changes_nothing() -> None:
    agent = run(
        ready(),
        (10, RequestNotReady(A, "break", timedelta(minutes=15))),
        (20, RequestReady(A)),
        (30, RequestNotReady(A, "lunch")),
    )

    transition = next_state(agent, TimerFired(A, TimerKind.NOT_READY_END, at(910)), at(910))

    assert transition.agent.state is AgentState.NOT_READY
    assert transition.agent.reason == "lunch"


# --- supervisors -------------------------------------------------------------------------


def test_supervisor_forces_a_not_ready_agent_to_ready() -> None:
    agent = run(ready(), (10, RequestNotReady(A, "break")))

    transition = next_state(agent, ForceState(A, AgentState.READY, supervisor_id="s"), at(20))

    assert transition.agent.state is AgentState.READY


def test_supervisor_forcing_ready_ends_wrap_up() -> None:
    agent = run(busy("o1"), (60, InteractionEnded(A, "i-o1", wrap_up_seconds=120)))

    transition = next_state(agent, ForceState(A, AgentState.READY), at(70))

    assert transition.agent.state is AgentState.READY


def test_supervisor_forcing_not_ready_on_a_busy_agent_is_applied_after_the_work() -> None:
    transition = next_state(busy("o1"), ForceState(A, AgentState.NOT_READY, "coaching"), at(20))

    assert transition.agent.state is AgentState.BUSY
    assert transition.agent.pending_not_ready == "coaching"
    assert run(transition.agent, (60, InteractionEnded(A, "i-o1"))).reason == "coaching"


def test_supervisor_forcing_not_ready_without_a_reason_records_supervisor() -> None:
    transition = next_state(ready(), ForceState(A, AgentState.NOT_READY), at(20))

    assert transition.opened == StateInterval(A, AgentState.NOT_READY, "supervisor", at(20))


def test_supervisor_can_only_force_ready_or_not_ready() -> None:
    with pytest.raises(ValueError, match="ready or not_ready"):
        ForceState(A, AgentState.BUSY)


def test_forcing_the_state_of_an_offline_agent_is_invalid() -> None:
    with pytest.raises(InvalidTransition):
        next_state(offline(), ForceState(A, AgentState.READY), at(1))


# --- invalid transitions and inputs ------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "event"),
    [
        (offline(), RequestReady(A)),
        (offline(), RequestNotReady(A, "break")),
        (offline(), OfferCreated(A, "o1", "i1", "chat")),
        (run(offline(), (0, Login(A))), OfferCreated(A, "o1", "i1", "chat")),
        (ready(), OfferAccepted(A, "nope")),
        (ready(), OfferRejected(A, "nope")),
        (ready(), InteractionEnded(A, "nope")),
        (ready(), WrapUpDone(A)),
        (run(ready(), (1, offered("o1"))), offered("o1")),
    ],
    ids=[
        "ready-while-offline",
        "not-ready-while-offline",
        "offer-while-offline",
        "offer-while-not-ready",
        "accept-unknown-offer",
        "reject-unknown-offer",
        "end-unknown-interaction",
        "wrap-up-done-while-ready",
        "same-offer-twice",
    ],
)
def test_invalid_transitions_raise_with_a_stable_code(agent: AgentView, event: AgentEvent) -> None:
    with pytest.raises(InvalidTransition) as raised:
        next_state(agent, event, at(100))

    assert isinstance(raised.value, DomainError)
    assert raised.value.code == "invalid_transition"
    assert type(event).__name__ in raised.value.message


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_state(offline(), Login(A), datetime(2026, 1, 5, 9, 0))


def test_time_going_backwards_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        next_state(ready(), RequestReady(A), T0 - timedelta(seconds=1))


def test_an_event_for_another_agent_is_refused() -> None:
    with pytest.raises(ValueError, match="applied to agent"):
        next_state(ready(), RequestReady("someone-else"), at(1))


# --- random sequences --------------------------------------------------------------------

REASONS = ("break", "lunch")
CHANNELS = ("voice", "chat", "email")


ALL_KINDS = (
    "login",
    "logout",
    "presence_lost",
    "ready",
    "not_ready",
    "offer",
    "accept",
    "reject",
    "expire",
    "cancel",
    "end",
    "wrap_up_done",
    "timer",
    "force_state",
    "force_logout",
)
# What usually happens next in each state, so that random walks reach every state;
# any other event still comes up, to exercise refusals.
LIKELY_KINDS = {
    AgentState.OFFLINE: ("login",),
    AgentState.READY: ("offer", "offer", "not_ready", "logout"),
    AgentState.NOT_READY: ("ready", "ready", "not_ready", "timer", "offer"),
    AgentState.RESERVED: ("accept", "accept", "reject", "expire", "cancel", "offer"),
    AgentState.BUSY: ("end", "end", "offer", "accept", "not_ready", "ready"),
    AgentState.WRAP_UP: ("wrap_up_done", "timer", "accept", "not_ready", "force_state"),
}


def draw_event(data: st.DataObject, agent: AgentView, serial: int) -> AgentEvent:
    """An event, usually one that makes sense for `agent`, sometimes one that does not."""

    def pick(values: Sequence[T]) -> T:
        return data.draw(st.sampled_from(values))

    offer_ids = [offer.offer_id for offer in agent.offers] * 4 + ["o-unknown"]
    interaction_ids = [i.interaction_id for i in agent.interactions] * 4 + ["i-unknown"]
    kind = pick(LIKELY_KINDS[agent.state] if data.draw(st.integers(0, 4)) else ALL_KINDS)
    if kind == "login":
        return Login(A)
    if kind == "logout":
        return Logout(A)
    if kind == "presence_lost":
        return PresenceLost(A)
    if kind == "ready":
        return RequestReady(A)
    if kind == "not_ready":
        return RequestNotReady(A, pick(REASONS), pick([None, timedelta(seconds=60)]))
    if kind == "offer":
        offer_id = pick([f"o{serial}", f"o{serial}", *offer_ids])
        return OfferCreated(A, offer_id, f"i{serial}", pick(CHANNELS))
    if kind == "accept":
        return OfferAccepted(A, pick(offer_ids))
    if kind == "reject":
        return OfferRejected(A, pick(offer_ids))
    if kind == "expire":
        return OfferExpired(A, pick(offer_ids))
    if kind == "cancel":
        return OfferCancelled(A, pick(offer_ids))
    if kind == "end":
        return InteractionEnded(A, pick(interaction_ids), pick([0, 30]))
    if kind == "wrap_up_done":
        return WrapUpDone(A)
    if kind == "timer":
        deadline = agent.wrap_up_until or agent.not_ready_until or T0
        due_at = pick([deadline, deadline + timedelta(seconds=1)])
        return TimerFired(A, pick(list(TimerKind)), due_at)
    if kind == "force_state":
        target = pick([AgentState.READY, AgentState.NOT_READY])
        return ForceState(A, target, pick([None, "coaching"]))
    return ForceLogout(A, "sup")


def check_shape(agent: AgentView) -> None:
    """What must hold of any view the machine hands out."""
    if agent.state is AgentState.BUSY:
        assert agent.interactions
    elif agent.state is not AgentState.OFFLINE:
        assert not agent.interactions
    if agent.state is AgentState.RESERVED:
        assert agent.offers
    if agent.state in (AgentState.OFFLINE, AgentState.READY, AgentState.NOT_READY):
        assert not agent.offers
        assert agent.pending_not_ready is None
    assert (agent.state is AgentState.WRAP_UP) == (agent.wrap_up_until is not None)
    if agent.not_ready_until is not None:
        assert agent.state is AgentState.NOT_READY
    if agent.state is AgentState.NOT_READY:
        assert agent.reason is not None
    elif agent.state is not AgentState.OFFLINE:
        assert agent.reason is None
    assert 0 <= agent.consecutive_misses < agent.max_misses
    assert len({o.offer_id for o in agent.offers}) == len(agent.offers)


def check_intervals(before: AgentView, transition: Transition, now: datetime) -> None:
    after = transition.agent
    if transition.opened is None:
        assert transition.closed is None
        assert (after.state, after.reason, after.state_since) == (
            before.state,
            before.reason,
            before.state_since,
        )
        return
    assert transition.closed == StateInterval(
        A, before.state, before.reason, before.state_since, now
    )
    assert transition.opened == StateInterval(A, after.state, after.reason, now)
    assert (before.state, before.reason) != (after.state, after.reason)
    assert after.state_since == now
    for timer in transition.timers:
        assert timer.due_at >= now


@settings(max_examples=300, deadline=None)
@given(data=st.data(), ready_on_login=st.booleans(), max_misses=st.integers(1, 3))
def test_random_event_sequences_keep_intervals_contiguous_and_refusals_harmless(
    data: st.DataObject, ready_on_login: bool, max_misses: int
) -> None:
    agent = offline(ready_on_login=ready_on_login, max_misses=max_misses)
    log: list[StateInterval] = []  # closed intervals, in order
    current = StateInterval(A, agent.state, agent.reason, agent.state_since)
    now = T0
    for serial in range(data.draw(st.integers(1, 40), label="length")):
        now += timedelta(seconds=data.draw(st.integers(0, 45), label="pause"))
        event = draw_event(data, agent, serial)
        before = agent
        try:
            transition = next_state(agent, event, now)
        except InvalidTransition as refused:
            assert refused.code == "invalid_transition"
            assert agent is before  # nothing to roll back: the view is immutable
            continue
        check_intervals(before, transition, now)
        agent = transition.agent
        check_shape(agent)
        if transition.closed is not None:
            assert transition.closed.started_at == current.started_at
            assert transition.closed.state == current.state
            log.append(transition.closed)
            assert transition.opened is not None
            current = transition.opened

    # Closed intervals plus the open one tile the time since the start: no gap, no overlap.
    spans = [*log, replace(current, ended_at=now)]
    assert spans[0].started_at == T0
    for earlier, later in pairwise(spans):
        assert earlier.ended_at == later.started_at
        assert earlier.ended_at is not None
        assert earlier.started_at <= earlier.ended_at
    total = sum(((s.ended_at or now) - s.started_at for s in spans), timedelta())
    assert total == now - T0
