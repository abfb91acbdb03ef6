"""Mail and the cases it opens: their SLA due time, and replies after merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from parley.platform.bus import MemoryBus
from parley.platform.cases import CaseContext
from parley.platform.cases.domain import Viewer
from parley.platform.cases.service import merge_case
from parley.platform.models import Case, EmailAccount, Message, Queue, Role
from tests.integration.email_channel.test_email_ingest import World, mail, world

__all__ = ["world"]  # the fixture, used by name


async def test_a_case_opened_by_mail_is_due_by_its_queue_sla(world: World) -> None:
    async with world.database.transaction() as db:
        account = await db.get_one(EmailAccount, world.account_id)
        queue = await db.get_one(Queue, account.queue_id)
        queue.sla_threshold_seconds = 4 * 3600
    raw, _ = mail("Need an invoice")
    await world.dovecot.append("alice", raw)
    await world.ingest().ingest_once(world.account_id)
    async with world.database.transaction() as db:
        case = await db.scalar(select(Case))
    assert case is not None and case.sla_due_at is not None
    assert case.sla_due_at - case.created_at == timedelta(hours=4)


async def test_replies_to_merged_cases_thread_into_the_case_they_went_into(
    world: World,
) -> None:
    opening = [mail(f"Question {n}") for n in range(3)]
    for raw, _ in opening:
        await world.dovecot.append("alice", raw)
    await world.ingest().ingest_once(world.account_id)
    async with world.database.transaction() as db:
        a, b, c = [
            await db.scalar(select(Message.case_id).where(Message.external_id == message_id))
            for _, message_id in opening
        ]
    assert a is not None and b is not None and c is not None
    bus = MemoryBus()
    await bus.start()
    try:
        async with world.database.transaction() as db:
            ctx = CaseContext(db, None, bus, datetime.now(UTC))
            viewer = Viewer(0, Role.ADMIN)
            await merge_case(ctx, viewer, await db.get_one(Case, c), a)  # C into A
            await merge_case(ctx, viewer, await db.get_one(Case, a), b)  # then A into B
    finally:
        await bus.close()

    by_message_id, _ = mail("Re: Question 0", in_reply_to=opening[0][1])
    by_token_a, _ = mail(f"More on [#{a}]")
    by_token_c, _ = mail(f"More on [#{c}]")
    for raw in (by_message_id, by_token_a, by_token_c):
        await world.dovecot.append("alice", raw)
    await world.ingest().ingest_once(world.account_id)
    messages = await world.messages()
    assert [m.case_id for m in messages[3:]] == [b, b, b]
    assert {m.case_id for m in messages} == {b}  # the merges moved the first mails too
