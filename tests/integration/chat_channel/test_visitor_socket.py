"""The visitor websocket through a real uvicorn server, on SQLite and PostgreSQL: hello
and welcome, messages acked once and stored once, the chat queued and offered to an
agent, resume after a reconnect, tabs sharing a conversation, refusals, bad frames and
floods; and the admin REST of chat widgets."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from parley.app import create_app
from parley.chat_channel.api import chat_service
from parley.platform.auth.passwords import hash_password
from parley.platform.config import Settings
from parley.platform.models import (
    AgentSkill,
    Channel,
    ChatVisitor,
    ChatWidget,
    ContactIdentity,
    Interaction,
    InteractionState,
    Message,
    Queue,
    QueueSkill,
    Role,
    Skill,
    User,
)
from tests.conftest import PASSWORD, served, sign_in

SITE = "https://shop.example"
PAGE = {"url": f"{SITE}/orders/1234", "title": "Order 1234"}


@dataclass
class Live:
    base_url: str
    app: Any
    queue_id: int
    widget_key: str

    def visitor(self, *, origin: str | None = SITE, widget: str | None = None) -> Any:
        headers = {"Origin": origin} if origin else {}
        url = f"{self.base_url.replace('http', 'ws')}/ws/visitor?widget={widget or self.widget_key}"
        return websockets.connect(url, additional_headers=headers)

    async def add_user(self, username: str, role: Role = Role.AGENT) -> int:
        async with self.app.state.runtime.database.transaction() as db:
            user = User(
                username=username,
                display_name=username.title(),
                password_hash=hash_password(PASSWORD),
                role=role,
            )
            db.add(user)
            await db.flush()
            skill = await db.scalar(select(Skill))
            db.add(AgentSkill(user_id=user.id, skill_id=skill.id, level=5))
            return user.id

    async def login(self, username: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base_url)
        await sign_in(client, username)
        return client

    def agent_socket(self, client: httpx.AsyncClient) -> Any:
        headers = {
            "Cookie": f"parley_session={client.cookies['parley_session']}",
            "Origin": self.base_url,
        }
        return websockets.connect(
            self.base_url.replace("http", "ws") + "/ws/agent", additional_headers=headers
        )

    async def scalar(self, statement: Any) -> Any:
        async with self.app.state.runtime.database.transaction() as db:
            return await db.scalar(statement)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    async with served(app) as port:
        async with app.state.runtime.database.transaction() as db:
            skill = Skill(name="billing")
            db.add(skill)
            await db.flush()
            queue = Queue(name="Web chat", channels=["chat"], wrap_up_seconds=0)
            db.add(queue)
            await db.flush()
            db.add(QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=1))
            widget = ChatWidget(
                name="Shop",
                public_key="w_test_" + uuid.uuid4().hex[:8],
                queue_id=queue.id,
                allowed_origins=[SITE],
            )
            db.add(widget)
            queue_id, widget_key = queue.id, widget.public_key
        await app.state.runtime.require_engine().reload_configuration()
        yield Live(f"http://127.0.0.1:{port}", app, queue_id, widget_key)


async def _next(ws: Any, type_: str) -> dict[str, Any]:
    """The next frame of `type_`, skipping others (5 s at most)."""
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == type_:
                return frame  # type: ignore[no-any-return]


async def _frames(ws: Any, seconds: float = 0.3) -> list[dict[str, Any]]:
    """Every frame that arrives within `seconds` (to show nothing else came)."""
    frames = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                frames.append(json.loads(await ws.recv()))
    except TimeoutError:
        return frames


async def _hello(ws: Any, visitor_id: str | None = None, resume: int = 0) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "hello", "resume": resume, "page": PAGE}
    if visitor_id is not None:
        frame["visitor_id"] = visitor_id
    await ws.send(json.dumps(frame))
    return await _next(ws, "welcome")


async def _say(ws: Any, text: str, client_msg_id: str | None = None) -> dict[str, Any]:
    client_msg_id = client_msg_id or uuid.uuid4().hex
    await ws.send(json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": text}))
    ack = await _next(ws, "ack")
    assert ack["client_msg_id"] == client_msg_id
    return ack


async def test_a_first_message_is_acked_and_queued_and_offered_to_an_agent(live: Live) -> None:
    await live.add_user("anna")
    agent = await live.login("anna")
    async with live.agent_socket(agent) as desk:
        await _next(desk, "snapshot")
        await desk.send(json.dumps({"type": "state.ready"}))
        await _next(desk, "agent.state_changed")
        async with live.visitor() as ws:
            welcome = await _hello(ws)
            assert welcome["conversation"] is None
            visitor_key = welcome["visitor_id"]
            ack = await _say(ws, "Hello, my order did not arrive.", "first")
            assert ack == {"type": "ack", "client_msg_id": "first", "seq": 1}
            echo = await _next(ws, "message")
            assert echo["seq"] == 1 and echo["client_msg_id"] == "first"
            assert echo["author"]["kind"] == "visitor"
            offer = await _next(desk, "offer.created")
    await agent.aclose()
    interaction = await live.scalar(
        select(Interaction).where(Interaction.id == offer["interaction_id"])
    )
    assert interaction.channel is Channel.CHAT
    assert interaction.queue_id == live.queue_id
    assert interaction.state is InteractionState.OFFERED
    assert interaction.attributes["page_url"] == PAGE["url"]
    identity = await live.scalar(
        select(ContactIdentity).where(ContactIdentity.contact_id == interaction.contact_id)
    )
    assert identity.kind == "visitor" and identity.value.endswith(visitor_key)
    visitor = await live.scalar(select(ChatVisitor).where(ChatVisitor.visitor_key == visitor_key))
    assert visitor.contact_id == interaction.contact_id
    assert visitor.page_title == "Order 1234"
    stored = await live.scalar(select(Message).where(Message.interaction_id == interaction.id))
    assert (stored.seq, stored.client_msg_id, stored.body_text) == (
        1,
        "first",
        "Hello, my order did not arrive.",
    )


async def test_a_resend_after_reconnecting_is_acked_again_and_stored_once(live: Live) -> None:
    async with live.visitor() as ws:
        visitor_key = (await _hello(ws))["visitor_id"]
        await _say(ws, "Are you there?", "outbox-1")
    async with live.visitor() as ws:
        welcome = await _hello(ws, visitor_key, resume=1)
        assert welcome["visitor_id"] == visitor_key
        assert welcome["conversation"]["last_seq"] == 1
        ack = await _say(ws, "Are you there? (edited text is ignored)", "outbox-1")
        assert ack["seq"] == 1
        assert [frame["type"] for frame in await _frames(ws)] == []  # no second echo
        assert (await _say(ws, "Hello?", "outbox-2"))["seq"] == 2
    count = await live.scalar(select(func.count()).select_from(Message))
    assert count == 2
    interactions = await live.scalar(select(func.count()).select_from(Interaction))
    assert interactions == 1


async def test_resume_sends_exactly_the_messages_missed_while_away(live: Live) -> None:
    agent_id = await live.add_user("anna")
    async with live.visitor() as ws:
        visitor_key = (await _hello(ws))["visitor_id"]
        await _say(ws, "One", "m1")
        echo = await _next(ws, "message")
        assert echo["seq"] == 1
    interaction_id = await live.scalar(select(Interaction.id))
    service = chat_service(live.app)
    assert await service.post_agent_message(interaction_id, agent_id, "Hi, I am Anna.") == 2
    assert await service.post_agent_message(interaction_id, agent_id, "Let me check.") == 3
    async with live.visitor() as ws:
        welcome = await _hello(ws, visitor_key, resume=1)
        assert welcome["conversation"]["last_seq"] == 3
        missed = await _frames(ws)
        assert [(f["type"], f["seq"], f["text"]) for f in missed] == [
            ("message", 2, "Hi, I am Anna."),
            ("message", 3, "Let me check."),
        ]
        assert missed[0]["author"] == {"kind": "agent", "name": "Anna"}
        # Live from now on: the agent's next message arrives by itself.
        await service.post_agent_message(interaction_id, agent_id, "Found it.")
        live_message = await _next(ws, "message")
        assert (live_message["seq"], live_message["text"]) == (4, "Found it.")
    async with live.visitor() as ws:
        await _hello(ws, visitor_key, resume=4)
        assert await _frames(ws) == []
        await ws.send(
            json.dumps({"type": "hello", "visitor_id": visitor_key, "resume": 9, "page": PAGE})
        )
        await _next(ws, "welcome")
        assert (await _next(ws, "error"))["code"] == "not_found"


async def test_two_tabs_of_one_visitor_share_the_conversation(live: Live) -> None:
    async with live.visitor() as first:
        visitor_key = (await _hello(first))["visitor_id"]
        async with live.visitor() as second:
            assert (await _hello(second, visitor_key))["conversation"] is None
            await _say(first, "From tab one", "tab-1")
            seen = await _next(second, "message")
            assert (seen["seq"], seen["client_msg_id"]) == (1, "tab-1")
            await _say(second, "From tab two", "tab-2")
            for ws in (first, second):
                message = await _next(ws, "message")
                if message["seq"] == 1:
                    message = await _next(ws, "message")
                assert (message["seq"], message["text"]) == (2, "From tab two")
        async with live.visitor() as third:
            welcome = await _hello(third, visitor_key)
            assert welcome["conversation"]["last_seq"] == 2
            assert [f["seq"] for f in await _frames(third)] == [1, 2]
    assert await live.scalar(select(func.count()).select_from(Interaction)) == 1


async def test_agent_typing_read_and_closing_reach_the_visitor(live: Live) -> None:
    agent_id = await live.add_user("anna")
    service = chat_service(live.app)
    async with live.visitor() as ws:
        await _hello(ws)
        await _say(ws, "Hello", "h")
        await _next(ws, "message")
        interaction_id = await live.scalar(select(Interaction.id))
        await service.set_agent_typing(interaction_id, True)
        assert await _next(ws, "typing") == {"type": "typing", "is_typing": True}
        await service.post_agent_message(interaction_id, agent_id, "Hi")
        assert (await _next(ws, "message"))["text"] == "Hi"
        assert await _next(ws, "typing") == {"type": "typing", "is_typing": False}
        await service.mark_read_by_agent(interaction_id, 1)
        assert await _next(ws, "read") == {"type": "read", "up_to": 1}
        await ws.send(json.dumps({"type": "read", "up_to": 2}))
        await ws.send(json.dumps({"type": "read", "up_to": 7}))
        assert (await _next(ws, "error"))["code"] == "not_found"
        await live.app.state.runtime.require_engine().cancel(interaction_id, "abandoned")
        assert await _next(ws, "closed") == {"type": "closed", "reason": "ended"}
        # A new message after the end starts a new conversation.
        assert (await _say(ws, "One more thing", "after"))["seq"] == 1
    interaction = await live.scalar(select(Interaction).where(Interaction.id == interaction_id))
    assert interaction.attributes["visitor_read_up_to"] == 2
    assert await live.scalar(select(func.count()).select_from(Interaction)) == 2


async def test_a_bad_frame_gets_an_error_and_the_socket_stays_usable(live: Live) -> None:
    async with live.visitor() as ws:
        await ws.send("{not json")
        assert (await _next(ws, "error"))["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "message", "client_msg_id": "x", "text": "early"}))
        assert (await _next(ws, "error"))["code"] == "bad_frame"  # hello first
        await _hello(ws)
        await ws.send(json.dumps({"type": "message", "client_msg_id": "blank", "text": "  "}))
        error = await _next(ws, "error")
        assert (error["code"], error["client_msg_id"]) == ("bad_frame", "blank")
        await ws.send(b"\x00binary")
        assert (await _next(ws, "error"))["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "message", "client_msg_id": "x", "text": "y" * 70_000}))
        assert (await _next(ws, "error"))["code"] == "frame_too_large"
        assert (await _say(ws, "Still here", "ok"))["seq"] == 1


async def test_a_flood_of_frames_is_rate_limited_and_closed(live: Live) -> None:
    async with live.visitor() as ws:
        await _hello(ws)
        for _ in range(100):
            await ws.send(json.dumps({"type": "heartbeat"}))
        assert (await _next(ws, "error"))["code"] == "rate_limited"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _next(ws, "never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429


@pytest.mark.parametrize(
    ("origin", "widget"),
    [
        ("https://evil.example", None),
        ("http://shop.example", None),
        (None, None),
        (SITE, "w_no_such_widget"),
        (SITE, ""),
    ],
    ids=["other-site", "other-scheme", "no-origin", "unknown-widget", "no-widget"],
)
async def test_other_origins_and_unknown_widgets_are_refused(
    live: Live, origin: str | None, widget: str | None
) -> None:
    url = f"{live.base_url.replace('http', 'ws')}/ws/visitor"
    key = live.widget_key if widget is None else widget
    url += f"?widget={key}" if key else ""
    headers = {"Origin": origin} if origin else {}
    async with websockets.connect(url, additional_headers=headers) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_an_inactive_widget_is_refused(live: Live) -> None:
    async with live.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(select(ChatWidget))
        widget.is_active = False
    async with live.visitor() as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_admins_manage_widgets_and_supervisors_read_one(live: Live) -> None:
    await live.add_user("ada", Role.ADMIN)
    await live.add_user("sam", Role.SUPERVISOR)
    admin = await live.login("ada")
    supervisor = await live.login("sam")
    created = await admin.post(
        "/api/chat-widgets",
        json={"name": "Blog", "queue_id": live.queue_id, "allowed_origins": [SITE, SITE]},
    )
    assert created.status_code == 201, created.text
    widget = created.json()
    assert widget["public_key"].startswith("w_") and len(widget["public_key"]) > 20
    assert widget["allowed_origins"] == [SITE]
    bad = await admin.post(
        "/api/chat-widgets",
        json={"name": "Bad", "queue_id": live.queue_id, "allowed_origins": [f"{SITE}/path"]},
    )
    assert bad.status_code == 422
    changed = await admin.patch(
        f"/api/chat-widgets/{widget['id']}", json={"greeting": "Hi! How can we help?"}
    )
    assert changed.json()["greeting"] == "Hi! How can we help?"
    assert changed.json()["public_key"] == widget["public_key"]
    one = await supervisor.get(f"/api/chat-widgets/{widget['id']}")
    assert one.status_code == 200 and one.json()["name"] == "Blog"
    assert (await supervisor.get("/api/chat-widgets")).status_code == 403
    assert (await admin.get("/api/chat-widgets")).json()["total"] == 2
    await admin.aclose()
    await supervisor.aclose()


async def test_an_unknown_visitor_id_gets_a_new_one_and_visitor_typing_reaches_the_bus(
    live: Live,
) -> None:
    async with live.visitor() as ws:
        welcome = await _hello(ws, "v_made_up_by_someone")
        assert welcome["visitor_id"] != "v_made_up_by_someone"
        await ws.send(json.dumps({"type": "typing", "is_typing": True}))  # no chat yet
        await _say(ws, "Hello", "h")
        interaction_id = await live.scalar(select(Interaction.id))
        async with live.app.state.runtime.bus.subscribe("chat.typing") as events:
            await ws.send(json.dumps({"type": "typing", "is_typing": True}))
            await ws.send(json.dumps({"type": "typing", "is_typing": True}))  # no change
            await ws.send(json.dumps({"type": "typing", "is_typing": False}))
            async with asyncio.timeout(5):
                shown, hidden = await anext(events), await anext(events)
    assert (shown.payload["interaction_id"], shown.payload["side"]) == (interaction_id, "visitor")
    assert (shown.payload["is_typing"], hidden.payload["is_typing"]) == (True, False)
    assert await live.scalar(select(func.count()).select_from(ChatVisitor)) == 1


async def test_the_agent_indicator_disappears_after_the_typing_timeout(live: Live) -> None:
    service = chat_service(live.app)
    async with live.visitor() as ws:
        visitor_key = (await _hello(ws))["visitor_id"]
        await _say(ws, "Hello", "h")
        interaction_id = await live.scalar(select(Interaction.id))
        await service.set_agent_typing(interaction_id, True)
        assert (await _next(ws, "typing"))["is_typing"] is True
        async with live.visitor() as tab:  # a tab opened meanwhile sees it in `welcome`
            assert (await _hello(tab, visitor_key))["conversation"]["is_agent_typing"] is True
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(10):
            frame = json.loads(await ws.recv())
        assert frame == {"type": "typing", "is_typing": False}
        assert asyncio.get_running_loop().time() - started > 4
