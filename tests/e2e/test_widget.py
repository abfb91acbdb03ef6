"""The site widget in a real browser, embedded with its snippet in plain pages of a shop
served from another origin: a visitor chats with an agent on the desktop (messages both
ways, typing both ways, the operator's name, read receipts, links and markup), a reload
and a second tab keep the conversation, a message written offline goes out after the
reconnect, the window moves, resizes and fills a phone's screen, a page under a hide
rule shows nothing, and a site the widget does not allow gets no widget."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from parley.platform.models import ChatVisitor, ChatWidget, Interaction, Message
from tests.conftest import served
from tests.e2e.conftest import WIDGET_GREETING, WIDGET_SITE, Parley, Screens, log_in
from tests.e2e.test_desktop import go_ready

OPERATOR = "Anna from the shop"
TITLE = "Questions? We are here to help"


@dataclass
class Site:
    """The shop: the same pages on an allowed origin and on one the widget refuses."""

    url: str
    other_url: str


def _shop(snippet: str) -> Starlette:
    async def page(request: Request) -> HTMLResponse:
        name = request.path_params["path"] or "home"
        tags = snippet * 2 if name == "twice" else snippet  # a template and a tag manager
        return HTMLResponse(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Shop: {html.escape(name)}</title>"
            # The shop's own styles must not reach into the widget.
            "<style>button { background: lime !important; font-size: 40px; }</style>"
            f"</head><body><h1>{html.escape(name)}</h1><p>Kettles and teapots.</p>"
            f"{tags}</body></html>"
        )

    return Starlette(routes=[Route("/{path:path}", page)])


@pytest.fixture
async def site(parley: Parley) -> AsyncIterator[Site]:
    async with parley.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(
            select(ChatWidget).where(ChatWidget.public_key == parley.seeded.widget_key)
        )
        widget_id = widget.id
    # The snippet as an admin copies it, for Parley as the browser reaches it (the proxy).
    answer = await parley.supervisor.get(
        f"/api/chat-widgets/{widget_id}/snippet",
        headers={"Host": parley.url.removeprefix("http://")},
    )
    assert answer.status_code == 200, answer.text
    snippet = answer.json()["snippet"]
    assert snippet.startswith(f'<script src="{parley.url}/chat/widget.js"')
    shop = _shop(snippet)
    async with served(shop) as port, served(shop) as other_port:
        url = f"http://127.0.0.1:{port}"
        async with parley.app.state.runtime.database.transaction() as db:
            widget = await db.get_one(ChatWidget, widget_id)
            widget.allowed_origins = [WIDGET_SITE, url]
            widget.operator_name = OPERATOR
            widget.operator_photo_url = f"{url}/photos/anna.jpg"
            widget.hide_on = [f"{url}/private*"]
        yield Site(url, f"http://127.0.0.1:{other_port}")


@pytest.fixture
async def visitor(browser: Any) -> AsyncIterator[Any]:
    """The shop's visitor: a browser profile of their own, page errors collected."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"the shop's page threw: {errors}"


def _state(page: Any) -> Any:
    return page.locator("script[data-parley-widget]")


async def _open_chat(visitor: Any, url: str) -> Any:
    await visitor.goto(url)
    await expect(_state(visitor)).to_have_attribute("data-parley-state", "shown")
    launcher = visitor.get_by_role("button", name="Chat with us")
    await launcher.click()
    window = visitor.get_by_role("dialog", name=TITLE)
    await expect(window).to_be_visible()
    return window


