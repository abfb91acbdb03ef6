"""The bus of the scaled stack: one Redis Stream that every Parley process appends to and
reads from.

`publish` is an XADD to the stream (trimmed to about `maxlen` entries). Each `RedisBus`
owns one reader task on its own connection, blocked in XREAD, which hands new entries to
the local subscriptions, so a process sees its own events and everyone else's the same way,
in stream order. The stream gives what pub/sub would not: after the reader's connection
drops it resumes from the last entry it saw, so a Redis blip delays events instead of
losing them (unless the outage outlasts the trimming window).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast
from uuid import uuid4

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from parley.platform.bus.base import BusNotRunning
from parley.platform.bus.envelope import Event
from parley.platform.bus.subscription import Fanout, Subscription

log = structlog.get_logger(__name__)

DEFAULT_STREAM = "parley:events"
_EVENT_FIELD = b"event"

# The RESP2 shapes redis-py returns (its own annotations are too loose to unpack).
_StreamEntries = Sequence[tuple[bytes, dict[bytes, bytes]]]
_XReadResponse = Sequence[tuple[bytes, _StreamEntries]]


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int = 100_000,
        block_seconds: float = 1.0,
        read_count: int = 500,
        reconnect_min_seconds: float = 0.1,
        reconnect_max_seconds: float = 5.0,
    ) -> None:
        self.stream = stream
        self.reader_client_name = f"parley-bus-reader-{uuid4().hex[:12]}"
        self._url = url
        self._maxlen = maxlen
        self._block_ms = max(1, int(block_seconds * 1000))
        self._read_count = read_count
        self._reconnect_min = reconnect_min_seconds
        self._reconnect_max = reconnect_max_seconds
        self._fanout = Fanout()
        self._writer: Redis | None = None
        self._reader: Redis | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._last_id = "0-0"
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusNotRunning("a closed bus cannot be started again")
        if self._reader_task is not None:
            return
        # A publish retries a dropped pooled connection once or twice (a Redis restart
        # leaves stale sockets in the pool); the rare cost is a duplicate entry, which
        # subscribers can tell apart by event id.
        self._writer = Redis.from_url(
            self._url,
            socket_timeout=5,
            socket_connect_timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            protocol=2,
        )
        # The reader gets its own connection (XREAD BLOCK holds it) with a name, so an
        # operator can find it in CLIENT LIST, and no hidden retries: reconnecting is the
        # read loop's job, with backoff and a log line.
        self._reader = Redis.from_url(
            self._url,
            single_connection_client=True,
            client_name=self.reader_client_name,
            socket_timeout=self._block_ms / 1000 + 5,
            socket_connect_timeout=5,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        # Start from the current tail rather than XREAD's "$": "$" would be resolved at the
        # first XREAD, and events published between start() and that call would be missed.
        try:
            self._last_id = await self._stream_tail()
        except BaseException:
            # Unreachable at start: fail fast (the process supervisor retries), leaving no
            # half-open clients behind for a later start().
            await self._close_clients()
            raise
        self._reader_task = asyncio.create_task(
            self._read_forever(), name=f"bus-reader:{self.stream}"
        )
        log.info("bus.redis_started", stream=self.stream, from_id=self._last_id)

    async def publish(self, event: Event) -> None:
        if self._writer is None or self._closed:
            raise BusNotRunning("start the bus before publishing")
        await self._writer.xadd(
            self.stream,
            {_EVENT_FIELD: event.to_json()},
            maxlen=self._maxlen,
            approximate=True,
        )

    def subscribe(self, *patterns: str, maxsize: int = 1000, keyed: bool = False) -> Subscription:
        if self._closed:
            raise BusNotRunning("the bus is closed")
        return self._fanout.subscribe(patterns, maxsize, keyed)

    async def close(self) -> None:
        self._closed = True
        if self._reader_task is not None:
            reader_task, self._reader_task = self._reader_task, None
            await self._stop_reader(reader_task)
        self._fanout.close_all()
        await self._close_clients()

    async def _close_clients(self) -> None:
        clients, self._reader, self._writer = (self._reader, self._writer), None, None
        for client in clients:
            if client is not None:
                await client.aclose()

    async def _stop_reader(self, reader_task: asyncio.Task[None]) -> None:
        # On Python 3.11 a cancellation that lands while redis-py is inside
        # asyncio.wait_for (every command send) can be swallowed, so cancel repeatedly;
        # the loop also checks `_closed`, which ends it within one XREAD block at worst.
        deadline = asyncio.get_running_loop().time() + self._block_ms / 1000 + 5
        while not reader_task.done() and asyncio.get_running_loop().time() < deadline:
            reader_task.cancel()
            # wait() rather than await: the reader's CancelledError is expected, while a
            # cancellation of close() itself must still propagate.
            await asyncio.wait({reader_task}, timeout=0.1)
        if not reader_task.done():
            log.error("bus.redis_reader_did_not_stop", stream=self.stream)

    async def _stream_tail(self) -> str:
        assert self._writer is not None
        newest = await self._writer.xrevrange(self.stream, count=1)
        if not newest:
            return "0-0"
        entry_id = cast(_StreamEntries, newest)[0][0]
        return entry_id.decode()

    async def _read_forever(self) -> None:
        assert self._reader is not None
        delay = self._reconnect_min
        failures = 0
        while not self._closed:
            try:
                response = await self._reader.xread(
                    {self.stream: self._last_id}, count=self._read_count, block=self._block_ms
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                failures += 1
                log.warning(
                    "bus.redis_reader_disconnected",
                    stream=self.stream,
                    last_id=self._last_id,
                    error=repr(exc),
                    attempt=failures,
                    retry_in=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            except Exception:
                # Not a connection problem (e.g. the key holds another type): keep the
                # reader alive and say so loudly rather than stop delivering silently.
                failures += 1
                log.exception(
                    "bus.redis_reader_failed", stream=self.stream, attempt=failures, retry_in=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            if failures:
                log.info(
                    "bus.redis_reader_reconnected",
                    stream=self.stream,
                    resumed_from=self._last_id,
                    attempts=failures,
                )
                failures = 0
                delay = self._reconnect_min
            for _stream, entries in cast(_XReadResponse, response or ()):
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    self._dispatch(self._last_id, fields)

    def _dispatch(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        raw = fields.get(_EVENT_FIELD)
        if raw is None:
            log.warning("bus.redis_entry_without_event", stream=self.stream, entry_id=entry_id)
            return
        try:
            event = Event.from_json(raw)
        except ValueError:
            log.exception("bus.redis_entry_invalid", stream=self.stream, entry_id=entry_id)
            return
        self._fanout.dispatch(event)
