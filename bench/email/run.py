"""Email ingestion benchmark: how fast mail becomes cases, and how soon after delivery.

Rate. 10,000 varied messages (bench/email/corpus.py: plain, HTML, alternatives,
attachments, windows-1251 and KOI8-R, replies threading by In-Reply-To/References and by
case token, malformed MIME, duplicates) go through the real ingestion path,
`MailboxIngest.ingest_once`: for each message parse, sanitize, store attachments, thread,
find or create the contact, open or reopen the case, store the message and move the
bookmark, one transaction per batch (`--batch-size`, the ingestion's default unless
given), on a migrated database (SQLite, or PostgreSQL with `--database postgres`). Only
the IMAP connection is swapped for the corpus in memory, so the server's speed is not
measured here. Queueing the stored mail to the engine (the end of the pass) is timed
apart. Measured: messages/s of parse + thread + store (wall clock, and per second of the
process's CPU, which a busy shared machine does not inflate), the time per batch and per
message of a batch (p50/p99: the gap between successive batches committed, as ingestion
fetches and parses the next batch while it stores this one), and the rate with queueing
included. Target: >= 200 messages/s.

IDLE latency. A real Dovecot (tests/dovecot.py, as the integration tests start it: throwaway
config, plaintext IMAP on a free loopback port) and `MailboxIngest.run` following the
mailbox with IDLE; `--deliveries` messages are appended one at a time over IMAP, and each
is timed from the start of its APPEND to the moment its message (and so its case) is
committed in the database. Measured: p50/p99/max. Target: <= 2 s.

    python -m bench.email.run [--output bench/results/email.json] [--messages 10000]
        [--database sqlite|postgres] [--database-url URL] [--deliveries 50]
        [--batch-size N] [--skip-idle]

PostgreSQL: `--database-url` or PARLEY_TEST_DATABASE_URL names a server where a
throwaway database is created, migrated, and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.email.corpus import Corpus, Mail
from parley.email_channel.imap import ImapSession, SelectedFolder
from parley.email_channel.service import IngestPolicy, MailboxIngest
from parley.platform.bus import MemoryBus
from parley.platform.clock import SystemClock
from parley.platform.config import Settings
from parley.platform.db import Database, create_database
from parley.platform.db.migrate import upgrade
from parley.platform.engine import Engine
from parley.platform.logs import configure_logging
from parley.platform.models import (
    Case,
    EmailAccount,
    Interaction,
    Message,
    Queue,
    RoutingStrategy,
    TlsMode,
)
from parley.platform.secret_box import SecretBox
from tests.dovecot import DOVECOT, Dovecot, running_dovecot

TARGET_MESSAGES_PER_SECOND = 200.0
TARGET_IDLE_P99_SECONDS = 2.0
UIDVALIDITY = 1
SECRET = "bench-secret-key-not-for-production"  # noqa: S105 (throwaway data only)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# --- databases ---------------------------------------------------------------------------


@asynccontextmanager
async def migrated_database(kind: str, url: str | None, sqlite_file: Path) -> AsyncIterator[str]:
    """A fresh migrated database URL: `sqlite_file`, or a throwaway database on the
    PostgreSQL server of `url` (dropped on exit)."""
    if kind == "sqlite":
        database_url = f"sqlite+aiosqlite:///{sqlite_file}"
        await _migrate(database_url)
        yield database_url
        return
    if not url:
        raise SystemExit("--database postgres needs --database-url or PARLEY_TEST_DATABASE_URL")
    server = make_url(url)
    name = f"parley_bench_{uuid.uuid4().hex[:10]}"
    await _admin(url, f'CREATE DATABASE "{name}"')
    database_url = server.set(database=name).render_as_string(hide_password=False)
    try:
        await _migrate(database_url)
        yield database_url
    finally:
        await _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    database = create_database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


async def add_mailbox(
    database: Database, settings: Settings, host: str, port: int, password: str = ""
) -> int:
    async with database.transaction() as db:
        queue = Queue(
            name=f"Mail {uuid.uuid4().hex[:6]}",
            channels=["email"],
            strategy=RoutingStrategy.LONGEST_IDLE,
            sla_threshold_seconds=4 * 3600,
        )
        db.add(queue)
        await db.flush()
        account = EmailAccount(
            name=f"Support {queue.id}",
            queue_id=queue.id,
            imap_host=host,
            imap_port=port,
            imap_username="alice",
            imap_password_sealed=SecretBox(settings.resolved_secret_key()).seal(password),
            imap_tls=TlsMode.NONE,
        )
        db.add(account)
        await db.flush()
        return account.id


async def count(database: Database, model: type[Any]) -> int:
    async with database.transaction() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


# --- the rate ----------------------------------------------------------------------------


class CorpusSession(ImapSession):
    """The IMAP session's part `ingest_once` uses, served from the corpus in memory."""

    def __init__(self, mails: list[Mail]) -> None:  # no client: nothing to connect to
        self._mails = mails

    @property
    def supports_idle(self) -> bool:
        return False

    async def select(self, folder: str) -> SelectedFolder:
        return SelectedFolder(UIDVALIDITY)

    async def uids_after(self, last_uid: int) -> list[int]:
        return list(range(last_uid + 1, len(self._mails) + 1))

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        return {uid: len(self._mails[uid - 1].raw) for uid in uids}

    async def fetch_many(self, uids: Sequence[int]) -> dict[int, bytes]:
        return {uid: self._mails[uid - 1].raw for uid in uids}

    async def logout(self) -> None:
        return None


