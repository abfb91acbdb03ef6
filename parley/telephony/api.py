"""The agent's call control over REST (`/api/calls/{interaction_id}/...`, F-VO-3, -5),
a supervisor's listen / whisper / barge (F-VO-10), click to call (`POST /api/calls`),
voicemail recordings, and callbacks agents schedule (`/api/calls/callbacks`, F-VO-7).

Only the agent the call is connected to, or a supervisor or admin, may control a call;
only supervisors and admins may listen in. The routes that act on Asterisk answer 503
`voice_unavailable` where this process runs no voice service (no AMI URL, or not the
engine role); scheduled callbacks are queued by the engine role's `CallbackScheduler`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.auth.principal import Principal
from parley.platform.errors import Conflict, DomainError, Forbidden, NotFound
from parley.platform.models import (
    CallbackState,
    Channel,
    Interaction,
    Queue,
    Role,
    ScheduledCallback,
    User,
)
from parley.platform.web.deps import SUPERVISORS, AnyUser, DbDep, Supervisor
from parley.telephony.control import CallControl, SpyMode, VoiceUnavailable

router = APIRouter(prefix="/api/calls", tags=["voice"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MuteIn(_Body):
    muted: bool


class DtmfIn(_Body):
    digits: Annotated[str, Field(pattern=r"^[0-9*#A-D]{1,32}$")]


Number = Annotated[str, Field(pattern=r"^\+?[0-9]{2,20}$")]


class TransferIn(_Body):
    to: Literal["number", "queue", "agent"]
    number: Number | None = None
    queue_id: int | None = None
    agent_id: int | None = Field(None, description="A colleague, offered the call first.")
    consult: bool = Field(False, description="Talk to the number first (attended transfer).")


class ConferenceIn(_Body):
    number: Number


class KickIn(_Body):
    channel: Annotated[str, Field(min_length=1, max_length=200)]


class RecordingIn(_Body):
    action: Literal["start", "pause", "resume", "stop"]


class SpyIn(_Body):
    mode: SpyMode


class CallOut(BaseModel):
    interaction_id: int
    phase: str
    is_muted: bool
    recording: Literal["off", "on", "paused"]
    is_consulting: bool = Field(description="An attended transfer waits to be completed.")
    is_conference: bool
    message: str | None = Field(None, description="The pre-recorded message playing.")


class TransferOut(BaseModel):
    interaction_id: int | None  # the new interaction, for a transfer to a queue


def call_control(request: Request) -> CallControl:
    control: CallControl | None = getattr(request.app.state, "call_control", None)
    if control is None:
        raise VoiceUnavailable("voice is not configured in this process")
    return control


def _authorized(request: Request, me: Principal, interaction_id: int) -> CallControl:
    control = call_control(request)
    if control.voice.call_of(interaction_id) is None:
        raise NotFound("Call", interaction_id)
    if not me.has_role(*SUPERVISORS) and control.voice.agent_of(interaction_id) != me.user_id:
        raise Forbidden("Only the agent on the call, or a supervisor, controls it.")
    return control


class TransferTargetOut(BaseModel):
    id: int
    name: str


class AgentTargetOut(TransferTargetOut):
    state: str = Field(description="The agent's state now (`offline` when logged out).")


class TransferTargetsOut(BaseModel):
    queues: list[TransferTargetOut]
    agents: list[AgentTargetOut]


class DialIn(_Body):
    number: Number
    queue_id: int | None = Field(None, description="The line to call from: its caller ID.")
    contact_id: int | None = None


class DialOut(BaseModel):
    interaction_id: int


@router.post("", status_code=201)
async def dial(body: DialIn, request: Request, me: AnyUser) -> DialOut:
    """Click to call: your own device rings first, then the number is dialled."""
    voice = call_control(request).voice
    interaction_id = await voice.call_out(
        me.user_id, body.number, queue_id=body.queue_id, contact_id=body.contact_id
    )
    return DialOut(interaction_id=interaction_id)


class CallbackIn(_Body):
    number: Number
    due_at: AwareDatetime
    queue_id: int
    is_personal: bool = Field(True, description="Offered to you first; else to the queue.")
    contact_id: int | None = None
    note: str = Field("", max_length=500)


class CallbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    agent_id: int
    queue_id: int
    is_personal: bool
    number: str
    contact_id: int | None
    note: str
    due_at: datetime
    state: CallbackState
    interaction_id: int | None


@router.post("/callbacks", status_code=201)
async def schedule_callback(
    body: CallbackIn, request: Request, me: AnyUser, db: DbDep
) -> CallbackOut:
    """Promise a call back for a time: at `due_at` a callback task is queued (F-VO-7)."""
    queue = await db.get(Queue, body.queue_id)
    if queue is None or not queue.is_active:
        raise NotFound("Queue", body.queue_id)
    if Channel.CALLBACK.value not in queue.channels:
        raise DomainError("no_callbacks", f"Queue {queue.name} takes no callbacks.")
    now = request.app.state.runtime.clock.now()
    if body.due_at < now - timedelta(minutes=1):
        raise DomainError("due_in_the_past", "A callback is due now or later.")
    callback = ScheduledCallback(agent_id=me.user_id, **body.model_dump())
    db.add(callback)
    await db.flush()
    return CallbackOut.model_validate(callback)


@router.get("/callbacks")
async def list_callbacks(me: AnyUser, db: DbDep) -> list[CallbackOut]:
    """Callbacks still to come: your own; a supervisor's list holds everyone's."""
    query = select(ScheduledCallback).where(ScheduledCallback.state == CallbackState.PENDING)
    if not me.has_role(*SUPERVISORS):
        query = query.where(ScheduledCallback.agent_id == me.user_id)
    rows = await db.scalars(query.order_by(ScheduledCallback.due_at, ScheduledCallback.id))
    return [CallbackOut.model_validate(row) for row in rows]


@router.delete("/callbacks/{callback_id}", status_code=204)
async def cancel_callback(callback_id: int, me: AnyUser, db: DbDep) -> None:
    callback = await db.get(ScheduledCallback, callback_id)
    if callback is None or (callback.agent_id != me.user_id and not me.has_role(*SUPERVISORS)):
        raise NotFound("Callback", callback_id)
    if callback.state is not CallbackState.PENDING:
        raise Conflict("callback_not_pending", "The callback was queued or cancelled already.")
    callback.state = CallbackState.CANCELLED


@router.get("/transfer-targets")
async def transfer_targets(request: Request, db: DbDep, me: AnyUser) -> TransferTargetsOut:
    """Where a call may be transferred: the active queues that take calls, and the
    colleagues (agents and supervisors, with their state)."""
    queues = await db.scalars(select(Queue).where(Queue.is_active).order_by(Queue.name))
    users = await db.scalars(
        select(User)
        .where(User.is_active, User.role.in_((Role.AGENT, Role.SUPERVISOR)), User.id != me.user_id)
        .order_by(User.display_name)
    )
    engine = request.app.state.runtime.engine
    agents = []
    for user in users:
        view = engine.agent(user.id) if engine else None
        state = view.state.value if view else "offline"
        agents.append(AgentTargetOut(id=user.id, name=user.display_name, state=state))
    return TransferTargetsOut(
        queues=[TransferTargetOut(id=q.id, name=q.name) for q in queues if "voice" in q.channels],
        agents=agents,
    )


async def _audio_of(db: AsyncSession, me: Principal, interaction_id: int) -> Interaction:
    """An interaction whose audio (recordings, voicemail) `me` may hear: the agent who
    had it, or a supervisor; NotFound for none."""
    interaction = await db.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound("Interaction", interaction_id)
    if not me.has_role(*SUPERVISORS) and interaction.agent_id != me.user_id:
        raise Forbidden("Only the agent who had it, or a supervisor, may listen.")
    return interaction


@router.get("/{interaction_id}/recordings/{name}")
async def recording_file(
    interaction_id: int, name: str, request: Request, me: AnyUser, db: DbDep
) -> FileResponse:
    """A recording of the call, for the agent who had it or a supervisor (F-VO-5)."""
    voice = call_control(request).voice
    interaction = await _audio_of(db, me, interaction_id)
    if name not in interaction.attributes.get("recordings", []):
        raise NotFound("Recording", name)
    return FileResponse(voice.recording_file(name), media_type="audio/wav")


@router.get("/{interaction_id}/voicemail")
async def voicemail(interaction_id: int, request: Request, me: AnyUser, db: DbDep) -> FileResponse:
    """The recording of a voicemail callback task, for its agent or a supervisor."""
    voice = call_control(request).voice
    name = (await _audio_of(db, me, interaction_id)).attributes.get("voicemail")
    if not name:
        raise NotFound("Voicemail", interaction_id)
    return FileResponse(voice.voicemail_file(str(name)), media_type="audio/wav")


@router.get("/{interaction_id}")
async def get_call(interaction_id: int, request: Request, me: AnyUser) -> CallOut:
    control = _authorized(request, me, interaction_id)
    return CallOut(interaction_id=interaction_id, **control.state(interaction_id))


@router.post("/{interaction_id}/hangup", status_code=204)
async def hangup(interaction_id: int, request: Request, me: AnyUser) -> None:
    await _authorized(request, me, interaction_id).hangup(interaction_id)


@router.post("/{interaction_id}/hold", status_code=204)
async def hold(interaction_id: int, request: Request, me: AnyUser) -> None:
    await _authorized(request, me, interaction_id).hold(interaction_id)


@router.post("/{interaction_id}/resume", status_code=204)
async def resume(interaction_id: int, request: Request, me: AnyUser) -> None:
    await _authorized(request, me, interaction_id).resume(interaction_id)


@router.post("/{interaction_id}/mute", status_code=204)
async def mute(interaction_id: int, body: MuteIn, request: Request, me: AnyUser) -> None:
    await _authorized(request, me, interaction_id).mute(interaction_id, body.muted)


@router.post("/{interaction_id}/dtmf", status_code=204)
async def dtmf(interaction_id: int, body: DtmfIn, request: Request, me: AnyUser) -> None:
    await _authorized(request, me, interaction_id).send_dtmf(interaction_id, body.digits)


@router.post("/{interaction_id}/transfer")
async def transfer(
    interaction_id: int, body: TransferIn, request: Request, me: AnyUser
) -> TransferOut:
    """Blind transfer: to an outside number, to a queue (the caller waits there), or to
    a colleague (the caller waits in the call's queue, offered to them first)."""
    control = _authorized(request, me, interaction_id)
    if body.to == "number":
        if body.number is None:
            raise DomainError("number_required", "Give the number to transfer to.")
        if body.consult:
            await control.attended_transfer(interaction_id, body.number)
        else:
            await control.transfer_to_number(interaction_id, body.number)
        return TransferOut(interaction_id=None)
    if body.to == "agent":
        if body.agent_id is None:
            raise DomainError("agent_required", "Give the agent to transfer to.")
        return TransferOut(
            interaction_id=await control.transfer_to_agent(
                interaction_id, body.agent_id, me.user_id
            )
        )
    if body.queue_id is None:
        raise DomainError("queue_required", "Give the queue to transfer to.")
    return TransferOut(
        interaction_id=await control.transfer_to_queue(interaction_id, body.queue_id)
    )


@router.post("/{interaction_id}/transfer/complete", status_code=204)
async def complete_transfer(interaction_id: int, request: Request, me: AnyUser) -> None:
    """End the consultation: the caller and the consulted party talk on, without you."""
    await _authorized(request, me, interaction_id).complete_transfer(interaction_id)


@router.post("/{interaction_id}/transfer/cancel", status_code=204)
async def cancel_transfer(interaction_id: int, request: Request, me: AnyUser) -> None:
    """Drop the consultation and take the caller back."""
    await _authorized(request, me, interaction_id).cancel_transfer(interaction_id)


@router.get("/{interaction_id}/conference")
async def conference(interaction_id: int, request: Request, me: AnyUser) -> list[str]:
    """The channels in the call's conference (empty before anyone was added)."""
    return await _authorized(request, me, interaction_id).conference_members(interaction_id)


@router.post("/{interaction_id}/conference", status_code=204)
async def conference_add(
    interaction_id: int, body: ConferenceIn, request: Request, me: AnyUser
) -> None:
    """Call `number` into the call: caller, agent and the new party talk together."""
    await _authorized(request, me, interaction_id).conference_add(interaction_id, body.number)


@router.post("/{interaction_id}/conference/kick", status_code=204)
async def conference_kick(interaction_id: int, body: KickIn, request: Request, me: AnyUser) -> None:
    await _authorized(request, me, interaction_id).conference_kick(interaction_id, body.channel)


@router.post("/{interaction_id}/recording", status_code=204)
async def recording(interaction_id: int, body: RecordingIn, request: Request, me: AnyUser) -> None:
    control = _authorized(request, me, interaction_id)
    await control.record(interaction_id, body.action)


@router.post("/{interaction_id}/spy", status_code=204)
async def spy(
    interaction_id: int, body: SpyIn, request: Request, me: Supervisor, db: DbDep
) -> None:
    """Ring the supervisor's own device into the call: listen, whisper or barge."""
    control = call_control(request)
    supervisor = await db.get_one(User, me.user_id)
    await control.spy(interaction_id, supervisor, body.mode)
