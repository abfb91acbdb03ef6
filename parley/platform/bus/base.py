"""What every bus offers, so services depend on the interface and not on Redis.

`MemoryBus` serves the embedded mode (one process); `RedisBus` serves the scaled stack,
where web, engine and worker processes must see each other's events (ARCHITECTURE.md §2).
"""

from __future__ import annotations

from typing import Protocol

from parley.platform.bus.envelope import Event
from parley.platform.bus.subscription import Subscription


class BusNotRunning(RuntimeError):
    """Publishing before `start()` or after `close()`: the event would go nowhere."""


class Bus(Protocol):
    async def start(self) -> None:
        """Open connections and background readers; call once before publishing."""

    async def publish(self, event: Event) -> None:
        """Deliver `event` to every matching subscription, in publish order; never waits
        for subscribers."""

    def subscribe(self, *patterns: str, maxsize: int = 1000, keyed: bool = False) -> Subscription:
        """Events whose type matches any fnmatch-style pattern (`agent.*`, `*`), from now on;
        `keyed`: only those naming a (field, value) it watches (`Subscription.watch`)."""
        ...

    async def close(self) -> None:
        """Stop background readers, end every subscription, close connections."""
