"""The live visitor list (F-CH-5) and invitations (F-CH-3), for the agents and for the
visitor socket.

The visitor socket (api.py) tells `Visitors` when a page opens, changes or closes; each
change is published as `chat.visitor` with the visitor's row as the list shows it and
`agent_ids`: the logged-in agents who qualify for the widget's queue and the logged-in
supervisors and admins, so the agent websocket forwards it to those desktops only. A
chat of the visitor being queued, answered or ended changes their status too
(`watch_interactions`, run with the application by this router's lifespan).

A visitor's status is `waiting` (their chat waits for an agent), `answered` (an agent
has it) or `browsing` (no chat open); `is_online` is false once their last page closed
(shown as "left" for `LEFT_SHOWN_FOR`), and `last_chat_ended` says their chat of
today was closed.

While a visitor browses, `InvitationWatch` asks `invitations.choose` every second with
the visitor's state and sends the winning scenario's `invitation`, once per page. An
agent's manual invitation goes out as `chat.invitation` on the bus; the visitor's
sockets forward it.

REST (agents of the widget's queue, supervisors, admins):

    GET  /api/chat-visitors?status=waiting|answered|browsing   the list
    GET  /api/chat-visitors/{id}/comments                        agents' comments
    POST /api/chat-visitors/{id}/comments                        {"text": ...}
    POST /api/chat-visitors/{id}/invite                          {"text": ...} (409 within 10 s)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

import structlog
from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat_channel import invitations, protocol, tracking
from parley.chat_channel.service import VisitorInfo, WidgetView
from parley.platform.auth.principal import Principal
from parley.platform.bus import Event
from parley.platform.db import after_commit
from parley.platform.errors import Conflict, Forbidden, NotFound
from parley.platform.models import (
    Channel,
    ChatInvitationScenario,
    ChatVisitor,
    ChatVisitorComment,
    ChatWidget,
    Contact,
    Interaction,
    User,
)
from parley.platform.runtime import Runtime
from parley.platform.web.deps import SUPERVISORS, AnyUser
from parley.platform.web.ratelimit import TokenBucket

log = structlog.get_logger(__name__)

LEFT_SHOWN_FOR = timedelta(minutes=15)
INVITATION_CHECK_SECONDS = 1.0
_CACHE_SECONDS = 10.0
_MAX_LISTED = 500


class VisitorStatus(StrEnum):
    BROWSING = "browsing"
    WAITING = "waiting"
    ANSWERED = "answered"


class PageOut(BaseModel):
    url: str
    title: str
    at: str


class VisitorOut(BaseModel):
    id: int
    widget_id: int
    widget_name: str
    name: str
    status: VisitorStatus
    interaction_id: int | None
    is_online: bool
    left_at: datetime | None
    last_chat_ended: bool
    page_url: str
    page_title: str
    pages: list[PageOut]
    page_views: int
    referrer: str
    city: str
    country: str
    screen: str
    browser: str
    os: str
    language: str
    visit_count: int
    visit_started_at: datetime
    page_started_at: datetime
    invitations_seen: int
    last_invited_at: datetime | None


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=1000, pattern=r"\S")]


class CommentOut(BaseModel):
    id: int
    author_id: int | None
    author_name: str
    text: str
    created_at: datetime


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]


class InvitedTooSoon(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "invited_too_soon",
            "This visitor was invited less than "
            f"{int(invitations.MANUAL_REINVITE_AFTER.total_seconds())} seconds ago.",
        )


class VisitorInChat(Conflict):
    def __init__(self) -> None:
        super().__init__("visitor_in_chat", "This visitor is already chatting.")


def _scenario_of(row: ChatInvitationScenario) -> invitations.Scenario:
    def seconds(value: int | None) -> timedelta | None:
        return None if value is None else timedelta(seconds=value)

    return invitations.Scenario(
        id=row.id,
        message=row.message,
        min_time_on_site=seconds(row.min_time_on_site_seconds),
        min_time_on_page=seconds(row.min_time_on_page_seconds),
        max_invitations_seen=row.max_invitations_seen,
        min_since_last_invitation=seconds(row.min_seconds_since_last_invitation),
        requires_agent_online=row.requires_agent_online,
        is_new_visitor=row.is_new_visitor,
        url_patterns=tuple(row.url_patterns),
        referrer_contains=tuple(row.referrer_contains),
        location_contains=tuple(row.location_contains),
    )


class Visitors:
    """One per process (`visitors(app)`): the GeoIP database, the count of open pages
    per visitor, and short caches of scenarios and supervisors."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._geo: tracking.GeoLookup | None = None
        self._geo_lock = asyncio.Lock()
        self._open_pages: Counter[int] = Counter()
        self._scenarios: dict[int, tuple[float, tuple[invitations.Scenario, ...]]] = {}
        self._supervisors: tuple[float, frozenset[int]] | None = None
        # Coalescing `announce`: the visitors being announced now, and those changed
        # again meanwhile (announced once more when the current one is out).
        self._announcing: set[int] = set()
        self._announce_again: set[int] = set()

    # --- tracking ----------------------------------------------------------------------

    async def geo(self) -> tracking.GeoLookup:
        async with self._geo_lock:
            if self._geo is None:
                self._geo = await tracking.GeoLookup.open(
                    self._runtime.settings.geoip_database_path
                )
            return self._geo

    def close(self) -> None:
        if self._geo is not None:
            self._geo.close()
            self._geo = None

    async def visitor_info(self, user_agent: str, ip: str) -> VisitorInfo:
        software = tracking.describe_user_agent(user_agent)
        location = (await self.geo()).locate(ip)
        return VisitorInfo(
            user_agent=user_agent,
            ip=ip,
            browser=software.browser,
            os=software.os,
            city=location.city,
            country=location.country,
        )

    async def page_opened(self, visitor_id: int) -> None:
        """After `hello` recorded the page: one more open page, and the list hears."""
        self._open_pages[visitor_id] += 1
        await self.announce(visitor_id)

    async def page_viewed(self, visitor_id: int, frame: protocol.PageView) -> None:
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            visitor = await db.get_one(ChatVisitor, visitor_id)
            tracking.record_page_view(visitor, frame.page.url, frame.page.title, now)
            if frame.referrer and not visitor.referrer:
                visitor.referrer = frame.referrer
            visitor.last_seen_at = now
        await self.announce(visitor_id)

    async def page_closed(self, visitor_id: int) -> None:
        """A socket of the visitor closed; when it was their last page, they left."""
        self._open_pages[visitor_id] -= 1
        if self._open_pages[visitor_id] > 0:
            return
        del self._open_pages[visitor_id]
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            visitor = await db.get(ChatVisitor, visitor_id)
            if visitor is None:
                return
            visitor.left_at = now
            visitor.last_seen_at = now
        await self.announce(visitor_id)

    # --- the list ----------------------------------------------------------------------

    async def announce(self, visitor_id: int) -> None:
        """Publish the visitor's row as `chat.visitor` to the desktops that may see it.

        Changes in a burst (a chat queued, offered and answered at once, pages opening
        together) coalesce: while the visitor is being announced, another call only asks
        for one more announcement after it, which reads the row as it is by then."""
        if visitor_id in self._announcing:
            self._announce_again.add(visitor_id)
            return
        self._announcing.add(visitor_id)
        try:
            while True:
                self._announce_again.discard(visitor_id)
                await self._announce(visitor_id)
                if visitor_id not in self._announce_again:
                    return
        finally:
            self._announcing.discard(visitor_id)
            self._announce_again.discard(visitor_id)

    async def _announce(self, visitor_id: int) -> None:
        async with self._runtime.database.transaction() as db:
            visitor = await db.get(ChatVisitor, visitor_id)
            if visitor is None:
                return
            widget = await db.get_one(ChatWidget, visitor.widget_id)
            row = (await self._rows(db, [visitor], {widget.id: widget}))[0]
            watchers = await self._watchers(db, widget.queue_id)
        if not watchers:
            return
        payload = {**row.model_dump(mode="json"), "agent_ids": sorted(watchers)}
        await self._runtime.bus.publish(
            Event.create("chat.visitor", payload, self._runtime.clock.now())
        )

    async def listed(self, me: Principal, status: VisitorStatus | None) -> list[VisitorOut]:
        """The visitors of the widgets `me` may see: online ones, and those who left in
        the last `LEFT_SHOWN_FOR`; the newest page views first."""
        since = self._runtime.clock.now() - LEFT_SHOWN_FOR
        async with self._runtime.database.transaction() as db:
            widgets = {widget.id: widget for widget in await db.scalars(select(ChatWidget))}
            visible = [
                widget_id
                for widget_id, widget in widgets.items()
                if self._may_watch(me, widget.queue_id)
            ]
            if not visible:
                return []
            found = await db.scalars(
                select(ChatVisitor)
                .where(
                    ChatVisitor.widget_id.in_(visible),
                    (ChatVisitor.left_at.is_(None)) | (ChatVisitor.left_at >= since),
                    ChatVisitor.last_seen_at >= since - timedelta(hours=12),
                )
                .order_by(ChatVisitor.page_started_at.desc())
                .limit(_MAX_LISTED)
            )
            rows = await self._rows(db, list(found), widgets)
        return [row for row in rows if status is None or row.status is status]

    async def authorized(self, me: Principal, visitor_id: int) -> ChatVisitor:
        """The visitor, once `me` may see them: 404 for none, 403 for another queue's."""
        async with self._runtime.database.transaction() as db:
            visitor = await db.get(ChatVisitor, visitor_id)
            if visitor is None:
                raise NotFound("Chat visitor", visitor_id)
            widget = await db.get_one(ChatWidget, visitor.widget_id)
            if not self._may_watch(me, widget.queue_id):
                raise Forbidden("This visitor is on a widget of a queue you do not serve.")
            return visitor

    def _may_watch(self, me: Principal, queue_id: int) -> bool:
        if me.role in SUPERVISORS:
            return True
        engine = self._runtime.engine
        return engine is not None and me.user_id in engine.agents_for(queue_id)

    async def _watchers(self, db: AsyncSession, queue_id: int) -> frozenset[int]:
        engine = self._runtime.engine
        if engine is None:
            return frozenset()
        logged_in = frozenset(int(view.agent_id) for view in engine.agents())
        return engine.agents_for(queue_id) | (await self._supervisor_ids(db) & logged_in)

    async def _supervisor_ids(self, db: AsyncSession) -> frozenset[int]:
        cached = self._supervisors
        if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        ids = frozenset(await db.scalars(select(User.id).where(User.role.in_(SUPERVISORS))))
        self._supervisors = (time.monotonic(), ids)
        return ids

    async def _rows(
        self, db: AsyncSession, found: list[ChatVisitor], widgets: dict[int, ChatWidget]
    ) -> list[VisitorOut]:
        now = self._runtime.clock.now()
        start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        contact_ids = [visitor.contact_id for visitor in found if visitor.contact_id is not None]
        chats: dict[int, Interaction] = {}
        names: dict[int, str] = {}
        if contact_ids:
            for interaction in await db.scalars(
                select(Interaction)
                .where(
                    Interaction.contact_id.in_(contact_ids),
                    Interaction.channel == Channel.CHAT,
                    Interaction.created_at >= start_of_day,
                )
                .order_by(Interaction.id)
            ):
                assert interaction.contact_id is not None
                chats[interaction.contact_id] = interaction  # the latest of today wins
            for contact in await db.scalars(select(Contact).where(Contact.id.in_(contact_ids))):
                names[contact.id] = contact.name
        rows = []
        for visitor in found:
            chat = chats.get(visitor.contact_id) if visitor.contact_id is not None else None
            is_open = chat is not None and chat.ended_at is None
            status = VisitorStatus.BROWSING
            if chat is not None and is_open:
                status = VisitorStatus.ANSWERED if chat.agent_id else VisitorStatus.WAITING
            name = (names.get(visitor.contact_id) if visitor.contact_id else "") or str(
                visitor.details.get("name") or ""
            )
            rows.append(
                VisitorOut(
                    id=visitor.id,
                    widget_id=visitor.widget_id,
                    widget_name=widgets[visitor.widget_id].name,
                    name=name,
                    status=status,
                    interaction_id=chat.id if chat is not None and is_open else None,
                    is_online=visitor.left_at is None,
                    left_at=visitor.left_at,
                    last_chat_ended=chat is not None and not is_open,
                    page_url=visitor.page_url,
                    page_title=visitor.page_title,
                    pages=[PageOut(**page) for page in visitor.pages],
                    page_views=visitor.page_views,
                    referrer=visitor.referrer,
                    city=visitor.city,
                    country=visitor.country,
                    screen=visitor.screen,
                    browser=visitor.browser,
                    os=visitor.os,
                    language=visitor.language,
                    visit_count=visitor.visit_count,
                    visit_started_at=visitor.visit_started_at,
                    page_started_at=visitor.page_started_at,
                    invitations_seen=visitor.invitations_seen,
                    last_invited_at=visitor.last_invited_at,
                )
            )
        return rows

    async def watch_interactions(self) -> None:
        """Announce a visitor again when their chat is queued, answered or ended. Runs
        until cancelled; a failure is logged and the watch goes on."""
        async with self._runtime.bus.subscribe("interaction.*") as events:
            async for event in events:
                if event.payload.get("channel") not in (Channel.CHAT.value, None):
                    continue
                interaction_id = event.payload.get("interaction_id")
                if not isinstance(interaction_id, int):
                    continue
                try:
                    async with self._runtime.database.transaction() as db:
                        interaction = await db.get(Interaction, interaction_id)
                        visitor_id = (
                            interaction.attributes.get("chat_visitor_id")
                            if interaction is not None and interaction.channel is Channel.CHAT
                            else None
                        )
                    if isinstance(visitor_id, int):
                        await self.announce(visitor_id)
                except Exception:
                    log.exception("chat_visitors.announce_failed", interaction_id=interaction_id)

    # --- comments ----------------------------------------------------------------------

    async def comments(self, visitor_id: int) -> list[CommentOut]:
        async with self._runtime.database.transaction() as db:
            found = await db.execute(
                select(ChatVisitorComment, User.display_name)
                .outerjoin(User, User.id == ChatVisitorComment.author_id)
                .where(ChatVisitorComment.visitor_id == visitor_id)
                .order_by(ChatVisitorComment.id)
            )
            return [
                CommentOut(
                    id=comment.id,
                    author_id=comment.author_id,
                    author_name=name or "",
                    text=comment.text,
                    created_at=comment.created_at,
                )
                for comment, name in found
            ]

    async def add_comment(self, me: Principal, visitor_id: int, text: str) -> CommentOut:
        async with self._runtime.database.transaction() as db:
            comment = ChatVisitorComment(
                visitor_id=visitor_id,
                author_id=me.user_id,
                text=text,
                created_at=self._runtime.clock.now(),
            )
            db.add(comment)
            await db.flush()
            return CommentOut(
                id=comment.id,
                author_id=me.user_id,
                author_name=me.display_name,
                text=text,
                created_at=comment.created_at,
            )

    # --- invitations -------------------------------------------------------------------

    async def invite(self, me: Principal, visitor_id: int, text: str) -> None:
        """An agent's invitation: refused while the visitor chats or within 10 s of the
        last invitation; else counted and sent to the visitor's open pages."""
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            visitor = await db.get_one(ChatVisitor, visitor_id)
            if not invitations.may_invite_manually(visitor.last_invited_at, now):
                raise InvitedTooSoon()
            if (await self._rows(db, [visitor], await self._widgets(db, visitor)))[
                0
            ].status is not VisitorStatus.BROWSING:
                raise VisitorInChat()
            self._count_invitation(visitor, now)
            payload = {
                "chat_visitor_id": visitor_id,
                "text": text,
                "agent_name": me.display_name[:100] or None,
                "agent_id": None,
            }
            event = Event.create("chat.invitation", payload, now)
            bus = self._runtime.bus

            async def publish() -> None:
                await bus.publish(event)

            after_commit(db, publish)
        log.info("chat.invited", chat_visitor_id=visitor_id, agent_id=me.user_id)
        await self.announce(visitor_id)

    async def _widgets(self, db: AsyncSession, visitor: ChatVisitor) -> dict[int, ChatWidget]:
        return {visitor.widget_id: await db.get_one(ChatWidget, visitor.widget_id)}

    @staticmethod
    def _count_invitation(visitor: ChatVisitor, now: datetime) -> None:
        visitor.invitations_seen += 1
        visitor.last_invited_at = now

    async def scenarios(self, widget_id: int) -> tuple[invitations.Scenario, ...]:
        cached = self._scenarios.get(widget_id)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        async with self._runtime.database.transaction() as db:
            rows = await db.scalars(
                select(ChatInvitationScenario).where(
                    ChatInvitationScenario.widget_id == widget_id,
                    ChatInvitationScenario.is_active.is_(True),
                )
            )
            found = tuple(_scenario_of(row) for row in rows)
        self._scenarios[widget_id] = (time.monotonic(), found)
        return found

    async def facts(self, visitor_id: int) -> VisitorFacts:
        async with self._runtime.database.transaction() as db:
            visitor = await db.get_one(ChatVisitor, visitor_id)
            return VisitorFacts(
                visit_started_at=visitor.visit_started_at,
                page_started_at=visitor.page_started_at,
                invitations_seen=visitor.invitations_seen,
                last_invited_at=visitor.last_invited_at,
                is_new_visitor=visitor.visit_count <= 1,
                page_url=visitor.page_url,
                referrer=visitor.referrer,
                location=tracking.Location(visitor.city, visitor.country).text,
            )

    def state_of(self, widget: WidgetView, facts: VisitorFacts) -> invitations.VisitorState:
        """The visitor as the scenarios see them now: the times run on from `facts`."""
        now = self._runtime.clock.now()
        engine = self._runtime.engine
        return invitations.VisitorState(
            time_on_site=now - facts.visit_started_at,
            time_on_page=now - facts.page_started_at,
            invitations_seen=facts.invitations_seen,
            since_last_invitation=(
                None if facts.last_invited_at is None else now - facts.last_invited_at
            ),
            # Without the engine in this process nobody can tell: not online, no guess.
            is_agent_online=engine is not None and engine.has_agents_for(widget.queue_id),
            is_new_visitor=facts.is_new_visitor,
            page_url=facts.page_url,
            referrer=facts.referrer,
            location=facts.location,
        )

    async def invite_by_scenario(
        self, widget: WidgetView, visitor_id: int, facts: VisitorFacts
    ) -> invitations.Scenario | None:
        """The scenario that invites the visitor now, counted as seen; None for none."""
        scenarios = await self.scenarios(widget.id)
        if not scenarios:
            return None
        chosen = invitations.choose(scenarios, self.state_of(widget, facts))
        if chosen is None:
            return None
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            visitor = await db.get_one(ChatVisitor, visitor_id)
            self._count_invitation(visitor, now)
        log.info("chat.invited", chat_visitor_id=visitor_id, scenario_id=chosen.id)
        await self.announce(visitor_id)
        return chosen


