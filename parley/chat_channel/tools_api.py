"""REST routes of the agent's chat tools (`tools.py`): transfer and invite targets,
transfer, invite, leave, take-over, end, ban, case, transcript by email, the visitor's
rating; and the supervisors' list of bans with lifting.

Who may call: the agent who has the chat or a supervisor for what changes its hands
(transfer, invite, end); also an invited guest for what reads or adds to it (ban, case,
transcript, rating); supervisors and admins only for take-over and the bans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from parley.chat_channel import bans, domain
from parley.chat_channel.api import chat_tools
from parley.platform.admin_api.identities import normalize_email
from parley.platform.models import ChatBan, ChatRating
from parley.platform.web.deps import AnyUser, DbDep, Supervisor

router = APIRouter(tags=["chat"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransferIn(_Body):
    """To a queue, to an agent, or to an agent through a given queue."""

    queue_id: int | None = Field(default=None, ge=1)
    agent_id: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _has_target(self) -> TransferIn:
        if self.queue_id is None and self.agent_id is None:
            raise ValueError("give queue_id or agent_id")
        return self


class InviteIn(_Body):
    agent_id: int = Field(ge=1)


class BanIn(_Body):
    minutes: int = Field(ge=1, le=bans.MAX_BAN_MINUTES)
    reason: str = Field(default="", max_length=500)


class CaseIn(_Body):
    """An existing case (`case_id`) or a new one (`subject`)."""

    case_id: int | None = Field(default=None, ge=1)
    subject: str | None = Field(default=None, min_length=1, max_length=300, pattern=r"\S")

    @model_validator(mode="after")
    def _one_of(self) -> CaseIn:
        if (self.case_id is None) == (self.subject is None):
            raise ValueError("give either case_id or subject")
        return self


class TranscriptIn(_Body):
    email: str | None = Field(default=None, max_length=320)

    @model_validator(mode="after")
    def _valid_email(self) -> TranscriptIn:
        if self.email is not None:
            self.email = normalize_email(self.email)
        return self


class AgentTargetOut(BaseModel):
    id: int
    name: str
    state: str
    free_chats: int


class QueueTargetOut(BaseModel):
    id: int
    name: str


class TargetsOut(BaseModel):
    agents: list[AgentTargetOut]
    queues: list[QueueTargetOut]


class BanOut(BaseModel):
    id: int
    widget_id: int
    visitor_key: str
    ip: str
    interaction_id: int | None
    reason: str
    banned_by_id: int | None
    created_at: datetime
    until: datetime
    lifted_at: datetime | None

    @classmethod
    def of(cls, ban: ChatBan) -> BanOut:
        return cls(
            id=ban.id,
            widget_id=ban.widget_id,
            visitor_key=ban.visitor_key,
            ip=ban.ip,
            interaction_id=ban.interaction_id,
            reason=ban.reason,
            banned_by_id=ban.banned_by_id,
            created_at=ban.created_at,
            until=ban.until,
            lifted_at=ban.lifted_at,
        )


class CaseOut(BaseModel):
    case_id: int


class MailOut(BaseModel):
    mail_id: int


class RatingOut(BaseModel):
    rating: int
    comment: str
    created_at: datetime


@router.get("/api/chats/transfer-targets")
async def transfer_targets(request: Request, _me: AnyUser) -> TargetsOut:
    """Agents logged in with room for one more chat, and the queues that take chats."""
    targets = await chat_tools(request.app).targets()
    return TargetsOut(
        agents=[
            AgentTargetOut(id=a.id, name=a.name, state=a.state, free_chats=a.free_chats)
            for a in targets.agents
        ],
        queues=[QueueTargetOut(id=queue.id, name=queue.name) for queue in targets.queues],
    )


@router.post("/api/chats/{interaction_id}/transfer", status_code=204)
async def transfer_chat(
    interaction_id: int, body: TransferIn, request: Request, me: AnyUser
) -> None:
    await chat_tools(request.app).transfer(
        interaction_id, me, queue_id=body.queue_id, agent_id=body.agent_id
    )


@router.post("/api/chats/{interaction_id}/invite", status_code=204)
async def invite_to_chat(
    interaction_id: int, body: InviteIn, request: Request, me: AnyUser
) -> None:
    await chat_tools(request.app).invite(interaction_id, me, body.agent_id)


@router.post("/api/chats/{interaction_id}/leave", status_code=204)
async def leave_chat(interaction_id: int, request: Request, me: AnyUser) -> None:
    await chat_tools(request.app).leave(interaction_id, me)


@router.post("/api/chats/{interaction_id}/take-over", status_code=204)
async def take_over_chat(interaction_id: int, request: Request, me: Supervisor) -> None:
    await chat_tools(request.app).take_over(interaction_id, me)


@router.post("/api/chats/{interaction_id}/end", status_code=204)
async def end_chat(interaction_id: int, request: Request, me: AnyUser) -> None:
    tools = chat_tools(request.app)
    await tools.require_holder(interaction_id, me)
    await tools.close(interaction_id, domain.CloseReason.ENDED)


@router.post("/api/chats/{interaction_id}/ban", status_code=201)
async def ban_visitor(interaction_id: int, body: BanIn, request: Request, me: AnyUser) -> BanOut:
    ban = await chat_tools(request.app).ban(interaction_id, me, body.minutes, body.reason)
    return BanOut.of(ban)


@router.post("/api/chats/{interaction_id}/case", status_code=201)
async def chat_case(interaction_id: int, body: CaseIn, request: Request, me: AnyUser) -> CaseOut:
    case_id = await chat_tools(request.app).open_case(
        interaction_id, me, case_id=body.case_id, subject=body.subject
    )
    return CaseOut(case_id=case_id)


@router.post("/api/chats/{interaction_id}/transcript", status_code=202)
async def mail_transcript(
    interaction_id: int, body: TranscriptIn, request: Request, me: AnyUser
) -> MailOut:
    mail_id = await chat_tools(request.app).send_transcript(interaction_id, me, body.email)
    return MailOut(mail_id=mail_id)


@router.get("/api/chats/{interaction_id}/rating")
async def chat_rating(
    interaction_id: int, request: Request, me: AnyUser, db: DbDep
) -> RatingOut | None:
    """The visitor's CSAT for the chat; null until they rated it."""
    await chat_tools(request.app).check_access(interaction_id, me)
    rating = await db.get(ChatRating, interaction_id)
    if rating is None:
        return None
    return RatingOut(rating=rating.rating, comment=rating.comment, created_at=rating.created_at)


@router.get("/api/chat-bans")
async def list_bans(
    request: Request, _me: Supervisor, active: Annotated[bool, Query()] = True
) -> list[BanOut]:
    """Bans in force (or, with `active=false`, every ban), newest first."""
    return [BanOut.of(ban) for ban in await chat_tools(request.app).bans(active_only=active)]


@router.post("/api/chat-bans/{ban_id}/lift")
async def lift_ban(ban_id: int, request: Request, me: Supervisor) -> BanOut:
    return BanOut.of(await chat_tools(request.app).lift_ban(ban_id, me))
