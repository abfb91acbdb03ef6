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
    # F-CH-6 files: the largest file either side may send, and the kinds allowed (of
    # image, pdf, office, text; see chat_channel/files.py). Empty: no files.
    file_max_bytes: Mapped[int] = mapped_column(default=10 * 1024 * 1024)
    file_kinds: Mapped[list[str]] = mapped_column(
        default=lambda: ["image", "pdf", "office", "text"]
    )
    # F-CH-6: a chat with no message from the visitor for this long is closed (0: never).
    inactivity_close_minutes: Mapped[int] = mapped_column(default=0)
    # F-CH-1: location rules, matched against "city, country" of the visitor's address
    # (a GeoIP database must be configured): shown where one of `show_in` is contained
    # (everywhere when empty), never where one of `hide_in` is.
    show_in: Mapped[list[str]] = mapped_column(default=list)
    hide_in: Mapped[list[str]] = mapped_column(default=list)


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
    # Tracking (F-CH-5): parsed from the User-Agent and the address (blank when unknown:
    # no GeoIP database, an address it does not know), and where the visit went.
    browser: Mapped[str] = mapped_column(String(100), default="")
    os: Mapped[str] = mapped_column(String(100), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    visit_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    page_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    page_views: Mapped[int] = mapped_column(default=0)  # in this visit
    pages: Mapped[list[Any]] = mapped_column(default=list)  # the latest, newest last
    left_at: Mapped[datetime | None] = mapped_column(default=None)  # no page open since
    # Proactive invitations (F-CH-3).
    invitations_seen: Mapped[int] = mapped_column(default=0)
    last_invited_at: Mapped[datetime | None] = mapped_column(default=None)


class ChatVisitorComment(Base):
    """An agent's note on a visitor, shown in the visitor list (F-CH-5)."""

    __tablename__ = "chat_visitor_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(
        ForeignKey("chat_visitors.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatInvitationScenario(TimestampMixin, Base):
    """When a widget invites a browsing visitor to chat by itself (F-CH-3). Every
    condition left unset (None or empty) matches anyone; of the scenarios that match,
    the one with the most conditions set wins (`chat_channel.invitations`)."""

    __tablename__ = "chat_invitation_scenarios"

    id: Mapped[int] = mapped_column(primary_key=True)
    widget_id: Mapped[int] = mapped_column(
        ForeignKey("chat_widgets.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(default=True)
    min_time_on_site_seconds: Mapped[int | None] = mapped_column(default=None)
    min_time_on_page_seconds: Mapped[int | None] = mapped_column(default=None)
    max_invitations_seen: Mapped[int | None] = mapped_column(default=None)
    min_seconds_since_last_invitation: Mapped[int | None] = mapped_column(default=None)
    requires_agent_online: Mapped[bool] = mapped_column(default=False)
    is_new_visitor: Mapped[bool | None] = mapped_column(default=None)
    url_patterns: Mapped[list[str]] = mapped_column(default=list)
    referrer_contains: Mapped[list[str]] = mapped_column(default=list)
    location_contains: Mapped[list[str]] = mapped_column(default=list)


class ChatBan(Base):
    """A visitor an agent barred from starting chats until `until` (F-CH-6), by their
    widget key and, when known, their address: a new key from a cleared browser does not
    get them past the ban. Lifting keeps the row (`lifted_at`) for the record."""

    __tablename__ = "chat_bans"

    id: Mapped[int] = mapped_column(primary_key=True)
    widget_id: Mapped[int] = mapped_column(
        ForeignKey("chat_widgets.id", ondelete="CASCADE"), index=True
    )
    visitor_key: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str] = mapped_column(String(45), default="", index=True)
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str] = mapped_column(String(500), default="")
    banned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    until: Mapped[datetime] = mapped_column()
    lifted_at: Mapped[datetime | None] = mapped_column(default=None)
    lifted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class ChatRating(Base):
    """The visitor's CSAT answer at the end of a chat (F-CH-8): one per interaction."""

    __tablename__ = "chat_ratings"

    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[int] = mapped_column()  # 1..5
    comment: Mapped[str] = mapped_column(Text, default="")
    # Copied from the interaction so averages per queue and agent need no join.
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL"), default=None, index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatFile(Base):
    """A file sent in a chat (F-CH-6), by the visitor or an agent. The bytes are on disk
    under the data dir, named by their SHA-256 (never by the sender's name); `public_id`
    names the file in URLs and messages, and is served only to the visitor of the chat
    and to the agents who may read it. Its message carries `public_id` in its headers."""

    __tablename__ = "chat_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
