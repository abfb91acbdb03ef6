"""A phone call handled in the desktop with a real Asterisk behind it: the call comes in
through FastAGI, the agent accepts the offer (with the caller's contact card), the call
panel says the line is up, Hold and Resume move the caller to music and back, the keypad
sends digits, Hang up ends the call and the wrap-up form follows. Every button of the
call panel goes through the desktop's socket: a recording is started and paused (the
panel shows it), the transfer dialog hands the caller to another queue; and the contact's
history plays a call's recording to the agent who had it, while a colleague is refused;
the queue's pre-recorded message is played into the call (the panel says so until it
ends), and a consultation with a colleague is joined into a conference of all three."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from parley.platform.clock import SystemClock
from parley.platform.db import create_database
from parley.platform.models import (
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Queue,
    QueueVoiceSettings,
    User,
    VoiceNumber,
)
from parley.telephony.pbx import Asterisk, free_port, write_hold_tone
from tests.e2e.conftest import Parley, Screens, _seed, e2e_settings, log_in, serve_parley
from tests.e2e.test_desktop import go_ready
from tests.pbx_fixtures import ANSWERS, until


@pytest.fixture
async def parley(tmp_path: Path, pbx: Asterisk, agi_port: int) -> AsyncIterator[Parley]:
    """The seeded center with voice on: number 100 rings the Support queue and Anna's
    device is a phone that answers; a Sales queue takes transferred calls. Jan's history
    holds two recorded calls: Piotr's earlier one, and one Anna had."""
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
            (await db.get_one(User, seeded.other_agent_id)).device = ANSWERS
            db.add(Queue(name="Sales", channels=[Channel.VOICE.value], wrap_up_seconds=0))
            earlier = await db.scalar(
                select(Interaction).where(Interaction.agent_id == seeded.other_agent_id)
            )
            assert earlier is not None
            earlier.attributes = {"recordings": ["piotr-call.wav"]}
            yesterday = SystemClock().now() - timedelta(days=1)
            db.add(
                Interaction(
                    channel=Channel.VOICE,
                    direction=Direction.INBOUND,
                    state=InteractionState.ENDED,
                    queue_id=seeded.queue_id,
                    agent_id=seeded.agent_id,
                    contact_id=seeded.contact_id,
                    created_at=yesterday,
                    answered_at=yesterday,
                    ended_at=yesterday + timedelta(minutes=2),
                    attributes={"recordings": ["anna-call.wav"]},
                )
            )
        recordings = settings.data_dir / "recordings"
        recordings.mkdir(parents=True, exist_ok=True)
        for name in ("piotr-call.wav", "anna-call.wav"):
            with wave.open(str(recordings / name), "wb") as audio:
                audio.setnchannels(1)
                audio.setsampwidth(2)
                audio.setframerate(8000)
                audio.writeframes(b"\x10\x00" * 8000)
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


