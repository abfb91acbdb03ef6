"""Notification mail the other channels send through email (`Runtime.mailer`): stored
and sent like any outgoing mail (outbound.py), from the queue's first active mailbox that
has an SMTP server. Not part of a customer's thread: no case, no interaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.email_channel.outbound import Draft, Outbox, SendMode
from parley.platform.models import EmailAccount
from parley.platform.runtime import Runtime


class QueueMailer:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def add_notification(
        self, db: AsyncSession, queue_id: int, to: str, subject: str, text: str
    ) -> int | None:
        account = await db.scalar(
            select(EmailAccount)
            .where(
                EmailAccount.queue_id == queue_id,
                EmailAccount.is_active.is_(True),
                EmailAccount.smtp_host != "",
            )
            .order_by(EmailAccount.id)
            .limit(1)
        )
        if account is None:
            return None
        draft = Draft(
            account_id=account.id,
            case_id=None,
            interaction_id=None,
            author_user_id=None,
            mode=SendMode.NEW,
            to=(to,),
            subject=subject,
            text=text,
        )
        return (await self._outbox().add(db, draft, automatic=True)).id

    async def deliver(self, message_id: int) -> None:
        await self._outbox().deliver(message_id)

    def _outbox(self) -> Outbox:
        runtime = self._runtime
        return Outbox(runtime.database, runtime.settings, clock=runtime.clock, bus=runtime.bus)
