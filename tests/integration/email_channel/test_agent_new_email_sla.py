"""A case an agent opens by sending a new email (F-EM-4, F-CS-1) is due by its queue's SLA
like a case the customer opened: the threshold, counted in the queue's business hours
(holidays included) when it has a schedule; a threshold of 0, no due time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from parley.platform.models import Case, EmailAccount, Queue, Schedule
from tests.integration.email_channel import test_email_send as sending
from tests.integration.email_channel.test_email_send import Desk

# The mail servers, the agents and the mailbox of the sending tests.
desk = sending.desk
settings = sending.settings

EVERY_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def _send_new(desk: Desk, subject: str) -> Case:
    response = await desk.agent.post(
        "/api/emails",
        json={
            "account_id": desk.account_id,
            "to": ["Olga <olga@example.org>"],
            "subject": subject,
            "text": "We have news about your order.",
        },
    )
    assert response.status_code == 201, response.text
    await desk.smtp.wait_for(1)
    case: Case = await desk.get(Case, response.json()["case_id"])
    return case


async def _set_sla(desk: Desk, seconds: int, schedule: Schedule | None = None) -> None:
    async with desk.runtime.database.transaction() as db:
        account = await db.get_one(EmailAccount, desk.account_id)
        queue = await db.get_one(Queue, account.queue_id)
        queue.sla_threshold_seconds = seconds
        if schedule is not None:
            db.add(schedule)
            await db.flush()
            queue.schedule_id = schedule.id


async def test_a_new_email_case_is_due_by_the_queue_threshold(desk: Desk) -> None:
    await _set_sla(desk, 2 * 3600)
    case = await _send_new(desk, "Your refund")
    assert case.sla_due_at is not None
    assert case.sla_due_at - case.created_at == timedelta(hours=2)


async def test_a_new_email_case_on_a_holiday_is_due_after_it(desk: Desk) -> None:
    today = datetime.now(UTC).date()
    # Closed from yesterday to tomorrow, so the email surely goes out on a closed day.
    holidays = {today + timedelta(days=offset) for offset in (-1, 0, 1)}
    schedule = Schedule(
        name="Open but on holidays",
        time_zone="UTC",
        hours=EVERY_DAY,
        holidays=[{"date": day.isoformat(), "name": "Closed"} for day in sorted(holidays)],
    )
    await _set_sla(desk, 4 * 3600, schedule)
    case = await _send_new(desk, "Your delivery")
    assert case.sla_due_at is not None
    reopens = _first_open_day(case.created_at.astimezone(UTC).date(), holidays)
    assert case.sla_due_at.astimezone(UTC) == datetime.combine(reopens, time(4, 0), tzinfo=UTC)


async def test_a_new_email_case_in_a_queue_without_sla_has_no_due_time(desk: Desk) -> None:
    await _set_sla(desk, 0)
    case = await _send_new(desk, "Just so you know")
    assert case.sla_due_at is None


def _first_open_day(day: date, holidays: set[date]) -> date:
    while day in holidays:
        day += timedelta(days=1)
    return day
