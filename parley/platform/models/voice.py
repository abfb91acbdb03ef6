"""Voice: the numbers callers dial, the IVR menus they hear, the callers Parley refuses,
and the calls back agents promise."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from parley.platform.db.base import Base, TimestampMixin, str_enum, utcnow


class VoiceNumber(TimestampMixin, Base):
    """A number callers dial (a DID, or an extension of a trunk) and the queue its calls
    wait in (F-VO-1). The number is matched exactly as the trunk sends it, after
    normalising to E.164 where it parses as a phone number."""

    __tablename__ = "voice_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="RESTRICT"), index=True)
    # When set, callers hear this menu first; the queue is where a menu without a choice
    # (or a number without a menu) sends them.
    ivr_menu_id: Mapped[int | None] = mapped_column(
        ForeignKey("ivr_menus.id", ondelete="SET NULL"), default=None, index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True)


class IvrMenu(TimestampMixin, Base):
    """A voice menu (F-VO-1): a prompt, then the caller presses a key.

    `options` is a list of `{"digit", "label", "action", "target_id"}`: `action` is
    "queue" (target: a queue), "menu" (target: another menu) or "hangup". With no key
    within `timeout_seconds` the prompt plays again, up to `attempts` times, and then
    the caller goes to the dialled number's queue. `prompt` is a sound file (a path
    without its extension, as Asterisk plays it); `prompt_text` says what it says.
    """

    __tablename__ = "ivr_menus"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prompt: Mapped[str] = mapped_column(String(500), default="")
    prompt_text: Mapped[str] = mapped_column(String(2000), default="")
    timeout_seconds: Mapped[int] = mapped_column(default=5)
    attempts: Mapped[int] = mapped_column(default=3)
    options: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(default=True)


class BlockedCaller(TimestampMixin, Base):
    """A caller Parley hangs up on before queueing (F-VO-9): an exact E.164 number, or a
    pattern where `*` stands for any digits (`+7495*`)."""

    __tablename__ = "blocked_callers"

    id: Mapped[int] = mapped_column(primary_key=True)
    pattern: Mapped[str] = mapped_column(String(40), unique=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(default=True)


class CallbackState(StrEnum):
    PENDING = "pending"  # waiting for its time
    QUEUED = "queued"  # its callback task is in the queue
    CANCELLED = "cancelled"


class ScheduledCallback(TimestampMixin, Base):
    """A call back an agent promised for a time (F-VO-7): at `due_at` a callback task to
    `number` is queued in `queue_id`, offered first to the agent when `is_personal`."""

    __tablename__ = "scheduled_callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_personal: Mapped[bool] = mapped_column(default=True)
    number: Mapped[str] = mapped_column(String(40))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    due_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[CallbackState] = mapped_column(
        str_enum(CallbackState), default=CallbackState.PENDING, index=True
    )
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), default=None
    )


class QueueVoiceSettings(TimestampMixin, Base):
    """What a queue's callers hear and keep (F-VO-1, -5, -6): announcements of their
    position and estimated wait every `announce_every_seconds` while they hold (0: none),
    call recordings kept `recording_retention_days` (0: forever), and the pre-recorded
    `messages` its agents may play into a call: a list of `{"name", "sound"}`, `sound`
    being a file Asterisk plays (a path without its extension)."""

    __tablename__ = "queue_voice_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), unique=True)
    announce_every_seconds: Mapped[int] = mapped_column(default=0)
    recording_retention_days: Mapped[int] = mapped_column(default=0)
    messages: Mapped[list[Any]] = mapped_column(default=list)


class CallForward(TimestampMixin, Base):
    """An agent's call forwarding (F-VO-9): while it exists, calls for the agent ring
    `number` (E.164, through the outbound context) instead of their own device."""

    __tablename__ = "call_forwards"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    number: Mapped[str] = mapped_column(String(40))


class HelpRequest(Base):
    """An agent's raised hand (F-VO-10), open until a supervisor (or the agent) clears it."""

    __tablename__ = "help_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), default=None
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    cleared_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
