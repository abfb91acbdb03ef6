"""The browser softphone in the real desktop (F-VO-11): Chromium, with a fake microphone
that plays a 1 kHz tone, is the phone of an agent whose device is "browser". The desktop
opens its line to the media gateway (the header says connected), the agent takes a call
from a customer who plays 440 Hz, the caller's level shows in the line's panel, and
Asterisk's recording of the call holds the browser's 1 kHz. When the browser's network
drops mid-call, the desktop opens its line again and the call carries on."""

from __future__ import annotations

import math
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import expect
from sqlalchemy import select

from parley.platform.db import create_database
from parley.platform.models import (
    Channel,
    Interaction,
    InteractionState,
    Queue,
    User,
    VoiceNumber,
)
from parley.telephony.pbx import Asterisk, free_port
from tests.e2e.conftest import (
    CHROMIUM_ARGS,
    Parley,
    Screens,
    _seed,
    e2e_settings,
    log_in,
    serve_parley,
)
from tests.e2e.test_desktop import go_ready
from tests.pbx_fixtures import until

RATE = 8000
MICROPHONE_HERTZ = 1000
CALLER_HERTZ = 440
TALKER = {"Context": "parley-test-phones", "Exten": "talker", "Priority": "1"}  # 440 Hz


def write_tone(path: Path, hertz: float, seconds: float = 120.0, rate: int = 16000) -> None:
    """A WAV file for Chromium's fake microphone, long enough for a whole test."""
    n = np.arange(int(seconds * rate))
    samples = (9000 * np.sin(2 * math.pi * hertz * n / rate)).astype("<i2")
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(samples.tobytes())


