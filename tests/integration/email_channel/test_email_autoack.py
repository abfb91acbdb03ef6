"""Auto-acknowledgement sent for real (F-EM-3): through SMTP when ingestion opens a case,
never to bounces or automatic mail, and two Parley installations acknowledging each
other's mailboxes stop after the first acknowledgement. Plus the application following
its mailboxes when it runs the engine role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from parley.app import create_app
from parley.email_channel.outbound import Draft, Outbox, SendMode
from parley.email_channel.service import IngestPolicy, MailboxIngest
from parley.platform.bus import MemoryBus
from parley.platform.clock import SystemClock
from parley.platform.config import Settings
from parley.platform.db import Database, create_database
from parley.platform.db.migrate import upgrade
from parley.platform.engine import Engine
from parley.platform.models import (
    Case,
    Direction,
    EmailAccount,
    EmailTemplate,
    Interaction,
    Message,
    Queue,
    RoutingStrategy,
    TlsMode,
)
from parley.platform.secret_box import SecretBox
from tests.integration.email_channel.conftest import SMTP_USERS, Dovecot, SmtpServer, body_of
from tests.integration.email_channel.test_email_ingest import mail, wait_for


@dataclass
class Parley:
    """One installation: its database, engine and one mailbox (a Dovecot user)."""

    database: Database
    settings: Settings
    engine: Engine
    bus: MemoryBus
    account_id: int
    address: str
    dovecot: Dovecot
    user: str

    async def receive(self, raw: bytes) -> None:
        """Mail lands in this installation's mailbox and is ingested."""
        await self.dovecot.append(self.user, raw)
        await self.ingest().ingest_once(self.account_id)

    def ingest(self) -> MailboxIngest:
        return MailboxIngest(
            self.database,
            self.settings,
            self.engine.enqueue,
            IngestPolicy(timeout=10),
            outbox=Outbox(self.database, self.settings, timeout=10),
        )

    async def messages(self) -> list[Message]:
        async with self.database.transaction() as db:
            return list(await db.scalars(select(Message).order_by(Message.id)))

    async def close(self) -> None:
        await self.engine.stop()
        await self.bus.close()
        await self.database.dispose()


async def seed_mailbox(
    database: Database,
    settings: Settings,
    dovecot: Dovecot,
    smtp: SmtpServer,
    user: str,
    address: str,
    *,
    template_id: int | None = None,
) -> int:
    sealer = SecretBox(settings.resolved_secret_key())
    async with database.transaction() as db:
        queue = Queue(name=f"Mail {user}", channels=["email"], strategy=RoutingStrategy.ROUND_ROBIN)
        db.add(queue)
        await db.flush()
        account = EmailAccount(
            name=f"Support {user.title()}",
            queue_id=queue.id,
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_username=user,
            imap_password_sealed=sealer.seal(dovecot.users[user]),
            imap_tls=TlsMode.NONE,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_username="parley-out",
            smtp_password_sealed=sealer.seal(SMTP_USERS["parley-out"]),
            smtp_tls=TlsMode.NONE,
            from_address=address,
            auto_ack_enabled=True,
            auto_ack_template_id=template_id,
        )
        db.add(account)
        await db.flush()
        smtp.deliver_to(address, dovecot, user)
        return account.id


async def start_parley(
    settings: Settings, dovecot: Dovecot, smtp: SmtpServer, user: str, address: str
) -> Parley:
    database = create_database(settings.resolved_database_url)
    account_id = await seed_mailbox(database, settings, dovecot, smtp, user, address)
    bus = MemoryBus()
    await bus.start()
    engine = Engine(database, bus, SystemClock())
    await engine.start(run_loop=False)
    return Parley(database, settings, engine, bus, account_id, address, dovecot, user)


@pytest.fixture
async def support(
    settings: Settings, dovecot: Dovecot, smtp_server: SmtpServer
) -> AsyncIterator[Parley]:
    parley = await start_parley(settings, dovecot, smtp_server, "alice", "alice@parley.test")
    yield parley
    await parley.close()


@pytest.fixture
async def other_parley(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> AsyncIterator[Parley]:
    """A second, separate installation (its own SQLite database and secret)."""
    settings = Settings(
        data_dir=tmp_path / "other",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}",
        secret_key="another-installation-secret",
        _env_file=None,
    )
    migrating = create_database(settings.resolved_database_url)
    await upgrade(migrating)
    await migrating.dispose()
    parley = await start_parley(settings, dovecot, smtp_server, "bob", "bob@parley.test")
    yield parley
    await parley.close()


async def test_a_new_case_is_acknowledged_by_smtp_in_its_thread(
    support: Parley, smtp_server: SmtpServer
) -> None:
    raw, customer_id = mail("Where is my parcel?", sender="Ivan Petrov <ivan@example.org>")
    await support.receive(raw)
    [ack] = await smtp_server.wait_for(1)
    assert ack.rcpt_tos == ("ivan@example.org",)
    out = ack.parsed()
    [incoming, stored_ack] = await support.messages()
    assert out["Message-ID"] == stored_ack.external_id
    assert out["In-Reply-To"] == customer_id and out["References"] == customer_id
    assert out["Auto-Submitted"] == "auto-replied"
    assert out["Subject"] == f"Re: Where is my parcel? [#{incoming.case_id}]"
    text = body_of(out, "plain")
    assert "Hello Ivan Petrov," in text and f"[#{incoming.case_id}]" in text
    assert stored_ack.direction is Direction.OUTBOUND and stored_ack.case_id == incoming.case_id
    assert stored_ack.headers["delivery"]["status"] == "sent"
    assert stored_ack.headers["mode"] == "acknowledgement"

    # The customer's next message in the thread is not acknowledged again.
    reply, _ = mail("Re: Where is my parcel?", "Any news?", in_reply_to=customer_id)
    await support.receive(reply)
    await asyncio.sleep(0.2)
    assert len(smtp_server.received) == 1


