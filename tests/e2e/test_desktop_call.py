"""A phone call handled in the desktop with a real Asterisk behind it: the call comes in
through FastAGI, the agent accepts the offer (with the caller's contact card), the call
panel says the line is up, Hold and Resume move the caller to music and back, the keypad
sends digits, Hang up ends the call and the wrap-up form follows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from parley.platform.db import create_database
from parley.platform.models import User, VoiceNumber
from parley.telephony.pbx import Asterisk
from tests.e2e.conftest import Parley, Screens, _seed, e2e_settings, log_in, serve_parley
from tests.e2e.test_desktop import go_ready
from tests.pbx_fixtures import ANSWERS, until


@pytest.fixture
async def parley(tmp_path: Path, pbx: Asterisk, agi_port: int) -> AsyncIterator[Parley]:
    """The seeded center with voice on: number 100 rings the Support queue and Anna's
    device is a phone that answers."""
    ami = pbx.endpoint
    settings = e2e_settings(
        tmp_path,
        ami_url=f"ami://{ami.username}:{ami.secret}@{ami.host}:{ami.port}",
        fastagi_port=agi_port,
    )
    seeded = await _seed(settings)
    database = create_database(settings.resolved_database_url)
    try:
        async with database.transaction() as db:
            db.add(VoiceNumber(number="100", name="Hotline", queue_id=seeded.queue_id))
            (await db.get_one(User, seeded.agent_id)).device = ANSWERS
    finally:
        await database.dispose()
    async with serve_parley(settings, seeded) as served:
        voice = served.app.state.call_control.voice
        await until(lambda: voice.readiness() is None)
        yield served


async def test_agent_takes_a_call_holds_it_and_hangs_up(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    connector = parley.app.state.call_control.voice.connector
    await connector.send(
        {
            "Action": "Originate",
            "Channel": "Local/100@parley-inbound",
            "Application": "Wait",
            "Data": "120",
            "CallerID": "Jan <+48601234567>",
            "Async": "true",
        }
    )

    offer = page.get_by_role("alertdialog", name="Incoming Call")
    await expect(offer).to_be_visible()
    await expect(offer).to_contain_text("Support")
    await screens.shot(page, "call-offered")
    await offer.get_by_role("button", name="Accept").click()

    panel = page.locator(".call-panel")
    await expect(panel.locator(".call-status")).to_have_text("On the line")
    await expect(page.locator("#side-info .contact-card h3")).to_have_text("Jan Kowalski")
    await screens.shot(page, "call-connected")

    await panel.get_by_role("button", name="Hold").click()
    await expect(panel.locator(".call-status")).to_have_text("On hold")
    await expect(panel.get_by_role("button", name="Resume", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    await screens.shot(page, "call-on-hold")
    await panel.get_by_role("button", name="Resume", exact=True).click()
    await expect(panel.locator(".call-status")).to_have_text("On the line")

    await panel.get_by_label("Keypad digits").fill("12#")
    await panel.get_by_role("button", name="Send digits").click()
    await expect(panel.get_by_label("Keypad digits")).to_have_value("")

    await panel.get_by_role("button", name="Hang up").click()
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    await expect(page.locator("form.wrapup")).to_be_visible()
    await screens.shot(page, "call-wrap-up")
