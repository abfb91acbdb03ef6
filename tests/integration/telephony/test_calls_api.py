"""Call control over HTTP with voice configured in the application (`PARLEY_AMI_URL`):
the agent on the call holds, resumes, mutes, sends DTMF, records and transfers it; a
colleague may not; a supervisor listens in; `/readyz` reports the voice service."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from parley.app import create_app
from parley.platform.config import Settings
from parley.platform.models import (
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Queue,
    Role,
    User,
    VoiceNumber,
)
from parley.telephony.pbx import Asterisk
from tests.conftest import Api
from tests.integration.telephony.conftest import ANSWERS, until


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
        api = Api(app, client)
        await until(lambda: app.state.call_control.voice.readiness() is None)
        yield api


async def _set_up(api: Api) -> None:
    """A voice queue on number 100."""
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.database.transaction() as db:
        queue = Queue(name="Support", channels=["voice"], wrap_up_seconds=0)
        db.add(queue)
        await db.flush()
        db.add(VoiceNumber(number="100", queue_id=queue.id))
    await runtime.require_engine().reload_configuration()


async def test_the_agent_on_the_call_controls_it_and_nobody_else_does(voice_api: Api) -> None:
    app = voice_api.app
    runtime = app.state.runtime  # type: ignore[attr-defined]
    control = app.state.call_control  # type: ignore[attr-defined]
    engine = runtime.require_engine()
    await _set_up(voice_api)
    anna_client = await voice_api.session_for(Role.AGENT)
    anna = (await anna_client.get("/api/auth/me")).json()["id"]
    other = await voice_api.session_for(Role.AGENT)
    supervisor = await voice_api.session_for(Role.SUPERVISOR)
    sue = (await supervisor.get("/api/auth/me")).json()["id"]
    async with runtime.database.transaction() as db:
        (await db.get_one(User, anna)).device = ANSWERS
        (await db.get_one(User, sue)).device = ANSWERS
    await engine.login(anna)
    await engine.request_ready(anna)

    ready = await voice_api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["voice"] == "ok"

    await control.voice.connector.send(
        {
            "Action": "Originate",
            "Channel": "Local/100@parley-inbound",
            "Application": "Wait",
            "Data": "60",
            "CallerID": "Customer <+48221234567>",
            "Async": "true",
        }
    )
    await until(lambda: bool(engine.ringing_offers(anna)))
    interaction_id = await engine.accept(anna, engine.ringing_offers(anna)[0].offer_id)
    await until(lambda: (control.voice.call_of(interaction_id) or ("", ""))[1] == "talking")
    calls = f"/api/calls/{interaction_id}"

    assert (await other.post(f"{calls}/hold")).status_code == 403
    assert (await anna_client.post(f"{calls}/hold")).status_code == 204
    assert (await anna_client.get(calls)).json()["phase"] == "held"
    assert (await anna_client.post(f"{calls}/resume")).status_code == 204
    await until(lambda: control.voice.legs(interaction_id)[0].bridge_id is not None)
    assert (await anna_client.post(f"{calls}/mute", json={"muted": True})).status_code == 204
    assert (await anna_client.post(f"{calls}/dtmf", json={"digits": "42#"})).status_code == 204
    assert (await anna_client.post(f"{calls}/dtmf", json={"digits": "4;2"})).status_code == 422
    start = await anna_client.post(f"{calls}/recording", json={"action": "start"})
    assert start.status_code == 204, start.text
    again = await anna_client.post(f"{calls}/recording", json={"action": "start"})
    assert again.json()["error"]["code"] == "already_recording"
    listing = f"{calls}/recordings/interaction-{interaction_id}-1.wav"
    await until(lambda: (control.recordings / f"interaction-{interaction_id}-1.wav").exists())
    heard = await anna_client.get(listing)
    assert (heard.status_code, heard.headers["content-type"]) == (200, "audio/wav")
    assert (await other.get(listing)).status_code == 403
    assert (await anna_client.get(f"{calls}/recordings/secret.wav")).status_code == 404
    assert (await anna_client.get(calls)).json() == {
        "interaction_id": interaction_id,
        "phase": "talking",
        "is_muted": True,
        "recording": "on",
        "is_consulting": False,
        "is_conference": False,
        "message": None,
    }
    assert (await anna_client.post(f"{calls}/spy", json={"mode": "listen"})).status_code == 403
    assert (await supervisor.post(f"{calls}/spy", json={"mode": "whisper"})).status_code == 204
    hangup = await anna_client.post(f"{calls}/hangup")
    assert hangup.status_code == 204
    await until(lambda: control.voice.call_of(interaction_id) is None)
    assert (await anna_client.get(calls)).status_code == 404

    # Click to call: the agent's phone answers and Asterisk dials the trunk, which this
    # test's Asterisk cannot reach (TEST-NET), so the call ends at once: the interaction
    # was the agent's and completes.
    dialled = await anna_client.post("/api/calls", json={"number": "+48225550000"})
    assert dialled.status_code == 201, dialled.text
    outbound = dialled.json()["interaction_id"]
    assert (await other.post("/api/calls", json={"number": "12;3"})).status_code == 422
    await until(lambda: control.voice.call_of(outbound) is None)
    async with runtime.database.sessions() as db:
        row = await db.get_one(Interaction, outbound)
    assert (row.direction.value, row.agent_id, row.attributes["dialled_number"]) == (
        "outbound",
        anna,
        "+48225550000",
    )
    assert row.ended_at is not None
    for client in (anna_client, other, supervisor):
        await client.aclose()


async def test_a_voicemail_is_heard_by_its_agent_and_supervisors_only(voice_api: Api) -> None:
    runtime = voice_api.app.state.runtime  # type: ignore[attr-defined]
    anna_client = await voice_api.session_for(Role.AGENT)
    anna = (await anna_client.get("/api/auth/me")).json()["id"]
    other = await voice_api.session_for(Role.AGENT)
    supervisor = await voice_api.session_for(Role.SUPERVISOR)
    folder = runtime.settings.data_dir.resolve() / "voicemail"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "voicemail-1.wav").write_bytes(b"RIFF" + bytes(100))
    async with runtime.database.transaction() as db:
        rows = [
            Interaction(
                channel=Channel.CALLBACK,
                direction=Direction.OUTBOUND,
                state=InteractionState.ACTIVE,
                agent_id=anna,
                attributes={"voicemail": name},
            )
            for name in ("voicemail-1.wav", "../parley.sqlite3")
        ]
        db.add_all(rows)
        await db.flush()
        heard, sneaky = (row.id for row in rows)

    listened = await anna_client.get(f"/api/calls/{heard}/voicemail")
    assert listened.status_code == 200
    assert listened.headers["content-type"] == "audio/wav"
    assert (await supervisor.get(f"/api/calls/{heard}/voicemail")).status_code == 200
    assert (await other.get(f"/api/calls/{heard}/voicemail")).status_code == 403
    assert (await anna_client.get(f"/api/calls/{sneaky}/voicemail")).status_code == 404
    for client in (anna_client, other, supervisor):
        await client.aclose()