class CorpusIngest(MailboxIngest):
    """The real ingestion with its IMAP connection swapped for `CorpusSession`, and the
    queueing to agents at the end of the pass timed apart; records when each batch was
    committed and how many messages it held."""

    def __init__(self, *args: Any, session: CorpusSession, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = session
        self.queue_seconds = 0.0
        self.queue_started = 0.0
        self.queue_cpu_seconds = 0.0
        self.batches: list[tuple[float, int]] = []  # (committed at, messages)

    async def _connect(self, account_id: int) -> ImapSession:
        return self.session

    async def _store_batch(self, *args: Any, **kwargs: Any) -> Any:
        result = await super()._store_batch(*args, **kwargs)
        self.batches.append((time.perf_counter(), result.stored + result.duplicates))
        return result

    async def queue_waiting(self) -> int:
        self.queue_started = time.perf_counter()
        cpu_started = time.process_time()
        try:
            return await super().queue_waiting()
        finally:
            self.queue_seconds += time.perf_counter() - self.queue_started
            self.queue_cpu_seconds += time.process_time() - cpu_started


async def measure_rate(
    database_url: str, workdir: Path, messages: int, seed: int, batch_size: int | None = None
) -> dict[str, Any]:
    corpus = Corpus(seed)
    mails = list(corpus.messages(messages))
    settings = bench_settings(workdir / "rate", database_url)
    database = create_database(database_url)
    account_id = await add_mailbox(database, settings, "127.0.0.1", 1)
    bus = MemoryBus()
    await bus.start()
    engine = Engine(database, bus, SystemClock())  # after the queue: it loads queues at start
    await engine.start(run_loop=False)
    try:
        session = CorpusSession(mails)
        ingest = CorpusIngest(
            database,
            settings,
            engine.enqueue,
            IngestPolicy(
                max_attachment_bytes=10 * 1024 * 1024,
                **({"batch_size": batch_size} if batch_size else {}),
            ),
            session=session,
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        result = await ingest.ingest_once(account_id)
        total_seconds = time.perf_counter() - started
        store_seconds = total_seconds - ingest.queue_seconds
        # CPU of every thread of the process: on a shared machine the wall clock also
        # counts waiting for a core, this does not.
        store_cpu = time.process_time() - cpu_started - ingest.queue_cpu_seconds
        marks = [(started, 0), *ingest.batches]
        per_batch = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(marks)]
        per_message = [
            (later - earlier) / size
            for (earlier, _), (later, size) in itertools.pairwise(marks)
            if size
        ]
        stored = await count(database, Message)
        async with database.transaction() as db:
            reasons = Counter(
                (headers.get("thread") or {}).get("reason", "?")
                for headers in await db.scalars(select(Message.headers))
            )
            with_problems = sum(
                1 for headers in await db.scalars(select(Message.headers)) if headers["problems"]
            )
            with_sla = int(
                await db.scalar(
                    select(func.count()).select_from(Case).where(Case.sla_due_at.is_not(None))
                )
                or 0
            )
        return {
            "messages": messages,
            "mix": dict(sorted(Counter(mail.kind for mail in mails).items())),
            "stored": result.stored,
            "duplicates": result.duplicates,
            "messages_in_database": stored,
            "cases": await count(database, Case),
            "cases_with_sla_due_at": with_sla,
            "interactions": await count(database, Interaction),
            "threaded_by": dict(sorted(reasons.items())),
            "messages_with_problem_notes": with_problems,
            "parse_thread_store": {
                "seconds": round(store_seconds, 3),
                "messages_per_second": round(messages / store_seconds, 1),
                "cpu_seconds": round(store_cpu, 3),
                "messages_per_cpu_second": round(messages / store_cpu, 1),
                "batch_size": ingest.policy.batch_size,
                "per_batch_ms": {
                    "p50": round(percentile(per_batch, 0.50) * 1000, 2),
                    "p99": round(percentile(per_batch, 0.99) * 1000, 2),
                    "max": round(max(per_batch) * 1000, 2),
                },
                "per_message_ms": {
                    "p50": round(percentile(per_message, 0.50) * 1000, 2),
                    "p99": round(percentile(per_message, 0.99) * 1000, 2),
                    "max": round(max(per_message) * 1000, 2),
                },
            },
            "with_queueing": {
                "queue_seconds": round(ingest.queue_seconds, 3),
                "seconds": round(total_seconds, 3),
                "messages_per_second": round(messages / total_seconds, 1),
            },
        }
    finally:
        await engine.stop()
        await bus.close()
        await database.dispose()


def bench_settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SECRET,
        log_json=False,
        _env_file=None,
    )


