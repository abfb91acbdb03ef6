"""The event bus: services publish `Event`s, websockets, workflows, webhooks and reports
subscribe by type pattern (ARCHITECTURE.md §6).

```python
bus = create_bus(settings.bus_url)
await bus.start()
async with bus.subscribe("agent.*") as events:
    await bus.publish(Event.create("agent.state_changed", {"agent_id": 7, "state": "ready"}))
    event = await anext(events)
await bus.close()
```
"""

from __future__ import annotations

from parley.platform.bus.base import Bus, BusNotRunning
from parley.platform.bus.envelope import Event
from parley.platform.bus.memory import MemoryBus
from parley.platform.bus.redis import RedisBus
from parley.platform.bus.subscription import Subscription

__all__ = [
    "Bus",
    "BusNotRunning",
    "Event",
    "MemoryBus",
    "RedisBus",
    "Subscription",
    "create_bus",
]


def create_bus(url: str) -> Bus:
    """`memory://` for the embedded mode, `redis://host:port/db` (or `rediss://`) when scaled."""
    if url == "memory://":
        return MemoryBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url)
    raise ValueError(f"unsupported bus URL scheme: {url.split('://', 1)[0]!r}")
