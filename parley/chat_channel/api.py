"""The visitor websocket `/ws/visitor?widget=<public key>` (protocol: PROTOCOL.md beside
this file): parse every frame with `protocol.read_frame`, limit how fast a visitor and
an address may send, call the service, and forward the conversation's events.

Anyone on the internet may open this socket, so nothing here trusts the browser: the
widget must exist and be active, and the page's Origin must be one of the widget's
allowed origins. A refused socket is accepted and closed at once with 4403, so the
widget's script can tell "refused" from "network down" and stop reconnecting (a browser
shows a script nothing of a handshake refused with an HTTP status).

Beside it, the agent's REST routes for a chat (`/api/chats/{interaction_id}/...`): the
transcript, sending, typing and read marks. Only the agent who has the chat, or a
supervisor or admin, may use them. The router's lifespan runs the service's greeting
watch (`ChatService.watch_assignments`) for as long as the application runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field

from parley.chat_channel import domain, protocol
from parley.chat_channel.offline import ChatForms
from parley.chat_channel.service import ChatService, Transcript, WidgetView
from parley.chat_channel.tools import ChatTools
from parley.chat_channel.visitors import InvitationWatch, page_view_bucket, visitors
from parley.platform.auth.principal import Principal
from parley.platform.bus import Event, Subscription
from parley.platform.errors import DomainError
from parley.platform.runtime import Runtime
from parley.platform.web.deps import AnyUser

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def _greeting_watch(app: FastAPI) -> AsyncIterator[None]:
    """Merged into the application's lifespan by `include_router`, inside the runtime's
    start and stop: the bus is up while the watch runs."""
    watching = asyncio.create_task(chat_service(app).watch_assignments())
    sweeping = asyncio.create_task(chat_tools(app).watch_inactivity())
    try:
        yield
    finally:
        for task in (watching, sweeping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


router = APIRouter(lifespan=_greeting_watch)

CLOSE_FORBIDDEN = 4403  # unknown or inactive widget, or an Origin it does not allow
CLOSE_RATE_LIMITED = protocol.CLOSE_RATE_LIMITED

_EVENTS = (
    "chat.message",
    "chat.typing",
    "chat.read",
    "chat.closed",
    "chat.invitation",
    "interaction.ended",
)
_socket_numbers = itertools.count(1)


def chat_service(app: FastAPI) -> ChatService:
    """The process's chat service (its locks must be shared by every socket)."""
    service: ChatService | None = getattr(app.state, "chat_service", None)
    if service is None:
        service = app.state.chat_service = ChatService(app.state.runtime)
    return service


def chat_tools(app: FastAPI) -> ChatTools:
    """The process's agent chat tools (transfer, ban, inactivity, CSAT...)."""
    found: ChatTools | None = getattr(app.state, "chat_tools", None)
    if found is None:
        found = app.state.chat_tools = ChatTools(app.state.runtime, chat_service(app))
    return found


def chat_forms(app: FastAPI) -> ChatForms:
    """The process's pre-chat and offline forms, sharing the chat service's locks."""
    found: ChatForms | None = getattr(app.state, "chat_forms", None)
    if found is None:
        found = app.state.chat_forms = ChatForms(app.state.runtime, chat_service(app))
    return found


def rate_limiter(app: FastAPI) -> domain.VisitorRateLimiter:
    limiter: domain.VisitorRateLimiter | None = getattr(app.state, "visitor_rate_limiter", None)
    if limiter is None:
        limiter = app.state.visitor_rate_limiter = domain.VisitorRateLimiter()
    return limiter


