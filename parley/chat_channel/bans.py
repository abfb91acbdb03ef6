"""Banned visitors (F-CH-6): who may not start a chat, and the error frame they get.

A ban names the widget, the visitor's key and, when the socket had one, their IP
address: either matching refuses a new chat until the ban runs out or is lifted. The
chat open when the agent banned is closed by `tools.ChatTools.ban`; this module only
answers "is this visitor banned now?" for the service, inside its transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.chat_channel import protocol
from parley.platform.models import ChatBan

MAX_BAN_MINUTES = 60 * 24 * 365  # a year; longer is a mistake, not a policy


async def active_ban(
    db: AsyncSession, widget_id: int, visitor_key: str, ip: str, now: datetime
) -> ChatBan | None:
    """The ban of this visitor (by key or address) in force at `now`, the longest first."""
    matches = ChatBan.visitor_key == visitor_key
    if ip:
        matches = or_(matches, ChatBan.ip == ip)
    ban: ChatBan | None = await db.scalar(
        select(ChatBan)
        .where(
            ChatBan.widget_id == widget_id,
            ChatBan.lifted_at.is_(None),
            ChatBan.until > now,
            matches,
        )
        .order_by(ChatBan.until.desc())
        .limit(1)
    )
    return ban


def refusal(ban: ChatBan, client_msg_id: str | None = None) -> protocol.FrameRejected:
    """The error frame for a banned visitor's message: the widget shows it and stops
    resending (the frame names the message)."""
    return protocol.FrameRejected(
        protocol.ErrorCode.BANNED,
        f"You cannot start a chat until {ban.until.isoformat(timespec='minutes')}.",
        client_msg_id=client_msg_id,
    )
