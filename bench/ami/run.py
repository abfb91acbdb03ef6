"""AMI benchmark: Parley's voice path on a real Asterisk, measured.

Starts the Asterisk that `asterisk/install.sh` built, with Parley's configuration in a
temporary directory, and Parley's engine and voice service on a SQLite database. One agent
whose device is a Local channel that answers at once takes `--calls` inbound calls one
after another: each call goes through FastAGI into the queue, is offered, accepted through
the engine, redirected over AMI to the agent's device, bridged, hung up by the customer.

Measured:

- ring latency: from the engine's `accept` call to the agent's device channel appearing in
  the call model (Asterisk has started ringing it), p50/p99/max over the calls;
- call setup: from the customer's Originate to the offer reaching the agent;
- normalization: every AMI event the connector received during the run is recorded, then
  replayed through a fresh call model until at least two seconds have passed: events per
  second the connector turns into the live call model (the pure part; the socket reading
  is panoramisk's).

    python -m bench.ami.run [--calls 200] [--output bench/results/ami.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.router.run import cpu_model, percentile
from parley.platform.agents import AgentState
from parley.platform.config import Settings
from parley.platform.db.migrate import upgrade
from parley.platform.models import Queue, Role, User, VoiceNumber
from parley.platform.runtime import Runtime
from parley.telephony.ami import AmiConnector
from parley.telephony.asterisk_config import AmiAccount, AsteriskConfig, AsteriskDirs, render
from parley.telephony.calls import CallChange, CallModel, ChannelChange
from parley.telephony.pbx import Asterisk, free_port, write_hold_tone
from parley.telephony.voice import VoiceService

PREFIX = Path(os.environ.get("PARLEY_ASTERISK_PREFIX", "/opt/parley-asterisk"))
DEVICE = "Local/answer@parley-bench-phones/n"
PHONES = """
[parley-bench-phones]
exten => answer,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
"""


class RecordingCallModel(CallModel):
    """The call model, keeping a copy of every event it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[Mapping[str, Any]] = []

    def apply(self, event: Mapping[str, Any]) -> list[CallChange]:
        self.recorded.append(dict(event))
        return super().apply(event)


async def until(predicate: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {seconds} s")
        await asyncio.sleep(0.002)


def normalization_rate(events: list[Mapping[str, Any]]) -> tuple[float, int]:
    """Events per second through a fresh call model, replaying `events` for >= 2 s."""
    replayed = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 2.0:
        model = CallModel()
        for event in events:
            model.apply(event)
        replayed += len(events)
    return replayed / (time.perf_counter() - started), replayed


async def run(calls: int, base: Path) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="parley-ast-"))
    agi_port = free_port()
    config = AsteriskConfig(
        dirs=AsteriskDirs(base=base / "asterisk", run=run_dir),
        ami=AmiAccount(port=free_port(), username="parley", secret=secrets.token_hex(16)),
        sip_port=free_port(socket.SOCK_DGRAM),
        prefix=PREFIX,
        fastagi_url=f"agi://127.0.0.1:{agi_port}/inbound",
    )
    render(config)
    (config.dirs.etc / "extensions_custom.conf").write_text(PHONES)
    write_hold_tone(config.dirs.moh / "parley-hold.sln")
    asterisk = Asterisk(PREFIX / "sbin" / "asterisk", config)
    asterisk.start()
    try:
        return await _measure(calls, base, asterisk, agi_port)
    finally:
        asterisk.stop()


