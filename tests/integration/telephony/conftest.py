"""Parley's voice service on a real Asterisk (the `pbx` fixture, tests/pbx_fixtures.py):
`center` runs the engine and the voice service on SQLite with a queue on a dialled
number, with helpers to log agents in, place customers' calls and wait.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from parley.platform.bus import Event
from parley.platform.config import Settings
from parley.platform.engine import Engine
from parley.platform.models import BlockedCaller, Interaction, Queue, Role, User, VoiceNumber
from parley.platform.runtime import Runtime
from parley.telephony.ami import AmiConnector
from parley.telephony.control import CallControl
from parley.telephony.pbx import Asterisk
from parley.telephony.voice import VoiceService
from tests.pbx_fixtures import ANSWERS, NEVER_ANSWERS, until

__all__ = ["ANSWERS", "NEVER_ANSWERS", "Center", "until"]


@dataclass
class Center:
    asterisk: Asterisk
    runtime: Runtime
    voice: VoiceService
    control: CallControl
    queue_id: int
    events: list[Event]

    @property
    def engine(self) -> Engine:
        return self.runtime.require_engine()

    @property
    def ami(self) -> AmiConnector:
        return self.voice.connector

    async def agent(self, name: str, device: str) -> int:
        async with self.runtime.database.transaction() as db:
            user = User(
                username=name,
                display_name=name.title(),
                password_hash="x",
                role=Role.AGENT,
                device=device,
                capacity={"voice": 1, "callback": 1},
            )
            db.add(user)
            await db.flush()
            agent_id = user.id
        await self.engine.login(agent_id)
        await self.engine.request_ready(agent_id)
        return agent_id

    async def call(
        self,
        caller: str = "+48221234567",
        dialled: str = "100",
        *,
        talks: bool = False,
        presses_2: bool = False,
    ) -> None:
        """A customer calls `dialled`: the ;2 half of a Local channel runs parley-inbound,
        the ;1 half (the customer) waits on the line, plays a tone when `talks`, or
        presses 2 after a moment (in a menu)."""
        script = "talker" if talks else "press2" if presses_2 else None
        customer = (
            {"Context": "parley-test-phones", "Exten": script, "Priority": "1"}
            if script
            else {"Application": "Wait", "Data": "120"}
        )
        await self.ami.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{dialled}@parley-inbound",
                "CallerID": f"Customer <{caller}>",
                "Async": "true",
                **customer,
            }
        )

    async def connected(self, agent_id: int, **call: object) -> int:
        """A call answered by `agent_id`'s device; its interaction id."""
        await self.call(**call)  # type: ignore[arg-type]
        interaction_id = await self.engine.accept(agent_id, await self.offer_for(agent_id))
        await until(lambda: self.phase(interaction_id) == "talking")
        return interaction_id

    def phase(self, interaction_id: int) -> str | None:
        tracked = self.voice.call_of(interaction_id)
        return tracked[1] if tracked else None

    async def offer_for(self, agent_id: int) -> str:
        await until(lambda: bool(self.engine.ringing_offers(agent_id)))
        (offer,) = self.engine.ringing_offers(agent_id)
        return str(offer.offer_id)

    def customer(self, dialled: str = "100") -> str:
        """The customer's end of the call to `dialled`."""
        (channel,) = [
            c
            for c in self.ami.calls.find(f"Local/{dialled}@parley-inbound-")
            if c.name.endswith(";1")
        ]
        return channel.name

    async def interaction(self, interaction_id: int) -> Interaction:
        async with self.runtime.database.sessions() as db:
            return await db.get_one(Interaction, interaction_id)

    def published(self, type_: str) -> list[dict[str, object]]:
        return [event.payload for event in self.events if event.type == type_]


@pytest.fixture
async def center(
    pbx: Asterisk, agi_port: int, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[Center]:
    database = tmp_path / "parley.sqlite3"
    shutil.copy(sqlite_template, database)
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{database}",
        roles=["engine"],
        presence_timeout_seconds=3600,
        argon2_time_cost=1,
        argon2_memory_kib=8 * 1024,
        default_phone_region="PL",
    )
    runtime = Runtime.from_settings(settings)
    connector = AmiConnector(pbx.endpoint, backoff_initial=0.1, backoff_max=0.5)
    voice = VoiceService(runtime, connector, agi_port=agi_port, ring_seconds=2)
    runtime.services.append(voice)
    control = CallControl(voice)
    async with runtime.database.transaction() as db:
        queue = Queue(name="Support", channels=["voice", "callback"], wrap_up_seconds=30)
        db.add(queue)
        await db.flush()
        db.add(VoiceNumber(number="100", name="Hotline", queue_id=queue.id))
        db.add(BlockedCaller(pattern="+4870*", reason="spam"))
        queue_id = queue.id
    await runtime.start()
    events: list[Event] = []
    subscription = runtime.bus.subscribe("*")

    async def collect() -> None:
        async with subscription:
            async for event in subscription:
                events.append(event)

    collector = asyncio.create_task(collect())
    await until(lambda: voice.readiness() is None)
    try:
        yield Center(pbx, runtime, voice, control, queue_id, events)
    finally:
        collector.cancel()
        await runtime.stop()
