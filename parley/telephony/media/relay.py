"""Line signalling across processes (ARCHITECTURE.md §2: `media` as a process of its own).

The agent websocket lives in the web process; the lines live in the media process. A web
process without the `media` role hands `line.offer` / `line.hangup` to the bus
(`media.line_signal`, with a request id) and waits for the media process's
`media.line_signal_answered` (the answer SDP, or the error's code and message). The
events carry SDP: they are `media.*`, which no desktop, widget or webhook subscribes to.

One media process per bus answers every request; several would need the lines sharded
between them (not done yet).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from parley.platform.bus import Event
from parley.platform.errors import DomainError
from parley.platform.runtime import Runtime

log = structlog.get_logger(__name__)

SIGNAL = "media.line_signal"
ANSWERED = "media.line_signal_answered"
_TIMEOUT = 20.0  # the gateway's own negotiation gives up after 15 s


class MediaUnavailable(DomainError):
    status_code = 503

    def __init__(self) -> None:
        super().__init__("media_unavailable", "No media gateway answered.")


class LineSignalRelay:
    """`Runtime.line_signals` of a web process whose lines are in another process."""

    def __init__(self, runtime: Runtime, *, timeout: float = _TIMEOUT) -> None:
        self._runtime = runtime
        self._timeout = timeout

    async def signal(self, agent_id: int, action: str, sdp: str | None) -> str | None:
        bus = self._runtime.bus
        request_id = uuid.uuid4().hex
        request = {"request_id": request_id, "agent_id": agent_id, "action": action, "sdp": sdp}
        try:
            async with bus.subscribe(ANSWERED) as answers, asyncio.timeout(self._timeout):
                await bus.publish(Event.create(SIGNAL, request, self._runtime.clock.now()))
                async for event in answers:
                    if event.payload.get("request_id") == request_id:
                        break
                else:
                    raise MediaUnavailable()  # the bus closed
        except TimeoutError:
            log.warning("media.relay_timeout", agent_id=agent_id, action=action)
            raise MediaUnavailable() from None
        payload = event.payload
        if payload.get("code"):
            raise DomainError(payload["code"], payload.get("message", ""))
        answer = payload.get("sdp")
        return answer if isinstance(answer, str) else None


def answered(
    request_id: str, *, sdp: str | None = None, error: DomainError | None = None
) -> dict[str, Any]:
    """The payload of a `media.line_signal_answered` event."""
    if error is not None:
        return {"request_id": request_id, "code": error.code, "message": error.message}
    return {"request_id": request_id, "sdp": sdp}
