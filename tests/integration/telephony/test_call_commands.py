"""The agent's call control over the real agent websocket (`call.command` frames through
uvicorn) on a real Asterisk: blind transfers to a number, a queue and an agent; an
attended transfer consulted, then cancelled or completed; a conference with a colleague
and a number, listed, kicked and left; recording paused and resumed; redial; and the
error frames of commands that cannot be carried out.

Numbers are dialled in the test phones' context (`CallControl.outbound_context`), where
extension 200 answers, instead of the trunk's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pydantic import SecretStr

from parley.app import create_app
from parley.platform.agents import AgentState
from parley.platform.auth.passwords import hash_password
from parley.platform.config import Settings
from parley.platform.models import (
    Interaction,
    InteractionState,
    Queue,
    QueueVoiceSettings,
    ReasonCode,
    Role,
    User,
    VoiceNumber,
)
from parley.telephony.control import CallControl
from parley.telephony.pbx import Asterisk, free_port, write_hold_tone
from tests.conftest import PASSWORD, served, sign_in
from tests.pbx_fixtures import ANSWERS, until

_ids = itertools.count(1)


@dataclass
class Desk:
    """One agent's desktop socket: frames go out with ids, answers come back by id."""

    agent_id: int
    ws: Any
    frames: list[dict[str, Any]]

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        """The `ack` or `error` answering the frame (events in between are kept)."""
        frame_id = str(next(_ids))
        await self.ws.send(json.dumps({"type": type_, "id": frame_id, **fields}))
        async with asyncio.timeout(15):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("id") == frame_id and frame["type"] in ("ack", "error"):
                    return frame  # type: ignore[no-any-return]
                self.frames.append(frame)

    async def command(self, interaction_id: int, action: str, **fields: Any) -> dict[str, Any]:
        return await self.request(
            "call.command", interaction_id=interaction_id, action=action, **fields
        )

    async def event(self, type_: str) -> dict[str, Any]:
        """The first event of `type_` since the last one taken."""
        async with asyncio.timeout(15):
            while True:
                for index, frame in enumerate(self.frames):
                    if frame["type"] == type_:
                        return self.frames.pop(index)
                self.frames.append(json.loads(await self.ws.recv()))


@dataclass
class Office:
    app: Any
    base_url: str
    support_id: int
    sales_id: int

    @property
    def control(self) -> CallControl:
        control: CallControl = self.app.state.call_control
        return control

    @property
    def engine(self) -> Any:
        return self.app.state.runtime.require_engine()

    async def user(self, username: str, role: Role = Role.AGENT) -> int:
        async with self.app.state.runtime.database.transaction() as db:
            user = User(
                username=username,
                display_name=username.title(),
                password_hash=hash_password(PASSWORD),
                role=role,
                device=ANSWERS,
                capacity={"voice": 1, "callback": 1},
            )
            db.add(user)
            await db.flush()
            return user.id

    async def desk(self, stack: Any, username: str) -> Desk:
        """`username` signed in with the desktop's socket open, ready for calls."""
        agent_id = await self.user(username)
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=self.base_url))
        await sign_in(client, username)
        headers = {
            "Cookie": f"parley_session={client.cookies['parley_session']}",
            "Origin": self.base_url,
        }
        ws = await stack.enter_async_context(
            websockets.connect(
                self.base_url.replace("http", "ws") + "/ws/agent", additional_headers=headers
            )
        )
        desk = Desk(agent_id, ws, [])
        await desk.event("snapshot")
        assert (await desk.request("state.ready"))["type"] == "ack"
        return desk

    async def call(self, dialled: str = "100", caller: str = "+48221234567") -> None:
        await self.control.voice.connector.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{dialled}@parley-inbound",
                "CallerID": f"Customer <{caller}>",
                "Application": "Wait",
                "Data": "120",
                "Async": "true",
            }
        )

    async def answered(self, desk: Desk) -> int:
        """The call ringing `desk` accepted over the socket, once both legs talk."""
        offer = await desk.event("offer.created")
        ack = await desk.request("offer.accept", offer_id=offer["offer_id"])
        interaction_id = int(ack["interaction_id"])
        await until(lambda: self.phase(interaction_id) == "talking")
        return interaction_id

    async def connected(self, desk: Desk) -> int:
        await self.call()
        return await self.answered(desk)

    def phase(self, interaction_id: int) -> str | None:
        tracked = self.control.voice.call_of(interaction_id)
        return tracked[1] if tracked else None

    def partners(self, uniqueid: str) -> set[str]:
        """The names of the channels bridged with `uniqueid`."""
        calls = self.control.voice.connector.calls
        me = calls.channels.get(uniqueid)
        bridge = calls.bridges.get(me.bridge_id or "") if me else None
        if bridge is None:
            return set()
        others = bridge.channel_ids - {uniqueid}
        return {calls.channels[u].name for u in others if u in calls.channels}

    def bridged_together(self, interaction_id: int) -> bool:
        caller, agent = self.control.voice.legs(interaction_id)
        return agent is not None and agent.name in self.partners(caller.uniqueid)

    async def state(self, interaction_id: int) -> InteractionState:
        async with self.app.state.runtime.database.sessions() as db:
            return (await db.get_one(Interaction, interaction_id)).state

    async def free(self, desk: Desk) -> None:
        """`desk`'s agent ready again once their call ended (wrap-up done)."""
        engine = self.engine

        def state() -> AgentState:
            return engine.agent(desk.agent_id).state  # type: ignore[no-any-return]

        await until(lambda: state() in (AgentState.READY, AgentState.WRAP_UP))
        if state() is AgentState.WRAP_UP:
            assert (await desk.request("wrap_up.done"))["type"] == "ack"
        await until(lambda: state() is AgentState.READY)


