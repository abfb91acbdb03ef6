"""Media gateway benchmark: concurrent browser calls through one gateway process.

The gateway (`parley.telephony.media.gateway.MediaGateway`, the `media` role) runs in a
process of its own, so its CPU time is its own. This process plays the rest: `--calls`
agents' browsers (aiortc clients, each with a line opened through the gateway's
signalling) and the Asterisk that `asterisk/install.sh` built, where every call is an
AudioSocket channel into the gateway running Echo, so each agent hears themselves back
through the whole path: browser -> gateway -> Asterisk -> gateway -> browser.

Every client's microphone is silence with a 40 ms 1 kHz burst once a second; the time
from sending a burst to hearing it back is the round trip. Measured over `--seconds`
after a warm-up:

- CPU of the gateway process, in % of one core, in total and per call;
- the latency the gateway adds, each way, p50/p99: measured inside the gateway process
  per frame (`parley.telephony.media.timing`, turned on here only): AudioSocket frame
  read -> its RTP packet sent, and RTP packet received -> its AudioSocket frame written;
- round trip p50/p99 and half of it (it includes Asterisk's Echo, the loopback network
  and the clients' own decoding, so it is an upper bound of what the gateway adds; the
  clients play out as soon as the next packet is there, as a browser on a LAN does);
- packet loss: RTP packets the clients did not receive (their receivers' stats), and the
  frames the gateway's jitter buffers dropped or had to fill with silence;
- the CPU of this process (the clients and the AMI connection), so a saturated load
  generator is not mistaken for a slow gateway.

    python -m bench.media.run [--calls 50] [--seconds 20] [--output bench/results/media.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import os
import platform
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from bench.router.run import cpu_model, percentile
from parley.platform.config import Settings
from parley.platform.runtime import Runtime
from parley.telephony.ami import ActionFailed, AmiConnector
from parley.telephony.asterisk_config import AmiAccount, AsteriskConfig, AsteriskDirs, render
from parley.telephony.media import audiosocket_dial_string, line_uuid
from parley.telephony.media.gateway import MediaGateway, decode_without_prefetch
from parley.telephony.pbx import Asterisk, free_port, write_hold_tone

PREFIX = Path(os.environ.get("PARLEY_ASTERISK_PREFIX", "/opt/parley-asterisk"))
RATE = 8000
FRAME = 160  # samples per 20 ms
BURST_FRAMES = 2
THRESHOLD = 2000.0  # RMS of a frame that carries the burst (silence is ~0)
WARM_UP_SECONDS = 3.0
_REPLY = "@reply "


class BurstMicrophone(MediaStreamTrack):
    """Silence, with a 40 ms 1 kHz burst once a second (at `offset` into the second, so
    the clients' bursts are spread); remembers when each burst went out."""

    kind = "audio"

    def __init__(self, offset: float) -> None:
        super().__init__()
        self._sent = 0
        self._started: float | None = None
        self._offset = int(offset * RATE) // FRAME
        self.sent_at: list[float] = []

    async def recv(self) -> av.AudioFrame:
        if self._started is None:
            self._started = time.monotonic()
        wait = self._started + self._sent / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        index = self._sent // FRAME
        in_burst = (index - self._offset) % 50 < BURST_FRAMES
        if in_burst:
            n = np.arange(self._sent, self._sent + FRAME)
            samples = (12000 * np.sin(2 * math.pi * 1000 * n / RATE)).astype("<i2")
            if (index - self._offset) % 50 == 0:
                self.sent_at.append(time.monotonic())
        else:
            samples = np.zeros(FRAME, dtype="<i2")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += FRAME
        return frame


class Client:
    """One agent's browser: a line, its microphone, and the bursts it hears back."""

    def __init__(self, agent_id: int, offset: float) -> None:
        self.agent_id = agent_id
        self.pc = RTCPeerConnection()
        self.microphone = BurstMicrophone(offset)
        sender = self.pc.addTrack(self.microphone)
        # A browser on a LAN plays out within a packet or two (its NetEQ adapts); aiortc
        # would wait 80 ms, which is the client's delay, not the gateway's.
        transceiver = next(t for t in self.pc.getTransceivers() if t.sender is sender)
        decode_without_prefetch(transceiver.receiver)
        self.heard_at: list[float] = []
        self._loud = False
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on(
            "track", lambda track: self._tasks.append(asyncio.create_task(self._hear(track)))
        )

    async def _hear(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            for piece in resampler.resample(frame):  # type: ignore[arg-type]
                samples = piece.to_ndarray().astype(float)
                loud = float(np.sqrt(np.mean(samples**2))) > THRESHOLD
                if loud and not self._loud:
                    self.heard_at.append(now)
                self._loud = loud

    def round_trips(self, since: float) -> list[float]:
        """Seconds from each burst sent after `since` to the first loud frame heard after
        it (within 0.9 s: bursts are a second apart)."""
        trips = []
        heard = sorted(self.heard_at)
        for sent in self.microphone.sent_at:
            if sent < since:
                continue
            after = [h - sent for h in heard if 0 <= h - sent < 0.9]
            if after:
                trips.append(after[0])
        return trips

    async def packets(self) -> tuple[int, int]:
        """(received, lost) RTP packets of the line's incoming audio."""
        report = await self.pc.getStats()
        received = lost = 0
        for stats in report.values():
            if stats.type == "inbound-rtp":
                received += stats.packetsReceived
                lost += max(0, stats.packetsLost)
        return received, lost

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the gateway's process ------------------------------------------------------------


async def serve_gateway(port: int, secret: str, data_dir: Path) -> None:
    """The gateway alone, signalled with JSON lines on stdin (`offer`, `stats`); it
    stops at the end of its input."""
    settings = Settings(
        data_dir=data_dir,
        roles=["media"],
        secret_key=secret,
        media_port=port,
        log_level="WARNING",
        _env_file=None,
    )
    runtime = Runtime.from_settings(settings)
    gateway = MediaGateway(runtime, host="127.0.0.1", port=port, frame_timing=True)
    await runtime.bus.start()
    await gateway.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            request = json.loads(line)
            if request["op"] == "offer":
                answer = await gateway.signal(request["agent_id"], "offer", request["sdp"])
                reply: dict[str, Any] = {"sdp": answer}
            elif request["op"] == "reset_timing":
                assert gateway.timing is not None
                gateway.timing.reset()
                reply = {}
            else:
                reply = gateway.stats()
            sys.stdout.write(_REPLY + json.dumps(reply) + "\n")  # logs share stdout
            sys.stdout.flush()
    finally:
        await gateway.stop()
        await runtime.bus.close()
        await runtime.database.dispose()


# --- the load --------------------------------------------------------------------------


class GatewayProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._lock = asyncio.Lock()

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            await self.process.stdin.drain()
            while True:
                line = await asyncio.wait_for(self.process.stdout.readline(), 30)
                if not line:
                    raise RuntimeError("the gateway process ended")
                if line.startswith(_REPLY.encode()):
                    return json.loads(line[len(_REPLY) :])  # type: ignore[no-any-return]


async def run(
    calls: int, seconds: float, base: Path, profile: Path | None = None
) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="parley-ast-"))
    config = AsteriskConfig(
        dirs=AsteriskDirs(base=base / "asterisk", run=run_dir),
        ami=AmiAccount(port=free_port(), username="parley", secret=secrets.token_hex(16)),
        sip_port=free_port(socket.SOCK_DGRAM),
        prefix=PREFIX,
    )
    render(config)
    write_hold_tone(config.dirs.moh / "parley-hold.sln")
    asterisk = Asterisk(PREFIX / "sbin" / "asterisk", config)
    asterisk.start()
    secret = secrets.token_urlsafe(32)
    port = free_port()
    profiling = ["-m", "cProfile", "-o", str(profile)] if profile else []
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *profiling,
        "-m",
        "bench.media.run",
        "--serve-gateway",
        str(port),
        "--secret",
        secret,
        "--data-dir",
        str(base / "gateway"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    connector = AmiConnector(asterisk.endpoint)
    clients: list[Client] = []
    try:
        await connector.start()
        await _wait(lambda: connector.is_ready)
        with contextlib.suppress(ActionFailed):  # refused when loaded already
            await connector.send(
                {"Action": "ModuleLoad", "Module": "app_echo.so", "LoadType": "load"}
            )
        gateway = GatewayProcess(process)
        await _wait_for_port(port)
        return await _measure(
            calls, seconds, gateway, process.pid, connector, port, secret, clients
        )
    finally:
        for client in clients:
            await client.close()
        await connector.stop()
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        asterisk.stop()


async def _measure(
    calls: int,
    seconds: float,
    gateway: GatewayProcess,
    gateway_pid: int,
    connector: AmiConnector,
    port: int,
    secret: str,
    clients: list[Client],
) -> dict[str, Any]:
    for n in range(calls):
        client = Client(n + 1, offset=(n % 40) * 0.02)
        clients.append(client)
        await client.pc.setLocalDescription(await client.pc.createOffer())
        answer = await gateway.ask(
            {"op": "offer", "agent_id": client.agent_id, "sdp": client.pc.localDescription.sdp}
        )
        await client.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await _wait(lambda: all(c.pc.connectionState == "connected" for c in clients), 60)
    await _gateway_reports(gateway, "lines_connected", calls)
    for client in clients:
        uuid = line_uuid(secret, client.agent_id)
        await connector.send(
            {
                "Action": "Originate",
                "Channel": audiosocket_dial_string("127.0.0.1", port, uuid),
                "Application": "Echo",
                "Async": "true",
            }
        )
    await _gateway_reports(gateway, "calls", calls)
    bridged = (await gateway.ask({"op": "stats"}))["calls"]
    await asyncio.sleep(WARM_UP_SECONDS)

    load_at_start = os.getloadavg()[0]
    await gateway.ask({"op": "reset_timing"})
    before = await gateway.ask({"op": "stats"})
    packets_before = [await c.packets() for c in clients]
    started = time.monotonic()
    gateway_cpu, own_cpu = cpu_seconds(gateway_pid), time.process_time()
    await asyncio.sleep(seconds)
    gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
    own_cpu = time.process_time() - own_cpu
    elapsed = time.monotonic() - started
    after = await gateway.ask({"op": "stats"})
    packets_after = [await c.packets() for c in clients]

    trips = sorted(t * 1000 for c in clients for t in c.round_trips(started))
    expected_bursts = sum(1 for c in clients for s in c.microphone.sent_at if s >= started)
    received = sum(a[0] - b[0] for a, b in zip(packets_after, packets_before, strict=True))
    lost = sum(a[1] - b[1] for a, b in zip(packets_after, packets_before, strict=True))
    frames = calls * elapsed / 0.02 * 2  # both directions through the gateway's buffers
    gateway_percent = gateway_cpu / elapsed * 100
    return {
        "benchmark": "media",
        "calls": calls,
        "calls_bridged": bridged,
        "seconds": round(elapsed, 2),
        "codecs": after["codecs"],
        "gateway_cpu_percent_of_one_core": round(gateway_percent, 1),
        "gateway_cpu_percent_per_call": round(gateway_percent / max(calls, 1), 2),
        "load_generator_cpu_percent_of_one_core": round(own_cpu / elapsed * 100, 1),
        "round_trip_ms": {
            "p50": round(percentile(trips, 0.50), 1),
            "p99": round(percentile(trips, 0.99), 1),
            "max": round(trips[-1], 1) if trips else 0,
        },
        "half_round_trip_ms_p50": round(percentile(trips, 0.50) / 2, 1),
        "gateway_added_latency": after["added_latency"],
        "bursts_heard_back": f"{len(trips)}/{expected_bursts}",
        "rtp_packets_received": received,
        "rtp_packet_loss_percent": round(lost / max(received + lost, 1) * 100, 3),
        "gateway_frames_dropped_percent": round(
            (after["dropped_frames"] - before["dropped_frames"]) / frames * 100, 3
        ),
        "gateway_frames_silence_filled_percent": round(
            (after["silence_filled_frames"] - before["silence_filled_frames"]) / frames * 100, 3
        ),
        "cores": os.cpu_count(),
        # the machine is shared (other engineers' tests): the numbers are noisy
        "load_average_1min_at_start": round(load_at_start, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "asterisk": "22 (asterisk/install.sh)",
        "python": platform.python_version(),
        "cpu": cpu_model(),
    }


async def _gateway_reports(gateway: GatewayProcess, key: str, count: int) -> None:
    """Wait until the gateway's stats count `count` of `key` (lines up, calls bridged)."""
    deadline = time.monotonic() + 60
    while (await gateway.ask({"op": "stats"}))[key] < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway has fewer than {count} {key}")
        await asyncio.sleep(0.2)


async def _wait(predicate: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {seconds} s")
        await asyncio.sleep(0.05)


async def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        writer.close()  # the gateway hangs up a connection without a uuid
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Media gateway benchmark (see the docstring).")
    parser.add_argument("--output", type=Path, default=Path("bench/results/media.json"))
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the gateway here")
    parser.add_argument("--serve-gateway", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_gateway:
        asyncio.run(serve_gateway(args.serve_gateway, args.secret, args.data_dir))
        return 0
    if not os.access(PREFIX / "sbin" / "asterisk", os.X_OK):
        print(f"Asterisk is not installed in {PREFIX}: run asterisk/install.sh", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="parley-bench-media-") as base:
        result = asyncio.run(run(args.calls, args.seconds, Path(base), args.profile))
    text = json.dumps(result, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
