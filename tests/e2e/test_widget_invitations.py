"""Proactive invitations and the visitor list in real browsers (F-CH-3, F-CH-5): a plain
shop page on another origin embeds the widget; after the scenario's seconds on the site
the invitation appears with its message, "No, thanks" closes it and starts no chat; the
agent's desktop lists the browsing visitor live with the page's title, follows a page
change made without a reload, and the agent invites the visitor by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.async_api import expect
from sqlalchemy import func, select

from parley.platform.models import (
    Channel,
    ChatInvitationScenario,
    ChatVisitor,
    ChatWidget,
    Interaction,
)
from tests.e2e import test_widget
from tests.e2e.conftest import Parley, Screens, log_in
from tests.e2e.test_widget import Site, _state

site = test_widget.site
visitor = test_widget.visitor

INVITATION = "Looking for a kettle? We can help."
SECONDS_ON_SITE = 3


async def _add_scenario(parley: Parley) -> None:
    async with parley.app.state.runtime.database.transaction() as db:
        widget_id = await db.scalar(
            select(ChatWidget.id).where(ChatWidget.public_key == parley.seeded.widget_key)
        )
        db.add(
            ChatInvitationScenario(
                widget_id=widget_id,
                name="Kettle shoppers",
                message=INVITATION,
                min_time_on_site_seconds=SECONDS_ON_SITE,
                url_patterns=["/kettles"],
            )
        )


async def _invited_seconds_ago(parley: Parley, seconds: int) -> None:
    """Let the visitor's last invitation be `seconds` old (rather than wait for it)."""
    now = parley.app.state.runtime.clock.now()
    async with parley.app.state.runtime.database.transaction() as db:
        for row in await db.scalars(select(ChatVisitor)):
            row.last_invited_at = now - timedelta(seconds=seconds)


async def _only_visitor(parley: Parley) -> ChatVisitor:
    async with parley.app.state.runtime.database.transaction() as db:
        found = list(await db.scalars(select(ChatVisitor)))
        assert len(found) == 1
        return found[0]


async def test_an_invitation_appears_and_no_thanks_starts_no_chat(
    page: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    await _add_scenario(parley)
    await log_in(page, parley)
    await page.click("#side-tab-visitors")
    visitors = page.locator("#side-visitors")

    await visitor.goto(f"{site.url}/kettles")
    await expect(_state(visitor)).to_have_attribute("data-parley-state", "shown")
    row = visitors.locator(".visitor")
    await expect(row).to_have_count(1)
    await expect(row.locator(".page-title")).to_have_text("Shop: kettles")
    await expect(row.locator(".badge.status-browsing")).to_have_text("Browsing")
    await expect(row.locator(".visitor-more")).to_contain_text("HeadlessChrome")

    invitation = visitor.get_by_role("dialog", name=INVITATION)
    await expect(invitation).to_be_visible(timeout=15_000)
    await expect(invitation).to_contain_text(INVITATION)
    seen = await _only_visitor(parley)
    assert seen.invitations_seen == 1 and seen.last_invited_at is not None
    # Not before the scenario's time on the site (the server's own clock says so).
    assert (seen.last_invited_at - seen.visit_started_at).total_seconds() >= SECONDS_ON_SITE
    await screens.shot(visitor, "invitation")

    await invitation.get_by_role("button", name="No, thanks").click()
    await expect(invitation).to_be_hidden()
    await expect(visitor.get_by_role("button", name="Chat with us")).to_be_visible()
    await expect(visitor.get_by_role("dialog", name=test_widget.TITLE)).to_be_hidden()
    left_alone = await _only_visitor(parley)
    assert left_alone.contact_id is None  # no chat: the visitor never became a contact
    async with parley.app.state.runtime.database.transaction() as db:
        chats = await db.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.channel == Channel.CHAT)
        )
    assert chats == 0

    # A page change without a reload (a single-page shop) reaches the list.
    await visitor.evaluate(
        "() => { history.pushState({}, '', '/teapots'); document.title = 'Shop: teapots'; }"
    )
    await expect(row.locator(".page-title")).to_have_text("Shop: teapots")
    await expect(row.locator(".visitor-facts")).to_contain_text("Pages: 2")
    await screens.shot(page, "visitor-list")

    # The agent invites the visitor by hand, with their name on it.
    await row.locator(".visitor-open").click()
    detail = visitors.locator(".visitor-detail")
    await detail.get_by_role("textbox", name="Invitation").fill("Teapots are on sale today!")
    # Within 10 s of the last invitation the agent is told to wait...
    await _invited_seconds_ago(parley, 0)
    await detail.get_by_role("button", name="Invite to chat").click()
    await expect(page.locator("#toasts")).to_contain_text(
        "This visitor was invited less than 10 seconds ago."
    )
    # ...and after them the invitation goes out.
    await _invited_seconds_ago(parley, 11)
    await detail.get_by_role("button", name="Invite to chat").click()
    manual = visitor.get_by_role("dialog", name="Teapots are on sale today!")
    await expect(manual).to_be_visible()
    await expect(manual.locator(".from")).to_have_text("Anna Ivanova")
    await manual.get_by_role("button", name="Chat now").click()
    await expect(visitor.get_by_role("dialog", name=test_widget.TITLE)).to_be_visible()

    await visitor.close()
    await expect(row.locator(".badge.left")).to_have_text("Left the site")
