"""The agent's chat tools in real browsers: a visitor chats through the site widget on
another origin; the agent transfers the chat to the queue from the chat panel and
another agent's desktop is offered it with the history kept, the visitor reading the
notice; and at the end of a chat the widget asks the visitor for a rating, which is
stored and shown to agents (F-CH-6, F-CH-8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import expect

from parley.platform.models import ChatRating, Interaction
from tests.e2e import test_widget
from tests.e2e.conftest import Parley, Screens, log_in
from tests.e2e.test_desktop import go_ready
from tests.e2e.test_widget import Site, _open_chat

site = test_widget.site
visitor = test_widget.visitor


@pytest.fixture
async def second_desk(browser: Any) -> AsyncIterator[Any]:
    """Another agent's desktop, in a browser profile of its own."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"the second desktop threw: {errors}"


async def _start_chat(page: Any, visitor: Any, site: Site, text: str) -> Any:
    """The visitor writes through the widget and the agent on `page` accepts; the window."""
    window = await _open_chat(visitor, f"{site.url}/kettles")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill(text)
    await composer.press("Enter")
    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await offer.get_by_role("button", name="Accept").click()
    await expect(page.locator(".chat-transcript .chat-message.from-visitor")).to_contain_text(text)
    return window


async def test_an_agent_transfers_a_chat_to_the_queue_and_another_agent_takes_it(
    page: Any, second_desk: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    window = await _start_chat(page, visitor, site, "Is the blue kettle in stock?")
    reply = page.get_by_label("Reply", exact=True)
    await reply.fill("Let me ask our stock team.")
    await reply.press("Enter")
    await expect(window.locator(".message.from-agent")).to_have_count(2)  # greeting + reply

    await log_in(second_desk, parley, "piotr")
    await go_ready(second_desk)

    await page.get_by_role("button", name="Transfer", exact=True).click()
    dialog = page.get_by_role("form", name="Transfer or invite")
    target = dialog.get_by_label("To")
    await expect(target.locator("option[value^='queue:']")).to_have_count(1)
    await target.select_option(label="Support")
    await screens.shot(page, "transfer-form")
    await dialog.get_by_role("button", name="Transfer", exact=True).click()

    # The visitor reads the notice; the chat leaves Anna's desktop.
    await expect(window.locator(".message.from-system")).to_contain_text(
        "You are being transferred to another operator."
    )
    await expect(page.locator("#tabs-empty")).to_be_visible()
    await expect(page.locator("#state-name")).to_have_text("Ready")

    offer = second_desk.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await offer.get_by_role("button", name="Accept").click()
    transcript = second_desk.locator(".chat-transcript")
    # The history came along: the visitor's question and Anna's reply.
    await expect(transcript.locator(".chat-message.from-visitor")).to_contain_text(
        "Is the blue kettle in stock?"
    )
    await expect(transcript).to_contain_text("Let me ask our stock team.")
    await screens.shot(second_desk, "transferred-chat")
    answer = second_desk.get_by_label("Reply", exact=True)
    await answer.fill("Yes, it is.")
    await answer.press("Enter")
    last = window.locator(".message.from-agent").last
    await expect(last).to_contain_text("Yes, it is.")
    await expect(last.locator(".author")).to_have_text("Piotr Nowak")


async def test_the_visitor_rates_the_chat_when_it_ends(
    page: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    window = await _start_chat(page, visitor, site, "Where is my order?")
    interaction_id = int(
        await page.locator(".chat[data-interaction-id]").get_attribute("data-interaction-id")
    )
    await page.get_by_role("button", name="End", exact=True).click()
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")

    rating = window.locator(".rating")
    await expect(rating).to_contain_text("How would you rate this chat?")
    send = rating.get_by_role("button", name="Send rating")
    await expect(send).to_be_disabled()  # a rating first
    await rating.get_by_role("button", name="4 / 5").click()
    await rating.get_by_role("textbox", name="Comment (optional)").fill("Quick, thanks")
    await screens.shot(visitor, "rating-form")
    await send.click()
    await expect(window.get_by_text("Thank you for your rating!")).to_be_visible()

    async with parley.app.state.runtime.database.transaction() as db:
        stored = await db.get(ChatRating, interaction_id)
        interaction = await db.get_one(Interaction, interaction_id)
    assert stored is not None and (stored.rating, stored.comment) == (4, "Quick, thanks")
    assert stored.agent_id == parley.seeded.agent_id
    # The agent's history of the contact shows it.
    history = await parley.supervisor.get(f"/api/contacts/{interaction.contact_id}/interactions")
    entry = next(item for item in history.json() if item["id"] == interaction_id)
    assert (entry["csat_rating"], entry["csat_comment"]) == (4, "Quick, thanks")
    # Not rated twice over: the form is gone after the thanks.
    await expect(window.locator(".rating")).to_have_count(0)

    # The visitor's next chat shows the agent the rating in the contact's history.
    wrap_up = page.locator("form.wrapup")
    await wrap_up.get_by_label("Disposition").select_option(label="Resolved")
    await wrap_up.get_by_role("button", name="Done").click()
    await expect(page.locator("#state-name")).to_have_text("Ready")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill("One more thing")
    await composer.press("Enter")
    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await offer.get_by_role("button", name="Accept").click()
    history = page.locator("#side-info .history")
    await expect(history.locator(".csat")).to_have_text("Visitor's rating: 4 of 5 · Quick, thanks")
    await screens.shot(page, "history-with-rating")


async def test_the_agent_invites_a_colleague_opens_a_case_and_bans_the_visitor(
    page: Any, second_desk: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    await log_in(second_desk, parley, "piotr")  # logged in, not ready: takes no offers
    window = await _start_chat(page, visitor, site, "My kettle leaks")
    interaction_id = int(
        await page.locator(".chat[data-interaction-id]").get_attribute("data-interaction-id")
    )

    # A conference: Piotr is invited, sees the chat on his desktop and writes in it.
    await page.get_by_role("button", name="Transfer", exact=True).click()
    dialog = page.get_by_role("form", name="Transfer or invite")
    await dialog.get_by_label("To").select_option(f"agent:{parley.seeded.other_agent_id}")
    await dialog.get_by_role("button", name="Invite").click()
    await expect(dialog).to_be_hidden()
    guest_transcript = second_desk.locator(".chat-transcript")
    await expect(guest_transcript.locator(".chat-message.from-visitor")).to_contain_text(
        "My kettle leaks"
    )
    await expect(second_desk.get_by_role("button", name="Leave chat")).to_be_visible()
    await expect(second_desk.get_by_role("button", name="End", exact=True)).to_have_count(0)
    guest_reply = second_desk.get_by_label("Reply", exact=True)
    await guest_reply.fill("Piotr here, from the repairs team.")
    await guest_reply.press("Enter")
    await expect(window.locator(".message.from-agent").last).to_contain_text("Piotr here")
    await expect(page.locator(".chat-transcript")).to_contain_text("Piotr here")
    await screens.shot(second_desk, "conference-guest")

    # A case from the chat, its subject taken from the visitor's first message.
    await page.get_by_role("button", name="Open case").click()
    case_form = page.get_by_role("form", name="Open a case from the chat")
    await expect(case_form.get_by_label("Subject of a new case")).to_have_value("My kettle leaks")
    await case_form.get_by_role("button", name="Open case").click()
    await expect(page.get_by_text("The chat is in case #")).to_be_visible()
    interaction = await parley.interaction(interaction_id)
    assert interaction.case_id is not None

    # The ban closes the chat; the widget says so, asks no rating, and starts no chat.
    await page.get_by_role("button", name="Ban visitor").click()
    ban_form = page.get_by_role("form", name="Ban the visitor")
    await ban_form.get_by_label("For").select_option(label="1 hour")
    await ban_form.get_by_label("Reason").fill("Abusive language")
    await screens.shot(page, "ban-form")
    await ban_form.get_by_role("button", name="Ban visitor").click()
    await expect(window.get_by_text("The chat was closed by the operator.")).to_be_visible()
    await expect(window.locator(".rating")).to_have_count(0)
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill("Let me in again")
    await composer.press("Enter")
    await expect(window.get_by_text("You cannot start a new chat at the moment.")).to_be_visible()
    await expect(window.locator(".message.from-visitor.failed")).to_contain_text("Let me in again")
    bans = await parley.supervisor.get("/api/chat-bans")
    assert [(ban["interaction_id"], ban["reason"]) for ban in bans.json()] == [
        (interaction_id, "Abusive language")
    ]
