"""The desktop page (`GET /agent`) and its static files (`/static/agent/...`).

The page is a Jinja2 shell in the user's language (`parley.platform.i18n`); everything
after that is ES modules under `static/js` talking to the REST API and to the agent
websocket. The strings those modules show are translated here, in the template, and
handed over as JSON, so the catalogs stay the one place translations live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import FileSystemLoader
from sqlalchemy import select

from parley.platform.auth.principal import Principal
from parley.platform.i18n import (
    LANGUAGE_NAMES,
    create_template_environment,
    translations,
)
from parley.platform.models import User
from parley.platform.web.deps import ALL_ROLES, DbDep, RuntimeDep
from parley.platform.web.pages import SignedInPage, add_static_route, page_language
from parley.telephony.media import BROWSER_DEVICE

PACKAGE_DIR = Path(__file__).resolve().parent
LOGIN_URL = "/login?next=/agent"
HEARTBEAT_SECONDS = 3

router = APIRouter(tags=["agent desktop"], include_in_schema=False)
add_static_route(router, "/static/agent", PACKAGE_DIR / "static")
templates = create_template_environment(FileSystemLoader(PACKAGE_DIR / "templates"))

DesktopUser = Annotated[Principal | None, Depends(SignedInPage(ALL_ROLES))]


@router.get("/agent")
async def desktop_page(
    request: Request, runtime: RuntimeDep, db: DbDep, me: DesktopUser
) -> Response:
    """The agent desktop, for any signed-in user; others are sent to log in first."""
    if me is None:
        return RedirectResponse(LOGIN_URL, status_code=303)
    language = page_language(request, me.language, runtime.settings.default_language)
    # An agent whose device is the browser keeps a WebRTC line open (softphone.js).
    device = await db.scalar(select(User.device).where(User.id == me.user_id))
    config: dict[str, Any] = {
        "me": {"id": me.user_id, "display_name": me.display_name, "role": me.role.value},
        "csrf_token": me.csrf_token or "",
        "language": language,
        "socket_path": "/ws/agent",
        "login_url": LOGIN_URL,
        "heartbeat_seconds": HEARTBEAT_SECONDS,
        "has_browser_line": (device or "").strip() == BROWSER_DEVICE,
        # the browser line's STUN/TURN servers, as RTCPeerConnection takes them
        "ice_servers": [
            server.model_dump(exclude_defaults=True)
            for server in runtime.settings.media_ice_servers
        ],
    }
    html = templates.get_template("desktop.html").render(
        translations=translations(language),
        lang=language,
        me=me,
        role=me.role.value,
        csrf_token=me.csrf_token or "",
        languages=list(LANGUAGE_NAMES.items()),
        config=config,
    )
    # The page carries the session's CSRF token: never keep it in a cache.
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
