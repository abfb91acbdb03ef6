"""The agent state machine: how one agent moves between states, with no I/O.

`next_state(agent, event, now)` takes an immutable `AgentView`, one event and the time, and
returns a `Transition`: the new view, the state interval it closes and the one it opens
(what AgentStateLog stores, ARCHITECTURE §4), the timers the engine must set, and the work
it must clean up (offers to cancel, interactions left in hand at logout). The engine loads
the view, calls this, stores the intervals, arms the timers and publishes the change.

States are the agent's *presence*, one per agent, not one per interaction:

- `reserved` means "an offer is ringing and the agent has nothing else in hand". An agent
  who is `busy` on a chat with spare chat capacity may still get offers; they stay `busy`
  and the offer is only recorded in `offers`. Whether an agent has room for one more
  interaction on a channel is the router's question (capacity per channel), not a state.
- `busy` lasts while at least one interaction is in hand; the last one to end starts
  `wrap_up` (or skips it when the queue's wrap-up time is 0).
- A not-ready asked for while the agent has work in hand (ringing offers, interactions,
  wrap-up) is kept in `pending_not_ready` and applied when the work ends.
- An offer made while busy may still ring during wrap-up (accepting it ends the wrap-up);
  when the work ends (wrap-up done or skipped) with an offer ringing, the agent is
  `reserved` rather than `ready`.

Timers are matched by their due time: a `TimerFired` whose `due_at` is not the view's
current deadline is stale (the agent moved on) and changes nothing, so the engine never has
to cancel a timer to stay correct.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from parley.platform.errors import InvalidTransition

DEFAULT_MAX_MISSES = 3

# Reason codes the system itself uses; admins define the others (lunch, break, ...).
LOGIN_REASON = "login"
MISSED_REASON = "missed"
SUPERVISOR_REASON = "supervisor"
# Why an agent went offline, kept as the reason of the offline interval for reports.
LOGOUT_REASON = "logout"
PRESENCE_LOST_REASON = "presence_lost"
FORCED_LOGOUT_REASON = "forced_logout"


class AgentState(StrEnum):
    OFFLINE = "offline"
    READY = "ready"
    RESERVED = "reserved"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"


class TimerKind(StrEnum):
    WRAP_UP_END = "wrap_up_end"
    NOT_READY_END = "not_ready_end"


@dataclass(frozen=True, slots=True)
class ActiveInteraction:
    """An interaction the agent has accepted and not finished."""

    interaction_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class RingingOffer:
    """An offer shown to the agent, not yet accepted, rejected, expired or cancelled."""

    offer_id: str
    interaction_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class AgentView:
    """Everything the state machine needs to know about one agent.

    `reason` qualifies `not_ready` (the ReasonCode) and `offline` (why the agent left);
    it is None in the other states. `ready_on_login` and `max_misses` are the agent's
    settings; the rest is state.
    """

    agent_id: str
    state_since: datetime
    state: AgentState = AgentState.OFFLINE
    reason: str | None = None
    pending_not_ready: str | None = None
    pending_max_duration: timedelta | None = None
    consecutive_misses: int = 0
    interactions: tuple[ActiveInteraction, ...] = ()
    offers: tuple[RingingOffer, ...] = ()
    ready_on_login: bool = False
    max_misses: int = DEFAULT_MAX_MISSES
    wrap_up_until: datetime | None = None
    not_ready_until: datetime | None = None

    @property
    def has_work(self) -> bool:
        """Work in hand: interactions, ringing offers or wrap-up."""
        return bool(self.interactions or self.offers) or self.state is AgentState.WRAP_UP


@dataclass(frozen=True, slots=True)
class StateInterval:
    """One row of AgentStateLog; `ended_at` is None while the interval lasts."""

    agent_id: str
    state: AgentState
    reason: str | None
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer for the engine to arm; when it fires, feed back `TimerFired(kind, due_at)`."""

    agent_id: str
    kind: TimerKind
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    """What one event did to one agent.

    `closed` and `opened` are both set when the state (or not-ready reason) changed and
    both None otherwise; `closed.ended_at == opened.started_at == now`.
    """

    agent: AgentView
    closed: StateInterval | None = None
    opened: StateInterval | None = None
    timers: tuple[Timer, ...] = ()
    cancelled_offers: tuple[RingingOffer, ...] = ()
    released_interactions: tuple[ActiveInteraction, ...] = ()

    @property
    def is_state_change(self) -> bool:
        return self.opened is not None


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Login:
    agent_id: str


