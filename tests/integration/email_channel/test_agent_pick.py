"""The email group queue agents pick from (F-EM-4, F-RT-6), through the real engine and
REST API, on SQLite and PostgreSQL, with mail in by Dovecot: a manual-pick queue's email
waits unoffered, its agents list it (sorted, filtered, SLA colour) and take it — one of
two agents taking the same email wins — within their email capacity. Also the engine's
refinements the desk uses: change queue queues the new interaction before the agent's
part ends (a refused enqueue leaves the email where it was), and a pinned case's new
email is routed to the pinning agent first."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from parley.email_channel.agent_service import SlaState, sla_state
from parley.platform.engine import EnqueueRequest
from parley.platform.models import (
    Case,
    CasePriority,
    Channel,
    Direction,
    EmailAccount,
    Interaction,
    InteractionState,
    PickMode,
    Queue,
    Role,
    RoutingStrategy,
    User,
)
from tests.integration.email_channel import test_email_send as sending
from tests.integration.email_channel.test_email_send import Desk, mail

# The mail servers, the agents and the mailbox of the sending tests.
desk = sending.desk
settings = sending.settings


async def _me(client: object) -> int:
    return int((await client.get("/api/auth/me")).json()["id"])  # type: ignore[attr-defined]


async def _manual_pick(desk: Desk) -> int:
    """Make the mailbox's queue a group queue; its id."""
    async with desk.runtime.database.transaction() as db:
        account = await db.get_one(EmailAccount, desk.account_id)
        queue = await db.get_one(Queue, account.queue_id)
        queue.pick_mode = PickMode.MANUAL
        queue_id = queue.id
    await desk.engine.reload_configuration()
    return queue_id


async def _ready(desk: Desk, agent_id: int) -> None:
    await desk.engine.login(agent_id)
    await desk.engine.request_ready(agent_id)


async def _waiting_ids(desk: Desk) -> list[int]:
    async with desk.runtime.database.transaction() as db:
        rows = await db.scalars(
            select(Interaction.id)
            .where(Interaction.state == InteractionState.QUEUED)
            .order_by(Interaction.id)
        )
        return list(rows)


async def _set_case(desk: Desk, interaction_id: int, **values: object) -> None:
    async with desk.runtime.database.transaction() as db:
        interaction = await db.get_one(Interaction, interaction_id)
        await db.execute(update(Case).where(Case.id == interaction.case_id).values(**values))


def test_sla_colour_is_red_past_due_amber_within_the_hour_green_before() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert sla_state(None, now) is None
    assert sla_state(now, now) is SlaState.OVERDUE
    assert sla_state(now - timedelta(seconds=1), now) is SlaState.OVERDUE
    assert sla_state(now + timedelta(minutes=60), now) is SlaState.DUE_SOON
    assert sla_state(now + timedelta(minutes=61), now) is SlaState.ON_TIME


async def test_a_group_queue_email_waits_unoffered_and_is_listed_sorted_and_filtered(
    desk: Desk,
) -> None:
    queue_id = await _manual_pick(desk)
    await desk.receive(mail("Invoice missing", sender="Boris <boris@example.org>")[0])
    await desk.receive(mail("Parcel damaged", sender="Anna <anna@example.org>")[0])
    await desk.receive(mail("Refund please", sender="Carl <carl@example.org>")[0])
    assert desk.engine.ringing_offers(desk.agent_id) == []
    invoice, parcel, refund = await _waiting_ids(desk)
    now = desk.runtime.clock.now()
    await _set_case(desk, invoice, sla_due_at=now + timedelta(hours=5))
    await _set_case(desk, parcel, sla_due_at=now - timedelta(minutes=5), priority="urgent")
    await _set_case(desk, refund, sla_due_at=now + timedelta(minutes=20), priority="high")

    listed = await desk.agent.get("/api/email-group")
    assert listed.status_code == 200, listed.text
    items = listed.json()
    assert [item["interaction_id"] for item in items] == [invoice, parcel, refund]  # by age
    first = items[0]
    assert first["queue_id"] == queue_id and first["queue_name"] == "Mail"
    assert first["subject"] == "Invoice missing"
    assert first["from"] == {"name": "Boris", "address": "boris@example.org"}
    assert [item["sla"] for item in items] == ["on_time", "overdue", "due_soon"]

    async def order(**params: str) -> list[int]:
        response = await desk.agent.get("/api/email-group", params=params)
        assert response.status_code == 200, response.text
        return [item["interaction_id"] for item in response.json()]

    assert await order(sort="sla") == [parcel, refund, invoice]
    assert await order(sort="priority") == [parcel, refund, invoice]
    assert await order(sort="sender") == [parcel, invoice, refund]  # anna, boris, carl
    assert await order(priority="high") == [refund]
    assert await order(q="PARCEL") == [parcel]
    assert await order(q="carl@") == [refund]
    assert await order(queue_id=str(queue_id + 1000)) == []
    bad = await desk.agent.get("/api/email-group", params={"sort": "size"})
    assert bad.status_code == 422
    assert (await desk.agent.get("/api/email-group", params={"priority": "x"})).status_code == 422

    # An agent who does not serve the queue (not logged in) sees nothing; supervisors all.
    assert (await desk.other.get("/api/email-group")).json() == []
    assert len((await desk.supervisor.get("/api/email-group")).json()) == 3
    # An automatic queue's waiting email is the router's, not listed.
    async with desk.runtime.database.transaction() as db:
        await db.execute(update(Queue).where(Queue.id == queue_id).values(pick_mode="auto"))
    assert (await desk.agent.get("/api/email-group")).json() == []


