"""Email handled in the desktop with real mail servers behind it: a customer's mail is
delivered into Dovecot, Parley's mailbox picks it up by IDLE and the router offers it;
the agent accepts, reads the thread (the HTML in a sandboxed frame, the attachment as a
download), replies from a template through a saved and restored draft, and the reply
reaches the SMTP server (aiosmtpd) with its threading headers. Another email is closed
without a reply, which resolves its case and sends nothing. One is moved to another queue
and then found by a search, which opens its case; one is written in rich text with an
inline image."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from parley.platform.db import create_database
from parley.platform.models import (
    Case,
    CaseStatus,
    Channel,
    EmailAccount,
    EmailTemplate,
    Message,
    Queue,
    TlsMode,
)
from parley.platform.secret_box import SecretBox
from tests.e2e.conftest import Parley, Screens, _seed, e2e_settings, log_in, serve_parley
from tests.e2e.test_desktop import go_ready
from tests.integration.email_channel import conftest as mail_servers
from tests.integration.email_channel.conftest import SMTP_USERS, Dovecot, SmtpServer, body_of

# The real Dovecot and SMTP server of the email channel's integration tests.
dovecot = mail_servers.dovecot
smtp_server = mail_servers.smtp_server

SUPPORT = "support@parley.test"
CUSTOMER = "ivan@example.org"
TEMPLATE_TEXT = "Dear {{ contact.name }},\nyour order left our warehouse today.\n{{ agent.name }}"
OFFER_SECONDS = 15_000  # ms: IDLE delivery (≤ 2 s) plus the router's offer
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
async def parley(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> AsyncIterator[Parley]:
    """The seeded center with a mailbox: Dovecot's `alice` is support@parley.test, it
    sends through the SMTP server, and its mail goes to the Mail queue (no disposition
    needed), with a template for replies."""
    settings = e2e_settings(tmp_path)
    seeded = await _seed(settings)
    sealer = SecretBox(settings.resolved_secret_key())
    database = create_database(settings.resolved_database_url)
    try:
        async with database.transaction() as db:
            queue = Queue(
                name="Mail",
                channels=[Channel.EMAIL.value],
                offer_timeout_seconds=30,
                wrap_up_seconds=60,
                disposition_required=False,
            )
            db.add(queue)
            await db.flush()
            db.add_all(
                [
                    EmailAccount(
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
                    ),
                    EmailTemplate(name="Order shipped", body_text=TEMPLATE_TEXT),
                    Queue(name="Billing", channels=[Channel.EMAIL.value], wrap_up_seconds=60),
                ]
            )
    finally:
        await database.dispose()
    async with serve_parley(settings, seeded) as served:
        yield served


def customer_mail(subject: str, *, html: str, attachment: bytes | None = None) -> tuple[bytes, str]:
    message = EmailMessage()
    message["From"] = f"Ivan Petrov <{CUSTOMER}>"
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message_id = f"<{uuid.uuid4().hex}@example.org>"
    message["Message-ID"] = message_id
    message.set_content("The text part.")
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="receipt.pdf"
        )
    return message.as_bytes(), message_id


async def accept_email(page: Any) -> int:
    offer = page.get_by_role("alertdialog", name="Incoming Email")
    await expect(offer).to_be_visible(timeout=OFFER_SECONDS)
    await offer.get_by_role("button", name="Accept").click()
    await expect(page.locator("#state-name")).to_have_text("Busy")
    panel = page.locator(".email")
    await expect(panel).to_be_visible()
    return int(await panel.get_attribute("data-interaction-id"))


async def test_agent_reads_the_thread_and_replies_with_a_template(
    page: Any, parley: Parley, dovecot: Dovecot, smtp_server: SmtpServer, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    raw, customer_id = customer_mail(
        "Where is my order?",
        html='<p onclick="steal()">My order <b>has not arrived</b>.<script>alert(1)</script></p>',
        attachment=b"%PDF-1.4 the receipt",
    )
    await dovecot.append("alice", raw)
    await accept_email(page)

    message = page.locator(".email-message")
    await expect(message).to_have_count(1)
    await expect(message).to_contain_text(f"Ivan Petrov <{CUSTOMER}>")
    await expect(message).to_contain_text(SUPPORT)
    await expect(message).to_contain_text("Where is my order?")
    frame_element = message.locator("iframe.email-body-frame")
    sandbox = await frame_element.get_attribute("sandbox")
    assert sandbox is not None and "allow-scripts" not in sandbox
    body = page.frame_locator(".email-body-frame").locator("body")
    await expect(body).to_contain_text("My order has not arrived.")
    await expect(body.locator("b")).to_have_text("has not arrived")
    await expect(body.locator("script")).to_have_count(0)
    assert await body.locator("p").get_attribute("onclick") is None
    download = message.get_by_role("link", name="receipt.pdf")
    href = await download.get_attribute("href")
    assert href is not None and re.fullmatch(r"/api/email-messages/\d+/attachments/\d+", href)
    fetched = await page.request.get(f"{parley.url}{href}")
    assert fetched.ok and await fetched.body() == b"%PDF-1.4 the receipt"
    await screens.shot(page, "thread")

    # Reply: the server's recipients and subject; a template fills the body.
    await page.get_by_role("button", name="Reply", exact=True).click()
    to = page.get_by_label("To", exact=True)
    await expect(to).to_have_value(CUSTOMER)
    await expect(page.get_by_label("Cc", exact=True)).to_have_value("")
    subject = page.get_by_label("Subject", exact=True)
    await expect(subject).to_have_value(re.compile(r"^Re: Where is my order\? \[#\d+\]$"))
    await page.get_by_label("Template").select_option(label="Order shipped")
    text = page.get_by_label("Message", exact=True)
    expected = "Dear Ivan Petrov,\nyour order left our warehouse today.\nAnna Ivanova"
    await expect(text).to_have_text(expected, use_inner_text=True)
    await expect(page.locator(".email-attach")).to_contain_text("Up to 10 MB a file, 25 MB in all.")
    await page.get_by_label("Attach files").set_input_files(
        {"name": "tracking.txt", "mimeType": "text/plain", "buffer": b"Parcel 123"}
    )
    await expect(page.locator(".email-files")).to_contain_text("tracking.txt")
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.locator(".toast")).to_contain_text("Draft saved.")
    await screens.shot(page, "draft-from-template")

    # The draft is there again after a reload.
    await page.reload()
    await page.locator("#connection[data-online=true]").wait_for()
    await expect(page.get_by_label("Message", exact=True)).to_have_text(
        expected, use_inner_text=True
    )
    await expect(page.get_by_label("To", exact=True)).to_have_value(CUSTOMER)
    await expect(page.get_by_role("button", name="Reply", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(page.locator(".email-files")).to_contain_text("tracking.txt")

    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator(".toast").last).to_contain_text("Email sent.")
    [delivered] = await smtp_server.wait_for(1)
    assert delivered.rcpt_tos == (CUSTOMER,)
    out = delivered.parsed()
    assert out["In-Reply-To"] == customer_id
    assert customer_id in out["References"]
    assert re.fullmatch(r"Re: Where is my order\? \[#\d+\]", str(out["Subject"]))
    assert body_of(out, "plain").replace("\r\n", "\n").strip() == expected
    files = {part.get_filename(): part.get_content() for part in out.iter_attachments()}
    assert files == {"tracking.txt": "Parcel 123"}
    await expect(message).to_have_count(2)
    await expect(message.last).to_have_class(re.compile(r"\bfrom-outbound\b"))
    await expect(page.locator(".email-form")).to_be_hidden()
    await screens.shot(page, "replied")

    await page.get_by_role("button", name="End", exact=True).click()
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    await page.locator("form.wrapup").get_by_role("button", name="Done").click()
    await expect(page.locator("#state-name")).to_have_text("Ready")


async def test_close_without_reply_resolves_the_case_and_sends_nothing(
    page: Any, parley: Parley, dovecot: Dovecot, smtp_server: SmtpServer, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    raw, _ = customer_mail("Thanks, all fine now", html="<p>No need to answer.</p>")
    await dovecot.append("alice", raw)
    interaction_id = await accept_email(page)
    await expect(page.frame_locator(".email-body-frame").locator("body")).to_contain_text(
        "No need to answer."
    )

    # A forward needs a recipient: the server's message says so under the composer.
    await page.get_by_role("button", name="Forward", exact=True).click()
    await expect(page.get_by_label("To", exact=True)).to_have_value("")
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.locator(".email-form .form-error")).to_have_text(
        "Say whom to send this email to."
    )
    await screens.shot(page, "forward-without-recipient")
    await page.get_by_role("button", name="Discard draft").click()
    await expect(page.locator(".email-form")).to_be_hidden()

    await page.get_by_role("button", name="Close without reply").click()
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    await expect(page.locator("form.wrapup")).to_be_visible()
    await screens.shot(page, "closed-without-reply")
    interaction = await parley.interaction(interaction_id)
    assert interaction.attributes["closed_without_reply"] is True
    async with parley.app.state.runtime.database.transaction() as db:
        case = await db.get_one(Case, interaction.case_id)
        assert case.status is CaseStatus.RESOLVED
    assert smtp_server.received == []


async def test_change_queue_then_find_the_email_and_open_its_case(
    page: Any, parley: Parley, dovecot: Dovecot, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    raw, _ = customer_mail("Wrong department: invoice 77", html="<p>Please fix invoice 77.</p>")
    await dovecot.append("alice", raw)
    interaction_id = await accept_email(page)
    case_id = (await parley.interaction(interaction_id)).case_id
    await page.get_by_role("button", name="Show the case").click()
    await expect(page.locator(".case-title")).to_have_text(
        f"Case #{case_id} Wrong department: invoice 77"
    )

    panel = page.locator(".email")
    await panel.get_by_label("Queue", exact=True).select_option(label="Billing")
    await panel.get_by_role("button", name="Change queue").click()
    await expect(page.locator(".toast").last).to_contain_text("Moved to Billing.")
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    moved = await parley.interaction(interaction_id)
    assert moved.attributes["moved_to"]
    queued = await parley.interaction(int(moved.attributes["moved_to"]))
    assert queued.case_id == moved.case_id and queued.state.value == "queued"
    async with parley.app.state.runtime.database.transaction() as db:
        billing = await db.get_one(Queue, queued.queue_id)
        assert billing.name == "Billing"
    await screens.shot(page, "moved")

    await page.get_by_role("tab", name="Emails").click()
    await page.get_by_label("Search emails").fill("invoice 77")
    await page.get_by_role("search").get_by_role("button", name="Search").click()
    found = page.locator(".email-results .email-found")
    await expect(found).to_have_count(1)
    await expect(found).to_contain_text(f"Case #{moved.case_id}")
    await expect(found).to_contain_text("The text part.")
    await screens.shot(page, "search")
    # No longer in hand: it opens the case, with the email in its timeline.
    await found.get_by_role("button", name="Wrong department: invoice 77").click()
    await expect(page.locator("#side-cases")).to_be_visible()
    await expect(page.locator(".case-title")).to_contain_text(f"Case #{moved.case_id}")
    await expect(page.locator(".case-timeline")).to_contain_text("The text part.")


async def test_rich_text_with_an_inline_image_is_sent_as_html_and_text(
    page: Any, parley: Parley, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    raw, _ = customer_mail("Photo please", html="<p>Show me the part.</p>")
    await dovecot.append("alice", raw)
    await accept_email(page)
    await page.get_by_role("button", name="Reply", exact=True).click()
    editor = page.get_by_label("Message", exact=True)
    await editor.click()
    await page.get_by_role("button", name="Bold").click()
    await page.keyboard.type("Here it is")
    await page.get_by_role("button", name="Bold").click()
    await page.keyboard.type(" as promised.")
    async with page.expect_file_chooser() as chooser_info:
        await page.get_by_role("button", name="Insert image").click()
    chooser = await chooser_info.value
    await chooser.set_files({"name": "part.png", "mimeType": "image/png", "buffer": PIXEL})
    await expect(editor.locator("img")).to_have_count(1)
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator(".toast").last).to_contain_text("Email sent.")
    [delivered] = await smtp_server.wait_for(1)
    out = delivered.parsed()
    html = body_of(out, "html")
    assert "<b>Here it is</b>" in html and "as promised." in html
    match = re.search(r'src="cid:([^"]+)"', html)
    assert match is not None
    [image] = [part for part in out.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == f"<{match.group(1)}>" and image.get_content() == PIXEL
    assert body_of(out, "plain").strip() == "Here it is as promised."


async def test_agent_masks_a_card_number_and_pins_the_email(
    page: Any, parley: Parley, dovecot: Dovecot
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    raw, _ = customer_mail(
        "Pay by card", html="<p>My card: <b>4111 1111 1111 1111</b>, code word marmalade.</p>"
    )
    await dovecot.append("alice", raw)
    interaction_id = await accept_email(page)
    body = page.frame_locator(".email-body-frame").locator("body")
    await expect(body).to_contain_text("4111 1111 1111 1111")

    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Mask card and account numbers").click()
    await expect(page.locator(".toast").last).to_contain_text("Masked in messages: 1.")
    await expect(body).not_to_contain_text("4111")
    await expect(body.locator("b")).to_have_text("████")

    # The agent selects a word in the email and masks it.
    await body.evaluate(
        """(element) => {
          const text = [...element.querySelectorAll("p")].pop().lastChild;
          const at = text.textContent.indexOf("marmalade");
          const range = element.ownerDocument.createRange();
          range.setStart(text, at);
          range.setEnd(text, at + "marmalade".length);
          const selection = element.ownerDocument.defaultView.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        }"""
    )
    await page.get_by_role("button", name="Mask selection").click()
    await expect(body).not_to_contain_text("marmalade")
    interaction = await parley.interaction(interaction_id)
    async with parley.app.state.runtime.database.transaction() as db:
        [stored] = await db.scalars(select(Message).where(Message.case_id == interaction.case_id))
    assert "4111" not in stored.body_html and "marmalade" not in stored.body_html
    assert "4111" not in stored.body_text

    await page.get_by_role("button", name="Pin to me").click()
    await expect(page.locator(".toast").last).to_contain_text("Pinned: it stays in your emails.")
    await expect(page.get_by_role("button", name="Unpin")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("tab", name="Emails").click()
    pinned = page.locator(".email-personal .email-found")
    await expect(pinned).to_contain_text("Pay by card")
    await expect(pinned).to_contain_text("Pinned to you")
