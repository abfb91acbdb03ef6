"""The mailboxes a process follows: one `MailboxIngest.run` task per active account.

Only a process running the `engine` role ingests mail (ARCHITECTURE §2): ingestion
queues interactions through the engine, and one engine means one reader per mailbox.
`Mailboxes.start` reads the active accounts that have an IMAP server, starts a follower
for each, and sends any outgoing email a stopped process left pending; `stop` cancels
and awaits them all (STYLE.md, Async: background tasks are owned). Accounts added or
switched on later are followed from the next start.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import select

from parley.email_channel.outbound import Outbox
from parley.email_channel.service import IngestPolicy, MailboxIngest
from parley.platform.models import EmailAccount
from parley.platform.runtime import Runtime

log = structlog.get_logger(__name__)

STOP_SECONDS = 10.0


class Mailboxes:
    def __init__(
        self, runtime: Runtime, outbox: Outbox, policy: IngestPolicy | None = None
    ) -> None:
        self._runtime = runtime
        self._outbox = outbox
        self._policy = policy
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._sending: asyncio.Task[int] | None = None

    @property
    def followed(self) -> frozenset[int]:
        """The ids of the accounts being followed."""
        return frozenset(self._tasks)

    async def start(self) -> None:
        engine = self._runtime.engine
        if engine is None:
            return  # not the engine role: another process reads the mailboxes
        async with self._runtime.database.transaction() as db:
            accounts = list(
                await db.scalars(
                    select(EmailAccount.id).where(
                        EmailAccount.is_active.is_(True), EmailAccount.imap_host != ""
                    )
                )
            )
        ingest = MailboxIngest(
            self._runtime.database,
            self._runtime.settings,
            engine.enqueue,
            self._policy,
            outbox=self._outbox,
            clock=self._runtime.clock,
        )
        for account_id in accounts:
            self._tasks[account_id] = asyncio.create_task(
                ingest.run(account_id), name=f"email-ingest-{account_id}"
            )
        self._sending = asyncio.create_task(self._outbox.deliver_waiting())
        log.info("email.mailboxes_started", accounts=accounts)

    async def stop(self) -> None:
        """Cancel every task and wait for them, at most `STOP_SECONDS`: a task stuck in
        a network call must not keep the process from stopping."""
        tasks = [*self._tasks.values(), *([self._sending] if self._sending else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            _done, stuck = await asyncio.wait(tasks, timeout=STOP_SECONDS)
            for task in stuck:
                log.error("email.mailbox_task_stuck", task=task.get_name())
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error(
                    "email.mailbox_task_failed", task=task.get_name(), error=repr(task.exception())
                )
        self._tasks.clear()
        self._sending = None
