"""The supervisor's monitoring page (F-SU-2) in Chromium with a real Asterisk behind it:
a live call shows up with its queue, agent, caller and state; Listen rings the
supervisor's phone into it; the agent's raised hand shows on the call and in the list,
and Clear takes it away. Agents are refused the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import select

from parley.platform.db import create_database
from parley.platform.models import CallForward, User, VoiceNumber
from parley.telephony.pbx import Asterisk, free_port
from tests.conftest import PASSWORD, sign_in
from tests.e2e.conftest import Parley, Screens, _seed, e2e_settings, log_in, serve_parley
from tests.pbx_fixtures import ANSWERS, until


@pytest.fixture
async def parley(tmp_path: Path, pbx: Asterisk, agi_port: int) -> AsyncIterator[Parley]:
    """The seeded center with voice on: number 100 rings Support; Anna's and Sam's
    devices are phones that answer."""
    ami = pbx.endpoint
    settings = e2e_settings(
        tmp_path,
        ami_url=f"ami://{ami.username}:{ami.secret}@{ami.host}:{ami.port}",
        fastagi_port=agi_port,
        media_port=free_port(),
    )
    seeded = await _seed(settings)
    database = create_database(settings.resolved_database_url)
    try:
        async with database.transaction() as db:
            db.add(VoiceNumber(number="100", name="Hotline", queue_id=seeded.queue_id))
            (await db.get_one(User, seeded.agent_id)).device = ANSWERS
            (await db.get_one(User, seeded.supervisor_id)).device = ANSWERS
    finally:
        await database.dispose()
    async with serve_parley(settings, seeded) as served:
        voice = served.app.state.call_control.voice
        await until(lambda: voice.readiness() is None)
        yield served


async def _answered_call(parley: Parley) -> int:
    engine = parley.app.state.runtime.require_engine()
    voice = parley.app.state.call_control.voice
    anna = parley.seeded.agent_id
    await engine.login(anna)
    await engine.request_ready(anna)
    await voice.connector.send(
        {
            "Action": "Originate",
            "Channel": "Local/100@parley-inbound",
            "Application": "Wait",
            "Data": "120",
            "CallerID": "Jan <+48601234567>",
            "Async": "true",
        }
    )
    await until(lambda: bool(engine.ringing_offers(anna)))
    interaction_id: int = await engine.accept(anna, engine.ringing_offers(anna)[0].offer_id)
    await until(lambda: (voice.call_of(interaction_id) or ("", ""))[1] == "talking")
    return interaction_id


async def test_a_supervisor_sees_the_live_call_listens_in_and_clears_a_raised_hand(
    page: Any, parley: Parley, screens: Screens
) -> None:
    interaction_id = await _answered_call(parley)
    voice = parley.app.state.call_control.voice

    await page.goto(f"{parley.url}/supervision")
    await page.fill("input[name=username]", "sam")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form.card button[type=submit]")
    await page.wait_for_url(f"{parley.url}/supervision")

    row = page.locator(f'#live-calls tr[data-interaction-id="{interaction_id}"]')
    await expect(row).to_contain_text("Support")
    await expect(row).to_contain_text("Anna Ivanova")
    await expect(row).to_contain_text("+48601234567")
    await expect(row).to_contain_text("Talking")
    await screens.shot(page, "live-call")

    before = len(voice.connector.calls.channels)
    await row.get_by_role("button", name="Listen").click()
    await expect(page.locator("#monitor-status")).to_have_text(
        f"Your phone rings: Listen on call {interaction_id}."
    )
    # Sam's phone is rung into the call: a spying channel pair joins it.
    await until(lambda: len(voice.connector.calls.channels) > before)

    async with httpx.AsyncClient(base_url=parley.url) as anna:
        await sign_in(anna, "anna")
        raised = await anna.post("/api/help-requests", json={"interaction_id": interaction_id})
        assert raised.status_code == 201, raised.text
        assert (await anna.get("/supervision")).status_code == 403
    await expect(row.locator(".hand")).to_have_text("Raised hand")
    hand = page.locator("#raised-hands li")
    await expect(hand).to_contain_text("Anna Ivanova")
    await expect(hand).to_contain_text(f"Call {interaction_id}")
    await screens.shot(page, "raised-hand")
    await hand.get_by_role("button", name="Clear").click()
    await expect(hand).to_have_count(0)
    await expect(page.locator("#no-hands")).to_be_visible()
    await expect(page.locator("#no-hands")).to_have_text("No raised hands.")
    await expect(row.locator(".hand")).to_have_count(0)

    await voice.connector.send(
        {"Action": "Hangup", "Channel": voice.tracked_channel(interaction_id).name}
    )
    await expect(page.locator("#live-calls tbody tr")).to_have_count(0)
    await expect(page.locator("#no-calls")).to_be_visible()
    await expect(page.locator("#no-calls")).to_have_text("No live calls.")


async def test_an_agent_forwards_calls_and_requests_help_from_the_desktop(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await page.get_by_role("button", name="Divert calls").click()
    dialog = page.locator("#forwarding")
    await expect(dialog.locator("#forwarding-current")).to_have_text(
        "Your calls ring your own phone."
    )
    await dialog.get_by_label("Divert my calls to").fill("+48 601 234 567")
    await screens.shot(page, "forwarding")
    await dialog.get_by_role("button", name="Divert", exact=True).click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#forward-button")).to_have_attribute("aria-pressed", "true")
    async with parley.app.state.runtime.database.sessions() as db:
        assert await db.scalar(select(CallForward.number)) == "+48601234567"

    await page.get_by_role("button", name="Request help").click()
    await expect(page.locator("#raise-hand")).to_have_text("Lower hand")
    hands = (await parley.supervisor.get("/api/help-requests")).json()
    assert [hand["agent_name"] for hand in hands] == ["Anna Ivanova"]
    await page.locator("#raise-hand").click()
    await expect(page.locator("#raise-hand")).to_have_text("Request help")
    assert (await parley.supervisor.get("/api/help-requests")).json() == []

    await page.get_by_role("button", name="Divert calls").click()
    await expect(dialog.locator("#forwarding-current")).to_have_text(
        "Your calls ring +48601234567."
    )
    await dialog.get_by_role("button", name="Stop diverting").click()
    await expect(page.locator("#forward-button")).to_have_attribute("aria-pressed", "false")
