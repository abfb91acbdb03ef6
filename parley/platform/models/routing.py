"""Routing configuration: queues and their skills, schedules, reason codes,
dispositions and quick replies."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parley.platform.db.base import Base, TimestampMixin, str_enum


class RoutingStrategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    BEST_SKILL = "best_skill"
    ROUND_ROBIN = "round_robin"
    RING_ALL = "ring_all"


class PickMode(StrEnum):
    """How a queue's work reaches agents: offered by the router (`auto`), or left in a
    group queue its agents take items from themselves (`manual`, F-RT-6)."""

    AUTO = "auto"
    MANUAL = "manual"


class Schedule(TimestampMixin, Base):
    """Business hours per weekday and holidays, in one time zone.

    `hours` maps "mon".."sun" to a list of ["HH:MM", "HH:MM"] intervals; `holidays` is a
    list of {"date": "YYYY-MM-DD", "name": str}.
    """

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holidays: Mapped[list[Any]] = mapped_column(default=list)


class Queue(TimestampMixin, Base):
    __tablename__ = "queues"
    __table_args__ = (
        CheckConstraint("offer_timeout_seconds > 0", name="offer_timeout_positive"),
        CheckConstraint("wrap_up_seconds >= 0", name="wrap_up_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    channels: Mapped[list[str]] = mapped_column(default=list)
    priority: Mapped[int] = mapped_column(default=0)
    strategy: Mapped[RoutingStrategy] = mapped_column(
        str_enum(RoutingStrategy), default=RoutingStrategy.LONGEST_IDLE
    )
    pick_mode: Mapped[PickMode] = mapped_column(str_enum(PickMode), default=PickMode.AUTO)
    offer_timeout_seconds: Mapped[int] = mapped_column(default=30)
    wrap_up_seconds: Mapped[int] = mapped_column(default=30)
    sla_threshold_seconds: Mapped[int] = mapped_column(default=20)
    max_wait_seconds: Mapped[int | None] = mapped_column(default=None)
    max_size: Mapped[int | None] = mapped_column(default=None)
    overflow_after_seconds: Mapped[int | None] = mapped_column(default=None)
    overflow_relax_levels: Mapped[int] = mapped_column(default=0)
    overflow_queue_ids: Mapped[list[Any]] = mapped_column(default=list)
    allows_blending: Mapped[bool] = mapped_column(default=False)
    disposition_required: Mapped[bool] = mapped_column(default=False)
    # Record every call of the queue from the moment it is answered (F-VO-5).
    records_calls: Mapped[bool] = mapped_column(default=False)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None
    )
    after_hours_action: Mapped[str] = mapped_column(String(30), default="message")
    after_hours_target: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(default=True)

    skills: Mapped[list[QueueSkill]] = relationship(
        back_populates="queue", cascade="all, delete-orphan", lazy="raise"
    )


class QueueSkill(Base):
    """A skill a queue requires, with the minimum level an agent needs."""

    __tablename__ = "queue_skills"
    __table_args__ = (CheckConstraint("min_level BETWEEN 1 AND 10", name="min_level_range"),)

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    min_level: Mapped[int] = mapped_column(default=1)

    queue: Mapped[Queue] = relationship(back_populates="skills", lazy="raise")


class ReasonCode(TimestampMixin, Base):
    """A not-ready reason (lunch, break, training…), productive or not."""

    __tablename__ = "reason_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    is_productive: Mapped[bool] = mapped_column(default=False)
    max_duration_seconds: Mapped[int | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(default=True)


class Disposition(TimestampMixin, Base):
    """A result code of an interaction, global (no queue) or for one queue."""

    __tablename__ = "dispositions"
    __table_args__ = (UniqueConstraint("code", "queue_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), default=None, index=True
    )
    is_success: Mapped[bool] = mapped_column(default=False)
    requires_note: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)


class QuickReply(TimestampMixin, Base):
    """A canned answer: shared (no owner) or personal to one user."""

    __tablename__ = "quick_replies"
    __table_args__ = (UniqueConstraint("owner_id", "shortcut"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    shortcut: Mapped[str | None] = mapped_column(String(40), default=None)
    body: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(100), default="")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