async def test_taking_an_email_puts_it_in_the_agents_hands_and_assigns_the_case(
    desk: Desk,
) -> None:
    await _manual_pick(desk)
    await desk.receive(mail("Take me")[0])
    [waiting] = await _waiting_ids(desk)
    url = f"/api/emails/{waiting}/take"
    assert (await desk.admin.post(url)).status_code == 403
    assert (await desk.agent.post("/api/emails/999999/take")).status_code == 404
    # Not logged in to the engine: refused, the email keeps waiting.
    refused = await desk.other.post(url)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "agent_offline"

    taken = await desk.agent.post(url)
    assert taken.status_code == 204, taken.text
    interaction = await desk.get(Interaction, waiting)
    assert interaction.state is InteractionState.ACTIVE
    assert interaction.agent_id == desk.agent_id
    assert (await desk.get(Case, interaction.case_id)).assignee_id == desk.agent_id
    view = desk.engine.agent(desk.agent_id)
    assert view is not None and view.state.value == "busy"
    thread = (await desk.agent.get(f"/api/emails/{waiting}")).json()
    assert thread["agent_id"] == desk.agent_id
    assert (await desk.agent.get("/api/email-group")).json() == []
    personal = (await desk.agent.get("/api/email-personal")).json()
    assert [item["interaction_id"] for item in personal] == [waiting]
    again = await desk.agent.post(url)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_waiting"


async def test_of_two_agents_taking_the_same_email_one_wins_the_other_gets_409(
    desk: Desk,
) -> None:
    await _manual_pick(desk)
    other_id = await _me(desk.other)
    await _ready(desk, other_id)
    await desk.receive(mail("Both of you want me")[0])
    [waiting] = await _waiting_ids(desk)
    url = f"/api/emails/{waiting}/take"

    first, second = await asyncio.gather(desk.agent.post(url), desk.other.post(url))

    assert sorted([first.status_code, second.status_code]) == [204, 409]
    loser = second if second.status_code == 409 else first
    assert loser.json()["error"]["code"] == "not_waiting"
    winner_id = desk.agent_id if first.status_code == 204 else other_id
    interaction = await desk.get(Interaction, waiting)
    assert interaction.agent_id == winner_id and interaction.state is InteractionState.ACTIVE
    busy = [view.agent_id for view in desk.engine.agents() if any(view.interactions)]
    assert busy == [str(winner_id)]


async def test_taking_respects_the_agents_email_capacity(desk: Desk) -> None:
    await _manual_pick(desk)
    async with desk.runtime.database.transaction() as db:
        user = await db.get_one(User, desk.agent_id)
        user.capacity = {**user.capacity, "email": 1}
    await desk.engine.reload_configuration()
    await desk.receive(mail("First")[0])
    await desk.receive(mail("Second")[0])
    first, second = await _waiting_ids(desk)
    assert (await desk.agent.post(f"/api/emails/{first}/take")).status_code == 204
    full = await desk.agent.post(f"/api/emails/{second}/take")
    assert full.status_code == 409 and full.json()["error"]["code"] == "channel_full"
    assert (await desk.get(Interaction, second)).state is InteractionState.QUEUED


async def test_only_group_queue_email_is_taken(desk: Desk) -> None:
    await desk.engine.logout(desk.agent_id)  # nobody to offer it to: it waits
    await desk.receive(mail("Routed, not picked")[0])
    [waiting] = await _waiting_ids(desk)
    await _ready(desk, desk.agent_id)
    [offer] = desk.engine.ringing_offers(desk.agent_id)
    assert int(offer.task_id) == waiting
    refused = await desk.agent.post(f"/api/emails/{waiting}/take")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_a_group_queue"


# --- change queue: queued first, then the agent's part ends ---------------------------


