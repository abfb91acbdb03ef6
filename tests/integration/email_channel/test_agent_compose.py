"""Rich text from the desktop's editor (F-EM-4), sent through a real SMTP server
(aiosmtpd), on SQLite and PostgreSQL: the HTML is sanitized on the server, a plain-text
alternative is made from it, and inline images travel as related parts named by cid."""

from __future__ import annotations

import base64

from tests.integration.email_channel import test_email_send as sending
from tests.integration.email_channel.conftest import body_of
from tests.integration.email_channel.test_email_send import Desk, mail

# The mail servers, the agents and the mailbox of the sending tests.
desk = sending.desk
settings = sending.settings

# A 1x1 transparent PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
EDITOR_HTML = (
    '<p onclick="steal()">Hello <b>Ivan</b>, <i>sorry</i>!</p>'
    "<ul><li>new lid</li><li>free delivery</li></ul>"
    '<p><a href="https://shop.example/track">Track it</a> <a href="javascript:alert(1)">x</a></p>'
    '<img src="cid:logo-1@parley"><img src="https://tracker.example/p.gif">'
    "<script>alert(1)</script><style>p{}</style>"
)


async def test_rich_text_is_sanitized_with_a_text_alternative_and_inline_images(
    desk: Desk,
) -> None:
    await desk.receive(mail("Broken lid")[0])
    interaction_id = await desk.take()
    response = await desk.agent.post(
        f"/api/emails/{interaction_id}/send",
        json={
            "html": EDITOR_HTML,
            "attachments": [
                {
                    "filename": "logo.png",
                    "content_type": "image/png",
                    "content_base64": base64.b64encode(PIXEL).decode(),
                    "content_id": "logo-1@parley",
                    "is_inline": True,
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    [delivered] = await desk.smtp.wait_for(1)
    out = delivered.parsed()
    html = body_of(out, "html")
    for gone in ("onclick", "script", "alert", "javascript:", "tracker.example", "<style"):
        assert gone not in html
    for kept in ("<b>Ivan</b>", "<i>sorry</i>", "<li>new lid</li>", 'src="cid:logo-1@parley"'):
        assert kept in html
    assert 'href="https://shop.example/track"' in html
    text = body_of(out, "plain")
    assert "Hello Ivan, sorry!" in text and "new lid" in text and "<" not in text
    [image] = [part for part in out.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<logo-1@parley>"
    assert image.get_content() == PIXEL

    # As stored, and as the thread shows it: the image served by Parley.
    [_, stored] = await desk.messages()
    assert "script" not in stored.body_html and "Hello Ivan" in stored.body_text
    thread = (await desk.agent.get(f"/api/emails/{interaction_id}")).json()
    shown = thread["messages"][1]["html"]
    assert f"/api/email-messages/{stored.id}/attachments/0" in shown


async def test_a_draft_keeps_only_sanitized_html(desk: Desk) -> None:
    await desk.receive(mail("Draft me")[0])
    interaction_id = await desk.take()
    created = await desk.agent.post(
        f"/api/emails/{interaction_id}/drafts",
        json={"mode": "reply", "html": '<p>Hi<script>x()</script> <img src="x" onerror="y">'},
    )
    assert created.status_code == 201, created.text
    draft = created.json()
    assert "script" not in draft["html"] and "onerror" not in draft["html"]
    assert draft["text"].strip() == "Hi"
    changed = await desk.agent.patch(
        f"/api/email-drafts/{draft['id']}",
        json={"html": "<p><strong>Bold</strong><iframe src='https://x'></iframe></p>", "text": ""},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["html"] == "<p><strong>Bold</strong></p>"
    assert changed.json()["text"].strip() == "Bold"