async def test_bounces_and_automatic_mail_are_not_acknowledged(
    support: Parley, smtp_server: SmtpServer
) -> None:
    bounce, _ = mail("Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@example.org")
    vacation, _ = mail("Out of office", sender="olga@example.org")
    vacation = b"Auto-Submitted: auto-replied\r\n" + vacation
    with capture_logs() as logs:
        await support.receive(bounce)
        await support.receive(vacation)
    reasons = [entry["reason"] for entry in logs if entry["event"] == "email.ack_skipped"]
    assert reasons == ["system_sender", "automated"]
    assert smtp_server.received == []
    assert [m.direction for m in await support.messages()] == [Direction.INBOUND] * 2


async def test_two_parleys_acknowledging_each_other_stop_after_the_first_ack(
    support: Parley, other_parley: Parley, smtp_server: SmtpServer, dovecot: Dovecot
) -> None:
    # Someone at the other installation writes to us from its mailbox's address.
    raw, _ = mail("Partner question", sender="Bob Support <bob@parley.test>")
    await dovecot.append("alice", raw)
    for _round in range(3):  # both sides read their mailboxes, again and again
        await support.ingest().ingest_once(support.account_id)
        await other_parley.ingest().ingest_once(other_parley.account_id)
    [ack] = await smtp_server.wait_for(1)
    assert ack.rcpt_tos == ("bob@parley.test",)
    assert len(smtp_server.received) == 1  # nobody answered the acknowledgement
    [received_ack] = await other_parley.messages()
    assert received_ack.external_id == ack.parsed()["Message-ID"]
    assert "auto_submitted" in received_ack.headers["auto_signals"]
    async with other_parley.database.transaction() as db:
        assert len(list(await db.scalars(select(Case)))) == 1


async def test_the_acknowledgement_uses_the_mailbox_template(
    support: Parley, smtp_server: SmtpServer
) -> None:
    async with support.database.transaction() as db:
        template = EmailTemplate(
            name="Ack",
            subject="We got it {{ case.token }}",
            body_text="Thanks {{ contact.name }}, this is {{ mailbox.name }}.",
            body_html="<p>Thanks {{ contact.name }}</p>",
        )
        db.add(template)
        await db.flush()
        account = await db.get_one(EmailAccount, support.account_id)
        account.auto_ack_template_id = template.id
    await support.receive(mail("Hello", sender='"Olga <b>" <olga@example.org>')[0])
    [ack] = await smtp_server.wait_for(1)
    out = ack.parsed()
    [incoming, _] = await support.messages()
    assert out["Subject"] == f"Re: We got it [#{incoming.case_id}]"
    assert body_of(out, "plain").strip() == ("Thanks Olga <b>, this is Support Alice.")
    assert "Thanks Olga &lt;b&gt;" in body_of(out, "html")


async def test_the_engine_role_follows_every_active_mailbox_until_shutdown(
    settings: Settings, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    app = create_app(settings)
    runtime = app.state.runtime
    account_id = await seed_mailbox(
        runtime.database, settings, dovecot, smtp_server, "alice", "alice@parley.test"
    )
    # An email a stopped process stored but never sent goes out at the next start.
    async with runtime.database.transaction() as db:
        case = Case(subject="Left behind")
        db.add(case)
        await db.flush()
        left = await Outbox(runtime.database, settings).add(
            db,
            Draft(
                account_id=account_id,
                case_id=case.id,
                interaction_id=None,
                author_user_id=None,
                mode=SendMode.NEW,
                to=("olga@example.org",),
                subject=f"Left behind [#{case.id}]",
                text="Sent after a restart.",
            ),
        )
    async with app.router.lifespan_context(app):
        mailboxes = app.state.mailboxes
        assert mailboxes.followed == {account_id}
        [resent] = await smtp_server.wait_for(1)
        assert resent.parsed()["Message-ID"] == left.external_id
        await asyncio.sleep(0.5)  # connected and idling
        await dovecot.append("alice", mail("Live delivery", sender="ivan@example.org")[0])

        async def acknowledged() -> bool:
            return len(smtp_server.received) == 2

        await wait_for(acknowledged)
        assert smtp_server.received[1].rcpt_tos == ("ivan@example.org",)

        async def queued() -> bool:
            async with runtime.database.transaction() as db:
                return await db.scalar(select(Interaction.id)) is not None

        await wait_for(queued)  # the pass is over: stopping now interrupts no write
        async with runtime.database.transaction() as db:
            cases = list(await db.scalars(select(Case).order_by(Case.id)))
        assert [c.subject for c in cases] == ["Left behind", "Live delivery"]
        tasks = list(mailboxes._tasks.values())
    assert all(task.done() for task in tasks)

    web_only = create_app(settings.model_copy(update={"roles": ["web"]}))
    async with web_only.router.lifespan_context(web_only):
        assert web_only.state.mailboxes.followed == frozenset()
