"""The media gateway between agents' browsers (WebRTC) and Asterisk (AudioSocket):
ARCHITECTURE.md §7. `gateway.MediaGateway` is the `media` role; the voice service only
needs `addressing` to dial a browser agent's line (it may run in another process)."""

from parley.telephony.media.addressing import (
    BROWSER_DEVICE,
    agent_of,
    audiosocket_dial_string,
    line_uuid,
)

__all__ = ["BROWSER_DEVICE", "agent_of", "audiosocket_dial_string", "line_uuid"]