async def test_a_visitor_on_another_site_chats_with_an_agent_on_the_desktop(
    page: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)

    await visitor.goto(f"{site.url}/kettles", referer="https://search.example/?q=kettle")
    await expect(_state(visitor)).to_have_attribute("data-parley-state", "shown")
    launcher = visitor.get_by_role("button", name="Chat with us")
    await expect(launcher).to_be_visible()
    # The shop's `button { background: lime }` stops at the shadow root.
    color = await launcher.evaluate("button => getComputedStyle(button).backgroundColor")
    assert color == "rgb(31, 111, 235)"  # the widget's accent, #1f6feb
    box = await launcher.bounding_box()
    assert box is not None and 1280 - 20 - 1 <= box["x"] + box["width"] <= 1280 - 20 + 1
    await screens.shot(visitor, "shop-with-button")

    await launcher.click()
    window = visitor.get_by_role("dialog", name=TITLE)
    await expect(window).to_be_visible()
    await expect(window.locator(".operator")).to_have_text(OPERATOR)
    photo = window.locator("header img.photo")
    await expect(photo).to_have_attribute("src", f"{site.url}/photos/anna.jpg")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill("Hello, is the blue kettle in stock?")
    await composer.press("Enter")
    await expect(composer).to_have_value("")
    mine = window.locator(".message.from-visitor")
    await expect(mine).to_have_count(1)
    await expect(mine).to_contain_text("Hello, is the blue kettle in stock?")
    await expect(mine.locator(".meta")).to_contain_text("Sent")
    # `hello` told Parley where the visitor is (F-CH-5).
    async with parley.app.state.runtime.database.transaction() as db:
        seen = await db.scalar(select(ChatVisitor))
    assert seen is not None
    assert (seen.page_url, seen.page_title) == (f"{site.url}/kettles", "Shop: kettles")
    assert seen.referrer == "https://search.example/?q=kettle"
    assert (seen.screen, seen.language) == ("1280x720", "en-US")

    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await offer.get_by_role("button", name="Accept").click()
    transcript = page.locator(".chat-transcript")
    await expect(transcript.locator(".chat-message.from-visitor")).to_contain_text(
        "Hello, is the blue kettle in stock?"
    )
    # The greeting reaches the visitor in the agent's name; the agent read the message.
    agent_lines = window.locator(".message.from-agent")
    await expect(agent_lines).to_have_count(1)
    await expect(agent_lines.first).to_contain_text(WIDGET_GREETING)
    await expect(agent_lines.first.locator(".author")).to_have_text("Anna Ivanova")
    await expect(mine.locator(".meta")).to_contain_text("Read")

    # Typing, both ways.
    await composer.type("And the red one")
    await expect(page.locator(".chat-typing")).to_have_text("Visitor is typing…")
    await composer.fill("")
    await composer.dispatch_event("input")
    await expect(page.locator(".chat-typing")).to_be_hidden()
    reply = page.get_by_label("Reply", exact=True)
    await reply.type("Yes, both")
    await expect(window.get_by_text("Operator is typing…")).to_be_visible()
    await screens.shot(visitor, "operator-typing")
    await reply.fill("Yes, both are in stock: https://shop.example/kettles/blue.")
    await reply.press("Enter")
    await expect(agent_lines).to_have_count(2)
    await expect(window.get_by_text("Operator is typing…")).to_be_hidden()
    link = agent_lines.last.get_by_role("link", name="https://shop.example/kettles/blue")
    await expect(link).to_have_attribute("href", "https://shop.example/kettles/blue")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(link).to_have_attribute("target", "_blank")

    # What the visitor writes is text, markup included.
    await composer.fill("<b>Great</b>, thanks!")
    await composer.press("Enter")
    await expect(mine).to_have_count(2)
    await expect(mine.last).to_contain_text("<b>Great</b>, thanks!")
    await expect(mine.last.locator("b")).to_have_count(0)
    await expect(transcript.locator(".chat-message.from-visitor").last).to_contain_text(
        "<b>Great</b>, thanks!"
    )
    await screens.shot(visitor, "conversation")

    # A reload replays the conversation, and the window stays open.
    await visitor.reload()
    window = visitor.get_by_role("dialog", name=TITLE)
    await expect(window).to_be_visible()
    lines = window.locator(".message")
    await expect(lines).to_have_count(4)
    await expect(lines.nth(0)).to_contain_text("Hello, is the blue kettle in stock?")
    await expect(lines.nth(1)).to_contain_text(WIDGET_GREETING)
    await expect(lines.nth(3)).to_contain_text("<b>Great</b>, thanks!")
    await expect(window.locator(".operator")).to_have_text(OPERATOR)

    # Another tab of the shop shows the same conversation and gets what is new.
    tab = await visitor.context.new_page()
    await tab.goto(f"{site.url}/teapots")
    tab_window = tab.get_by_role("dialog", name=TITLE)
    await expect(tab_window.locator(".message")).to_have_count(4)
    await reply.fill("Anything else?")
    await reply.press("Enter")
    await expect(tab_window.locator(".message.from-agent").last).to_contain_text("Anything else?")
    await expect(window.locator(".message.from-agent").last).to_contain_text("Anything else?")

    # Closed, the window gives way to the button, which counts what comes meanwhile.
    await window.get_by_role("button", name="Close").click()
    await expect(window).to_be_hidden()
    await reply.fill("I will be here if you need me.")
    await reply.press("Enter")
    badge = visitor.locator(".launcher .badge")
    await expect(badge).to_have_text("1")
    await screens.shot(visitor, "unread-badge")
    await visitor.get_by_role("button", name="Chat with us").click()
    await expect(window).to_be_visible()
    await expect(badge).to_be_hidden()

    # Closing every tab of the shop loses nothing: the next visit replays it all.
    await tab.close()
    await visitor.close()
    later = await visitor.context.new_page()
    await later.goto(f"{site.url}/kettles")
    later_window = later.get_by_role("dialog", name=TITLE)
    await expect(later_window.locator(".message")).to_have_count(6)
    await expect(later_window.locator(".message").last).to_contain_text("if you need me")


