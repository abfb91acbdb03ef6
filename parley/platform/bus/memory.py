"""The in-process bus of the embedded mode: publishing puts events straight on the
subscribers' queues, in the same event loop."""

from __future__ import annotations

from parley.platform.bus.base import BusNotRunning
from parley.platform.bus.envelope import Event
from parley.platform.bus.subscription import Fanout, Subscription


class MemoryBus:
    def __init__(self) -> None:
        self._fanout = Fanout()
        self._running = False
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusNotRunning("a closed bus cannot be started again")
        self._running = True

    async def publish(self, event: Event) -> None:
        if not self._running:
            raise BusNotRunning("start the bus before publishing")
        # Delivery only appends to bounded queues, so a publisher never waits for a
        # subscriber, even when it publishes from inside a subscriber's loop.
        self._fanout.dispatch(event)

    def subscribe(self, *patterns: str, maxsize: int = 1000, keyed: bool = False) -> Subscription:
        if self._closed:
            raise BusNotRunning("the bus is closed")
        return self._fanout.subscribe(patterns, maxsize, keyed)

    async def close(self) -> None:
        self._running = False
        self._closed = True
        self._fanout.close_all()
