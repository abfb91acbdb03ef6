"""The visitor side of web chat, orchestrated: load the visitor and their conversation,
let the domain decide, store what is new, queue the chat, publish what happened.

A conversation is the visitor's open chat `Interaction` of today (F-CH-7: the same one on
every page and tab), rebuilt into a `domain.Conversation` from its stored `Message` rows
when a widget resumes it; a new message needs only its tail (the last seq, and a look-up
of its `client_msg_id`), so taking one is a few indexed reads and one INSERT. The rows
carry the domain's numbering (`seq`) and the widget's `client_msg_id`, both unique per
interaction, so two writers racing (two tabs, an agent and the visitor, two web
processes) cannot store one message twice or reuse a seq: the loser's transaction fails
and it retries from a fresh load.

The first message of a visitor makes them a `Contact` (with a `visitor` identity) and
creates the Interaction through the engine, which queues it in the widget's queue.
Events are published after the commit that stored what they announce:

- `chat.message`: a new message (any author), with `seq`, `author`, `text`…
- `chat.typing`: one side's typing indicator appeared or disappeared.
- `chat.read`: one side's read mark moved.

Every payload carries `interaction_id` and `agent_id` (the assigned agent, or None while
the chat waits), so the agent websocket forwards it to that agent's desktop only.

When an agent accepts a chat, the widget's greeting is posted in their name, once: the
service watches `interaction.assigned` (`watch_assignments`, started and stopped with
the application by api.py) and records `greeting_sent` in the interaction's attributes
in the same transaction as the message, so a second web process, a replayed event or a
re-assignment finds it sent.

Read marks are kept in the interaction's attributes; typing lives in memory only (it
lasts seconds). No FastAPI here: `api.py` is the edge.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat_channel import bans, domain, forms, protocol, tracking
from parley.platform.bus import Event
from parley.platform.db import after_commit
from parley.platform.engine import EnqueueRequest
from parley.platform.errors import Conflict, NotFound
from parley.platform.models import (
    Channel,
    ChatFile,
    ChatVisitor,
    ChatWidget,
    Contact,
    ContactIdentity,
    Direction,
    Interaction,
    Message,
    MessageKind,
    User,
)
from parley.platform.runtime import Runtime

log = structlog.get_logger(__name__)

VISITOR_IDENTITY = "visitor"
# A visitor back after this long starts a new visit (F-CH-5's visit count).
NEW_VISIT_AFTER = timedelta(minutes=30)
_WRITE_ATTEMPTS = 5
_VISITOR_READ = "visitor_read_up_to"
_AGENT_READ = "agent_read_up_to"
_GREETING_SENT = "greeting_sent"
GUESTS = "chat_participants"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WidgetView:
    id: int
    name: str
    public_key: str
    queue_id: int
    allowed_origins: tuple[str, ...]
    is_active: bool
    prechat_required: tuple[str, ...] = ()
    offline_form_enabled: bool = False

    def allows_origin(self, origin: str | None) -> bool:
        """Exact match only: `https://shop.example` does not admit `http://` or a
        subdomain. A handshake without an Origin (not a browser) is refused too."""
        return origin is not None and origin in self.allowed_origins


@dataclass(frozen=True, slots=True)
class VisitorInfo:
    """What the connection says about the browser, besides the `hello` frame."""

    user_agent: str = ""
    ip: str = ""
    # Read from the two above by tracking.py (blank when unknown).
    browser: str = ""
    os: str = ""
    city: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class Greeting:
    """The answer to `hello`: who the visitor is, their conversation (if any), and what
    to replay. `unknown_resume` is set when `hello.resume` is after the last message."""

    visitor_id: int
    visitor_key: str
    interaction_id: int | None
    conversation: domain.Conversation | None
    missed: tuple[domain.Message, ...]
    unknown_resume: domain.UnknownSeq | None = None
    is_agent_typing: bool = False  # rebuilt conversations know no typing: this does
    agents_available: bool = True


@dataclass(frozen=True, slots=True)
class Taken:
    """The answer to a visitor's message: the ack, and the interaction it is in."""

    receipt: domain.Receipt
    interaction_id: int