async def _call_in(page: Any, parley: Parley) -> int:
    """Jan calls number 100 and Anna accepts on the desktop: the call's interaction."""
    await parley.app.state.call_control.voice.connector.send(
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
    await offer.get_by_role("button", name="Accept").click()
    panel = page.locator(".call-panel")
    await expect(panel.locator(".call-status")).to_have_text("On the line")
    panel_id = await page.locator("article.panel.channel-voice").get_attribute("id")
    return int(str(panel_id).removeprefix("panel-"))


async def test_agent_records_pauses_the_recording_and_transfers_the_call_to_a_queue(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    interaction_id = await _call_in(page, parley)
    control = parley.app.state.call_control
    panel = page.locator(".call-panel")

    await panel.get_by_role("button", name="Record", exact=True).click()
    await expect(panel.locator(".call-recording")).to_have_text("Recording")
    await panel.get_by_role("button", name="Pause recording").click()
    await expect(panel.locator(".call-recording")).to_have_text("Recording paused")
    assert control.state(interaction_id)["recording"] == "paused"
    await screens.shot(page, "call-recording-paused")
    await panel.get_by_role("button", name="Resume recording").click()
    await expect(panel.locator(".call-recording")).to_have_text("Recording")
    assert control.state(interaction_id)["recording"] == "on"

    await panel.get_by_role("button", name="Transfer…").click()
    dialog = page.get_by_role("dialog", name="Transfer the call")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Colleague or queue").select_option(label="Sales")
    await screens.shot(page, "call-transfer-dialog")
    await dialog.get_by_role("button", name="Transfer", exact=True).click()

    await expect(page.locator(".toast").filter(has_text="Call transferred.")).to_be_visible()
    await expect(page.locator("form.wrapup")).to_be_visible()
    async with parley.app.state.runtime.database.sessions() as db:
        moved = await db.scalar(
            select(Interaction).where(
                Interaction.id > interaction_id, Interaction.channel == "voice"
            )
        )
        sales = await db.scalar(select(Queue.id).where(Queue.name == "Sales"))
    assert moved is not None and moved.queue_id == sales
    assert moved.attributes["transferred_from"] == interaction_id
    assert moved.state is InteractionState.QUEUED
    await screens.shot(page, "call-transferred")


async def test_agent_calls_a_colleague_into_a_conference_removes_them_and_leaves(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    interaction_id = await _call_in(page, parley)
    panel = page.locator(".call-panel")

    await panel.get_by_role("button", name="Conference…").click()
    dialog = page.get_by_role("dialog", name="Add someone to the call")
    await dialog.get_by_label("Colleague or queue").select_option(label="Piotr Nowak (Offline)")
    await dialog.get_by_role("button", name="Add to call").click()

    members = panel.locator(".call-members li")
    await expect(members).to_have_count(3, timeout=15_000)
    await expect(members.filter(has_text="Piotr Nowak")).to_have_count(1)
    await expect(members.filter(has_text="Caller · +48601234567")).to_have_count(1)
    await screens.shot(page, "call-conference")
    piotr = members.filter(has_text="Piotr Nowak")
    await piotr.get_by_role("button", name="Remove from the call").click()
    await expect(members).to_have_count(2, timeout=15_000)

    await panel.get_by_role("button", name="Leave the conference").click()
    await expect(page.locator("form.wrapup")).to_be_visible()
    assert parley.app.state.call_control.voice.call_of(interaction_id) is None


async def test_the_history_plays_a_calls_recording_to_its_agent_only(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await log_in(page, parley)
    await go_ready(page)
    await _call_in(page, parley)

    history = page.locator("#side-info .history")
    mine = history.locator("li", has=page.locator("audio"))
    await expect(mine).to_have_count(1)
    await expect(mine).to_contain_text("Anna Ivanova")
    source = await mine.locator("audio").get_attribute("src")
    theirs = history.locator("li", has_text="Piotr Nowak")
    await expect(theirs.locator(".call-audio-locked")).to_be_visible()
    await screens.shot(page, "history-recordings")

    heard = await page.request.get(f"{parley.url}{source}")
    assert heard.status == 200 and heard.headers["content-type"] == "audio/wav"
    async with parley.app.state.runtime.database.sessions() as db:
        piotrs = await db.scalar(
            select(Interaction.id).where(Interaction.agent_id == parley.seeded.other_agent_id)
        )
    refused = await page.request.get(f"{parley.url}/api/calls/{piotrs}/recordings/piotr-call.wav")
    assert refused.status == 403
    # The supervisor may listen to any call.
    supervised = await parley.supervisor.get(f"/api/calls/{piotrs}/recordings/piotr-call.wav")
    assert supervised.status_code == 200


async def test_agent_plays_a_message_into_the_call_then_consults_and_joins_all(
    page: Any, parley: Parley, screens: Screens, tmp_path: Path
) -> None:
    sound = tmp_path / "terms"
    write_hold_tone(sound.with_suffix(".sln"), seconds=4.0)
    async with parley.app.state.runtime.database.transaction() as db:
        support = await db.scalar(select(Queue.id).where(Queue.name == "Support"))
        db.add(
            QueueVoiceSettings(queue_id=support, messages=[{"name": "Terms", "sound": str(sound)}])
        )
    await log_in(page, parley)
    await go_ready(page)
    interaction_id = await _call_in(page, parley)
    control = parley.app.state.call_control
    panel = page.locator(".call-panel")

    await expect(panel.get_by_label("Message", exact=True)).to_have_value("Terms")
    await panel.get_by_role("button", name="Play message").click()
    await expect(panel.locator(".call-message-playing")).to_have_text("Playing: Terms")
    await expect(panel.get_by_role("button", name="Play message")).to_be_disabled()
    await screens.shot(page, "call-message-playing")
    await expect(panel.locator(".call-message-playing")).to_be_hidden(timeout=15_000)
    await expect(panel.get_by_role("button", name="Play message")).to_be_enabled()
    assert not control.voice.connector.calls.find("Local/join@parley-message-")

    await panel.get_by_role("button", name="Transfer…").click()
    dialog = page.get_by_role("dialog", name="Transfer the call")
    await dialog.get_by_label("Colleague or queue").select_option(label="Piotr Nowak (Offline)")
    await dialog.get_by_role("button", name="Consult first").click()
    consulting = panel.locator(".call-consulting")
    await expect(consulting).to_be_visible()
    await until(lambda: control.state(interaction_id)["is_consulting"])
    await consulting.get_by_role("button", name="Join all").click()

    members = panel.locator(".call-members li")
    await expect(members).to_have_count(3, timeout=15_000)
    await expect(members.filter(has_text="Piotr Nowak")).to_have_count(1)
    await expect(consulting).to_be_hidden()
    await screens.shot(page, "call-consultation-joined")
    await panel.get_by_role("button", name="Leave the conference").click()
    await expect(page.locator("form.wrapup")).to_be_visible()
