"""A visitor's chat handled end to end in the desktop: the visitor (a websocket client,
as the site widget would be) writes in, the agent accepts, sees the greeting and the
message, sees the visitor typing, replies, inserts a quick reply by its shortcut, ends
the chat and wraps up."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from playwright.async_api import expect

from tests.e2e.conftest import WIDGET_GREETING, WIDGET_SITE, Parley, Screens, log_in
from tests.e2e.test_desktop import go_ready


def _visitor(parley: Parley) -> Any:
    """The widget's socket, straight to the server (as a browser on the site would)."""
    base = str(parley.supervisor.base_url).rstrip("/").replace("http", "ws", 1)
    return websockets.connect(
        f"{base}/ws/visitor?widget={parley.seeded.widget_key}",
        additional_headers={"Origin": WIDGET_SITE},
    )


async def _next(ws: Any, type_: str, **fields: Any) -> dict[str, Any]:
    """The next frame of `type_` with these fields, skipping others (10 s at most)."""
    async with asyncio.timeout(10):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == type_ and all(frame.get(k) == v for k, v in fields.items()):
                return frame


async def test_agent_handles_a_visitors_chat_end_to_end(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)

    async with _visitor(parley) as visitor:
        await visitor.send(
            json.dumps(
                {
                    "type": "hello",
                    "resume": 0,
                    "page": {"url": f"{WIDGET_SITE}/billing", "title": "Billing"},
                }
            )
        )
        await _next(visitor, "welcome")
        await visitor.send(
            json.dumps(
                {"type": "message", "client_msg_id": "c1", "text": "Hello, my invoice is wrong"}
            )
        )
        assert (await _next(visitor, "ack"))["seq"] == 1

        offer = page.get_by_role("alertdialog", name="Incoming Chat")
        await expect(offer).to_be_visible()
        await screens.shot(page, "chat-offer")
        await offer.get_by_role("button", name="Accept").click()
        await expect(page.locator("#state-name")).to_have_text("Busy")

        # The greeting went out on accept, in the agent's name, once.
        greeting = await _next(visitor, "message", text=WIDGET_GREETING)
        assert greeting["seq"] == 2
        assert greeting["author"] == {"kind": "agent", "name": "Anna Ivanova"}

        transcript = page.locator(".chat-transcript")
        await expect(transcript.locator(".chat-message")).to_have_count(2)
        await expect(transcript.locator(".chat-message.from-visitor")).to_contain_text(
            "Hello, my invoice is wrong"
        )
        await expect(transcript.locator(".chat-message.from-agent")).to_contain_text(
            WIDGET_GREETING
        )
        # The panel showed the visitor's message: the visitor hears it was read.
        assert (await _next(visitor, "read"))["up_to"] >= 1

        await visitor.send(json.dumps({"type": "typing", "is_typing": True}))
        await expect(page.locator(".chat-typing")).to_have_text("Visitor is typing…")
        await screens.shot(page, "visitor-typing")
        await visitor.send(json.dumps({"type": "typing", "is_typing": False}))
        await expect(page.locator(".chat-typing")).to_be_hidden()

        composer = page.get_by_label("Reply", exact=True)
        await composer.fill("Sorry to hear that. Which invoice?")
        await composer.press("Enter")
        reply = await _next(visitor, "message", text="Sorry to hear that. Which invoice?")
        assert reply["seq"] == 3
        await expect(transcript.locator(".chat-message")).to_have_count(3)
        await expect(composer).to_have_value("")

        # A quick reply by its shortcut: "/invoice" then Tab.
        await composer.type("/invoice")
        await composer.press("Tab")
        await expect(composer).to_have_value("Let me check your invoice right away.")
        await expect(composer).to_be_focused()
        await screens.shot(page, "quick-reply-inserted")
        await composer.press("Enter")
        quick = await _next(visitor, "message", text="Let me check your invoice right away.")
        assert quick["seq"] == 4
        await expect(transcript.locator(".chat-message")).to_have_count(4)

        # A visitor's link is a safe link; their markup is shown as text.
        await visitor.send(
            json.dumps(
                {
                    "type": "message",
                    "client_msg_id": "c2",
                    "text": "It is https://shop.example/invoices/7. <b>Thanks</b>",
                }
            )
        )
        last = transcript.locator(".chat-message.from-visitor").last
        link = last.get_by_role("link", name="https://shop.example/invoices/7")
        await expect(link).to_have_attribute("href", "https://shop.example/invoices/7")
        await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
        await expect(link).to_have_attribute("target", "_blank")
        await expect(last.locator("b")).to_have_count(0)
        await expect(last).to_contain_text("<b>Thanks</b>")
        await screens.shot(page, "conversation")

        # The picker lists the shared replies; choosing one inserts its body.
        await page.get_by_role("button", name="Quick replies").click()
        picker = page.get_by_role("dialog", name="Quick replies")
        await expect(picker).to_contain_text("Shared")
        await expect(picker).not_to_contain_text("Personal")  # the agent has none
        await screens.shot(page, "quick-reply-picker")
        await picker.get_by_role("button", name="Invoice check").click()
        await expect(picker).to_be_hidden()
        await expect(composer).to_have_value("Let me check your invoice right away.")
        await composer.fill("")

        await page.get_by_role("button", name="End", exact=True).click()
        await _next(visitor, "closed")
        await expect(page.locator("#state-name")).to_have_text("Wrap-up")
        wrap_up = page.locator("form.wrapup")
        await wrap_up.get_by_label("Disposition").select_option(label="Resolved")
        await screens.shot(page, "wrap-up")
        await wrap_up.get_by_role("button", name="Done").click()
        await expect(page.locator("#state-name")).to_have_text("Ready")
        await expect(page.locator("#tabs-empty")).to_be_visible()