@dataclass(frozen=True, slots=True)
class VisitorFacts:
    """What the scenarios read of a visitor's row, loaded once per page (and after each
    invitation), so the check every second reads no database."""

    visit_started_at: datetime
    page_started_at: datetime
    invitations_seen: int
    last_invited_at: datetime | None
    is_new_visitor: bool
    page_url: str
    referrer: str
    location: str


class InvitationWatch:
    """One per visitor socket: while the visitor browses (no conversation), checks every
    second for a scenario and sends its invitation, once per page; none after "No,
    thanks" on that page."""

    def __init__(
        self,
        visitors: Visitors,
        widget: WidgetView,
        visitor_id: int,
        is_chatting: Callable[[], bool],
        send: Callable[[protocol.Invitation], Awaitable[None]],
    ) -> None:
        self._visitors = visitors
        self._widget = widget
        self._visitor_id = visitor_id
        self._is_chatting = is_chatting
        self._send = send
        self._is_done_for_page = False
        self._facts: VisitorFacts | None = None

    def page_changed(self) -> None:
        self._is_done_for_page = False
        self._facts = None

    def invited(self) -> None:
        """An agent invited the visitor: their count and last time changed."""
        self._facts = None

    def declined(self) -> None:
        self._is_done_for_page = True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(INVITATION_CHECK_SECONDS)
            if self._is_done_for_page or self._is_chatting():
                continue
            try:
                if self._facts is None:
                    self._facts = await self._visitors.facts(self._visitor_id)
                chosen = await self._visitors.invite_by_scenario(
                    self._widget, self._visitor_id, self._facts
                )
            except Exception:
                log.exception("chat.invitation_failed", chat_visitor_id=self._visitor_id)
                continue
            if chosen is not None:
                self._is_done_for_page = True
                self._facts = None
                await self._send(protocol.Invitation(text=chosen.message))