class _Connection:
    def __init__(
        self, websocket: WebSocket, runtime: Runtime, widget: WidgetView, service: ChatService
    ) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.widget = widget
        self.service = service
        self.limiter = rate_limiter(websocket.app)
        self.ip = websocket.client.host if websocket.client else ""
        # Until `hello` says who this is, the socket is its own visitor for the limits.
        self.anonymous_key = f"socket-{next(_socket_numbers)}"
        self.visitor_id: int | None = None
        self.visitor_key: str | None = None
        # The keyed bus subscription (set by the endpoint): it watches this visitor and
        # their current conversation, the only events `forward` acts on.
        self.events: Subscription | None = None
        self._interaction_id: int | None = None
        self.last_sent_seq = 0
        # Held while sending and while `hello` loads and replays, so a live message
        # cannot overtake the replay or be sent twice (see `forward`).
        self.lock = asyncio.Lock()
        self.is_agent_typing_shown = False
        self.typing_expiry: asyncio.Task[None] | None = None
        # Tracking and invitations (visitors.py): the visitor whose page this socket
        # counts as open, and the watch that invites them while they browse.
        self.tracked_visitor_id: int | None = None
        self.invitations: InvitationWatch | None = None
        self.inviting: asyncio.Task[None] | None = None
        self.page_views = page_view_bucket(runtime)
        self.closed_told: int | None = None  # the interaction whose `closed` was sent

    async def send(self, frame: protocol.ServerFrame) -> None:
        await self.websocket.send_text(protocol.encode(frame))

    async def send_error(self, error: DomainError, client_msg_id: str | None = None) -> None:
        async with self.lock:
            await self.send(protocol.ErrorFrame.of(error, client_msg_id))

    # --- from the bus ------------------------------------------------------------------

    @property
    def interaction_id(self) -> int | None:
        return self._interaction_id

    @interaction_id.setter
    def interaction_id(self, interaction_id: int | None) -> None:
        if self.events is not None and interaction_id != self._interaction_id:
            if self._interaction_id is not None:
                self.events.unwatch("interaction_id", self._interaction_id)
            if interaction_id is not None:
                self.events.watch("interaction_id", interaction_id)
        self._interaction_id = interaction_id

    async def forward_events(self, events: Subscription) -> None:
        async for event in events:
            async with self.lock:
                await self.forward(event)

    def _is_mine(self, payload: dict[str, Any]) -> bool:
        interaction_id = payload.get("interaction_id")
        return interaction_id is not None and interaction_id == self.interaction_id

    async def forward(self, event: Event) -> None:
        payload = event.payload
        if self.visitor_id is None:
            return  # before `hello`: the replay will include it
        if event.type == "chat.invitation":
            if payload.get("chat_visitor_id") == self.visitor_id and not self.is_chatting():
                if self.invitations is not None:
                    self.invitations.invited()
                await self.send(
                    protocol.Invitation(text=payload["text"], agent_name=payload.get("agent_name"))
                )
            return
        if event.type == "chat.message":
            if payload.get("chat_visitor_id") == self.visitor_id and (
                self.interaction_id is None or payload["interaction_id"] > self.interaction_id
            ):
                # Another tab of this visitor started a new conversation (a later one:
                # a late line in an older chat must not pull this tab back to it).
                self.interaction_id = payload["interaction_id"]
                self.last_sent_seq = 0
            if not self._is_mine(payload) or payload["seq"] <= self.last_sent_seq:
                return
            fields = {
                key: payload[key] for key in protocol.ChatMessage.model_fields if key != "type"
            }
            await self.send(protocol.ChatMessage.model_validate_json(json.dumps(fields)))
            self.last_sent_seq = payload["seq"]
            if payload["author"]["kind"] == domain.AuthorKind.AGENT:
                await self.show_agent_typing(False)  # their message ends the indicator
        elif not self._is_mine(payload):
            return
        elif event.type == "chat.typing" and payload.get("side") == domain.Side.AGENT:
            await self.show_agent_typing(payload["is_typing"])
        elif event.type == "chat.read" and payload.get("side") == domain.Side.AGENT:
            await self.send(protocol.AgentRead(up_to=payload["up_to"]))
        elif event.type == "chat.closed":
            self.closed_told = payload["interaction_id"]
            await self.send(protocol.Closed(reason=domain.CloseReason(payload["reason"])))
        elif event.type == "interaction.ended" and self.closed_told != payload["interaction_id"]:
            self.closed_told = payload["interaction_id"]
            await self.send(protocol.Closed(reason=domain.CloseReason.ENDED))

    async def show_agent_typing(self, is_typing: bool) -> None:
        """Send the agent indicator when it appears or disappears; it disappears by
        itself after the typing timeout without a new signal (PROTOCOL.md, Typing).
        Called with the lock held."""
        if self.typing_expiry is not None:
            self.typing_expiry.cancel()
            self.typing_expiry = None
        if is_typing:
            self.typing_expiry = asyncio.create_task(self._expire_agent_typing())
        if is_typing != self.is_agent_typing_shown:
            self.is_agent_typing_shown = is_typing
            await self.send(protocol.AgentTyping(is_typing=is_typing))

    async def _expire_agent_typing(self) -> None:
        await asyncio.sleep(domain.DEFAULT_TYPING_TIMEOUT.total_seconds())
        async with self.lock:
            self.typing_expiry = None
            if self.is_agent_typing_shown:
                self.is_agent_typing_shown = False
                await self.send(protocol.AgentTyping(is_typing=False))

    def stop(self) -> None:
        if self.typing_expiry is not None:
            self.typing_expiry.cancel()
        if self.inviting is not None:
            self.inviting.cancel()

    def is_chatting(self) -> bool:
        """Whether the visitor has a conversation that has not ended (no invitations)."""
        return self.interaction_id is not None and self.closed_told != self.interaction_id

    async def track_page(self) -> None:
        """After `hello`: this socket is one of the visitor's open pages, watched for
        invitations (a second `hello` on the socket moves both to its visitor)."""
        assert self.visitor_id is not None
        tracked = visitors(self.websocket.app)
        if self.tracked_visitor_id != self.visitor_id:
            await self.untrack_page()
            self.tracked_visitor_id = self.visitor_id
            await tracked.page_opened(self.visitor_id)
        else:
            await tracked.announce(self.visitor_id)
        if self.inviting is not None:
            self.inviting.cancel()
        self.invitations = InvitationWatch(
            tracked, self.widget, self.visitor_id, self.is_chatting, self.send_invitation
        )
        self.inviting = asyncio.create_task(self.invitations.run())

    async def untrack_page(self) -> None:
        if self.tracked_visitor_id is not None:
            visitor_id, self.tracked_visitor_id = self.tracked_visitor_id, None
            await visitors(self.websocket.app).page_closed(visitor_id)

    async def send_invitation(self, invitation: protocol.Invitation) -> None:
        async with self.lock:
            await self.send(invitation)

    # --- from the visitor --------------------------------------------------------------

    async def receive_frames(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            limited = self.limiter.check(
                self.visitor_key or self.anonymous_key, self.ip, self.runtime.clock.now()
            )
            if limited is not None:
                log.info("visitor_socket.rate_limited", limit=limited.value, ip=self.ip)
                await self.send_error(
                    protocol.FrameRejected(protocol.ErrorCode.RATE_LIMITED, "Too many frames.")
                )
                await self.websocket.close(CLOSE_RATE_LIMITED)
                return
            text = message.get("text")
            if text is None:
                await self.send_error(
                    protocol.FrameRejected(protocol.ErrorCode.BAD_FRAME, "Frames must be text.")
                )
                continue
            try:
                frame = protocol.read_frame(text)
            except protocol.FrameRejected as exc:
                await self.send_error(exc)
                continue
            await self.handle(frame)

    async def handle(self, frame: protocol.ClientFrame) -> None:
        if isinstance(frame, protocol.Hello):
            await self.hello(frame)
            return
        if isinstance(frame, protocol.Heartbeat):
            return
        if self.visitor_id is None:
            await self.send_error(
                protocol.FrameRejected(protocol.ErrorCode.BAD_FRAME, "Send hello first.")
            )
            return
        match frame:
            case protocol.SendMessage(client_msg_id=client_msg_id, text=text):
                await self.message(self.visitor_id, client_msg_id, text)
            case protocol.SetTyping(is_typing=is_typing):
                if self.interaction_id is not None:
                    await self.service.set_visitor_typing(
                        self.visitor_id, self.interaction_id, is_typing
                    )
            case protocol.Details():
                try:
                    await chat_forms(self.websocket.app).save_details(
                        self.widget, self.visitor_id, frame
                    )
                except protocol.FrameRejected as exc:
                    await self.send_error(exc)
                    return
                async with self.lock:
                    await self.send(protocol.DetailsSaved())
            case protocol.OfflineMessage(client_msg_id=client_msg_id):
                forms = chat_forms(self.websocket.app)
                try:
                    left = await forms.leave_message(self.widget, self.visitor_id, frame)
                except protocol.FrameRejected as exc:
                    await self.send_error(exc)
                    return
                async with self.lock:
                    await self.send(protocol.OfflineReceived(client_msg_id=client_msg_id))
                await forms.deliver(left)  # the visitor need not wait for SMTP
            case protocol.Rate(rating=rating, comment=comment):
                if self.interaction_id is None:
                    await self.send_error(
                        protocol.FrameRejected(protocol.ErrorCode.BAD_FRAME, "No chat to rate.")
                    )
                    return
                try:
                    await chat_tools(self.websocket.app).rate(
                        self.visitor_id, self.interaction_id, rating, comment
                    )
                except DomainError:
                    await self.send_error(
                        protocol.FrameRejected(
                            protocol.ErrorCode.BAD_FRAME, "A chat is rated once it has ended."
                        )
                    )
                    return
                async with self.lock:
                    await self.send(protocol.RatingSaved())
            case protocol.PageView():
                if not self.page_views.take():
                    await self.send_error(
                        protocol.FrameRejected(
                            protocol.ErrorCode.RATE_LIMITED, "Too many page views."
                        )
                    )
                    return
                await visitors(self.websocket.app).page_viewed(self.visitor_id, frame)
                if self.invitations is not None:
                    self.invitations.page_changed()
            case protocol.DeclineInvitation():
                if self.invitations is not None:
                    self.invitations.declined()
                log.info("chat.invitation_declined", chat_visitor_id=self.visitor_id)
            case protocol.MarkRead(up_to=up_to):
                if self.interaction_id is None:
                    await self.send_error(domain.UnknownSeq(up_to))
                    return
                try:
                    await self.service.mark_read_by_visitor(
                        self.visitor_id, self.interaction_id, up_to
                    )
                except domain.UnknownSeq as exc:
                    await self.send_error(exc)

    async def hello(self, frame: protocol.Hello) -> None:
        info = await visitors(self.websocket.app).visitor_info(
            self.websocket.headers.get("user-agent", ""), self.ip
        )
        async with self.lock:
            greeting = await self.service.hello(self.widget, frame, info)
            if self.events is not None and self.visitor_id != greeting.visitor_id:
                if self.visitor_id is not None:
                    self.events.unwatch("chat_visitor_id", self.visitor_id)
                self.events.watch("chat_visitor_id", greeting.visitor_id)
            self.visitor_id = greeting.visitor_id
            self.visitor_key = greeting.visitor_key
            self.interaction_id = greeting.interaction_id
            conversation = greeting.conversation
            state = None
            if conversation is not None:
                state = protocol.ConversationState.of(
                    conversation, self.runtime.clock.now()
                ).model_copy(update={"is_agent_typing": greeting.is_agent_typing})
            await self.send(
                protocol.Welcome(
                    visitor_id=greeting.visitor_key,
                    conversation=state,
                    agents_available=greeting.agents_available,
                )
            )
            if greeting.unknown_resume is not None:
                await self.send(protocol.ErrorFrame.of(greeting.unknown_resume))
            for missed in greeting.missed:
                await self.send(protocol.ChatMessage.of(missed))
            self.last_sent_seq = conversation.last_seq if conversation is not None else 0
            # `welcome` showed the indicator as it is: only arm its expiry.
            self.is_agent_typing_shown = greeting.is_agent_typing
            await self.show_agent_typing(greeting.is_agent_typing)
        await self.track_page()

    async def message(self, visitor_id: int, client_msg_id: str, text: str) -> None:
        # Under the lock, so the sender sees the ack before the echo of its message.
        async with self.lock:
            try:
                taken = await self.service.receive_message(visitor_id, client_msg_id, text)
            except protocol.FrameRejected as exc:  # the pre-chat form is not filled in
                await self.send(protocol.ErrorFrame.of(exc))
                return
            except DomainError as exc:
                # The engine could not queue the chat (queue closed or full, no engine in
                # this process): no ack, so the widget keeps the message and resends it.
                log.warning(
                    "visitor_socket.message_not_taken",
                    code=exc.code,
                    chat_visitor_id=visitor_id,
                    widget_id=self.widget.id,
                )
                return
            if taken.interaction_id != self.interaction_id:
                self.interaction_id = taken.interaction_id
                self.last_sent_seq = 0
            await self.send(protocol.Ack.of(taken.receipt))


@router.websocket("/ws/visitor")
async def visitor_socket(websocket: WebSocket, widget: str = "") -> None:
    runtime: Runtime = websocket.app.state.runtime
    service = chat_service(websocket.app)
    found = await service.find_widget(widget) if widget else None
    origin = websocket.headers.get("origin")
    await websocket.accept()
    if found is None or not found.is_active or not found.allows_origin(origin):
        log.info("visitor_socket.refused", widget=widget[:64], origin=(origin or "")[:200])
        await websocket.close(CLOSE_FORBIDDEN)
        return
    connection = _Connection(websocket, runtime, found, service)
    subscription = runtime.bus.subscribe(*_EVENTS, keyed=True)
    connection.events = subscription
    forwarding = asyncio.create_task(connection.forward_events(subscription))
    try:
        await connection.receive_frames()
    except WebSocketDisconnect:
        pass
    finally:
        subscription.close()
        connection.stop()
        try:
            await connection.untrack_page()
        except Exception:  # the socket is gone; the visitor stays listed as on the page
            log.exception("visitor_socket.untrack_failed", chat_visitor_id=connection.visitor_id)
        forwarding.cancel()
        try:
            await forwarding
        except asyncio.CancelledError:
            pass
        except Exception:  # the socket is gone either way; say why forwarding stopped
            log.exception("visitor_socket.forwarding_failed", widget_id=found.id)
        log.info("visitor_socket.closed", widget_id=found.id, chat_visitor_id=connection.visitor_id)


# --- the agent's routes --------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentMessageIn(_Body):
    text: Annotated[str, Field(min_length=1, max_length=protocol.MAX_TEXT_CHARS, pattern=r"\S")]


class TypingIn(_Body):
    is_typing: bool


class ReadIn(_Body):
    up_to: Annotated[int, Field(ge=0, le=protocol.MAX_SEQ)]


class AuthorOut(BaseModel):
    kind: domain.AuthorKind
    name: str | None


class MessageOut(BaseModel):
    seq: int
    id: str
    author: AuthorOut
    text: str
    sent_at: str
    file: protocol.File | None = None  # download: /api/chats/{interaction_id}/files/{id}


class TranscriptOut(BaseModel):
    interaction_id: int
    agent_id: int | None
    is_closed: bool
    visitor_read_up_to: int
    agent_read_up_to: int
    messages: list[MessageOut]

    @classmethod
    def of(cls, transcript: Transcript) -> TranscriptOut:
        return cls(
            interaction_id=transcript.interaction_id,
            agent_id=transcript.agent_id,
            is_closed=transcript.is_closed,
            visitor_read_up_to=transcript.visitor_read_up_to,
            agent_read_up_to=transcript.agent_read_up_to,
            messages=[
                MessageOut(
                    seq=message.seq,
                    id=message.message_id,
                    author=AuthorOut(kind=message.author.kind, name=message.author.name),
                    text=message.text,
                    sent_at=message.sent_at.isoformat(),
                    file=protocol.File.of(message.file) if message.file is not None else None,
                )
                for message in transcript.messages
            ],
        )


class SentOut(BaseModel):
    seq: int


async def authorized_chat(request: Request, me: Principal, interaction_id: int) -> ChatService:
    """The chat service, once the caller may act on this chat: 404 for no such chat,
    403 unless it is the caller's own chat or the caller supervises."""
    service = chat_service(request.app)
    await chat_tools(request.app).check_access(interaction_id, me)  # guests may too
    return service


@router.get("/api/chats/{interaction_id}/messages", tags=["chat"])
async def get_chat_messages(interaction_id: int, request: Request, me: AnyUser) -> TranscriptOut:
    service = await authorized_chat(request, me, interaction_id)
    return TranscriptOut.of(await service.transcript(interaction_id))


@router.post("/api/chats/{interaction_id}/messages", tags=["chat"], status_code=201)
async def post_chat_message(
    interaction_id: int, body: AgentMessageIn, request: Request, me: AnyUser
) -> SentOut:
    """Send the agent's message to the visitor (409 `chat_closed` once the chat ended)."""
    service = await authorized_chat(request, me, interaction_id)
    return SentOut(seq=await service.post_agent_message(interaction_id, me.user_id, body.text))


@router.post("/api/chats/{interaction_id}/typing", tags=["chat"], status_code=204)
async def post_chat_typing(
    interaction_id: int, body: TypingIn, request: Request, me: AnyUser
) -> None:
    service = await authorized_chat(request, me, interaction_id)
    await service.set_agent_typing(interaction_id, body.is_typing)


@router.post("/api/chats/{interaction_id}/read", tags=["chat"], status_code=204)
async def post_chat_read(interaction_id: int, body: ReadIn, request: Request, me: AnyUser) -> None:
    """The agent has read up to `up_to` (404 if it is not a seq of the chat)."""
    service = await authorized_chat(request, me, interaction_id)
    await service.mark_read_by_agent(interaction_id, body.up_to)