@pytest.fixture
def chromium_args(tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    """A fake microphone playing the tone; the browser's question whether the page may
    use it is answered yes, unless the test asks for no answer (`indirect` "unasked")."""
    tone = tmp_path / "microphone.wav"
    write_tone(tone, MICROPHONE_HERTZ)
    asks = getattr(request, "param", "") == "unasked"
    return [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        *([] if asks else ["--use-fake-ui-for-media-stream"]),
        f"--use-file-for-fake-audio-capture={tone}",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture
async def parley(tmp_path: Path, pbx: Asterisk, agi_port: int) -> AsyncIterator[Parley]:
    """The seeded center with voice and the media gateway on: number 100 rings the
    Support queue, which records its calls; Anna's device is her browser."""
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
            (await db.get_one(User, seeded.agent_id)).device = "browser"
            (await db.get_one(Queue, seeded.queue_id)).records_calls = True
    finally:
        await database.dispose()
    async with serve_parley(settings, seeded) as served:
        voice = served.app.state.call_control.voice
        await until(lambda: voice.readiness() is None)
        assert served.app.state.media_gateway.readiness() is None
        yield served


async def _open_desktop(page: Any, parley: Parley) -> None:
    await page.context.grant_permissions(["microphone"], origin=parley.url)
    await log_in(page, parley)
    await expect(page.locator("#line-status")).to_have_text("Line: connected")
    await expect(page.locator("#line")).to_have_attribute("data-status", "connected")


async def _take_call(page: Any, parley: Parley) -> int:
    await go_ready(page)
    await parley.app.state.call_control.voice.connector.send(
        {
            "Action": "Originate",
            "Channel": "Local/100@parley-inbound",
            "CallerID": "Jan <+48601234567>",
            "Async": "true",
            **TALKER,
        }
    )
    offer = page.get_by_role("alertdialog", name="Incoming Call")
    await expect(offer).to_be_visible()
    await offer.get_by_role("button", name="Accept").click()
    panel = page.locator(".call-panel")
    await expect(panel.locator(".call-status")).to_have_text("On the line")
    await expect(page.locator("#line-status")).to_have_text("Line: in a call")
    async with parley.app.state.runtime.database.transaction() as db:
        interaction_id = await db.scalar(
            select(Interaction.id).where(
                Interaction.agent_id == parley.seeded.agent_id,
                Interaction.channel == Channel.VOICE,
                Interaction.state == InteractionState.ACTIVE,
            )
        )
    assert interaction_id is not None
    voice = parley.app.state.call_control.voice
    await until(lambda: (voice.call_of(interaction_id) or ("", ""))[1] == "talking")
    return int(interaction_id)


async def _levels_show_both_sides(page: Any) -> None:
    """The line's panel: the fake microphone's tone and the caller's, both moving."""
    await page.locator("#line-button").click()
    panel = page.locator("#line-panel")
    await expect(panel).to_be_visible()
    # The fake microphone is listed (by name: the page may use the microphone).
    await expect(panel.locator(".line-microphone option").nth(1)).not_to_have_text("")
    await page.wait_for_function(
        "Number(document.getElementById('line').dataset.microphoneLevel) > 0.01"
    )
    await page.wait_for_function(
        "Number(document.getElementById('line').dataset.callerLevel) > 0.02"
    )


def _recording(path: Path) -> np.ndarray:
    with wave.open(str(path)) as audio:
        assert audio.getframerate() == RATE
        return np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")


def _wav_frames(path: Path) -> int:
    try:
        with wave.open(str(path)) as audio:
            return audio.getnframes()
    except (FileNotFoundError, EOFError, wave.Error):
        return 0


def strength_at(samples: np.ndarray, hertz: float, rate: int = RATE) -> float:
    """How far `hertz` (±15 Hz) stands out of the spectrum: peak over the median."""
    spectrum = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / rate)
    band = spectrum[(bins > hertz - 15) & (bins < hertz + 15)]
    return float(band.max() / (np.median(spectrum) + 1e-9))


async def _hang_up_and_check_recording(page: Any, parley: Parley, interaction_id: int) -> None:
    voice = parley.app.state.call_control.voice
    recording = voice.recordings_dir / f"interaction-{interaction_id}-auto.wav"
    # Two seconds of the call on disk first (the WAV header counts them once it closes).
    await until(lambda: recording.exists() and recording.stat().st_size > 44 + 2 * 2 * RATE)
    await page.locator(".call-panel").get_by_role("button", name="Hang up").click()
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    await expect(page.locator("#line-status")).to_have_text("Line: connected")
    await until(lambda: _wav_frames(recording) > 2 * RATE)
    await until(lambda: voice.call_of(interaction_id) is None)
    samples = _recording(recording)
    # The browser's fake microphone, as Asterisk recorded the agent; and the caller.
    assert strength_at(samples, MICROPHONE_HERTZ) > 20
    assert strength_at(samples, CALLER_HERTZ) > 20


async def test_a_browser_agent_takes_a_call_over_the_desktops_line(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await _open_desktop(page, parley)
    gateway = parley.app.state.media_gateway
    assert gateway.line(parley.seeded.agent_id) is not None
    await screens.shot(page, "line-connected")

    interaction_id = await _take_call(page, parley)
    await _levels_show_both_sides(page)
    await screens.shot(page, "line-in-call")

    # Mute silences the microphone's track too (and the caller's side over AMI).
    panel = page.locator(".call-panel")
    await panel.get_by_role("button", name="Mute").click()
    await expect(panel.get_by_role("button", name="Unmute")).to_have_attribute(
        "aria-pressed", "true"
    )
    await page.wait_for_function(
        "Number(document.getElementById('line').dataset.microphoneLevel) === 0"
    )
    await panel.get_by_role("button", name="Unmute").click()
    await page.wait_for_function(
        "Number(document.getElementById('line').dataset.microphoneLevel) > 0.01"
    )

    await _hang_up_and_check_recording(page, parley, interaction_id)
    assert gateway.line(parley.seeded.agent_id) is not None  # the line stays for the shift


async def test_a_call_carries_on_over_the_line_while_the_desktops_socket_reconnects(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await _open_desktop(page, parley)
    interaction_id = await _take_call(page, parley)
    line = parley.app.state.media_gateway.line(parley.seeded.agent_id)

    parley.proxy.cut()  # the page's connections to Parley drop; the media has its own path
    await expect(page.locator("#line")).to_have_attribute("data-status", "reconnecting")
    await screens.shot(page, "line-reconnecting")
    parley.proxy.restore()

    await expect(page.locator("#line-status")).to_have_text("Line: in a call", timeout=30_000)
    await expect(page.locator("#connection")).to_have_attribute("data-online", "true")
    assert parley.app.state.media_gateway.line(parley.seeded.agent_id) is line
    await expect(page.locator(".call-panel .call-status")).to_have_text("On the line")
    await _levels_show_both_sides(page)
    await screens.shot(page, "line-back")
    await _hang_up_and_check_recording(page, parley, interaction_id)


async def test_a_line_lost_mid_call_ends_the_call_and_the_desktop_opens_a_new_one(
    page: Any, parley: Parley, screens: Screens
) -> None:
    await _open_desktop(page, parley)
    interaction_id = await _take_call(page, parley)
    gateway = parley.app.state.media_gateway
    lost = gateway.line(parley.seeded.agent_id)

    await lost.connection.close()  # the media connection is gone (as after a network loss)

    # The call ends cleanly: wrap-up, not busy on a dead line; the desktop reconnects.
    await expect(page.locator("#state-name")).to_have_text("Wrap-up")
    await until(lambda: parley.app.state.call_control.voice.call_of(interaction_id) is None)
    await expect(page.locator("#line-status")).to_have_text("Line: connected", timeout=30_000)
    renewed = gateway.line(parley.seeded.agent_id)
    assert renewed is not None and renewed is not lost
    await screens.shot(page, "line-renewed")


@pytest.mark.parametrize("chromium_args", ["unasked"], indirect=True)
async def test_a_microphone_the_browser_may_not_use_is_said_so_clearly(
    page: Any, parley: Parley, screens: Screens
) -> None:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send(
        "Browser.setPermission",
        {"permission": {"name": "microphone"}, "setting": "denied", "origin": parley.url},
    )
    await log_in(page, parley)
    await expect(page.locator("#line-status")).to_have_text("Line: failed")
    denied = "The browser may not use the microphone"
    await expect(page.locator(".toast-error")).to_contain_text(denied)
    await page.locator("#line-button").click()
    await expect(page.locator("#line-panel .line-problem")).to_contain_text(denied)
    await screens.shot(page, "microphone-denied")
    assert parley.app.state.media_gateway.line(parley.seeded.agent_id) is None
