"""The console's chat widget page in Chromium (F-CH-1, F-AD-1): an admin logs in, changes
the widget's button text, saves, sees and copies the embed snippet, opens the preview,
and the real widget on it shows the new text; an invitation scenario is added on the
widget's invitations page."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect
from sqlalchemy import select

from parley.platform.auth.passwords import hash_password
from parley.platform.models import ChatInvitationScenario, ChatWidget, Role, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import WIDGET_KEY, WIDGET_SITE, Parley, Screens

NEW_BUTTON_TEXT = "Talk to the shop"


async def _admin(parley: Parley) -> None:
    async with parley.app.state.runtime.database.transaction() as db:
        db.add(
            User(
                username="ada",
                display_name="Ada Admin",
                role=Role.ADMIN,
                password_hash=hash_password(PASSWORD),
            )
        )


async def test_admin_edits_the_button_text_and_sees_it_in_the_preview(
    browser: Any, parley: Parley, screens: Screens
) -> None:
    await _admin(parley)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=parley.url)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    page = await context.new_page()
    page.set_default_timeout(10_000)
    try:
        await page.goto(f"{parley.url}/")
        await page.fill("input[name=username]", "ada")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("form.card button[type=submit]")
        await page.get_by_role("link", name="Chat widgets").click()
        await page.wait_for_url(f"{parley.url}/widgets")
        await screens.shot(page, "widgets")
        await page.get_by_role("link", name="Shop").click()

        # Until Parley's own address is an allowed site, the preview shows the look only.
        await expect(page.get_by_text(f"add {parley.url} to the allowed sites")).to_be_visible()
        await page.get_by_label("Button text").fill(NEW_BUTTON_TEXT)
        await page.get_by_label("Allowed sites").fill(f"{WIDGET_SITE}\n{parley.url}")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        await expect(page.get_by_label("Button text")).to_have_value(NEW_BUTTON_TEXT)
        await expect(page.get_by_text(f"add {parley.url} to the allowed sites")).to_have_count(0)

        snippet = page.locator("#snippet")
        await expect(snippet).to_have_text(
            f'<script src="{parley.url}/chat/widget.js" data-parley-widget="{WIDGET_KEY}" '
            "async></script>"
        )
        await page.get_by_role("button", name="Copy the snippet").click()
        await expect(page.locator("#copy-status")).to_have_text("Copied")
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert copied == await snippet.text_content()
        await screens.shot(page, "saved-with-snippet")

        async with context.expect_page() as opened:
            await page.get_by_role("link", name="Open the preview").click()
        preview = await opened.value
        launcher = preview.get_by_role("button", name=NEW_BUTTON_TEXT)
        await expect(launcher).to_be_visible()
        await expect(preview.locator("script[data-parley-widget]")).to_have_attribute(
            "data-parley-state", "shown"
        )
        await launcher.click()
        await expect(preview.get_by_role("dialog")).to_be_visible()
        await expect(preview.locator("script[data-parley-widget]")).to_have_attribute(
            "data-parley-state", "shown"
        )
        await screens.shot(preview, "preview")
        await preview.close()

        await page.get_by_role("link", name="Invitations").first.click()
        await page.get_by_role("link", name="New invitation").click()
        await page.get_by_label("Name").fill("Reviews")
        await page.get_by_label("Message").fill("Need help choosing?")
        await page.get_by_label("Time on the page at least (seconds)").fill("30")
        await page.get_by_label("Page address contains").fill("/product/*\n/cart")
        await page.get_by_label("Visitors").select_option("new")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        await screens.shot(page, "invitation")
    finally:
        await context.close()
    assert not errors, f"the pages threw: {errors}"

    async with parley.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(select(ChatWidget).where(ChatWidget.public_key == WIDGET_KEY))
        assert widget is not None and widget.button_text == NEW_BUTTON_TEXT
        assert widget.allowed_origins == [WIDGET_SITE, parley.url]
        scenario = await db.scalar(select(ChatInvitationScenario))
        assert scenario is not None and scenario.widget_id == widget.id
        assert scenario.url_patterns == ["/product/*", "/cart"]
        assert (scenario.min_time_on_page_seconds, scenario.is_new_visitor) == (30, True)
