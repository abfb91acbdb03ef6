"""The email group queue in the desktop (F-EM-4, F-RT-6), with real mail servers behind
it: mail delivered into Dovecot for a manual-pick queue waits unoffered; the agent sees
it in the Emails side tab with its SLA colour, filters it, loses a race for one email to
a colleague (and is told so), and takes the other, which opens in the workspace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select, update

from parley.platform.db import create_database
from parley.platform.models import (
    Case,
    Channel,
    EmailAccount,
    Interaction,
    InteractionState,
    PickMode,
    Queue,
    TlsMode,
)
from parley.platform.secret_box import SecretBox
from tests.e2e.conftest import Parley, Screens, _seed, e2e_settings, log_in, serve_parley
from tests.e2e.test_desktop import go_ready
from tests.e2e.test_desktop_email import SUPPORT, customer_mail
from tests.integration.email_channel import conftest as mail_servers
from tests.integration.email_channel.conftest import SMTP_USERS, Dovecot, SmtpServer

dovecot = mail_servers.dovecot
smtp_server = mail_servers.smtp_server


@pytest.fixture
async def parley(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> AsyncIterator[Parley]:
    """The seeded center with a mailbox whose queue is a group queue (manual pick)."""
    settings = e2e_settings(tmp_path)
    seeded = await _seed(settings)
    sealer = SecretBox(settings.resolved_secret_key())
    database = create_database(settings.resolved_database_url)
    try:
        async with database.transaction() as db:
            queue = Queue(
                name="Mail pool",
                channels=[Channel.EMAIL.value],
                pick_mode=PickMode.MANUAL,
                wrap_up_seconds=60,
            )
            db.add(queue)
            await db.flush()
            db.add(
                EmailAccount(
                    name="Parley Support",
                    queue_id=queue.id,
                    imap_host=dovecot.host,
                    imap_port=dovecot.port,
                    imap_username="alice",
                    imap_password_sealed=sealer.seal(dovecot.users["alice"]),
                    imap_tls=TlsMode.NONE,
                    smtp_host=smtp_server.host,
                    smtp_port=smtp_server.port,
                    smtp_username="parley-out",
                    smtp_password_sealed=sealer.seal(SMTP_USERS["parley-out"]),
                    smtp_tls=TlsMode.NONE,
                    from_address=SUPPORT,
                )
            )
    finally:
        await database.dispose()
    async with serve_parley(settings, seeded) as served:
        yield served


async def waiting_emails(parley: Parley, count: int) -> list[Interaction]:
    """The queued email interactions, once IDLE has brought in `count` of them."""
    for _ in range(200):
        async with parley.app.state.runtime.database.transaction() as db:
            rows = list(
                await db.scalars(
                    select(Interaction)
                    .where(Interaction.state == InteractionState.QUEUED)
                    .order_by(Interaction.id)
                )
            )
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} emails did not arrive")


async def test_agent_takes_an_email_from_the_group_queue(
    page: Any, parley: Parley, dovecot: Dovecot, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    await dovecot.append("alice", customer_mail("Late invoice", html="<p>Invoice 12?</p>")[0])
    await dovecot.append("alice", customer_mail("Broken parcel", html="<p>It broke.</p>")[0])
    invoice, parcel = await waiting_emails(parley, 2)
    runtime = parley.app.state.runtime
    now = runtime.clock.now()
    async with runtime.database.transaction() as db:
        await db.execute(
            update(Case)
            .where(Case.id == invoice.case_id)
            .values(sla_due_at=now - timedelta(minutes=10))
        )
        await db.execute(
            update(Case)
            .where(Case.id == parcel.case_id)
            .values(sla_due_at=now + timedelta(minutes=30))
        )

    await page.get_by_role("tab", name="Emails").click()
    group = page.get_by_role("list", name="Group queue")
    items = group.locator(".email-waiting")
    await expect(items).to_have_count(2)
    await expect(items.first).to_contain_text("Late invoice")
    await expect(items.first).to_have_class("email-waiting sla-overdue")
    await expect(items.first).to_contain_text("Overdue: SLA due")
    await expect(items.last).to_have_class("email-waiting sla-due_soon")
    await expect(page.get_by_role("alertdialog")).to_have_count(0)  # nothing is offered
    await screens.shot(page, "group-queue")

    await page.get_by_label("Filter by text").fill("parcel")
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Broken parcel")

    # A colleague takes the parcel first: this agent hears so and the list moves on.
    engine = runtime.engine
    await engine.login(parley.seeded.other_agent_id)
    await engine.take(parley.seeded.other_agent_id, parcel.id)
    await items.first.get_by_role("button", name="Take").click()
    await expect(page.locator(".toast").last).to_contain_text("Someone else took this email first.")
    await expect(group).to_contain_text("No emails waiting to be taken.")

    await page.get_by_label("Filter by text").fill("")
    await page.get_by_label("Sort by").select_option(label="SLA due")
    await expect(items).to_have_count(1)
    await items.first.get_by_role("button", name="Take").click()
    await expect(page.locator(".toast").last).to_contain_text("The email is yours.")
    await expect(page.locator("#state-name")).to_have_text("Busy")
    panel = page.locator(".email")
    await expect(panel).to_be_visible()
    assert int(await panel.get_attribute("data-interaction-id")) == invoice.id
    await expect(page.locator(".email-message")).to_contain_text("Late invoice")
    await expect(group).to_contain_text("No emails waiting to be taken.")
    taken = await parley.interaction(invoice.id)
    assert taken.state is InteractionState.ACTIVE and taken.agent_id == parley.seeded.agent_id
    await screens.shot(page, "taken")
