"""The agents' calendar over HTTP: each user's own follow-ups, their listing window,
reminders and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from parley.platform.models import Case, Channel, Direction, FollowUp, Interaction, Role
from tests.conftest import Api, fields

URL = "/api/me/follow-ups"


def at(**delta: float) -> datetime:
    """Now (to the second) shifted by `delta`: the server lists relative to its clock."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(**delta)


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body = {"title": "Call back", "due_at": at(hours=1).isoformat(), **body}
    response = await client.post(URL, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_an_agent_creates_changes_marks_done_and_deletes_a_follow_up(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    me = (await agent.get("/api/auth/me")).json()["id"]
    due = at(hours=2)
    created = await create(agent, title="  Send the offer  ", due_at=due.isoformat())
    assert created["owner_id"] == me
    assert (created["title"], created["notes"]) == ("Send the offer", "")
    assert parsed(created["due_at"]) == due
    assert created["remind_minutes_before"] == 10
    links_and_done = ("contact_id", "case_id", "interaction_id", "done_at")
    assert [created[name] for name in links_and_done] == [None, None, None, None]
    assert await listed(agent) == ["Send the offer"]

    item = f"{URL}/{created['id']}"
    changed = await agent.patch(item, json={"notes": "With the discount", "due_at": None})
    assert fields(changed) == {"due_at": "May not be null; leave it out to keep it."}
    changed = await agent.patch(item, json={"notes": "With the discount"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["notes"], changed.json()["title"]) == (
        "With the discount",
        created["title"],
    )

    done = await agent.post(f"{item}/done")
    assert done.status_code == 200, done.text
    assert done.json()["done_at"] is not None
    assert await listed(agent) == []

    assert (await agent.delete(item)).status_code == 204
    assert await listed(agent, include_done="true") == []
    assert (await agent.delete(item)).status_code == 404
    assert (await agent.post(f"{item}/done")).status_code == 404


async def test_remind_at_is_due_at_less_the_reminder_and_times_come_back_in_utc(
    api: Api,
) -> None:
    agent = await api.token_for(Role.AGENT)
    warsaw = datetime(2031, 3, 4, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    created = await create(agent, due_at=warsaw.isoformat(), remind_minutes_before=45)
    assert created["due_at"] in ("2031-03-04T12:30:00Z", "2031-03-04T12:30:00+00:00")
    assert parsed(created["remind_at"]) == warsaw - timedelta(minutes=45)
    assert parsed(created["remind_at"]).utcoffset() == timedelta(0)

    item = f"{URL}/{created['id']}"
    changed = (await agent.patch(item, json={"remind_minutes_before": 0})).json()
    assert changed["remind_at"] == changed["due_at"]
    moved = (await agent.patch(item, json={"due_at": "2031-03-05T08:00:00Z"})).json()
    assert parsed(moved["remind_at"]) == datetime(2031, 3, 5, 8, 0, tzinfo=UTC)
    assert moved["remind_minutes_before"] == 0

    window = {"start": "2031-03-01T00:00:00Z", "end": "2031-03-31T00:00:00Z"}
    (listed_item,) = (await agent.get(URL, params=window)).json()["items"]
    assert listed_item == moved


async def test_another_users_follow_up_answers_404_whatever_their_role(api: Api) -> None:
    anna = await api.token_for(Role.AGENT)
    bob = await api.token_for(Role.AGENT)
    supervisor = await api.token_for(Role.SUPERVISOR)
    admin = await api.token_for(Role.ADMIN)
    annas = await create(anna, title="Anna's")
    await create(bob, title="Bob's")

    assert await listed(anna) == ["Anna's"]
    assert await listed(bob) == ["Bob's"]
    assert await listed(admin) == []
    item = f"{URL}/{annas['id']}"
    for client in (bob, supervisor, admin):
        for response in (
            await client.patch(item, json={"title": "stolen"}),
            await client.post(f"{item}/done"),
            await client.delete(item),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"] == {
                "code": "not_found",
                "message": f"Follow-up {annas['id']} does not exist.",
            }
    assert (await anna.get(URL)).json()["items"] == [annas]


async def test_fields_are_validated_with_a_message_per_field(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    errors = fields(
        await agent.post(
            URL,
            json={
                "title": "   ",
                "due_at": "2031-03-04T14:30:00",
                "remind_minutes_before": -1,
                "colour": "red",
            },
        )
    )
    assert set(errors) == {"title", "due_at", "remind_minutes_before", "colour"}
    assert "timezone" in errors["due_at"]
    assert "at least 1 character" in errors["title"]
    assert "greater than or equal to 0" in errors["remind_minutes_before"]
    assert "title" in fields(
        await agent.post(URL, json={"title": "x" * 201, "due_at": at().isoformat()})
    )
    assert set(fields(await agent.post(URL, json={}))) == {"title", "due_at"}

    for link in ("contact_id", "case_id", "interaction_id"):
        response = await agent.post(URL, json={"title": "t", "due_at": at().isoformat(), link: 99})
        noun = {"contact_id": "Contact", "case_id": "Case", "interaction_id": "Interaction"}[link]
        assert fields(response) == {link: f"{noun} 99 does not exist."}

    item = f"{URL}/{(await create(agent))['id']}"
    assert set(fields(await agent.patch(item, json={"title": None, "done": None}))) == {
        "title",
        "done",
    }
    assert "due_at" in fields(await agent.patch(item, json={"due_at": "2031-01-01T10:00"}))
    assert fields(await agent.patch(item, json={"case_id": 7})) == {
        "case_id": "Case 7 does not exist."
    }
    assert "query.start" in fields(await agent.get(URL, params={"start": "2031-01-01T10:00"}))
    assert "query.limit" in fields(await agent.get(URL, params={"limit": 0}))


async def test_a_follow_up_links_a_contact_case_and_interaction_until_they_are_deleted(
    api: Api,
) -> None:
    agent = await api.token_for(Role.AGENT)
    admin = await api.token_for(Role.ADMIN)
    contact = await agent.post("/api/contacts", json={"name": "Jan"})
    contact_id = contact.json()["id"]
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        case = Case(subject="Refund", contact_id=contact_id)
        interaction = Interaction(channel=Channel.VOICE, direction=Direction.INBOUND)
        db.add_all([case, interaction])
        await db.flush()
        case_id, interaction_id = case.id, interaction.id

    linked = await create(
        agent, contact_id=contact_id, case_id=case_id, interaction_id=interaction_id
    )
    assert (linked["contact_id"], linked["case_id"], linked["interaction_id"]) == (
        contact_id,
        case_id,
        interaction_id,
    )
    unlinked = await agent.patch(f"{URL}/{linked['id']}", json={"case_id": None})
    assert (unlinked.json()["contact_id"], unlinked.json()["case_id"]) == (contact_id, None)

    assert (await admin.delete(f"/api/contacts/{contact_id}")).status_code == 204
    (kept,) = (await agent.get(URL)).json()["items"]
    assert (kept["id"], kept["contact_id"], kept["interaction_id"]) == (
        linked["id"],
        None,
        interaction_id,
    )


async def test_the_listing_defaults_to_yesterday_and_the_month_ahead_soonest_first(
    api: Api,
) -> None:
    agent = await api.token_for(Role.AGENT)
    for title, delta in (
        ("in a week", {"days": 7}),
        ("two days ago", {"days": -2}),
        ("this morning", {"hours": -3}),
        ("in 29 days", {"days": 29}),
        ("in 31 days", {"days": 31}),
        ("in an hour", {"hours": 1}),
    ):
        await create(agent, title=title, due_at=at(**delta).isoformat())
    response = await agent.get(URL)
    body = response.json()
    assert [item["title"] for item in body["items"]] == [
        "this morning",
        "in an hour",
        "in a week",
        "in 29 days",
    ]
    start, end = parsed(body["start"]), parsed(body["end"])
    assert end - start == timedelta(days=31)
    assert abs(start - (at(days=-1))) < timedelta(minutes=1)
    assert body["has_more"] is False


async def test_the_window_starts_inclusive_ends_exclusive_and_is_bounded(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    base = datetime(2031, 6, 1, 9, 0, tzinfo=UTC)
    for hour in (0, 1, 2, 3):
        await create(agent, title=f"h{hour}", due_at=(base + timedelta(hours=hour)).isoformat())
    start, end = base.isoformat(), (base + timedelta(hours=3)).isoformat()
    assert await listed(agent, start=start, end=end) == ["h0", "h1", "h2"]
    # One bound: 31 days from it, or up to it.
    assert await listed(agent, start=start) == ["h0", "h1", "h2", "h3"]
    assert await listed(agent, end=end) == ["h0", "h1", "h2"]
    assert await listed(agent, start=(base + timedelta(days=31, minutes=1)).isoformat()) == []

    page = (await agent.get(URL, params={"start": start, "limit": 2})).json()
    assert ([item["title"] for item in page["items"]], page["has_more"]) == (["h0", "h1"], True)

    assert fields(await agent.get(URL, params={"start": end, "end": start})) == {
        "query.end": "The end must come after the start."
    }
    too_long = {"start": start, "end": (base + timedelta(days=367)).isoformat()}
    assert fields(await agent.get(URL, params=too_long)) == {
        "query.end": "A window spans at most 366 days."
    }


async def test_done_is_idempotent_and_listed_only_when_asked(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    first = await create(agent, title="first", due_at=at(hours=1).isoformat())
    await create(agent, title="second", due_at=at(hours=2).isoformat())
    item = f"{URL}/{first['id']}"

    done = (await agent.post(f"{item}/done")).json()
    again = await agent.post(f"{item}/done")
    assert again.status_code == 200
    assert again.json() == done
    assert await listed(agent) == ["second"]
    assert await listed(agent, include_done="true") == ["first", "second"]

    reopened = await agent.patch(item, json={"done": False})
    assert reopened.json()["done_at"] is None
    assert await listed(agent) == ["first", "second"]
    closed = await agent.patch(item, json={"done": True})
    assert closed.json()["done_at"] is not None


async def test_deleting_a_user_deletes_their_follow_ups(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    agent_id = await api.create_user(Role.AGENT)
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        follow_up = FollowUp(owner_id=agent_id, title="t", due_at=at(hours=1))
        db.add(follow_up)
        await db.flush()
        follow_up_id = follow_up.id
    assert (await admin.delete(f"/api/users/{agent_id}")).status_code == 204
    async with api.app.state.runtime.database.sessions() as db:  # type: ignore[attr-defined]
        assert await db.get(FollowUp, follow_up_id) is None
