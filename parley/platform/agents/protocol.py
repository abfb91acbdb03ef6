"""Frames of the agent websocket `/ws/agent`, validated at the edge (see PROTOCOL.md).

Every frame is a JSON object with a `type`. Frames from the desktop may carry an `id`;
the answer to it (`ack` or `error`) repeats that id, so the desktop can match them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

_Id = Annotated[str, Field(min_length=1, max_length=64)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: _Id | None = None


class Heartbeat(_Frame):
    type: Literal["heartbeat"]


class Sync(_Frame):
    """Ask for a fresh snapshot (the desktop sends it after reconnecting)."""

    type: Literal["sync"]


class SetReady(_Frame):
    type: Literal["state.ready"]


class SetNotReady(_Frame):
    type: Literal["state.not_ready"]
    reason: Annotated[str, Field(min_length=1, max_length=40)]


class AcceptOffer(_Frame):
    type: Literal["offer.accept"]
    offer_id: _Id


class RejectOffer(_Frame):
    type: Literal["offer.reject"]
    offer_id: _Id


class SetDisposition(_Frame):
    type: Literal["wrap_up.disposition"]
    interaction_id: int
    disposition_id: int | None = None
    notes: Annotated[str, Field(max_length=4000)] = ""


class WrapUpDone(_Frame):
    type: Literal["wrap_up.done"]


class Logout(_Frame):
    type: Literal["logout"]


class CallCommand(_Frame):
    """Control of the call in hand (voice); carried out by the telephony role's handler."""

    type: Literal["call.command"]
    interaction_id: int
    action: Literal["hangup", "hold", "resume", "mute", "unmute", "dtmf"]
    digits: Annotated[str, Field(pattern=r"^[0-9*#A-D]{1,32}$")] | None = None


ClientFrame = Annotated[
    Heartbeat
    | Sync
    | SetReady
    | SetNotReady
    | AcceptOffer
    | RejectOffer
    | SetDisposition
    | WrapUpDone
    | Logout
    | CallCommand,
    Field(discriminator="type"),
]

client_frame = TypeAdapter(ClientFrame)


def ack(frame_id: str | None, **result: Any) -> dict[str, Any]:
    return {"type": "ack", "id": frame_id, **result}


def error(frame_id: str | None, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "id": frame_id, "code": code, "message": message, **extra}
