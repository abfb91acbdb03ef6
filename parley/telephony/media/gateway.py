"""The media gateway (ARCHITECTURE.md §7, F-VO-11): agents' browsers on one side, over
WebRTC (aiortc), Asterisk on the other, over AudioSocket.

Each agent has one *line*: a peer connection their desktop opens at the start of the
shift and keeps (signalled over the agent websocket: `line.offer` -> `line.answer`,
`line.hangup`; `line.status` events). A new offer replaces the line (a reload, a network
that came back) and a call in progress carries on over the new one.

When a call is put through to a browser agent, Asterisk dials
`AudioSocket/<gateway>:<port>/<uuid>`; the uuid names the agent (`addressing.py`). The
gateway bridges the call's 8 kHz signed-linear frames with the line's audio track, both
ways, through a small jitter buffer each way. PCMU/PCMA are preferred in the answer so a
narrowband call needs no resampling: towards the browser the gateway encodes G.711 itself
(`g711.py`) and hands aiortc ready payloads; Opus (48 kHz) is resampled with PyAV.

A line that fails or closes mid-call hangs the call up (Asterisk ends the agent's leg and
the voice service completes the interaction), so no agent is left busy on a dead line.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import re
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import av
import structlog
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterBuffer as AiortcJitterBuffer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from parley.platform.bus import Event
from parley.platform.errors import DomainError
from parley.platform.runtime import Runtime
from parley.telephony.media import audiosocket, g711, relay
from parley.telephony.media.addressing import agent_of
from parley.telephony.media.audiosocket import FRAME_BYTES, SAMPLE_RATE, FrameError, Kind
from parley.telephony.media.jitter import JitterBuffer
from parley.telephony.media.timing import FrameTiming

log = structlog.get_logger(__name__)

SAMPLES_PER_FRAME = FRAME_BYTES // 2
FRAME_SECONDS = SAMPLES_PER_FRAME / SAMPLE_RATE
SILENCE = bytes(FRAME_BYTES)
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
_CODEC_ORDER = ("audio/pcmu", "audio/pcma", "audio/opus")
_NEGOTIATION_TIMEOUT = 15.0
_FIRST_FRAME_TIMEOUT = 5.0
_WRITE_TIMEOUT = 2.0
_LATE_RESET = 0.2  # seconds behind the clock after which pacing starts again
# Frames buffered before playing starts, each way. Asterisk and the gateway are on one
# LAN and both pace at 20 ms, so one frame absorbs most of their jitter (bench/media, 10
# calls, load average 4 on 2 cores: p50 to the browser 19 ms with 1, 28 ms with 2; the
# silence-filled frames 0.3 % with 1, 0.03 % with 2).
_START_DEPTH = 1
_BUFFER_LIMIT = 6
_PREFETCH_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
_prefetch_warned = False


class LineStatus(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILED = "failed"
    CLOSED = "closed"


class BadOffer(DomainError):
    def __init__(self, reason: str) -> None:
        super().__init__("bad_offer", f"The line's offer was not accepted: {reason}")


class UnknownLineAction(DomainError):
    def __init__(self, action: str) -> None:
        super().__init__("bad_frame", f"Unknown line action {action!r}.")


def preferred_codecs() -> list[RTCRtpCodecCapability]:
    """PCMU, then PCMA (no transcoding for a narrowband call), then Opus."""
    capabilities = RTCRtpSender.getCapabilities("audio").codecs
    chosen = [c for c in capabilities if c.mimeType.lower() in _CODEC_ORDER]
    return sorted(chosen, key=lambda c: _CODEC_ORDER.index(c.mimeType.lower()))


def negotiated_codec(sdp: str) -> str | None:
    """The codec an SDP's audio section lists first (`PCMU`, `opus`), None without one."""
    media = re.search(r"^m=audio \S+ \S+ (\d+)", sdp, re.MULTILINE)
    if media is None:
        return None
    rtpmap = re.search(rf"^a=rtpmap:{media.group(1)} ([^/\s]+)/", sdp, re.MULTILINE)
    return rtpmap.group(1) if rtpmap else None


