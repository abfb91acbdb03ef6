"""The browser softphone through the media gateway (F-VO-11) on a real Asterisk: an aiortc
client plays the agent's browser. It opens its line over the real agent websocket (a
uvicorn server), takes a call, hears the caller's 440 Hz tone (FFT), and its 1 kHz reaches
Asterisk (the queue's recording, and an Echo leg that sends it back). A line lost mid-call
ends the call and leaves the agent in wrap-up, not busy."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import os
import secrets
import shutil
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import redis
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from parley.app import create_app
from parley.platform.auth.passwords import hash_password
from parley.platform.bus import RedisBus
from parley.platform.config import Settings
from parley.platform.models import Queue, Role, User, VoiceNumber
from parley.telephony.ami import ActionFailed
from parley.telephony.pbx import Asterisk, free_port
from tests.conftest import PASSWORD, served, sign_in
from tests.pbx_fixtures import until

RATE = 8000
FRAME_SAMPLES = 160


class Tone(MediaStreamTrack):
    """The agent's microphone: a sine wave, 20 ms frames at their real pace."""

    kind = "audio"

    def __init__(self, hertz: float) -> None:
        super().__init__()
        self.hertz = hertz
        self._sent = 0
        self._started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._started is None:
            self._started = time.monotonic()
        wait = self._started + self._sent / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        n = np.arange(self._sent, self._sent + FRAME_SAMPLES)
        samples = (8000 * np.sin(2 * math.pi * self.hertz * n / RATE)).astype("<i2")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += FRAME_SAMPLES
        return frame


def dominant_hertz(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples))))
    spectrum[: int(100 * len(samples) / rate)] = 0  # below 100 Hz: hum, offsets
    return float(np.argmax(spectrum) * rate / len(samples))


def strength_at(samples: np.ndarray, hertz: float, rate: int = RATE) -> float:
    """How far `hertz` (±15 Hz) stands out of the spectrum: peak over the median."""
    spectrum = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / rate)
    band = spectrum[(bins > hertz - 15) & (bins < hertz + 15)]
    return float(band.max() / (np.median(spectrum) + 1e-9))


