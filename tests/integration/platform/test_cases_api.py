"""Cases over HTTP on SQLite and PostgreSQL: the timeline of every channel, status rules,
SLA due times, filters, notes, merges, who sees what, and the audit and bus trail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from parley.platform.bus import Event
from parley.platform.models import (
    AgentSkill,
    Case,
    Channel,
    Contact,
    Direction,
    Disposition,
    Interaction,
    InteractionState,
    Message,
    MessageKind,
    Queue,
    QueueSkill,
    Role,
    Skill,
)
from tests.conftest import Api, audit_rows

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Desk:
    """Two queues (Billing needs the skill `billing`, Sales `sales`), an agent who has
    only `billing`, a supervisor, and their clients."""

    api: Api
    agent: httpx.AsyncClient
    agent_id: int
    supervisor: httpx.AsyncClient
    billing_id: int
    sales_id: int

    async def add(self, *rows: Any) -> None:
        async with self.api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            db.add_all(rows)

    async def one(self, model: type[Any], row_id: int) -> Any:
        async with self.api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            return await db.get_one(model, row_id)


async def me(client: httpx.AsyncClient) -> int:
    user_id: int = (await client.get("/api/auth/me")).json()["id"]
    return user_id


@asynccontextmanager
async def desk_for(api: Api) -> AsyncIterator[Desk]:
    agent = await api.token_for(Role.AGENT)
    supervisor = await api.token_for(Role.SUPERVISOR)
    agent_id = await me(agent)
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        billing_skill, sales_skill = Skill(name="billing"), Skill(name="sales")
        billing = Queue(name="Billing", channels=["email", "voice"], sla_threshold_seconds=4 * 3600)
        sales = Queue(name="Sales", channels=["chat"], sla_threshold_seconds=3600)
        db.add_all([billing_skill, sales_skill, billing, sales])
        await db.flush()
        db.add_all(
            [
                QueueSkill(queue_id=billing.id, skill_id=billing_skill.id, min_level=3),
                QueueSkill(queue_id=sales.id, skill_id=sales_skill.id, min_level=1),
                AgentSkill(user_id=agent_id, skill_id=billing_skill.id, level=5),
            ]
        )
        billing_id, sales_id = billing.id, sales.id
    try:
        yield Desk(api, agent, agent_id, supervisor, billing_id, sales_id)
    finally:
        await agent.aclose()
        await supervisor.aclose()


async def create_case(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/cases", json={"subject": "Refund", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def patch(client: httpx.AsyncClient, case_id: int, **body: Any) -> httpx.Response:
    return await client.patch(f"/api/cases/{case_id}", json=body)


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def test_the_timeline_shows_every_channel_in_time_order_with_dispositions_and_notes(
    api: Api,
) -> None:
    async with desk_for(api) as desk:
        case = await create_case(desk.supervisor, queue_id=desk.billing_id)
        case_id = case["id"]
        async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            disposition = Disposition(code="refunded", name="Refund issued")
            contact = Contact(name="Ivan Petrov")
            db.add_all([disposition, contact])
            await db.flush()
            call, chat, mail, callback = (
                Interaction(
                    channel=channel,
                    direction=Direction.INBOUND,
                    state=InteractionState.ENDED,
                    queue_id=desk.billing_id,
                    agent_id=desk.agent_id,
                    contact_id=contact.id,
                    case_id=case_id,
                    created_at=T0 + timedelta(minutes=minutes),
                )
                for channel, minutes in (
                    (Channel.VOICE, 30),
                    (Channel.CHAT, 10),
                    (Channel.EMAIL, 0),
                    (Channel.CALLBACK, 50),
                )
            )
            call.disposition_id = disposition.id
            call.wrap_up_notes = "Refund promised within 3 days"
            db.add_all([call, chat, mail, callback])
            await db.flush()
            db.add_all(
                [
                    Message(
                        kind=MessageKind.EMAIL,
                        direction=Direction.INBOUND,
                        interaction_id=mail.id,
                        case_id=case_id,
                        subject="Refund",
                        body_text="Where is my money?",
                        created_at=T0,
                    ),
                    Message(
                        kind=MessageKind.CHAT,
                        direction=Direction.OUTBOUND,
                        interaction_id=chat.id,
                        case_id=case_id,
                        body_text="Checking now",
                        created_at=T0 + timedelta(minutes=12),
                    ),
                    Message(
                        kind=MessageKind.CHAT,
                        direction=Direction.INBOUND,
                        interaction_id=chat.id,
                        case_id=case_id,
                        body_text="Thanks",
                        created_at=T0 + timedelta(minutes=11),
                    ),
                ]
            )
        note = await desk.agent.post(f"/api/cases/{case_id}/notes", json={"body": "Call back"})
        assert note.status_code == 201, note.text
        assert note.json()["kind"] == "note" and note.json()["author_user_id"] == desk.agent_id
        on_call = await desk.agent.post(
            f"/api/cases/{case_id}/notes", json={"body": "Angry", "interaction_id": call.id}
        )
        assert on_call.status_code == 201, on_call.text

        detail = (await desk.agent.get(f"/api/cases/{case_id}")).json()

    kinds = [
        item["interaction"]["channel"] if item["kind"] == "interaction" else "note"
        for item in detail["timeline"]
    ]
    assert kinds == ["email", "chat", "voice", "callback", "note"]  # the note was added now
    email, chat_item, voice = (item["interaction"] for item in detail["timeline"][:3])
    assert [m["body_text"] for m in email["messages"]] == ["Where is my money?"]
    assert [m["body_text"] for m in chat_item["messages"]] == ["Thanks", "Checking now"]
    assert voice["disposition_code"] == "refunded"
    assert voice["disposition_name"] == "Refund issued"
    assert voice["wrap_up_notes"] == "Refund promised within 3 days"
    assert [(m["kind"], m["body_text"]) for m in voice["messages"]] == [("note", "Angry")]
    assert voice["agent_name"] == "Test agent" and voice["queue_name"] == "Billing"
    loose = detail["timeline"][-1]["message"]
    assert loose["author_name"] == "Test agent" and loose["direction"] == "internal"


async def test_a_note_on_an_interaction_of_another_case_is_refused(api: Api) -> None:
    async with desk_for(api) as desk:
        first = await create_case(desk.supervisor)
        second = await create_case(desk.supervisor)
        elsewhere = Interaction(
            channel=Channel.VOICE, direction=Direction.INBOUND, case_id=second["id"]
        )
        await desk.add(elsewhere)
        response = await desk.supervisor.post(
            f"/api/cases/{first['id']}/notes", json={"body": "x", "interaction_id": elsewhere.id}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["fields"][0]["field"] == "interaction_id"


async def test_status_changes_follow_help_desk_rules(api: Api) -> None:
    async with desk_for(api) as desk:
        case = await create_case(desk.agent, queue_id=desk.billing_id)
        case_id = case["id"]
        assert case["status"] == "new" and case["closed_at"] is None

        resolved = await patch(desk.agent, case_id, status="resolved")
        assert resolved.status_code == 200, resolved.text
        closed_at = resolved.json()["closed_at"]
        assert closed_at is not None
        closed = (await patch(desk.agent, case_id, status="closed")).json()
        assert closed["status"] == "closed" and closed["closed_at"] == closed_at

        for refused in ("pending", "resolved", "new"):
            response = await patch(desk.agent, case_id, status=refused)
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "invalid_status_change"
        reopened = (await patch(desk.agent, case_id, status="open")).json()
        assert reopened["status"] == "open" and reopened["closed_at"] is None
        back_to_new = await patch(desk.agent, case_id, status="new")
        assert back_to_new.status_code == 409

        bad = await patch(desk.agent, case_id, status=None)
        assert bad.status_code == 422
        assert (await patch(desk.agent, case_id, assignee_id=99999)).status_code == 422

        updates = [row for row in await audit_rows(api, "case") if row.action == "update"]
        assert [row.changes["status"]["new"] for row in updates] == [
            "resolved",
            "closed",
            "open",
        ]
        assert updates[0].changes["closed_at"]["old"] is None


async def test_sla_due_time_comes_from_the_queue_threshold_and_priority(api: Api) -> None:
    async with desk_for(api) as desk:
        case = await create_case(desk.supervisor, queue_id=desk.billing_id)
        created = parse(case["created_at"])
        assert parse(case["sla_due_at"]) - created == timedelta(hours=4)

        urgent = (await patch(desk.supervisor, case["id"], priority="urgent")).json()
        assert parse(urgent["sla_due_at"]) - created == timedelta(hours=1)
        in_sales = (await patch(desk.supervisor, case["id"], queue_id=desk.sales_id)).json()
        assert parse(in_sales["sla_due_at"]) - created == timedelta(minutes=15)
        low = (await patch(desk.supervisor, case["id"], priority="low")).json()
        assert parse(low["sla_due_at"]) - created == timedelta(hours=2)
        no_queue = (await patch(desk.supervisor, case["id"], queue_id=None)).json()
        assert no_queue["sla_due_at"] is None and no_queue["sla_breached"] is False

        unqueued = await create_case(desk.supervisor, priority="urgent")
        assert unqueued["sla_due_at"] is None


async def test_lists_filter_sort_and_page(api: Api) -> None:
    async with desk_for(api) as desk:
        sup = desk.supervisor
        contact = Contact(name="Olga")
        await desk.add(contact)
        refund = await create_case(
            sup,
            subject="Refund for order 17",
            queue_id=desk.billing_id,
            priority="high",
            tags=["VIP", "refund"],
            contact_id=contact.id,
        )
        invoice = await create_case(
            sup, subject="Invoice copy", queue_id=desk.billing_id, assignee_id=desk.agent_id
        )
        demo = await create_case(sup, subject="Demo request", queue_id=desk.sales_id)
        urgent = await create_case(sup, subject="Site down", priority="urgent", tags=["outage"])
        await patch(sup, invoice["id"], status="pending")
        await desk.add(
            Message(
                kind=MessageKind.EMAIL,
                direction=Direction.INBOUND,
                case_id=demo["id"],
                body_text="Could you show me the Wallboard?",
            )
        )
        async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            overdue = await db.get_one(Case, refund["id"])
            overdue.sla_due_at = datetime.now(UTC) - timedelta(minutes=1)

        async def ids(**params: Any) -> list[int]:
            response = await sup.get("/api/cases", params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids(status="pending") == [invoice["id"]]
        assert set(await ids(status=["new", "pending"])) == {
            refund["id"],
            invoice["id"],
            demo["id"],
            urgent["id"],
        }
        assert set(await ids(queue_id=desk.billing_id)) == {refund["id"], invoice["id"]}
        assert await ids(assignee_id=desk.agent_id) == [invoice["id"]]
        assert invoice["id"] not in await ids(unassigned="true")
        assert await ids(contact_id=contact.id) == [refund["id"]]
        assert await ids(tag="vip") == [refund["id"]]
        assert await ids(tag="outage") == [urgent["id"]]
        assert await ids(priority=["urgent", "high"], sort="-priority") == [
            urgent["id"],
            refund["id"],
        ]
        assert await ids(q="wallboard") == [demo["id"]]  # in a message, any case
        assert await ids(q="ORDER 17") == [refund["id"]]
        assert await ids(q=f"#{invoice['id']}") == [invoice["id"]]
        assert await ids(sla_breached="true") == [refund["id"]]
        assert refund["id"] not in await ids(sla_breached="false")
        assert (await ids(sort="sla_due_at"))[0] == refund["id"]  # the most urgent first

        first = (await sup.get("/api/cases", params={"sort": "id", "limit": 3})).json()
        rest = (await sup.get("/api/cases", params={"sort": "id", "offset": 3})).json()
        assert first["total"] == rest["total"] == 4
        assert [i["id"] for i in first["items"] + rest["items"]] == sorted(
            c["id"] for c in (refund, invoice, demo, urgent)
        )
        listed = (await sup.get("/api/cases", params={"tag": "vip"})).json()["items"][0]
        assert listed["queue_name"] == "Billing" and listed["contact_name"] == "Olga"
        assert listed["tags"] == ["vip", "refund"] and listed["sla_breached"] is True
        assert (await sup.get("/api/cases", params={"sort": "subject"})).status_code == 422


async def test_merging_moves_everything_follows_chains_and_never_loops(api: Api) -> None:
    async with desk_for(api) as desk:
        sup = desk.supervisor
        a, b, c = [await create_case(sup, subject=s) for s in ("A", "B", "C")]
        call = Interaction(channel=Channel.VOICE, direction=Direction.INBOUND, case_id=a["id"])
        await desk.add(call)
        await desk.add(
            Message(
                kind=MessageKind.EMAIL,
                direction=Direction.INBOUND,
                case_id=a["id"],
                body_text="first mail",
                external_id="<a@example.org>",
            ),
            Message(
                kind=MessageKind.CHAT,
                direction=Direction.INBOUND,
                case_id=a["id"],
                interaction_id=call.id,
                body_text="on the call",
            ),
        )
        await sup.post(f"/api/cases/{b['id']}/notes", json={"body": "B's own note"})

        merged = await sup.post(f"/api/cases/{a['id']}/merge", json={"into_case_id": b["id"]})
        assert merged.status_code == 200, merged.text
        assert merged.json()["id"] == b["id"]

        source = (await sup.get(f"/api/cases/{a['id']}")).json()
        assert source["merged_into_id"] == b["id"] and source["status"] == "closed"
        assert source["closed_at"] is not None and source["timeline"] == []
        assert (await sup.get("/api/cases")).json()["total"] == 2  # merged ones are hidden
        assert (await sup.get("/api/cases", params={"include_merged": "true"})).json()["total"] == 3

        target = (await sup.get(f"/api/cases/{b['id']}")).json()
        assert target["merged_case_ids"] == [a["id"]]
        bodies = {
            m["body_text"]
            for item in target["timeline"]
            for m in (item["interaction"]["messages"] if item["interaction"] else [item["message"]])
        }
        assert bodies == {"first mail", "on the call", "B's own note"}
        assert [i["interaction"]["id"] for i in target["timeline"] if i["interaction"]] == [call.id]

        frozen = await patch(sup, a["id"], status="open")
        assert frozen.status_code == 409 and frozen.json()["error"]["code"] == "case_merged"
        note = await sup.post(f"/api/cases/{a['id']}/notes", json={"body": "late"})
        assert note.status_code == 409

        # Into a merged case: followed to the case it went into.
        followed = await sup.post(f"/api/cases/{c['id']}/merge", json={"into_case_id": a["id"]})
        assert followed.status_code == 200, followed.text
        assert followed.json()["id"] == b["id"]
        assert (await desk.one(Case, c["id"])).merged_into_id == b["id"]

        # Back into a case merged into this one: a loop, refused.
        loop = await sup.post(f"/api/cases/{b['id']}/merge", json={"into_case_id": a["id"]})
        assert loop.status_code == 409 and loop.json()["error"]["code"] == "merge_refused"
        itself = await sup.post(f"/api/cases/{b['id']}/merge", json={"into_case_id": b["id"]})
        assert itself.status_code == 409
        missing = await sup.post(f"/api/cases/{b['id']}/merge", json={"into_case_id": 99999})
        assert missing.status_code == 404

        # A case merged into A before A went into B points at B too: one step, always.
        d, e = await create_case(sup, subject="D"), await create_case(sup, subject="E")
        await sup.post(f"/api/cases/{d['id']}/merge", json={"into_case_id": e["id"]})
        await sup.post(f"/api/cases/{e['id']}/merge", json={"into_case_id": b["id"]})
        assert (await desk.one(Case, d["id"])).merged_into_id == b["id"]

        merges = [row for row in await audit_rows(api, "case") if row.action == "merge"]
        assert merges[0].entity_id == str(a["id"])
        assert merges[0].changes["merged_into_id"] == {"old": None, "new": b["id"]}
        assert merges[0].changes["moved"] == {"interactions": 1, "messages": 2}


async def test_agents_see_and_change_only_their_queues_and_their_own_cases(api: Api) -> None:
    async with desk_for(api) as desk:
        sup, agent = desk.supervisor, desk.agent
        billing = await create_case(sup, subject="billing", queue_id=desk.billing_id)
        sales = await create_case(sup, subject="sales", queue_id=desk.sales_id)
        mine = await create_case(sup, subject="mine", queue_id=desk.sales_id)
        await patch(sup, mine["id"], assignee_id=desk.agent_id)
        nobody = await create_case(sup, subject="nobody")

        listed = (await agent.get("/api/cases", params={"sort": "id"})).json()
        assert [item["id"] for item in listed["items"]] == [billing["id"], mine["id"]]
        assert listed["total"] == 2
        assert (await sup.get("/api/cases")).json()["total"] == 4

        for hidden in (sales, nobody):
            assert (await agent.get(f"/api/cases/{hidden['id']}")).status_code == 404
            assert (await patch(agent, hidden["id"], priority="high")).status_code == 404
            note = await agent.post(f"/api/cases/{hidden['id']}/notes", json={"body": "x"})
            assert note.status_code == 404
            into_hidden = await agent.post(
                f"/api/cases/{billing['id']}/merge", json={"into_case_id": hidden["id"]}
            )
            assert into_hidden.status_code == 404
        assert (await agent.get(f"/api/cases/{mine['id']}")).status_code == 200
        assert (await patch(agent, billing["id"], status="open")).status_code == 200

        # Moving a case to a queue the agent is not in takes it out of their sight.
        moved = await patch(agent, billing["id"], queue_id=desk.sales_id)
        assert moved.status_code == 200 and moved.json()["queue_id"] == desk.sales_id
        assert (await agent.get(f"/api/cases/{billing['id']}")).status_code == 404

        # A skill level below the queue's minimum is no membership.
        async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            skill = await db.scalar(select(AgentSkill).where(AgentSkill.user_id == desk.agent_id))
            assert skill is not None
            skill.level = 2
            other = await db.get_one(Case, sales["id"])
            other.queue_id = desk.billing_id
        assert (await agent.get(f"/api/cases/{sales['id']}")).status_code == 404


async def test_every_change_is_announced_on_the_bus_after_commit(api: Api) -> None:
    async with desk_for(api) as desk:
        bus = api.app.state.runtime.bus  # type: ignore[attr-defined]
        async with bus.subscribe("case.*") as events:
            a = await create_case(desk.supervisor, queue_id=desk.billing_id)
            b = await create_case(desk.supervisor)
            await patch(desk.supervisor, a["id"], tags=["x"], custom_fields={"order": 17})
            await patch(desk.supervisor, a["id"], custom_fields={"order": None, "sku": "Z"})
            await patch(desk.supervisor, a["id"])  # nothing changes: nothing announced
            await desk.supervisor.post(f"/api/cases/{a['id']}/notes", json={"body": "n"})
            await desk.supervisor.post(
                f"/api/cases/{a['id']}/merge", json={"into_case_id": b["id"]}
            )
            seen: list[Event] = [await asyncio.wait_for(anext(events), timeout=5) for _ in range(6)]
    assert [event.type for event in seen] == [
        "case.created",
        "case.created",
        "case.updated",
        "case.updated",
        "case.note_added",
        "case.merged",
    ]
    assert seen[2].payload["changes"]["custom_fields"] == {"old": {}, "new": {"order": 17}}
    assert seen[3].payload["changes"]["custom_fields"]["new"] == {"sku": "Z"}
    assert seen[5].payload == {
        "case_id": a["id"],
        "merged_into_id": b["id"],
        "interactions_moved": 0,
        "messages_moved": 1,
    }
