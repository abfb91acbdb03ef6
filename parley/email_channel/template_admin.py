"""Email templates as an admin resource: `/api/email-templates` (F-EM-3, F-EM-4).

Admins create, change and delete them; every signed-in user lists and reads them (an
agent picks one to start a reply from). A template whose subject or bodies do not
parse as Jinja2 is refused when saved, so a broken one never reaches a customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from parley.email_channel.templates import TemplateFailed, check_template
from parley.platform.admin_api.resources import Access, Context, Filter, Resource, Unique
from parley.platform.admin_api.schemas import Input, Name, invalid
from parley.platform.models import EmailTemplate
from parley.platform.web.deps import ADMINS, ALL_ROLES


class EmailTemplateCreate(Input):
    name: Name
    subject: str = Field("", max_length=998)
    body_text: str = Field("", max_length=100_000)
    body_html: str = Field("", max_length=200_000)
    is_active: bool = True


class EmailTemplateOut(BaseModel):
    id: int
    name: str
    subject: str
    body_text: str
    body_html: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class EmailTemplateResource(Resource[EmailTemplate]):
    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: EmailTemplate | None
    ) -> dict[str, Any]:
        parts = {
            key: values.get(key, getattr(row, key) if row is not None else "")
            for key in ("subject", "body_text", "body_html")
        }
        for key, source in parts.items():
            try:
                check_template(**{**dict.fromkeys(parts, ""), key: source})
            except TemplateFailed as error:
                raise invalid([key], error.message) from error
        return values


email_templates = EmailTemplateResource(
    model=EmailTemplate,
    path="/api/email-templates",
    noun="email template",
    create=EmailTemplateCreate,
    out=EmailTemplateOut,
    access=Access(read=ALL_ROLES, write=ADMINS),
    filters={"is_active": Filter(bool)},
    sortable=("name", "created_at", "updated_at"),
    search=("name", "subject", "body_text"),
    unique=(Unique("name"),),
)


def routers() -> list[APIRouter]:
    return [email_templates.router()]