def decode_without_prefetch(receiver: RTCRtpReceiver) -> None:
    """aiortc holds every audio packet until 4 more have come (`prefetch=4`: 80 ms)
    before it decodes it; the line's own jitter buffer towards Asterisk absorbs the
    network's jitter already, so waiting for the next packet is enough (a frame is only
    known to be complete then). Measured with bench/media (10 calls): the gateway adds
    p50 44 ms towards Asterisk with it, 100 ms without. It replaces a private attribute
    (`RTCRtpReceiver.__init__` sets it; no public setting exists), checked on aiortc
    1.16.0; an aiortc without it is logged once and left as it is (the calls work, 60 ms
    later)."""
    global _prefetch_warned
    if isinstance(getattr(receiver, _PREFETCH_ATTRIBUTE, None), AiortcJitterBuffer):
        setattr(receiver, _PREFETCH_ATTRIBUTE, AiortcJitterBuffer(capacity=16, prefetch=1))
    elif not _prefetch_warned:
        _prefetch_warned = True
        log.warning("media.aiortc_prefetch_not_tuned", attribute=_PREFETCH_ATTRIBUTE)


def time_rtp_arrivals(receiver: RTCRtpReceiver) -> dict[int, float]:
    """Frame timing only (`FrameTiming`): when each RTP packet reached `receiver`, by
    its timestamp counted from the first one's (the `pts` aiortc gives the decoded
    frame). Wraps the receiver's packet handler, which aiortc's transport calls for
    every packet after SRTP."""
    arrivals: dict[int, float] = {}
    handle = receiver._handle_rtp_packet
    origin: list[int] = []

    async def timed(packet: Any, arrival_time_ms: int) -> None:
        if not origin:
            origin.append(packet.timestamp)
        if len(arrivals) > 64:  # lost or never decoded: forget the oldest
            del arrivals[next(iter(arrivals))]
        arrivals[(packet.timestamp - origin[0]) % (1 << 32)] = time.monotonic()
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = timed  # type: ignore[method-assign]
    return arrivals


class _ToBrowser(MediaStreamTrack):
    """The line's outgoing track: the call's audio out of the jitter buffer at a steady
    20 ms pace, silence between calls (the line stays up for the shift)."""

    kind = "audio"

    def __init__(self, timing: FrameTiming | None = None) -> None:
        super().__init__()
        self.buffer = JitterBuffer(
            FRAME_BYTES, target=_START_DEPTH, limit=_BUFFER_LIMIT, timed=timing is not None
        )
        self.codec: str | None = None  # set once negotiated: G.711 goes out encoded
        self._timing = timing
        self._started: float | None = None
        self._timestamp = 0

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._started is None:
            self._started = now
        else:
            self._timestamp += SAMPLES_PER_FRAME
            wait = self._started + self._timestamp / SAMPLE_RATE - now
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -_LATE_RESET:  # the loop was busy: pace from now, not catch up
                self._started = now - self._timestamp / SAMPLE_RATE
        samples = self.buffer.pop()
        if samples is not None and self._timing is not None:
            assert self.buffer.popped_at is not None
            self._timing.to_browser.append(time.monotonic() - self.buffer.popped_at)
        if g711.is_g711(self.codec):
            assert self.codec is not None
            packet = av.Packet(g711.encode(self.codec, samples or SILENCE))
            packet.pts = self._timestamp
            packet.time_base = _TIME_BASE
            return packet
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
        frame.planes[0].update(samples or SILENCE)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._timestamp
        frame.time_base = _TIME_BASE
        return frame


@dataclass(eq=False)
class Line:
    agent_id: int
    connection: RTCPeerConnection
    to_browser: _ToBrowser
    to_asterisk: JitterBuffer = field(
        default_factory=lambda: JitterBuffer(FRAME_BYTES, target=_START_DEPTH, limit=_BUFFER_LIMIT)
    )
    codec: str | None = None
    rtp_arrivals: dict[int, float] | None = None  # frame timing only
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def is_up(self) -> bool:
        return self.connection.connectionState == "connected"


