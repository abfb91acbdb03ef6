"""The console's chat pages (F-CH-1, F-CH-3, F-AD-1): the site widgets with their embed
snippet and a preview, and each widget's proactive invitation scenarios.

Admins change them with server-rendered forms; supervisors see the same pages read-only
(to hand out a snippet); agents are refused (403). A form is checked by the REST
resource's own schema and hooks (`parley.platform.admin_api.chat_widgets`,
`.chat_invitations`), so a page and the API accept exactly the same values, and every
change is audited the same way; a refused field is shown next to its input.

The preview is a page of Parley's own that embeds the real widget script. The script
asks `/chat/widgets/KEY/config` for its look, which answers only the widget's allowed
origins, and a page of Parley's own origin sends no `Origin` with that request; so the
preview page points the script's configuration request at `…/preview/config` here,
which answers the signed-in admin or supervisor with the same configuration for any
page. Chatting from the preview still needs Parley's origin among the allowed ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from parley.admin_web.api import SupervisorPage, _render
from parley.chat_channel import widget
from parley.chat_channel.widget_api import widget_settings
from parley.platform.admin_api.chat_invitations import (
    ChatInvitationScenarioCreate,
    chat_invitation_scenarios,
)
from parley.platform.admin_api.chat_widgets import ChatWidgetCreate, chat_widgets
from parley.platform.admin_api.resources import Context
from parley.platform.auth.principal import Principal
from parley.platform.errors import NotFound
from parley.platform.i18n import Language, translations
from parley.platform.models import ChatInvitationScenario, ChatWidget, Queue
from parley.platform.web.deps import (
    ADMINS,
    DbDep,
    NotAuthenticated,
    RuntimeDep,
    client_ip,
)
from parley.platform.web.pages import SignedInPage, page_language

router = APIRouter(tags=["admin console"], include_in_schema=False)

AdminPage = Annotated[Principal | None, Depends(SignedInPage(ADMINS))]

# Form inputs holding one value a line.
WIDGET_LISTS = ("allowed_origins", "show_on", "hide_on", "show_in", "hide_in")
WIDGET_CHECKBOXES = ("is_active", "offline_form_enabled")
WIDGET_CHOICES = ("prechat_fields", "prechat_required")
SCENARIO_LISTS = ("url_patterns", "referrer_contains", "location_contains")
SCENARIO_NUMBERS = (
    "min_time_on_site_seconds",
    "min_time_on_page_seconds",
    "max_invitations_seen",
    "min_seconds_since_last_invitation",
)
SCENARIO_CHECKBOXES = ("is_active", "requires_agent_online")
PRECHAT_FIELDS = ("name", "email", "phone", "question")
# The configuration request the preview page sends to this module instead.
PREVIEW_CONFIG_SCRIPT = """
(function () {
  var real = window.fetch.bind(window);
  var own = %(config_path)s;
  window.fetch = function (url, options) {
    if (typeof url === "string" && url.indexOf("/chat/widgets/") !== -1
        && url.indexOf("/config?") !== -1) {
      return real(own + url.slice(url.indexOf("?")), { credentials: "same-origin" });
    }
    return real(url, options);
  };
})();
"""


def _login(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={next_url}", status_code=303)


def _language(request: Request, runtime: RuntimeDep, principal: Principal) -> Language:
    return page_language(request, principal.language, runtime.settings.default_language)


def _context(
    request: Request, db: AsyncSession, runtime: RuntimeDep, principal: Principal
) -> Context:
    return Context(db, principal, runtime, client_ip(request))


def _field_errors(error: ValidationError | RequestValidationError) -> dict[str, str]:
    """The first message per field, by field name (a list item's error names its list)."""
    found: dict[str, str] = {}
    for item in error.errors():
        location = [part for part in item["loc"] if part != "body"]
        name = str(location[0]) if location else ""
        found.setdefault(name, str(item["msg"]))
    return found


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def widget_values(form: FormData) -> dict[str, Any]:
    """The widget form as the REST schema's input: one list item a line, checkboxes as
    booleans, numbers left as text for the schema to read (or refuse)."""
    special = {*WIDGET_LISTS, *WIDGET_CHECKBOXES, *WIDGET_CHOICES}
    # A text the form does not send keeps the schema's default.
    values: dict[str, Any] = {
        name: _text(form, name)
        for name in ChatWidgetCreate.model_fields
        if name not in special and name in form
    }
    values.setdefault("queue_id", "")
    for name in WIDGET_LISTS:
        values[name] = _lines(_text(form, name))
    for name in WIDGET_CHECKBOXES:
        values[name] = name in form
    for name in WIDGET_CHOICES:
        values[name] = [value for value in form.getlist(name) if isinstance(value, str)]
    return values


def scenario_values(form: FormData, widget_id: int) -> dict[str, Any]:
    """The invitation form as the REST schema's input: a blank number is "any"."""
    values: dict[str, Any] = {
        "widget_id": widget_id,
        "name": _text(form, "name"),
        "message": _text(form, "message"),
    }
    for name in SCENARIO_NUMBERS:
        text = _text(form, name).strip()
        values[name] = text or None
    for name in SCENARIO_CHECKBOXES:
        values[name] = name in form
    visitor = _text(form, "is_new_visitor")
    values["is_new_visitor"] = {"new": True, "returning": False}.get(visitor)
    for name in SCENARIO_LISTS:
        values[name] = _lines(_text(form, name))
    return values


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the form shows them again: lists one item a line, "any" blank."""
    shown = dict(values)
    for name, value in values.items():
        if isinstance(value, list) and name not in WIDGET_CHOICES:
            shown[name] = "\n".join(str(item) for item in value)
        elif value is None:
            shown[name] = ""
    return shown


async def _queues(db: AsyncSession) -> list[tuple[int, str]]:
    rows = await db.execute(select(Queue.id, Queue.name).order_by(Queue.name, Queue.id))
    return [(queue_id, name) for queue_id, name in rows.all()]


def _parley_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _widget_page(
    request: Request,
    db: AsyncSession,
    language: Language,
    principal: Principal,
    *,
    row: ChatWidget | None,
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    parley_url = _parley_url(request)
    return _render(
        "widget_form.html",
        language,
        status_code=status_code,
        csrf_token=principal.csrf_token or "",
        can_edit=principal.has_role(*ADMINS),
        row=row,
        values=_shown(values),
        errors=errors or {},
        saved=saved,
        queues=await _queues(db),
        prechat_fields=PRECHAT_FIELDS,
        snippet=widget.snippet(parley_url, row.public_key) if row else "",
        parley_origin=parley_url,
    )


# --- widgets ---------------------------------------------------------------------------


@router.get("/widgets")
async def widgets_page(
    request: Request, runtime: RuntimeDep, db: DbDep, principal: SupervisorPage
) -> Response:
    """Every chat widget with its queue; admins may add one."""
    if principal is None:
        return _login("/widgets")
    rows = await db.scalars(select(ChatWidget).order_by(ChatWidget.name, ChatWidget.id))
    queues = dict(await _queues(db))
    return _render(
        "widgets.html",
        _language(request, runtime, principal),
        widgets=[(row, queues.get(row.queue_id, "")) for row in rows],
        can_edit=principal.has_role(*ADMINS),
    )


@router.get("/widgets/new")
async def new_widget_page(
    request: Request, runtime: RuntimeDep, db: DbDep, principal: AdminPage
) -> Response:
    if principal is None:
        return _login("/widgets/new")
    # The schema's defaults; no queue chosen yet.
    defaults = ChatWidgetCreate.model_construct(name="", queue_id=0).model_dump()
    defaults["queue_id"] = ""
    return await _widget_page(
        request, db, _language(request, runtime, principal), principal, row=None, values=defaults
    )


@router.post("/widgets/new")
async def create_widget(
    request: Request, runtime: RuntimeDep, db: DbDep, principal: AdminPage
) -> Response:
    if principal is None:
        return _login("/widgets/new")
    language = _language(request, runtime, principal)
    values = widget_values(await request.form())
    try:
        body = ChatWidgetCreate.model_validate(values)
        out = await chat_widgets.add(_context(request, db, runtime, principal), body)
    except (ValidationError, RequestValidationError) as exc:
        return await _widget_page(
            request,
            db,
            language,
            principal,
            row=None,
            values=values,
            errors=_field_errors(exc),
            status_code=422,
        )
    return RedirectResponse(f"/widgets/{out.model_dump()['id']}?saved=1", status_code=303)


@router.get("/widgets/{widget_id}")
async def widget_page(
    widget_id: int,
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    principal: SupervisorPage,
    saved: bool = False,
) -> Response:
    """One widget's settings (a form for admins), its snippet and its preview link."""
    if principal is None:
        return _login(f"/widgets/{widget_id}")
    row = await chat_widgets.find(_context(request, db, runtime, principal), widget_id)
    return await _widget_page(
        request,
        db,
        _language(request, runtime, principal),
        principal,
        row=row,
        values=chat_widgets.dump(row).model_dump(),
        saved=saved,
    )


@router.post("/widgets/{widget_id}")
async def update_widget(
    widget_id: int, request: Request, runtime: RuntimeDep, db: DbDep, principal: AdminPage
) -> Response:
    if principal is None:
        return _login(f"/widgets/{widget_id}")
    ctx = _context(request, db, runtime, principal)
    row = await chat_widgets.find(ctx, widget_id)
    values = widget_values(await request.form())
    try:
        body = ChatWidgetCreate.model_validate(values)
        await chat_widgets.change(ctx, widget_id, body)
    except (ValidationError, RequestValidationError) as exc:
        return await _widget_page(
            request,
            db,
            _language(request, runtime, principal),
            principal,
            row=row,
            values=values,
            errors=_field_errors(exc),
            status_code=422,
        )
    return RedirectResponse(f"/widgets/{widget_id}?saved=1", status_code=303)


@router.get("/widgets/{widget_id}/preview")
async def widget_preview(
    widget_id: int, request: Request, runtime: RuntimeDep, db: DbDep, principal: SupervisorPage
) -> Response:
    """A plain page with the widget's snippet, as a site's page would carry it."""
    if principal is None:
        return _login(f"/widgets/{widget_id}/preview")
    row = await chat_widgets.find(_context(request, db, runtime, principal), widget_id)
    script = PREVIEW_CONFIG_SCRIPT % {
        "config_path": json.dumps(f"/widgets/{widget_id}/preview/config")
    }
    return _render(
        "widget_preview.html",
        _language(request, runtime, principal),
        row=row,
        preview_script=script,
        snippet=widget.snippet(_parley_url(request), row.public_key),
    )


@router.get("/widgets/{widget_id}/preview/config")
async def widget_preview_config(
    widget_id: int,
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    principal: SupervisorPage,
    lang: str | None = None,
) -> widget.WidgetConfigOut:
    """The widget's look and texts as `/chat/widgets/KEY/config` gives them, for the
    preview: always shown, whatever its page and location rules say."""
    if principal is None:
        raise NotAuthenticated()
    row = await chat_widgets.find(_context(request, db, runtime, principal), widget_id)
    look, forms, files = widget_settings(row)
    language = page_language(request, lang or principal.language, runtime.settings.default_language)
    return widget.config_for(look, translations(language), language, True, forms, files)


# --- invitation scenarios --------------------------------------------------------------


async def _scenarios(db: AsyncSession, widget_id: int) -> Sequence[ChatInvitationScenario]:
    rows = await db.scalars(
        select(ChatInvitationScenario)
        .where(ChatInvitationScenario.widget_id == widget_id)
        .order_by(ChatInvitationScenario.name, ChatInvitationScenario.id)
    )
    return list(rows)


def _scenario_page(
    language: Language,
    principal: Principal,
    *,
    row: ChatWidget,
    scenario_id: int | None,
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    is_new: bool | None = values.get("is_new_visitor")
    return _render(
        "invitation_form.html",
        language,
        status_code=status_code,
        csrf_token=principal.csrf_token or "",
        can_edit=principal.has_role(*ADMINS),
        row=row,
        scenario_id=scenario_id,
        values=_shown(values),
        visitor="any" if is_new is None else ("new" if is_new else "returning"),
        errors=errors or {},
        saved=saved,
    )


@router.get("/widgets/{widget_id}/invitations")
async def invitations_page(
    widget_id: int,
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    principal: SupervisorPage,
    deleted: bool = False,
) -> Response:
    """The widget's proactive invitation scenarios (F-CH-3)."""
    if principal is None:
        return _login(f"/widgets/{widget_id}/invitations")
    row = await chat_widgets.find(_context(request, db, runtime, principal), widget_id)
    return _render(
        "invitations.html",
        _language(request, runtime, principal),
        row=row,
        scenarios=await _scenarios(db, widget_id),
        can_edit=principal.has_role(*ADMINS),
        csrf_token=principal.csrf_token or "",
        deleted=deleted,
    )


@router.get("/widgets/{widget_id}/invitations/new")
async def new_invitation_page(
    widget_id: int, request: Request, runtime: RuntimeDep, db: DbDep, principal: AdminPage
) -> Response:
    if principal is None:
        return _login(f"/widgets/{widget_id}/invitations/new")
    row = await chat_widgets.find(_context(request, db, runtime, principal), widget_id)
    defaults = ChatInvitationScenarioCreate.model_construct(
        widget_id=widget_id, name="", message=""
    ).model_dump()
    return _scenario_page(
        _language(request, runtime, principal),
        principal,
        row=row,
        scenario_id=None,
        values=defaults,
    )


@router.post("/widgets/{widget_id}/invitations/new")
async def create_invitation(
    widget_id: int, request: Request, runtime: RuntimeDep, db: DbDep, principal: AdminPage
) -> Response:
    if principal is None:
        return _login(f"/widgets/{widget_id}/invitations/new")
    ctx = _context(request, db, runtime, principal)
    row = await chat_widgets.find(ctx, widget_id)
    values = scenario_values(await request.form(), widget_id)
    try:
        body = ChatInvitationScenarioCreate.model_validate(values)
        out = await chat_invitation_scenarios.add(ctx, body)
    except (ValidationError, RequestValidationError) as exc:
        return _scenario_page(
            _language(request, runtime, principal),
            principal,
            row=row,
            scenario_id=None,
            values=values,
            errors=_field_errors(exc),
            status_code=422,
        )
    return RedirectResponse(
        f"/widgets/{widget_id}/invitations/{out.model_dump()['id']}?saved=1", status_code=303
    )


async def _find_scenario(ctx: Context, widget_id: int, scenario_id: int) -> ChatInvitationScenario:
    scenario = await chat_invitation_scenarios.find(ctx, scenario_id)
    if scenario.widget_id != widget_id:
        raise NotFound("Chat invitation scenario", scenario_id)
    return scenario


@router.get("/widgets/{widget_id}/invitations/{scenario_id}")
async def invitation_page(
    widget_id: int,
    scenario_id: int,
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    principal: SupervisorPage,
    saved: bool = False,
) -> Response:
    if principal is None:
        return _login(f"/widgets/{widget_id}/invitations/{scenario_id}")
    ctx = _context(request, db, runtime, principal)
    row = await chat_widgets.find(ctx, widget_id)
    scenario = await _find_scenario(ctx, widget_id, scenario_id)
    return _scenario_page(
        _language(request, runtime, principal),
        principal,
        row=row,
        scenario_id=scenario_id,
        values=chat_invitation_scenarios.dump(scenario).model_dump(),
        saved=saved,
    )


@router.post("/widgets/{widget_id}/invitations/{scenario_id}")
async def update_invitation(
    widget_id: int,
    scenario_id: int,
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    principal: AdminPage,
) -> Response:
    if principal is None:
        return _login(f"/widgets/{widget_id}/invitations/{scenario_id}")
    ctx = _context(request, db, runtime, principal)
    row = await chat_widgets.find(ctx, widget_id)
    await _find_scenario(ctx, widget_id, scenario_id)
    values = scenario_values(await request.form(), widget_id)
    try:
        body = ChatInvitationScenarioCreate.model_validate(values)
        await chat_invitation_scenarios.change(ctx, scenario_id, body)
    except (ValidationError, RequestValidationError) as exc:
        return _scenario_page(
            _language(request, runtime, principal),
            principal,
            row=row,
            scenario_id=scenario_id,
            values=values,
            errors=_field_errors(exc),
            status_code=422,
        )
    return RedirectResponse(
        f"/widgets/{widget_id}/invitations/{scenario_id}?saved=1", status_code=303
    )


@router.post("/widgets/{widget_id}/invitations/{scenario_id}/delete")
async def delete_invitation(
    widget_id: int,
    scenario_id: int,
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    principal: AdminPage,
) -> Response:
    if principal is None:
        return _login(f"/widgets/{widget_id}/invitations")
    ctx = _context(request, db, runtime, principal)
    await _find_scenario(ctx, widget_id, scenario_id)
    await chat_invitation_scenarios.remove(ctx, scenario_id)
    return RedirectResponse(f"/widgets/{widget_id}/invitations?deleted=1", status_code=303)
