"""The agent desktop in Chromium, used the way an agent uses it: log in, go ready, take
an offer, handle it, wrap up with a disposition, and see the day's numbers move; the
network drops under the page and it recovers; the page speaks Russian and Polish."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from parley.platform.i18n import translations
from tests.e2e.conftest import Parley, Screens, log_in

IVR_STEP = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"  # how the desktop joins IVR steps


async def go_ready(page: Any) -> None:
    await page.click("#state-button")
    await page.get_by_role("menuitem", name="Ready").click()
    await expect(page.locator("#state-name")).to_have_text("Ready")


async def test_agent_takes_an_offer_wraps_up_and_sees_stats_change(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    # A fresh login is "not ready" until the agent says otherwise.
    await expect(page.locator("#state-name")).to_have_text("Not ready")
    await expect(page.locator("#state-reason")).to_have_text("After login")
    await screens.shot(page, "logged-in")
    await go_ready(page)

    interaction_id = await parley.offer_chat(ivr_path=["1 Billing", "2 Refunds"])
    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await expect(offer.locator(".offer-from")).to_have_text("Jan Kowalski")
    await expect(offer).to_contain_text("Support")
    await expect(offer).to_contain_text(f"1 Billing {IVR_STEP} 2 Refunds")
    await expect(offer.locator(".countdown")).to_have_text("30 s left", timeout=2000)
    await expect(page.locator("#state-name")).to_have_text("Ringing")
    await screens.shot(page, "offer-ringing")

    await offer.get_by_role("button", name="Accept").click()
    await expect(offer).to_be_hidden()
    await expect(page.locator("#state-name")).to_have_text("Busy")
    tab = page.get_by_role("tab", name="Chat Jan Kowalski")
    await expect(tab).to_have_attribute("aria-selected", "true")
    # The info area: the contact card and their history on other channels.
    info = page.locator("#side-info")
    await expect(info.locator(".contact-card h3")).to_have_text("Jan Kowalski")
    await expect(info).to_contain_text("+48601234567")
    await expect(info).to_contain_text("jan@kowalski.example")
    await expect(info.locator(".timeline li")).to_have_count(1)
    await expect(info.locator(".timeline")).to_contain_text("Asked about the March invoice")
    await expect(info).to_contain_text("Case #1 · Refund for March (New)")
    await screens.shot(page, "interaction-in-progress")

    await page.get_by_role("button", name="End", exact=True).click()
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    wrap_up = page.locator("form.wrapup")
    await expect(wrap_up.locator(".wrapup-timer")).to_contain_text("left")
    # The queue requires a disposition: Done without one is refused in the page.
    await wrap_up.get_by_role("button", name="Done").click()
    await expect(wrap_up.locator(".form-error")).to_have_text(
        "Choose a disposition: this queue requires one."
    )
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    # Both the queue's own disposition and the global ones are offered.
    await expect(wrap_up.locator("select option")).to_have_count(3)
    await wrap_up.get_by_label("Disposition").select_option(label="Resolved")
    await wrap_up.get_by_label("Notes").fill("Refund promised by Friday")
    await screens.shot(page, "wrap-up")
    await wrap_up.get_by_role("button", name="Done").click()

    await expect(page.locator("#state-name")).to_have_text("Ready")
    await expect(page.locator("#tabs-empty")).to_be_visible()
    stored = await parley.interaction(interaction_id)
    assert stored.disposition_id == parley.seeded.dispositions["resolved"]
    assert stored.wrap_up_notes == "Refund promised by Friday"
    assert stored.state.value == "ended"

    await page.get_by_role("tab", name="My stats").click()
    handled = page.locator("tr[data-metric=handled] td.mine")
    await expect(handled).to_have_text("1")
    await expect(page.locator("#side-stats .breaks")).to_contain_text("1:00:00")
    await screens.shot(page, "stats")


async def test_shortcuts_reject_and_accept_offers_and_end_wrap_up(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await page.keyboard.press("Alt+KeyR")
    await expect(page.locator("#state-name")).to_have_text("Ready")

    first = await parley.offer_chat()
    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await page.keyboard.press("Alt+KeyX")
    await expect(offer).to_be_hidden()
    await expect(page.locator("#state-name")).to_have_text("Ready")
    # The declined chat waits for someone else; the agent is offered the next one.
    assert (await parley.interaction(first)).state.value == "queued"
    # Taken back, so that it does not ring again once the decliner's cooldown is over.
    cancelled = await parley.supervisor.post(f"/api/interactions/{first}/cancel")
    assert cancelled.status_code == 204, cancelled.text

    await parley.offer_chat()
    await expect(offer).to_be_visible()
    await page.keyboard.press("Alt+KeyA")
    await expect(page.locator("#state-name")).to_have_text("Busy")
    await page.get_by_role("button", name="End", exact=True).click()
    await expect(page.locator("form.wrapup")).to_be_visible()
    await page.get_by_label("Disposition").select_option(label="Callback requested")
    await page.keyboard.press("Alt+KeyD")
    await expect(page.locator("#state-name")).to_have_text("Ready")

    # Not ready while busy is kept pending and applied when the work is done.
    await parley.offer_chat()
    await expect(offer).to_be_visible()
    await page.keyboard.press("Alt+KeyA")
    await expect(page.locator("#state-name")).to_have_text("Busy")
    await page.keyboard.press("Alt+KeyN")
    await page.get_by_role("menuitem", name="Lunch").click()
    await expect(page.locator("#pending")).to_have_text("Next: Not ready (Lunch)")
    await screens.shot(page, "pending-not-ready")
    await page.get_by_role("button", name="End", exact=True).click()
    await page.get_by_label("Disposition").select_option(label="Resolved")
    await page.keyboard.press("Alt+KeyD")
    await expect(page.locator("#state-name")).to_have_text("Not ready")
    await expect(page.locator("#state-reason")).to_have_text("Lunch")
    await expect(page.locator("#pending")).to_be_hidden()


async def test_the_page_recovers_after_the_network_drops(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    banner = page.locator("#offline-banner")
    await expect(banner).to_be_hidden()

    parley.proxy.cut()
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Connection lost")
    # Work arrives while the desktop is away; it must be there once it is back.
    await parley.offer_chat()
    await screens.shot(page, "offline")
    parley.proxy.restore()

    await expect(banner).to_be_hidden(timeout=15_000)
    await expect(page.locator("#connection")).to_have_attribute("data-online", "true")
    await expect(page.get_by_role("alertdialog", name="Incoming Chat")).to_be_visible()
    await expect(page.locator("#state-name")).to_have_text("Ringing")
    await screens.shot(page, "back-online")


async def test_language_switch_shows_russian_and_polish(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    language_label = "Language"
    for language in ("ru", "pl"):
        say = translations(language).gettext
        assert say("Not ready") != "Not ready", f"{language}: the catalog lacks the string"
        await page.get_by_label(language_label).select_option(language)
        await page.wait_for_load_state("load")
        await expect(page.locator("html")).to_have_attribute("lang", language)
        # Strings of the template and strings the scripts show, both translated.
        await expect(page.locator("#state-name")).to_have_text(say("Not ready"))
        await expect(page.locator("#state-reason")).to_have_text(say("After login"))
        await expect(page.get_by_role("tab", name=say("My stats"))).to_be_visible()
        await page.click("#state-button")
        await expect(page.get_by_role("menuitem", name=say("Ready"))).to_be_visible()
        await screens.shot(page, language)
        await page.keyboard.press("Escape")
        language_label = say("Language")


async def test_directory_and_follow_up_reminder(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    await page.get_by_role("tab", name="Directory").click()
    people = page.locator("#side-directory .person")
    await expect(people).to_have_count(3)
    await expect(page.locator(".person", has_text="Anna Ivanova")).to_contain_text("Ready")
    await expect(page.locator(".person", has_text="Piotr Nowak")).to_contain_text("Offline")
    await page.get_by_placeholder("Search colleagues").fill("piotr")
    await expect(people).to_have_count(1)

    await page.get_by_role("tab", name="Calendar").click()
    form = page.locator(".follow-up-form")
    await form.get_by_label("Title").fill("Call Jan back about the refund")
    await form.get_by_label("Remind, minutes before").fill("60")
    await form.get_by_role("button", name="Add follow-up").click()
    item = page.locator(".follow-up", has_text="Call Jan back about the refund")
    await expect(item).to_be_visible()
    # Due in an hour, reminded an hour before: the reminder is due now.
    await expect(page.locator(".toast-reminder")).to_contain_text(
        "Follow-up: Call Jan back about the refund"
    )
    await screens.shot(page, "calendar")
    await item.get_by_role("button", name="Done").click()
    await expect(item).to_be_hidden()
    await expect(page.locator("#side-calendar")).to_contain_text("No follow-ups planned.")