@dataclass(eq=False)
class _Call:
    """One AudioSocket connection from Asterisk, bridged to `agent_id`'s line."""

    call_uuid: uuid.UUID
    agent_id: int
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class MediaGateway:
    """The `media` role: the AudioSocket server and the agents' lines."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        host: str,
        port: int,
        advertised_host: str | None = None,
        frame_timing: bool = False,
    ) -> None:
        self._runtime = runtime
        # per-frame timing of the added latency (bench/media): off, nothing is measured
        self.timing = FrameTiming() if frame_timing else None
        self.host = host
        self.port = port
        self.advertised_host = advertised_host or host  # what Asterisk dials
        self._secret = runtime.settings.resolved_secret_key()
        self._lines: dict[int, Line] = {}
        self._calls: dict[int, _Call] = {}  # by agent
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._not_listening = "AudioSocket server not started"
        self._followers: list[asyncio.Task[None]] = []
        self._relayed: set[asyncio.Task[None]] = set()

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for Asterisk; a port taken by another process is a readiness failure
        (`/readyz` says so), not a crash of the other roles."""
        try:
            self._server = await asyncio.start_server(self._audiosocket, self.host, self.port)
        except OSError as exc:
            self._not_listening = f"AudioSocket server cannot listen: {exc.strerror}"
            log.error("media.cannot_listen", address=f"{self.host}:{self.port}", reason=str(exc))
            return
        self.port = self._server.sockets[0].getsockname()[1]
        if self._runtime.line_status is None:  # the agent sockets of this process
            self._runtime.line_status = self.line_status
        states = self._runtime.bus.subscribe("agent.state_changed")
        signals = self._runtime.bus.subscribe(relay.SIGNAL)
        self._followers = [
            asyncio.create_task(self._follow_agents(states), name="media-agents"),
            asyncio.create_task(self._serve_relay(signals), name="media-relay"),
        ]
        log.info("media.started", audiosocket=f"{self.host}:{self.port}")

    async def stop(self) -> None:
        if self._runtime.line_status == self.line_status:
            self._runtime.line_status = None
        followers, self._followers = [*self._followers, *self._relayed], []
        for follower in followers:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for call in list(self._calls.values()):
            call.ended.set()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, _WRITE_TIMEOUT)
        for agent_id in list(self._lines):
            await self._close_line(agent_id, publish=False)

    async def _follow_agents(self, states: Any) -> None:
        """An agent logged out (or whose desktop went silent) has no line any more."""
        async with states:
            async for event in states:
                agent_id = event.payload.get("agent_id")
                if event.payload.get("state") == "offline" and agent_id in self._lines:
                    log.info("media.agent_offline", agent_id=agent_id)
                    await self._close_line(agent_id)

    async def _serve_relay(self, signals: Any) -> None:
        """Signals a web process without the `media` role relays (`relay.py`)."""
        async with signals:
            async for event in signals:
                task = asyncio.create_task(self._answer_relayed(event.payload))
                self._relayed.add(task)
                task.add_done_callback(self._relayed.discard)

    async def _answer_relayed(self, request: dict[str, Any]) -> None:
        request_id = str(request.get("request_id", ""))
        try:
            agent_id, action = int(request["agent_id"]), str(request["action"])
            sdp = request.get("sdp")
            answer = await self.signal(agent_id, action, sdp if isinstance(sdp, str) else None)
            payload = relay.answered(request_id, sdp=answer)
        except DomainError as exc:
            payload = relay.answered(request_id, error=exc)
        except (KeyError, TypeError, ValueError):
            log.warning("media.bad_relayed_signal", request_id=request_id)
            payload = relay.answered(request_id, error=UnknownLineAction("?"))
        now = self._runtime.clock.now()
        await self._runtime.bus.publish(Event.create(relay.ANSWERED, payload, now))

    def rtc_configuration(self) -> RTCConfiguration:
        """The lines' ICE servers (`media_ice_servers`): STUN to learn the gateway's
        public address, TURN when the browser cannot reach it directly."""
        servers = [
            RTCIceServer(
                urls=server.urls,
                username=server.username or None,
                credential=server.credential or None,
            )
            for server in self._runtime.settings.media_ice_servers
        ]
        return RTCConfiguration(iceServers=servers)

    def readiness(self) -> str | None:
        return None if self._server is not None else self._not_listening

    def stats(self) -> dict[str, Any]:
        """Lines, calls and the jitter buffers' counts, for monitoring and bench/media."""
        lines = list(self._lines.values())
        buffers = [b for line in lines for b in (line.to_browser.buffer, line.to_asterisk)]
        return {
            "lines": len(lines),
            "lines_connected": sum(line.is_up for line in lines),
            "calls": len(self._calls),
            "dropped_frames": sum(b.dropped for b in buffers),
            "silence_filled_frames": sum(b.underruns for b in buffers),
            "codecs": sorted({line.codec for line in lines if line.codec}),
            **({"added_latency": self.timing.report()} if self.timing is not None else {}),
        }

    def line(self, agent_id: int) -> Line | None:
        return self._lines.get(agent_id)

    async def line_status(self, agent_id: int) -> dict[str, Any] | None:
        """The agent's line now, as its `line.status` events say it (`Runtime.line_status`:
        the snapshot of a reconnecting desktop); None without a line."""
        line = self._lines.get(agent_id)
        if line is None:
            return None
        status = LineStatus.CONNECTED if line.is_up else LineStatus.CONNECTING
        return {"status": status.value, "codec": line.codec, "in_call": agent_id in self._calls}

    def in_call(self, agent_id: int) -> bool:
        return agent_id in self._calls

    # --- signalling (the agent websocket's `line.*` frames, Runtime.line_signals) --------

    async def signal(self, agent_id: int, action: str, sdp: str | None) -> str | None:
        """`offer`: (re)open the agent's line, returning the complete answer SDP;
        `hangup`: close it (the end of the shift)."""
        if action == "offer":
            return await self._answer(agent_id, sdp or "")
        if action == "hangup":
            await self._close_line(agent_id)
            return None
        raise UnknownLineAction(action)

    async def _answer(self, agent_id: int, sdp: str) -> str:
        connection = RTCPeerConnection(self.rtc_configuration())
        timed = self.timing is not None
        line = Line(
            agent_id,
            connection,
            _ToBrowser(self.timing),
            JitterBuffer(FRAME_BYTES, target=_START_DEPTH, limit=_BUFFER_LIMIT, timed=timed),
        )
        transceiver = connection.addTransceiver(line.to_browser, direction="sendrecv")
        transceiver.setCodecPreferences(preferred_codecs())
        decode_without_prefetch(transceiver.receiver)
        if timed:
            line.rtp_arrivals = time_rtp_arrivals(transceiver.receiver)
        connection.on("track", lambda track: self._receive_from_browser(line, track))
        connection.on("connectionstatechange", lambda: self._state_changed(line))
        try:
            async with asyncio.timeout(_NEGOTIATION_TIMEOUT):
                await connection.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
                await connection.setLocalDescription(await connection.createAnswer())
        except Exception as exc:  # aiortc raises many kinds for an SDP it cannot use
            await connection.close()
            log.warning("media.bad_offer", agent_id=agent_id, reason=repr(exc)[:200])
            raise BadOffer(type(exc).__name__) from exc
        answer = connection.localDescription.sdp
        line.codec = line.to_browser.codec = negotiated_codec(answer)
        previous = self._lines.get(agent_id)
        self._lines[agent_id] = line
        if previous is not None:
            await self._shut(previous)
        log.info("media.line_answered", agent_id=agent_id, codec=line.codec)
        await self._publish(line, LineStatus.CONNECTING)
        return answer

    def _state_changed(self, line: Line) -> None:
        state = line.connection.connectionState
        if self._lines.get(line.agent_id) is not line:
            return  # a line replaced by a newer one
        if state == "connected":
            self._spawn(line, self._publish(line, LineStatus.CONNECTED))
        elif state in ("failed", "closed"):
            log.info("media.line_lost", agent_id=line.agent_id, state=state)
            self._spawn(line, self._close_line(line.agent_id, status=LineStatus(state)))

    async def _close_line(
        self, agent_id: int, *, status: LineStatus = LineStatus.CLOSED, publish: bool = True
    ) -> None:
        line = self._lines.pop(agent_id, None)
        call = self._calls.get(agent_id)
        if call is not None:
            call.ended.set()  # hang the call up: nobody hears it any more
        if line is None:
            return
        if publish:
            await self._publish(line, status)
        await self._shut(line)

    async def _shut(self, line: Line) -> None:
        line.to_browser.stop()
        await line.connection.close()
        current = asyncio.current_task()
        for task in list(line.tasks):
            if task is not current:
                task.cancel()

    def _spawn(self, line: Line, work: Any) -> None:
        task = asyncio.ensure_future(work)
        line.tasks.add(task)
        task.add_done_callback(line.tasks.discard)

    async def _publish(self, line: Line, status: LineStatus) -> None:
        payload = {
            "agent_id": line.agent_id,
            "status": status.value,
            "codec": line.codec,
            "in_call": line.agent_id in self._calls,
            "gateway": f"{self.advertised_host}:{self.port}",
        }
        await self._runtime.bus.publish(
            Event.create("line.status", payload, self._runtime.clock.now())
        )

    def _receive_from_browser(self, line: Line, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(line, self._pump_from_browser(line, track))

    async def _pump_from_browser(self, line: Line, track: MediaStreamTrack) -> None:
        """The browser's audio, as 8 kHz mono s16, into the buffer towards Asterisk."""
        resampler: av.AudioResampler | None = None
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            arrived = 0.0
            if line.rtp_arrivals is not None:
                arrived = line.rtp_arrivals.pop(frame.pts or 0, 0.0) or time.monotonic()
            if line.agent_id not in self._calls:
                continue  # no call on the line: nobody to hear it
            if (frame.sample_rate, frame.format.name, frame.layout.name) == (
                SAMPLE_RATE,
                "s16",
                "mono",
            ):  # G.711 decoded: the samples as they are, without an ndarray
                line.to_asterisk.put(bytes(frame.planes[0])[: frame.samples * 2], arrived)
                continue
            if resampler is None:
                resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for piece in resampler.resample(frame):
                line.to_asterisk.put(piece.to_ndarray().tobytes(), arrived)

    # --- AudioSocket: Asterisk's side ----------------------------------------------------

    async def _audiosocket(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        frames = audiosocket.FrameReader()
        call: _Call | None = None
        try:
            call = await self._admit(reader, frames)
            if call is None:
                writer.write(audiosocket.HANGUP)
                return
            await self._bridge(call, reader, writer, frames)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.info("media.audiosocket_gone", reason=type(exc).__name__)
        except Exception:
            log.exception("media.audiosocket_failed", agent_id=call.agent_id if call else None)
        finally:
            if call is not None and self._calls.get(call.agent_id) is call:
                del self._calls[call.agent_id]
                line = self._lines.get(call.agent_id)
                if line is not None:
                    line.to_browser.buffer.clear()
                    line.to_asterisk.clear()
                    await self._publish(line, LineStatus.CONNECTED)
            with contextlib.suppress(ConnectionError):
                writer.close()
            self._connections.discard(task)

    async def _admit(
        self, reader: asyncio.StreamReader, frames: audiosocket.FrameReader
    ) -> _Call | None:
        """Read the call's uuid and find its line; None when the call cannot be bridged
        (it is then hung up: a bad uuid, no line up, the line already in a call)."""
        received: list[audiosocket.Frame] = []
        async with asyncio.timeout(_FIRST_FRAME_TIMEOUT):
            while not received:
                data = await reader.read(4096)
                if not data:
                    return None
                try:
                    received = frames.feed(data)
                except FrameError as exc:
                    log.warning("media.bad_audiosocket_frame", reason=str(exc))
                    return None
        first = received[0]
        if first.kind is not Kind.UUID:
            log.warning("media.audiosocket_without_uuid", kind=first.kind.name)
            return None
        agent_id = agent_of(self._secret, first.uuid)
        line = self._lines.get(agent_id) if agent_id is not None else None
        if agent_id is None or line is None or not line.is_up or agent_id in self._calls:
            reason = (
                "unknown uuid"
                if agent_id is None
                else "no line"
                if line is None or not line.is_up
                else "line busy"
            )
            log.warning("media.call_refused", agent_id=agent_id, reason=reason)
            return None
        call = _Call(first.uuid, agent_id)
        self._calls[agent_id] = call
        line.to_browser.buffer.clear()
        line.to_asterisk.clear()
        for frame in received[1:]:
            self._from_asterisk(call, frame, time.monotonic())
        log.info("media.call_bridged", agent_id=agent_id, uuid=str(call.call_uuid))
        await self._publish(line, LineStatus.CONNECTED)
        return call

    async def _bridge(
        self,
        call: _Call,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        frames: audiosocket.FrameReader,
    ) -> None:
        receiving = asyncio.create_task(self._receive_from_asterisk(call, reader, frames))
        sending = asyncio.create_task(self._send_to_asterisk(call, writer))
        ended = asyncio.create_task(call.ended.wait())
        try:
            await asyncio.wait({receiving, sending, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiving, sending, ended):
                task.cancel()
            for task in (receiving, sending, ended):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if call.ended.is_set():
            log.info("media.call_hung_up_by_line", agent_id=call.agent_id)
            writer.write(audiosocket.HANGUP)
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(_WRITE_TIMEOUT):
                    await writer.drain()
        for task in (receiving, sending):
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _receive_from_asterisk(
        self, call: _Call, reader: asyncio.StreamReader, frames: audiosocket.FrameReader
    ) -> None:
        while True:
            data = await reader.read(4096)
            if not data:
                log.info("media.asterisk_closed", agent_id=call.agent_id)
                return
            at = time.monotonic() if self.timing is not None else 0.0
            try:
                received = frames.feed(data)
            except FrameError as exc:
                log.warning("media.bad_audiosocket_frame", agent_id=call.agent_id, reason=str(exc))
                call.ended.set()
                return
            for frame in received:
                if not self._from_asterisk(call, frame, at):
                    return

    def _from_asterisk(self, call: _Call, frame: audiosocket.Frame, at: float = 0.0) -> bool:
        """Take one frame (read at `at`, for frame timing); False when the call is over
        (hang-up or error)."""
        if frame.kind is Kind.AUDIO:
            line = self._lines.get(call.agent_id)
            if line is not None:
                line.to_browser.buffer.put(frame.payload, at)
            return True
        if frame.kind is Kind.HANGUP:
            log.info("media.asterisk_hung_up", agent_id=call.agent_id)
            return False
        if frame.kind is Kind.ERROR:
            log.warning("media.asterisk_error", agent_id=call.agent_id, code=frame.payload.hex())
            return False
        return True  # DTMF the agent dialled reached Asterisk already; a repeated uuid

    async def _send_to_asterisk(self, call: _Call, writer: asyncio.StreamWriter) -> None:
        """One frame per 20 ms: the browser's audio, silence when it has none."""
        started = time.monotonic()
        sent = 0
        while True:
            line = self._lines.get(call.agent_id)
            samples = line.to_asterisk.pop() if line is not None else None
            writer.write(audiosocket.audio(samples or SILENCE))
            if samples is not None and self.timing is not None:
                assert line is not None and line.to_asterisk.popped_at is not None
                self.timing.to_asterisk.append(time.monotonic() - line.to_asterisk.popped_at)
            async with asyncio.timeout(_WRITE_TIMEOUT):
                await writer.drain()
            sent += 1
            wait = started + sent * FRAME_SECONDS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -_LATE_RESET:
                started, sent = time.monotonic(), 0