@dataclass(frozen=True, slots=True)
class Upload:
    """A file for a new message: what the message shows, and the digest naming the
    stored bytes (files.py wrote them before the message is taken)."""

    ref: domain.FileRef
    sha256: str


class ChatClosed(Conflict):
    """A message for a conversation that has ended."""

    def __init__(self, interaction_id: int) -> None:
        super().__init__("chat_closed", f"Chat {interaction_id} has ended.")


@dataclass(frozen=True, slots=True)
class Transcript:
    """A chat as the agents see it: who has it, and every message in seq order."""

    interaction_id: int
    agent_id: int | None
    is_closed: bool
    messages: tuple[domain.Message, ...]
    visitor_read_up_to: int
    agent_read_up_to: int


def new_visitor_key() -> str:
    """The secret id a widget keeps for its visitor: 32 URL-safe characters."""
    return secrets.token_urlsafe(24)


def _message_id() -> str:
    return "m_" + uuid.uuid4().hex[:20]


def conversation_id(interaction_id: int) -> str:
    return f"c_{interaction_id}"


def _author_of(row: Message) -> domain.Author:
    author = row.headers.get("author", {})
    return domain.Author(domain.AuthorKind(author.get("kind", "system")), author.get("name"))


def _file_of(row: Message) -> domain.FileRef | None:
    file = row.headers.get("file")
    if not file:
        return None
    return domain.FileRef(file["id"], file["name"], file["size"], file["content_type"])


def _to_domain(row: Message) -> domain.Message:
    assert row.seq is not None and row.external_id is not None
    return domain.Message(
        row.seq,
        row.external_id,
        _author_of(row),
        row.body_text,
        row.created_at,
        row.client_msg_id,
        _file_of(row),
    )


def message_payload(interaction: Interaction, message: domain.Message) -> dict[str, Any]:
    """The payload of `chat.message`: the wire frame's fields plus where it belongs."""
    frame = protocol.ChatMessage.of(message).model_dump(mode="json", exclude={"type"})
    return {
        "interaction_id": interaction.id,
        "chat_visitor_id": interaction.attributes.get("chat_visitor_id"),
        "chat_widget_id": interaction.attributes.get("chat_widget_id"),
        "agent_id": interaction.agent_id,
        "agent_ids": guests_of(interaction),
        **frame,
    }


def guests_of(interaction: Interaction) -> list[int]:
    """The agents invited into the chat besides the one who has it (a conference,
    F-CH-6): events name them in `agent_ids`, so their desktops get them too."""
    return [int(agent) for agent in interaction.attributes.get(GUESTS, ())]


