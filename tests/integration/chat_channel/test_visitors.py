"""Visitor tracking, the live visitor list and invitations (F-CH-5, F-CH-3) through a
real server, on SQLite and PostgreSQL, without a GeoIP database (city and country stay
blank): what `hello` and `page_view` record, the `page_view` limit, the list and its
events for the queue's agents only, comments, scenarios firing and "No, thanks", and
manual invitations with their 10 s rule. The GeoIP path is in test_visitors_geo.py."""

from __future__ import annotations

import json
from typing import Any

import websockets
from sqlalchemy import func, select

from parley.platform.auth.passwords import hash_password
from parley.platform.models import (
    ChatInvitationScenario,
    ChatVisitor,
    ChatWidget,
    Interaction,
    Role,
    User,
)
from tests.conftest import PASSWORD, Api, fields
from tests.integration.chat_channel import test_visitor_socket
from tests.integration.chat_channel.test_visitor_socket import (
    PAGE,
    SITE,
    Live,
    _frames,
    _next,
    _say,
)

live = test_visitor_socket.live

CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _visitor(live: Live) -> Any:
    url = f"{live.base_url.replace('http', 'ws')}/ws/visitor?widget={live.widget_key}"
    return websockets.connect(
        url, additional_headers={"Origin": SITE}, user_agent_header=CHROME_ON_WINDOWS
    )


async def _hello(ws: Any, **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "hello", "page": PAGE, **fields}))
    return await _next(ws, "welcome")


async def _desk(
    live: Live, username: str, *, skilled: bool = True, role: Role = Role.AGENT
) -> tuple[Any, Any]:
    """A logged-in desktop of a new user: with the queue's skill, or without it."""
    if skilled:
        await live.add_user(username, role)
    else:
        async with live.app.state.runtime.database.transaction() as db:
            db.add(
                User(
                    username=username,
                    display_name=username.title(),
                    password_hash=hash_password(PASSWORD),
                    role=role,
                )
            )
    client = await live.login(username)
    desk = await live.agent_socket(client).__aenter__()
    await _next(desk, "snapshot")
    return client, desk


async def _visitor_event(desk: Any, **expected: Any) -> dict[str, Any]:
    """The next `chat.visitor` frame whose fields have the expected values."""
    while True:
        frame = await _next(desk, "chat.visitor")
        if all(frame.get(key) == value for key, value in expected.items()):
            return frame


async def _row(live: Live, visitor_key: str) -> ChatVisitor:
    return await live.scalar(select(ChatVisitor).where(ChatVisitor.visitor_key == visitor_key))


async def _widget_id(live: Live) -> int:
    return await live.scalar(select(ChatWidget.id).where(ChatWidget.public_key == live.widget_key))


async def test_a_visit_is_tracked_page_by_page_with_browser_and_os(live: Live) -> None:
    client, desk = await _desk(live, "anna")
    async with _visitor(live) as ws:
        welcome = await _hello(
            ws,
            referrer="https://search.example/?q=kettle",
            screen={"width": 1920, "height": 1080},
            language="pl-PL",
        )
        key = welcome["visitor_id"]
        first = await _visitor_event(desk, page_url=PAGE["url"])
        assert (first["browser"], first["os"]) == ("Chrome 131", "Windows 10")
        assert (first["city"], first["country"]) == ("", "")  # no GeoIP database: blank
        assert first["status"] == "browsing" and first["is_online"] is True
        cart = {"url": f"{SITE}/cart", "title": "Cart"}
        await ws.send(json.dumps({"type": "page_view", "page": cart}))
        await _visitor_event(desk, page_url=cart["url"])
        retitled = {"url": cart["url"], "title": "Cart (2)"}
        await ws.send(json.dumps({"type": "page_view", "page": retitled}))
        seen = await _visitor_event(desk, page_title="Cart (2)")
    assert seen["page_views"] == 2  # a new title on the same page is not another view
    assert [page["url"] for page in seen["pages"]] == [PAGE["url"], cart["url"]]
    row = await _row(live, key)
    assert (row.referrer, row.screen, row.language) == (
        "https://search.example/?q=kettle",
        "1920x1080",
        "pl-PL",
    )
    assert row.visit_count == 1 and row.page_started_at >= row.visit_started_at
    left = await _visitor_event(desk, id=row.id, is_online=False)
    assert left["left_at"] is not None
    await desk.close()
    await client.aclose()


