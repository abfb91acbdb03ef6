"""The widget's forms in a real browser (F-CH-2), on the shop's pages of test_widget.py:
the pre-chat form comes before the first message and its answers reach the agent's
offer; with no agent logged in the visitor leaves a message that becomes a case; and
while nobody answers, the holding text and then the prompt to leave contacts appear
(after seconds configured short for the test)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect
from sqlalchemy import func, select

from parley.platform.models import Case, ChatVisitor, ChatWidget, Interaction, Message
from tests.e2e import test_widget
from tests.e2e.conftest import Parley, Screens, log_in
from tests.e2e.test_desktop import go_ready
from tests.e2e.test_widget import TITLE, Site, _open_chat

# The shop and its visitor, the fixtures of test_widget.py.
site = test_widget.site
visitor = test_widget.visitor


async def _configure(parley: Parley, **values: Any) -> None:
    async with parley.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(
            select(ChatWidget).where(ChatWidget.public_key == parley.seeded.widget_key)
        )
        assert widget is not None
        for name, value in values.items():
            setattr(widget, name, value)


async def test_the_pre_chat_form_comes_first_and_its_answers_reach_the_agent(
    page: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await _configure(
        parley, prechat_fields=["name", "email", "question"], prechat_required=["name", "email"]
    )
    await log_in(page, parley)
    await go_ready(page)

    window = await _open_chat(visitor, f"{site.url}/kettles")
    form = window.locator("form.prechat")
    await expect(form).to_be_visible()
    await expect(window.get_by_role("textbox", name="Type your message…")).to_be_hidden()
    await screens.shot(visitor, "pre-chat-form")
    await form.get_by_role("textbox", name="Name").fill("Eve")
    await form.get_by_role("textbox", name="Email").fill("eve@example.com")
    await form.get_by_role("textbox", name="Your question").fill("Is the blue kettle in stock?")
    await form.get_by_role("button", name="Start chat").click()

    # The question is the first message; the chat takes over the window.
    await expect(form).to_be_hidden()
    mine = window.locator(".message.from-visitor")
    await expect(mine).to_have_count(1)
    await expect(mine).to_contain_text("Is the blue kettle in stock?")
    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await expect(offer.locator(".offer-from")).to_have_text("Eve")
    async with parley.app.state.runtime.database.transaction() as db:
        interaction = await db.scalar(select(Interaction).order_by(Interaction.id.desc()))
        assert interaction is not None
        assert interaction.attributes["email"] == "eve@example.com"
        assert interaction.attributes["question"] == "Is the blue kettle in stock?"
    await offer.get_by_role("button", name="Accept").click()
    await expect(page.locator(".chat-transcript .chat-message.from-visitor")).to_contain_text(
        "Is the blue kettle in stock?"
    )

    # A reload does not ask again.
    await visitor.reload()
    window = visitor.get_by_role("dialog", name=TITLE)
    await expect(window.locator(".message.from-visitor")).to_have_count(1)
    await expect(window.locator("form.prechat")).to_have_count(0)


async def test_with_no_agent_logged_in_the_visitor_leaves_a_message_that_becomes_a_case(
    visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await _configure(parley, offline_form_enabled=True)
    window = await _open_chat(visitor, f"{site.url}/teapots")
    form = window.locator("form.offline")
    await expect(form).to_be_visible()
    await expect(window.get_by_role("textbox", name="Type your message…")).to_be_hidden()
    await form.get_by_role("textbox", name="Name").fill("Eve")
    await form.get_by_role("textbox", name="Email").fill("eve@example.com")
    await form.get_by_role("textbox", name="Message").fill("Please call me about teapots.")
    await screens.shot(visitor, "offline-form")
    await form.get_by_role("button", name="Send message").click()
    await expect(window.locator(".offline-sent")).to_have_text(
        "Thank you! We have your message and will answer by email."
    )
    async with parley.app.state.runtime.database.transaction() as db:
        assert await db.scalar(select(func.count()).select_from(Case)) == 2  # one seeded
        case = await db.scalar(select(Case).order_by(Case.id.desc()))
        assert case is not None
        assert (case.subject, case.queue_id) == (
            "Please call me about teapots.",
            parley.seeded.queue_id,
        )
        first = await db.scalar(select(Message).where(Message.case_id == case.id))
        assert first is not None and first.body_text == "Please call me about teapots."
        visitor_row = await db.scalar(select(ChatVisitor))
        assert visitor_row is not None and visitor_row.contact_id == case.contact_id


async def test_the_holding_text_and_then_the_contacts_prompt_appear_while_nobody_answers(
    page: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await _configure(
        parley,
        holding_after_seconds=2,
        holding_text="Hold on, an operator is coming.",
        contacts_after_seconds=4,
    )
    await log_in(page, parley)
    await go_ready(page)  # the agent is there, but does not answer

    window = await _open_chat(visitor, f"{site.url}/kettles")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill("Hello?")
    await composer.press("Enter")
    holding = window.locator(".message.holding")
    await expect(holding).to_be_hidden()
    await expect(holding).to_have_text("Hold on, an operator is coming.", timeout=5_000)
    contacts = window.locator(".contacts")
    await expect(contacts).to_contain_text(
        "All operators are busy. Leave your contacts and we will get back to you.",
        timeout=5_000,
    )
    await screens.shot(visitor, "leave-contacts")
    await contacts.get_by_role("textbox", name="Phone").fill("+48 601 234 567")
    await contacts.get_by_role("button", name="Leave contacts").click()
    await expect(window.get_by_text("Thank you! We will get back to you.")).to_be_visible()
    async with parley.app.state.runtime.database.transaction() as db:
        interaction = await db.scalar(select(Interaction).order_by(Interaction.id.desc()))
        assert interaction is not None and interaction.attributes["phone"] == "+48601234567"

    # The agent's answer ends the waiting texts.
    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await offer.get_by_role("button", name="Accept").click()
    await expect(window.locator(".message.from-agent")).to_have_count(1)
    await expect(holding).to_have_count(0)
    await expect(contacts).to_have_count(0)