class ChatService:
    """One per process (api.py keeps it on the application): it owns the locks that
    keep one process's writers for a visitor or an interaction in line."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._locks: weakref.WeakValueDictionary[tuple[str, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # Typing only: a bare conversation per interaction holds the indicators.
        self._typing: dict[int, domain.Conversation] = {}

    # --- widgets and visitors --------------------------------------------------------

    async def find_widget(self, public_key: str) -> WidgetView | None:
        async with self._runtime.database.transaction() as db:
            widget = await db.scalar(select(ChatWidget).where(ChatWidget.public_key == public_key))
            if widget is None:
                return None
            return WidgetView(
                widget.id,
                widget.name,
                widget.public_key,
                widget.queue_id,
                tuple(widget.allowed_origins),
                widget.is_active,
                tuple(widget.prechat_required),
                widget.offline_form_enabled,
            )

    async def hello(self, widget: WidgetView, frame: protocol.Hello, info: VisitorInfo) -> Greeting:
        """Record the visit (new key when the widget has none or an unknown one) and
        load the visitor's conversation with what they missed."""
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            visitor = None
            if frame.visitor_id is not None:
                visitor = await db.scalar(
                    select(ChatVisitor).where(
                        ChatVisitor.widget_id == widget.id,
                        ChatVisitor.visitor_key == frame.visitor_id,
                    )
                )
            if visitor is None:
                visitor = ChatVisitor(
                    widget_id=widget.id,
                    visitor_key=new_visitor_key(),
                    first_seen_at=now,
                    last_seen_at=now,
                    visit_count=1,
                    visit_started_at=now,
                    page_started_at=now,
                    page_views=0,
                    pages=[],
                    referrer=frame.referrer,
                )
                db.add(visitor)
            elif now - visitor.last_seen_at >= NEW_VISIT_AFTER:
                visitor.visit_count += 1
                tracking.start_visit(visitor, frame.referrer, now)
            visitor.last_seen_at = now
            tracking.record_page_view(visitor, frame.page.url, frame.page.title, now)
            tracking.record_browser(visitor, info.browser, info.os, info.city, info.country)
            visitor.user_agent = info.user_agent[:500]
            visitor.ip = info.ip[:45]
            if frame.language is not None:
                visitor.language = frame.language
            if frame.screen is not None:
                visitor.screen = f"{frame.screen.width}x{frame.screen.height}"
            await db.flush()
            loaded = await self._open_conversation(db, visitor.contact_id, now)
        available = self.agents_available(widget)
        if loaded is None:
            unknown = domain.UnknownSeq(frame.resume) if frame.resume > 0 else None
            return Greeting(
                visitor.id, visitor.visitor_key, None, None, (), unknown, False, available
            )
        interaction, conversation = loaded
        typing = self._typing.get(interaction.id)
        is_agent_typing = typing is not None and typing.is_typing(domain.Side.AGENT, now)
        unknown = None
        missed: tuple[domain.Message, ...] = ()
        try:
            missed = conversation.resume(frame.resume)
        except domain.UnknownSeq as exc:
            unknown = exc
        return Greeting(
            visitor.id,
            visitor.visitor_key,
            interaction.id,
            conversation,
            missed,
            unknown,
            is_agent_typing,
            available,
        )

    def agents_available(self, widget: WidgetView) -> bool:
        """Whether an agent may answer a new chat of the widget now (its queue open, an
        agent logged in for it). A process without the engine cannot tell: it says yes,
        and the chat waits in the queue as before."""
        engine = self._runtime.engine
        return engine is None or engine.has_agents_for(widget.queue_id)

    # --- the visitor's frames --------------------------------------------------------

    async def receive_message(
        self, visitor_id: int, client_msg_id: str, text: str, upload: Upload | None = None
    ) -> Taken:
        """Take a visitor's message (or recognise its resend); the first one opens the
        conversation and queues it. With `upload`, the message sends that file."""
        async with self._lock("visitor", visitor_id):
            return await self._retrying(
                lambda: self._receive_message(visitor_id, client_msg_id, text, upload)
            )

    async def _receive_message(
        self, visitor_id: int, client_msg_id: str, text: str, upload: Upload | None
    ) -> Taken:
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            visitor = await db.get_one(ChatVisitor, visitor_id)
            open_id = await self._open_interaction_id(db, visitor.contact_id, now)
            if open_id is not None:
                resent = await self._resent(db, open_id, client_msg_id)
                if resent is not None:
                    return resent
                interaction, conversation = await self._load_tail(db, open_id)
                return await self._take(
                    db, interaction, conversation, client_msg_id, text, now, upload
                )
            known = await self._known_message(db, visitor.contact_id, client_msg_id)
            if known is not None:  # a resend after its conversation ended
                return known
            widget = await db.get_one(ChatWidget, visitor.widget_id)
            missing = forms.missing_required(widget.prechat_required, visitor.details)
            if missing:  # a new chat starts after the pre-chat form (F-CH-2)
                raise protocol.FrameRejected(
                    protocol.ErrorCode.BAD_FRAME,
                    "Fill in the pre-chat form first.",
                    [
                        protocol.FieldError(field=f"details.{field}", message="Field required")
                        for field in missing
                    ],
                    client_msg_id,
                )
            ban = await bans.active_ban(db, visitor.widget_id, visitor.visitor_key, visitor.ip, now)
            if ban is not None:  # F-CH-6: a banned visitor starts no chat
                raise bans.refusal(ban, client_msg_id)
        interaction_id = await self._start_conversation(visitor_id)
        async with self._runtime.database.transaction() as db:
            interaction = await db.get_one(Interaction, interaction_id)
            empty = domain.Conversation(conversation_id(interaction_id))
            return await self._take(db, interaction, empty, client_msg_id, text, now, upload)

    async def _take(
        self,
        db: AsyncSession,
        interaction: Interaction,
        conversation: domain.Conversation,
        client_msg_id: str,
        text: str,
        now: datetime,
        upload: Upload | None = None,
    ) -> Taken:
        receipt = conversation.receive(
            client_msg_id,
            text,
            message_id=_message_id(),
            now=now,
            file=upload.ref if upload is not None else None,
        )
        if not receipt.is_duplicate:
            self._add_file(db, interaction, upload)
            self._store(db, interaction, receipt.message, author_contact_id=interaction.contact_id)
            await db.flush()
            self._forget_typing(interaction.id, domain.Side.VISITOR, now)
        return Taken(receipt, interaction.id)

    async def set_visitor_typing(
        self, visitor_id: int, interaction_id: int, is_typing: bool
    ) -> None:
        """Show or hide the visitor's indicator to the agents (published on a change)."""
        await self._set_typing(interaction_id, domain.Side.VISITOR, is_typing, visitor_id)

    async def mark_read_by_visitor(self, visitor_id: int, interaction_id: int, up_to: int) -> None:
        """The visitor has read up to `up_to`; `domain.UnknownSeq` if that is not a seq."""
        await self._mark_read(interaction_id, domain.Side.VISITOR, up_to)

    # --- the agents' side ------------------------------------------------------------

    async def transcript(self, interaction_id: int) -> Transcript:
        async with self._runtime.database.transaction() as db:
            interaction, conversation = await self._load(db, interaction_id)
            return Transcript(
                interaction.id,
                interaction.agent_id,
                conversation.closed_reason is not None,
                conversation.messages,
                conversation.read_up_to(domain.Side.VISITOR),
                conversation.read_up_to(domain.Side.AGENT),
            )

    async def send_greeting(self, interaction_id: int) -> int | None:
        """Post the widget's greeting in the assigned agent's name unless it was sent,
        the widget has none or the chat ended; the seq of the greeting, if posted."""
        async with self._lock("interaction", interaction_id):
            return await self._retrying(lambda: self._greet(interaction_id))

    async def _greet(self, interaction_id: int) -> int | None:
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            interaction, conversation = await self._load_tail(db, interaction_id)
            widget_id = interaction.attributes.get("chat_widget_id")
            if (
                interaction.attributes.get(_GREETING_SENT)
                or conversation.closed_reason is not None
                or widget_id is None
            ):
                return None
            widget = await db.get(ChatWidget, widget_id)
            if widget is None or not widget.greeting.strip():
                return None
            agent = await db.get(User, interaction.agent_id) if interaction.agent_id else None
            name = agent.display_name if agent is not None else None
            author = domain.Author(domain.AuthorKind.AGENT, name or None)
            message = conversation.post(author, widget.greeting, message_id=_message_id(), now=now)
            interaction.attributes = {**interaction.attributes, _GREETING_SENT: True}
            self._store(db, interaction, message, author_user_id=interaction.agent_id)
            await db.flush()
        log.info("chat.greeting_sent", interaction_id=interaction_id, seq=message.seq)
        return message.seq

    async def watch_assignments(self) -> None:
        """Greet the visitor when an agent takes their chat (F-CH-6). Runs until
        cancelled; a greeting that fails is logged and the watch goes on."""
        async with self._runtime.bus.subscribe("interaction.assigned") as events:
            async for event in events:
                if event.payload.get("channel") != Channel.CHAT.value:
                    continue
                interaction_id = event.payload["interaction_id"]
                try:
                    await self.send_greeting(interaction_id)
                except Exception:
                    log.exception("chat.greeting_failed", interaction_id=interaction_id)

    async def post_agent_message(
        self, interaction_id: int, agent_id: int, text: str, upload: Upload | None = None
    ) -> int:
        """Store an agent's message with the next seq and publish `chat.message`; the seq.
        With `upload`, the message sends that file."""
        async with self._lock("interaction", interaction_id):
            return await self._retrying(lambda: self._post(interaction_id, agent_id, text, upload))

    async def _post(
        self, interaction_id: int, agent_id: int, text: str, upload: Upload | None
    ) -> int:
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            interaction, conversation = await self._load_tail(db, interaction_id)
            if conversation.closed_reason is not None:
                raise ChatClosed(interaction_id)
            agent = await db.get(User, agent_id)
            if agent is None:
                raise NotFound("User", agent_id)
            author = domain.Author(domain.AuthorKind.AGENT, agent.display_name or None)
            message = conversation.post(
                author,
                text,
                message_id=_message_id(),
                now=now,
                file=upload.ref if upload is not None else None,
            )
            self._add_file(db, interaction, upload)
            self._store(db, interaction, message, author_user_id=agent_id)
            await db.flush()
        self._forget_typing(interaction_id, domain.Side.AGENT, now)
        return message.seq

    async def post_system_message(self, interaction_id: int, text: str) -> int | None:
        """A notice from the system to both sides (transferred, closed for inactivity),
        kept in the conversation; None when the chat has ended already."""
        async with self._lock("interaction", interaction_id):
            return await self._retrying(lambda: self._post_system(interaction_id, text))

    async def _post_system(self, interaction_id: int, text: str) -> int | None:
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            interaction, conversation = await self._load_tail(db, interaction_id)
            if conversation.closed_reason is not None:
                return None
            author = domain.Author(domain.AuthorKind.SYSTEM)
            message = conversation.post(author, text, message_id=_message_id(), now=now)
            self._store(db, interaction, message)
            await db.flush()
        return message.seq

    async def chat_agents(self, interaction_id: int) -> tuple[int | None, tuple[int, ...]]:
        """Who is in the chat on the agents' side: the one who has it (None while it
        waits) and the invited guests; `NotFound` if no such chat."""
        async with self._runtime.database.transaction() as db:
            interaction = await db.get(Interaction, interaction_id)
            if interaction is None or interaction.channel is not Channel.CHAT:
                raise NotFound("Chat", interaction_id)
            return interaction.agent_id, tuple(guests_of(interaction))

    async def set_agent_typing(self, interaction_id: int, is_typing: bool) -> None:
        await self._set_typing(interaction_id, domain.Side.AGENT, is_typing, None)

    async def mark_read_by_agent(self, interaction_id: int, up_to: int) -> None:
        await self._mark_read(interaction_id, domain.Side.AGENT, up_to)

    # --- internals -------------------------------------------------------------------

    def visitor_lock(self, visitor_id: int) -> asyncio.Lock:
        """Held by whoever may make the visitor a contact (see offline.py too)."""
        return self._lock("visitor", visitor_id)

    def _lock(self, kind: str, key: int) -> asyncio.Lock:
        lock = self._locks.get((kind, key))
        if lock is None:
            lock = self._locks[(kind, key)] = asyncio.Lock()
        return lock

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run a write again when another writer took the seq (or the client_msg_id)
        first: the next attempt loads what they stored and decides again."""
        for remaining in range(_WRITE_ATTEMPTS - 1, -1, -1):
            try:
                return await attempt()
            except IntegrityError:
                if not remaining:
                    raise
                log.info("chat.write_conflict_retried")
        raise AssertionError("unreachable")

    async def _open_conversation(
        self, db: AsyncSession, contact_id: int | None, now: datetime
    ) -> tuple[Interaction, domain.Conversation] | None:
        """The contact's chat of today that has not ended, rebuilt, if there is one."""
        interaction_id = await self._open_interaction_id(db, contact_id, now)
        if interaction_id is None:
            return None
        return await self._load(db, interaction_id)

    async def _open_interaction_id(
        self, db: AsyncSession, contact_id: int | None, now: datetime
    ) -> int | None:
        """The id of the contact's chat of today that has not ended, if there is one."""
        if contact_id is None:
            return None
        start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        interaction_id = await db.scalar(
            select(Interaction.id)
            .where(
                Interaction.contact_id == contact_id,
                Interaction.channel == Channel.CHAT,
                Interaction.ended_at.is_(None),
                Interaction.created_at >= start_of_day,
            )
            .order_by(Interaction.id.desc())
            .limit(1)
        )
        return interaction_id

    async def _load(
        self, db: AsyncSession, interaction_id: int
    ) -> tuple[Interaction, domain.Conversation]:
        interaction = await db.get(Interaction, interaction_id)
        if interaction is None or interaction.channel is not Channel.CHAT:
            raise NotFound("Chat", interaction_id)
        rows = await db.scalars(
            select(Message)
            .where(Message.interaction_id == interaction_id, Message.seq.is_not(None))
            .order_by(Message.seq)
        )
        attributes = interaction.attributes
        conversation = domain.Conversation(
            conversation_id(interaction_id),
            messages=[_to_domain(row) for row in rows],
            visitor_read_up_to=int(attributes.get(_VISITOR_READ, 0)),
            agent_read_up_to=int(attributes.get(_AGENT_READ, 0)),
            closed_reason=domain.CloseReason.ENDED if interaction.ended_at else None,
        )
        return interaction, conversation

    async def _load_tail(
        self, db: AsyncSession, interaction_id: int
    ) -> tuple[Interaction, domain.Conversation]:
        """The chat and a conversation holding none of its messages, only where they end
        (`after_seq`) and the read marks: enough to number a new message or move a mark.
        A writer racing for the same seq loses on the unique (interaction_id, seq)."""
        interaction = await db.get(Interaction, interaction_id)
        if interaction is None or interaction.channel is not Channel.CHAT:
            raise NotFound("Chat", interaction_id)
        last_seq = await db.scalar(
            select(func.max(Message.seq)).where(Message.interaction_id == interaction_id)
        )
        attributes = interaction.attributes
        conversation = domain.Conversation(
            conversation_id(interaction_id),
            after_seq=int(last_seq or 0),
            visitor_read_up_to=int(attributes.get(_VISITOR_READ, 0)),
            agent_read_up_to=int(attributes.get(_AGENT_READ, 0)),
            closed_reason=domain.CloseReason.ENDED if interaction.ended_at else None,
        )
        return interaction, conversation

    async def _resent(
        self, db: AsyncSession, interaction_id: int, client_msg_id: str
    ) -> Taken | None:
        """The ack again for a visitor's message already taken in the chat, if it was."""
        row = await db.scalar(
            select(Message).where(
                Message.interaction_id == interaction_id, Message.client_msg_id == client_msg_id
            )
        )
        if row is None:
            return None
        return Taken(domain.Receipt(_to_domain(row), is_duplicate=True), interaction_id)

    async def _known_message(
        self, db: AsyncSession, contact_id: int | None, client_msg_id: str
    ) -> Taken | None:
        if contact_id is None:
            return None
        row = await db.scalar(
            select(Message)
            .join(Interaction, Message.interaction_id == Interaction.id)
            .where(
                Interaction.contact_id == contact_id,
                Interaction.channel == Channel.CHAT,
                Message.client_msg_id == client_msg_id,
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        if row is None or row.interaction_id is None:
            return None
        return Taken(domain.Receipt(_to_domain(row), is_duplicate=True), row.interaction_id)

    async def _start_conversation(self, visitor_id: int) -> int:
        """Make the visitor a contact if they are not one, and queue a new chat."""
        async with self._runtime.database.transaction() as db:
            visitor = await db.get_one(ChatVisitor, visitor_id)
            widget = await db.get_one(ChatWidget, visitor.widget_id)
            if visitor.contact_id is None:
                contact = Contact(name="")
                db.add(contact)
                await db.flush()
                db.add(
                    ContactIdentity(
                        contact_id=contact.id,
                        kind=VISITOR_IDENTITY,
                        value=f"{widget.id}:{visitor.visitor_key}",
                    )
                )
                visitor.contact_id = contact.id
                name = ""
            else:
                contact_row = await db.get(Contact, visitor.contact_id)
                name = contact_row.name if contact_row else ""
            request = EnqueueRequest(
                channel=Channel.CHAT,
                queue_id=widget.queue_id,
                contact_id=visitor.contact_id,
                attributes={
                    **forms.screen_pop(visitor.details),
                    "name": name or visitor.details.get("name") or "Visitor",
                    "page_url": visitor.page_url,
                    "page_title": visitor.page_title,
                    "chat_visitor_id": visitor.id,
                    "chat_widget_id": widget.id,
                },
            )
        interaction_id = await self._runtime.require_engine().enqueue(request)
        log.info("chat.started", interaction_id=interaction_id, chat_visitor_id=visitor_id)
        return interaction_id

    def _add_file(self, db: AsyncSession, interaction: Interaction, upload: Upload | None) -> None:
        """Record the file a new message sends, in the message's transaction."""
        if upload is None:
            return
        db.add(
            ChatFile(
                public_id=upload.ref.file_id,
                interaction_id=interaction.id,
                filename=upload.ref.name,
                content_type=upload.ref.content_type,
                size=upload.ref.size,
                sha256=upload.sha256,
            )
        )

    def _store(
        self,
        db: AsyncSession,
        interaction: Interaction,
        message: domain.Message,
        *,
        author_user_id: int | None = None,
        author_contact_id: int | None = None,
    ) -> None:
        """Add the message row and publish `chat.message` once it is committed."""
        is_visitor = message.author.kind is domain.AuthorKind.VISITOR
        headers: dict[str, Any] = {
            "author": {"kind": message.author.kind.value, "name": message.author.name}
        }
        if message.file is not None:
            headers["file"] = {
                "id": message.file.file_id,
                "name": message.file.name,
                "size": message.file.size,
                "content_type": message.file.content_type,
            }
        db.add(
            Message(
                kind=MessageKind.CHAT,
                direction=Direction.INBOUND if is_visitor else Direction.OUTBOUND,
                interaction_id=interaction.id,
                case_id=interaction.case_id,
                author_user_id=author_user_id,
                author_contact_id=author_contact_id,
                external_id=message.message_id,
                body_text=message.text,
                headers=headers,
                seq=message.seq,
                client_msg_id=message.client_msg_id,
                created_at=message.sent_at,
            )
        )
        self._publish_after(db, "chat.message", message_payload(interaction, message))

    def _publish_after(self, db: AsyncSession, type_: str, payload: dict[str, Any]) -> None:
        event = Event.create(type_, payload, self._runtime.clock.now())
        bus = self._runtime.bus

        async def publish() -> None:
            await bus.publish(event)

        after_commit(db, publish)

    async def _publish(self, type_: str, payload: dict[str, Any]) -> None:
        await self._runtime.bus.publish(Event.create(type_, payload, self._runtime.clock.now()))

    def _typing_of(self, interaction_id: int) -> domain.Conversation:
        typing = self._typing.get(interaction_id)
        if typing is None:
            typing = self._typing[interaction_id] = domain.Conversation(
                conversation_id(interaction_id)
            )
        return typing

    def _forget_typing(self, interaction_id: int, side: domain.Side, now: datetime) -> None:
        """A message from `side` hides its indicator (the message says it all); the
        other side learns of it from the `chat.message` itself."""
        typing = self._typing.get(interaction_id)
        if typing is not None:
            typing.set_typing(side, False, now)

    async def _set_typing(
        self, interaction_id: int, side: domain.Side, is_typing: bool, visitor_id: int | None
    ) -> None:
        now = self._runtime.clock.now()
        typing = self._typing_of(interaction_id)
        typing.expire_typing(now)
        if typing.set_typing(side, is_typing, now):
            agent_id, guests = await self.chat_agents(interaction_id)
            await self._publish(
                "chat.typing",
                {
                    "interaction_id": interaction_id,
                    "agent_id": agent_id,
                    "agent_ids": list(guests),
                    "chat_visitor_id": visitor_id,
                    "side": side.value,
                    "is_typing": is_typing,
                },
            )
        if not typing.is_typing(domain.Side.VISITOR, now) and not typing.is_typing(
            domain.Side.AGENT, now
        ):
            self._typing.pop(interaction_id, None)

    async def _mark_read(self, interaction_id: int, side: domain.Side, up_to: int) -> None:
        async with (
            self._lock("interaction", interaction_id),
            self._runtime.database.transaction() as db,
        ):
            interaction, conversation = await self._load_tail(db, interaction_id)
            if not conversation.mark_read(side, up_to):
                return
            key = _VISITOR_READ if side is domain.Side.VISITOR else _AGENT_READ
            interaction.attributes = {**interaction.attributes, key: up_to}
            self._publish_after(
                db,
                "chat.read",
                {
                    "interaction_id": interaction_id,
                    "agent_id": interaction.agent_id,
                    "agent_ids": guests_of(interaction),
                    "side": side.value,
                    "up_to": up_to,
                },
            )
