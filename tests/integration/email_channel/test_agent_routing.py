"""Moving email between queues and agents from the desktop's REST API, through the real
router (the engine), on SQLite and PostgreSQL, with mail in by Dovecot: change queue,
transfer to a colleague, pin to oneself (F-EM-4, F-RT-6), and who may do each."""

from __future__ import annotations

from sqlalchemy import select

from parley.platform.models import (
    Case,
    CaseStatus,
    Interaction,
    InteractionState,
    Queue,
    Role,
    RoutingStrategy,
)
from tests.integration.email_channel import test_email_send as sending
from tests.integration.email_channel.test_email_send import Desk, mail

# The mail servers, the agents and the mailbox of the sending tests.
desk = sending.desk
settings = sending.settings


async def _queue(desk: Desk, name: str, channels: list[str]) -> int:
    async with desk.runtime.database.transaction() as db:
        queue = Queue(name=name, channels=channels, strategy=RoutingStrategy.LONGEST_IDLE)
        db.add(queue)
        await db.flush()
        queue_id = queue.id
    await desk.engine.reload_configuration()
    return queue_id


async def _ready(desk: Desk, client_id: int) -> None:
    await desk.engine.login(client_id)
    await desk.engine.request_ready(client_id)


async def _me(client: object) -> int:
    return int((await client.get("/api/auth/me")).json()["id"])  # type: ignore[attr-defined]


async def test_change_queue_routes_the_email_again_in_the_new_queue(desk: Desk) -> None:
    billing = await _queue(desk, "Billing mail", ["email"])
    voice_only = await _queue(desk, "Hotline", ["voice"])
    await desk.receive(mail("Wrong department")[0])
    interaction_id = await desk.take()
    before = await desk.get(Interaction, interaction_id)

    listed = (await desk.agent.get("/api/email-queues")).json()
    assert {"id": billing, "name": "Billing mail"} in listed
    assert voice_only not in {queue["id"] for queue in listed}

    url = f"/api/emails/{interaction_id}/queue"
    assert (await desk.other.post(url, json={"queue_id": billing})).status_code == 403
    refused = await desk.agent.post(url, json={"queue_id": voice_only})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_an_email_queue"
    assert (await desk.agent.post(url, json={"queue_id": 999_999})).status_code == 404
    assert (await desk.agent.post(url, json={"queue": billing})).status_code == 422

    moved = await desk.agent.post(url, json={"queue_id": billing})
    assert moved.status_code == 201, moved.text
    new_id = moved.json()["interaction_id"]

    old = await desk.get(Interaction, interaction_id)
    assert old.state in (InteractionState.WRAP_UP, InteractionState.ENDED)
    assert old.attributes["moved_to"] == new_id
    new = await desk.get(Interaction, new_id)
    assert new.queue_id == billing and new.state is InteractionState.QUEUED
    assert new.case_id == before.case_id and new.contact_id == before.contact_id
    assert new.attributes["moved_from"] == interaction_id
    assert (await desk.get(Case, before.case_id)).queue_id == billing
    # The thread is the case's: the next agent reads it all.
    supervisor_view = (await desk.supervisor.get(f"/api/emails/{new_id}")).json()
    assert [m["subject"] for m in supervisor_view["messages"]] == ["Wrong department"]
    # It has ended for this agent: moving it again is refused.
    again = await desk.agent.post(url, json={"queue_id": billing})
    assert again.status_code == 409


async def test_transfer_holds_the_email_for_the_colleague_named(desk: Desk) -> None:
    spare = await desk.api.token_for(Role.AGENT)
    spare_id, other_id = await _me(spare), await _me(desk.other)
    await _ready(desk, spare_id)  # idle longest: would get it without the transfer
    await _ready(desk, other_id)
    await desk.receive(mail("Please pass me on")[0])
    interaction_id = await desk.take()
    case_id = (await desk.get(Interaction, interaction_id)).case_id

    url = f"/api/emails/{interaction_id}/transfer"
    assert (await spare.post(url, json={"agent_id": other_id})).status_code == 403
    admin_id = await _me(desk.admin)
    not_agent = await desk.agent.post(url, json={"agent_id": admin_id})
    assert not_agent.status_code == 422 and not_agent.json()["error"]["code"] == "not_an_agent"
    itself = await desk.agent.post(url, json={"agent_id": desk.agent_id})
    assert itself.status_code == 409

    moved = await desk.agent.post(url, json={"agent_id": other_id})
    assert moved.status_code == 201, moved.text
    new_id = moved.json()["interaction_id"]
    [offer] = desk.engine.ringing_offers(other_id)
    assert int(offer.task_id) == new_id
    assert desk.engine.ringing_offers(spare_id) == []
    assert await desk.engine.accept(other_id, offer.offer_id) == new_id
    thread = (await desk.other.get(f"/api/emails/{new_id}")).json()
    assert thread["case_id"] == case_id and thread["agent_id"] == other_id
    assert (await desk.get(Case, case_id)).assignee_id == other_id
    # The first agent no longer reads the new interaction.
    assert (await desk.agent.get(f"/api/emails/{new_id}")).status_code == 403
    await spare.aclose()


