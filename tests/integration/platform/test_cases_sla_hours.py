"""SLA due times of cases in a queue with business hours, over HTTP on SQLite and
PostgreSQL: only the schedule's open hours count, and a priority or queue change
recomputes the due time from the creation in the new queue's hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from parley.platform.clock import ManualClock
from parley.platform.config import Settings
from parley.platform.models import Queue, Schedule
from tests.conftest import Api
from tests.integration.platform.test_cases_api import create_case, desk_for, parse, patch

# Friday 4 December 2026, 17:00 in Warsaw.
FRIDAY_EVENING = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
OFFICE_HOURS = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.engine_ticks = False
    return settings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(FRIDAY_EVENING)


async def test_only_the_queue_business_hours_count_towards_the_sla(api: Api) -> None:
    async with desk_for(api) as desk:
        async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            office = Schedule(
                name="Warsaw office",
                time_zone="Europe/Warsaw",
                hours=OFFICE_HOURS,
                holidays=[{"date": "2026-12-07", "name": "Closed Monday"}],
            )
            db.add(office)
            await db.flush()
            billing = await db.get_one(Queue, desk.billing_id)  # a 4 h threshold
            billing.schedule_id = office.id

        case = await create_case(desk.supervisor, queue_id=desk.billing_id)
        assert parse(case["created_at"]) == FRIDAY_EVENING
        # 1 h on Friday, Monday is a holiday, 3 h on Tuesday from 09:00 (08:00 UTC).
        assert parse(case["sla_due_at"]) == datetime(2026, 12, 8, 11, 0, tzinfo=UTC)

        urgent = (await patch(desk.supervisor, case["id"], priority="urgent")).json()
        # 1 h: all of it on Friday, running out at closing time.
        assert parse(urgent["sla_due_at"]) == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)

        # Sales has no schedule: calendar time (1 h, urgent: 15 min) from the creation.
        in_sales = (await patch(desk.supervisor, case["id"], queue_id=desk.sales_id)).json()
        assert parse(in_sales["sla_due_at"]) == FRIDAY_EVENING + timedelta(minutes=15)


async def test_a_queue_whose_schedule_is_never_open_makes_nothing_due(api: Api) -> None:
    async with desk_for(api) as desk:
        async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            closed = Schedule(name="Closed for good", time_zone="UTC", hours={})
            db.add(closed)
            await db.flush()
            billing = await db.get_one(Queue, desk.billing_id)
            billing.schedule_id = closed.id

        case = await create_case(desk.supervisor, queue_id=desk.billing_id)
        assert case["sla_due_at"] is None and case["sla_breached"] is False
