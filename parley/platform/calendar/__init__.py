"""The agents' calendar (F-CS-5): follow-ups each user plans for themselves, with a
reminder before each is due.

`router` holds the REST routes (`/api/me/follow-ups`), which the agent desktop's
composition root includes. The reminder itself is the desktop's to show: every
follow-up it reads carries `remind_at`.
"""

from parley.platform.calendar.api import router
from parley.platform.calendar.service import (
    InvalidField,
    Window,
    change_follow_up,
    create_follow_up,
    delete_follow_up,
    follow_ups_due,
    listing_window,
    mark_done,
    owned_follow_up,
    remind_at,
)

__all__ = [
    "InvalidField",
    "Window",
    "change_follow_up",
    "create_follow_up",
    "delete_follow_up",
    "follow_ups_due",
    "listing_window",
    "mark_done",
    "owned_follow_up",
    "remind_at",
    "router",
]