@pytest.fixture
async def office(settings: Settings, pbx: Asterisk, agi_port: int) -> AsyncIterator[Office]:
    ami = pbx.endpoint
    settings.ami_url = SecretStr(f"ami://{ami.username}:{ami.secret}@{ami.host}:{ami.port}")
    settings.fastagi_port = agi_port
    settings.presence_timeout_seconds = 3600
    settings.voice_ring_seconds = 5
    settings.media_port = free_port()  # the media role's own, not the shared default
    app = create_app(settings)
    async with served(app) as port:
        runtime = app.state.runtime
        async with runtime.database.transaction() as db:
            support = Queue(name="Support", channels=["voice"], wrap_up_seconds=0)
            sales = Queue(name="Sales", channels=["voice"], wrap_up_seconds=0)
            db.add_all([support, sales])
            await db.flush()
            db.add(VoiceNumber(number="100", name="Hotline", queue_id=support.id))
            db.add(ReasonCode(code="lunch", name="Lunch"))
            ids = support.id, sales.id
        await runtime.require_engine().reload_configuration()
        app.state.call_control.outbound_context = "parley-test-phones"
        await until(lambda: app.state.call_control.voice.readiness() is None)
        yield Office(app, f"http://127.0.0.1:{port}", *ids)


@pytest.fixture
async def stack() -> AsyncIterator[Any]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as opened:
        yield opened


async def test_a_blind_transfer_to_a_number_hands_the_caller_over_and_frees_the_agent(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)
    caller, _agent = office.control.voice.legs(interaction_id)

    ack = await anna.command(interaction_id, "transfer", to="number", number="200")

    assert ack["type"] == "ack", ack
    assert office.phase(interaction_id) is None  # Parley no longer follows the caller
    channels = office.control.voice.connector.calls.channels
    # The caller dials out: here, the test phones' 200 answers them.
    await until(
        lambda: (
            (channels[caller.uniqueid].context, channels[caller.uniqueid].exten)
            == ("parley-test-phones", "200")
        )
    )
    assert await office.state(interaction_id) is not InteractionState.ACTIVE


async def test_a_transfer_to_a_queue_or_to_an_agent_offers_the_caller_there(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)
    boris = await office.desk(stack, "boris")
    # Anna goes to lunch once the call is off her hands: Sales' offer rings Boris.
    assert (await anna.request("state.not_ready", reason="lunch"))["type"] == "ack"

    ack = await anna.command(interaction_id, "transfer", to="queue", target_id=office.sales_id)

    assert ack["type"] == "ack", ack
    moved = int(ack["new_interaction_id"])
    assert moved != interaction_id
    moved_again = await office.answered(boris)  # offered in Sales, answered by Boris
    assert moved_again == moved
    assert office.bridged_together(moved)

    # Boris hands the caller to Anna, back from lunch.
    await until(lambda: office.engine.agent(anna.agent_id).state is AgentState.NOT_READY)
    assert (await anna.request("state.ready"))["type"] == "ack"
    ack = await boris.command(moved, "transfer", to="agent", target_id=anna.agent_id)
    assert ack["type"] == "ack", ack
    for_anna = int(ack["new_interaction_id"])
    assert await office.answered(anna) == for_anna
    assert office.bridged_together(for_anna)


