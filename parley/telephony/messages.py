"""Pre-recorded messages (F-VO-6): an agent plays one of their queue's messages (the
`QueueVoiceSettings.messages` an admin installed: a name and a sound file) into the call
in hand, so the caller hears it (terms, opening hours, a payment notice) as the agent
does.

`CallControl.play_message` does it (the desktop sends `call.command` `message.play`):
AMI originates a Local channel in `parley-message`: one side joins the call's bridge
(`BridgeAdd`, the agent's leg's), the other plays the sound and hangs up when it ends,
and the joined side leaves with it; the call goes on as before. (A ChanSpy barge would
not end with it: ChanSpy on a Local channel ignores its peer hanging up.) The call's
state (`GET /api/calls/{id}`) names the `message` playing.

- `GET /api/calls/{id}/messages`: the call's queue's messages;
- `POST /api/calls/{id}/messages/play` `{"name": ...}`: play one.
Only the agent on the call, or a supervisor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from parley.platform.auth.principal import Principal
from parley.platform.errors import Forbidden, NotFound
from parley.platform.web.deps import SUPERVISORS, AnyUser
from parley.telephony.api import call_control
from parley.telephony.control import CallControl

router = APIRouter(prefix="/api/calls", tags=["voice"])


class MessageOut(BaseModel):
    name: str
    sound: str


class PlayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]


def _authorized(request: Request, me: Principal, interaction_id: int) -> CallControl:
    control = call_control(request)
    if control.voice.call_of(interaction_id) is None:
        raise NotFound("Call", interaction_id)
    if not me.has_role(*SUPERVISORS) and control.voice.agent_of(interaction_id) != me.user_id:
        raise Forbidden("Only the agent on the call, or a supervisor, plays it a message.")
    return control


@router.get("/{interaction_id}/messages")
async def list_messages(interaction_id: int, request: Request, me: AnyUser) -> list[MessageOut]:
    control = _authorized(request, me, interaction_id)
    return [MessageOut(**m) for m in await control.messages(interaction_id)]


@router.post("/{interaction_id}/messages/play", status_code=204)
async def play(interaction_id: int, body: PlayIn, request: Request, me: AnyUser) -> None:
    control = _authorized(request, me, interaction_id)
    await control.play_message(interaction_id, body.name)