async def test_a_message_written_offline_is_sent_once_after_reconnecting(
    visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    window = await _open_chat(visitor, f"{site.url}/kettles")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill("First message")
    await composer.press("Enter")
    await expect(window.locator(".message.from-visitor .meta")).to_contain_text("Sent")

    parley.proxy.cut()
    await expect(window.get_by_role("status")).to_have_text("Connection lost. Reconnecting…")
    await composer.fill("Written while offline")
    await composer.press("Enter")
    pending = window.locator(".message.from-visitor").last
    await expect(pending.locator(".meta")).to_have_text("Sending…")
    await screens.shot(visitor, "offline")
    await asyncio.sleep(1.5)  # a few refused reconnects
    parley.proxy.restore()

    await expect(pending.locator(".meta")).to_contain_text("Sent", timeout=20_000)
    await expect(window.get_by_role("status")).to_be_hidden()
    await expect(window.locator(".message.from-visitor")).to_have_count(2)
    async with parley.app.state.runtime.database.transaction() as db:
        stored = await db.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.body_text == "Written while offline")
        )
    assert stored == 1
    await screens.shot(visitor, "reconnected")


async def _cancel_the_waiting_chat(parley: Parley) -> None:
    async with parley.app.state.runtime.database.transaction() as db:
        interaction_id = await db.scalar(
            select(Interaction.id)
            .where(Interaction.ended_at.is_(None))
            .order_by(Interaction.id.desc())
        )
    answer = await parley.supervisor.post(f"/api/interactions/{interaction_id}/cancel")
    assert answer.status_code == 204, answer.text