async def test_a_transfer_to_an_agent_who_is_not_logged_in_is_refused(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    away = await office.user("carol")
    interaction_id = await office.connected(anna)

    refused = await anna.command(interaction_id, "transfer", to="agent", target_id=away)
    to_herself = await anna.command(interaction_id, "transfer", to="agent", target_id=anna.agent_id)

    assert (refused["type"], refused["code"]) == ("error", "agent_unavailable")
    assert to_herself["code"] == "transfer_to_self"
    # The REST route refuses the same way.
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=office.base_url))
    await sign_in(client, "anna")
    response = await client.post(
        f"/api/calls/{interaction_id}/transfer", json={"to": "agent", "agent_id": away}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "agent_unavailable"
    assert office.bridged_together(interaction_id)  # the call goes on as it was


async def test_an_attended_transfer_consults_then_cancels_or_completes(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)
    caller, agent = office.control.voice.legs(interaction_id)
    assert agent is not None

    def consulting() -> bool:
        return any(
            name.startswith("Local/200@parley-test-phones-")
            for name in office.partners(agent.uniqueid)
        )

    assert (await anna.command(interaction_id, "consult", number="200"))["type"] == "ack"
    await until(consulting)
    assert office.control.state(interaction_id)["is_consulting"]
    assert (await anna.command(interaction_id, "transfer.cancel"))["type"] == "ack"
    await until(lambda: office.bridged_together(interaction_id))  # back with the caller
    assert not office.control.state(interaction_id)["is_consulting"]

    assert (await anna.command(interaction_id, "consult", number="200"))["type"] == "ack"
    await until(consulting)
    assert (await anna.command(interaction_id, "transfer.complete"))["type"] == "ack"

    await until(lambda: office.phase(interaction_id) is None)
    await until(
        lambda: any(
            name.startswith("Local/200@parley-test-phones-")
            for name in office.partners(caller.uniqueid)
        )
    )
    assert await office.state(interaction_id) is not InteractionState.ACTIVE


async def test_consulting_a_colleague_rings_their_device_then_hands_the_caller_over(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    boris = await office.user("boris")  # his device answers
    interaction_id = await office.connected(anna)
    caller, agent = office.control.voice.legs(interaction_id)
    assert agent is not None

    ack = await anna.command(interaction_id, "consult", to="agent", target_id=boris)

    assert ack["type"] == "ack", ack
    # Anna talks to Boris's phone (reached through parley-agent); the caller waits.
    await until(lambda: bool(office.partners(agent.uniqueid) - {caller.name}))
    assert caller.name not in office.partners(agent.uniqueid)
    phones = office.control.voice.connector.calls.find("Local/answer@parley-test-phones-")
    assert len([p for p in phones if p.name.endswith(";2") and p.is_up]) == 2  # hers, his
    assert (await anna.command(interaction_id, "transfer.complete"))["type"] == "ack"
    await until(lambda: office.phase(interaction_id) is None)
    await until(lambda: bool(office.partners(caller.uniqueid)))  # the caller talks to Boris


async def test_a_conference_adds_a_colleague_and_a_number_lists_kicks_and_is_left(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    boris = await office.user("boris")
    interaction_id = await office.connected(anna)

    not_yet = await anna.command(interaction_id, "conference.leave")
    assert not_yet["code"] == "no_conference"
    added = await anna.command(interaction_id, "conference.add", to="agent", target_id=boris)
    assert added["type"] == "ack", added
    assert (await anna.command(interaction_id, "conference.add", number="200"))["type"] == "ack"

    async def members(count: int) -> list[dict[str, str]]:
        for _ in range(200):
            listed = await anna.command(interaction_id, "conference.list")
            assert listed["type"] == "ack", listed
            if len(listed["members"]) == count:
                return listed["members"]  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)
        pytest.fail(f"the conference never had {count} members")

    four = await members(4)
    assert sorted((m["role"], m["name"]) for m in four) == [
        ("agent", ""),
        ("caller", "+48221234567"),
        ("party", "200"),
        ("party", "Boris"),
    ]
    assert office.control.state(interaction_id)["is_conference"]
    (colleague,) = [m["channel"] for m in four if m["name"] == "Boris"]
    assert (await anna.command(interaction_id, "conference.kick", channel=colleague))[
        "type"
    ] == "ack"
    three = await members(3)
    assert colleague not in {m["channel"] for m in three}
    gone = await anna.command(interaction_id, "conference.kick", channel="Local/nobody;1")
    assert gone["code"] == "not_in_conference"

    assert (await anna.command(interaction_id, "conference.leave"))["type"] == "ack"
    await until(lambda: office.phase(interaction_id) is None)  # the others talk on
    caller_left = [
        c for c in office.control.voice.connector.calls.find("Local/100@parley-inbound-")
    ]
    assert caller_left, "the caller is still in the conference"


async def test_recording_starts_pauses_resumes_and_stops_over_the_socket(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)

    def recording() -> str:
        return str(office.control.state(interaction_id)["recording"])

    not_yet = await anna.command(interaction_id, "recording.pause")
    assert (not_yet["type"], not_yet["code"]) == ("error", "not_recording")
    for action, expected in (
        ("recording.start", "on"),
        ("recording.pause", "paused"),
        ("recording.resume", "on"),
        ("recording.stop", "off"),
    ):
        ack = await anna.command(interaction_id, action)
        assert ack["type"] == "ack", ack
        assert recording() == expected
    path = office.control.recording_path(interaction_id, 1)
    await until(path.exists)


async def test_a_queue_recording_is_paused_and_resumed_from_the_desktop(
    office: Office, stack: Any
) -> None:
    async with office.app.state.runtime.database.transaction() as db:
        (await db.get_one(Queue, office.support_id)).records_calls = True
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)
    await until(lambda: office.control.state(interaction_id)["recording"] == "on")

    assert (await anna.command(interaction_id, "recording.pause"))["type"] == "ack"
    assert office.control.state(interaction_id)["recording"] == "paused"
    assert (await anna.command(interaction_id, "recording.resume"))["type"] == "ack"
    assert office.control.state(interaction_id)["recording"] == "on"


async def test_redial_calls_the_number_of_an_earlier_call_again(office: Office, stack: Any) -> None:
    anna = await office.desk(stack, "anna")
    first = await office.control.voice.call_out(
        anna.agent_id, "dial200", context="parley-test-phones"
    )
    await until(lambda: office.phase(first) == "talking")
    assert (await anna.command(first, "hangup"))["type"] == "ack"
    await until(lambda: office.phase(first) is None)
    await office.free(anna)

    ack = await anna.command(first, "redial")

    assert ack["type"] == "ack", ack
    again = int(ack["new_interaction_id"])
    await until(lambda: office.phase(again) == "talking")
    customer, _agent = office.control.voice.legs(again)
    assert customer.name.startswith("Local/200@parley-test-phones-")


async def test_commands_that_cannot_be_carried_out_get_clear_error_frames(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)
    boris = await office.desk(stack, "boris")

    def fields(frame: dict[str, Any]) -> str:
        assert (frame["type"], frame["code"]) == ("error", "bad_frame"), frame
        return " ".join(field["message"] for field in frame["fields"])

    assert "needs `number`" in fields(await anna.command(interaction_id, "transfer", to="number"))
    assert "needs `to`" in fields(await anna.command(interaction_id, "transfer"))
    assert "needs `target_id`" in fields(await anna.command(interaction_id, "transfer", to="queue"))
    assert "`channel`" in fields(await anna.command(interaction_id, "conference.kick"))
    assert "`digits`" in fields(await anna.command(interaction_id, "dtmf"))
    assert fields(await anna.command(interaction_id, "consult", number="12;Hangup"))
    assert fields(await anna.command(interaction_id, "consult", to="queue", target_id=1))
    assert fields(await anna.command(interaction_id, "park"))

    # Somebody else's call, a queue that does not exist, a redial of a call not hers.
    assert (await boris.command(interaction_id, "hold"))["code"] == "not_found"
    assert (await boris.command(interaction_id, "redial"))["code"] == "not_found"
    missing = await anna.command(interaction_id, "transfer", to="queue", target_id=999)
    assert missing["code"] == "not_found"
    assert office.bridged_together(interaction_id)  # none of it touched the call


async def test_transfer_targets_list_the_voice_queues_and_the_colleagues_with_their_state(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    boris = await office.user("boris")
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=office.base_url))
    await sign_in(client, "anna")

    targets = (await client.get("/api/calls/transfer-targets")).json()

    assert [q["name"] for q in targets["queues"]] == ["Sales", "Support"]
    assert targets["agents"] == [{"id": boris, "name": "Boris", "state": "offline"}]
    assert anna.agent_id not in {a["id"] for a in targets["agents"]}
    async with httpx.AsyncClient(base_url=office.base_url) as stranger:
        assert (await stranger.get("/api/calls/transfer-targets")).status_code == 401