async def test_change_queue_does_not_hand_the_email_back_to_the_same_agent(desk: Desk) -> None:
    async with desk.runtime.database.transaction() as db:
        billing = Queue(name="Billing", channels=["email"], strategy=RoutingStrategy.LONGEST_IDLE)
        db.add(billing)
        await db.flush()
        billing_id = billing.id
    await desk.engine.reload_configuration()
    await desk.receive(mail("Move me")[0])
    interaction_id = await desk.take()

    moved = await desk.agent.post(
        f"/api/emails/{interaction_id}/queue", json={"queue_id": billing_id}
    )
    assert moved.status_code == 201, moved.text
    new_id = moved.json()["interaction_id"]
    # The agent is free again (the wrap-up is 30 s here, so not yet) but excluded for
    # the queue's decliner cooldown: the router keeps the email waiting for others.
    assert desk.engine.ringing_offers(desk.agent_id) == []
    await desk.engine.wrap_up_done(desk.agent_id)
    assert desk.engine.ringing_offers(desk.agent_id) == []
    new = await desk.get(Interaction, new_id)
    assert new.state is InteractionState.QUEUED
    # Not held for them as the agent who served the customer last (sticky) either.
    assert "preferred_agent_id" not in new.attributes
    # Another agent of the queue gets it.
    other_id = await _me(desk.other)
    await _ready(desk, other_id)
    [offer] = desk.engine.ringing_offers(other_id)
    assert int(offer.task_id) == new_id


async def test_a_refused_enqueue_leaves_the_email_where_it_was(desk: Desk) -> None:
    async with desk.runtime.database.transaction() as db:
        # Stored, but the engine has not loaded it yet: its enqueue is refused.
        fresh = Queue(name="Fresh", channels=["email"], strategy=RoutingStrategy.LONGEST_IDLE)
        db.add(fresh)
        await db.flush()
        fresh_id = fresh.id
    await desk.receive(mail("Stay with me")[0])
    interaction_id = await desk.take()

    refused = await desk.agent.post(
        f"/api/emails/{interaction_id}/queue", json={"queue_id": fresh_id}
    )
    assert refused.status_code == 404
    interaction = await desk.get(Interaction, interaction_id)
    assert interaction.state is InteractionState.ACTIVE
    assert interaction.agent_id == desk.agent_id
    assert "moved_to" not in interaction.attributes
    view = desk.engine.agent(desk.agent_id)
    assert view is not None and [i.interaction_id for i in view.interactions] == [
        str(interaction_id)
    ]
    async with desk.runtime.database.transaction() as db:
        count = await db.scalar(select(Interaction.id).where(Interaction.queue_id == fresh_id))
    assert count is None


async def test_enqueue_excludes_the_agents_named_for_the_decliner_cooldown(desk: Desk) -> None:
    async with desk.runtime.database.transaction() as db:
        account = await db.get_one(EmailAccount, desk.account_id)
        queue_id = account.queue_id
    excluded = await desk.engine.enqueue(
        EnqueueRequest(
            channel=Channel.EMAIL,
            queue_id=queue_id,
            excluded_agent_ids=frozenset({desk.agent_id}),
        )
    )
    assert desk.engine.ringing_offers(desk.agent_id) == []
    assert (await desk.get(Interaction, excluded)).state is InteractionState.QUEUED
    plain = await desk.engine.enqueue(EnqueueRequest(channel=Channel.EMAIL, queue_id=queue_id))
    [offer] = desk.engine.ringing_offers(desk.agent_id)
    assert int(offer.task_id) == plain


# --- a pinned case's new email goes to the pinning agent first -------------------------


async def test_a_pinned_cases_new_email_is_routed_to_the_pinning_agent(desk: Desk) -> None:
    other_id = await _me(desk.other)
    raw, customer_message_id = mail("Keep me with you")
    await desk.receive(raw)
    first = await desk.take()
    assert (await desk.agent.put(f"/api/emails/{first}/pin", json={})).status_code == 204
    closed = await desk.agent.post(f"/api/emails/{first}/close", json={"resolve_case": False})
    assert closed.status_code == 204, closed.text
    await desk.engine.wrap_up_done(desk.agent_id)
    async with desk.runtime.database.transaction() as db:
        # The colleague served the customer since: the sticky rule alone picks them.
        case = await db.get_one(Case, (await db.get_one(Interaction, first)).case_id)
        case_id = case.id
        db.add(
            Interaction(
                channel=Channel.CHAT,
                direction=Direction.INBOUND,
                state=InteractionState.ENDED,
                contact_id=case.contact_id,
                agent_id=other_id,
                answered_at=desk.runtime.clock.now() + timedelta(seconds=1),
                priority=0,
            )
        )
    await _ready(desk, other_id)

    await desk.receive(mail("One more thing", in_reply_to=customer_message_id)[0])

    assert desk.engine.ringing_offers(other_id) == []
    [offer] = desk.engine.ringing_offers(desk.agent_id)
    interaction = await desk.get(Interaction, int(offer.task_id))
    assert interaction.case_id == case_id
    assert interaction.attributes["preferred_agent_id"] == desk.agent_id


async def test_a_supervisor_sees_priority_in_the_group_queue(desk: Desk) -> None:
    await _manual_pick(desk)
    await desk.receive(mail("Normal one")[0])
    [waiting] = await _waiting_ids(desk)
    [item] = (await desk.supervisor.get("/api/email-group")).json()
    assert item["interaction_id"] == waiting
    assert item["priority"] == CasePriority.NORMAL.value
    spare = await desk.api.token_for(Role.AGENT)
    assert (await spare.get("/api/email-group")).json() == []
    await spare.aclose()
