"""Local delivery: the bounded queues subscribers read from, shared by every bus.

A bus hands each event to `Fanout.dispatch`, which puts it on the queue of every
subscription whose patterns match. Putting never waits: a subscriber that falls behind
loses its oldest events instead of slowing down publishers (a wallboard that misses an
old update is fine; a router stuck behind a frozen websocket is not).

A keyed subscription (`keyed=True`) gets only the events whose payload names one of the
(field, value) pairs it watches (`watch`): a field equal to the value, or a list holding
it. Dispatch finds those subscriptions by lookup, so a process with a websocket per
visitor or agent does not wake every one of them for every event (the chat benchmark's
1,000 chats).
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
from collections import Counter, deque
from collections.abc import Hashable, Iterable
from types import TracebackType

import structlog

from parley.platform.bus.envelope import Event

log = structlog.get_logger(__name__)


def compile_patterns(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex for fnmatch-style patterns on event types (`agent.*`, `offer.created`)."""
    parts = [fnmatch.translate(pattern) for pattern in patterns]
    if not parts:
        raise ValueError("subscribe to at least one pattern, e.g. '*'")
    return re.compile("|".join(f"(?:{part})" for part in parts))


class Subscription:
    """Events matching some patterns, read with `async for`, ended by leaving `async with`.

    The queue holds at most `maxsize` events; when it is full the oldest is dropped and
    `dropped` grows. A warning is logged when a burst of drops starts, not for every drop,
    and the burst ends when the subscriber has caught up (its queue is empty).
    """

    def __init__(
        self, fanout: Fanout, patterns: tuple[str, ...], maxsize: int, keyed: bool = False
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.patterns = patterns
        self.keyed = keyed
        self.watched: set[tuple[str, Hashable]] = set()
        self.maxsize = maxsize
        self._fanout = fanout
        self._matcher = compile_patterns(patterns)
        self._queue: deque[Event] = deque()
        self._has_events = asyncio.Event()
        self._closed = False
        self._dropped = 0
        self._dropped_in_burst = 0

    @property
    def dropped(self) -> int:
        """How many events this subscription lost because it read too slowly."""
        return self._dropped

    @property
    def closed(self) -> bool:
        return self._closed

    def matches(self, event_type: str) -> bool:
        return self._matcher.fullmatch(event_type) is not None

    def watch(self, field: str, value: Hashable) -> None:
        """Also deliver the events whose payload's `field` is `value` (keyed only)."""
        if not self.keyed:
            raise ValueError("only a keyed subscription watches fields")
        if (field, value) not in self.watched and not self._closed:
            self.watched.add((field, value))
            self._fanout.index(self, field, value)

    def unwatch(self, field: str, value: Hashable) -> None:
        if (field, value) in self.watched:
            self.watched.discard((field, value))
            self._fanout.unindex(self, field, value)

    def _put(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self._dropped += 1
            if self._dropped_in_burst == 0:
                log.warning(
                    "bus.subscriber_dropping_events",
                    patterns=self.patterns,
                    maxsize=self.maxsize,
                    dropped_total=self._dropped,
                )
            self._dropped_in_burst += 1
        self._queue.append(event)
        self._has_events.set()

    def close(self) -> None:
        """Unsubscribe: no new events arrive; events already queued can still be read."""
        if self._closed:
            return
        self._closed = True
        self._fanout.remove(self)
        # Wake a reader parked in __anext__ so its loop ends.
        self._has_events.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._has_events.clear()
            await self._has_events.wait()
        event = self._queue.popleft()
        if not self._queue and self._dropped_in_burst:
            log.info(
                "bus.subscriber_caught_up",
                patterns=self.patterns,
                dropped_in_burst=self._dropped_in_burst,
                dropped_total=self._dropped,
            )
            self._dropped_in_burst = 0
        return event

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Subscription {self.patterns!r} queued={len(self._queue)} dropped={self._dropped}>"


class Fanout:
    """The subscriptions of one bus instance, and delivery of events to the matching ones."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []  # unkeyed: every matching event
        self._keyed: list[Subscription] = []
        self._by_key: dict[tuple[str, Hashable], list[Subscription]] = {}
        self._key_fields: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._subscriptions) + len(self._keyed)

    def subscribe(
        self, patterns: tuple[str, ...], maxsize: int, keyed: bool = False
    ) -> Subscription:
        subscription = Subscription(self, patterns, maxsize, keyed)
        (self._keyed if keyed else self._subscriptions).append(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        if subscription in self._keyed:
            self._keyed.remove(subscription)
            for field, value in tuple(subscription.watched):
                subscription.unwatch(field, value)

    def index(self, subscription: Subscription, field: str, value: Hashable) -> None:
        self._by_key.setdefault((field, value), []).append(subscription)
        self._key_fields[field] += 1

    def unindex(self, subscription: Subscription, field: str, value: Hashable) -> None:
        watchers = self._by_key.get((field, value), [])
        if subscription in watchers:
            watchers.remove(subscription)
            if not watchers:
                del self._by_key[(field, value)]
            self._key_fields[field] -= 1
            if not self._key_fields[field]:
                del self._key_fields[field]

    def dispatch(self, event: Event) -> None:
        # Iterate over a copy: a subscriber may unsubscribe while we deliver.
        for subscription in tuple(self._subscriptions):
            if subscription.matches(event.type):
                subscription._put(event)
        if self._key_fields:
            for subscription in self._watchers(event):
                if subscription.matches(event.type):
                    subscription._put(event)

    def _watchers(self, event: Event) -> list[Subscription]:
        """The keyed subscriptions that watch a (field, value) of the event, once each."""
        found: list[Subscription] = []
        payload = event.payload
        for field in tuple(self._key_fields):
            value = payload.get(field)
            if value is None:
                continue
            values = value if isinstance(value, list | tuple) else (value,)
            for item in values:
                if not isinstance(item, Hashable):
                    continue
                for subscription in self._by_key.get((field, item), ()):
                    if subscription not in found:
                        found.append(subscription)
        return found

    def close_all(self) -> None:
        for subscription in (*self._subscriptions, *self._keyed):
            subscription.close()
