"""Frames of the agent websocket `/ws/agent`, validated at the edge (see PROTOCOL.md).

Every frame is a JSON object with a `type`. Frames from the desktop may carry an `id`;
the answer to it (`ack` or `error`) repeats that id, so the desktop can match them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

_Id = Annotated[str, Field(min_length=1, max_length=64)]
MAX_SDP_CHARS = 12 * 1024  # within the socket's 16 KiB frame, with room for the JSON


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


CallAction = Literal[
    "hangup",
    "hold",
    "resume",
    "mute",
    "unmute",
    "dtmf",
    "transfer",
    "consult",
    "transfer.complete",
    "transfer.cancel",
    "transfer.conference",
    "conference.add",
    "conference.list",
    "conference.kick",
    "conference.leave",
    "recording.start",
    "recording.pause",
    "recording.resume",
    "recording.stop",
    "redial",
    "message.play",
]
# What each action needs besides the interaction (PROTOCOL.md, `call.command`).
_TARGETS: dict[str, tuple[str, ...]] = {
    "transfer": ("agent", "queue", "number"),
    "consult": ("agent", "number"),
    "conference.add": ("agent", "number"),
}


class CallCommand(_Frame):
    """Control of the call in hand (voice); carried out by the telephony role's handler.
    `to` with `target_id` (an agent or a queue) or `number` says where a transfer or a
    new conference party goes; `channel` names the party to kick; `message` the queue's
    pre-recorded message to play."""

    type: Literal["call.command"]
    interaction_id: int
    action: CallAction
    digits: Annotated[str, Field(pattern=r"^[0-9*#A-D]{1,32}$")] | None = None
    to: Literal["agent", "queue", "number"] | None = None
    target_id: int | None = None
    number: Annotated[str, Field(pattern=r"^\+?[0-9]{2,20}$")] | None = None
    channel: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    message: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _has_what_the_action_needs(self) -> CallCommand:
        if self.action == "dtmf" and self.digits is None:
            raise ValueError("dtmf needs `digits`")
        if self.action == "conference.kick" and self.channel is None:
            raise ValueError("conference.kick needs the `channel` to kick")
        if self.action == "message.play" and self.message is None:
            raise ValueError("message.play needs the `message` to play")
        targets = _TARGETS.get(self.action)
        if targets is None:
            return self
        to = self.to or ("number" if self.number is not None else None)
        if to not in targets:
            raise ValueError(f"{self.action} needs `to`: {', '.join(targets)}")
        if to == "number" and self.number is None:
            raise ValueError(f"{self.action} to a number needs `number`")
        if to != "number" and self.target_id is None:
            raise ValueError(f"{self.action} to {to} needs `target_id`")
        self.to = to
        return self


class LineOffer(_Frame):
    """Open (or re-open) the agent's browser line: the WebRTC offer with every ICE
    candidate in it (gathering complete). The server answers `line.answer`."""

    type: Literal["line.offer"]
    sdp: Annotated[str, Field(min_length=1, max_length=MAX_SDP_CHARS)]


class LineHangup(_Frame):
    """Close the agent's browser line (the end of the shift); a call on it hangs up."""

    type: Literal["line.hangup"]


class HelpRaise(_Frame):
    """Request help (raise a hand), usually about the interaction in hand; supervisors
    are told. Carried out by the telephony role's handler."""

    type: Literal["help.raise"]
    interaction_id: int | None = None
    note: Annotated[str, Field(max_length=500)] = ""


class HelpClear(_Frame):
    """Lower one's raised hand."""

    type: Literal["help.clear"]


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
    | CallCommand
    | LineOffer
    | LineHangup
    | HelpRaise
    | HelpClear,
    Field(discriminator="type"),
]

client_frame = TypeAdapter(ClientFrame)


def ack(frame_id: str | None, **result: Any) -> dict[str, Any]:
    return {"type": "ack", "id": frame_id, **result}


def error(frame_id: str | None, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "id": frame_id, "code": code, "message": message, **extra}
