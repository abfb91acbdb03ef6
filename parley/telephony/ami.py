"""The AMI connector: Parley's one connection to Asterisk's manager interface.

It logs in, keeps the live call model (`parley.telephony.calls`) current from AMI events,
and sends actions for the rest of the voice channel. panoramisk frames the protocol and
matches responses to actions; this module owns the connection's life (ARCHITECTURE.md §7):

- connect and log in, then wait for `FullyBooted` and reconcile the call model with
  `CoreShowChannels` and `BridgeList`; only then is the connector ready;
- on a lost connection, a refused login or an Asterisk that does not answer, log one
  line saying so, stay not ready (with the reason) and try again after a delay that
  doubles up to `backoff_max`, so a wrong secret is a readiness failure, not a crash
  loop or a flood;
- ping while connected, so a silent Asterisk is noticed within one ping timeout.

An action sent while not ready fails at once with `AmiUnavailable`, and one whose
connection drops before its response fails the same way: it is never re-sent on the next
connection, since Asterisk may have run it (an Originate twice is two calls).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from panoramisk import Manager
from panoramisk.message import Message

from parley.telephony.calls import (
    CallChange,
    CallModel,
    bridge_from_snapshot,
    channel_from_snapshot,
)

log = structlog.get_logger(__name__)

Listener = Callable[[CallChange], None]


class AmiError(Exception):
    pass


class AmiUnavailable(AmiError):
    """Not connected and logged in, or the connection went away mid-action."""


class LoginRejected(AmiError):
    """Asterisk refused the username or secret."""


class ActionFailed(AmiError):
    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI {action} failed: {message}")
        self.action = action
        self.message = message


@dataclass(frozen=True)
class AmiEndpoint:
    host: str
    port: int
    username: str
    secret: str = field(repr=False)


class _Session(Manager):  # type: ignore[misc]  # panoramisk has no type hints
    """One AMI connection. panoramisk's own fixed-delay reconnect and its unchecked ping
    are turned off: the connector reconnects with backoff and pings with a timeout."""

    def __init__(self, on_lost: Callable[[], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost

    def connection_made(self, future: asyncio.Future[Any]) -> None:
        # A failed connect is raised to the awaiting connector instead of retried here.
        if future.cancelled() or future.exception() is not None:
            return
        super().connection_made(future)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        self._on_lost()

    def ping(self) -> None:
        pass


class AmiConnector:
    """Connects to one Asterisk, keeps `calls` current and sends actions to it."""

    def __init__(
        self,
        endpoint: AmiEndpoint,
        *,
        calls: CallModel | None = None,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        boot_timeout: float = 60.0,
        ping_interval: float = 15.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.calls = calls if calls is not None else CallModel()
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.boot_timeout = boot_timeout
        self.ping_interval = ping_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._is_ready = False
        self._phase = "not started"  # what it is doing while not ready
        self._failure: str | None = None  # why the last attempt failed, until ready again
        self.attempts = 0  # connection attempts, successful or not
        self.logins = 0  # successful logins: more than one means it reconnected
        self._listeners: list[Listener] = []
        self._session: _Session | None = None
        self._lost = asyncio.Event()
        self._booted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def is_ready(self) -> bool:
        """Logged in, Asterisk fully booted, and the call model reconciled."""
        return self._is_ready

    @property
    def not_ready_reason(self) -> str | None:
        """None when ready; else why the last attempt failed or, before any failure,
        what the connector is doing (connecting, logging in, …)."""
        if self._is_ready:
            return None
        return self._failure or self._phase

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` with every change of the call model (from this event loop)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ami-connector")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close_session()
        self._is_ready, self._phase, self._failure = False, "stopped", None
        self._notify()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` holds; it is checked after every change of state or
        of the call model. Callers bound the wait (`asyncio.timeout`)."""
        loop = asyncio.get_running_loop()
        while not predicate():
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)

    async def send(self, action: Mapping[str, str], *, only_response: bool = False) -> Any:
        """Send one action and return its response (a list for actions answered with an
        event list). `only_response` returns at Asterisk's first answer, for an async
        Originate whose OriginateResponse may come only after a phone rang for a while.
        Raises AmiUnavailable when not ready, ActionFailed on an error response,
        TimeoutError when Asterisk does not answer within `action_timeout`."""
        session = self._session
        if session is None or not self.is_ready:
            raise AmiUnavailable(self.not_ready_reason or "not connected")
        return await self._send(session, action, as_list=False if only_response else None)

    # --- the connection's life -----------------------------------------------------------

    async def _run(self) -> None:
        delay = self.backoff_initial
        where = {"host": self.endpoint.host, "port": self.endpoint.port}
        while True:
            self.attempts += 1
            try:
                await self._connect()
            except LoginRejected as exc:
                self._fail(f"AMI login rejected for {self.endpoint.username!r}: {exc}")
                log.error(
                    "ami.login_rejected",
                    **where,
                    username=self.endpoint.username,
                    reason=str(exc),
                    retry_in=delay,
                )
            except (OSError, TimeoutError, AmiError) as exc:
                reason = str(exc) or type(exc).__name__
                self._fail(f"AMI at {self.endpoint.host}:{self.endpoint.port}: {reason}")
                log.warning("ami.unavailable", **where, reason=reason, retry_in=delay)
            except Exception:
                self._fail("AMI connector failed: see the log")
                log.exception("ami.connect_failed", **where, retry_in=delay)
            else:
                delay = self.backoff_initial
                self.logins += 1
                log.info("ami.ready", **where, channels=len(self.calls.channels))
                self._set_ready()
                reason = await self._watch()
                self._fail(f"AMI connection lost: {reason}")
                log.warning("ami.connection_lost", **where, reason=reason, retry_in=delay)
            self._close_session()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _connect(self) -> None:
        self._lost = asyncio.Event()
        self._booted = asyncio.Event()
        session = _Session(
            self._lost.set,
            host=self.endpoint.host,
            port=self.endpoint.port,
            loop=asyncio.get_running_loop(),
            events="on",
        )
        session.register_event("*", self._on_event)
        self._session = session
        self._set_phase("connecting")
        try:
            async with asyncio.timeout(self.connect_timeout):
                await session.connect()
        except TimeoutError:
            raise TimeoutError(f"no TCP connection within {self.connect_timeout} s") from None
        self._set_phase("logging in")
        login = {
            "Action": "Login",
            "Username": self.endpoint.username,
            "Secret": self.endpoint.secret,
            "Events": "on",
        }
        try:
            await self._send(session, login)
        except ActionFailed as exc:
            # Also refused while shutting down: only a failed authentication is the
            # operator's to fix; anything else passes with a retry.
            if "authentication" in exc.message.lower():
                raise LoginRejected(exc.message) from None
            raise AmiUnavailable(f"login refused: {exc.message}") from None
        self._set_phase("waiting for Asterisk to finish booting")
        try:
            async with asyncio.timeout(self.boot_timeout):
                await self._until_lost(self._booted.wait(), "FullyBooted")
        except TimeoutError:
            raise TimeoutError(f"no FullyBooted within {self.boot_timeout} s") from None
        self._set_phase("reconciling live channels")
        await self._reconcile(session)

    async def _reconcile(self, session: _Session) -> None:
        """Bring the call model in line with Asterisk after a (re)connect: what ended
        while Parley was not listening goes, what began comes (see calls.reconcile)."""
        self.calls.begin_reconcile()
        try:
            channels = await self._send(session, {"Action": "CoreShowChannels"})
            bridges = await self._send(session, {"Action": "BridgeList"})
        except BaseException:
            self.calls.abandon_reconcile()
            raise
        changes = self.calls.reconcile(
            [channel_from_snapshot(m) for m in _listed(channels, "CoreShowChannel")],
            [bridge_from_snapshot(m) for m in _listed(bridges, "BridgeListItem")],
        )
        log.info("ami.reconciled", channels=len(self.calls.channels), changes=len(changes))
        self._publish(changes)

    async def _watch(self) -> str:
        """Wait while connected, pinging; return why the connection ended."""
        while True:
            try:
                async with asyncio.timeout(self.ping_interval):
                    await self._lost.wait()
                return "closed by Asterisk"
            except TimeoutError:
                pass
            session = self._session
            if session is None:
                return "closed"
            try:
                await self._send(session, {"Action": "Ping"})
            except TimeoutError as exc:
                return str(exc)
            except AmiUnavailable:
                return "closed by Asterisk"

    async def _send(
        self, session: _Session, action: Mapping[str, str], as_list: bool | None = None
    ) -> Any:
        name = action.get("Action", "?")
        # panoramisk reads an action's `Async` when its response ends "successfully
        # queued" (PlayDTMF's does) and fails on the connection when it is missing.
        payload = {"Async": "false", **action}
        try:
            async with asyncio.timeout(self.action_timeout):
                sent = session.send_action(payload, as_list=as_list)
                response = await self._until_lost(sent, name)
        except TimeoutError:
            raise TimeoutError(f"no answer to {name} within {self.action_timeout} s") from None
        first = response[0] if isinstance(response, list) else response
        if isinstance(first, Message) and not first.success:
            raise ActionFailed(name, first.message or first.response or "error")
        return response

    async def _until_lost(self, awaitable: Any, what: str) -> Any:
        """Await `awaitable`, giving up when the connection is lost (panoramisk leaves
        the action's future pending then)."""
        work = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not work.done():
                work.cancel()
        if work.done() and not work.cancelled():
            return work.result()
        raise AmiUnavailable(f"connection lost while waiting for {what}")

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    # --- events --------------------------------------------------------------------------

    def _on_event(self, session: _Session, event: Message) -> None:
        if session is not self._session:
            return  # a late event of a connection already given up
        if event.event == "FullyBooted":
            self._booted.set()
        self._publish(self.calls.apply(event))

    def _publish(self, changes: list[CallChange]) -> None:
        for change in changes:
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception:
                    log.exception("ami.listener_failed", change=type(change).__name__)
        self._notify()

    def _set_ready(self) -> None:
        self._is_ready, self._failure = True, None
        self._notify()

    def _set_phase(self, phase: str) -> None:
        self._phase = phase
        self._notify()

    def _fail(self, reason: str) -> None:
        self._is_ready, self._failure = False, reason
        self._notify()

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


def _listed(response: Any, event_name: str) -> list[Message]:
    """The entries of an event-list response (the first message is the response)."""
    messages = response if isinstance(response, list) else [response]
    return [m for m in messages if isinstance(m, Message) and m.event == event_name]
