"""Chat widgets (F-CH-1): the embeds of web chat on customers' sites, configured by
admins; supervisors may read one (to hand out its snippet).

A widget's `public_key` goes into the embed snippet, so it is chosen by Parley when the
widget is created, never sent. `allowed_origins` are exact origins (scheme, host and
port as a browser sends them in `Origin`, e.g. `https://shop.example`): the visitor
websocket refuses pages from any other site.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field

from parley.platform.admin_api.resources import Access, Context, Filter, Resource
from parley.platform.admin_api.schemas import Input, Name
from parley.platform.models import ChatWidget, Queue
from parley.platform.web.deps import ADMINS, SUPERVISORS


def _is_origin(value: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username is not None
        or value != f"{parts.scheme}://{parts.netloc}"
        or parts.netloc != parts.netloc.lower()
    ):
        raise ValueError("An origin is a lower-case scheme://host[:port], with no path.")
    return value


Origin = Annotated[
    str, Field(max_length=300, examples=["https://shop.example"]), AfterValidator(_is_origin)
]


class ChatWidgetCreate(Input):
    name: Name
    queue_id: int = Field(description="The queue its chats wait in.")
    allowed_origins: list[Origin] = Field(default_factory=list, max_length=50)
    greeting: str = Field("", max_length=2000)
    is_active: bool = True


class ChatWidgetOut(BaseModel):
    id: int
    name: str
    public_key: str
    queue_id: int
    allowed_origins: list[str]
    greeting: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ChatWidgetResource(Resource[ChatWidget]):
    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: ChatWidget | None
    ) -> dict[str, Any]:
        if "allowed_origins" in values:
            values["allowed_origins"] = list(dict.fromkeys(values["allowed_origins"]))
        if row is None:
            values["public_key"] = new_public_key()
        return values


def new_public_key() -> str:
    """Random and URL-safe: it is a query parameter of the visitor socket."""
    return "w_" + secrets.token_urlsafe(18)


chat_widgets = ChatWidgetResource(
    model=ChatWidget,
    path="/api/chat-widgets",
    noun="chat widget",
    create=ChatWidgetCreate,
    out=ChatWidgetOut,
    access=Access(read=ADMINS, write=ADMINS, get=SUPERVISORS),
    filters={"is_active": Filter(bool), "queue_id": Filter(int)},
    sortable=("name", "created_at"),
    search=("name",),
    references={"queue_id": Queue},
)


def routers() -> list[APIRouter]:
    return [chat_widgets.router()]
