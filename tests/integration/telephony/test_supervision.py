"""Supervisors' live calls (F-SU-2) and agents' pre-recorded messages (F-VO-6) over HTTP
with voice configured in the application, on a real Asterisk."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from parley.app import create_app
from parley.platform.config import Settings
from parley.platform.models import Queue, QueueVoiceSettings, Role, User, VoiceNumber
from parley.telephony.calls import Channel as LiveChannel
from parley.telephony.pbx import Asterisk, write_hold_tone
from tests.conftest import Api
from tests.integration.telephony.ami_tap import AmiTap
from tests.integration.telephony.conftest import ANSWERS, until

MESSAGE = "Local/join@parley-message-"  # the channels playing a message


@pytest.fixture
async def voice_api(
    pbx: Asterisk, agi_port: int, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[Api]:
    database = tmp_path / "parley.sqlite3"
    shutil.copy(sqlite_template, database)
    ami = pbx.endpoint
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite+aiosqlite:///{database}",
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        argon2_time_cost=1,
        argon2_memory_kib=8 * 1024,
        log_json=False,
        presence_timeout_seconds=3600,
        ami_url=f"ami://{ami.username}:{ami.secret}@{ami.host}:{ami.port}",  # type: ignore[arg-type]
        fastagi_port=agi_port,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        await until(lambda: app.state.call_control.voice.readiness() is None)
        yield Api(app, client)


async def _connected_call(api: Api, agent: httpx.AsyncClient, sound: str) -> int:
    """A voice queue on 100 with one message, and a call its agent answered."""
    app = api.app
    runtime = app.state.runtime  # type: ignore[attr-defined]
    engine = runtime.require_engine()
    voice = app.state.call_control.voice  # type: ignore[attr-defined]
    agent_id = (await agent.get("/api/auth/me")).json()["id"]
    async with runtime.database.transaction() as db:
        queue = Queue(name="Support", channels=["voice"], wrap_up_seconds=0)
        db.add(queue)
        await db.flush()
        db.add(VoiceNumber(number="100", queue_id=queue.id))
        db.add(QueueVoiceSettings(queue_id=queue.id, messages=[{"name": "Terms", "sound": sound}]))
        (await db.get_one(User, agent_id)).device = ANSWERS
    await engine.reload_configuration()
    await engine.login(agent_id)
    await engine.request_ready(agent_id)
    await voice.connector.send(
        {
            "Action": "Originate",
            "Channel": "Local/100@parley-inbound",
            "Application": "Wait",
            "Data": "60",
            "CallerID": "Customer <+48221234567>",
            "Async": "true",
        }
    )
    await until(lambda: bool(engine.ringing_offers(agent_id)))
    interaction_id: int = await engine.accept(agent_id, engine.ringing_offers(agent_id)[0].offer_id)
    await until(lambda: (voice.call_of(interaction_id) or ("", ""))[1] == "talking")
    return interaction_id


async def test_supervisors_see_live_calls_with_raised_hands_and_agents_may_not(
    voice_api: Api, tmp_path: Path
) -> None:
    agent = await voice_api.session_for(Role.AGENT)
    supervisor = await voice_api.session_for(Role.SUPERVISOR)
    interaction_id = await _connected_call(voice_api, agent, str(tmp_path / "terms"))

    assert (await agent.get("/api/supervision/calls")).status_code == 403
    (call,) = (await supervisor.get("/api/supervision/calls")).json()
    assert call["interaction_id"] == interaction_id
    assert (call["state"], call["queue_name"], call["caller_number"]) == (
        "talking",
        "Support",
        "+48221234567",
    )
    assert call["agent_name"] == "Test agent" and call["help_request_id"] is None
    assert call["duration_seconds"] >= 0 and call["since"]

    hand = await agent.post("/api/help-requests", json={"interaction_id": interaction_id})
    (call,) = (await supervisor.get("/api/supervision/calls")).json()
    assert call["help_request_id"] == hand.json()["id"]


async def test_the_agent_plays_a_queue_message_into_the_call(
    voice_api: Api, pbx: Asterisk, tmp_path: Path
) -> None:
    sound = tmp_path / "terms"
    write_hold_tone(sound.with_suffix(".sln"), seconds=3.0)
    agent = await voice_api.session_for(Role.AGENT)
    colleague = await voice_api.session_for(Role.AGENT)
    interaction_id = await _connected_call(voice_api, agent, str(sound))
    voice = voice_api.app.state.call_control.voice  # type: ignore[attr-defined]
    tap = AmiTap(pbx.endpoint)
    await tap.start()
    try:
        messages = f"/api/calls/{interaction_id}/messages"
        assert (await agent.get(messages)).json() == [{"name": "Terms", "sound": str(sound)}]
        assert (await colleague.get(messages)).status_code == 403
        play = f"{messages}/play"
        assert (await colleague.post(play, json={"name": "Terms"})).status_code == 403
        assert (await agent.post(play, json={"name": "Nope"})).status_code == 404
        assert (await agent.post(play, json={"name": "Terms"})).status_code == 204

        # One side of the Local channel plays the sound, the other joins the call's
        # bridge: caller, agent and the message are in one bridge.
        await until(lambda: bool(tap.played(MESSAGE, "BridgeAdd")))
        _caller, agent_leg = voice.legs(interaction_id)
        assert agent_leg is not None
        assert tap.played(MESSAGE, "BridgeAdd") == [agent_leg.name]
        assert tap.played(MESSAGE, "Playback") == [str(sound)]

        def joined() -> list[LiveChannel]:
            return [c for c in voice.connector.calls.find(MESSAGE) if c.name.endswith(";2")]

        await until(lambda: bool(joined()) and joined()[0].bridge_id is not None)
        assert joined()[0].bridge_id == voice.legs(interaction_id)[1].bridge_id

        # While it plays the call's state names it, and a second one must wait.
        state = (await agent.get(f"/api/calls/{interaction_id}")).json()
        assert state["message"] == "Terms"
        again = await agent.post(play, json={"name": "Terms"})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "message_playing")

        # The message ends: both sides of its channel go (the joined one too), while
        # caller and agent talk on in their bridge.
        await until(lambda: not voice.connector.calls.find(MESSAGE))
        assert voice.call_of(interaction_id)[1] == "talking"
        caller_leg, still = voice.legs(interaction_id)
        assert still is not None and still.name == agent_leg.name and caller_leg.is_up
        assert still.bridge_id is not None and caller_leg.bridge_id == still.bridge_id
        state = (await agent.get(f"/api/calls/{interaction_id}")).json()
        assert state["message"] is None and state["phase"] == "talking"
        await voice_api.app.state.call_control.hangup(interaction_id)  # type: ignore[attr-defined]
        await until(lambda: voice.call_of(interaction_id) is None)
    finally:
        tap.close()
