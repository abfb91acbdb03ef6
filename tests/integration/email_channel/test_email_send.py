"""Mail out through the agent's REST API, with a real SMTP server (aiosmtpd) and a real
Dovecot, on SQLite and PostgreSQL: replies carry the threading headers and the case
token, the customer's answer comes back by IMAP into the same case, a refused or
unreachable server keeps the email for a retry, and only the agent with the email (or
a supervisor) may touch it."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from parley.email_channel.agent_service import MAX_ATTACHMENT_BYTES
from parley.email_channel.api import email_desk
from parley.email_channel.service import IngestPolicy, MailboxIngest
from parley.platform.config import Settings
from parley.platform.engine import Engine
from parley.platform.models import (
    Case,
    CaseStatus,
    EmailAccount,
    Interaction,
    InteractionState,
    Message,
    Queue,
    Role,
    RoutingStrategy,
    TlsMode,
)
from parley.platform.secret_box import SecretBox
from tests.conftest import Api, free_port
from tests.integration.email_channel.conftest import SMTP_USERS, Dovecot, SmtpServer, body_of

SUPPORT = "support@parley.test"
CUSTOMER = "ivan@example.org"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Agents here are driven through the engine, without a desktop heartbeating.
    return settings.model_copy(update={"presence_timeout_seconds": 3600.0})


@dataclass
class Desk:
    api: Api
    dovecot: Dovecot
    smtp: SmtpServer
    account_id: int
    agent_id: int
    agent: httpx.AsyncClient
    other: httpx.AsyncClient
    supervisor: httpx.AsyncClient
    admin: httpx.AsyncClient

    @property
    def runtime(self) -> Any:
        return self.api.app.state.runtime  # type: ignore[attr-defined]

    @property
    def engine(self) -> Engine:
        engine: Engine = self.runtime.engine
        return engine

    def ingest(self) -> MailboxIngest:
        return MailboxIngest(
            self.runtime.database,
            self.runtime.settings,
            self.engine.enqueue,
            IngestPolicy(timeout=10),
            outbox=email_desk(self.api.app).outbox,  # type: ignore[arg-type]
        )

    async def receive(self, raw: bytes) -> None:
        """The customer's mail lands in our mailbox and is ingested."""
        await self.dovecot.append("alice", raw)
        await self.ingest().ingest_once(self.account_id)

    async def take(self) -> int:
        """The agent accepts the email that was offered; its interaction id."""
        [offer] = self.engine.ringing_offers(self.agent_id)
        return await self.engine.accept(self.agent_id, offer.offer_id)

    async def messages(self) -> list[Message]:
        async with self.runtime.database.transaction() as db:
            return list(await db.scalars(select(Message).order_by(Message.id)))

    async def get(self, model: type[Any], key: int) -> Any:
        async with self.runtime.database.transaction() as db:
            return await db.get_one(model, key)


def mail(
    subject: str,
    body: str = "Hello, my order has not arrived.",
    *,
    sender: str = f"Ivan Petrov <{CUSTOMER}>",
    cc: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    attachment: bytes | None = None,
) -> tuple[bytes, str]:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message_id = f"<{uuid.uuid4().hex}@example.org>"
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = references or in_reply_to
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="invoice.pdf"
        )
    return message.as_bytes(), message_id


@pytest.fixture
async def desk(api: Api, dovecot: Dovecot, smtp_server: SmtpServer) -> AsyncIterator[Desk]:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    sealer = SecretBox(runtime.settings.resolved_secret_key())
    async with runtime.database.transaction() as db:
        queue = Queue(name="Mail", channels=["email"], strategy=RoutingStrategy.LONGEST_IDLE)
        db.add(queue)
        await db.flush()
        account = EmailAccount(
            name="Parley Support",
            queue_id=queue.id,
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_username="alice",
            imap_password_sealed=sealer.seal(dovecot.users["alice"]),
            imap_tls=TlsMode.NONE,
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_username="parley-out",
            smtp_password_sealed=sealer.seal(SMTP_USERS["parley-out"]),
            smtp_tls=TlsMode.NONE,
            from_address=SUPPORT,
        )
        db.add(account)
        await db.flush()
        account_id = account.id
    await runtime.engine.reload_configuration()
    agent = await api.token_for(Role.AGENT)
    other = await api.token_for(Role.AGENT)
    supervisor = await api.token_for(Role.SUPERVISOR)
    admin = await api.token_for(Role.ADMIN)
    agent_id = (await agent.get("/api/auth/me")).json()["id"]
    await runtime.engine.login(agent_id)
    await runtime.engine.request_ready(agent_id)
    yield Desk(api, dovecot, smtp_server, account_id, agent_id, agent, other, supervisor, admin)
    for client in (agent, other, supervisor, admin):
        await client.aclose()


