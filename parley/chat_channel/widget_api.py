"""The routes a customer's site uses before the visitor socket opens (F-CH-1):

    GET /chat/widget.js                          the widget script, cached by browsers
    GET /chat/widgets/{public_key}/config        its look and texts for one page
    GET /api/chat-widgets/{chat_widget_id}/snippet   the tag to paste (supervisors, admins)

The script is fetched from the site's pages with a plain `<script src>` tag, so it needs
no CORS; the configuration is a cross-origin `fetch`, answered for the widget's allowed
origins only and with CORS headers naming that one origin (never `*`), so no other site
can read a widget's configuration or embed it. Like the visitor socket, the check uses
the page's `Origin` header, which scripts cannot forge in a browser.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from parley.chat_channel import widget
from parley.chat_channel.visitors import visitors
from parley.platform.admin_api.chat_widgets import chat_widgets
from parley.platform.admin_api.resources import SupervisorContext
from parley.platform.errors import Forbidden, NotFound
from parley.platform.i18n import negotiate_language, translations
from parley.platform.models import ChatWidget
from parley.platform.web.deps import Public, RuntimeDep

log = structlog.get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Read once at import, not in the event loop; a deploy restarts the process anyway.
SCRIPT = (STATIC_DIR / "widget.js").read_bytes()
SCRIPT_ETAG = '"' + hashlib.sha256(SCRIPT).hexdigest()[:32] + '"'
# Sites keep the script an hour, then revalidate it cheaply (ETag): a deploy reaches
# every visitor within the hour without each page load fetching the script again.
SCRIPT_CACHE_CONTROL = "public, max-age=3600"

router = APIRouter(tags=["chat widget"])


@router.get(widget.SCRIPT_PATH, dependencies=[Public], include_in_schema=False)
async def widget_script(
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    headers = {
        "Cache-Control": SCRIPT_CACHE_CONTROL,
        "ETag": SCRIPT_ETAG,
        # Sites that isolate themselves (COEP) may still load it.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if if_none_match is not None and SCRIPT_ETAG in {
        tag.strip().removeprefix("W/") for tag in if_none_match.split(",")
    }:
        return Response(status_code=304, headers=headers)
    return Response(SCRIPT, media_type="text/javascript; charset=utf-8", headers=headers)


def widget_settings(row: ChatWidget) -> tuple[widget.Look, widget.Forms, widget.FileLimits]:
    """A widget's stored look, forms and file limits, as the widget's config gives them
    (the admin console's preview shows the same)."""
    look = widget.Look(
        button_text=row.button_text,
        window_title=row.window_title,
        accent_color=row.accent_color,
        accent_text_color=row.accent_text_color,
        position=row.position,
        offset_x=row.offset_x,
        offset_y=row.offset_y,
        operator_name=row.operator_name,
        operator_photo_url=row.operator_photo_url,
    )
    forms = widget.Forms(
        prechat_fields=tuple(row.prechat_fields),
        prechat_required=tuple(row.prechat_required),
        offline_form_enabled=row.offline_form_enabled,
        holding_after_seconds=row.holding_after_seconds,
        holding_text=row.holding_text,
        contacts_after_seconds=row.contacts_after_seconds,
        contacts_text=row.contacts_text,
    )
    return look, forms, widget.FileLimits(row.file_max_bytes, tuple(row.file_kinds))


@router.get("/chat/widgets/{public_key}/config", dependencies=[Public])
async def widget_config(
    public_key: str,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    url: Annotated[str, Query(max_length=8192, description="The page's URL.")] = "",
    lang: Annotated[
        str | None, Query(max_length=35, description="The browser's language (BCP 47).")
    ] = None,
) -> widget.WidgetConfigOut:
    """The look and texts of an active widget for the page at `url`, in the visitor's
    language (`lang`, else Accept-Language, else the server's default). 404 for an
    unknown or inactive widget, 403 for a page on an origin the widget does not allow."""
    async with runtime.database.transaction() as db:
        row = await db.scalar(select(ChatWidget).where(ChatWidget.public_key == public_key))
        if row is None or not row.is_active:
            raise NotFound("Chat widget", public_key[:64])
        origin = request.headers.get("origin")
        if origin is None or origin not in row.allowed_origins:
            log.info("widget_config.refused", widget_id=row.id, origin=(origin or "")[:200])
            raise Forbidden("This site may not use this chat widget.")
        look, forms, files = widget_settings(row)
        is_shown = widget.is_shown_on(url, row.show_on, row.hide_on)
        show_in, hide_in = tuple(row.show_in), tuple(row.hide_in)
    if is_shown and (show_in or hide_in):
        geo = await visitors(request.app).geo()
        location = geo.locate(request.client.host if request.client else "").text
        is_shown = widget.is_shown_in(location, show_in, hide_in)
    language = negotiate_language(
        lang, None, request.headers.get("accept-language"), runtime.settings.default_language
    )
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-cache"
    return widget.config_for(look, translations(language), language, is_shown, forms, files)


class SnippetOut(BaseModel):
    public_key: str
    script_url: str
    snippet: str


@router.get("/api/chat-widgets/{chat_widget_id}/snippet", tags=["chat widgets"])
async def widget_snippet(
    chat_widget_id: int, request: Request, ctx: SupervisorContext
) -> SnippetOut:
    """The tag a site pastes into its pages, pointing at Parley as this request reached
    it (behind a proxy, as the proxy forwards it)."""
    row = await chat_widgets.find(ctx, chat_widget_id)
    parley_url = str(request.base_url).rstrip("/")
    return SnippetOut(
        public_key=row.public_key,
        script_url=parley_url + widget.SCRIPT_PATH,
        snippet=widget.snippet(parley_url, row.public_key),
    )
