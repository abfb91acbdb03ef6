"""The agent's chat tools (F-CH-6, F-CH-8) through a real uvicorn server and real
websockets, on SQLite and PostgreSQL: transfer to a queue and to an agent through the
router with the history kept, a conference with an invited agent, a supervisor's
take-over, end, bans (refused visitor, listed and lifted by supervisors), inactivity
close from stored times, a case from the chat, the transcript by email, and CSAT."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from parley.chat_channel.api import chat_service
from parley.chat_channel.tools import ChatTools
from parley.platform.models import (
    Case,
    ChatRating,
    ChatVisitor,
    ChatWidget,
    EmailAccount,
    Interaction,
    InteractionState,
    Message,
    Role,
    TlsMode,
)
from parley.platform.secret_box import SecretBox
from parley.telephony.pbx import free_port
from tests.integration.chat_channel import test_visitor_socket as visitor_socket
from tests.integration.chat_channel.test_agent_chat import _accepted_chat
from tests.integration.chat_channel.test_visitor_socket import Live, _next, _say
from tests.integration.email_channel.conftest import SMTP_USERS, SmtpServer, start_smtp

live = visitor_socket.live


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer("127.0.0.1", free_port(), dict(SMTP_USERS))
    controller = start_smtp(server)
    try:
        yield server
    finally:
        controller.stop()


async def _ready(desk: Any) -> None:
    await _next(desk, "snapshot")
    await desk.send(json.dumps({"type": "state.ready"}))
    await _next(desk, "agent.state_changed")


async def _message_with(ws: Any, kind: str) -> dict[str, Any]:
    """The next `message` frame written by `kind` (visitor, agent or system)."""
    while True:
        frame = await _next(ws, "message")
        if frame["author"]["kind"] == kind:
            return frame


async def _work_ids(client: httpx.AsyncClient) -> list[int]:
    work = (await client.get("/api/me/work")).json()
    return [item["id"] for item in work["interactions"]]


async def _accept(desk: Any) -> int:
    offer = await _next(desk, "offer.created")
    await desk.send(json.dumps({"type": "offer.accept", "id": "9", "offer_id": offer["offer_id"]}))
    await _next(desk, "ack")
    interaction_id: int = offer["interaction_id"]
    return interaction_id


async def test_a_chat_transferred_to_the_queue_is_offered_again_and_keeps_its_history(
    live: Live,
) -> None:
    await live.add_user("anna")
    await live.add_user("piotr")
    anna, piotr = await live.login("anna"), await live.login("piotr")
    async with (
        live.agent_socket(anna) as desk,
        live.agent_socket(piotr) as other,
        live.visitor() as ws,
    ):
        interaction_id = await _accepted_chat(live, desk, ws)
        await _ready(other)
        await anna.post(f"/api/chats/{interaction_id}/messages", json={"text": "One moment"})

        targets = (await anna.get("/api/chats/transfer-targets")).json()
        assert [queue["id"] for queue in targets["queues"]] == [live.queue_id]
        assert "Piotr" in [agent["name"] for agent in targets["agents"]]

        bad = await anna.post(f"/api/chats/{interaction_id}/transfer", json={})
        assert bad.status_code == 422
        refused = await piotr.post(
            f"/api/chats/{interaction_id}/transfer", json={"queue_id": live.queue_id}
        )
        assert refused.status_code == 403  # not piotr's chat
        unknown = await anna.post(f"/api/chats/{interaction_id}/transfer", json={"queue_id": 9999})
        assert unknown.status_code == 404

        moved = await anna.post(
            f"/api/chats/{interaction_id}/transfer", json={"queue_id": live.queue_id}
        )
        assert moved.status_code == 204, moved.text
        notice = await _message_with(ws, "system")
        assert "transferred" in notice["text"]
        assert await _next(desk, "interaction.transferred")
        assert await _accept(other) == interaction_id  # the same chat, offered to piotr

        assert await _work_ids(anna) == []
        assert await _work_ids(piotr) == [interaction_id]
        transcript = (await piotr.get(f"/api/chats/{interaction_id}/messages")).json()
        assert [(m["author"]["kind"], m["text"]) for m in transcript["messages"]][:2] == [
            ("visitor", "Hello, my invoice is wrong"),
            ("agent", "One moment"),
        ]
        sent = await piotr.post(f"/api/chats/{interaction_id}/messages", json={"text": "Hi"})
        assert sent.status_code == 201
        assert (await _message_with(ws, "agent"))["author"]["name"] == "Piotr"
        # Anna handed it on: she may not write in it any more.
        late = await anna.post(f"/api/chats/{interaction_id}/messages", json={"text": "x"})
        assert late.status_code == 403
    await anna.aclose()
    await piotr.aclose()


async def test_a_chat_transferred_to_an_agent_is_offered_to_that_agent(live: Live) -> None:
    anna_id = await live.add_user("anna")
    await live.add_user("piotr")
    olga_id = await live.add_user("olga")
    anna, piotr, olga = [await live.login(name) for name in ("anna", "piotr", "olga")]
    async with (
        live.agent_socket(anna) as desk,
        live.agent_socket(piotr) as piotr_desk,
        live.agent_socket(olga) as olga_desk,
        live.visitor() as ws,
    ):
        interaction_id = await _accepted_chat(live, desk, ws)
        await _ready(piotr_desk)
        await _ready(olga_desk)
        mine = await anna.post(f"/api/chats/{interaction_id}/transfer", json={"agent_id": anna_id})
        assert mine.status_code == 409  # anna has it already
        moved = await anna.post(f"/api/chats/{interaction_id}/transfer", json={"agent_id": olga_id})
        assert moved.status_code == 204, moved.text
        offer = await _next(olga_desk, "offer.created")
        assert offer["agent_ids"] == [olga_id]  # held for olga, not piotr
        await _accept_offer(olga_desk, offer)
        assert await _work_ids(olga) == [interaction_id]
        assert await _work_ids(piotr) == []
        stored = await live.scalar(select(Interaction).where(Interaction.id == interaction_id))
        assert stored.state is InteractionState.ACTIVE and stored.agent_id == olga_id
        assert stored.attributes["preferred_agent_id"] == olga_id
    for client in (anna, piotr, olga):
        await client.aclose()


async def _accept_offer(desk: Any, offer: dict[str, Any]) -> int:
    await desk.send(json.dumps({"type": "offer.accept", "id": "7", "offer_id": offer["offer_id"]}))
    await _next(desk, "ack")
    interaction_id: int = offer["interaction_id"]
    return interaction_id


async def test_an_invited_agent_reads_and_writes_in_the_chat_beside_its_agent(
    live: Live,
) -> None:
    await live.add_user("anna")
    piotr_id = await live.add_user("piotr")
    await live.add_user("olga")
    anna, piotr, olga = [await live.login(name) for name in ("anna", "piotr", "olga")]
    async with (
        live.agent_socket(anna) as desk,
        live.agent_socket(piotr) as guest_desk,
        live.visitor() as ws,
    ):
        await _next(guest_desk, "snapshot")
        interaction_id = await _accepted_chat(live, desk, ws)
        assert (
            await olga.post(f"/api/chats/{interaction_id}/invite", json={"agent_id": piotr_id})
        ).status_code == 403
        invited = await anna.post(
            f"/api/chats/{interaction_id}/invite", json={"agent_id": piotr_id}
        )
        assert invited.status_code == 204, invited.text
        assert (await _next(guest_desk, "chat.invited"))["guest_id"] == piotr_id
        assert interaction_id in await _work_ids(piotr)

        sent = await piotr.post(f"/api/chats/{interaction_id}/messages", json={"text": "I'm Piotr"})
        assert sent.status_code == 201
        assert (await _message_with(ws, "agent"))["text"] == "I'm Piotr"
        assert (await _next(desk, "chat.message"))["text"] == "I'm Piotr"
        await _say(ws, "Thanks both", "c2")
        seen = await _next(guest_desk, "chat.message")
        while seen["author"]["kind"] != "visitor":
            seen = await _next(guest_desk, "chat.message")
        assert seen["text"] == "Thanks both"
        assert (await olga.get(f"/api/chats/{interaction_id}/messages")).status_code == 403

        left = await piotr.post(f"/api/chats/{interaction_id}/leave")
        assert left.status_code == 204
        assert interaction_id not in await _work_ids(piotr)
        gone = await piotr.post(f"/api/chats/{interaction_id}/messages", json={"text": "x"})
        assert gone.status_code == 403
    for client in (anna, piotr, olga):
        await client.aclose()


async def test_a_supervisor_takes_over_a_chat_and_an_agent_may_not(live: Live) -> None:
    await live.add_user("anna")
    await live.add_user("piotr")
    sam_id = await live.add_user("sam", Role.SUPERVISOR)
    anna, piotr, sam = [await live.login(name) for name in ("anna", "piotr", "sam")]
    async with (
        live.agent_socket(anna) as desk,
        live.agent_socket(sam) as sam_desk,
        live.visitor() as ws,
    ):
        await _next(sam_desk, "snapshot")  # logged in, not ready: takes no offers
        interaction_id = await _accepted_chat(live, desk, ws)
        refused = await piotr.post(f"/api/chats/{interaction_id}/take-over")
        assert refused.status_code == 403
        # The supervisor joins first (as a guest), then takes the chat.
        joined = await sam.post(f"/api/chats/{interaction_id}/invite", json={"agent_id": sam_id})
        assert joined.status_code == 204
        assert await _work_ids(sam) == [interaction_id]
        taken = await sam.post(f"/api/chats/{interaction_id}/take-over")
        assert taken.status_code == 204, taken.text
        assert (await _next(desk, "interaction.transferred"))["to_agent_id"] is not None
        assert await _work_ids(anna) == []
        assert await _work_ids(sam) == [interaction_id]  # in hand now, a guest no more
        stored = await live.scalar(select(Interaction).where(Interaction.id == interaction_id))
        assert stored.agent_id == sam_id and stored.attributes["chat_participants"] == []
        again = await sam.post(f"/api/chats/{interaction_id}/take-over")
        assert again.status_code == 409
        await sam.post(f"/api/chats/{interaction_id}/messages", json={"text": "Sam here"})
        assert (await _message_with(ws, "agent"))["author"]["name"] == "Sam"

        ended = await sam.post(f"/api/chats/{interaction_id}/end")
        assert ended.status_code == 204
        assert await _next(ws, "closed") == {"type": "closed", "reason": "ended"}
    for client in (anna, piotr, sam):
        await client.aclose()


async def test_a_banned_visitor_cannot_start_a_chat_until_the_ban_is_lifted(live: Live) -> None:
    await live.add_user("anna")
    await live.add_user("sam", Role.SUPERVISOR)
    anna, sam = await live.login("anna"), await live.login("sam")
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        for body in ({"minutes": 0}, {"minutes": 10**7}, {"minutes": "x"}, {}):
            bad = await anna.post(f"/api/chats/{interaction_id}/ban", json=body)
            assert bad.status_code == 422, body
        banned = await anna.post(
            f"/api/chats/{interaction_id}/ban", json={"minutes": 60, "reason": "abuse"}
        )
        assert banned.status_code == 201, banned.text
        ban = banned.json()
        assert ban["interaction_id"] == interaction_id and ban["reason"] == "abuse"
        assert await _next(ws, "closed") == {"type": "closed", "reason": "banned"}

        await ws.send(json.dumps({"type": "message", "client_msg_id": "c9", "text": "Again"}))
        error = await _next(ws, "error")
        assert error["code"] == "banned" and error["client_msg_id"] == "c9"

        assert (await anna.get("/api/chat-bans")).status_code == 403
        listed = (await sam.get("/api/chat-bans")).json()
        assert [item["id"] for item in listed] == [ban["id"]]
        assert (await anna.post(f"/api/chat-bans/{ban['id']}/lift")).status_code == 403
        lifted = await sam.post(f"/api/chat-bans/{ban['id']}/lift")
        assert lifted.status_code == 200 and lifted.json()["lifted_at"] is not None
        assert (await sam.get("/api/chat-bans")).json() == []
        assert len((await sam.get("/api/chat-bans?active=false")).json()) == 1
        assert (await sam.post("/api/chat-bans/9999/lift")).status_code == 404

        ack = await _say(ws, "Sorry about that", "c10")
        assert ack["seq"] == 1  # a new chat
    await anna.aclose()
    await sam.aclose()


async def test_a_silent_visitor_s_chat_is_closed_from_stored_times_after_a_restart(
    live: Live,
) -> None:
    await live.add_user("anna")
    await live.add_user("root", Role.ADMIN)
    anna, root = await live.login("anna"), await live.login("root")
    widget_id = await live.scalar(select(ChatWidget.id))
    for minutes in (-1, 24 * 60 + 1, "soon", 1.5):
        bad = await root.patch(
            f"/api/chat-widgets/{widget_id}", json={"inactivity_close_minutes": minutes}
        )
        assert bad.status_code == 422, minutes
    assert (
        await anna.patch(f"/api/chat-widgets/{widget_id}", json={"inactivity_close_minutes": 5})
    ).status_code == 403
    set_ = await root.patch(f"/api/chat-widgets/{widget_id}", json={"inactivity_close_minutes": 5})
    assert set_.status_code == 200 and set_.json()["inactivity_close_minutes"] == 5
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        # A process that knows nothing of the chat (as after a restart) closes nothing
        # before the deadline...
        fresh = ChatTools(live.app.state.runtime, chat_service(live.app))
        assert await fresh.close_inactive() == []
        # ...and closes it once the visitor's last message is older than 5 minutes.
        past = live.app.state.runtime.clock.now() - timedelta(minutes=6)
        async with live.app.state.runtime.database.transaction() as db:
            await db.execute(
                update(Message)
                .where(Message.interaction_id == interaction_id)
                .values(created_at=past)
            )
            await db.execute(
                update(Interaction)
                .where(Interaction.id == interaction_id)
                .values(answered_at=past, created_at=past)
            )
        assert await fresh.close_inactive() == [interaction_id]
        notice = await _message_with(ws, "system")
        assert "5 minutes" in notice["text"]
        assert await _next(ws, "closed") == {"type": "closed", "reason": "inactivity"}
        closed = await _next(desk, "chat.closed")
        assert closed["reason"] == "inactivity"
        assert await fresh.close_inactive() == []
    await anna.aclose()
    await root.aclose()


async def test_a_case_is_opened_from_the_chat_or_the_chat_joins_an_existing_case(
    live: Live,
) -> None:
    await live.add_user("anna")
    await live.add_user("piotr")
    anna, piotr = await live.login("anna"), await live.login("piotr")
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        for body in ({}, {"subject": "  "}, {"subject": "x", "case_id": 1}):
            bad = await anna.post(f"/api/chats/{interaction_id}/case", json=body)
            assert bad.status_code == 422, body
        assert (
            await piotr.post(f"/api/chats/{interaction_id}/case", json={"subject": "Invoice"})
        ).status_code == 403
        opened = await anna.post(f"/api/chats/{interaction_id}/case", json={"subject": "Invoice"})
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["case_id"]
        case = await live.scalar(select(Case).where(Case.id == case_id))
        interaction = await live.scalar(select(Interaction).where(Interaction.id == interaction_id))
        assert case.subject == "Invoice" and case.contact_id == interaction.contact_id
        assert interaction.case_id == case_id
        message = await live.scalar(select(Message).where(Message.interaction_id == interaction_id))
        assert message.case_id == case_id
        # Attaching to that case again (an existing case of the contact) is fine.
        again = await anna.post(f"/api/chats/{interaction_id}/case", json={"case_id": case_id})
        assert again.status_code == 201 and again.json() == {"case_id": case_id}
        missing = await anna.post(f"/api/chats/{interaction_id}/case", json={"case_id": 99999})
        assert missing.status_code == 404
    await anna.aclose()
    await piotr.aclose()


async def test_the_transcript_is_mailed_to_the_visitor_from_the_queue_mailbox(
    live: Live, smtp_server: SmtpServer
) -> None:
    runtime = live.app.state.runtime
    await live.add_user("anna")
    anna = await live.login("anna")
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        # No mailbox for the queue yet, and no address known: clear errors.
        assert (await anna.post(f"/api/chats/{interaction_id}/transcript", json={})).json()[
            "error"
        ]["code"] == "email_required"
        no_mailbox = await anna.post(
            f"/api/chats/{interaction_id}/transcript", json={"email": "eve@example.com"}
        )
        assert no_mailbox.status_code == 409
        bad = await anna.post(f"/api/chats/{interaction_id}/transcript", json={"email": "nope"})
        assert bad.status_code == 422

        sealer = SecretBox(runtime.settings.resolved_secret_key())
        async with runtime.database.transaction() as db:
            db.add(
                EmailAccount(
                    name="Shop support",
                    queue_id=live.queue_id,
                    imap_host="127.0.0.1",
                    imap_username="unused",
                    smtp_host=smtp_server.host,
                    smtp_port=smtp_server.port,
                    smtp_username="parley-out",
                    smtp_password_sealed=sealer.seal(SMTP_USERS["parley-out"]),
                    smtp_tls=TlsMode.NONE,
                    from_address="support@shop.example",
                )
            )
            visitor = await db.scalar(select(ChatVisitor))
            visitor.details = {"email": "eve@example.com"}
        await anna.post(f"/api/chats/{interaction_id}/messages", json={"text": "Fixed it <b>"})
        sent = await anna.post(f"/api/chats/{interaction_id}/transcript", json={})
        assert sent.status_code == 202, sent.text
    received = await smtp_server.wait_for(1)
    assert received[0].rcpt_tos == ("eve@example.com",)
    mail = message_from_bytes(received[0].content, policy=policy.default)
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello, my invoice is wrong" in body and "Fixed it <b>" in body
    assert "Anna:" in body
    await anna.aclose()


async def test_the_visitor_rates_the_chat_after_it_ends_and_the_agent_sees_it(
    live: Live,
) -> None:
    await live.add_user("anna")
    await live.add_user("sam", Role.SUPERVISOR)
    anna, sam = await live.login("anna"), await live.login("sam")
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        await ws.send(json.dumps({"type": "rating", "rating": 5}))
        assert (await _next(ws, "error"))["code"] == "bad_frame"  # not ended yet
        assert (await anna.get(f"/api/chats/{interaction_id}/rating")).json() is None

        await anna.post(f"/api/chats/{interaction_id}/end")
        await _next(ws, "closed")
        for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 3, "x": 1}):
            await ws.send(json.dumps({"type": "rating", **bad}))
            assert (await _next(ws, "error"))["code"] == "bad_frame", bad
        await ws.send(json.dumps({"type": "rating", "rating": 2, "comment": "Slow"}))
        await _next(ws, "rating_saved")
        await ws.send(json.dumps({"type": "rating", "rating": 4, "comment": " Fine after all "}))
        await _next(ws, "rating_saved")
    rating = (await anna.get(f"/api/chats/{interaction_id}/rating")).json()
    assert (rating["rating"], rating["comment"]) == (4, "Fine after all")
    stored = await live.scalar(
        select(ChatRating).where(ChatRating.interaction_id == interaction_id)
    )
    assert stored.queue_id == live.queue_id and stored.agent_id is not None

    # The report: average CSAT per queue and per agent, for supervisors.
    since = (live.app.state.runtime.clock.now() - timedelta(days=1)).isoformat()
    assert (await anna.get("/api/stats/csat", params={"since": since})).status_code == 403
    report = await sam.get("/api/stats/csat", params={"since": since})
    assert report.status_code == 200, report.text
    numbers = report.json()
    assert (numbers["ratings"], numbers["average"]) == (1, 4.0)
    assert [(g["id"], g["ratings"], g["average"]) for g in numbers["by_queue"]] == [
        (live.queue_id, 1, 4.0)
    ]
    assert [(g["name"], g["average"]) for g in numbers["by_agent"]] == [("Anna", 4.0)]
    assert (await sam.get("/api/stats/csat")).status_code == 422
    naive = await sam.get("/api/stats/csat", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 400
    backwards = await sam.get(
        "/api/stats/csat", params={"since": since, "until": "2000-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 400
    await anna.aclose()
    await sam.aclose()