async def test_a_reply_carries_threading_headers_and_the_answer_threads_back(
    desk: Desk,
) -> None:
    raw, customer_id = mail("Where is my order?")
    await desk.receive(raw)
    interaction_id = await desk.take()

    thread = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()
    [incoming] = thread["messages"]
    assert incoming["message_id"] == customer_id and incoming["direction"] == "inbound"
    assert incoming["from"] == {"name": "Ivan Petrov", "address": CUSTOMER}
    case_id = thread["case_id"]

    response = await desk.agent.post(
        f"/api/emails/{interaction_id}/send",
        json={"text": "It left our warehouse today.", "html": "<p>It left <b>today</b>.</p>"},
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["status"] == "sent" and sent["case_id"] == case_id
    assert sent["message_id"].endswith("@parley.test>")

    [delivered] = await desk.smtp.wait_for(1)
    assert delivered.rcpt_tos == (CUSTOMER,)
    assert delivered.mail_from == SUPPORT
    assert delivered.login == "parley-out"  # the sealed SMTP credentials were used
    out = delivered.parsed()
    assert out["Message-ID"] == sent["message_id"]
    assert out["In-Reply-To"] == customer_id
    assert out["References"] == customer_id
    assert out["Subject"] == f"Re: Where is my order? [#{case_id}]"
    assert str(out["From"]) == f"Parley Support <{SUPPORT}>"
    assert "Auto-Submitted" not in out
    assert body_of(out, "plain").strip() == "It left our warehouse today."
    assert "<b>today</b>" in body_of(out, "html")
    case = await desk.get(Case, case_id)
    assert case.status is CaseStatus.PENDING and case.assignee_id == desk.agent_id

    # The customer answers our reply (their client drops the subject token).
    answer, answer_id = mail(
        "Re: Where is my order?",
        "Thanks, and the tracking number?",
        in_reply_to=sent["message_id"],
        references=f"{customer_id} {sent['message_id']}",
    )
    await desk.receive(answer)
    messages = await desk.messages()
    assert [m.external_id for m in messages] == [customer_id, sent["message_id"], answer_id]
    assert {m.case_id for m in messages} == {case_id}
    assert messages[2].headers["thread"]["reason"] == "in_reply_to"
    assert messages[2].interaction_id == interaction_id  # still with the agent
    assert (await desk.get(Case, case_id)).status is CaseStatus.OPEN

    thread = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()
    assert [m["direction"] for m in thread["messages"]] == ["inbound", "outbound", "inbound"]
    mine = thread["messages"][1]
    assert mine["delivery"]["status"] == "sent" and mine["delivery"]["attempts"] == 1
    assert mine["to"] == [{"name": "", "address": CUSTOMER}]


async def test_a_refused_or_unreachable_server_keeps_the_email_for_a_retry(
    desk: Desk,
) -> None:
    await desk.receive(mail("Refund please")[0])
    interaction_id = await desk.take()
    outcomes = desk.runtime.bus.subscribe("email.*")
    async with desk.runtime.database.transaction() as db:
        account = await db.get_one(EmailAccount, desk.account_id)
        account.smtp_port = free_port()  # nothing listens there

    response = await desk.agent.post(
        f"/api/emails/{interaction_id}/send", json={"text": "Your refund is on its way."}
    )
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "email_not_sent" and "kept" in error["message"]
    [_, kept] = await desk.messages()
    assert kept.body_text == "Your refund is on its way."
    assert kept.headers["delivery"]["status"] == "failed"
    assert kept.headers["delivery"]["is_temporary"] is True
    assert "cannot deliver" in kept.headers["delivery"]["error"]

    async with desk.runtime.database.transaction() as db:
        account = await db.get_one(EmailAccount, desk.account_id)
        account.smtp_port = desk.smtp.port
    desk.smtp.refuse_with = "451 4.3.0 Mailbox busy, try later"
    retried = await desk.agent.post(f"/api/email-messages/{kept.id}/retry")
    assert retried.status_code == 502
    thread = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()
    failed = thread["messages"][1]["delivery"]
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert "451" in failed["error"] and failed["is_temporary"] is True
    assert desk.smtp.received == []

    desk.smtp.refuse_with = None
    # Only the agent with the email, or a supervisor, may retry it.
    assert (await desk.other.post(f"/api/email-messages/{kept.id}/retry")).status_code == 403
    retried = await desk.supervisor.post(f"/api/email-messages/{kept.id}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "sent"
    [delivered] = await desk.smtp.wait_for(1)
    assert delivered.parsed()["Message-ID"] == kept.external_id  # the same email
    again = await desk.agent.post(f"/api/email-messages/{kept.id}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_retryable"
    assert len(desk.smtp.received) == 1

    async with outcomes:
        events = [await asyncio.wait_for(anext(outcomes), 5) for _ in range(3)]
    assert [event.type for event in events] == [
        "email.send_failed",
        "email.send_failed",
        "email.sent",
    ]
    assert events[2].payload == {
        "message_id": kept.id,
        "case_id": kept.case_id,
        "interaction_id": interaction_id,
        "agent_id": desk.agent_id,
    }


async def test_reply_all_and_forward_with_attachments_within_limits(desk: Desk) -> None:
    raw, customer_id = mail(
        "Broken kettle",
        cc=f"Anna <anna@example.org>, {SUPPORT}",
        attachment=b"%PDF-1.4 the receipt",
    )
    await desk.receive(raw)
    interaction_id = await desk.take()

    reply_all = await desk.agent.post(
        f"/api/emails/{interaction_id}/send",
        json={"mode": "reply_all", "text": "We will replace it."},
    )
    assert reply_all.status_code == 201, reply_all.text
    [first] = await desk.smtp.wait_for(1)
    assert set(first.rcpt_tos) == {CUSTOMER, "anna@example.org"}  # not ourselves
    assert first.parsed()["Cc"] == "anna@example.org"

    photo = base64.b64encode(b"\x89PNG fake photo").decode()
    forward = await desk.agent.post(
        f"/api/emails/{interaction_id}/send",
        json={
            "mode": "forward",
            "to": ["Repairs <repairs@example.net>"],
            "text": "Please have a look.",
            "attachments": [
                {"filename": "photo.png", "content_type": "image/png", "content_base64": photo}
            ],
        },
    )
    assert forward.status_code == 201, forward.text
    [_, second] = await desk.smtp.wait_for(2)
    assert second.rcpt_tos == ("repairs@example.net",)
    out = second.parsed()
    case_id = forward.json()["case_id"]
    assert out["Subject"] == f"Fwd: Broken kettle [#{case_id}]"
    assert out["In-Reply-To"] is None and customer_id in out["References"]
    text = body_of(out, "plain")
    assert "Please have a look." in text and "Forwarded message" in text
    files = {part.get_filename(): part.get_content() for part in out.iter_attachments()}
    assert files == {"invoice.pdf": b"%PDF-1.4 the receipt", "photo.png": b"\x89PNG fake photo"}

    # The stored copy serves its attachments to the agent who has the email.
    thread = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()
    stored = thread["messages"][-1]
    assert [a["filename"] for a in stored["attachments"]] == ["invoice.pdf", "photo.png"]
    download = await desk.agent.get(stored["attachments"][1]["url"])
    assert download.status_code == 200 and download.content == b"\x89PNG fake photo"
    assert download.headers["content-type"] == "image/png"
    pdf = await desk.agent.get(stored["attachments"][0]["url"])
    assert pdf.headers["content-type"] == "application/octet-stream"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert (await desk.other.get(stored["attachments"][0]["url"])).status_code == 403

    too_big = base64.b64encode(b"x" * (MAX_ATTACHMENT_BYTES + 1)).decode()
    refused = await desk.agent.post(
        f"/api/emails/{interaction_id}/send",
        json={
            "text": "Too much",
            "attachments": [{"filename": "big.bin", "content_base64": too_big}],
        },
    )
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "attachment_too_large"
    forward_nobody = await desk.agent.post(
        f"/api/emails/{interaction_id}/send", json={"mode": "forward", "text": "?"}
    )
    assert forward_nobody.status_code == 422
    assert len(desk.smtp.received) == 2


async def test_drafts_are_saved_changed_sent_once_and_deleted(desk: Desk) -> None:
    await desk.receive(mail("Invoice question")[0])
    interaction_id = await desk.take()
    created = await desk.agent.post(
        f"/api/emails/{interaction_id}/drafts", json={"text": "Dear Ivan,"}
    )
    assert created.status_code == 201, created.text
    draft = created.json()
    case_id = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()["case_id"]
    assert draft["to"] == [CUSTOMER] and draft["cc"] == []
    assert draft["subject"] == f"Re: Invoice question [#{case_id}]"

    note = base64.b64encode(b"terms").decode()
    changed = await desk.agent.patch(
        f"/api/email-drafts/{draft['id']}",
        json={
            "text": "Dear Ivan, see the terms.",
            "subject": "Your invoice",
            "attachments": [{"filename": "terms.txt", "content_base64": note}],
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["subject"] == f"Your invoice [#{case_id}]"
    assert [a["filename"] for a in changed.json()["attachments"]] == ["terms.txt"]
    kept_none = await desk.agent.patch(
        f"/api/email-drafts/{draft['id']}", json={"keep_attachments": []}
    )
    assert kept_none.json()["attachments"] == []
    listed = (await desk.agent.get(f"/api/emails/{interaction_id}/drafts")).json()
    assert [d["text"] for d in listed] == ["Dear Ivan, see the terms."]
    assert (await desk.other.get(f"/api/emails/{interaction_id}/drafts")).status_code == 403
    refused = await desk.other.patch(f"/api/email-drafts/{draft['id']}", json={"text": "x"})
    assert refused.status_code == 403

    sent = await desk.agent.post(f"/api/email-drafts/{draft['id']}/send")
    assert sent.status_code == 201, sent.text
    [delivered] = await desk.smtp.wait_for(1)
    out = delivered.parsed()
    assert out["Subject"] == f"Your invoice [#{case_id}]"
    assert body_of(out, "plain").strip() == "Dear Ivan, see the terms."
    assert (await desk.agent.get(f"/api/emails/{interaction_id}/drafts")).json() == []
    again = await desk.agent.post(f"/api/email-drafts/{draft['id']}/send")
    assert again.status_code == 404
    assert len(desk.smtp.received) == 1

    spare = (await desk.agent.post(f"/api/emails/{interaction_id}/drafts", json={})).json()
    assert (await desk.other.delete(f"/api/email-drafts/{spare['id']}")).status_code == 403
    assert (await desk.agent.delete(f"/api/email-drafts/{spare['id']}")).status_code == 204
    assert (await desk.agent.delete(f"/api/email-drafts/{spare['id']}")).status_code == 404


async def test_templates_are_admin_managed_sandboxed_and_filled_in(desk: Desk) -> None:
    await desk.receive(mail("Delivery", sender=f"Ivan & Co <{CUSTOMER}>")[0])
    interaction_id = await desk.take()
    body = {
        "name": "Delivery update",
        "subject": "About {{ case.token }}",
        "body_text": "Dear {{ contact.name }},\nyour {{ message.subject }}.\n{{ agent.name }}",
        "body_html": "<p>Dear {{ contact.name }}</p>",
    }
    assert (await desk.agent.post("/api/email-templates", json=body)).status_code == 403
    created = await desk.admin.post("/api/email-templates", json=body)
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    broken = await desk.admin.post(
        "/api/email-templates", json={"name": "Broken", "body_text": "{{ case.number"}
    )
    assert broken.status_code == 422
    listed = (await desk.agent.get("/api/email-templates")).json()
    assert [t["name"] for t in listed["items"]] == ["Delivery update"]

    rendered = await desk.agent.post(
        f"/api/emails/{interaction_id}/render-template", json={"template_id": template_id}
    )
    assert rendered.status_code == 200, rendered.text
    case_id = (await desk.get(Interaction, interaction_id)).case_id
    assert rendered.json() == {
        "subject": f"About [#{case_id}]",
        "text": "Dear Ivan & Co,\nyour Delivery.\nTest agent",
        "html": "<p>Dear Ivan &amp; Co</p>",
    }
    refused = await desk.other.post(
        f"/api/emails/{interaction_id}/render-template", json={"template_id": template_id}
    )
    assert refused.status_code == 403

    escape = await desk.admin.post(
        "/api/email-templates",
        json={"name": "Escape", "body_text": "{{ case.__class__.__mro__[1].__subclasses__() }}"},
    )
    assert escape.status_code == 201  # it parses; the sandbox refuses it when run
    attempt = await desk.agent.post(
        f"/api/emails/{interaction_id}/render-template",
        json={"template_id": escape.json()["id"]},
    )
    assert attempt.status_code == 422
    assert attempt.json()["error"]["code"] == "template_failed"
    assert "unsafe" in attempt.json()["error"]["message"]


async def test_close_without_reply_ends_the_interaction_and_resolves_the_case(
    desk: Desk,
) -> None:
    await desk.receive(mail("Spam-ish question")[0])
    interaction_id = await desk.take()
    assert (
        await desk.other.post(f"/api/emails/{interaction_id}/close", json={})
    ).status_code == 403
    closed = await desk.agent.post(f"/api/emails/{interaction_id}/close", json={})
    assert closed.status_code == 204, closed.text
    interaction = await desk.get(Interaction, interaction_id)
    assert interaction.state in (InteractionState.WRAP_UP, InteractionState.ENDED)
    assert interaction.attributes["closed_without_reply"] is True
    assert (await desk.get(Case, interaction.case_id)).status is CaseStatus.RESOLVED
    again = await desk.agent.post(f"/api/emails/{interaction_id}/close", json={})
    assert again.status_code == 409
    assert (await desk.agent.post("/api/emails/999999/close", json={})).status_code == 404
    assert desk.smtp.received == []

    # A supervisor withdraws one still waiting in the queue.
    await desk.engine.logout(desk.agent_id)
    await desk.receive(mail("Another one")[0])
    [*_, waiting] = await desk.messages()
    assert waiting.interaction_id is not None
    withdrawn = await desk.supervisor.post(
        f"/api/emails/{waiting.interaction_id}/close", json={"resolve_case": False}
    )
    assert withdrawn.status_code == 204, withdrawn.text
    assert (await desk.get(Interaction, waiting.interaction_id)).state is (
        InteractionState.ABANDONED
    )


async def test_a_new_email_opens_a_case_that_the_answer_threads_into(desk: Desk) -> None:
    response = await desk.agent.post(
        "/api/emails",
        json={
            "account_id": desk.account_id,
            "to": ["Olga <olga@example.org>"],
            "subject": "Your invoice",
            "text": "Please find it attached.",
            "attachments": [
                {
                    "filename": "invoice.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(b"%PDF-1.4").decode(),
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    [delivered] = await desk.smtp.wait_for(1)
    out = delivered.parsed()
    assert delivered.rcpt_tos == ("olga@example.org",)
    assert out["Subject"] == f"Your invoice [#{sent['case_id']}]"
    assert out["In-Reply-To"] is None
    case = await desk.get(Case, sent["case_id"])
    assert case.status is CaseStatus.PENDING and case.assignee_id == desk.agent_id

    answer, _ = mail(
        "Re: Your invoice",
        "Thanks!",
        sender="olga@example.org",
        in_reply_to=sent["message_id"],
    )
    await desk.receive(answer)
    [_, answered] = await desk.messages()
    assert answered.case_id == sent["case_id"]
    assert answered.author_contact_id == case.contact_id  # the same contact
    assert answered.interaction_id is not None  # queued to agents
    bad = await desk.agent.post(
        "/api/emails", json={"account_id": desk.account_id, "to": ["nope"], "subject": "x"}
    )
    assert bad.status_code == 422


async def test_only_the_agent_with_the_email_or_a_supervisor_reads_it(desk: Desk) -> None:
    await desk.receive(mail("Private")[0])
    interaction_id = await desk.take()
    url = f"/api/emails/{interaction_id}"
    assert (await desk.agent.get(url)).status_code == 200
    assert (await desk.supervisor.get(url)).status_code == 200
    assert (await desk.admin.get(url)).status_code == 200
    assert (await desk.other.get(url)).status_code == 403
    assert (await desk.api.client.get(url)).status_code == 401
    assert (await desk.agent.get("/api/emails/999999")).status_code == 404
    refused = await desk.other.post(f"{url}/send", json={"text": "Hi"})
    assert refused.status_code == 403
    assert desk.smtp.received == []


async def test_html_in_the_thread_is_sanitized(desk: Desk) -> None:
    message = EmailMessage()
    message["From"] = CUSTOMER
    message["To"] = SUPPORT
    message["Subject"] = "Look"
    message["Message-ID"] = "<html-1@example.org>"
    message.set_content("plain")
    message.add_alternative(
        '<p onclick="steal()">Hi<script>alert(1)</script>'
        '<a href="javascript:alert(2)">x</a><img src="cid:logo"></p>',
        subtype="html",
    )
    html_part = message.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo>")
    await desk.receive(message.as_bytes())
    interaction_id = await desk.take()
    [shown] = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()["messages"]
    assert "script" not in shown["html"] and "onclick" not in shown["html"]
    assert "javascript:" not in shown["html"]
    assert f'src="/api/email-messages/{shown["id"]}/attachments/0"' in shown["html"]