async def test_a_supervisor_moves_a_waiting_email(desk: Desk) -> None:
    billing = await _queue(desk, "Billing mail", ["email"])
    await desk.engine.logout(desk.agent_id)
    await desk.receive(mail("Nobody is here")[0])
    async with desk.runtime.database.transaction() as db:
        waiting = await db.scalar(select(Interaction).order_by(Interaction.id.desc()).limit(1))
        assert waiting is not None and waiting.state is InteractionState.QUEUED
        waiting_id = waiting.id
    url = f"/api/emails/{waiting_id}/queue"
    assert (await desk.agent.post(url, json={"queue_id": billing})).status_code == 403
    moved = await desk.supervisor.post(url, json={"queue_id": billing})
    assert moved.status_code == 201, moved.text
    assert (await desk.get(Interaction, waiting_id)).state is InteractionState.ABANDONED
    new = await desk.get(Interaction, moved.json()["interaction_id"])
    assert new.queue_id == billing and new.state is InteractionState.QUEUED


async def test_a_pinned_email_stays_in_the_personal_queue_until_resolved(desk: Desk) -> None:
    await desk.receive(mail("Keep this one with me")[0])
    interaction_id = await desk.take()
    url = f"/api/emails/{interaction_id}/pin"
    personal = (await desk.agent.get("/api/email-personal")).json()
    assert [(p["interaction_id"], p["is_pinned"]) for p in personal] == [(interaction_id, False)]

    assert (await desk.other.put(url, json={})).status_code == 403
    other_id = await _me(desk.other)
    assert (await desk.agent.put(url, json={"agent_id": other_id})).status_code == 403
    assert (await desk.agent.put(url, json={})).status_code == 204
    thread = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()
    assert thread["pinned_agent_id"] == desk.agent_id

    # Closed without a reply but the case kept open: still in the personal queue.
    closed = await desk.agent.post(
        f"/api/emails/{interaction_id}/close", json={"resolve_case": False}
    )
    assert closed.status_code == 204, closed.text
    personal = (await desk.agent.get("/api/email-personal")).json()
    assert [(p["interaction_id"], p["is_pinned"]) for p in personal] == [(interaction_id, True)]
    assert personal[0]["subject"] == "Keep this one with me"
    assert (await desk.other.get("/api/email-personal")).json() == []
    # An ended email cannot be pinned again, only unpinned.
    assert (await desk.agent.put(url, json={})).status_code == 409

    case_id = personal[0]["case_id"]
    async with desk.runtime.database.transaction() as db:
        (await db.get_one(Case, case_id)).status = CaseStatus.RESOLVED
    assert (await desk.agent.get("/api/email-personal")).json() == []
    async with desk.runtime.database.transaction() as db:
        (await db.get_one(Case, case_id)).status = CaseStatus.OPEN
    assert len((await desk.agent.get("/api/email-personal")).json()) == 1
    assert (await desk.other.delete(url)).status_code == 403
    assert (await desk.agent.delete(url)).status_code == 204
    assert (await desk.agent.get("/api/email-personal")).json() == []
    assert (await desk.get(Interaction, interaction_id)).pinned_agent_id is None


async def test_a_supervisor_pins_an_email_to_an_agent(desk: Desk) -> None:
    await desk.receive(mail("For the personal manager")[0])
    interaction_id = await desk.take()
    other_id = await _me(desk.other)
    url = f"/api/emails/{interaction_id}/pin"
    nobody = await desk.supervisor.put(url, json={"agent_id": 999_999})
    assert nobody.status_code == 422 and nobody.json()["error"]["code"] == "not_an_agent"
    pinned = await desk.supervisor.put(
        f"/api/emails/{interaction_id}/pin", json={"agent_id": other_id}
    )
    assert pinned.status_code == 204, pinned.text
    assert (await desk.get(Interaction, interaction_id)).pinned_agent_id == other_id
    [item] = (await desk.other.get("/api/email-personal")).json()
    assert item["is_pinned"] and item["case_id"] is not None
