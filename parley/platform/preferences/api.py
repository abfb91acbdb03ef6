"""REST route of a user's own preferences: `PUT /api/me/language`, for any signed-in user.

The language a user chooses is their setting (`User.language`), which every page
prefers over the browser's wishes (`parley.platform.i18n.negotiate_language`); the
answer also sets the `parley_lang` cookie, so the login page speaks it after logging out.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from parley.platform import audit
from parley.platform.i18n import Language
from parley.platform.models import User
from parley.platform.web.deps import AnyUser, DbDep, RuntimeDep, client_ip
from parley.platform.web.pages import remember_language

router = APIRouter(tags=["preferences"])


class LanguageChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Language


@router.put("/api/me/language")
async def set_my_language(
    body: LanguageChoice,
    me: AnyUser,
    db: DbDep,
    runtime: RuntimeDep,
    request: Request,
    response: Response,
) -> LanguageChoice:
    """Speak `language` to the caller from now on, on every page and device."""
    user = await db.get_one(User, me.user_id)
    if user.language != body.language:
        await audit.record(
            db,
            me,
            "update",
            "user",
            user.id,
            {"language": {"old": user.language, "new": body.language}},
            ip=client_ip(request),
        )
        user.language = body.language
    remember_language(response, body.language, secure=runtime.settings.cookie_secure)
    return body
