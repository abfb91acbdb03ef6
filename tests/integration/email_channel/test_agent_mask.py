"""Masking confidential data in a stored thread (F-EM-4), on SQLite and PostgreSQL: the
text the agent selected and detected card or account numbers are replaced in the stored
text and HTML for good, the change is audit-logged without the original, and only the
agent with the email or a supervisor may do it."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select

from parley.email_channel.masking import MASK
from parley.platform.models import AuditLog, Message
from tests.integration.email_channel import test_email_send as sending
from tests.integration.email_channel.test_email_send import CUSTOMER, SUPPORT, Desk, mail

# The mail servers, the agents and the mailbox of the sending tests.
desk = sending.desk
settings = sending.settings

CARD = "4111 1111 1111 1111"
ACCOUNT = "40817810099910004312"


def _html_mail(subject: str, text: str, html: str) -> bytes:
    message = EmailMessage()
    message["From"] = CUSTOMER
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = "<masking-1@example.org>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


async def test_detected_numbers_and_a_selection_are_masked_for_good(desk: Desk) -> None:
    await desk.receive(
        _html_mail(
            "Refund",
            f"My card is {CARD}, account {ACCOUNT}.\nMy password is hunter2.\nOrder 1234567890123.",
            f"<p>My card is <b>{CARD}</b>, account {ACCOUNT}.</p><p>My password is hunter2.</p>",
        )
    )
    interaction_id = await desk.take()
    url = f"/api/emails/{interaction_id}/mask"

    assert (await desk.other.post(url, json={"patterns": ["card"]})).status_code == 403
    nothing = await desk.agent.post(url, json={})
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "nothing_chosen"
    assert (await desk.agent.post(url, json={"patterns": ["pin"]})).status_code == 422

    masked = await desk.agent.post(
        url, json={"patterns": ["card", "account"], "selections": ["hunter2"]}
    )
    assert masked.status_code == 200, masked.text
    [stored] = [m for m in await desk.messages() if m.interaction_id == interaction_id]
    assert masked.json() == {"message_ids": [stored.id]}
    for body in (stored.body_text, stored.body_html):
        assert CARD not in body and ACCOUNT not in body and "hunter2" not in body
        assert MASK in body
    assert "1234567890123" in stored.body_text  # not a card: fails the Luhn check
    assert "<b>" in stored.body_html  # formatting kept
    thread = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()
    assert CARD not in thread["messages"][0]["html"] and MASK in thread["messages"][0]["text"]

    async with desk.runtime.database.transaction() as db:
        [entry] = await db.scalars(select(AuditLog).where(AuditLog.action == "mask"))
    assert entry.actor_user_id == desk.agent_id and entry.entity_id == str(interaction_id)
    assert entry.changes["messages"] == [stored.id] and entry.changes["masked"] >= 5
    assert "hunter2" not in str(entry.changes) and CARD not in str(entry.changes)

    again = await desk.agent.post(url, json={"patterns": ["card"]})
    assert again.status_code == 422 and again.json()["error"]["code"] == "nothing_to_mask"


async def test_a_selection_across_formatting_replaces_the_html_with_the_masked_text(
    desk: Desk,
) -> None:
    await desk.receive(
        _html_mail("Login", "User ivan\npassword s3cret", "<p>User ivan <i>password</i> s3cret</p>")
    )
    interaction_id = await desk.take()
    masked = await desk.supervisor.post(
        f"/api/emails/{interaction_id}/mask", json={"selections": ["password s3cret"]}
    )
    assert masked.status_code == 200, masked.text
    [stored] = [m for m in await desk.messages() if m.interaction_id == interaction_id]
    assert stored.body_text.split() == ["User", "ivan", MASK]
    assert "s3cret" not in stored.body_text and "s3cret" not in stored.body_html
    assert "<i>" not in stored.body_html and "User ivan" in stored.body_html


async def test_masking_one_message_leaves_the_others(desk: Desk) -> None:
    raw, first_id = mail("Card", f"Card {CARD}")
    await desk.receive(raw)
    interaction_id = await desk.take()
    answer, _ = mail("Re: Card", f"Again: {CARD}", in_reply_to=first_id)
    await desk.receive(answer)
    messages = [m for m in await desk.messages() if m.interaction_id == interaction_id]
    assert len(messages) == 2
    masked = await desk.agent.post(
        f"/api/emails/{interaction_id}/mask",
        json={"patterns": ["card"], "message_id": messages[1].id},
    )
    assert masked.json() == {"message_ids": [messages[1].id]}
    async with desk.runtime.database.transaction() as db:
        first = await db.get_one(Message, messages[0].id)
        second = await db.get_one(Message, messages[1].id)
    assert CARD in first.body_text and CARD not in second.body_text
    missing = await desk.agent.post(
        f"/api/emails/{interaction_id}/mask", json={"patterns": ["card"], "message_id": 999_999}
    )
    assert missing.status_code == 404