async def test_page_views_are_limited_per_socket_and_bad_ones_refused(live: Live) -> None:
    async with _visitor(live) as ws:
        key = (await _hello(ws))["visitor_id"]
        await ws.send(json.dumps({"type": "page_view", "page": {"url": ""}}))
        refused = await _next(ws, "error")
        assert (
            refused["code"] == "bad_frame" and refused["fields"][0]["field"] == "page_view.page.url"
        )
        for number in range(6):
            page = {"url": f"{SITE}/p/{number}", "title": str(number)}
            await ws.send(json.dumps({"type": "page_view", "page": page}))
        limited = await _next(ws, "error")
        assert limited["code"] == "rate_limited"
        await ws.send(json.dumps({"type": "heartbeat"}))  # the socket stays open
        assert await _frames(ws) == []
    row = await _row(live, key)
    assert row.page_views == 1 + 5 and row.page_url == f"{SITE}/p/4"


async def test_the_list_shows_the_queues_visitors_to_its_agents_and_supervisors(
    live: Live,
) -> None:
    anna, anna_desk = await _desk(live, "anna")
    other, other_desk = await _desk(live, "olga", skilled=False)
    boss, boss_desk = await _desk(live, "sam", skilled=False, role=Role.SUPERVISOR)
    async with _visitor(live) as ws:
        await _hello(ws)
        row = await _visitor_event(anna_desk, page_url=PAGE["url"])
        await _visitor_event(boss_desk, id=row["id"])
        listed = (await anna.get("/api/chat-visitors")).json()
        assert [(item["id"], item["page_title"]) for item in listed] == [(row["id"], "Order 1234")]
        assert (await anna.get("/api/chat-visitors?status=waiting")).json() == []
        assert len((await boss.get("/api/chat-visitors?status=browsing")).json()) == 1
        assert (await other.get("/api/chat-visitors")).json() == []  # not of this queue
        assert (await other.get(f"/api/chat-visitors/{row['id']}/comments")).status_code == 403
        bad = await anna.get("/api/chat-visitors?status=chatting")
        assert bad.status_code == 422
        await anna_desk.send(json.dumps({"type": "state.ready"}))
        await _say(ws, "Hello?")
        waiting = await _visitor_event(anna_desk, id=row["id"], status="waiting")
        assert waiting["interaction_id"] is not None
        assert [
            item["id"] for item in (await anna.get("/api/chat-visitors?status=waiting")).json()
        ] == [row["id"]]
    assert [frame for frame in await _frames(other_desk) if frame["type"] == "chat.visitor"] == []
    for client, desk in ((anna, anna_desk), (other, other_desk), (boss, boss_desk)):
        await desk.close()
        await client.aclose()


async def test_an_answered_chat_shows_as_answered(live: Live) -> None:
    anna, desk = await _desk(live, "anna")
    await desk.send(json.dumps({"type": "state.ready"}))
    await _next(desk, "agent.state_changed")
    async with _visitor(live) as ws:
        await _hello(ws)
        await _say(ws, "Hello, my invoice is wrong")
        offer = await _next(desk, "offer.created")
        await desk.send(
            json.dumps({"type": "offer.accept", "id": "1", "offer_id": offer["offer_id"]})
        )
        answered = await _visitor_event(desk, status="answered")
        assert answered["interaction_id"] == offer["interaction_id"]
    await desk.close()
    await anna.aclose()


async def test_agents_comment_on_a_visitor(live: Live) -> None:
    anna, desk = await _desk(live, "anna")
    async with _visitor(live) as ws:
        await _hello(ws)
        visitor_id = (await _visitor_event(desk, page_url=PAGE["url"]))["id"]
        posted = await anna.post(
            f"/api/chat-visitors/{visitor_id}/comments", json={"text": " Asked about kettles "}
        )
        assert posted.status_code == 201, posted.text
        assert posted.json()["text"] == "Asked about kettles"
        assert set(
            fields(
                await anna.post(f"/api/chat-visitors/{visitor_id}/comments", json={"text": "  "})
            )
        ) == {"text"}
        assert (
            await anna.post("/api/chat-visitors/999999/comments", json={"text": "x"})
        ).status_code == 404
        comments = (await anna.get(f"/api/chat-visitors/{visitor_id}/comments")).json()
        assert [(c["text"], c["author_name"]) for c in comments] == [
            ("Asked about kettles", "Anna")
        ]
    await desk.close()
    await anna.aclose()


# --- invitations ------------------------------------------------------------------------


async def _scenario(live: Live, **values: Any) -> None:
    async with live.app.state.runtime.database.transaction() as db:
        db.add(
            ChatInvitationScenario(
                widget_id=await db.scalar(
                    select(ChatWidget.id).where(ChatWidget.public_key == live.widget_key)
                ),
                name=values.pop("name", "Scenario"),
                message=values.pop("message", "Can we help?"),
                **values,
            )
        )


