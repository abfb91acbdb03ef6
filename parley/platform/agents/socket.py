"""The agent websocket `/ws/agent`: one connection per desktop for states, offers,
the events of the agent's own chats, and heartbeats (protocol: PROTOCOL.md beside this
file). Every forwarded event names its agent (`agent_id` or `agent_ids`): the bus
subscription watches those keys.

The handshake is authenticated by the session cookie and must come from Parley's own
origin. Connecting logs the agent in to the engine; closing the socket does not log them
out: a reload or a network blip reconnects within the presence timeout and nothing is
lost, while a desktop that stays away is logged out by the engine (F-AG-3).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from parley.platform.agents import protocol
from parley.platform.auth.principal import Principal
from parley.platform.engine import Engine
from parley.platform.errors import DomainError
from parley.platform.runtime import Runtime
from parley.platform.web.deps import ALL_ROLES, require_roles, websocket_principal
from parley.platform.web.ratelimit import TokenBucket

log = structlog.get_logger(__name__)

router = APIRouter()

MAX_FRAME_BYTES = 16 * 1024
FRAMES_PER_SECOND = 10.0
FRAME_BURST = 30.0
# Close codes (RFC 6455 private range for our own reasons).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_RATE_LIMITED = 4429

_AGENT_EVENTS = ("agent.*", "offer.*", "interaction.*", "chat.*", "call.*", "line.*")


class VoiceNotConfigured(DomainError):
    def __init__(self) -> None:
        super().__init__("voice_unavailable", "This process has no voice service.")


class MediaNotConfigured(DomainError):
    def __init__(self) -> None:
        super().__init__("media_unavailable", "This process has no media gateway.")


def snapshot(
    engine: Engine, agent_id: int, now_iso: str, line: dict[str, Any] | None = None
) -> dict[str, Any]:
    view = engine.agent(agent_id)
    agent: dict[str, Any] = {"state": "offline"}
    if view is not None:
        agent = {
            "state": view.state.value,
            "reason": view.reason,
            "since": view.state_since.isoformat(),
            "pending_not_ready": view.pending_not_ready,
            "consecutive_misses": view.consecutive_misses,
            "interactions": [
                {"interaction_id": int(held.interaction_id), "channel": held.channel}
                for held in view.interactions
            ],
            "wrap_up_until": view.wrap_up_until.isoformat() if view.wrap_up_until else None,
        }
    offers = [
        {
            "offer_id": offer.offer_id,
            "interaction_id": int(offer.task_id),
            "channel": offer.channel,
            "queue_id": int(offer.queue_id),
            "expires_at": offer.expires_at.isoformat(),
        }
        for offer in engine.ringing_offers(agent_id)
    ]
    return {
        "type": "snapshot",
        "server_time": now_iso,
        "agent": agent,
        "offers": offers,
        "line": line,
    }


async def _handle(
    runtime: Runtime, engine: Engine, agent_id: int, frame: Any
) -> dict[str, Any] | None:
    """Carry out one desktop frame; return the result fields of its ack."""
    match frame:
        case protocol.CallCommand():
            if runtime.call_commands is None:
                raise VoiceNotConfigured()
            return await runtime.call_commands(agent_id, frame)
        case protocol.LineOffer(sdp=sdp):
            if runtime.line_signals is None:
                raise MediaNotConfigured()
            return {"sdp": await runtime.line_signals(agent_id, "offer", sdp)}
        case protocol.LineHangup():
            if runtime.line_signals is None:
                raise MediaNotConfigured()
            await runtime.line_signals(agent_id, "hangup", None)
        case protocol.HelpRaise() | protocol.HelpClear():
            if runtime.help_requests is None:
                raise VoiceNotConfigured()
            return await runtime.help_requests(agent_id, frame)
        case protocol.Heartbeat():
            engine.heartbeat(agent_id)
            return None
        case protocol.SetReady():
            await engine.request_ready(agent_id)
        case protocol.SetNotReady(reason=reason):
            await engine.request_not_ready(agent_id, reason)
        case protocol.AcceptOffer(offer_id=offer_id):
            return {"interaction_id": await engine.accept(agent_id, offer_id)}
        case protocol.RejectOffer(offer_id=offer_id):
            await engine.reject(agent_id, offer_id)
        case protocol.SetDisposition():
            await engine.set_disposition(
                agent_id, frame.interaction_id, frame.disposition_id, frame.notes
            )
        case protocol.WrapUpDone():
            await engine.wrap_up_done(agent_id)
        case protocol.Logout():
            await engine.logout(agent_id)
    return {}


class _Connection:
    def __init__(self, websocket: WebSocket, runtime: Runtime, engine: Engine, me: Principal):
        self.websocket = websocket
        self.runtime = runtime
        self.engine = engine
        self.agent_id = me.user_id
        self.bucket = TokenBucket(FRAMES_PER_SECOND, FRAME_BURST)
        self.send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_json(frame)

    async def send_snapshot(self) -> None:
        now = self.runtime.clock.now().isoformat()
        lookup = self.runtime.line_status
        line = await lookup(self.agent_id) if lookup is not None else None
        await self.send(snapshot(self.engine, self.agent_id, now, line))

    async def forward_events(self) -> None:
        # Keyed: the bus hands over only the events naming this agent (`agent_id` or in
        # `agent_ids`), so a process with many desktops does not wake each for every event.
        async with self.runtime.bus.subscribe(*_AGENT_EVENTS, keyed=True) as events:
            events.watch("agent_id", self.agent_id)
            events.watch("agent_ids", self.agent_id)
            async for event in events:
                await self.send(
                    {
                        "type": event.type,
                        "event_id": event.id,
                        "occurred_at": event.occurred_at.isoformat(),
                        **event.payload,
                    }
                )

    async def receive_frames(self) -> None:
        while True:
            text = await self.websocket.receive_text()
            if not self.bucket.take():
                await self.send(protocol.error(None, "rate_limited", "Too many frames."))
                await self.websocket.close(CLOSE_RATE_LIMITED)
                return
            await self.receive(text)

    async def receive(self, text: str) -> None:
        if len(text.encode()) > MAX_FRAME_BYTES:
            await self.send(protocol.error(None, "frame_too_large", "The frame is too large."))
            return
        try:
            raw = json.loads(text)
        except ValueError:
            await self.send(protocol.error(None, "bad_frame", "A frame must be a JSON object."))
            return
        frame_id = raw.get("id") if isinstance(raw, dict) else None
        frame_id = frame_id if isinstance(frame_id, str) else None
        try:
            frame = protocol.client_frame.validate_python(raw)
        except ValidationError as exc:
            fields = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ]
            await self.send(
                protocol.error(frame_id, "bad_frame", "The frame is not valid.", fields=fields)
            )
            return
        self.engine.heartbeat(self.agent_id)
        if isinstance(frame, protocol.Sync):
            await self.send_snapshot()
            return
        try:
            result = await _handle(self.runtime, self.engine, self.agent_id, frame)
        except DomainError as exc:
            await self.send(protocol.error(frame_id, exc.code, exc.message))
            return
        if isinstance(frame, protocol.LineOffer) and result is not None:
            await self.send({"type": "line.answer", "id": frame_id, **result})
        elif result is not None:
            await self.send(protocol.ack(frame_id, **result))


_AGENT_ROLES = require_roles(*ALL_ROLES)


@router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    principal = await websocket_principal(websocket, runtime)
    if principal is None:
        await websocket.close(CLOSE_UNAUTHENTICATED)
        return
    if principal.role not in _AGENT_ROLES.roles:
        await websocket.close(CLOSE_FORBIDDEN)
        return
    engine = runtime.require_engine()
    await websocket.accept()
    connection = _Connection(websocket, runtime, engine, principal)
    forwarding = asyncio.create_task(connection.forward_events())
    try:
        await engine.login(principal.user_id)
        await connection.send_snapshot()
        await connection.receive_frames()
    except WebSocketDisconnect:
        pass
    finally:
        forwarding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarding
        log.info("agent_socket.closed", agent_id=principal.user_id)
