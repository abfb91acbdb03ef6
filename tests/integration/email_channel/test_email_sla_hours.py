"""A case opened by mail in a queue with business hours is due by its SLA counted in
those hours (the queue's schedule, holidays included), not in calendar time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from parley.platform.models import Case, EmailAccount, Queue, Schedule
from tests.integration.email_channel.test_email_ingest import World, mail, world

__all__ = ["world"]  # the fixture, used by name

EVERY_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def test_a_case_opened_by_mail_on_a_holiday_is_due_after_it(world: World) -> None:
    today = datetime.now(UTC).date()
    # Closed from yesterday to tomorrow, so the mail surely arrives on a closed day.
    holidays = {today + timedelta(days=offset) for offset in (-1, 0, 1)}
    async with world.database.transaction() as db:
        schedule = Schedule(
            name="Open but on holidays",
            time_zone="UTC",
            hours=EVERY_DAY,
            holidays=[{"date": day.isoformat(), "name": "Closed"} for day in sorted(holidays)],
        )
        db.add(schedule)
        await db.flush()
        account = await db.get_one(EmailAccount, world.account_id)
        queue = await db.get_one(Queue, account.queue_id)
        queue.sla_threshold_seconds = 4 * 3600
        queue.schedule_id = schedule.id
    raw, _ = mail("Written on a holiday")
    await world.dovecot.append("alice", raw)
    await world.ingest().ingest_once(world.account_id)
    async with world.database.transaction() as db:
        case = await db.scalar(select(Case))
    assert case is not None and case.sla_due_at is not None
    reopens = _first_open_day(case.created_at.astimezone(UTC).date(), holidays)
    assert case.sla_due_at.astimezone(UTC) == datetime.combine(reopens, time(4, 0), tzinfo=UTC)


def _first_open_day(day: date, holidays: set[date]) -> date:
    while day in holidays:
        day += timedelta(days=1)
    return day