async def test_an_ended_chat_is_shown_as_ended_and_writing_again_starts_a_new_one(
    visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    window = await _open_chat(visitor, f"{site.url}/kettles")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill("Anyone there?")
    await composer.press("Enter")
    await expect(window.locator(".message.from-visitor .meta")).to_contain_text("Sent")

    # Ended while the widget was offline: it learns so from `welcome`.
    parley.proxy.cut()
    await expect(window.get_by_role("status")).to_have_text("Connection lost. Reconnecting…")
    await _cancel_the_waiting_chat(parley)
    parley.proxy.restore()
    ended = window.locator(".ended")
    await expect(ended).to_have_text(
        "The chat has ended. Write again to start a new one.", timeout=20_000
    )

    await composer.fill("Hello again")
    await composer.press("Enter")
    lines = window.locator(".messages > li")
    await expect(lines).to_have_count(3)
    await expect(lines.nth(0)).to_contain_text("Anyone there?")
    await expect(lines.nth(1)).to_have_class("ended")
    await expect(lines.nth(2)).to_contain_text("Hello again")
    await expect(lines.nth(2).locator(".meta")).to_contain_text("Sent")

    # Ended while it watches: `closed`.
    await _cancel_the_waiting_chat(parley)
    await expect(ended).to_have_count(2)
    await screens.shot(visitor, "ended-twice")
    async with parley.app.state.runtime.database.transaction() as db:
        chats = await db.scalar(select(func.count()).select_from(Interaction))
    assert chats == 3  # the seeded call, and the two chats

    # A new page shows no ended chat: today's conversation is the open one, and none is.
    await visitor.reload()
    await expect(_state(visitor)).to_have_attribute("data-parley-state", "shown")
    await expect(visitor.get_by_role("dialog", name=TITLE).locator(".messages > li")).to_have_count(
        0
    )


async def test_a_flood_is_refused_with_a_clear_error_and_every_message_arrives_once(
    visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    window = await _open_chat(visitor, f"{site.url}/kettles")
    composer = window.get_by_role("textbox", name="Type your message…")
    # Faster than anyone types: over the limit of 20 frames at once (PROTOCOL.md).
    await composer.evaluate(
        """(textarea) => {
          for (let i = 1; i <= 30; i++) {
            textarea.value = `Message ${i}`;
            textarea.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
          }
        }"""
    )
    notice = window.get_by_role("status")
    await expect(notice).to_have_text("Too many messages at once. Please wait a moment.")
    await screens.shot(visitor, "rate-limited")
    # The socket was closed (4429); the widget waits, reconnects and resends its outbox.
    sent = window.locator(".message.from-visitor .meta", has_text="Sent")
    await expect(sent).to_have_count(30, timeout=30_000)
    await expect(notice).to_be_hidden()
    async with parley.app.state.runtime.database.transaction() as db:
        texts = list(await db.scalars(select(Message.body_text).where(Message.seq.is_not(None))))
    assert sorted(texts) == sorted(f"Message {i}" for i in range(1, 31))
    shown = await window.locator(".message.from-visitor").all_inner_texts()
    assert [text.split("\n")[0] for text in shown] == [f"Message {i}" for i in range(1, 31)]


async def test_the_window_moves_resizes_and_fills_a_narrow_screen(
    browser: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    window = await _open_chat(visitor, f"{site.url}/kettles")
    before = await window.bounding_box()
    assert before is not None
    header = window.locator("header")
    await header.hover(position={"x": 60, "y": 20})
    await visitor.mouse.down()
    await visitor.mouse.move(before["x"] + 60 - 300, before["y"] + 20 - 100, steps=5)
    await visitor.mouse.up()
    moved = await window.bounding_box()
    assert moved is not None
    assert abs(moved["x"] - (before["x"] - 300)) <= 2 and abs(moved["y"] - (before["y"] - 100)) <= 2

    grip = window.locator(".grip")
    grip_box = await grip.bounding_box()
    assert grip_box is not None
    await visitor.mouse.move(grip_box["x"] + 4, grip_box["y"] + 4)
    await visitor.mouse.down()
    await visitor.mouse.move(grip_box["x"] + 4 - 80, grip_box["y"] + 4 - 60, steps=5)
    await visitor.mouse.up()
    resized = await window.bounding_box()
    assert resized is not None
    assert abs(resized["width"] - (moved["width"] + 80)) <= 2
    assert abs(resized["height"] - (moved["height"] + 60)) <= 2
    await screens.shot(visitor, "moved-and-resized")

    # Minimised, only the header stays; restored, the window is as it was.
    await window.get_by_role("button", name="Minimize").click()
    await expect(window.locator(".messages")).to_be_hidden()
    await expect(window.locator("header")).to_be_visible()
    minimized = await window.bounding_box()
    assert minimized is not None and minimized["height"] < 100
    await window.get_by_role("button", name="Restore").click()
    await expect(window.locator(".messages")).to_be_visible()
    restored = await window.bounding_box()
    assert restored == resized

    await visitor.reload()  # the place is remembered
    again = await visitor.get_by_role("dialog", name=TITLE).bounding_box()
    assert again is not None and abs(again["x"] - resized["x"]) <= 2
    assert abs(again["width"] - resized["width"]) <= 2

    phone = await browser.new_context(viewport={"width": 375, "height": 667}, locale="en-US")
    try:
        small = await phone.new_page()
        small_window = await _open_chat(small, f"{site.url}/kettles")
        box = await small_window.bounding_box()
        assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
        await screens.shot(small, "phone")
    finally:
        await phone.close()


async def test_the_widget_speaks_the_visitors_language(
    browser: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="ru-RU")
    try:
        russian = await context.new_page()
        await russian.goto(f"{site.url}/kettles")
        await expect(_state(russian)).to_have_attribute("data-parley-state", "shown")
        await russian.locator(".launcher").click()
        window = russian.get_by_role("dialog")
        await expect(window.get_by_role("button", name="Отправить")).to_be_visible()
        await expect(window.get_by_role("button", name="Закрыть")).to_be_visible()
        await screens.shot(russian, "russian")
    finally:
        await context.close()


async def test_a_page_under_a_hide_rule_shows_no_widget(
    visitor: Any, parley: Parley, site: Site
) -> None:
    await visitor.goto(f"{site.url}/private/account")
    await expect(_state(visitor)).to_have_attribute("data-parley-state", "hidden")
    await expect(visitor.locator("parley-chat")).to_have_count(0)
    await visitor.goto(f"{site.url}/public")
    await expect(_state(visitor)).to_have_attribute("data-parley-state", "shown")
    await expect(visitor.locator("parley-chat")).to_have_count(1)


async def test_a_page_with_the_snippet_twice_gets_one_widget(
    visitor: Any, parley: Parley, site: Site
) -> None:
    await visitor.goto(f"{site.url}/twice")
    await expect(visitor.locator("script[data-parley-state=shown]")).to_have_count(1)
    await expect(visitor.locator("script[data-parley-state=duplicate]")).to_have_count(1)
    await expect(visitor.locator("parley-chat")).to_have_count(1)
    await expect(visitor.get_by_role("button", name="Chat with us")).to_have_count(1)


async def test_a_site_the_widget_does_not_allow_gets_no_widget(
    visitor: Any, parley: Parley, site: Site
) -> None:
    failed: list[str] = []
    visitor.on("requestfailed", lambda request: failed.append(request.url))
    await visitor.goto(f"{site.other_url}/kettles")
    await expect(_state(visitor)).to_have_attribute("data-parley-state", "unavailable")
    await expect(visitor.locator("parley-chat")).to_have_count(0)
    # Parley answered 403 without CORS headers: the browser let the page read nothing.
    assert [url for url in failed if "/config?" in url], failed
    origin = await visitor.evaluate("location.origin")
    async with httpx.AsyncClient(base_url=parley.url) as client:
        answer = await client.get(
            f"/chat/widgets/{parley.seeded.widget_key}/config", headers={"Origin": origin}
        )
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers
