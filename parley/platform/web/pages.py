"""What server-rendered pages share: the signed-in check that sends a browser to log in,
the static-file route of a package's `static/` folder, the safe "where to go after
logging in" target, and the page's language (read, and remembered in a cookie).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from parley.platform.auth.principal import Principal
from parley.platform.errors import NotFound
from parley.platform.i18n import LANGUAGE_COOKIE, Language, negotiate_language
from parley.platform.web.deps import RoleRequirement, optional_principal, public

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


def page_language(request: Request, explicit: str | None, default: str) -> Language:
    """The language of a page: `explicit` (the user's setting or a choice just made), then
    the `parley_lang` cookie, then the browser's Accept-Language, then `default`."""
    return negotiate_language(
        explicit,
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
        default,
    )


def remember_language(response: Response, language: Language, *, secure: bool) -> None:
    """Set the `parley_lang` cookie, so pages before logging in speak it too."""
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        samesite="lax",
        secure=secure,
        path="/",
    )


class SignedInPage(RoleRequirement):
    """`require_roles` for pages: a browser without a session gets None, so the page can
    send it to /login instead of answering with a 401 JSON body. A wrong role is still
    refused, and a state-changing form without its CSRF token still fails (403)."""

    async def __call__(  # type: ignore[override]
        self, principal: Annotated[Principal | None, Depends(optional_principal)]
    ) -> Principal | None:
        if principal is None:
            return None
        return await super().__call__(principal)


def add_static_route(router: APIRouter, url_prefix: str, directory: Path) -> None:
    """Serve the files under `directory` at `{url_prefix}/{path}`.

    A route rather than a mounted StaticFiles app, so it joins the application through
    `include_router` like every page and the role matrix sees it (public). Only known
    file types, never a hidden file or anything outside `directory`. Browsers revalidate
    every time (cheap with the ETag): a deploy must not leave a page running yesterday's
    modules against today's server.
    """
    root = directory.resolve()

    async def static_file(name: str) -> FileResponse:
        path = (root / name).resolve()
        media_type = STATIC_TYPES.get(path.suffix)
        if (
            media_type is None
            or not path.is_relative_to(root)
            or any(part.startswith(".") for part in path.relative_to(root).parts)
            or not path.is_file()
        ):
            raise NotFound("static file", name)
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})

    router.add_api_route(
        f"{url_prefix}/{{name:path}}",
        static_file,
        methods=["GET"],
        dependencies=[Depends(public)],
        name=f"static:{url_prefix}",
    )


def local_target(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site (`/agent`), else `default`: a login link's
    `next` must never send the browser to another site (`//evil.example`, `https:...`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\r\n\t") or len(target) > 512:
        return default
    return target
