"""Which agent's line an AudioSocket call is for, told by the uuid in its dial string.

The engine's process dials `AudioSocket/<gateway>:<port>/<uuid>` and the gateway (maybe
another process, ARCHITECTURE.md §2) must find the agent from the uuid alone, so the uuid
carries it: 4 bytes agent id, 4 random bytes (every call its own uuid), 8 bytes of an
HMAC over both with the secret key the processes share. Nothing that reaches the
gateway's port can pick an agent's line without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import uuid

_DOMAIN = b"parley-media-line"
_AGENT = struct.Struct(">I")
BROWSER_DEVICE = "browser"


def _tag(secret: str, head: bytes) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + head, hashlib.sha256).digest()[:8]


def line_uuid(secret: str, agent_id: int) -> uuid.UUID:
    """A fresh uuid naming `agent_id`'s line for one call."""
    head = _AGENT.pack(agent_id) + secrets.token_bytes(4)
    return uuid.UUID(bytes=head + _tag(secret, head))


def agent_of(secret: str, call_uuid: uuid.UUID) -> int | None:
    """The agent whose line `call_uuid` names, None when the key did not make it."""
    raw = call_uuid.bytes
    head, tag = raw[:8], raw[8:]
    if not hmac.compare_digest(tag, _tag(secret, head)):
        return None
    (agent_id,) = _AGENT.unpack_from(head)
    return int(agent_id)


def audiosocket_dial_string(host: str, port: int, call_uuid: uuid.UUID) -> str:
    return f"AudioSocket/{host}:{port}/{call_uuid}"
