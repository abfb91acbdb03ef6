"""The widget's forms (F-CH-2) through a real server, on SQLite and PostgreSQL: admins
configure them (validated), the configuration carries them, `welcome` says whether an
agent can answer, the pre-chat answers reach the contact and the agent's offer, and an
offline message makes one case and mails the widget's address through the queue's
mailbox (or only logs when the queue has none)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from parley.platform.models import (
    Case,
    ChatVisitor,
    ChatWidget,
    Contact,
    ContactIdentity,
    EmailAccount,
    Interaction,
    Message,
    Role,
    TlsMode,
)
from parley.platform.secret_box import SecretBox
from parley.telephony.pbx import free_port
from tests.conftest import Api, fields
from tests.integration.chat_channel import test_visitor_socket
from tests.integration.chat_channel.test_visitor_socket import Live, _hello, _next, _say
from tests.integration.chat_channel.test_widget_config import _config, _widget
from tests.integration.email_channel.conftest import SMTP_USERS, SmtpServer, start_smtp

# The server with a chat queue and its widget, the fixture of test_visitor_socket.py.
live = test_visitor_socket.live


@pytest.fixture
async def admin(api: Api) -> httpx.AsyncClient:
    return await api.token_for(Role.ADMIN)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer("127.0.0.1", free_port(), dict(SMTP_USERS))
    controller = start_smtp(server)
    try:
        yield server
    finally:
        controller.stop()


async def _configure(live: Live, **values: Any) -> None:
    async with live.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(select(ChatWidget).where(ChatWidget.public_key == live.widget_key))
        for name, value in values.items():
            setattr(widget, name, value)


async def _ready_agent(live: Live, username: str = "anna") -> tuple[httpx.AsyncClient, Any]:
    await live.add_user(username)
    client = await live.login(username)
    desk = await live.agent_socket(client).__aenter__()
    await _next(desk, "snapshot")
    await desk.send(json.dumps({"type": "state.ready"}))
    await _next(desk, "agent.state_changed")
    return client, desk


# --- configuration ------------------------------------------------------------------


async def test_admins_configure_the_forms_and_bad_values_are_refused(
    admin: httpx.AsyncClient,
) -> None:
    widget = await _widget(admin)
    assert widget["prechat_fields"] == [] and widget["offline_form_enabled"] is False
    assert (widget["holding_after_seconds"], widget["contacts_after_seconds"]) == (30, 60)
    changed = await admin.patch(
        f"/api/chat-widgets/{widget['id']}",
        json={
            "prechat_fields": ["name", "email", "question", "email"],
            "prechat_required": ["email"],
            "offline_notify_email": "Team@Shop.Example",
            "holding_after_seconds": 5,
            "holding_text": "One moment, please.",
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["prechat_fields"] == ["name", "email", "question"]  # duplicates dropped
    assert body["offline_notify_email"] == "team@shop.example"
    refused = await admin.patch(
        f"/api/chat-widgets/{widget['id']}",
        json={
            "prechat_fields": ["age"],
            "offline_notify_email": "not an address",
            "holding_after_seconds": 0,
            "contacts_after_seconds": 3601,
            "contacts_text": "two\nlines",
        },
    )
    assert set(fields(refused)) == {
        "prechat_fields.0",
        "offline_notify_email",
        "holding_after_seconds",
        "contacts_after_seconds",
        "contacts_text",
    }
    not_asked = await admin.patch(
        f"/api/chat-widgets/{widget['id']}", json={"prechat_required": ["phone"]}
    )
    assert set(fields(not_asked)) == {"prechat_required"}


async def test_the_configuration_carries_the_forms_and_their_texts(
    api: Api, admin: httpx.AsyncClient
) -> None:
    widget = await _widget(
        admin,
        prechat_fields=["name", "phone"],
        prechat_required=["name"],
        holding_after_seconds=2,
        contacts_text="Leave a number, we call back.",
    )
    config = (await _config(api, widget["public_key"])).json()
    assert config["forms"] == {
        "prechat_fields": ["name", "phone"],
        "prechat_required": ["name"],
        "offline_form_enabled": False,
        "holding_after_seconds": 2,
        "contacts_after_seconds": 60,
    }
    texts = config["form_texts"]
    assert texts["holding"] == "Thank you for waiting. An operator will answer soon."
    assert texts["contacts_prompt"] == "Leave a number, we call back."
    assert texts["start"] == "Start chat"


# --- the visitor socket -------------------------------------------------------------


async def test_welcome_says_whether_an_agent_can_answer(live: Live) -> None:
    async with live.visitor() as ws:
        assert (await _hello(ws))["agents_available"] is False  # nobody logged in
    client, desk = await _ready_agent(live)
    try:
        async with live.visitor() as ws:
            assert (await _hello(ws))["agents_available"] is True
    finally:
        await desk.close()
        await client.aclose()


async def test_pre_chat_answers_reach_the_contact_and_the_agents_offer(live: Live) -> None:
    await _configure(
        live, prechat_fields=["name", "email", "phone", "question"], prechat_required=["email"]
    )
    client, desk = await _ready_agent(live)
    try:
        async with live.visitor() as ws:
            visitor_key = (await _hello(ws))["visitor_id"]
            await ws.send(json.dumps({"type": "details", "name": "Eve"}))
            error = await _next(ws, "error")
            assert error["code"] == "bad_frame"
            assert error["fields"] == [{"field": "details.email", "message": "Field required"}]
            await ws.send(
                json.dumps({"type": "details", "email": "eve@example.com", "phone": "12"})
            )
            error = await _next(ws, "error")
            assert [item["field"] for item in error["fields"]] == ["details.phone"]
            await ws.send(
                json.dumps(
                    {
                        "type": "details",
                        "name": "Eve",
                        "email": "Eve@Example.com",
                        "phone": "+48 601 234 567",
                        "question": "Where is my kettle?",
                    }
                )
            )
            await _next(ws, "details_saved")
            await _say(ws, "Where is my kettle?")
            offer = await _next(desk, "offer.created")
    finally:
        await desk.close()
        await client.aclose()
    interaction = await live.scalar(
        select(Interaction).where(Interaction.id == offer["interaction_id"])
    )
    assert interaction.attributes["name"] == "Eve"
    assert interaction.attributes["email"] == "eve@example.com"
    assert interaction.attributes["phone"] == "+48601234567"
    assert interaction.attributes["question"] == "Where is my kettle?"
    visitor = await live.scalar(select(ChatVisitor).where(ChatVisitor.visitor_key == visitor_key))
    assert visitor.contact_id == interaction.contact_id
    async with live.app.state.runtime.database.transaction() as db:
        identities = set(
            (
                await db.execute(
                    select(ContactIdentity.kind, ContactIdentity.value).where(
                        ContactIdentity.contact_id == interaction.contact_id
                    )
                )
            ).all()
        )
        contact = await db.get_one(Contact, interaction.contact_id)
    assert {("email", "eve@example.com"), ("phone", "+48601234567")} <= identities
    assert contact.name == "Eve"


async def test_details_find_the_contact_known_by_email(live: Live) -> None:
    async with live.app.state.runtime.database.transaction() as db:
        known = Contact(name="Eve Known")
        db.add(known)
        await db.flush()
        db.add(ContactIdentity(contact_id=known.id, kind="email", value="eve@example.com"))
        known_id = known.id
    async with live.visitor() as ws:
        visitor_key = (await _hello(ws))["visitor_id"]
        await ws.send(json.dumps({"type": "details", "email": "eve@example.com"}))
        await _next(ws, "details_saved")
    visitor = await live.scalar(select(ChatVisitor).where(ChatVisitor.visitor_key == visitor_key))
    assert visitor.contact_id == known_id
    assert visitor.details == {"email": "eve@example.com"}
    contacts = await live.scalar(select(func.count()).select_from(Contact))
    assert contacts == 1


async def test_an_offline_message_makes_one_case_and_mails_the_widget_address(
    live: Live, smtp_server: SmtpServer
) -> None:
    runtime = live.app.state.runtime
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
    await _configure(live, offline_form_enabled=True, offline_notify_email="team@shop.example")
    frame = {
        "type": "offline_message",
        "client_msg_id": "left-1",
        "name": "Eve",
        "email": "eve@example.com",
        "text": "Please call me back\nabout order 1234.",
    }
    async with live.visitor() as ws:
        await _hello(ws)
        await ws.send(json.dumps({**frame, "email": "nope"}))
        error = await _next(ws, "error")
        assert [item["field"] for item in error["fields"]] == ["offline_message.email"]
        await ws.send(json.dumps(frame))
        assert await _next(ws, "offline_received") == {
            "type": "offline_received",
            "client_msg_id": "left-1",
        }
        await ws.send(json.dumps(frame))  # a resend: the same case
        await _next(ws, "offline_received")
    assert await live.scalar(select(func.count()).select_from(Case)) == 1
    case = await live.scalar(select(Case))
    assert (case.queue_id, case.subject) == (live.queue_id, "Please call me back")
    first = await live.scalar(select(Message).where(Message.case_id == case.id))
    assert first.body_text == "Please call me back\nabout order 1234."
    identity = await live.scalar(
        select(ContactIdentity).where(ContactIdentity.value == "eve@example.com")
    )
    assert identity.contact_id == case.contact_id
    received = await smtp_server.wait_for(1)
    assert received[0].rcpt_tos == ("team@shop.example",)
    mail = message_from_bytes(received[0].content, policy=policy.default)
    assert "Eve" in str(mail["Subject"])
    assert f"#{case.id}" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await smtp_server.wait_for(1)
    assert len(smtp_server.received) == 1


async def test_without_a_mailbox_the_offline_case_is_kept_and_nobody_mailed(live: Live) -> None:
    await _configure(live, offline_form_enabled=True, offline_notify_email="team@shop.example")
    async with live.visitor() as ws:
        await _hello(ws)
        await ws.send(
            json.dumps(
                {
                    "type": "offline_message",
                    "client_msg_id": uuid.uuid4().hex,
                    "name": "Eve",
                    "email": "eve@example.com",
                    "text": "Hello?",
                }
            )
        )
        await _next(ws, "offline_received")
    assert await live.scalar(select(func.count()).select_from(Case)) == 1
    mails = await live.scalar(
        select(func.count()).select_from(Message).where(Message.kind == "email")
    )
    assert mails == 0


async def test_a_widget_without_the_offline_form_refuses_offline_messages(live: Live) -> None:
    # The default: without it, chats wait in the queue for an agent as before.
    async with live.visitor() as ws:
        await _hello(ws)
        await ws.send(
            json.dumps(
                {
                    "type": "offline_message",
                    "client_msg_id": "x",
                    "name": "Eve",
                    "email": "eve@example.com",
                    "text": "Hello?",
                }
            )
        )
        error = await _next(ws, "error")
        assert error["code"] == "bad_frame"
    assert await live.scalar(select(func.count()).select_from(Case)) == 0


async def test_a_chat_needing_the_pre_chat_form_does_not_start_without_it(live: Live) -> None:
    await _configure(live, prechat_fields=["email"], prechat_required=["email"])
    async with live.visitor() as ws:
        await _hello(ws)
        await ws.send(json.dumps({"type": "message", "client_msg_id": "early", "text": "Hi"}))
        error = await _next(ws, "error")
        assert (error["code"], error["client_msg_id"]) == ("bad_frame", "early")
        assert error["fields"] == [{"field": "details.email", "message": "Field required"}]
        assert await live.scalar(select(func.count()).select_from(Interaction)) == 0
        await ws.send(json.dumps({"type": "details", "email": "eve@example.com"}))
        await _next(ws, "details_saved")
        assert (await _say(ws, "Hi", "after"))["seq"] == 1
