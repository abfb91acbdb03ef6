"""The agent's side of a chat through a real uvicorn server, on SQLite and PostgreSQL:
the greeting sent once on accept, the REST routes (transcript, send, typing, read) and
who may use them, and the chat events on the agent websocket."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from parley.chat_channel.api import chat_service
from parley.platform.models import ChatWidget, Interaction, Role
from tests.integration.chat_channel import test_visitor_socket as visitor_socket
from tests.integration.chat_channel.test_visitor_socket import Live, _hello, _next, _say

live = visitor_socket.live  # the served application with a widget, as a fixture here too

GREETING = "Hi! How can we help?"


async def _set_greeting(live: Live, greeting: str) -> None:
    async with live.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(select(ChatWidget))
        assert widget is not None
        widget.greeting = greeting


async def _accepted_chat(live: Live, desk: Any, ws: Any) -> int:
    """The visitor writes in, the agent (ready on `desk`) accepts; the interaction id."""
    await _next(desk, "snapshot")
    await desk.send(json.dumps({"type": "state.ready"}))
    await _next(desk, "agent.state_changed")
    await _hello(ws)
    await _say(ws, "Hello, my invoice is wrong", "c1")
    offer = await _next(desk, "offer.created")
    await desk.send(json.dumps({"type": "offer.accept", "id": "1", "offer_id": offer["offer_id"]}))
    await _next(desk, "ack")
    interaction_id: int = offer["interaction_id"]
    return interaction_id


async def test_agent_chats_with_the_visitor_through_rest_and_the_agent_socket(
    live: Live,
) -> None:
    await _set_greeting(live, GREETING)
    await live.add_user("anna")
    await live.add_user("piotr")
    anna = await live.login("anna")
    piotr = await live.login("piotr")
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        greeting = await _next(
            ws,
            "message",
        )
        while greeting["seq"] < 2:
            greeting = await _next(ws, "message")
        assert (greeting["seq"], greeting["text"]) == (2, GREETING)
        assert greeting["author"] == {"kind": "agent", "name": "Anna"}
        forwarded = await _next(desk, "chat.message")
        while forwarded["seq"] < 2:
            forwarded = await _next(desk, "chat.message")
        assert forwarded["interaction_id"] == interaction_id and forwarded["text"] == GREETING

        transcript = (await anna.get(f"/api/chats/{interaction_id}/messages")).json()
        assert [(m["seq"], m["author"]["kind"], m["text"]) for m in transcript["messages"]] == [
            (1, "visitor", "Hello, my invoice is wrong"),
            (2, "agent", GREETING),
        ]
        # Assigning again (a replayed event, a second web process) greets no one twice.
        assert await chat_service(live.app).send_greeting(interaction_id) is None

        sent = await anna.post(f"/api/chats/{interaction_id}/messages", json={"text": "Which?"})
        assert sent.status_code == 201 and sent.json() == {"seq": 3}
        assert (await _next(ws, "message"))["seq"] == 3

        typing = await anna.post(f"/api/chats/{interaction_id}/typing", json={"is_typing": True})
        assert typing.status_code == 204
        assert await _next(ws, "typing") == {"type": "typing", "is_typing": True}
        read = await anna.post(f"/api/chats/{interaction_id}/read", json={"up_to": 1})
        assert read.status_code == 204
        assert await _next(ws, "read") == {"type": "read", "up_to": 1}

        await ws.send(json.dumps({"type": "typing", "is_typing": True}))
        shown = await _next(
            desk,
            "chat.typing",
        )
        while shown["side"] != "visitor":
            shown = await _next(desk, "chat.typing")
        assert shown["is_typing"] is True and shown["interaction_id"] == interaction_id

        # Someone else's chat: refused; no such chat: not found; text is checked.
        assert (await piotr.get(f"/api/chats/{interaction_id}/messages")).status_code == 403
        refused = await piotr.post(f"/api/chats/{interaction_id}/messages", json={"text": "Hi"})
        assert refused.status_code == 403
        assert (await anna.get("/api/chats/999999/messages")).status_code == 404
        for text in ("", "   ", "x" * 4001):
            bad = await anna.post(f"/api/chats/{interaction_id}/messages", json={"text": text})
            assert bad.status_code == 422, text

        ended = await anna.post(f"/api/interactions/{interaction_id}/complete")
        assert ended.status_code in (200, 204), ended.text
        await _next(ws, "closed")
        closed = await anna.post(f"/api/chats/{interaction_id}/messages", json={"text": "Hi"})
        assert closed.status_code == 409
        assert closed.json()["error"]["code"] == "chat_closed"
    await anna.aclose()
    await piotr.aclose()


async def test_a_supervisor_reads_any_chat_and_no_greeting_without_one(
    live: Live,
) -> None:
    await live.add_user("anna")
    await live.add_user("sam", Role.SUPERVISOR)
    anna = await live.login("anna")
    sam = await live.login("sam")
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        sent = await anna.post(f"/api/chats/{interaction_id}/messages", json={"text": "Hello"})
        assert sent.json() == {"seq": 2}  # the widget has no greeting: none was sent
        transcript = (await sam.get(f"/api/chats/{interaction_id}/messages")).json()
        assert [m["seq"] for m in transcript["messages"]] == [1, 2]
    stored = await live.scalar(select(Interaction).where(Interaction.id == interaction_id))
    assert "greeting_sent" not in stored.attributes
    await anna.aclose()
    await sam.aclose()