async def _measure(calls: int, base: Path, asterisk: Asterisk, agi_port: int) -> dict[str, Any]:
    settings = Settings(
        data_dir=base,
        database_url=f"sqlite+aiosqlite:///{base / 'parley.sqlite3'}",
        roles=["engine"],
        presence_timeout_seconds=3600,
        log_level="WARNING",
    )
    runtime = Runtime.from_settings(settings)
    await upgrade(runtime.database)
    model = RecordingCallModel()
    connector = AmiConnector(asterisk.endpoint, calls=model)
    voice = VoiceService(runtime, connector, agi_port=agi_port)
    runtime.services.append(voice)
    async with runtime.database.transaction() as db:
        queue = Queue(name="Bench", channels=["voice"], wrap_up_seconds=0)
        db.add(queue)
        await db.flush()
        db.add(VoiceNumber(number="100", queue_id=queue.id))
        agent = User(
            username="agent",
            display_name="Agent",
            password_hash="!",  # noqa: S106 (no password: nobody logs in as this agent)
            role=Role.AGENT,
            device=DEVICE,
        )
        db.add(agent)
        await db.flush()
        agent_id = agent.id
    await runtime.start()
    engine = runtime.require_engine()
    rung: list[float] = []

    def on_change(change: CallChange) -> None:
        if (
            isinstance(change, ChannelChange)
            and change.kind == "added"
            and change.channel.name.startswith("Local/answer@parley-bench-phones-")
            and change.channel.name.endswith(";1")
        ):
            rung.append(time.perf_counter())

    connector.add_listener(on_change)
    ring_ms: list[float] = []
    setup_ms: list[float] = []
    try:
        await until(lambda: voice.readiness() is None)
        await engine.login(agent_id)
        await engine.request_ready(agent_id)
        started = time.perf_counter()
        events_before = len(model.recorded)
        for n in range(calls):
            called = time.perf_counter()
            await connector.send(
                {
                    "Action": "Originate",
                    "Channel": "Local/100@parley-inbound",
                    "Application": "Wait",
                    "Data": "60",
                    "CallerID": f"Customer <+4822{n:07d}>",
                    "Async": "true",
                }
            )
            await until(lambda: bool(engine.ringing_offers(agent_id)))
            setup_ms.append((time.perf_counter() - called) * 1000)
            (offer,) = engine.ringing_offers(agent_id)
            rings = len(rung)
            accepting = time.perf_counter()
            interaction_id = await engine.accept(agent_id, offer.offer_id)
            await until(lambda: len(rung) > rings)  # noqa: B023 (awaited in this pass)
            ring_ms.append((rung[rings] - accepting) * 1000)
            await until(lambda: (voice.call_of(interaction_id) or ("", ""))[1] == "talking")  # noqa: B023
            (customer,) = [
                c
                for c in connector.calls.find("Local/100@parley-inbound-")
                if c.name.endswith(";1")
            ]
            await connector.send({"Action": "Hangup", "Channel": customer.name})
            await until(lambda: voice.call_of(interaction_id) is None)  # noqa: B023
            await until(
                lambda: (
                    getattr(engine.agent(agent_id), "state", None) is AgentState.READY
                    and not connector.calls.channels
                )
            )
        elapsed = time.perf_counter() - started
        events = model.recorded[events_before:]
    finally:
        await runtime.stop()

    rate, replayed = normalization_rate(events)
    ring_ms.sort()
    setup_ms.sort()
    return {
        "benchmark": "ami",
        "calls": calls,
        "seconds": round(elapsed, 2),
        "calls_per_second": round(calls / elapsed, 1),
        "ring_latency_ms": {
            "p50": round(percentile(ring_ms, 0.50), 2),
            "p99": round(percentile(ring_ms, 0.99), 2),
            "max": round(ring_ms[-1], 2),
        },
        "offer_after_call_ms": {
            "p50": round(percentile(setup_ms, 0.50), 2),
            "p99": round(percentile(setup_ms, 0.99), 2),
        },
        "ami_events": len(events),
        "ami_events_per_call": round(len(events) / calls, 1),
        "normalized_events_per_second": round(rate),
        "normalization_replayed_events": replayed,
        "asterisk": "22 (asterisk/install.sh)",
        "python": platform.python_version(),
        "cpu": cpu_model(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="AMI benchmark (see the module docstring).")
    parser.add_argument("--output", type=Path, default=Path("bench/results/ami.json"))
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    if not os.access(PREFIX / "sbin" / "asterisk", os.X_OK):
        print(f"Asterisk is not installed in {PREFIX}: run asterisk/install.sh", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="parley-bench-ami-") as base:
        result = asyncio.run(run(args.calls, Path(base)))
    text = json.dumps(result, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
