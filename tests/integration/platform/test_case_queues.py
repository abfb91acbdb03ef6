"""The queues the desktop's case filter offers (`GET /api/case-queues`), on SQLite and
PostgreSQL: every active queue for a supervisor, an agent's member queues for them."""

from __future__ import annotations

from parley.platform.models import Queue
from tests.conftest import Api
from tests.integration.platform.test_cases_api import desk_for


async def test_an_agent_is_offered_their_member_queues_and_a_supervisor_all(api: Api) -> None:
    async with desk_for(api) as desk:
        await desk.add(Queue(name="Archive", channels=["email"], is_active=False))
        mine = await desk.agent.get("/api/case-queues")
        assert mine.status_code == 200, mine.text
        assert mine.json() == [{"id": desk.billing_id, "name": "Billing"}]
        every = (await desk.supervisor.get("/api/case-queues")).json()
        assert every == [
            {"id": desk.billing_id, "name": "Billing"},
            {"id": desk.sales_id, "name": "Sales"},
        ]
    assert (await api.client.get("/api/case-queues")).status_code == 401
