"""The in-memory bus and the event envelope: matching, ordering, slow subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError
from structlog.testing import capture_logs

from parley.platform.bus import (
    BusNotRunning,
    Event,
    MemoryBus,
    RedisBus,
    Subscription,
    create_bus,
)


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.start()
    yield bus
    await bus.close()


async def drain(subscription: Subscription) -> list[Event]:
    """Unsubscribe and read what was queued until then (a closed subscription ends)."""
    subscription.close()
    return await asyncio.wait_for(_read_all(subscription), timeout=1)


async def _read_all(subscription: Subscription) -> list[Event]:
    return [event async for event in subscription]


async def next_event(subscription: Subscription) -> Event:
    return await asyncio.wait_for(anext(subscription), timeout=1)


# --- envelope ---------------------------------------------------------------------------


def test_event_create_fills_id_and_utc_time() -> None:
    event = Event.create("agent.state_changed", {"agent_id": 7, "state": "ready"})
    assert len(event.id) == 32
    assert event.occurred_at.tzinfo is UTC
    assert abs(datetime.now(UTC) - event.occurred_at) < timedelta(seconds=5)
    assert Event.create("agent.state_changed", {}).id != event.id


def test_event_time_is_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    event = Event.create("offer.created", {}, now=datetime(2026, 1, 5, 10, 0, tzinfo=paris))
    assert event.occurred_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_event_rejects_naive_time() -> None:
    with pytest.raises(ValidationError):
        Event.create("offer.created", {}, now=datetime(2026, 1, 5, 9, 0))


@pytest.mark.parametrize(
    "bad_type", ["agent", "Agent.created", "agent.", ".created", "agent..x", "agent.state-x", ""]
)
def test_event_rejects_malformed_types(bad_type: str) -> None:
    with pytest.raises(ValidationError):
        Event.create(bad_type, {})


@pytest.mark.parametrize(
    "payload", [{"when": datetime.now(UTC)}, {"ratio": float("nan")}, {"raw": b"x"}]
)
def test_event_rejects_payloads_that_are_not_json(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="JSON-serializable"):
        Event.create("chat.message", payload)


def test_event_json_round_trip_is_identical() -> None:
    event = Event.create("chat.message", {"text": "héllo", "ids": [1, 2], "nested": {"a": None}})
    data = event.to_json()
    assert isinstance(data, bytes)
    assert Event.from_json(data) == event


def test_event_payload_is_plain_json_copy_of_input() -> None:
    original: dict[str, object] = {"ids": (1, 2)}
    event = Event.create("case.updated", original)
    assert event.payload == {"ids": [1, 2]}
    original["ids"] = (3,)
    assert event.payload == {"ids": [1, 2]}


def test_event_accepts_a_pydantic_payload_model() -> None:
    class AgentStateChanged(BaseModel):
        agent_id: int
        at: datetime

    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    event = Event.create("agent.state_changed", AgentStateChanged(agent_id=3, at=at))
    assert event.payload == {"agent_id": 3, "at": "2026-01-05T09:00:00Z"}


def test_event_is_immutable() -> None:
    event = Event.create("case.updated", {})
    with pytest.raises(ValidationError):
        event.type = "case.closed"  # type: ignore[misc]


# --- delivery ---------------------------------------------------------------------------


async def test_patterns_select_events_by_type(bus: MemoryBus) -> None:
    agents = bus.subscribe("agent.*")
    offers = bus.subscribe("offer.created")
    everything = bus.subscribe("*")
    chat_or_email = bus.subscribe("chat.*", "email.received")
    types = [
        "agent.state_changed",
        "offer.created",
        "offer.expired",
        "agentx.created",
        "chat.message",
        "email.received",
        "email.sent",
    ]
    for event_type in types:
        await bus.publish(Event.create(event_type, {}))

    assert [e.type for e in await drain(agents)] == ["agent.state_changed"]
    assert [e.type for e in await drain(offers)] == ["offer.created"]
    assert [e.type for e in await drain(everything)] == types
    assert [e.type for e in await drain(chat_or_email)] == ["chat.message", "email.received"]


async def test_a_keyed_subscription_gets_only_the_events_naming_what_it_watches(
    bus: MemoryBus,
) -> None:
    anna = bus.subscribe("chat.*", "offer.*", keyed=True)
    anna.watch("agent_id", 7)
    anna.watch("agent_ids", 7)
    visitor = bus.subscribe("chat.*", keyed=True)  # watches nothing yet: gets nothing
    for payload in (
        {"n": 1, "agent_id": 7, "interaction_id": 3},
        {"n": 2, "agent_id": 8, "interaction_id": 4},
        {"n": 3, "agent_ids": [8, 7], "agent_id": 7},  # both keys: delivered once
        {"n": 4, "agent_id": None},
        {"n": 5, "agent_ids": [{"not": "hashable"}]},
    ):
        await bus.publish(Event.create("chat.message", payload))
    visitor.watch("interaction_id", 4)
    await bus.publish(Event.create("chat.message", {"n": 6, "interaction_id": 4}))
    visitor.unwatch("interaction_id", 4)
    visitor.watch("interaction_id", 5)
    await bus.publish(Event.create("chat.read", {"n": 7, "interaction_id": 4}))
    await bus.publish(Event.create("chat.read", {"n": 8, "interaction_id": 5}))
    await bus.publish(Event.create("case.updated", {"n": 9, "interaction_id": 5}))  # type

    assert [e.payload["n"] for e in await drain(anna)] == [1, 3]
    assert [e.payload["n"] for e in await drain(visitor)] == [6, 8]
    assert len(bus._fanout) == 0 and not bus._fanout._by_key  # closing unwatched all
    with pytest.raises(ValueError, match="keyed"):
        bus.subscribe("*").watch("agent_id", 1)


async def test_subscribe_needs_a_pattern(bus: MemoryBus) -> None:
    with pytest.raises(ValueError, match="pattern"):
        bus.subscribe()


async def test_every_subscriber_gets_events_in_publish_order(bus: MemoryBus) -> None:
    first = bus.subscribe("interaction.*")
    second = bus.subscribe("*")
    published = [Event.create("interaction.queued", {"n": n}) for n in range(50)]
    for event in published:
        await bus.publish(event)

    assert [await next_event(first) for _ in published] == published
    assert [await next_event(second) for _ in published] == published


async def test_a_waiting_subscriber_wakes_on_publish(bus: MemoryBus) -> None:
    async with bus.subscribe("call.*") as calls:
        waiter = asyncio.create_task(next_event(calls))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        event = Event.create("call.answered", {"call_id": "c1"})
        await bus.publish(event)
        assert await waiter == event


async def test_slow_subscriber_drops_oldest_and_counts(bus: MemoryBus) -> None:
    slow = bus.subscribe("*", maxsize=3)
    fast = bus.subscribe("*")
    with capture_logs() as logs:
        for n in range(10):
            await bus.publish(Event.create("chat.message", {"n": n}))

    assert slow.dropped == 7
    assert [e.payload["n"] for e in await drain(slow)] == [7, 8, 9]
    assert fast.dropped == 0
    assert len(await drain(fast)) == 10
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["event"] == "bus.subscriber_dropping_events"


async def test_drop_warning_is_logged_once_per_burst(bus: MemoryBus) -> None:
    slow = bus.subscribe("*", maxsize=2)
    with capture_logs() as logs:
        for n in range(5):
            await bus.publish(Event.create("chat.message", {"n": n}))
        # Catching up (queue empty) ends the burst; the next overflow warns again.
        await next_event(slow)
        await next_event(slow)
        for n in range(5):
            await bus.publish(Event.create("chat.message", {"n": n}))

    events = [entry["event"] for entry in logs]
    assert events == [
        "bus.subscriber_dropping_events",
        "bus.subscriber_caught_up",
        "bus.subscriber_dropping_events",
    ]
    assert slow.dropped == 6


async def test_publisher_is_never_blocked_by_a_subscriber_that_never_reads(
    bus: MemoryBus,
) -> None:
    stuck = bus.subscribe("*", maxsize=1)

    async def publish_many() -> None:
        for n in range(10_000):
            await bus.publish(Event.create("chat.message", {"n": n}))

    await asyncio.wait_for(publish_many(), timeout=10)
    assert stuck.dropped == 9_999


async def test_leaving_the_context_unsubscribes(bus: MemoryBus) -> None:
    async with bus.subscribe("case.*") as cases:
        await bus.publish(Event.create("case.updated", {"n": 1}))
        assert (await next_event(cases)).payload == {"n": 1}
    assert cases.closed
    await bus.publish(Event.create("case.updated", {"n": 2}))
    assert await drain(cases) == []
    assert len(bus._fanout) == 0


async def test_iteration_ends_when_unsubscribed_while_waiting(bus: MemoryBus) -> None:
    subscription = bus.subscribe("case.*")
    received: list[Event] = []

    async def consume() -> None:
        async for event in subscription:
            received.append(event)

    consumer = asyncio.create_task(consume())
    await bus.publish(Event.create("case.updated", {}))
    await asyncio.sleep(0.01)
    subscription.close()
    await asyncio.wait_for(consumer, timeout=1)
    assert len(received) == 1


async def test_publishing_from_inside_a_subscriber_does_not_deadlock(bus: MemoryBus) -> None:
    async with (
        bus.subscribe("interaction.queued") as queued_events,
        bus.subscribe("offer.created", maxsize=1) as offers,
    ):

        async def router() -> None:
            async for event in queued_events:
                # maxsize=1 on `offers`: even a full queue must not block this publish.
                for n in range(3):
                    offer = {"interaction": event.payload["id"], "n": n}
                    await bus.publish(Event.create("offer.created", offer))
                if event.payload["id"] == 2:
                    return

        task = asyncio.create_task(router())
        await bus.publish(Event.create("interaction.queued", {"id": 1}))
        await bus.publish(Event.create("interaction.queued", {"id": 2}))
        await asyncio.wait_for(task, timeout=1)
        assert (await next_event(offers)).payload == {"interaction": 2, "n": 2}
        assert offers.dropped == 5


async def test_close_ends_every_subscription_after_its_queued_events(bus: MemoryBus) -> None:
    subscription = bus.subscribe("*")
    await bus.publish(Event.create("case.updated", {}))
    await bus.close()
    assert [event.type async for event in subscription] == ["case.updated"]
    with pytest.raises(BusNotRunning):
        await bus.publish(Event.create("case.updated", {}))
    with pytest.raises(BusNotRunning):
        bus.subscribe("*")


async def test_publishing_before_start_is_an_error() -> None:
    bus = MemoryBus()
    with pytest.raises(BusNotRunning):
        await bus.publish(Event.create("case.updated", {}))


def test_create_bus_picks_the_implementation_from_the_url() -> None:
    assert isinstance(create_bus("memory://"), MemoryBus)
    redis_bus = create_bus("redis://127.0.0.1:6379/0")
    assert isinstance(redis_bus, RedisBus)
    assert redis_bus.stream == "parley:events"
    with pytest.raises(ValueError, match="kafka"):
        create_bus("kafka://broker:9092")
