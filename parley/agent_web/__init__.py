"""The agent desktop: one browser workspace for every channel.

`routers()` is what the composition root includes: the desktop page with its static
files, and the platform REST routes the desktop reads besides the admin API (the
caller's statistics, work in hand and language, the directory, contact history).
"""

from __future__ import annotations

from fastapi import APIRouter

from parley.agent_web.api import router as desktop_router
from parley.platform.calendar.api import router as calendar_router
from parley.platform.directory.api import router as directory_router
from parley.platform.interactions.api import router as interactions_router
from parley.platform.preferences.api import router as preferences_router
from parley.platform.stats.api import router as stats_router


def routers() -> list[APIRouter]:
    return [
        stats_router,
        directory_router,
        interactions_router,
        preferences_router,
        calendar_router,
        desktop_router,
    ]
