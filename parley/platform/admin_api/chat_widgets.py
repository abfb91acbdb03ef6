"""Chat widgets (F-CH-1): the embeds of web chat on customers' sites, configured by
admins; supervisors may read one (to hand out its snippet).

A widget's `public_key` goes into the embed snippet, so it is chosen by Parley when the
widget is created, never sent. `allowed_origins` are exact origins (scheme, host and
port as a browser sends them in `Origin`, e.g. `https://shop.example`): the visitor
websocket refuses pages from any other site.

The look (F-CH-1) is configured here too: texts (blank means the default in the visitor's
language), `#rrggbb` colours, the corner and offsets, the operator shown, and page URL
rules (`*` is any run of characters) and location rules (texts contained in the
visitor's "City, Country" from GeoIP) for where the widget shows. The embed snippet is
`GET /api/chat-widgets/{id}/snippet`, served by the chat channel beside the script.

The forms (F-CH-2) too: the pre-chat fields and which of them are required (only asked
ones may be), the offline form and the address told of each offline message, and after
how many seconds without an agent's answer the holding text and the prompt to leave
contacts appear, with those texts (blank: the defaults in the visitor's language).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field

from parley.platform.admin_api.identities import normalize_email
from parley.platform.admin_api.resources import Access, Context, Filter, Resource
from parley.platform.admin_api.schemas import Input, Name, invalid
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


def _is_photo_url(value: str) -> str:
    parts = urlsplit(value)
    if value and (parts.scheme not in {"http", "https"} or not parts.hostname):
        raise ValueError("A photo is an http:// or https:// address.")
    return value


def _is_plain_text(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("Control characters are not allowed.")
    return value


Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#1f6feb"])]
Offset = Annotated[int, Field(ge=0, le=500, description="Pixels from the corner.")]
ShortText = Annotated[str, Field(max_length=60), AfterValidator(_is_plain_text)]
Title = Annotated[str, Field(max_length=100), AfterValidator(_is_plain_text)]
PhotoUrl = Annotated[str, Field(max_length=2048), AfterValidator(_is_photo_url)]
UrlRule = Annotated[
    str,
    Field(
        min_length=1, max_length=2048, pattern=r"^\S+$", examples=["https://shop.example/help/*"]
    ),
]
UrlRules = Annotated[list[UrlRule], Field(max_length=50)]
# F-CH-1: matched against the visitor's "City, Country" (GeoIP), ignoring case.
LocationRule = Annotated[
    str, Field(min_length=1, max_length=100, examples=["Poland"]), AfterValidator(_is_plain_text)
]
LocationRules = Annotated[list[LocationRule], Field(max_length=50)]
PrechatField = Literal["name", "email", "phone", "question"]
PrechatFields = Annotated[list[PrechatField], Field(max_length=4)]
LongText = Annotated[str, Field(max_length=500), AfterValidator(_is_plain_text)]
Delay = Annotated[int, Field(ge=1, le=3600, description="Seconds without an agent's answer.")]


def _is_email_or_blank(value: str) -> str:
    return normalize_email(value) if value.strip() else ""


NotifyEmail = Annotated[str, Field(max_length=320), AfterValidator(_is_email_or_blank)]


# What chat_channel/files.py reads a file as: PNG/JPEG/GIF/WebP, PDF, Word/Excel/
# PowerPoint/OpenDocument, UTF-8 text.
FileKind = Literal["image", "pdf", "office", "text"]
ALL_FILE_KINDS: tuple[FileKind, ...] = ("image", "pdf", "office", "text")


class ChatWidgetCreate(Input):
    name: Name
    queue_id: int = Field(description="The queue its chats wait in.")
    allowed_origins: list[Origin] = Field(default_factory=list, max_length=50)
    greeting: str = Field("", max_length=2000)
    is_active: bool = True
    button_text: ShortText = Field("", description="Blank: the default in the visitor's language.")
    window_title: Title = Field("", description="Blank: the default in the visitor's language.")
    accent_color: Color = "#1f6feb"
    accent_text_color: Color = "#ffffff"
    position: Literal["bottom-right", "bottom-left"] = "bottom-right"
    offset_x: Offset = 20
    offset_y: Offset = 20
    operator_name: Title = ""
    operator_photo_url: PhotoUrl = ""
    show_on: UrlRules = Field(
        default_factory=list, description="Page URL rules (`*` is any text); empty: every page."
    )
    hide_on: UrlRules = Field(default_factory=list, description="Page URL rules it never shows on.")
    show_in: LocationRules = Field(
        default_factory=list,
        description='Shown only where "City, Country" contains one of these; empty: anywhere.',
    )
    hide_in: LocationRules = Field(
        default_factory=list, description='Never shown where "City, Country" contains one.'
    )
    prechat_fields: PrechatFields = Field(
        default_factory=list, description="Asked before the first message; empty: no form."
    )
    prechat_required: PrechatFields = Field(
        default_factory=list, description="Which of `prechat_fields` must be filled."
    )
    offline_form_enabled: bool = Field(
        False, description='Offer "leave us a message" when no agent can answer.'
    )
    offline_notify_email: NotifyEmail = Field(
        "", description="Told of each offline message; blank: nobody is mailed."
    )
    holding_after_seconds: Delay = 30
    holding_text: LongText = Field("", description="Blank: the default in the visitor's language.")
    contacts_after_seconds: Delay = 60
    contacts_text: LongText = Field("", description="Blank: the default in the visitor's language.")
    inactivity_close_minutes: int = Field(
        0,
        ge=0,
        le=24 * 60,
        description="Close an answered chat after this long without a visitor message; 0: never.",
    )
    file_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        le=50 * 1024 * 1024,
        description="The largest file a visitor or an agent may send in its chats.",
    )
    file_kinds: list[FileKind] = Field(
        default_factory=lambda: list(ALL_FILE_KINDS),
        max_length=4,
        description="The kinds of file its chats take (read from the bytes); empty: none.",
    )


class ChatWidgetOut(BaseModel):
    id: int
    name: str
    public_key: str
    queue_id: int
    allowed_origins: list[str]
    greeting: str
    is_active: bool
    button_text: str
    window_title: str
    accent_color: str
    accent_text_color: str
    position: str
    offset_x: int
    offset_y: int
    operator_name: str
    operator_photo_url: str
    show_on: list[str]
    hide_on: list[str]
    show_in: list[str]
    hide_in: list[str]
    prechat_fields: list[str]
    prechat_required: list[str]
    offline_form_enabled: bool
    offline_notify_email: str
    holding_after_seconds: int
    holding_text: str
    contacts_after_seconds: int
    contacts_text: str
    inactivity_close_minutes: int
    file_max_bytes: int
    file_kinds: list[str]
    created_at: datetime
    updated_at: datetime


class ChatWidgetResource(Resource[ChatWidget]):
    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: ChatWidget | None
    ) -> dict[str, Any]:
        if "allowed_origins" in values:
            values["allowed_origins"] = list(dict.fromkeys(values["allowed_origins"]))
        for rules in ("show_on", "hide_on", "show_in", "hide_in"):
            if rules in values:
                values[rules] = list(dict.fromkeys(values[rules]))
        for fields in ("prechat_fields", "prechat_required", "file_kinds"):
            if fields in values:
                values[fields] = list(dict.fromkeys(values[fields]))
        asked = values.get("prechat_fields", row.prechat_fields if row else [])
        required = values.get("prechat_required", row.prechat_required if row else [])
        if not set(required) <= set(asked):
            raise invalid(
                ("prechat_required",),
                "Only fields the pre-chat form asks can be required.",
                required,
            )
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
