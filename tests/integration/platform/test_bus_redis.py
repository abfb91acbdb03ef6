"""The Redis Streams bus against a real Redis: two bus instances stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from parley.platform.bus import BusNotRunning, Event, RedisBus, Subscription

pytestmark = pytest.mark.redis

MakeBus = Callable[..., Awaitable[RedisBus]]


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=5)
    yield client
    await client.aclose()


@pytest.fixture
async def stream(admin: Redis) -> AsyncIterator[str]:
    name = f"parley:test:events:{uuid4().hex}"
    yield name
    await admin.delete(name)


@pytest.fixture
async def make_bus(redis_url: str, stream: str) -> AsyncIterator[MakeBus]:
    buses: list[RedisBus] = []

    async def make(**options: object) -> RedisBus:
        bus = RedisBus(
            redis_url,
            stream=stream,
            block_seconds=0.2,
            reconnect_min_seconds=0.05,
            reconnect_max_seconds=0.5,
            **options,  # type: ignore[arg-type]
        )
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


async def receive(subscription: Subscription, count: int) -> list[Event]:
    async def take() -> list[Event]:
        return [await anext(subscription) for _ in range(count)]

    return await asyncio.wait_for(take(), timeout=5)


async def reader_connection_id(admin: Redis, bus: RedisBus) -> int | None:
    for client in await admin.client_list():
        if client.get("name") == bus.reader_client_name:
            return int(client["id"])
    return None


async def test_two_buses_see_each_others_events_in_publish_order(make_bus: MakeBus) -> None:
    engine, web = await make_bus(), await make_bus()
    on_engine = engine.subscribe("*")
    on_web = web.subscribe("*")
    from_engine = [Event.create("offer.created", {"n": n}) for n in range(30)]
    from_web = [Event.create("agent.state_changed", {"n": n}) for n in range(30)]

    async def publish_all(bus: RedisBus, events: list[Event]) -> None:
        for event in events:
            await bus.publish(event)

    await asyncio.gather(publish_all(engine, from_engine), publish_all(web, from_web))

    for subscription in (on_engine, on_web):
        received = await receive(subscription, 60)
        assert [e for e in received if e.type == "offer.created"] == from_engine
        assert [e for e in received if e.type == "agent.state_changed"] == from_web


async def test_patterns_filter_events_from_another_process(make_bus: MakeBus) -> None:
    engine, web = await make_bus(), await make_bus()
    async with web.subscribe("chat.*", "case.updated") as wanted:
        for event_type in ("agent.state_changed", "chat.message", "case.created", "case.updated"):
            await engine.publish(Event.create(event_type, {}))
        received = await receive(wanted, 2)
        assert [e.type for e in received] == ["chat.message", "case.updated"]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(wanted), timeout=0.5)


async def test_an_event_published_right_after_start_is_delivered(
    make_bus: MakeBus, stream: str, admin: Redis
) -> None:
    # Older entries already in the stream are history, not news for a new process.
    await admin.xadd(stream, {b"event": Event.create("case.updated", {"old": True}).to_json()})
    bus = await make_bus()
    events = bus.subscribe("*")
    fresh = Event.create("case.updated", {"old": False})
    await bus.publish(fresh)
    assert await receive(events, 1) == [fresh]


async def test_reader_reconnects_after_its_connection_is_killed(
    make_bus: MakeBus, admin: Redis
) -> None:
    engine, web = await make_bus(), await make_bus()
    events = web.subscribe("interaction.*")
    await engine.publish(Event.create("interaction.queued", {"n": 1}))
    assert [e.payload["n"] for e in await receive(events, 1)] == [1]

    killed_id = await reader_connection_id(admin, web)
    assert killed_id is not None
    with capture_logs() as logs:
        assert await admin.client_kill_filter(_id=str(killed_id)) == 1
        # Published while the reader is down: it must resume from where it stopped.
        await engine.publish(Event.create("interaction.queued", {"n": 2}))
        assert [e.payload["n"] for e in await receive(events, 1)] == [2]
        await engine.publish(Event.create("interaction.queued", {"n": 3}))
        assert [e.payload["n"] for e in await receive(events, 1)] == [3]

    new_id = await reader_connection_id(admin, web)
    assert new_id is not None
    assert new_id != killed_id
    names = [entry["event"] for entry in logs]
    assert "bus.redis_reader_disconnected" in names
    assert "bus.redis_reader_reconnected" in names


async def test_slow_subscriber_drops_oldest_without_slowing_others(make_bus: MakeBus) -> None:
    bus = await make_bus()
    slow = bus.subscribe("*", maxsize=5)
    fast = bus.subscribe("*")
    for n in range(20):
        await bus.publish(Event.create("chat.message", {"n": n}))
    assert [e.payload["n"] for e in await receive(fast, 20)] == list(range(20))
    assert slow.dropped == 15
    assert [e.payload["n"] for e in await receive(slow, 5)] == list(range(15, 20))


async def test_publishing_from_inside_a_subscriber_does_not_deadlock(make_bus: MakeBus) -> None:
    bus = await make_bus()
    queued = bus.subscribe("interaction.queued")
    offers = bus.subscribe("offer.created")

    async def router() -> None:
        event = await anext(queued)
        await bus.publish(Event.create("offer.created", {"for": event.payload["id"]}))

    task = asyncio.create_task(router())
    await bus.publish(Event.create("interaction.queued", {"id": "i1"}))
    await asyncio.wait_for(task, timeout=5)
    assert [e.payload for e in await receive(offers, 1)] == [{"for": "i1"}]


async def test_malformed_entries_are_skipped_and_logged(
    make_bus: MakeBus, stream: str, admin: Redis
) -> None:
    bus = await make_bus()
    events = bus.subscribe("*")
    with capture_logs() as logs:
        await admin.xadd(stream, {b"event": b"{not json"})
        await admin.xadd(stream, {b"other": b"field"})
        good = Event.create("case.updated", {})
        await bus.publish(good)
        assert await receive(events, 1) == [good]
    names = [entry["event"] for entry in logs]
    assert "bus.redis_entry_invalid" in names
    assert "bus.redis_entry_without_event" in names


async def test_stream_is_trimmed_to_about_maxlen(
    make_bus: MakeBus, stream: str, admin: Redis
) -> None:
    bus = await make_bus(maxlen=50)
    for n in range(1000):
        await bus.publish(Event.create("chat.message", {"n": n}))
    # Approximate trimming removes whole radix-tree nodes (100 entries by default).
    assert 50 <= await admin.xlen(stream) <= 200


async def test_close_stops_the_reader_and_ends_subscriptions(
    make_bus: MakeBus, admin: Redis
) -> None:
    bus = await make_bus()
    events = bus.subscribe("*")
    assert await reader_connection_id(admin, bus) is not None
    await bus.close()
    assert await reader_connection_id(admin, bus) is None
    assert [event async for event in events] == []
    with pytest.raises(BusNotRunning):
        await bus.publish(Event.create("case.updated", {}))


async def test_start_fails_fast_when_redis_is_unreachable() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", stream=f"parley:test:events:{uuid4().hex}")
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(bus.start(), timeout=10)
    with pytest.raises(BusNotRunning):
        await bus.publish(Event.create("case.updated", {}))
    await bus.close()
