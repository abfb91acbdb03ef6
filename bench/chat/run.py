"""Web chat benchmark: message latency both ways at 1,000 concurrent chats.

Parley runs as it does in production, in a process of its own (`parley serve`'s uvicorn,
roles web and engine, on embedded SQLite or on PostgreSQL with `--database postgres`),
on a migrated throwaway database with one chat widget, its queue, and agents whose chat
capacity is `--capacity` (default 4, so 250 agents hold 1,000 chats). This process plays
everybody else over real sockets on loopback:

- each agent logs in through the REST API, opens the agent websocket, goes ready and
  accepts the chat offers the router makes; it sends with
  `POST /api/chats/{id}/messages` (the desktop's path) and reads the visitor's
  messages as `chat.message` frames on its socket;
- each visitor opens the visitor websocket from the widget's allowed origin, says
  `hello`, and writes a first message, which queues the chat; it sends `message` frames
  and reads the agent's messages as `message` frames.

Once every chat is accepted, both sides send at a steady offered rate (`--rate`
messages/s in total, half each way, each chat on its own schedule with a random phase)
for `--seconds`, after a warm-up. Every message carries its direction, chat and number;
latency is the time from the send (the frame written, or the POST begun) to the frame
reaching the other side, on this process's monotonic clock. Measured: p50/p99/max per
direction, delivered messages per second, and any message lost, duplicated or
delivered to the wrong chat (which fail the run).

Rate limits. The visitor socket allows 20 frames/s per IP address (bursts of 60), meant
for an office behind NAT; 1,000 visitors from 127.0.0.1 would be throttled. Each visitor
connects from an address of its own in 127.0.0.0/8 (Linux routes the whole block to
loopback), so the server's limits stay as configured; the output says so. A visitor
sends 2.5 messages/s at the default rate, under its own limit (5 frames/s, bursts of 20).

Targets: p99 <= 50 ms both ways, >= 5,000 messages/s on this 2-core machine (the load
generator shares the cores with the server: the numbers are conservative).

    python -m bench.chat.run [--chats 1000] [--rate 5000] [--seconds 20]
        [--database sqlite|postgres] [--database-url URL] [--quick]
        [--output bench/results/chat.json]

`--quick` is a smoke run (at most 20 chats, 2.5 messages/s each way per chat, 3 s);
`--database-url` or PARLEY_TEST_DATABASE_URL names the PostgreSQL server for
`--database postgres`. `--profile FILE` runs the server under cProfile (CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import resource
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.email.run import free_port, migrated_database, percentile
from parley.platform.auth import passwords
from parley.platform.config import Settings
from parley.platform.db import create_database
from parley.platform.logs import configure_logging
from parley.platform.models import (
    AgentSkill,
    ChatWidget,
    Queue,
    QueueSkill,
    Role,
    RoutingStrategy,
    Skill,
    User,
)

TARGET_P99_MS = 50.0
TARGET_MESSAGES_PER_SECOND = 5_000.0
SITE = "https://bench.example"
PASSWORD = "bench-password"  # noqa: S105 (throwaway data only)
SECRET = "bench-secret-key-not-for-production"  # noqa: S105
WARM_UP_SECONDS = 2.0
DRAIN_SECONDS = 10.0
SETUP_TIMEOUT = 900.0
CONNECT_AT_ONCE = 10
SETUP_BATCH = 50
LOGINS_AT_ONCE = 4
RATE_LIMIT_NOTE = (
    "server rate limits as configured (20 frames/s per IP); each visitor connects "
    "from its own loopback address in 127.0.0.0/8"
)


def bench_settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SECRET,  # type: ignore[arg-type]
        roles=["web", "engine"],  # type: ignore[list-item]
        argon2_time_cost=1,
        argon2_memory_kib=8 * 1024,
        log_level="WARNING",
        log_json=False,
        presence_timeout_seconds=60.0,  # a loaded machine must not log the agents out
        _env_file=None,  # type: ignore[call-arg]
    )


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def visitor_address(index: int) -> str:
    """A loopback address of its own per visitor (127.10.0.1, 127.10.0.2, ...)."""
    return f"127.10.{index // 250}.{index % 250 + 1}"


# --- the server ---------------------------------------------------------------------------


async def seed(settings: Settings, agents: int, capacity: int) -> tuple[str, list[str]]:
    """One widget on one chat queue, and `agents` agents who may take it."""
    database = create_database(settings.resolved_database_url)
    # The server's own cost (bench_settings), so no login re-hashes.
    passwords.configure(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib)
    password_hash = passwords.hash_password(PASSWORD)
    try:
        async with database.transaction() as db:
            skill = Skill(name="chat")
            db.add(skill)
            await db.flush()
            queue = Queue(
                name="Web chat",
                channels=["chat"],
                strategy=RoutingStrategy.LONGEST_IDLE,
                wrap_up_seconds=0,
            )
            db.add(queue)
            await db.flush()
            db.add(QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=1))
            key = "w_bench_" + uuid.uuid4().hex[:8]
            db.add(
                ChatWidget(name="Bench", public_key=key, queue_id=queue.id, allowed_origins=[SITE])
            )
            usernames = [f"agent{n:04d}" for n in range(agents)]
            for username in usernames:
                user = User(
                    username=username,
                    display_name=username.title(),
                    password_hash=password_hash,
                    role=Role.AGENT,
                    capacity={"voice": 1, "chat": capacity, "email": 5},
                )
                db.add(user)
                await db.flush()
                db.add(AgentSkill(user_id=user.id, skill_id=skill.id, level=5))
    finally:
        await database.dispose()
    return key, usernames


def serve(data_dir: Path, database_url: str, port: int, profile: Path | None) -> None:
    """The server process: Parley's application under uvicorn, as `parley serve` runs it
    (under cProfile with `--profile`, its statistics written there when it stops)."""
    import uvicorn

    from parley.app import create_app

    settings = bench_settings(data_dir, database_url)
    configure_logging(settings.log_level, json=False)
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU: a busy machine skews wall time
        profiler.enable()
    try:
        _run_uvicorn(uvicorn, create_app(settings), port)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)


def _run_uvicorn(uvicorn: Any, app: Any, port: int) -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        server_header=False,
        backlog=4096,
    )


@contextlib.asynccontextmanager
async def server_process(
    data_dir: Path, database_url: str, profile: Path | None = None
) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.chat.run",
        "--serve",
        str(port),
        "--data-dir",
        str(data_dir),
        "--database-url",
        database_url,
    ]
    if profile is not None:
        command += ["--profile", str(profile)]
    process = await asyncio.create_subprocess_exec(*command)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            deadline = time.monotonic() + 60
            while True:
                if process.returncode is not None:
                    raise SystemExit(f"the server exited with {process.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not become ready within 60 s")
                await asyncio.sleep(0.2)
        yield base_url, process.pid
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


# --- the clients --------------------------------------------------------------------------


@dataclass
class Tally:
    """Every message sent, by (direction, chat, number), until it arrives."""

    sent_at: dict[tuple[str, int, int], float] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"visitor_to_agent": [], "agent_to_visitor": []}
    )
    delivered: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    misrouted: int = 0
    failed_sends: int = 0
    failed_statuses: Counter[int] = field(default_factory=Counter)
    all_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def sending(self, direction: str, chat: int, number: int) -> str:
        self.sent_at[(direction, chat, number)] = time.perf_counter()
        return f"{direction}|{chat}|{number}"

    def arrived(self, text: str, chat: int | None) -> None:
        now = time.perf_counter()
        direction, sender_chat, number = text.split("|")
        key = (direction, int(sender_chat), int(number))
        if chat is not None and chat != key[1]:
            self.misrouted += 1
        started = self.sent_at.pop(key, None)
        if not self.sent_at:
            self.all_arrived.set()
        if started is None:
            self.duplicates += 1
            return
        if key[2] < 0:  # a warm-up message: delivered, not measured
            return
        self.delivered[direction] += 1
        self.latencies[direction].append((now - started) * 1000)


class RestConnection:
    """One keep-alive HTTP/1.1 connection for the agents' sends: the load generator must
    stay lighter than the server it loads (a general client costs more CPU per request
    than the route it calls)."""

    def __init__(self, host: str, port: int, cookie: str, csrf: str) -> None:
        self._host, self._port = host, port
        self._headers = (
            f"Host: {host}:{port}\r\nCookie: parley_session={cookie}\r\n"
            f"X-CSRF-Token: {csrf}\r\nContent-Type: application/json\r\n"
        )
        self._lock = asyncio.Lock()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: dict[str, Any]) -> int:
        payload = json.dumps(body).encode()
        request = (
            f"POST {path} HTTP/1.1\r\n{self._headers}Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        async with self._lock:
            try:
                if self._streams is not None and self._streams[0].at_eof():
                    self.close()  # the server closed it while idle (keep-alive timeout)
                if self._streams is None:
                    self._streams = await asyncio.open_connection(self._host, self._port)
                reader, writer = self._streams
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                return int(status_line.split()[1])
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                progress(f"an agent's send failed: {exc!r}")
                self.close()
                return 0

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class AgentClient:
    def __init__(self, base_url: str, username: str, tally: Tally) -> None:
        self.base_url = base_url
        self.username = username
        self.tally = tally
        self.chats: dict[int, int] = {}  # interaction id -> chat number, once assigned
        self.offered: dict[int, int] = {}  # the same, for chats offered to this agent
        self.rest: RestConnection | None = None
        self.agent_id = 0
        self.socket: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.beating: asyncio.Task[None] | None = None
        self.frame_ids = iter(range(1, 10**9))

    async def start(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            login = await client.post(
                "/api/auth/login", json={"username": self.username, "password": PASSWORD}
            )
            login.raise_for_status()
            cookie = client.cookies["parley_session"]
            csrf = login.json()["csrf_token"]
            self.agent_id = (await client.get("/api/auth/me")).json()["id"]
        url = httpx.URL(self.base_url)
        self.rest = RestConnection(url.host, url.port or 80, cookie, csrf)
        self.socket = await websockets.connect(
            self.base_url.replace("http", "ws", 1) + "/ws/agent",
            additional_headers={"Cookie": f"parley_session={cookie}", "Origin": self.base_url},
            max_queue=None,
            open_timeout=60,
            # An overloaded server answers pings late: that is latency to measure, not
            # a reason for the load generator to drop the connection and abort the run.
            ping_interval=None,
        )
        await self.socket.send(json.dumps({"type": "state.ready"}))
        self.reader = asyncio.create_task(self.read())
        self.beating = asyncio.create_task(self.heartbeat())

    async def heartbeat(self) -> None:
        """As the desktop does: a silent agent is logged out and their chats re-queued."""
        while True:
            await asyncio.sleep(5)
            await self.socket.send(json.dumps({"type": "heartbeat"}))

    async def read(self) -> None:
        async for raw in self.socket:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "chat.message":
                if frame["author"]["kind"] == "visitor" and "|" in frame["text"]:
                    self.tally.arrived(frame["text"], self.chats.get(frame["interaction_id"]))
            elif kind == "interaction.assigned" and frame.get("agent_id") == self.agent_id:
                # The router may offer a chat to several agents in turn: it is this
                # agent's once assigned to them.
                chat = self.offered.get(frame["interaction_id"])
                if chat is not None:
                    self.chats[frame["interaction_id"]] = chat
            elif kind == "offer.created":
                title = frame.get("attributes", {}).get("page_title", "")
                chat = int(title.removeprefix("bench-"))
                self.offered[frame["interaction_id"]] = chat
                await self.socket.send(
                    json.dumps(
                        {
                            "type": "offer.accept",
                            "id": str(next(self.frame_ids)),
                            "offer_id": frame["offer_id"],
                        }
                    )
                )

    async def send(self, interaction_id: int, text: str) -> None:
        assert self.rest is not None
        status = await self.rest.post(f"/api/chats/{interaction_id}/messages", {"text": text})
        if status != 201:
            self.tally.failed_sends += 1
            self.tally.failed_statuses[status] += 1

    async def stop(self) -> None:
        for task in (self.reader, self.beating):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.socket is not None:
            await self.socket.close()
        if self.rest is not None:
            self.rest.close()


class VisitorClient:
    def __init__(self, base_url: str, widget_key: str, chat: int, tally: Tally) -> None:
        self.url = f"{base_url.replace('http', 'ws', 1)}/ws/visitor?widget={widget_key}"
        self.chat = chat
        self.tally = tally
        self.socket: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.numbers = iter(range(1, 10**9))
        self.visitor_id: str | None = None

    async def start(self) -> None:
        # A loaded server may refuse a handshake now and then (setup, not measured).
        for attempt in range(5):
            try:
                await self._connect()
                return
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                progress(f"visitor {self.chat} could not connect ({exc!r}); again")
                await asyncio.sleep(2 * (attempt + 1))
        await self._connect()

    async def _connect(self) -> None:
        self.socket = await websockets.connect(
            self.url,
            additional_headers={"Origin": SITE},
            local_addr=(visitor_address(self.chat), 0),
            max_queue=None,
            open_timeout=60,
            # An overloaded server answers pings late: that is latency to measure, not
            # a reason for the load generator to drop the connection and abort the run.
            ping_interval=None,
        )
        page = {"url": f"{SITE}/shop/{self.chat}", "title": f"bench-{self.chat}"}
        hello: dict[str, Any] = {"type": "hello", "resume": 0, "page": page}
        if self.visitor_id is not None:  # a retry: the same visitor, the same chat
            hello["visitor_id"] = self.visitor_id
        await self.socket.send(json.dumps(hello))
        while (welcome := json.loads(await self.socket.recv()))["type"] != "welcome":
            pass
        self.visitor_id = welcome["visitor_id"]
        await self.socket.send(
            json.dumps({"type": "message", "client_msg_id": f"start{self.chat}", "text": "Hello"})
        )
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for raw in self.socket:
            frame = json.loads(raw)
            if frame.get("type") == "message" and frame["author"]["kind"] == "agent":
                self.tally.arrived(frame["text"], self.chat)

    async def send(self, text: str) -> None:
        client_msg_id = f"b{self.chat}x{next(self.numbers)}"
        await self.socket.send(
            json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": text})
        )

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        if self.socket is not None:
            await self.socket.close()


async def _bounded(coroutines: list[Any], at_once: int) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(coroutine: Any) -> None:
        async with gate:
            await coroutine

    await asyncio.gather(*(one(coroutine) for coroutine in coroutines))


async def talk(
    tally: Tally,
    visitor: VisitorClient,
    agent: AgentClient,
    interaction_id: int,
    per_side_rate: float,
    start: float,
    seconds: float,
    first_number: int,
    rng: random.Random,
) -> None:
    """One chat's messages both ways, each side on a steady schedule."""
    period = 1.0 / per_side_rate
    count = max(1, round(seconds * per_side_rate))

    async def side(direction: str, phase: float) -> None:
        for n in range(count):
            delay = start + phase + n * period - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            text = tally.sending(direction, visitor.chat, first_number + n)
            if direction == "visitor_to_agent":
                await visitor.send(text)
            else:
                await agent.send(interaction_id, text)

    await asyncio.gather(
        side("visitor_to_agent", rng.random() * period),
        side("agent_to_visitor", rng.random() * period),
    )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    base_url: str, server_pid: int, widget_key: str, usernames: list[str], args: Any
) -> dict[str, Any]:
    tally = Tally()
    agents = [AgentClient(base_url, name, tally) for name in usernames]
    visitors = [VisitorClient(base_url, widget_key, chat, tally) for chat in range(args.chats)]
    setup_started = time.perf_counter()
    try:
        # Logins a few at a time: each hashes a password and writes a session, and
        # SQLite has one writer (setup, not measured).
        await _bounded([agent.start() for agent in agents], LOGINS_AT_ONCE)
        progress(f"{len(agents)} agents ready")
        # Visitors write in a batch at a time, each batch accepted before the next: a
        # thousand chats queued at once would have offers expire on a loaded server and
        # agents go not ready for missing them (setup, not measured).
        deadline = time.monotonic() + SETUP_TIMEOUT
        for first in range(0, len(visitors), SETUP_BATCH):
            batch = visitors[first : first + SETUP_BATCH]
            await _bounded([visitor.start() for visitor in batch], CONNECT_AT_ONCE)
            while sum(len(agent.chats) for agent in agents) < first + len(batch):
                if time.monotonic() > deadline:
                    raise SystemExit("not every chat was offered and accepted in time")
                await asyncio.sleep(0.2)
        progress(f"{len(visitors)} visitors wrote in")
        await asyncio.sleep(1.0)  # the last accepts reach the engine
        setup_seconds = time.perf_counter() - setup_started
        progress(f"every chat accepted after {setup_seconds:.1f} s; warming up")
        pairs = [
            (visitors[chat], agent, interaction_id)
            for agent in agents
            for interaction_id, chat in agent.chats.items()
        ]
        rng = random.Random(args.seed)
        per_side_rate = args.rate / 2 / args.chats
        warm_up = time.perf_counter() + 0.2
        await asyncio.gather(
            *(
                talk(tally, v, a, i, per_side_rate, warm_up, WARM_UP_SECONDS, -(10**6), rng)
                for v, a, i in pairs
            )
        )
        progress("measuring")
        cpu_before = cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter() + 0.2
        await asyncio.gather(
            *(
                talk(tally, v, a, i, per_side_rate, started, args.seconds, 1, rng)
                for v, a, i in pairs
            )
        )
        sent_seconds = time.perf_counter() - started
        if tally.sent_at:
            tally.all_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tally.all_arrived.wait(), DRAIN_SECONDS)
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server_pid) - cpu_before[0]
        client_cpu = time.process_time() - cpu_before[1]
        progress(f"done: {len(tally.sent_at)} messages not delivered")
    finally:
        await _bounded([visitor.stop() for visitor in visitors], 200)
        await _bounded([agent.stop() for agent in agents], 200)
    expected_per_side = len(pairs) * max(1, round(args.seconds * per_side_rate))
    delivered = sum(tally.delivered.values())
    lost = len(tally.sent_at)

    def latency(direction: str) -> dict[str, float]:
        values = tally.latencies[direction]
        return {
            "p50_ms": round(percentile(values, 0.50), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(max(values, default=0.0), 2),
        }

    return {
        "chats": args.chats,
        "agents": len(agents),
        "offered_messages_per_second": args.rate,
        "seconds": args.seconds,
        "setup_seconds": round(setup_seconds, 1),
        "messages_expected": 2 * expected_per_side,
        "messages_delivered": delivered,
        "messages_lost": lost,
        "duplicates": tally.duplicates,
        "misrouted": tally.misrouted,
        "failed_sends": tally.failed_sends,
        "failed_statuses": {str(status): n for status, n in tally.failed_statuses.items()},
        # Delivered over the time from the first send to the last delivery.
        "messages_per_second": round(delivered / max(elapsed, sent_seconds), 1),
        "latency": {
            "visitor_to_agent": latency("visitor_to_agent"),
            "agent_to_visitor": latency("agent_to_visitor"),
        },
        # The machine's load does not change these: what one message costs the server
        # (all of its work: both sockets, REST, database client, router), and so how many
        # a second one server core could carry.
        "server_cpu_seconds": round(server_cpu, 2),
        "server_cpu_ms_per_message": round(1000 * server_cpu / max(delivered, 1), 3),
        "messages_per_server_core_second": round(delivered / max(server_cpu, 1e-9), 1),
        "client_cpu_seconds": round(client_cpu, 2),
    }


def is_correct(result: dict[str, Any]) -> bool:
    return (
        result["messages_delivered"] == result["messages_expected"]
        and not result["messages_lost"]
        and not result["duplicates"]
        and not result["misrouted"]
        and not result["failed_sends"]
    )


def meets_targets(result: dict[str, Any]) -> bool:
    latency = result["latency"]
    return (
        is_correct(result)
        and result["messages_per_second"] >= TARGET_MESSAGES_PER_SECOND
        and latency["visitor_to_agent"]["p99_ms"] <= TARGET_P99_MS
        and latency["agent_to_visitor"]["p99_ms"] <= TARGET_P99_MS
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    agents = args.agents or math.ceil(args.chats / args.capacity)
    with tempfile.TemporaryDirectory(prefix="parley-bench-chat-") as tmp:
        data_dir = Path(tmp)
        url = args.database_url or os.environ.get("PARLEY_TEST_DATABASE_URL", "")
        async with migrated_database(args.database, url, data_dir / "parley.sqlite3") as db_url:
            settings = bench_settings(data_dir, db_url)
            widget_key, usernames = await seed(settings, agents, args.capacity)
            async with server_process(data_dir, db_url, args.profile) as (base_url, pid):
                result = await measure(base_url, pid, widget_key, usernames, args)
    return {
        "benchmark": "chat",
        "database": args.database,
        "quick": args.quick,
        "rate_limits": RATE_LIMIT_NOTE,
        **result,
        "targets": {
            "p99_ms": TARGET_P99_MS,
            "messages_per_second": TARGET_MESSAGES_PER_SECOND,
            "at_chats": 1000,
        },
        "correct": is_correct(result),
        "meets_targets": meets_targets(result) and args.chats >= 1000,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "client_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            ),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat benchmark (see the module docstring).")
    parser.add_argument("--output", type=Path, default=Path("bench/results/chat.json"))
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=0, help="Default: chats / capacity.")
    parser.add_argument("--capacity", type=int, default=4, help="Chats per agent.")
    parser.add_argument("--rate", type=float, default=5000.0, help="Messages/s, both ways.")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default="", help="PostgreSQL server (asyncpg URL).")
    parser.add_argument("--quick", action="store_true", help="A smoke run: 20 chats, 3 s.")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the server here.")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.data_dir, args.database_url, args.serve, args.profile)
        return 0
    if args.profile is not None:
        args.profile = args.profile.resolve()  # the server runs elsewhere
    if args.quick:
        # 2.5 messages/s each way per chat, as in the full run (under a visitor's limit).
        args.chats = min(args.chats, 20)
        args.rate, args.seconds = min(args.rate, 5.0 * args.chats), 3.0
    configure_logging("WARNING", json=False)
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