@dataclass(frozen=True, slots=True)
class Logout:
    agent_id: str


@dataclass(frozen=True, slots=True)
class PresenceLost:
    """The agent's websocket stopped heartbeating (F-AG-3)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class RequestReady:
    agent_id: str


@dataclass(frozen=True, slots=True)
class RequestNotReady:
    agent_id: str
    reason: str
    max_duration: timedelta | None = None


@dataclass(frozen=True, slots=True)
class OfferCreated:
    agent_id: str
    offer_id: str
    interaction_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class OfferAccepted:
    agent_id: str
    offer_id: str


@dataclass(frozen=True, slots=True)
class OfferRejected:
    agent_id: str
    offer_id: str


@dataclass(frozen=True, slots=True)
class OfferExpired:
    agent_id: str
    offer_id: str


@dataclass(frozen=True, slots=True)
class OfferCancelled:
    """The offer went away through no fault of the agent: another agent won a ring-all,
    the customer hung up. Unlike a reject or an expiry it is not a miss."""

    agent_id: str
    offer_id: str


@dataclass(frozen=True, slots=True)
class InteractionEnded:
    agent_id: str
    interaction_id: str
    wrap_up_seconds: int = 0


@dataclass(frozen=True, slots=True)
class OutboundStarted:
    """The agent starts work of their own (a call they dial): it is in their hands at
    once, with no offer. From not-ready they come back to that not-ready afterwards."""

    agent_id: str
    interaction_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class InteractionMissed:
    """Work the agent accepted never reached them: their phone did not answer, was busy
    or unreachable. It leaves their hands with no wrap-up and counts as a miss."""

    agent_id: str
    interaction_id: str


@dataclass(frozen=True, slots=True)
class WrapUpDone:
    agent_id: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    agent_id: str
    kind: TimerKind
    due_at: datetime


@dataclass(frozen=True, slots=True)
class ForceState:
    """A supervisor puts the agent in `ready` or `not_ready(reason)`.

    Applied at once when no interaction is in hand and no offer rings (this cuts a
    wrap-up short); otherwise it replaces the pending state, like the agent's own
    request, so that time on interactions is still logged as busy.
    """

    agent_id: str
    state: AgentState
    reason: str | None = None
    max_duration: timedelta | None = None
    supervisor_id: str | None = None

    def __post_init__(self) -> None:
        if self.state not in (AgentState.READY, AgentState.NOT_READY):
            raise ValueError(f"a supervisor can force ready or not_ready, not {self.state}")


@dataclass(frozen=True, slots=True)
class ForceLogout:
    agent_id: str
    supervisor_id: str | None = None


AgentEvent = (
    Login
    | Logout
    | PresenceLost
    | RequestReady
    | RequestNotReady
    | OfferCreated
    | OfferAccepted
    | OfferRejected
    | OfferExpired
    | OfferCancelled
    | InteractionEnded
    | InteractionMissed
    | OutboundStarted
    | WrapUpDone
    | TimerFired
    | ForceState
    | ForceLogout
)

# Where the router may send new work. Capacity per channel is the router's concern.
_ACCEPTS_OFFERS = frozenset({AgentState.READY, AgentState.RESERVED, AgentState.BUSY})


def is_accepting_offers(agent: AgentView) -> bool:
    """Whether the router may offer this agent new work (capacity permitting)."""
    return agent.state in _ACCEPTS_OFFERS and agent.pending_not_ready is None


# --- the machine -------------------------------------------------------------------------


def next_state(agent: AgentView, event: AgentEvent, now: datetime) -> Transition:
    """Apply one event; raise `InvalidTransition` (and change nothing) if it is not allowed."""
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if now < agent.state_since:
        raise ValueError(f"now ({now}) is before the current state began ({agent.state_since})")
    if event.agent_id != agent.agent_id:
        raise ValueError(f"event for agent {event.agent_id} applied to agent {agent.agent_id}")

    match event:
        case Login():
            return _log_in(agent, now, event)
        case Logout():
            return _log_out(agent, now, LOGOUT_REASON, event)
        case PresenceLost():
            return _log_out(agent, now, PRESENCE_LOST_REASON, event)
        case ForceLogout():
            if agent.state is AgentState.OFFLINE:
                return Transition(agent)
            return _log_out(agent, now, FORCED_LOGOUT_REASON, event)
        case RequestReady():
            return _request_ready(agent, now, event)
        case RequestNotReady(reason=reason, max_duration=max_duration):
            return _request_not_ready(agent, now, reason, max_duration, event)
        case OfferCreated():
            return _create_offer(agent, now, event)
        case OfferAccepted(offer_id=offer_id):
            return _accept_offer(agent, now, offer_id, event)
        case OfferRejected(offer_id=offer_id) | OfferExpired(offer_id=offer_id):
            return _drop_offer(agent, now, offer_id, event, is_miss=True)
        case OfferCancelled(offer_id=offer_id):
            return _drop_offer(agent, now, offer_id, event, is_miss=False)
        case InteractionEnded():
            return _end_interaction(agent, now, event)
        case InteractionMissed():
            return _miss_interaction(agent, now, event)
        case OutboundStarted():
            return _start_outbound(agent, now, event)
        case WrapUpDone():
            if agent.state is not AgentState.WRAP_UP:
                raise _refuse(agent, event, "the agent is not in wrap-up")
            return _settle(agent, now)
        case TimerFired():
            return _fire_timer(agent, now, event)
        case ForceState():
            return _force_state(agent, now, event)
    raise TypeError(f"not an agent event: {event!r}")


def _refuse(agent: AgentView, event: AgentEvent, why: str) -> InvalidTransition:
    name = type(event).__name__
    return InvalidTransition(f"{name} is not allowed while {agent.state.value}: {why}.")


def _enter(
    agent: AgentView,
    now: datetime,
    state: AgentState,
    reason: str | None = None,
    *,
    max_duration: timedelta | None = None,
    wrap_up_seconds: int = 0,
) -> Transition:
    """Move to `state`, closing the current interval and opening the next one.

    Staying in the same state with the same reason is no change: no interval closes and
    the running deadlines are kept.
    """
    if state is agent.state and reason == agent.reason:
        return Transition(agent)
    wrap_up_until = (
        now + timedelta(seconds=wrap_up_seconds) if state is AgentState.WRAP_UP else None
    )
    not_ready_until = now + max_duration if state is AgentState.NOT_READY and max_duration else None
    moved = replace(
        agent,
        state=state,
        reason=reason,
        state_since=now,
        wrap_up_until=wrap_up_until,
        not_ready_until=not_ready_until,
    )
    timers: list[Timer] = []
    if wrap_up_until is not None:
        timers.append(Timer(agent.agent_id, TimerKind.WRAP_UP_END, wrap_up_until))
    if not_ready_until is not None:
        timers.append(Timer(agent.agent_id, TimerKind.NOT_READY_END, not_ready_until))
    return Transition(
        agent=moved,
        closed=StateInterval(agent.agent_id, agent.state, agent.reason, agent.state_since, now),
        opened=StateInterval(agent.agent_id, state, reason, now),
        timers=tuple(timers),
    )


def _settle(agent: AgentView, now: datetime) -> Transition:
    """Where an agent goes when the work in hand is over (wrap-up done or skipped)."""
    if agent.offers:
        return _enter(agent, now, AgentState.RESERVED)
    if agent.pending_not_ready is not None:
        cleared = replace(agent, pending_not_ready=None, pending_max_duration=None)
        return _enter(
            cleared,
            now,
            AgentState.NOT_READY,
            agent.pending_not_ready,
            max_duration=agent.pending_max_duration,
        )
    return _enter(agent, now, AgentState.READY)


def _log_in(agent: AgentView, now: datetime, event: Login) -> Transition:
    if agent.state is not AgentState.OFFLINE:
        raise _refuse(agent, event, "the agent is already logged in")
    fresh = replace(
        agent,
        pending_not_ready=None,
        pending_max_duration=None,
        consecutive_misses=0,
        interactions=(),
        offers=(),
    )
    if agent.ready_on_login:
        return _enter(fresh, now, AgentState.READY)
    return _enter(fresh, now, AgentState.NOT_READY, LOGIN_REASON)


def _log_out(agent: AgentView, now: datetime, reason: str, event: AgentEvent) -> Transition:
    if agent.state is AgentState.OFFLINE:
        raise _refuse(agent, event, "the agent is not logged in")
    emptied = replace(
        agent,
        pending_not_ready=None,
        pending_max_duration=None,
        consecutive_misses=0,
        interactions=(),
        offers=(),
    )
    moved = _enter(emptied, now, AgentState.OFFLINE, reason)
    # The agent may have had work in hand: the engine re-queues or ends it.
    return replace(moved, cancelled_offers=agent.offers, released_interactions=agent.interactions)


def _request_ready(agent: AgentView, now: datetime, event: RequestReady) -> Transition:
    if agent.state is AgentState.OFFLINE:
        raise _refuse(agent, event, "log in first")
    if agent.state is AgentState.NOT_READY:
        return _enter(agent, now, AgentState.READY)
    # Ready already, or work in hand: the agent will be ready when it ends, so a pending
    # not-ready is dropped.
    return Transition(replace(agent, pending_not_ready=None, pending_max_duration=None))


def _request_not_ready(
    agent: AgentView,
    now: datetime,
    reason: str,
    max_duration: timedelta | None,
    event: AgentEvent,
) -> Transition:
    if agent.state is AgentState.OFFLINE:
        raise _refuse(agent, event, "log in first")
    if agent.has_work:
        return Transition(
            replace(agent, pending_not_ready=reason, pending_max_duration=max_duration)
        )
    return _enter(agent, now, AgentState.NOT_READY, reason, max_duration=max_duration)


def _create_offer(agent: AgentView, now: datetime, event: OfferCreated) -> Transition:
    if agent.state not in _ACCEPTS_OFFERS:
        raise _refuse(agent, event, "the agent does not take offers now")
    if any(offer.offer_id == event.offer_id for offer in agent.offers):
        raise _refuse(agent, event, f"offer {event.offer_id} is already ringing")
    offer = RingingOffer(event.offer_id, event.interaction_id, event.channel)
    ringing = replace(agent, offers=(*agent.offers, offer))
    if agent.state is AgentState.READY:
        return _enter(ringing, now, AgentState.RESERVED)
    return Transition(ringing)


def _find_offer(agent: AgentView, offer_id: str, event: AgentEvent) -> RingingOffer:
    for offer in agent.offers:
        if offer.offer_id == offer_id:
            return offer
    raise _refuse(agent, event, f"offer {offer_id} is not ringing for this agent")


def _accept_offer(agent: AgentView, now: datetime, offer_id: str, event: AgentEvent) -> Transition:
    offer = _find_offer(agent, offer_id, event)
    working = replace(
        agent,
        offers=tuple(other for other in agent.offers if other is not offer),
        interactions=(*agent.interactions, ActiveInteraction(offer.interaction_id, offer.channel)),
        consecutive_misses=0,
    )
    return _enter(working, now, AgentState.BUSY)


def _drop_offer(
    agent: AgentView, now: datetime, offer_id: str, event: AgentEvent, *, is_miss: bool
) -> Transition:
    offer = _find_offer(agent, offer_id, event)
    remaining = tuple(other for other in agent.offers if other is not offer)
    misses = agent.consecutive_misses + (1 if is_miss else 0)
    dropped = replace(agent, offers=remaining, consecutive_misses=misses)

    if is_miss and misses >= agent.max_misses:
        if agent.state is AgentState.RESERVED:
            # Nobody is answering: stop sending work, and take back what still rings.
            away = replace(
                dropped,
                offers=(),
                consecutive_misses=0,
                pending_not_ready=None,
                pending_max_duration=None,
            )
            moved = _enter(away, now, AgentState.NOT_READY, MISSED_REASON)
            return replace(moved, cancelled_offers=remaining)
        # Busy or in wrap-up: the agent is there for the work in hand; stop afterwards
        # unless they already asked for a not-ready of their own.
        pending = agent.pending_not_ready or MISSED_REASON
        duration = agent.pending_max_duration if agent.pending_not_ready else None
        return Transition(
            replace(
                dropped,
                consecutive_misses=0,
                pending_not_ready=pending,
                pending_max_duration=duration,
            )
        )

    if agent.state is AgentState.RESERVED and not remaining:
        return _settle(dropped, now)
    return Transition(dropped)


def _end_interaction(agent: AgentView, now: datetime, event: InteractionEnded) -> Transition:
    ended = next((i for i in agent.interactions if i.interaction_id == event.interaction_id), None)
    if ended is None:
        raise _refuse(agent, event, f"interaction {event.interaction_id} is not in hand")
    remaining = tuple(i for i in agent.interactions if i is not ended)
    left = replace(agent, interactions=remaining)
    if remaining:
        return Transition(left)
    if event.wrap_up_seconds > 0:
        return _enter(left, now, AgentState.WRAP_UP, wrap_up_seconds=event.wrap_up_seconds)
    return _settle(left, now)


_DIALS_OUT = frozenset({AgentState.READY, AgentState.BUSY, AgentState.NOT_READY})


def _start_outbound(agent: AgentView, now: datetime, event: OutboundStarted) -> Transition:
    if agent.state not in _DIALS_OUT:
        why = {
            AgentState.RESERVED: "an offer is ringing: accept or reject it first",
            AgentState.WRAP_UP: "finish the wrap-up first",
        }.get(agent.state, "the agent is not logged in")
        raise _refuse(agent, event, why)
    if any(i.interaction_id == event.interaction_id for i in agent.interactions):
        raise _refuse(agent, event, f"interaction {event.interaction_id} is already in hand")
    working = replace(
        agent,
        interactions=(*agent.interactions, ActiveInteraction(event.interaction_id, event.channel)),
    )
    if agent.state is AgentState.BUSY:
        return Transition(working)
    if agent.state is AgentState.NOT_READY and agent.pending_not_ready is None:
        working = replace(working, pending_not_ready=agent.reason)
    return _enter(working, now, AgentState.BUSY)


def _miss_interaction(agent: AgentView, now: datetime, event: InteractionMissed) -> Transition:
    missed = next((i for i in agent.interactions if i.interaction_id == event.interaction_id), None)
    if missed is None:
        raise _refuse(agent, event, f"interaction {event.interaction_id} is not in hand")
    remaining = tuple(i for i in agent.interactions if i is not missed)
    misses = agent.consecutive_misses + 1
    left = replace(agent, interactions=remaining, consecutive_misses=misses)
    if misses >= agent.max_misses:
        # Nobody is answering: stop sending work once the work in hand is over, unless
        # the agent already asked for a not-ready of their own.
        pending = agent.pending_not_ready or MISSED_REASON
        left = replace(left, consecutive_misses=0, pending_not_ready=pending)
    if remaining:
        return Transition(left)
    return _settle(left, now)


def _fire_timer(agent: AgentView, now: datetime, event: TimerFired) -> Transition:
    if (
        event.kind is TimerKind.WRAP_UP_END
        and agent.state is AgentState.WRAP_UP
        and agent.wrap_up_until == event.due_at
    ):
        return _settle(agent, now)
    if (
        event.kind is TimerKind.NOT_READY_END
        and agent.state is AgentState.NOT_READY
        and agent.not_ready_until == event.due_at
    ):
        return _enter(agent, now, AgentState.READY)
    return Transition(agent)  # stale: the agent left that state since the timer was set


def _force_state(agent: AgentView, now: datetime, event: ForceState) -> Transition:
    if agent.state is AgentState.OFFLINE:
        raise _refuse(agent, event, "the agent is not logged in")
    reason = (event.reason or SUPERVISOR_REASON) if event.state is AgentState.NOT_READY else None
    if agent.interactions or agent.offers:
        return Transition(
            replace(
                agent,
                pending_not_ready=reason,
                pending_max_duration=event.max_duration if reason else None,
            )
        )
    cleared = replace(agent, pending_not_ready=None, pending_max_duration=None)
    return _enter(cleared, now, event.state, reason, max_duration=event.max_duration)