# --- IDLE latency ------------------------------------------------------------------------


async def measure_idle(
    database_url: str, workdir: Path, deliveries: int, seed: int
) -> dict[str, Any]:
    with running_dovecot(workdir / "dovecot") as dovecot:
        return await _measure_idle(dovecot, database_url, workdir, deliveries, seed)


async def _measure_idle(
    dovecot: Dovecot, database_url: str, workdir: Path, deliveries: int, seed: int
) -> dict[str, Any]:
    settings = bench_settings(workdir / "idle", database_url)
    database = create_database(database_url)
    account_id = await add_mailbox(
        database, settings, "127.0.0.1", dovecot.port, dovecot.users["alice"]
    )
    bus = MemoryBus()
    await bus.start()
    engine = Engine(database, bus, SystemClock())
    await engine.start(run_loop=False)
    follower: asyncio.Task[None] | None = None
    try:
        ingest = MailboxIngest(
            database, settings, engine.enqueue, IngestPolicy(timeout=10, poll_seconds=3600)
        )
        follower = asyncio.create_task(ingest.run(account_id))
        await asyncio.sleep(1.0)  # connected, and idling on the empty inbox
        # Different seed from the rate corpus: no message ids shared with it.
        mails = [
            mail
            for mail in Corpus(seed + 1).messages(deliveries * 3)
            if mail.kind not in ("duplicate", "malformed") and mail.message_id
        ][:deliveries]
        latencies: list[float] = []
        for mail in mails:
            started = time.perf_counter()
            await dovecot.append("alice", mail.raw)
            latencies.append(await _until_stored(database, mail.message_id or "", started))
            await asyncio.sleep(0.2)  # the follower is back in IDLE
        return {
            "deliveries": len(latencies),
            "seconds": {
                "p50": round(percentile(latencies, 0.50), 3),
                "p99": round(percentile(latencies, 0.99), 3),
                "max": round(max(latencies), 3),
                "mean": round(statistics.fmean(latencies), 3),
            },
        }
    finally:
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await engine.stop()
        await bus.close()
        await database.dispose()


async def _until_stored(
    database: Database, message_id: str, started: float, give_up_after: float = 30.0
) -> float:
    """Seconds from `started` until the message is committed (with its case)."""
    while True:
        async with database.transaction() as db:
            case_id = await db.scalar(
                select(Message.case_id).where(Message.external_id == message_id)
            )
        elapsed = time.perf_counter() - started
        if case_id is not None:
            return elapsed
        if elapsed > give_up_after:
            raise RuntimeError(f"{message_id} not stored within {give_up_after} s")
        await asyncio.sleep(0.01)


# --- main --------------------------------------------------------------------------------


async def run(args: argparse.Namespace, *, has_dovecot: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-email-"))
    url = args.database_url or os.environ.get("PARLEY_TEST_DATABASE_URL", "")
    try:
        result: dict[str, Any] = {
            "benchmark": "email",
            "database": args.database,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "seed": args.seed,
        }
        async with migrated_database(args.database, url, workdir / "rate.sqlite3") as database_url:
            result["rate"] = await measure_rate(
                database_url, workdir, args.messages, args.seed, args.batch_size
            )
        if not args.skip_idle and not has_dovecot:
            result["idle"] = {"skipped": f"{DOVECOT} is missing: run scripts/install-dovecot"}
        elif not args.skip_idle:
            idle_file = workdir / "idle.sqlite3"
            async with migrated_database(args.database, url, idle_file) as database_url:
                result["idle"] = await measure_idle(
                    database_url, workdir, args.deliveries, args.seed
                )
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def meets_targets(result: dict[str, Any]) -> bool:
    rate = result["rate"]["parse_thread_store"]["messages_per_second"]
    idle = result.get("idle", {})
    idle_ok = "seconds" not in idle or idle["seconds"]["p99"] <= TARGET_IDLE_P99_SECONDS
    return rate >= TARGET_MESSAGES_PER_SECOND and idle_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Email benchmark (see the module docstring).")
    parser.add_argument("--output", type=Path, default=Path("bench/results/email.json"))
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default="", help="PostgreSQL server (asyncpg URL).")
    parser.add_argument("--deliveries", type=int, default=50)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="Messages per transaction (rate)."
    )
    parser.add_argument("--skip-idle", action="store_true", help="Measure the rate only.")
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args(argv)

    result = asyncio.run(run(args, has_dovecot=DOVECOT.exists()))
    result["targets"] = {
        "messages_per_second": TARGET_MESSAGES_PER_SECOND,
        "idle_p99_seconds": TARGET_IDLE_P99_SECONDS,
    }
    result["meets_targets"] = meets_targets(result)
    output = json.dumps(result, indent=2, ensure_ascii=False)
    print(output)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(output + "\n", encoding="utf-8")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    configure_logging("WARNING", json=False)  # a log line per message would drown the result
    sys.exit(main())
