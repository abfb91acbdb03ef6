"""The console's pages: logging in and out with a form, the signed-in home page, and the
supervisors' monitoring page (F-SU-2: live calls with listen / whisper / barge, raised
hands), which polls the REST API from `static/monitor.js`.

Pages are server-rendered Jinja2 in the visitor's language (`parley.platform.i18n`):
the user's own setting once signed in, before that the `parley_lang` cookie set by the
language switcher, then the browser's Accept-Language.

Forms that change state carry the session's CSRF token as the `csrf_token` field; the
check itself is `parley.platform.web.deps`'s, as for every other route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import FileSystemLoader

from parley.platform.auth.api import log_in
from parley.platform.auth.principal import Principal
from parley.platform.auth.service import InvalidCredentials, LoginThrottled, close_session
from parley.platform.i18n import (
    LANGUAGE_NAMES,
    Language,
    create_template_environment,
    supported_language,
    translations,
)
from parley.platform.models import Role
from parley.platform.web.deps import (
    ALL_ROLES,
    SESSION_COOKIE,
    SUPERVISORS,
    DbDep,
    Public,
    RuntimeDep,
)
from parley.platform.web.pages import (
    SignedInPage,
    add_static_route,
    local_target,
    page_language,
    remember_language,
)

PACKAGE_DIR = Path(__file__).resolve().parent

router = APIRouter(tags=["admin console"], include_in_schema=False)
add_static_route(router, "/static/admin", PACKAGE_DIR / "static")
templates = create_template_environment(FileSystemLoader(PACKAGE_DIR / "templates"))


AnyPageUser = Annotated[Principal | None, Depends(SignedInPage(ALL_ROLES))]
SupervisorPage = Annotated[Principal | None, Depends(SignedInPage(SUPERVISORS))]
MONITOR_POLL_SECONDS = 2


def _render(
    template: str, language: Language, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    html = templates.get_template(template).render(
        translations=translations(language), lang=language, **context
    )
    # Pages carry a CSRF token or a half-typed username: never keep them in a cache.
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _login_page(
    language: Language,
    *,
    error: str = "",
    username: str = "",
    next_url: str = "/",
    status_code: int = 200,
) -> HTMLResponse:
    return _render(
        "login.html",
        language,
        status_code=status_code,
        error=error,
        username=username,
        next_url=next_url,
        languages=list(LANGUAGE_NAMES.items()),
    )


def _role_label(role: Role, language: Language) -> str:
    gettext = translations(language).gettext
    labels = {
        Role.AGENT: gettext("Agent"),
        Role.SUPERVISOR: gettext("Supervisor"),
        Role.ADMIN: gettext("Administrator"),
    }
    return labels[role]


@router.get("/login", dependencies=[Public])
async def login_page(
    request: Request,
    runtime: RuntimeDep,
    lang: str | None = None,
    next: str | None = None,
) -> Response:
    """The login form; `?lang=ru` is the language switcher, remembered in a cookie, and
    `?next=/agent` the page to go to once logged in (only a page of this site)."""
    chosen = supported_language(lang)
    language = page_language(request, chosen, runtime.settings.default_language)
    response = _login_page(language, next_url=local_target(next))
    if chosen:
        remember_language(response, chosen, secure=runtime.settings.cookie_secure)
    return response


@router.post("/login", dependencies=[Public])
async def submit_login(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=512)] = "/",
) -> Response:
    language = page_language(request, None, runtime.settings.default_language)
    gettext = translations(language).gettext
    next_url = local_target(next)
    if not username.strip() or not password:
        return _login_page(
            language,
            error=gettext("Enter your username and password."),
            username=username,
            next_url=next_url,
            status_code=401,
        )
    redirect = RedirectResponse(next_url, status_code=303)
    try:
        await log_in(request, redirect, runtime, db, username, password)
    except InvalidCredentials:
        return _login_page(
            language,
            error=gettext("Wrong username or password."),
            username=username,
            next_url=next_url,
            status_code=401,
        )
    except LoginThrottled as exc:
        message = translations(language).ngettext(
            "Too many failed logins. Try again in %(seconds)d second.",
            "Too many failed logins. Try again in %(seconds)d seconds.",
            exc.retry_after,
        ) % {"seconds": exc.retry_after}
        response = _login_page(
            language, error=message, username=username, next_url=next_url, status_code=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return redirect


@router.get("/")
async def home_page(request: Request, runtime: RuntimeDep, principal: AnyPageUser) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language = page_language(request, principal.language, runtime.settings.default_language)
    return _render(
        "home.html",
        language,
        display_name=principal.display_name,
        role_label=_role_label(principal.role, language),
        csrf_token=principal.csrf_token or "",
        is_supervisor=principal.has_role(*SUPERVISORS),
    )


@router.get("/supervision")
async def monitor_page(
    request: Request, runtime: RuntimeDep, principal: SupervisorPage
) -> Response:
    """Live calls and raised hands, for supervisors and admins (agents get 403)."""
    if principal is None:
        return RedirectResponse("/login?next=/supervision", status_code=303)
    language = page_language(request, principal.language, runtime.settings.default_language)
    config = {
        "csrf_token": principal.csrf_token or "",
        "login_url": "/login?next=/supervision",
        "poll_seconds": MONITOR_POLL_SECONDS,
    }
    return _render("monitor.html", language, config=config)


@router.post("/logout")
async def submit_logout(db: DbDep, principal: AnyPageUser) -> Response:
    if principal is not None and principal.session_id:
        await close_session(db, principal.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