async def test_joining_a_consultation_puts_caller_agent_and_consulted_party_in_one_conference(
    office: Office, stack: Any
) -> None:
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)
    caller, agent = office.control.voice.legs(interaction_id)
    assert agent is not None

    not_yet = await anna.command(interaction_id, "transfer.conference")
    assert (not_yet["type"], not_yet["code"]) == ("error", "not_consulting")
    assert (await anna.command(interaction_id, "consult", number="200"))["type"] == "ack"
    await until(
        lambda: any(
            name.startswith("Local/200@parley-test-phones-")
            for name in office.partners(agent.uniqueid)
        )
    )

    joined = await anna.command(interaction_id, "transfer.conference")

    assert joined["type"] == "ack", joined
    for _ in range(200):
        listed = await anna.command(interaction_id, "conference.list")
        assert listed["type"] == "ack", listed
        if len(listed["members"]) == 3:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"the conference never had three members: {listed}")
    assert sorted((m["role"], m["name"]) for m in listed["members"]) == [
        ("agent", ""),
        ("caller", "+48221234567"),
        ("party", "200"),
    ]
    state = office.control.state(interaction_id)
    assert state["is_conference"] and not state["is_consulting"]
    assert office.phase(interaction_id) == "talking"

    # The agent leaves: the caller and the consulted party talk on.
    assert (await anna.command(interaction_id, "conference.leave"))["type"] == "ack"
    await until(lambda: office.phase(interaction_id) is None)
    assert office.control.voice.connector.calls.channels.get(caller.uniqueid) is not None