def page_view_bucket(runtime: Runtime) -> TokenBucket:
    """The per-socket limit of `page_view` frames, on the runtime's clock."""
    limit = tracking.PAGE_VIEW_LIMIT
    return TokenBucket(
        limit.per_second, limit.burst, monotonic=lambda: runtime.clock.now().timestamp()
    )


def visitors(app: FastAPI) -> Visitors:
    """The process's visitor tracking (its counts of open pages must be shared)."""
    found: Visitors | None = getattr(app.state, "chat_visitors", None)
    if found is None:
        found = app.state.chat_visitors = Visitors(app.state.runtime)
    return found


@contextlib.asynccontextmanager
async def _interaction_watch(app: FastAPI) -> AsyncIterator[None]:
    """With the application: the GeoIP database opened at start (one that cannot be
    read stops the start, rather than leave every visitor blank), and the watch."""
    tracked = visitors(app)
    await tracked.geo()
    watching = asyncio.create_task(tracked.watch_interactions())
    try:
        yield
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        tracked.close()


router = APIRouter(lifespan=_interaction_watch, tags=["chat visitors"])


@router.get("/api/chat-visitors")
async def list_visitors(
    request: Request,
    me: AnyUser,
    status: Annotated[VisitorStatus | None, Query(description="Only this status.")] = None,
) -> list[VisitorOut]:
    """The visitors on the widgets of the queues the caller serves (all for supervisors)."""
    return await visitors(request.app).listed(me, status)


@router.get("/api/chat-visitors/{visitor_id}/comments")
async def list_comments(visitor_id: int, request: Request, me: AnyUser) -> list[CommentOut]:
    service = visitors(request.app)
    await service.authorized(me, visitor_id)
    return await service.comments(visitor_id)


@router.post("/api/chat-visitors/{visitor_id}/comments", status_code=201)
async def add_comment(
    visitor_id: int, body: CommentIn, request: Request, me: AnyUser
) -> CommentOut:
    service = visitors(request.app)
    await service.authorized(me, visitor_id)
    return await service.add_comment(me, visitor_id, body.text.strip())


@router.post("/api/chat-visitors/{visitor_id}/invite", status_code=204)
async def invite_visitor(visitor_id: int, body: InviteIn, request: Request, me: AnyUser) -> None:
    """Invite a browsing visitor to chat (409 `invited_too_soon` within 10 s of their
    last invitation, 409 `visitor_in_chat` while they chat)."""
    service = visitors(request.app)
    await service.authorized(me, visitor_id)
    await service.invite(me, visitor_id, body.text.strip())