@dataclass
class Softphone:
    """The agent's browser: the desktop's websocket and the line's peer connection."""

    ws: Any
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    heard: list[np.ndarray] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open_line(self, hertz: float = 1000.0) -> dict[str, Any]:
        self.pc.addTrack(Tone(hertz))
        self.pc.on(
            "track", lambda track: self._tasks.append(asyncio.create_task(self._hear(track)))
        )
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers every candidate
        await self.send({"type": "line.offer", "id": "line-1", "sdp": self.pc.localDescription.sdp})
        answer = await self.next("line.answer")
        assert answer["id"] == "line-1"
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return await self.next("line.status", lambda f: f["status"] == "connected")

    async def _hear(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for piece in resampler.resample(frame):  # type: ignore[arg-type]
                self.heard.append(piece.to_ndarray().reshape(-1))

    async def listen(self, seconds: float) -> np.ndarray:
        """The next `seconds` of what the line plays (counted in samples, not time)."""
        self.heard.clear()
        await until(lambda: sum(map(len, self.heard)) >= seconds * RATE)
        return np.concatenate(self.heard)[: int(seconds * RATE)]

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(
        self, type_: str, match: Callable[[dict[str, Any]], bool] = lambda _f: True
    ) -> dict[str, Any]:
        """The first frame of `type_` (that `match`es) not taken yet, whenever it came:
        events of the gateway and of the voice service may arrive in either order."""
        wanted = lambda f: f["type"] == type_ and match(f)  # noqa: E731
        for index, frame in enumerate(self.frames):
            if wanted(frame):
                return self.frames.pop(index)
        async with asyncio.timeout(20):
            while True:
                frame = json.loads(await self.ws.recv())
                if wanted(frame):
                    return frame  # type: ignore[no-any-return]
                self.frames.append(frame)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class Site:
    app: Any
    base_url: str
    queue_id: int

    @property
    def voice(self) -> Any:
        return self.app.state.call_control.voice

    @property
    def engine(self) -> Any:
        return self.app.state.runtime.require_engine()

    async def add_agent(
        self, username: str, device: str = "browser", role: Role = Role.AGENT
    ) -> int:
        async with self.app.state.runtime.database.transaction() as db:
            user = User(
                username=username,
                display_name=username.title(),
                password_hash=hash_password(PASSWORD),
                role=role,
                device=device,
            )
            db.add(user)
            await db.flush()
            return user.id

    @contextlib.asynccontextmanager
    async def desktop(self, username: str) -> AsyncIterator[Softphone]:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            await sign_in(client, username)
            headers = {
                "Cookie": f"parley_session={client.cookies['parley_session']}",
                "Origin": self.base_url,
            }
            url = self.base_url.replace("http", "ws") + "/ws/agent"
            async with websockets.connect(url, additional_headers=headers) as ws:
                phone = Softphone(ws)
                await phone.next("snapshot")
                try:
                    yield phone
                finally:
                    await phone.close()

    async def call_in(self, customer: dict[str, str]) -> None:
        """A customer calls 100: the ;2 half of a Local channel runs parley-inbound, the
        ;1 half is the customer, running `customer` (a dialplan place or application)."""
        await self.voice.connector.send(
            {
                "Action": "Originate",
                "Channel": "Local/100@parley-inbound",
                "CallerID": "Customer <+48221234567>",
                "Async": "true",
                **customer,
            }
        )


TALKER = {"Context": "parley-test-phones", "Exten": "talker", "Priority": "1"}  # 440 Hz
ECHO = {"Application": "Echo"}


@pytest.fixture
async def site(
    pbx: Asterisk, agi_port: int, tmp_path: Path, database_url: str
) -> AsyncIterator[Site]:
    ami = pbx.endpoint
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        argon2_time_cost=1,
        argon2_memory_kib=8 * 1024,
        log_json=False,
        presence_timeout_seconds=3600,
        ami_url=f"ami://{ami.username}:{ami.secret}@{ami.host}:{ami.port}",  # type: ignore[arg-type]
        fastagi_port=agi_port,
        media_port=free_port(),
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    async with served(app) as port:
        runtime = app.state.runtime
        async with runtime.database.transaction() as db:
            queue = Queue(
                name="Support", channels=["voice"], wrap_up_seconds=60, records_calls=True
            )
            db.add(queue)
            await db.flush()
            db.add(VoiceNumber(number="100", queue_id=queue.id))
            queue_id = queue.id
        await runtime.require_engine().reload_configuration()
        await until(lambda: app.state.call_control.voice.readiness() is None)
        assert app.state.media_gateway.readiness() is None
        # The Echo leg sends the agent's audio back (Parley's dialplan does not use it;
        # refused when a configuration loads it already).
        with contextlib.suppress(ActionFailed):
            await app.state.call_control.voice.connector.send(
                {"Action": "ModuleLoad", "Module": "app_echo.so", "LoadType": "load"}
            )
        yield Site(app, f"http://127.0.0.1:{port}", queue_id)


async def _take_call(site: Site, phone: Softphone, customer: dict[str, str]) -> int:
    await phone.send({"type": "state.ready", "id": "ready"})
    await phone.next("ack", lambda f: f["id"] == "ready")
    await site.call_in(customer)
    offer = await phone.next("offer.created")
    await phone.send({"type": "offer.accept", "id": "take", "offer_id": offer["offer_id"]})
    await phone.next("ack", lambda f: f["id"] == "take")
    await phone.next("call.answered")
    await phone.next("line.status", lambda f: f["in_call"])
    return int(offer["interaction_id"])


async def test_a_browser_agent_hears_the_caller_and_asterisk_hears_the_agent(site: Site) -> None:
    anna = await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        status = await phone.open_line(hertz=1000)
        assert status["codec"] == "PCMU"  # narrowband first: no transcoding
        assert status["in_call"] is False
        await until(lambda: anna in site.voice.browser_lines)

        interaction_id = await _take_call(site, phone, TALKER)
        heard = await phone.listen(2.0)
        assert abs(dominant_hertz(heard) - 440) < 10

        await phone.send(
            {
                "type": "call.command",
                "id": "bye",
                "interaction_id": interaction_id,
                "action": "hangup",
            }
        )
        await phone.next("call.ended")
        await phone.next("line.status", lambda f: f["in_call"] is False)
        assert site.app.state.media_gateway.line(anna) is not None  # the line stays up
        assert site.engine.agent(anna).state.value == "wrap_up"

    recording = site.voice.recordings_dir / f"interaction-{interaction_id}-auto.wav"
    await until(lambda: _wav_frames(recording) > RATE)
    with wave.open(str(recording)) as wav:
        assert wav.getframerate() == RATE
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert strength_at(samples, 1000) > 20  # the agent, as Asterisk recorded them
    assert strength_at(samples, 440) > 20  # and the caller


async def test_the_agents_voice_comes_back_from_an_echo_through_asterisk(site: Site) -> None:
    await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.open_line(hertz=1000)
        await _take_call(site, phone, ECHO)
        heard = await phone.listen(1.0)
        heard = await phone.listen(2.0)  # past the first frames of the bridge
        assert abs(dominant_hertz(heard) - 1000) < 10


async def test_a_line_lost_mid_call_ends_the_call_and_the_agent_is_not_left_busy(
    site: Site,
) -> None:
    anna = await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.open_line()
        interaction_id = await _take_call(site, phone, TALKER)
        assert site.engine.agent(anna).state.value == "busy"

        await phone.pc.close()  # the browser's network goes

        closed = await phone.next("line.status", lambda f: f["status"] in ("closed", "failed"))
        assert closed["agent_id"] == anna
        ended = await phone.next("call.ended")
        assert ended["interaction_id"] == interaction_id
        await until(lambda: site.voice.call_of(interaction_id) is None)
        await until(lambda: not site.voice.connector.calls.channels)  # both legs gone
        assert site.engine.agent(anna).state.value == "wrap_up"
        assert anna not in site.voice.browser_lines


async def test_a_reopened_line_carries_the_call_on(site: Site) -> None:
    anna = await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.open_line()
        interaction_id = await _take_call(site, phone, TALKER)
        # A reload: the desktop opens a new line while the call goes on.
        reloaded = Softphone(phone.ws, frames=phone.frames)
        try:
            status = await reloaded.open_line()
            assert status["in_call"] is True
            heard = await reloaded.listen(2.0)
            assert abs(dominant_hertz(heard) - 440) < 10
            assert site.voice.call_of(interaction_id) is not None
            assert site.engine.agent(anna).state.value == "busy"
        finally:
            await reloaded.close()


async def test_a_call_for_a_browser_agent_without_a_line_goes_back_to_its_queue(
    site: Site,
) -> None:
    await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.send({"type": "state.ready", "id": "ready"})
        await phone.next("ack", lambda f: f["id"] == "ready")
        await site.call_in(TALKER)
        offer = await phone.next("offer.created")
        await phone.send({"type": "offer.accept", "offer_id": offer["offer_id"]})
        unanswered = await phone.next("interaction.unanswered")
        assert unanswered["interaction_id"] == offer["interaction_id"]


async def test_line_frames_refuse_a_bad_offer_and_hang_up_the_line(site: Site) -> None:
    anna = await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.send({"type": "line.offer", "id": "bad", "sdp": "this is not SDP"})
        error = await phone.next("error")
        assert (error["id"], error["code"]) == ("bad", "bad_offer")
        await phone.send({"type": "line.offer", "id": "big", "sdp": "x" * 13000})
        error = await phone.next("error")
        assert (error["id"], error["code"]) == ("big", "bad_frame")

        await phone.open_line()
        await phone.send({"type": "line.hangup", "id": "bye"})
        await phone.next("ack", lambda f: f["id"] == "bye")
        await phone.next("line.status", lambda f: f["status"] == "closed")
        await until(lambda: anna not in site.voice.browser_lines)
        assert site.app.state.media_gateway.line(anna) is None


def _wav_frames(path: Path) -> int:
    try:
        with wave.open(str(path)) as wav:
            return wav.getnframes()
    except (FileNotFoundError, EOFError, wave.Error):
        return 0


async def test_a_browser_agent_calls_out_holds_resumes_and_sends_digits(site: Site) -> None:
    anna = await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.open_line()
        await until(lambda: anna in site.voice.browser_lines)
        # What parley-outbound does for a number, dialling the customer who talks.
        await site.voice.connector.send(
            {
                "Action": "DialplanExtensionAdd",
                "Context": "parley-test-phones",
                "Extension": "dialtalker",
                "Priority": "1",
                "Application": "Dial",
                "ApplicationData": "Local/talker@parley-test-phones/n",
            }
        )
        interaction_id = await site.voice.call_out(
            anna, "dialtalker", queue_id=site.queue_id, context="parley-test-phones"
        )
        await until(lambda: (site.voice.call_of(interaction_id) or ("", ""))[1] == "talking")
        assert abs(dominant_hertz(await phone.listen(2.0)) - 440) < 10

        async def command(action: str, **extra: str) -> None:
            frame_id = f"{action}-{interaction_id}"
            await phone.send(
                {
                    "type": "call.command",
                    "id": frame_id,
                    "interaction_id": interaction_id,
                    "action": action,
                    **extra,
                }
            )
            answer = await phone.next("ack", lambda f: f["id"] == frame_id)
            assert answer["type"] == "ack"

        await command("hold")
        await phone.listen(0.5)  # what was on its way when the call was held
        held = await phone.listen(1.5)
        assert np.mean(np.abs(held) > 500) < 0.05  # the agent's leg waits in silence
        await command("resume")
        await until(lambda: (site.voice.call_of(interaction_id) or ("", ""))[1] == "talking")
        assert abs(dominant_hertz(await phone.listen(2.0)) - 440) < 10
        await command("dtmf", digits="5#")
        await command("hangup")
        await phone.next("call.ended")
        assert site.engine.agent(anna).state.value == "wrap_up"


async def test_the_media_role_runs_in_a_process_of_its_own(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        roles=["media"],
        media_port=free_port(),
        log_json=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert app.state.runtime.engine is None
        assert app.state.call_control is None
        gateway = app.state.media_gateway
        assert gateway.readiness() is None
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.media_port)
        writer.write(b"\x01\x00\x10" + bytes(16))  # a uuid no key made: hung up at once
        assert await asyncio.wait_for(reader.read(), 5) == b"\x00\x00\x00"
        writer.close()


async def test_logging_out_closes_the_agents_line(site: Site) -> None:
    anna = await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.open_line()
        await phone.send({"type": "logout", "id": "out"})
        await phone.next("ack", lambda f: f["id"] == "out")
        await phone.next("line.status", lambda f: f["status"] == "closed")
        assert site.app.state.media_gateway.line(anna) is None
        await until(lambda: anna not in site.voice.browser_lines)


async def test_a_supervisor_listens_in_on_their_own_browser_line(site: Site) -> None:
    await site.add_agent("anna")
    sam = await site.add_agent("sam", role=Role.SUPERVISOR)
    async with site.desktop("anna") as phone, site.desktop("sam") as headset:
        await phone.open_line(hertz=1000)
        await headset.open_line(hertz=0.0)
        await until(lambda: sam in site.voice.browser_lines)
        interaction_id = await _take_call(site, phone, TALKER)
        async with httpx.AsyncClient(base_url=site.base_url) as client:
            await sign_in(client, "sam")
            response = await client.post(
                f"/api/calls/{interaction_id}/spy", json={"mode": "listen"}
            )
            assert response.status_code == 204, response.text
        await headset.next("line.status", lambda f: f["in_call"])
        heard = await headset.listen(2.0)
        assert strength_at(heard, 440) > 20  # the caller
        assert strength_at(heard, 1000) > 20  # and the agent


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("PARLEY_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        pytest.skip(f"Redis not reachable (set PARLEY_TEST_REDIS_URL): {exc}")
    finally:
        client.close()
    return url


async def test_the_media_role_in_its_own_process_serves_the_lines_over_the_bus(
    pbx: Asterisk,
    agi_port: int,
    tmp_path: Path,
    sqlite_template: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`web,engine` in one process, `media` in another (here: another runtime), sharing
    the Redis bus: line frames are relayed to the gateway, the engine dials the gateway
    that holds the line, and the call's audio flows."""
    stream = f"parley:test:media:{secrets.token_hex(6)}"
    monkeypatch.setattr(
        "parley.platform.runtime.create_bus", lambda url: RedisBus(url, stream=stream)
    )
    database = tmp_path / "parley.sqlite3"
    shutil.copy(sqlite_template, database)
    ami = pbx.endpoint
    common: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{database}",
        "bus_url": redis_url,
        "secret_key": "test-secret-key-not-for-production",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8 * 1024,
        "log_json": False,
        "_env_file": None,
    }
    web = create_app(
        Settings(
            data_dir=tmp_path / "web",
            roles=["web", "engine"],
            presence_timeout_seconds=3600,
            ami_url=f"ami://{ami.username}:{ami.secret}@{ami.host}:{ami.port}",
            fastagi_port=agi_port,
            **common,
        )
    )
    media = create_app(
        Settings(data_dir=tmp_path / "media", roles=["media"], media_port=free_port(), **common)
    )
    assert web.state.media_gateway is None
    async with media.router.lifespan_context(media), served(web) as port:
        runtime = web.state.runtime
        async with runtime.database.transaction() as db:
            queue = Queue(name="Support", channels=["voice"], wrap_up_seconds=60)
            db.add(queue)
            await db.flush()
            db.add(VoiceNumber(number="100", queue_id=queue.id))
            queue_id = queue.id
        await runtime.require_engine().reload_configuration()
        await until(lambda: web.state.call_control.voice.readiness() is None)
        site = Site(web, f"http://127.0.0.1:{port}", queue_id)
        anna = await site.add_agent("anna")
        async with site.desktop("anna") as phone:
            status = await phone.open_line()
            assert status["gateway"] == f"127.0.0.1:{media.state.media_gateway.port}"
            await until(lambda: anna in site.voice.browser_lines)
            await _take_call(site, phone, TALKER)
            assert media.state.media_gateway.in_call(anna)
            assert abs(dominant_hertz(await phone.listen(2.0)) - 440) < 10


async def test_the_snapshot_tells_a_reconnecting_desktop_its_line(site: Site) -> None:
    await site.add_agent("anna")
    async with site.desktop("anna") as phone:
        await phone.send({"type": "sync"})
        assert (await phone.next("snapshot"))["line"] is None  # no line opened yet
        await phone.open_line()
        await _take_call(site, phone, TALKER)
        await phone.send({"type": "sync"})
        line = (await phone.next("snapshot"))["line"]
        assert line == {"status": "connected", "codec": "PCMU", "in_call": True}