async def test_a_pre_recorded_message_plays_into_the_call_and_leaves_with_its_end(
    office: Office, stack: Any, tmp_path: Path
) -> None:
    sound = tmp_path / "terms"
    write_hold_tone(sound.with_suffix(".sln"), seconds=5.0)
    async with office.app.state.runtime.database.transaction() as db:
        db.add(
            QueueVoiceSettings(
                queue_id=office.support_id, messages=[{"name": "Terms", "sound": str(sound)}]
            )
        )
    anna = await office.desk(stack, "anna")
    interaction_id = await office.connected(anna)
    calls = office.control.voice.connector.calls

    needs = await anna.command(interaction_id, "message.play")
    assert (needs["type"], needs["code"]) == ("error", "bad_frame")
    unknown = await anna.command(interaction_id, "message.play", message="Nope")
    assert unknown["code"] == "not_found"

    played = await anna.command(interaction_id, "message.play", message="Terms")

    assert played["type"] == "ack", played
    assert office.control.state(interaction_id)["message"] == "Terms"
    await until(lambda: len(calls.find("Local/join@parley-message-")) == 2)
    # Its joining side is in the call's bridge, beside caller and agent.
    _caller, agent = office.control.voice.legs(interaction_id)
    assert agent is not None
    await until(
        lambda: any(
            n.startswith("Local/join@parley-message-") for n in office.partners(agent.uniqueid)
        )
    )
    again = await anna.command(interaction_id, "message.play", message="Terms")
    assert again["code"] == "message_playing"

    # The message ends: no channel of it is left, and the call goes on.
    await until(lambda: not calls.find("Local/join@parley-message-"))
    assert office.control.state(interaction_id)["message"] is None
    assert office.bridged_together(interaction_id) and office.phase(interaction_id) == "talking"
