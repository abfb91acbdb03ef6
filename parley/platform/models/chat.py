"""Web chat configuration and visitors: the widgets embedded on customers' sites
(F-CH-1) and the browsers that talk through them (F-CH-5, F-CH-7).

A conversation itself is a chat `Interaction` with its `Message` rows: numbered by
`Message.seq` and deduplicated by `Message.client_msg_id`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.platform.db.base import Base, TimestampMixin, utcnow


class ChatWidget(TimestampMixin, Base):
    """One embed of the chat on a site. `public_key` is in the embed snippet (so it is
    public, not a secret): it names the widget; `allowed_origins` say which sites may
    open its visitor socket, as exact origins (`https://shop.example`)."""

    __tablename__ = "chat_widgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="RESTRICT"), index=True)
    allowed_origins: Mapped[list[str]] = mapped_column(default=list)
    greeting: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # The look on the site. Blank texts are the defaults in the visitor's language;
    # colours are `#rrggbb`; offsets are pixels from the corner of `position`.
    button_text: Mapped[str] = mapped_column(String(60), default="")
    window_title: Mapped[str] = mapped_column(String(100), default="")
    accent_color: Mapped[str] = mapped_column(String(7), default="#1f6feb")
    accent_text_color: Mapped[str] = mapped_column(String(7), default="#ffffff")
    position: Mapped[str] = mapped_column(String(20), default="bottom-right")
    offset_x: Mapped[int] = mapped_column(default=20)
    offset_y: Mapped[int] = mapped_column(default=20)
    operator_name: Mapped[str] = mapped_column(String(100), default="")
    operator_photo_url: Mapped[str] = mapped_column(String(2048), default="")
    # Page URL patterns (`*` is any run of characters): shown on pages matching one of
    # `show_on` (every page when empty), unless one of `hide_on` matches.
    show_on: Mapped[list[str]] = mapped_column(default=list)
    hide_on: Mapped[list[str]] = mapped_column(default=list)
    # F-CH-2. The pre-chat form asks `prechat_fields` (of name, email, phone, question)
    # before the first message, `prechat_required` of them required; none: no form.
    prechat_fields: Mapped[list[str]] = mapped_column(default=list)
    prechat_required: Mapped[list[str]] = mapped_column(default=list)
    # With no agent to answer (opt-in: else the chat waits in the queue as before), "leave
    # us a message" makes a case and mails this address.
    offline_form_enabled: Mapped[bool] = mapped_column(default=False)
    offline_notify_email: Mapped[str] = mapped_column(String(320), default="")
    # Without an agent's answer: the holding text after this long, then the prompt to
    # leave contacts. Blank texts are the defaults in the visitor's language.
    holding_after_seconds: Mapped[int] = mapped_column(default=30)
    holding_text: Mapped[str] = mapped_column(String(500), default="")
    contacts_after_seconds: Mapped[int] = mapped_column(default=60)
    contacts_text: Mapped[str] = mapped_column(String(500), default="")


class ChatVisitor(Base):
    """A browser that opened a widget, known by the key the widget keeps in local
    storage. It becomes a `Contact` (with a `visitor` identity) on its first message."""

    __tablename__ = "chat_visitors"
    __table_args__ = (UniqueConstraint("widget_id", "visitor_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    widget_id: Mapped[int] = mapped_column(ForeignKey("chat_widgets.id", ondelete="CASCADE"))
    visitor_key: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None, index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    visit_count: Mapped[int] = mapped_column(default=1)
    page_url: Mapped[str] = mapped_column(String(2048), default="")
    page_title: Mapped[str] = mapped_column(String(300), default="")
    referrer: Mapped[str] = mapped_column(String(2048), default="")
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(35), default="")
    screen: Mapped[str] = mapped_column(String(20), default="")  # "1920x1080"
    ip: Mapped[str] = mapped_column(String(45), default="")
    # What the visitor told in the pre-chat or contacts form (name, email, phone,
    # question), shown to the agents with their chats.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
