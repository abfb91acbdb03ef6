"""The agent's chat tools (F-CH-6, F-CH-8), orchestrated on top of `ChatService`:

- transfer to a queue or an agent: through the engine's router (`Engine.transfer`), so
  the chat is queued and offered again; it stays the same interaction, so its history
  goes with it, and the visitor reads a notice in the conversation;
- invite another agent (a conference): the guest is named in the interaction's
  attributes (`chat_participants`), gets the chat's events and may read and write;
- take-over by a supervisor (`Engine.take_over`): the chat moves into their hands;
- end and ban: the chat closes with a reason the widget is told in its `closed` frame
  (`chat.closed`, published before the engine ends the interaction); a ban keeps the
  visitor's key and address from starting chats until it runs out or is lifted;
- inactivity: an assigned chat whose visitor wrote nothing for the widget's
  `inactivity_close_minutes` is closed with a notice. The deadline is the visitor's last
  message (or the answer) plus those minutes, read from stored rows, so a restart loses
  no timer: `watch_inactivity` sweeps on a short period and closes what is due;
- a case from the chat (a new or an existing case of the contact) and the transcript by
  email (`Runtime.mailer`, from the queue's mailbox; the text from a Jinja2 template);
- CSAT: the visitor's rating (1-5) and comment after the end, one per chat.
"""

from __future__ import annotations

import asyncio
import gettext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat_channel import domain
from parley.chat_channel.service import GUESTS, ChatService, Transcript, guests_of
from parley.platform.auth.principal import Principal
from parley.platform.bus import Event
from parley.platform.cases.service import CaseContext, create_case
from parley.platform.errors import Conflict, DomainError, Forbidden, NotFound
from parley.platform.i18n import supported_language, translations
from parley.platform.models import (
    Case,
    Channel,
    ChatBan,
    ChatRating,
    ChatVisitor,
    ChatWidget,
    Direction,
    Interaction,
    InteractionState,
    Message,
    Queue,
    User,
)
from parley.platform.runtime import Runtime
from parley.platform.web.deps import SUPERVISORS

log = structlog.get_logger(__name__)

INACTIVITY_SWEEP_SECONDS = 5.0
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,  # noqa: S701 plain-text mail: the visitor's words go out as written
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class AgentTarget:
    id: int
    name: str
    state: str
    free_chats: int


@dataclass(frozen=True, slots=True)
class QueueTarget:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Targets:
    """Where a chat may go: agents logged in with room for a chat, and chat queues."""

    agents: tuple[AgentTarget, ...]
    queues: tuple[QueueTarget, ...]