async def test_the_most_specific_scenario_invites_once_and_no_thanks_starts_no_chat(
    live: Live,
) -> None:
    await _scenario(live, name="Anyone", message="Hello there", min_time_on_site_seconds=1)
    await _scenario(
        live,
        name="Orders",
        message="Questions about your order?",
        min_time_on_site_seconds=1,
        url_patterns=["/orders/*"],
    )
    await _scenario(live, name="Elsewhere", message="Never", url_patterns=["/cart"])
    async with _visitor(live) as ws:
        key = (await _hello(ws))["visitor_id"]
        invitation = await _next(ws, "invitation")
        assert invitation == {
            "type": "invitation",
            "text": "Questions about your order?",
            "agent_name": None,
        }
        await ws.send(json.dumps({"type": "decline_invitation"}))
        assert [frame["type"] for frame in await _frames(ws, 1.5)] == []  # once per page
    row = await _row(live, key)
    assert row.invitations_seen == 1 and row.last_invited_at is not None
    assert row.contact_id is None  # no chat: the visitor never became a contact
    assert await live.scalar(select(func.count()).select_from(Interaction)) == 0


async def test_invitations_seen_stop_a_scenario(live: Live) -> None:
    await _scenario(live, max_invitations_seen=0)
    async with _visitor(live) as ws:
        key = (await _hello(ws))["visitor_id"]
        await _next(ws, "invitation")
    async with _visitor(live) as ws:
        await _hello(ws, visitor_id=key)
        assert [frame["type"] for frame in await _frames(ws, 1.5)] == []


async def test_an_agent_invites_manually_and_again_only_after_ten_seconds(live: Live) -> None:
    anna, desk = await _desk(live, "anna")
    async with _visitor(live) as ws:
        await _hello(ws)
        visitor_id = (await _visitor_event(desk, page_url=PAGE["url"]))["id"]
        sent = await anna.post(
            f"/api/chat-visitors/{visitor_id}/invite", json={"text": "Need help with the order?"}
        )
        assert sent.status_code == 204, sent.text
        invitation = await _next(ws, "invitation")
        assert (invitation["text"], invitation["agent_name"]) == (
            "Need help with the order?",
            "Anna",
        )
        again = await anna.post(f"/api/chat-visitors/{visitor_id}/invite", json={"text": "Hi?"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "invited_too_soon"
        assert set(fields(await anna.post(f"/api/chat-visitors/{visitor_id}/invite", json={}))) == {
            "text"
        }
    async with live.app.state.runtime.database.transaction() as db:
        visitor = await db.get_one(ChatVisitor, visitor_id)
        assert visitor.invitations_seen == 1
    await desk.close()
    await anna.aclose()


# --- scenarios in the admin API ---------------------------------------------------------


async def test_admins_configure_scenarios_and_bad_values_are_refused(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    agent = await api.token_for(Role.AGENT)
    queue = await admin.post("/api/queues", json={"name": "Chat", "channels": ["chat"]})
    widget = await admin.post(
        "/api/chat-widgets", json={"name": "Shop", "queue_id": queue.json()["id"]}
    )
    widget_id = widget.json()["id"]
    created = await admin.post(
        "/api/chat-invitation-scenarios",
        json={
            "widget_id": widget_id,
            "name": "Product pages",
            "message": "Can we help you choose?",
            "min_time_on_page_seconds": 300,
            "url_patterns": ["/product/*", "/product/*", " /cart "],
            "location_contains": ["Poland"],
            "is_new_visitor": True,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["url_patterns"] == ["/product/*", "/cart"]
    refused = await admin.post(
        "/api/chat-invitation-scenarios",
        json={
            "widget_id": 999999,
            "name": "x",
            "message": " ",
            "min_time_on_site_seconds": -1,
            "referrer_contains": [""],
        },
    )
    assert refused.status_code == 422
    assert (
        await agent.post(
            "/api/chat-invitation-scenarios",
            json={"widget_id": widget_id, "name": "x", "message": "y"},
        )
    ).status_code == 403
    assert (await agent.get("/api/chat-invitation-scenarios")).status_code == 403
    listed = await admin.get(f"/api/chat-invitation-scenarios?widget_id={widget_id}")
    assert [item["name"] for item in listed.json()["items"]] == ["Product pages"]
    located = await admin.patch(
        f"/api/chat-widgets/{widget_id}", json={"show_in": ["Poland"], "hide_in": ["Kraków"]}
    )
    assert located.json()["show_in"] == ["Poland"] and located.json()["hide_in"] == ["Kraków"]
    for client in (admin, agent):
        await client.aclose()
