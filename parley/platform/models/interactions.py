"""Work itself: interactions (one contact on one channel), their messages, the offers
made to agents, and the log of agent state intervals that reports are built from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.platform.db.base import Base, str_enum, utcnow


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    CALLBACK = "callback"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class InteractionState(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    WRAP_UP = "wrap_up"
    ENDED = "ended"
    ABANDONED = "abandoned"


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_state_queue", "state", "queue_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction))
    state: Mapped[InteractionState] = mapped_column(
        str_enum(InteractionState), default=InteractionState.QUEUED
    )
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL"), default=None
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None, index=True
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), default=None, index=True
    )
    priority: Mapped[int] = mapped_column(default=0)
    external_ref: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    disposition_id: Mapped[int | None] = mapped_column(
        ForeignKey("dispositions.id", ondelete="SET NULL"), default=None
    )
    wrap_up_notes: Mapped[str] = mapped_column(Text, default="")
    # F-RT-6: the agent who pinned it keeps it in their personal queue.
    pinned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )


class MessageKind(StrEnum):
    CHAT = "chat"
    EMAIL = "email"
    NOTE = "note"


class Message(Base):
    """A chat line, an email or an internal note, on an interaction and its case.

    `external_id` (an email's Message-ID, a chat frame's idempotency key) is unique, so
    ingesting the same message twice stores it once.

    Chat messages are numbered within their interaction (`seq`: 1, 2, 3… with no gaps)
    and a visitor's carries the widget's `client_msg_id`; both are unique per interaction,
    so a resend or a concurrent writer cannot store a message twice or reuse a seq.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("interaction_id", "seq", name="uq_messages_interaction_seq"),
        UniqueConstraint(
            "interaction_id", "client_msg_id", name="uq_messages_interaction_client_msg"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction))
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), default=None, index=True
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), default=None, index=True
    )
    author_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    author_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    external_id: Mapped[str | None] = mapped_column(String(500), unique=True, default=None)
    subject: Mapped[str] = mapped_column(String(998), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seq: Mapped[int | None] = mapped_column(default=None)
    client_msg_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OfferOutcome(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Offer(Base):
    """A reservation of an interaction for one agent, with an expiry and an outcome.

    `ref` is the router's offer id: a ring-all offer rings several agents, one row each,
    all with the same `ref`.
    """

    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_outcome_expires", "outcome", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(36), index=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    outcome: Mapped[OfferOutcome] = mapped_column(
        str_enum(OfferOutcome), default=OfferOutcome.PENDING
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class AgentStateLog(Base):
    """One interval of one agent in one state; `ended_at` is empty while it lasts."""

    __tablename__ = "agent_state_log"
    __table_args__ = (Index("ix_agent_state_log_agent_started", "agent_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40), default=None)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