class ChatTools:
    def __init__(self, runtime: Runtime, chats: ChatService) -> None:
        self._runtime = runtime
        self._chats = chats

    # --- who may act -------------------------------------------------------------------

    async def check_access(self, interaction_id: int, me: Principal) -> None:
        """The holder, an invited guest or a supervisor may act on a chat (else 403)."""
        holder, guests = await self._chats.chat_agents(interaction_id)
        if me.user_id != holder and me.user_id not in guests and me.role not in SUPERVISORS:
            raise Forbidden("This chat belongs to another agent.")

    async def require_holder(self, interaction_id: int, me: Principal) -> Interaction:
        """The chat, in progress, when the caller has it or supervises."""
        async with self._runtime.database.transaction() as db:
            interaction = await self._chat(db, interaction_id)
            if interaction.agent_id != me.user_id and me.role not in SUPERVISORS:
                raise Forbidden("Only the agent who has the chat may do this.")
            if interaction.state is not InteractionState.ACTIVE:
                raise Conflict("not_active", f"Chat {interaction_id} is not in progress.")
            return interaction

    @staticmethod
    async def _chat(db: AsyncSession, interaction_id: int) -> Interaction:
        interaction = await db.get(Interaction, interaction_id)
        if interaction is None or interaction.channel is not Channel.CHAT:
            raise NotFound("Chat", interaction_id)
        return interaction

    # --- transfer, conference, take-over ---------------------------------------------

    async def targets(self) -> Targets:
        engine = self._runtime.require_engine()
        async with self._runtime.database.transaction() as db:
            names = dict(
                (await db.execute(select(User.id, User.display_name).where(User.is_active))).all()
            )
            queues = (
                await db.execute(select(Queue.id, Queue.name, Queue.channels).order_by(Queue.name))
            ).all()
        agents = []
        for view in engine.agents():
            capacity = engine.capacity(int(view.agent_id), Channel.CHAT.value)
            in_hand = sum(1 for i in view.interactions if i.channel == Channel.CHAT.value)
            if view.state.value == "offline" or in_hand >= capacity:
                continue
            agent_id = int(view.agent_id)
            name = names.get(agent_id) or str(agent_id)
            agents.append(AgentTarget(agent_id, name, view.state.value, capacity - in_hand))
        return Targets(
            tuple(sorted(agents, key=lambda agent: agent.name)),
            tuple(
                QueueTarget(queue_id, name)
                for queue_id, name, channels in queues
                if Channel.CHAT.value in channels
            ),
        )

    async def transfer(
        self, interaction_id: int, me: Principal, *, queue_id: int | None, agent_id: int | None
    ) -> None:
        """Hand the chat on to a queue, or to an agent (in its queue, or `queue_id`)."""
        interaction = await self.require_holder(interaction_id, me)
        target_queue = queue_id or interaction.queue_id
        if target_queue is None:
            raise DomainError("queue_required", "Give the queue to transfer the chat to.")
        language = await self._visitor_language(interaction)
        _ = translations(language).gettext
        await self._chats.post_system_message(
            interaction_id, _("You are being transferred to another operator. Please wait.")
        )
        await self._runtime.require_engine().transfer(interaction_id, target_queue, agent_id)
        await self._drop_guests(interaction_id)  # the conference was the first agent's
        log.info(
            "chat.transferred", interaction_id=interaction_id, queue_id=target_queue, to=agent_id
        )

    async def invite(self, interaction_id: int, me: Principal, agent_id: int) -> None:
        """Bring another agent into the chat beside the one who has it."""
        interaction = await self.require_holder(interaction_id, me)
        if agent_id == interaction.agent_id:
            raise Conflict("same_agent", "This agent has the chat already.")
        async with self._runtime.database.transaction() as db:
            guest = await db.get(User, agent_id)
            if guest is None or not guest.is_active:
                raise NotFound("User", agent_id)
            row = await self._chat(db, interaction_id)
            guests = guests_of(row)
            if agent_id in guests:
                return
            row.attributes = {**row.attributes, GUESTS: [*guests, agent_id]}
            agent_ids = [*guests, agent_id]
            holder = row.agent_id
        await self._publish(
            "chat.invited",
            {
                "interaction_id": interaction_id,
                "agent_id": holder,
                "agent_ids": agent_ids,
                "guest_id": agent_id,
                "invited_by": me.user_id,
            },
        )

    async def leave(self, interaction_id: int, me: Principal) -> None:
        """An invited guest leaves the conference (the chat goes on)."""
        _holder, guests = await self._chats.chat_agents(interaction_id)
        if me.user_id not in guests:
            raise Conflict("not_a_guest", "You were not invited into this chat.")
        await self._drop_guests(interaction_id, only=me.user_id)

    async def take_over(self, interaction_id: int, me: Principal) -> None:
        """A supervisor takes the chat from the agent who has it (F-CH-6)."""
        if me.role not in SUPERVISORS:
            raise Forbidden("Only a supervisor may take over a chat.")
        await self._runtime.require_engine().take_over(interaction_id, me.user_id)
        await self._drop_guests(interaction_id, only=me.user_id)  # a guest no more
        log.info("chat.taken_over", interaction_id=interaction_id, supervisor_id=me.user_id)

    # --- closing -----------------------------------------------------------------------

    async def close(self, interaction_id: int, reason: domain.CloseReason) -> None:
        """End the chat: the widget learns why (`chat.closed`), then the engine ends it
        (an agent's chat goes to wrap-up; a waiting one is cancelled)."""
        async with self._runtime.database.transaction() as db:
            row = await self._chat(db, interaction_id)
            if row.ended_at is not None:
                return
            state, holder, guests = row.state, row.agent_id, guests_of(row)
        await self._publish(
            "chat.closed",
            {
                "interaction_id": interaction_id,
                "agent_id": holder,
                "agent_ids": guests,
                "reason": reason.value,
            },
        )
        engine = self._runtime.require_engine()
        if state is InteractionState.ACTIVE:
            await engine.complete(interaction_id)
        else:
            await engine.cancel(interaction_id, reason.value)

    async def ban(
        self, interaction_id: int, me: Principal, minutes: int, reason: str = ""
    ) -> ChatBan:
        """Ban the chat's visitor (by key and address) for `minutes` and close the chat."""
        await self.check_access(interaction_id, me)
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            row = await self._chat(db, interaction_id)
            visitor = await db.get(ChatVisitor, row.attributes.get("chat_visitor_id") or 0)
            if visitor is None:
                raise NotFound("Chat visitor of chat", interaction_id)
            ban = ChatBan(
                widget_id=visitor.widget_id,
                visitor_key=visitor.visitor_key,
                ip=visitor.ip,
                interaction_id=interaction_id,
                reason=reason,
                banned_by_id=me.user_id,
                created_at=now,
                until=now + timedelta(minutes=minutes),
            )
            db.add(ban)
            await db.flush()
        log.info("chat.visitor_banned", interaction_id=interaction_id, ban_id=ban.id)
        await self.close(interaction_id, domain.CloseReason.BANNED)
        return ban

    async def bans(self, *, active_only: bool) -> list[ChatBan]:
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            statement = select(ChatBan).order_by(ChatBan.id.desc())
            if active_only:
                statement = statement.where(ChatBan.lifted_at.is_(None), ChatBan.until > now)
            return list(await db.scalars(statement))

    async def lift_ban(self, ban_id: int, me: Principal) -> ChatBan:
        async with self._runtime.database.transaction() as db:
            ban = await db.get(ChatBan, ban_id)
            if ban is None:
                raise NotFound("Ban", ban_id)
            if ban.lifted_at is None:
                ban.lifted_at = self._runtime.clock.now()
                ban.lifted_by_id = me.user_id
            return ban

    # --- inactivity --------------------------------------------------------------------

    async def close_inactive(self) -> list[int]:
        """Close every assigned chat whose visitor has been silent past their widget's
        `inactivity_close_minutes`; the ids closed."""
        now = self._runtime.clock.now()
        live_chats = select(Interaction.id).where(
            Interaction.channel == Channel.CHAT, Interaction.state == InteractionState.ACTIVE
        )
        last_visitor_message = (
            select(Message.interaction_id, func.max(Message.created_at).label("at"))
            .where(
                Message.interaction_id.in_(live_chats),
                Message.direction == Direction.INBOUND,
                Message.seq.is_not(None),
            )
            .group_by(Message.interaction_id)
            .subquery()
        )
        async with self._runtime.database.transaction() as db:
            minutes_of: dict[int, int] = dict(
                (
                    await db.execute(
                        select(ChatWidget.id, ChatWidget.inactivity_close_minutes).where(
                            ChatWidget.inactivity_close_minutes > 0
                        )
                    )
                ).all()
            )
            if not minutes_of:  # no widget closes idle chats: nothing to look at
                return []
            rows = (
                await db.execute(
                    select(Interaction, last_visitor_message.c.at)
                    .outerjoin(
                        last_visitor_message,
                        last_visitor_message.c.interaction_id == Interaction.id,
                    )
                    .where(Interaction.id.in_(live_chats))
                )
            ).all()
        due = []
        for interaction, last_message_at in rows:
            minutes = minutes_of.get(interaction.attributes.get("chat_widget_id") or 0, 0)
            deadline = domain.inactivity_deadline(
                last_message_at, interaction.answered_at, interaction.created_at, minutes
            )
            if deadline is not None and now >= deadline:
                due.append((interaction, minutes))
        closed = []
        for interaction, minutes in due:
            language = await self._visitor_language(interaction)
            ngettext = translations(language).ngettext
            notice = ngettext(
                "The chat was closed after %(minutes)d minute without a message.",
                "The chat was closed after %(minutes)d minutes without a message.",
                minutes,
            ) % {"minutes": minutes}
            try:
                await self._chats.post_system_message(interaction.id, notice)
                await self.close(interaction.id, domain.CloseReason.INACTIVITY)
            except DomainError as exc:  # ended meanwhile (the agent, the visitor)
                log.info(
                    "chat.inactivity_close_skipped", interaction_id=interaction.id, code=exc.code
                )
                continue
            closed.append(interaction.id)
            log.info("chat.closed_for_inactivity", interaction_id=interaction.id, minutes=minutes)
        return closed

    async def watch_inactivity(self, period: float = INACTIVITY_SWEEP_SECONDS) -> None:
        """Sweep for inactive chats until cancelled (only where the engine runs)."""
        while True:
            await asyncio.sleep(period)
            if self._runtime.engine is None:
                continue
            try:
                await self.close_inactive()
            except Exception:
                log.exception("chat.inactivity_sweep_failed")

    # --- case, transcript, rating -------------------------------------------------------

    async def open_case(
        self, interaction_id: int, me: Principal, *, case_id: int | None, subject: str | None
    ) -> int:
        """Attach the chat (and its messages) to a case of its contact: `case_id`, or a
        new one with `subject`. The case's id."""
        await self.check_access(interaction_id, me)
        now = self._runtime.clock.now()
        async with self._runtime.database.transaction() as db:
            row = await self._chat(db, interaction_id)
            if case_id is not None:
                case = await db.get(Case, case_id)
                if case is None:
                    raise NotFound("Case", case_id)
                if row.contact_id is not None and case.contact_id not in (None, row.contact_id):
                    raise Conflict("other_contact", "That case belongs to another contact.")
            else:
                if not subject or not subject.strip():
                    raise DomainError("subject_required", "Give the new case a subject.")
                ctx = CaseContext(db=db, actor=me, bus=self._runtime.bus, now=now)
                case = await create_case(
                    ctx,
                    {
                        "subject": subject.strip(),
                        "queue_id": row.queue_id,
                        "contact_id": row.contact_id,
                        "custom_fields": {"chat_interaction_id": interaction_id},
                    },
                )
            row.case_id = case.id
            messages = await db.scalars(
                select(Message).where(Message.interaction_id == interaction_id)
            )
            for message in messages:
                message.case_id = case.id
            return case.id

    async def send_transcript(self, interaction_id: int, me: Principal, to: str | None) -> int:
        """Mail the conversation to the visitor (`to`, else their pre-chat email) from
        the queue's mailbox; the stored mail's id. 409 when no mailbox can send."""
        await self.check_access(interaction_id, me)
        transcript = await self._chats.transcript(interaction_id)
        mailer = self._runtime.mailer
        async with self._runtime.database.transaction() as db:
            row = await self._chat(db, interaction_id)
            visitor = await db.get(ChatVisitor, row.attributes.get("chat_visitor_id") or 0)
            address = to or (visitor.details.get("email") if visitor else None)
            if not address:
                raise DomainError("email_required", "Give the visitor's email address.")
            language = supported_language(visitor.language if visitor else None) or (
                self._runtime.settings.default_language
            )
            text, subject = _render_transcript(translations(language), transcript)
            mail_id = None
            if mailer is not None and row.queue_id is not None:
                mail_id = await mailer.add_notification(db, row.queue_id, address, subject, text)
            if mail_id is None:
                raise Conflict("no_mailbox", "The chat's queue has no mailbox that sends.")
        assert mailer is not None
        await mailer.deliver(mail_id)
        log.info("chat.transcript_sent", interaction_id=interaction_id, mail_id=mail_id)
        return mail_id

    async def rate(self, visitor_id: int, interaction_id: int, rating: int, comment: str) -> None:
        """The visitor's CSAT for their chat that has ended (a second answer replaces it)."""
        async with self._runtime.database.transaction() as db:
            row = await self._chat(db, interaction_id)
            if row.attributes.get("chat_visitor_id") != visitor_id:
                raise NotFound("Chat", interaction_id)
            if row.ended_at is None:
                raise Conflict("chat_open", "A chat is rated once it has ended.")
            stored = await db.get(ChatRating, interaction_id)
            if stored is None:
                stored = ChatRating(interaction_id=interaction_id, rating=rating)
                db.add(stored)
            stored.rating = rating
            stored.comment = comment.strip()
            stored.queue_id = row.queue_id
            stored.agent_id = row.agent_id
            stored.created_at = self._runtime.clock.now()
            agent_id = row.agent_id
        await self._publish(
            "chat.rated",
            {"interaction_id": interaction_id, "agent_id": agent_id, "rating": rating},
        )

    # --- internals ---------------------------------------------------------------------

    async def _drop_guests(self, interaction_id: int, only: int | None = None) -> None:
        """Take the guests (or the one guest `only`) out of the chat; their desktops hear
        it from `chat.invited` with `left`."""
        async with self._runtime.database.transaction() as db:
            row = await self._chat(db, interaction_id)
            guests = guests_of(row)
            gone = [g for g in guests if only is None or g == only]
            if not gone:
                return
            row.attributes = {**row.attributes, GUESTS: [g for g in guests if g not in gone]}
            holder = row.agent_id
        for guest in gone:
            await self._publish(
                "chat.invited",
                {
                    "interaction_id": interaction_id,
                    "agent_id": holder,
                    "agent_ids": [guest],
                    "guest_id": guest,
                    "left": True,
                },
            )

    async def _visitor_language(self, interaction: Interaction) -> str:
        async with self._runtime.database.transaction() as db:
            visitor = await db.get(ChatVisitor, interaction.attributes.get("chat_visitor_id") or 0)
        found = supported_language(visitor.language if visitor else None)
        return found or self._runtime.settings.default_language

    async def _publish(self, type_: str, payload: dict[str, object]) -> None:
        await self._runtime.bus.publish(Event.create(type_, payload, self._runtime.clock.now()))


def _render_transcript(
    translations_: gettext.NullTranslations, transcript: Transcript
) -> tuple[str, str]:
    _ = translations_.gettext
    names = {
        domain.AuthorKind.VISITOR: _("You"),
        domain.AuthorKind.AGENT: _("Operator"),
        domain.AuthorKind.SYSTEM: _("Notice"),
    }
    lines = [
        (
            message.sent_at.strftime("%Y-%m-%d %H:%M"),
            message.author.name
            if message.author.kind is domain.AuthorKind.AGENT and message.author.name
            else names[message.author.kind],
            message.text,
        )
        for message in transcript.messages
    ]
    subject = _("Your chat with us")
    text = _templates.get_template("transcript.txt.j2").render(
        intro=_("Here is the transcript of your chat with us."),
        outro=_("Thank you for contacting us."),
        lines=lines,
    )
    return text, subject
