"""The agents' calendar (F-CS-5): follow-ups an agent plans for themselves, each due at a
moment, with a reminder some minutes before, optionally about a contact, a case or an
interaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.platform.db.base import Base, TimestampMixin


class FollowUp(TimestampMixin, Base):
    """Something one user means to do at `due_at`; done once `done_at` is set.

    It belongs to its owner alone and goes with them. The contact, case or interaction
    it is about may be deleted without it: the link is cleared, the reminder kept.
    """

    __tablename__ = "follow_ups"
    __table_args__ = (
        CheckConstraint("remind_minutes_before >= 0", name="remind_non_negative"),
        # The calendar's one query: an owner's follow-ups due within a window.
        Index("ix_follow_ups_owner_due", "owner_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime]
    remind_minutes_before: Mapped[int] = mapped_column(default=10)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None, index=True
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), default=None, index=True
    )
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), default=None, index=True
    )
    done_at: Mapped[datetime | None] = mapped_column(default=None)
